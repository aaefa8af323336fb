package trunk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/trunkline/trunkline/carrier"
	"github.com/trunkline/trunkline/config"
)

func TestMain(m *testing.M) {
	sip.SetDefaultLogger(quiet()) // sipgo's transport warnings on close are noise here
	os.Exit(m.Run())
}

// silent is a scripted "answer" that sends nothing.
const silent = 0

// peer is a real sipgo UAS on 127.0.0.1 (port 0) that answers the n-th OPTIONS with
// script[n-1] and 200 after the script, and reports the number of each request it sees.
type peer struct {
	addr     string
	served   atomic.Int64
	receipts chan int64
}

func startPeer(t *testing.T, network string, script []int) *peer {
	t.Helper()
	ua, err := sipgo.NewUA()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	p := &peer{receipts: make(chan int64, 1024)}
	srv.OnOptions(func(req *sip.Request, tx sip.ServerTransaction) {
		n := p.served.Add(1)
		code := 200
		if int(n) <= len(script) {
			code = script[n-1]
		}
		if code != silent {
			tx.Respond(sip.NewResponseFromRequest(req, code, fmt.Sprint("status ", code), nil))
		}
		select {
		case p.receipts <- n:
		default:
		}
	})
	switch network {
	case "udp":
		conn, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p.addr = conn.LocalAddr().String()
		go srv.ServeUDP(conn)
		t.Cleanup(func() { conn.Close() })
	case "tcp":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p.addr = ln.Addr().String()
		go srv.ServeTCP(ln)
		t.Cleanup(func() { ln.Close() })
	}
	t.Cleanup(func() { ua.Close() })
	return p
}

// waitServed waits until the peer has seen exactly n requests. The prober is blocked
// in OnChange while this runs, so no request beyond n can come.
func (p *peer) waitServed(t *testing.T, n int64) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for p.served.Load() < n {
		select {
		case <-p.receipts:
		case <-deadline:
			t.Fatalf("peer saw %d requests, want %d", p.served.Load(), n)
		}
	}
	if got := p.served.Load(); got != n {
		t.Fatalf("state changed after request %d, want after request %d", got, n)
	}
}

