package cluster

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/trunkline/trunkline"
)

// SlotStore is what bind spreading needs of the database.
type SlotStore interface {
	HoldLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	DropLease(ctx context.Context, name, holder string) error
	Nodes(ctx context.Context) ([]*trunkline.Node, error)
}

// BindCarrier is one carrier whose binds are spread over the nodes: Slots binds in
// all (the carrier's limit), each opened by the node holding its slot lease.
type BindCarrier struct {
	Name  string
	Slots int
	// Open opens bind slot (0 ≤ slot < Slots) on this node; the function it returns
	// closes it.
	Open func(slot int) (close func())
}

// BindsOptions configure Binds.
type BindsOptions struct {
	Node     string
	Store    SlotStore
	Every    time.Duration // how often leases are renewed and shares rebalanced; default 300 ms
	TTL      time.Duration // a slot lease's life without renewal; default 1 s
	Carriers []BindCarrier
	Logger   *slog.Logger
}

// Binds spreads each carrier's binds over the up nodes so that the carrier's limit
// holds cluster-wide: slot i of carrier c is a lease ("smpp:c:i"); a node opens the
// binds of the slots it holds, at most its share (the slots divided among the up nodes
// in name order, the first ones taking the remainder), and gives back what exceeds it
// when nodes join. A dead node's slots are
// freed at takeover (or when their leases run out) and the survivors open them.
//
// Two nodes never hold one slot, so the binds opened never exceed the limit, except
// for a node frozen past TTL whose connection the carrier has not yet dropped.
type Binds struct {
	o    BindsOptions
	log  *slog.Logger
	mu   sync.Mutex
	held map[string]map[int]func()
}

// NewBinds returns the bind spreader of a node; Run runs it.
func NewBinds(o BindsOptions) *Binds {
	o.Logger = timing(&o.Every, &o.TTL, o.Logger)
	b := &Binds{o: o, log: o.Logger.With("node", o.Node), held: map[string]map[int]func(){}}
	for _, c := range o.Carriers {
		b.held[c.Name] = map[int]func(){}
	}
	return b
}

func slotLease(carrier string, slot int) string { return "smpp:" + carrier + ":" + strconv.Itoa(slot) }

// Run keeps this node's share of binds open until ctx ends, then closes them and
// gives their slots back.
func (b *Binds) Run(ctx context.Context) error {
	t := time.NewTicker(b.o.Every)
	defer t.Stop()
	for {
		b.tick(ctx)
		select {
		case <-ctx.Done():
			b.closeAll()
			return nil
		case <-t.C:
		}
	}
}

// Held is the number of bind slots this node holds.
func (b *Binds) Held() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, h := range b.held {
		n += len(h)
	}
	return n
}

func (b *Binds) tick(ctx context.Context) {
	nodes, err := b.o.Store.Nodes(ctx)
	if err != nil {
		return // keep what is held until the leases say otherwise
	}
	// Shares are exact: the up nodes in name order, the first Slots%up get one more.
	up, rank := 0, -1
	for _, n := range nodes {
		if n.State == trunkline.NodeUp {
			if n.Name == b.o.Node {
				rank = up
			}
			up++
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range b.o.Carriers {
		held := b.held[c.Name]
		share := 0 // not up (given up for dead): the slots are someone else's now
		if rank >= 0 {
			share = c.Slots / up
			if rank < c.Slots%up {
				share++
			}
		}
		for slot, closeFn := range held {
			ok, err := b.o.Store.HoldLease(ctx, slotLease(c.Name, slot), b.o.Node, b.o.TTL)
			if err != nil && ctx.Err() == nil {
				// The database is out of reach: the lease may run out, and another
				// node take the slot, so close the bind rather than exceed the limit.
				b.log.Warn("renew a bind slot lease: closing the bind", "carrier", c.Name, "slot", slot, "err", err)
			}
			if !ok {
				closeFn()
				delete(held, slot)
			}
		}
		for slot := c.Slots - 1; slot >= 0 && len(held) > share; slot-- {
			if closeFn, ok := held[slot]; ok {
				closeFn()
				delete(held, slot)
				b.o.Store.DropLease(ctx, slotLease(c.Name, slot), b.o.Node)
				b.log.Info("gave a bind slot back (a node joined)", "carrier", c.Name, "slot", slot)
			}
		}
		for slot := 0; slot < c.Slots && len(held) < share; slot++ {
			if _, ok := held[slot]; ok {
				continue
			}
			if ok, err := b.o.Store.HoldLease(ctx, slotLease(c.Name, slot), b.o.Node, b.o.TTL); err != nil || !ok {
				continue
			}
			held[slot] = c.Open(slot)
			b.log.Info("bind slot opened", "carrier", c.Name, "slot", slot, "share", share)
		}
	}
}

func (b *Binds) closeAll() {
	b.mu.Lock()
	defer b.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for name, held := range b.held {
		for slot, closeFn := range held {
			closeFn()
			b.o.Store.DropLease(ctx, slotLease(name, slot), b.o.Node)
			delete(held, slot)
		}
	}
}
