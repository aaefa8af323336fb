package ratelimit

import (
	"testing"
	"time"

	"github.com/trunkline/trunkline/bus"
)

// eventually polls cond (bounded): events cross the bus asynchronously.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if cond() {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("not within 1 s: %s", what)
}

// Two nodes' guards share failures: failures spread over both lock the pair out on
// both, as they would on one node; a success on one trusts the pair on the other.
func TestSharedGuard(t *testing.T) {
	b := bus.NewLocal() // stands in for NATS: the exchange sees only trunkline.Bus
	defer b.Close()
	var gs []*Guard
	for range 2 {
		x, err := NewExchange(b)
		if err != nil {
			t.Fatal(err)
		}
		defer x.Close()
		g := NewGuard(GuardOptions{PerPair: 3, PerAddress: 100})
		g.Share(x, "api.auth")
		gs = append(gs, g)
	}
	gs[0].Fail("192.0.2.1", "MAIDENTITY")
	gs[1].Fail("192.0.2.1", "MAIDENTITY")
	if !gs[0].Check("192.0.2.1", "MAIDENTITY").Allowed {
		t.Fatal("locked after 2 of 3 failures")
	}
	gs[0].Fail("192.0.2.1", "MAIDENTITY")
	for _, g := range gs {
		eventually(t, "the pair locked on every node", func() bool { return !g.Check("192.0.2.1", "MAIDENTITY").Allowed })
	}
	// Another identity from the same address is not locked.
	if !gs[1].Check("192.0.2.1", "MAOTHER").Allowed {
		t.Fatal("another identity locked")
	}
}

func TestSharedBucket(t *testing.T) {
	b := bus.NewLocal()
	defer b.Close()
	var bs []*Bucket
	for range 3 {
		x, err := NewExchange(b)
		if err != nil {
			t.Fatal(err)
		}
		defer x.Close()
		bk := NewBucket(6, time.Hour, nil)
		bk.Share(x, "api.rate")
		bs = append(bs, bk)
	}
	// Two tokens spent on each node: the account's 6 are gone everywhere.
	for _, bk := range bs {
		for range 2 {
			if ok, _ := bk.Allow("MA1"); !ok {
				t.Fatal("refused within the burst")
			}
		}
	}
	for _, bk := range bs {
		eventually(t, "the burst spent cluster-wide", func() bool {
			bk.mu.Lock()
			defer bk.mu.Unlock()
			return bk.keys["MA1"] != nil && bk.keys["MA1"].tokens < 1
		})
		if ok, _ := bk.Allow("MA1"); ok {
			t.Fatal("a seventh request allowed: the limit is per node, not per cluster")
		}
	}
}

func TestSharedFailures(t *testing.T) {
	b := bus.NewLocal()
	defer b.Close()
	var fs []*Failures
	for range 2 {
		x, err := NewExchange(b)
		if err != nil {
			t.Fatal(err)
		}
		defer x.Close()
		f := NewFailures(4, time.Minute, time.Hour, nil)
		f.Share(x, "mfa")
		fs = append(fs, f)
	}
	fs[0].Fail("u@example.com")
	fs[0].Fail("u@example.com")
	fs[1].Fail("u@example.com")
	eventually(t, "three failures seen on node 2", func() bool {
		fs[1].mu.Lock()
		defer fs[1].mu.Unlock()
		return fs[1].keys["u@example.com"] != nil && fs[1].keys["u@example.com"].count == 3
	})
	if locked, _ := fs[1].Fail("u@example.com"); !locked {
		t.Fatal("the fourth failure, on another node, did not lock")
	}
	eventually(t, "locked on node 1 too", func() bool { blocked, _ := fs[0].Blocked("u@example.com"); return blocked })
}