func newClient(t *testing.T) *sipgo.Client {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("trunkline-test"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ua.Close() })
	c, err := sipgo.NewClient(ua, sipgo.WithClientLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

type change struct {
	trunk string
	up    bool
}

// TestProberHysteresis runs the prober against a peer that answers 200, then 503, then
// nothing, and checks that the trunk goes down and comes back exactly when carrier.Health's
// thresholds say (default thresholds: down at a failure ratio of 1/2 over at least 5
// results, or after 3 timeouts in a row; up after 3 successes in a row).
func TestProberHysteresis(t *testing.T) {
	script := []int{
		200, 200, 200, // 1–3: up
		503, 503, 503, // 4–6: 3 failures of 6 results → down after 6
		200, 404, // 7–8: two successes while down (any final answer but 503 proves life)
		503,           // 9: a failure while down starts the count again
		200, 200, 200, // 10–12: three in a row → up after 12
		silent, 408, silent, // 13–15: three timeouts in a row → down after 15
		200, 200, 200, // 16–18: up after 18
	}
	p := startPeer(t, "udp", script)
	s, err := New([]config.Trunk{
		{Name: "peer", Address: p.addr, ProbeInterval: config.Duration{Duration: 2 * time.Millisecond}},
		{Name: "off", Address: "192.0.2.1:5060"}, // probing off: never touched
	}, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	changes := make(chan change) // unbuffered: the prober waits while the test checks
	pr := NewProber(s, newClient(t), ProberOptions{Logger: quiet(), Timeout: 300 * time.Millisecond,
		OnChange: func(trunk string, up bool) { changes <- change{trunk, up} }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { pr.Run(ctx); close(done) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	}()

	tr := s.Trunk("peer")
	for _, want := range []struct {
		up     bool
		after  int64
		reason string
	}{
		{false, 6, "503"},
		{true, 12, ""},
		{false, 15, "no answer"},
		{true, 18, ""},
	} {
		select {
		case c := <-changes:
			if c.trunk != "peer" || c.up != want.up {
				t.Fatalf("change %+v, want up=%v", c, want.up)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no change to up=%v; peer saw %d requests", want.up, p.served.Load())
		}
		p.waitServed(t, want.after)
		st := tr.Health.Snapshot()
		if st.Up != want.up || !strings.Contains(st.Reason, want.reason) {
			t.Fatalf("after request %d: %+v", want.after, st)
		}
	}
	// Healthy again, it stays up while the peer answers.
	p.waitServed(t, 25)
	select {
	case c := <-changes:
		t.Fatalf("unexpected change %+v", c)
	default:
	}
	if st := s.Trunk("off").Health.Snapshot(); !st.Up {
		t.Fatalf("unprobed trunk changed: %+v", st)
	}
}

// TestProberTCP probes over TCP, and a TCP trunk with nothing listening fails at once
// (connection refused), which is a failure but not a timeout.
func TestProberTCP(t *testing.T) {
	p := startPeer(t, "tcp", nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	s, err := New([]config.Trunk{
		{Name: "tcp", Address: p.addr, Transport: "tcp", ProbeInterval: config.Duration{Duration: time.Second}},
		{Name: "closed", Address: closed, Transport: "tcp", ProbeInterval: config.Duration{Duration: time.Second}},
	}, nil, Options{Health: carrier.HealthOptions{MinSamples: 2}})
	if err != nil {
		t.Fatal(err)
	}
	var changes []change
	pr := NewProber(s, newClient(t), ProberOptions{Logger: quiet(), Timeout: 5 * time.Second,
		OnChange: func(trunk string, up bool) { changes = append(changes, change{trunk, up}) }})
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		pr.Probe(ctx, s.Trunk("tcp"))
		pr.Probe(ctx, s.Trunk("closed"))
	}
	if p.served.Load() != 2 || !s.Trunk("tcp").Health.Snapshot().Up {
		t.Fatalf("tcp peer saw %d probes; health %+v", p.served.Load(), s.Trunk("tcp").Health.Snapshot())
	}
	st := s.Trunk("closed").Health.Snapshot()
	if st.Up || !strings.Contains(st.Reason, "OPTIONS failed") || len(changes) != 1 || changes[0] != (change{"closed", false}) {
		t.Fatalf("closed port: %+v, changes %v", st, changes)
	}
}

// TestProberStopsMidProbe cancels Run while a probe waits for an answer that never
// comes: Run returns promptly and the cut-short probe counts for nothing.
func TestProberStopsMidProbe(t *testing.T) {
	p := startPeer(t, "udp", []int{silent})
	s, err := New([]config.Trunk{{Name: "peer", Address: p.addr, ProbeInterval: config.Duration{Duration: time.Millisecond}}}, nil,
		Options{Health: carrier.HealthOptions{DownAfterTimeouts: 1}})
	if err != nil {
		t.Fatal(err)
	}
	pr := NewProber(s, newClient(t), ProberOptions{Logger: quiet(), Timeout: time.Minute,
		OnChange: func(string, bool) { t.Error("a cancelled probe changed the state") }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { pr.Run(ctx); close(done) }()
	select {
	case <-p.receipts:
	case <-time.After(10 * time.Second):
		t.Fatal("no probe arrived")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if st := s.Trunk("peer").Health.Snapshot(); !st.Up {
		t.Fatalf("state %+v", st)
	}
}

func TestOutcome(t *testing.T) {
	res := func(code int) *sip.Response {
		req := sip.NewRequest(sip.OPTIONS, sip.Uri{Host: "192.0.2.1"})
		return sip.NewResponseFromRequest(req, code, fmt.Sprint("status ", code), nil)
	}
	cases := []struct {
		name            string
		res             *sip.Response
		err             error
		failed, timeout bool
	}{
		{"200", res(200), nil, false, false},
		{"404 still alive", res(404), nil, false, false},
		{"405 still alive", res(405), nil, false, false},
		{"401 still alive", res(401), nil, false, false},
		{"500 still alive", res(500), nil, false, false},
		{"503", res(503), nil, true, false},
		{"408", res(408), nil, true, true},
		{"deadline", nil, context.DeadlineExceeded, true, true},
		{"transaction timeout", nil, fmt.Errorf("tx: %w", sip.ErrTransactionTimeout), true, true},
		{"transport", nil, errors.New("connection refused"), true, false},
	}
	for _, tc := range cases {
		failed, timeout, reason := outcome(tc.res, tc.err)
		if failed != tc.failed || timeout != tc.timeout || failed != (reason != "") {
			t.Errorf("%s: failed %v timeout %v reason %q", tc.name, failed, timeout, reason)
		}
	}
}
