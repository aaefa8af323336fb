// Package bus carries what parts of Trunkline say to each other that is not a record:
// wake-ups of workers ("new message queued"), events, and requests that must reach the
// node holding something live ("hang up call X"). The database stays the source of truth;
// a lost wake-up only delays work until the next poll.
//
// The interface parts use is the domain core's trunkline.Bus. Local is the in-process
// implementation for a single node; the cluster work puts NATS behind the same interface,
// with the same subject names.
package bus

import (
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/trunkline/trunkline"
)

// ErrNoResponders is returned by Request when nobody listens on the subject.
var ErrNoResponders = errors.New("bus: no responders")

// ErrClosed is returned after Close.
var ErrClosed = errors.New("bus: closed")

var _ trunkline.Bus = (*Local)(nil)

// Local is an in-process trunkline.Bus.
type Local struct {
	mu     sync.RWMutex
	subs   map[*localSub]struct{}
	closed bool
}

// NewLocal returns an in-process bus.
func NewLocal() *Local { return &Local{subs: map[*localSub]struct{}{}} }

type localSub struct {
	bus     *Local
	pattern []string
	ch      chan trunkline.Msg
	done    chan struct{}
	once    sync.Once
}

// queueDepth bounds each subscriber's backlog: wake-ups are hints, so when a slow
// subscriber's queue is full further publications to it are dropped, never blocking the
// publisher (the subscriber finds the work in the store on its next poll).
const queueDepth = 1024

func (b *Local) Subscribe(subject string, h trunkline.Handler) (trunkline.Subscription, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrClosed
	}
	s := &localSub{bus: b, pattern: strings.Split(subject, "."), ch: make(chan trunkline.Msg, queueDepth), done: make(chan struct{})}
	b.subs[s] = struct{}{}
	go func() {
		for {
			select {
			case m := <-s.ch:
				h(m)
			case <-s.done:
				return
			}
		}
	}()
	return s, nil
}

func (s *localSub) Unsubscribe() error {
	s.once.Do(func() {
		s.bus.mu.Lock()
		delete(s.bus.subs, s)
		s.bus.mu.Unlock()
		close(s.done)
	})
	return nil
}

func match(pattern, subject []string) bool {
	for i, p := range pattern {
		if p == ">" {
			return len(subject) > i
		}
		if i >= len(subject) || (p != "*" && p != subject[i]) {
			return false
		}
	}
	return len(pattern) == len(subject)
}

func (b *Local) matching(subject string) []*localSub {
	toks := strings.Split(subject, ".")
	b.mu.RLock()
	defer b.mu.RUnlock()
	var out []*localSub
	for s := range b.subs {
		if match(s.pattern, toks) {
			out = append(out, s)
		}
	}
	return out
}

func (b *Local) Publish(subject string, data []byte) error {
	if b.isClosed() {
		return ErrClosed
	}
	for _, s := range b.matching(subject) {
		select {
		case s.ch <- trunkline.Msg{Subject: subject, Data: data}:
		default: // full: drop the hint (see queueDepth)
		}
	}
	return nil
}

func (b *Local) Request(ctx context.Context, subject string, data []byte) ([]byte, error) {
	if b.isClosed() {
		return nil, ErrClosed
	}
	subs := b.matching(subject)
	if len(subs) == 0 {
		return nil, ErrNoResponders
	}
	reply := make(chan []byte, 1)
	m := trunkline.Msg{Subject: subject, Data: data, Reply: func(d []byte) error {
		select {
		case reply <- d:
		default:
		}
		return nil
	}}
	select {
	case subs[0].ch <- m:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case d := <-reply:
		return d, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (b *Local) isClosed() bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.closed
}

// Close stops every subscription.
func (b *Local) Close() error {
	b.mu.Lock()
	b.closed = true
	subs := make([]*localSub, 0, len(b.subs))
	for s := range b.subs {
		subs = append(subs, s)
	}
	b.mu.Unlock()
	for _, s := range subs {
		s.Unsubscribe()
	}
	return nil
}
