package session

import (
	"container/list"
	"context"
	"sync"
)

// window bounds the requests outstanding at once. Its limit can change
// while it is in use (the client halves it when the SMSC throttles);
// waiters are served first come, first served, so no submit starves.
type window struct {
	mu      sync.Mutex
	limit   int
	inUse   int
	waiters list.List // of chan struct{}, closed when a slot is granted
	idle    chan struct{}
}

func newWindow(limit int) *window {
	return &window{limit: limit}
}

// acquire takes a slot, waiting until one is free or ctx (or stop) ends.
func (w *window) acquire(ctx context.Context, stop <-chan struct{}) error {
	w.mu.Lock()
	if w.inUse < w.limit && w.waiters.Len() == 0 {
		w.inUse++
		w.mu.Unlock()
		return nil
	}
	ready := make(chan struct{})
	elem := w.waiters.PushBack(ready)
	w.mu.Unlock()

	var err error
	select {
	case <-ready:
		return nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-stop:
		err = ErrClosed
	}
	w.mu.Lock()
	select {
	case <-ready:
		// Granted while we gave up: pass the slot on.
		w.releaseLocked()
	default:
		w.waiters.Remove(elem)
	}
	w.mu.Unlock()
	return err
}

// release returns a slot.
func (w *window) release() {
	w.mu.Lock()
	w.releaseLocked()
	w.mu.Unlock()
}

func (w *window) releaseLocked() {
	w.inUse--
	w.grantLocked()
	if w.inUse == 0 && w.idle != nil {
		close(w.idle)
		w.idle = nil
	}
}

func (w *window) grantLocked() {
	for w.inUse < w.limit && w.waiters.Len() > 0 {
		front := w.waiters.Front()
		w.waiters.Remove(front)
		w.inUse++
		close(front.Value.(chan struct{}))
	}
}

// setLimit changes the limit; slots above a lowered limit drain as their
// requests finish.
func (w *window) setLimit(n int) {
	w.mu.Lock()
	w.limit = n
	w.grantLocked()
	w.mu.Unlock()
}

// used returns the slots in use and the current limit.
func (w *window) used() (inUse, limit int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.inUse, w.limit
}

// waitIdle waits until no slot is in use, or ctx ends.
func (w *window) waitIdle(ctx context.Context) error {
	w.mu.Lock()
	if w.inUse == 0 {
		w.mu.Unlock()
		return nil
	}
	if w.idle == nil {
		w.idle = make(chan struct{})
	}
	idle := w.idle
	w.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
