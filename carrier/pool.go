package carrier

import (
	"context"
	"sync/atomic"

	"github.com/trunkline/trunkline/smpp/pdu"
	"github.com/trunkline/trunkline/smpp/session"
)

// Pool spreads submits over a carrier's binds, round robin over those that are bound.
type Pool struct {
	Clients []*session.Client
	next    atomic.Uint32
}

// Submit sends m on the next bound client.
func (p *Pool) Submit(ctx context.Context, m *pdu.SubmitSM) (*pdu.SubmitSMResp, error) {
	n := len(p.Clients)
	start := int(p.next.Add(1))
	for i := 0; i < n; i++ {
		c := p.Clients[(start+i)%n]
		if c.Bound() {
			return c.Submit(ctx, m)
		}
	}
	return nil, session.ErrNotBound
}

// Bound reports whether any bind is up.
func (p *Pool) Bound() bool {
	for _, c := range p.Clients {
		if c.Bound() {
			return true
		}
	}
	return false
}
