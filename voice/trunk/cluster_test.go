package trunk

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/trunkline/trunkline/bus/bustest"
	"github.com/trunkline/trunkline/config"
	"github.com/trunkline/trunkline/ratelimit"
)

// Two nodes' trunk sets, their health shared over a real two-server NATS cluster: node
// A's OPTIONS probes find the first-choice trunk dead (a real SIP peer that stops
// answering); node B, which has not probed or called it, then tries the backup trunk
// first, and says why. Coming back up stays each node's own (trial traffic).
func TestProbedDownSharedAcrossNodes(t *testing.T) {
	nodes := bustest.Cluster(t, 2)
	dead := startPeer(t, "udp", []int{silent, silent, silent, silent, silent, silent})
	cfg := []config.Trunk{
		{Name: "first", Address: dead.addr, ProbeInterval: config.Duration{Duration: 5 * time.Millisecond}},
		{Name: "backup", Address: "127.0.0.1:9", Allow: []string{"127.0.0.9"}},
	}
	routes := []config.Route{{Prefix: "", Carriers: []config.Hop{{Name: "first", Priority: 1}, {Name: "backup", Priority: 2}}}}
	var sets []*Set
	for i := range 2 {
		x, err := ratelimit.NewExchange(nodes[i])
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { x.Close() })
		s, err := New(cfg, routes, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, tr := range s.Trunks() {
			tr.Health.Share(x, "trunk."+tr.Name)
		}
		sets = append(sets, s)
	}
	// The exchange's subscription crosses the route asynchronously: a warm-up event on
	// a name nobody uses shows when node B hears node A.
	xa, _ := ratelimit.NewExchange(nodes[0])
	t.Cleanup(func() { xa.Close() })
	heard := make(chan struct{}, 1)
	xb, _ := ratelimit.NewExchange(nodes[1])
	t.Cleanup(func() { xb.Close() })
	xb.Register("warmup", func(string, string, string) {
		select {
		case heard <- struct{}{}:
		default:
		}
	})
	say := xa.Register("warmup", func(string, string, string) {})
	bustest.Eventually(t, "node B hears node A", func() bool { say("ping", "", ""); return bustest.Heard(heard)() })

	order := func(s *Set) string {
		var names []string
		for _, tr := range s.Pick("14155550100") {
			names = append(names, tr.Name)
		}
		return strings.Join(names, ",")
	}
	if got := order(sets[1]); got != "first,backup" {
		t.Fatalf("node B before: %s", got)
	}
	// Node A probes: three timeouts in a row take the trunk down there.
	pr := NewProber(sets[0], newClient(t), ProberOptions{Logger: quiet(), Timeout: 100 * time.Millisecond})
	for i := 0; i < 3; i++ {
		pr.Probe(context.Background(), sets[0].Trunk("first"))
	}
	if sets[0].Trunk("first").Health.Snapshot().Up {
		t.Fatal("node A: three unanswered probes did not take the trunk down")
	}
	deadline := time.Now().Add(5 * time.Second)
	for order(sets[1]) != "backup,first" {
		if time.Now().After(deadline) {
			t.Fatalf("node B still tries %s: the trunk node A found dead is not skipped", order(sets[1]))
		}
		time.Sleep(5 * time.Millisecond)
	}
	if st := sets[1].Trunk("first").Health.Snapshot(); st.Up || !strings.Contains(st.Reason, "another node: no answer to OPTIONS") {
		t.Fatalf("node B's view: %+v", st)
	}
	if dead.served.Load() != 3 {
		t.Fatalf("the dead trunk got %d probes, want node A's 3 only", dead.served.Load())
	}
	// Node B's own success while it is down counts toward its own recovery only.
	sets[1].Trunk("first").Health.Success()
	if sets[1].Trunk("first").Health.Snapshot().Up || sets[0].Trunk("first").Health.Snapshot().Up {
		t.Fatal("one success brought the trunk up")
	}
}
