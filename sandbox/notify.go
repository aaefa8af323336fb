package sandbox

import "sync"

// Notifier tells waiters that the sandbox took something new: a message, a call, or
// what was spoken on one. The SMSC and the phone can share one, so a page showing both
// waits on one channel.
type Notifier struct {
	mu sync.Mutex
	ch chan struct{}
}

// NewNotifier returns a Notifier.
func NewNotifier() *Notifier { return &Notifier{ch: make(chan struct{})} }

// Changed returns a channel that is closed at the next change.
func (n *Notifier) Changed() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ch
}

// notify wakes every waiter. A nil Notifier does nothing.
func (n *Notifier) notify() {
	if n == nil {
		return
	}
	n.mu.Lock()
	close(n.ch)
	n.ch = make(chan struct{})
	n.mu.Unlock()
}
