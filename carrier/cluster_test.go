package carrier

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trunkline/trunkline/bus/bustest"
	"github.com/trunkline/trunkline/message"
	"github.com/trunkline/trunkline/ratelimit"
	"github.com/trunkline/trunkline/smpp/pdu"
	"github.com/trunkline/trunkline/smpp/session"
)

// stubSMSC stands in for a carrier's binds (a mock: the SMPP sessions have their own
// tests against node-smpp): it answers every submit_sm, or times out as an SMSC that
// stopped answering would.
type stubSMSC struct {
	timeout bool
	submits atomic.Int64
}

func (s *stubSMSC) Submit(context.Context, *pdu.SubmitSM) (*pdu.SubmitSMResp, error) {
	n := s.submits.Add(1)
	if s.timeout {
		return nil, session.ErrTimeout
	}
	return &pdu.SubmitSMResp{MessageID: "id" + string(rune('0'+n%10))}, nil
}
func (s *stubSMSC) Bound() bool { return true }

// Two nodes' routers, carrier health shared over a real two-server NATS cluster: the
// first-choice carrier times out on node A until A fails over away from it; node B,
// which has sent nothing through it, then sends through the backup first and never
// waits on the dead carrier.
func TestCarrierDownSharedAcrossNodes(t *testing.T) {
	nodes := bustest.Cluster(t, 2)
	type node struct {
		r        *Router
		dead, ok *stubSMSC
	}
	var ns []node
	var xs []*ratelimit.Exchange
	for i := range 2 {
		x, err := ratelimit.NewExchange(nodes[i])
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { x.Close() })
		xs = append(xs, x)
		n := node{dead: &stubSMSC{timeout: true}, ok: &stubSMSC{}}
		cs := []*Carrier{{Name: "first", Transport: n.dead}, {Name: "backup", Transport: n.ok}}
		n.r, err = New(Options{Carriers: cs, Routes: []Route{{Prefix: "", Hops: []Hop{{Carrier: "first", Priority: 1, Weight: 1},
			{Carrier: "backup", Priority: 2, Weight: 1}}}}})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			c.Health.Share(x, "carrier."+c.Name)
		}
		ns = append(ns, n)
	}
	// The subscriptions cross the route asynchronously: wait until node B hears node A
	// on a name nobody else uses.
	heard := make(chan struct{}, 1)
	xs[1].Register("warmup", func(string, string, string) {
		select {
		case heard <- struct{}{}:
		default:
		}
	})
	say := xs[0].Register("warmup", func(string, string, string) {})
	bustest.Eventually(t, "node B hears node A", func() bool { say("ping", "", ""); return bustest.Heard(heard)() })
	a, b := ns[0], ns[1]
	sub := &message.Submission{MessageUUID: "m", Src: "447700900001", Dst: "447700900002", Parts: [][]byte{[]byte("hi")}}
	// Node A: each send times out on "first" and fails over to "backup"; three timeouts
	// in a row take "first" down.
	for i := 0; i < 3; i++ {
		res, err := a.r.Send(context.Background(), sub)
		if err != nil || res.Carrier != "backup" {
			t.Fatalf("node A send %d: %+v %v", i, res, err)
		}
	}
	if a.r.Carrier("first").Health.Usable() {
		t.Fatal("node A: three timeouts did not take the carrier down")
	}
	deadline := time.Now().Add(5 * time.Second)
	for b.r.Carrier("first").Health.Usable() {
		if time.Now().After(deadline) {
			t.Fatal("node B still uses the carrier node A found dead")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if st := b.r.Carrier("first").Health.Snapshot(); !strings.Contains(st.Reason, "another node") {
		t.Fatalf("node B's view: %+v", st)
	}
	res, err := b.r.Send(context.Background(), sub)
	if err != nil || res.Carrier != "backup" || len(res.Attempts) != 1 {
		t.Fatalf("node B: %+v %v, want backup at the first attempt", res, err)
	}
	if b.dead.submits.Load() != 0 {
		t.Fatalf("node B sent %d submits to the dead carrier", b.dead.submits.Load())
	}
}
