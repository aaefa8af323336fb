package ratelimit

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"sync"

	"github.com/trunkline/trunkline"
)

// Bus is what an Exchange needs of the message bus.
type Bus interface {
	Publish(subject string, data []byte) error
	Subscribe(subject string, h trunkline.Handler) (trunkline.Subscription, error)
}

// ExchangeSubject carries the throttle events of every node.
const ExchangeSubject = "throttle.events"

// Exchange makes throttles cluster-wide: every failure, success and spent token a
// Guard, Failures or Bucket records here is published on the bus, and those of the
// other nodes are applied here, so failures spread over nodes lock and slow as they
// would on one. Each node keeps its own counters (no round trip on the hot path); a
// node that misses events while cut off from the bus is at worst as lenient as a
// single node would be. Events name sources and identities (addresses, Auth IDs,
// user names), never secrets.
type Exchange struct {
	bus    Bus
	origin string
	mu     sync.RWMutex
	apply  map[string]func(kind, a, b string)
	sub    trunkline.Subscription
}

type throttleEvent struct {
	Origin string `json:"o"`
	Name   string `json:"n"`
	Kind   string `json:"k"`
	A      string `json:"a"`
	B      string `json:"b,omitempty"`
}

// NewExchange subscribes to the other nodes' throttle events. Close stops.
func NewExchange(bus Bus) (*Exchange, error) {
	var id [8]byte
	rand.Read(id[:])
	x := &Exchange{bus: bus, origin: hex.EncodeToString(id[:]), apply: map[string]func(kind, a, b string){}}
	sub, err := bus.Subscribe(ExchangeSubject, x.receive)
	if err != nil {
		return nil, err
	}
	x.sub = sub
	return x, nil
}

// Close stops applying other nodes' events.
func (x *Exchange) Close() error { return x.sub.Unsubscribe() }

func (x *Exchange) receive(m trunkline.Msg) {
	var ev throttleEvent
	if json.Unmarshal(m.Data, &ev) != nil || ev.Origin == x.origin {
		return
	}
	x.mu.RLock()
	apply := x.apply[ev.Name]
	x.mu.RUnlock()
	if apply != nil {
		apply(ev.Kind, ev.A, ev.B)
	}
}

// Register names a piece of shared state (a throttle here; carrier and trunk health
// in package carrier): apply gets the other nodes' events for it; the returned function
// publishes this node's. Events are best-effort hints, never records.
func (x *Exchange) Register(name string, apply func(kind, a, b string)) func(kind, a, b string) {
	x.mu.Lock()
	x.apply[name] = apply
	x.mu.Unlock()
	return func(kind, a, b string) {
		data, _ := json.Marshal(throttleEvent{Origin: x.origin, Name: name, Kind: kind, A: a, B: b})
		x.bus.Publish(ExchangeSubject, data) // a lost event only loosens the limit a little
	}
}

// Share makes g cluster-wide through x under name (the same on every node); a nil x
// leaves g to this node.
func (g *Guard) Share(x *Exchange, name string) {
	if x == nil {
		return
	}
	peer := x.Register(name, func(kind, source, identity string) {
		switch kind {
		case "fail":
			g.failLocal(source, identity)
		case "ok":
			g.succeedLocal(source, identity)
		}
	})
	g.mu.Lock()
	g.peer = peer
	g.mu.Unlock()
}

// Share makes f cluster-wide through x under name; a nil x leaves f to this node.
func (f *Failures) Share(x *Exchange, name string) {
	if x == nil {
		return
	}
	peer := x.Register(name, func(kind, key, _ string) {
		switch kind {
		case "fail":
			f.failLocal(key)
		case "ok":
			f.succeedLocal(key)
		}
	})
	f.mu.Lock()
	f.peer = peer
	f.mu.Unlock()
}

// Share makes b cluster-wide through x under name: a token spent on one node is spent
// on all. A nil x leaves b to this node.
func (b *Bucket) Share(x *Exchange, name string) {
	if x == nil {
		return
	}
	peer := x.Register(name, func(kind, key, _ string) {
		if kind == "take" {
			b.take(key)
		}
	})
	b.mu.Lock()
	b.peer = peer
	b.mu.Unlock()
}
