package carrier

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/trunkline/trunkline/smpp/pdu"
	"github.com/trunkline/trunkline/smpp/session"
)

// Pool spreads submits over a carrier's binds, round robin over those that are bound.
//
// Clients is set before use on one node; in a cluster, where the binds of a carrier
// are spread over the nodes, Set opens and closes slots while it runs.
type Pool struct {
	Clients []*session.Client // nil entries: slots this node does not hold
	mu      sync.RWMutex
	next    atomic.Uint32
}

func (p *Pool) clients() []*session.Client {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.Clients
}

// Set puts c (nil: none) in slot i and returns what was there. The slice is copied, so
// submits in progress keep the one they read.
func (p *Pool) Set(i int, c *session.Client) *session.Client {
	p.mu.Lock()
	defer p.mu.Unlock()
	cl := make([]*session.Client, max(len(p.Clients), i+1))
	copy(cl, p.Clients)
	old := cl[i]
	cl[i] = c
	p.Clients = cl
	return old
}

// Submit sends m on the next bound client.
func (p *Pool) Submit(ctx context.Context, m *pdu.SubmitSM) (*pdu.SubmitSMResp, error) {
	cl := p.clients()
	n := len(cl)
	start := int(p.next.Add(1))
	for i := 0; i < n; i++ {
		if c := cl[(start+i)%n]; c != nil && c.Bound() {
			return c.Submit(ctx, m)
		}
	}
	return nil, session.ErrNotBound
}

// Bound reports whether any bind is up.
func (p *Pool) Bound() bool { return p.BoundCount() > 0 }

// BoundCount is the number of binds up.
func (p *Pool) BoundCount() int {
	n := 0
	for _, c := range p.clients() {
		if c != nil && c.Bound() {
			n++
		}
	}
	return n
}
