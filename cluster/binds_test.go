package cluster

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/store/storetest"
)

// openCount counts the binds open per node, and the most ever open at once.
type openCount struct {
	mu      sync.Mutex
	open    map[string]int
	total   int
	maxSeen int
}

func (o *openCount) opener(node string) func(int) func() {
	return func(int) func() {
		o.mu.Lock()
		o.open[node]++
		o.total++
		o.maxSeen = max(o.maxSeen, o.total)
		o.mu.Unlock()
		return func() {
			o.mu.Lock()
			o.open[node]--
			o.total--
			o.mu.Unlock()
		}
	}
}

// A carrier's 4 binds spread over the nodes as they join (never more than 4 open),
// and a dead node's slots are re-opened by the survivors once freed at takeover.
func TestBindsSpread(t *testing.T) {
	for _, db := range storetest.Open(t) {
		t.Run(string(db.Dialect()), func(t *testing.T) {
			ctx := context.Background()
			oc := &openCount{open: map[string]int{}}
			bs := map[string]*Binds{}
			join := func(name string) {
				if err := db.JoinCluster(ctx, &trunkline.Node{Name: name, Incarnation: name}); err != nil {
					t.Fatal(err)
				}
				bs[name] = NewBinds(BindsOptions{Node: name, Store: db, Every: 50 * time.Millisecond, TTL: 10 * time.Second,
					Carriers: []BindCarrier{{Name: "c", Slots: 4, Open: oc.opener(name)}}})
			}
			// Ticks in turn stand in for the nodes' timers.
			settle := func(want map[string]int) {
				t.Helper()
				for range 10 {
					for _, n := range []string{"a", "b", "c"} {
						if b := bs[n]; b != nil {
							b.tick(ctx)
						}
					}
				}
				oc.mu.Lock()
				defer oc.mu.Unlock()
				for n, w := range want {
					if oc.open[n] != w {
						t.Fatalf("binds open %v, want %v", oc.open, want)
					}
				}
				if oc.maxSeen > 4 {
					t.Fatalf("%d binds open at once: over the carrier's 4", oc.maxSeen)
				}
			}
			join("a")
			settle(map[string]int{"a": 4})
			join("b")
			settle(map[string]int{"a": 2, "b": 2})
			join("c")
			// 4 over three nodes: the first in name order takes the remainder.
			settle(map[string]int{"a": 2, "b": 1, "c": 1})
			// b dies: taken over (its row dead, its leases dropped), its binds re-opened.
			dead := oc.open["b"]
			delete(bs, "b")
			if ok, err := db.MarkNodeDead(ctx, "b", -time.Hour); err != nil || !ok {
				t.Fatalf("mark b dead: %v %v", ok, err)
			}
			if err := db.DropLeasesOf(ctx, "b"); err != nil {
				t.Fatal(err)
			}
			oc.mu.Lock()
			oc.open["b"], oc.total = 0, oc.total-dead // its connections died with it
			oc.mu.Unlock()
			settle(map[string]int{"a": 2, "c": 2})
		})
	}
}
