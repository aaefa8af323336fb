package session

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trunkline/trunkline/smpp/pdu"
)

// testTimeout bounds every wait in these tests; nothing should come near.
const testTimeout = 15 * time.Second

// testLogger discards logs unless SMPP_TEST_LOG=1, which sends them to
// the test log.
func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("SMPP_TEST_LOG") == "1" {
		return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(b []byte) (int, error) { w.t.Log(string(b)); return len(b), nil }

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

const (
	testSystemID = "esme1"
	testPassword = "secret1"
)

// startServer starts a Server on a free loopback port with the test
// credentials; opts may override anything.
func startServer(t testing.TB, opts ServerOptions) *Server {
	t.Helper()
	if opts.Authenticate == nil {
		opts.Authenticate = StaticCredentials(map[string]string{testSystemID: testPassword})
	}
	if opts.OnSubmit == nil {
		var n atomic.Uint64
		opts.OnSubmit = func(ctx context.Context, s *Session, m *pdu.SubmitSM) (string, pdu.Status) {
			return fmt.Sprintf("%X", n.Add(1)), pdu.ESME_ROK
		}
	}
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	if opts.Listen == "" {
		opts.Listen = "127.0.0.1:0"
	}
	s := NewServer(opts)
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newTestClient returns a started client for addr with quick reconnects.
func newTestClient(t testing.TB, addr string, opts ClientOptions) *Client {
	t.Helper()
	opts.Addr = addr
	if opts.SystemID == "" {
		opts.SystemID, opts.Password = testSystemID, testPassword
	}
	if opts.ReconnectMin == 0 {
		opts.ReconnectMin, opts.ReconnectMax = 5*time.Millisecond, 50*time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	c := NewClient(opts)
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// boundClient is newTestClient that waits for the bind.
func boundClient(t testing.TB, addr string, opts ClientOptions) *Client {
	t.Helper()
	c := newTestClient(t, addr, opts)
	if err := c.WaitBound(testCtx(t)); err != nil {
		t.Fatalf("client did not bind: %v (%+v)", err, c.Stats())
	}
	return c
}

// stateLog records a client's states for tests to wait on.
type stateLog struct {
	mu     sync.Mutex
	states []State
	ch     chan struct{}
}

func newStateLog() *stateLog { return &stateLog{ch: make(chan struct{})} }

func (l *stateLog) record(s State) {
	l.mu.Lock()
	l.states = append(l.states, s)
	close(l.ch)
	l.ch = make(chan struct{})
	l.mu.Unlock()
}

// waitFor waits until state s has been recorded at least n times.
func (l *stateLog) waitFor(t testing.TB, s State, n int) {
	t.Helper()
	deadline := time.NewTimer(testTimeout)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		seen := 0
		for _, x := range l.states {
			if x == s {
				seen++
			}
		}
		ch := l.ch
		all := append([]State(nil), l.states...)
		l.mu.Unlock()
		if seen >= n {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("state %v not seen %d times; states: %v", s, n, all)
		}
	}
}

// gate blocks server handlers until opened, and counts how many are
// blocked at once.
type gate struct {
	open    chan struct{}
	arrived chan struct{}
	now     atomic.Int64
	max     atomic.Int64
}

func newGate() *gate {
	return &gate{open: make(chan struct{}), arrived: make(chan struct{}, 10000)}
}

func (g *gate) pass(ctx context.Context) error {
	n := g.now.Add(1)
	defer g.now.Add(-1)
	for {
		m := g.max.Load()
		if n <= m || g.max.CompareAndSwap(m, n) {
			break
		}
	}
	g.arrived <- struct{}{}
	select {
	case <-g.open:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// waitArrivals waits for n handlers to have reached the gate.
func (g *gate) waitArrivals(t testing.TB, n int) {
	t.Helper()
	deadline := time.NewTimer(testTimeout)
	defer deadline.Stop()
	for range n {
		select {
		case <-g.arrived:
		case <-deadline.C:
			t.Fatalf("only some of %d handlers arrived", n)
		}
	}
}

func submitTo(dst string) *pdu.SubmitSM {
	return &pdu.SubmitSM{
		SourceAddr: "Trunkline", SourceAddrTON: 5,
		DestAddrTON: 1, DestAddrNPI: 1, DestinationAddr: dst,
		RegisteredDelivery: pdu.RegisteredDeliveryReceipt,
		ShortMessage:       []byte("hello from trunkline"),
	}
}

// rawPeer is a scripted SMPP peer for what a well-behaved implementation
// will not do: garbage, truncated PDUs, silence. It speaks through the
// same codec, so only the faults are hand-made.
type rawConn struct {
	t  testing.TB
	nc net.Conn
	br *bufio.Reader
}

func newRawConn(t testing.TB, nc net.Conn) *rawConn {
	t.Cleanup(func() { nc.Close() })
	return &rawConn{t: t, nc: nc, br: bufio.NewReader(nc)}
}

// read returns the next PDU, failing the test on error or timeout.
func (r *rawConn) read() pdu.PDU {
	r.t.Helper()
	p, err := r.tryRead()
	if err != nil {
		r.t.Fatalf("raw peer read: %v", err)
	}
	return p
}

func (r *rawConn) tryRead() (pdu.PDU, error) {
	r.nc.SetReadDeadline(time.Now().Add(testTimeout))
	raw, err := pdu.ReadPDU(r.br, 0)
	if err != nil {
		return nil, err
	}
	return pdu.Unmarshal(raw)
}

// readSkipping returns the next PDU that is not an enquire_link (which it
// answers), for tests that don't care about keep-alives.
func (r *rawConn) readSkipping() pdu.PDU {
	r.t.Helper()
	for {
		p := r.read()
		if el, ok := p.(*pdu.EnquireLink); ok {
			r.write(&pdu.EnquireLinkResp{Hdr: pdu.Header{Seq: el.Hdr.Seq}})
			continue
		}
		return p
	}
}

func (r *rawConn) write(p pdu.PDU) {
	r.t.Helper()
	b, err := pdu.Marshal(p)
	if err != nil {
		r.t.Fatal(err)
	}
	r.writeRaw(b)
}

func (r *rawConn) writeRaw(b []byte) {
	r.t.Helper()
	r.nc.SetWriteDeadline(time.Now().Add(testTimeout))
	if _, err := r.nc.Write(b); err != nil {
		r.t.Fatalf("raw peer write: %v", err)
	}
}

// expectEOF reads until the peer closes the connection, answering
// nothing; it fails if the peer sends a PDU other than those allowed.
func (r *rawConn) expectEOF() {
	r.t.Helper()
	for {
		_, err := r.tryRead()
		if err == nil {
			continue
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) || isReset(err) {
			return
		}
		r.t.Fatalf("waiting for close: %v", err)
	}
}

func isReset(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne) && !ne.Timeout()
}

// rawSMSC accepts connections from a client under test.
type rawSMSC struct {
	t     testing.TB
	ln    net.Listener
	conns chan net.Conn
}

func newRawSMSC(t testing.TB) *rawSMSC {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawSMSC{t: t, ln: ln, conns: make(chan net.Conn, 16)}
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				close(s.conns)
				return
			}
			s.conns <- nc
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return s
}

func (s *rawSMSC) addr() string { return s.ln.Addr().String() }

// accept waits for the client's next connection and accepts its bind.
func (s *rawSMSC) accept() *rawConn {
	s.t.Helper()
	select {
	case nc, ok := <-s.conns:
		if !ok {
			s.t.Fatal("listener closed")
		}
		r := newRawConn(s.t, nc)
		p := r.read()
		bt, _, ok := bindTypeOf(p)
		if !ok {
			s.t.Fatalf("first PDU is %v, not a bind", p.CommandID())
		}
		r.write(bindResp(bt, p.Header().Seq, pdu.ESME_ROK, "raw"))
		return r
	case <-time.After(testTimeout):
		s.t.Fatal("client did not connect")
	}
	return nil
}

// dialRaw connects a raw ESME to a server.
func dialRaw(t testing.TB, addr netip.AddrPort) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr.String(), testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	return newRawConn(t, nc)
}

// bindRaw sends a transceiver bind and returns the bind_resp status.
func (r *rawConn) bind(bt BindType, systemID, password string) pdu.Status {
	r.t.Helper()
	req := bt.bindPDU(systemID, password, "")
	req.Header().Seq = 1
	r.write(req)
	p := r.read()
	if p.CommandID() != req.CommandID()|pdu.CmdGenericNack {
		r.t.Fatalf("bind answered with %v", p.CommandID())
	}
	return p.Header().Status
}

// fakeClock is a manual clock for the pacer and the bind guard.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}
