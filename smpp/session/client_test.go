package session

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trunkline/trunkline/smpp/pdu"
)

func TestSubmitGetsMessageID(t *testing.T) {
	bound := make(chan *Session, 1)
	srv := startServer(t, ServerOptions{
		OnBind: func(s *Session) { bound <- s },
		OnSubmit: func(ctx context.Context, s *Session, m *pdu.SubmitSM) (string, pdu.Status) {
			return "id-" + m.DestinationAddr, pdu.ESME_ROK
		},
	})
	states := newStateLog()
	c := boundClient(t, srv.Addr().String(), ClientOptions{OnState: states.record})

	resp, err := c.Submit(testCtx(t), submitTo("14155550100"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.MessageID != "id-14155550100" {
		t.Errorf("message id %q", resp.MessageID)
	}
	s := <-bound
	if s.SystemID() != testSystemID || s.Bind() != Transceiver {
		t.Errorf("session %q %v", s.SystemID(), s.Bind())
	}
	if got := srv.Sessions(testSystemID); len(got) != 1 || got[0] != s {
		t.Errorf("Sessions(%q) = %v", testSystemID, got)
	}
	if got := srv.Sessions("other"); len(got) != 0 {
		t.Errorf("Sessions(other) = %v", got)
	}
	st := c.Stats()
	if st.State != StateBound || st.Submits != 1 || st.Resps[pdu.ESME_ROK] != 1 || st.Window != 10 {
		t.Errorf("stats %+v", st)
	}
	states.waitFor(t, StateConnecting, 1)
	states.waitFor(t, StateBound, 1)
}

func TestBindRefusedSameStatusForUnknownUserAndWrongPassword(t *testing.T) {
	var calls atomic.Int32
	auth := StaticCredentials(map[string]string{testSystemID: testPassword})
	srv := startServer(t, ServerOptions{
		MaxBindFailures: 100,
		Authenticate: func(id, pw string, b BindType, remote net.Addr) pdu.Status {
			calls.Add(1)
			return auth(id, pw, b, remote)
		},
	})
	status := func(id, pw string) pdu.Status {
		states := newStateLog()
		c := newTestClient(t, srv.Addr().String(), ClientOptions{
			SystemID: id, Password: pw, OnState: states.record,
			ReconnectMin: time.Hour, ReconnectMax: time.Hour, // one attempt is enough
		})
		states.waitFor(t, StateDown, 1)
		if c.Bound() {
			t.Fatalf("%s/%s bound", id, pw)
		}
		st := c.Stats()
		if st.BindFailures != 1 || st.LastError == "" {
			t.Errorf("stats %+v", st)
		}
		c.Close()
		return st.LastBindStatus
	}
	unknown := status("nobody", testPassword)
	wrong := status(testSystemID, "wrong")
	if unknown != pdu.ESME_RBINDFAIL || wrong != unknown {
		t.Errorf("unknown system_id → %v, wrong password → %v; want both ESME_RBINDFAIL", unknown, wrong)
	}
	if calls.Load() != 2 {
		t.Errorf("Authenticate called %d times", calls.Load())
	}
	// The right password still binds.
	boundClient(t, srv.Addr().String(), ClientOptions{})
}

func TestWindowLimitsOutstandingSubmits(t *testing.T) {
	g := newGate()
	srv := startServer(t, ServerOptions{
		OnSubmit: func(ctx context.Context, s *Session, m *pdu.SubmitSM) (string, pdu.Status) {
			if err := g.pass(ctx); err != nil {
				return "", pdu.ESME_RSYSERR
			}
			return m.DestinationAddr, pdu.ESME_ROK
		},
	})
	c := boundClient(t, srv.Addr().String(), ClientOptions{Window: 10})

	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			dst := strconv.Itoa(i)
			resp, err := c.Submit(testCtx(t), submitTo(dst))
			if err == nil && resp.MessageID != dst {
				err = fmt.Errorf("resp %q for %q", resp.MessageID, dst)
			}
			errs <- err
		})
	}
	g.waitArrivals(t, 10)
	if st := c.Stats(); st.WindowInUse != 10 {
		t.Errorf("window in use %d, want 10", st.WindowInUse)
	}
	close(g.open)
	g.waitArrivals(t, n-10)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if m := g.max.Load(); m != 10 {
		t.Errorf("at most %d submits were outstanding at the server, want exactly 10", m)
	}
}

func TestTPSLimit(t *testing.T) {
	// A frozen clock and one submit per hour: the second submit is
	// reserved an hour away, so it cannot reach the server before its
	// context ends, whatever the machine's speed. Moving the clock on
	// frees the next slot.
	clock := newFakeClock()
	var got atomic.Int32
	srv := startServer(t, ServerOptions{
		OnSubmit: func(ctx context.Context, s *Session, m *pdu.SubmitSM) (string, pdu.Status) {
			return strconv.Itoa(int(got.Add(1))), pdu.ESME_ROK
		},
	})
	c := boundClient(t, srv.Addr().String(), ClientOptions{TPS: 1.0 / 3600, Now: clock.Now})
	if _, err := c.Submit(testCtx(t), submitTo("1")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Submit(ctx, submitTo("2")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second submit within the hour: %v", err)
	}
	if n := got.Load(); n != 1 {
		t.Fatalf("server got %d submits, want 1", n)
	}
	clock.Advance(time.Hour)
	if _, err := c.Submit(testCtx(t), submitTo("3")); err != nil {
		t.Fatal(err)
	}
	if n := got.Load(); n != 2 {
		t.Fatalf("server got %d submits, want 2", n)
	}
}

func TestThrottlingSlowsDownAndDropsNothing(t *testing.T) {
	const n, k = 100, 25
	var seen atomic.Int32
	var mu sync.Mutex
	accepted := map[string]int{}
	srv := startServer(t, ServerOptions{
		OnSubmit: func(ctx context.Context, s *Session, m *pdu.SubmitSM) (string, pdu.Status) {
			switch i := seen.Add(1); {
			case i <= k && i%2 == 0:
				return "", pdu.ESME_RMSGQFUL
			case i <= k:
				return "", pdu.ESME_RTHROTTLED
			}
			mu.Lock()
			accepted[m.DestinationAddr]++
			mu.Unlock()
			return m.DestinationAddr, pdu.ESME_ROK
		},
	})
	c := boundClient(t, srv.Addr().String(), ClientOptions{
		Window: 10, ThrottlePause: time.Millisecond, ThrottleCooldown: 5 * time.Millisecond,
	})
	var wg sync.WaitGroup
	var failed atomic.Int32
	for i := range n {
		wg.Go(func() {
			if _, err := c.Submit(testCtx(t), submitTo(strconv.Itoa(i))); err != nil {
				failed.Add(1)
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if failed.Load() != 0 {
		t.FailNow()
	}
	for i := range n {
		if accepted[strconv.Itoa(i)] != 1 {
			t.Errorf("message %d accepted %d times", i, accepted[strconv.Itoa(i)])
		}
	}
	st := c.Stats()
	if st.Throttled != k || st.Submits != n+k || st.SlowDowns < 1 {
		t.Errorf("stats %+v; want %d throttled, %d submits, at least one slow-down", st, k, n+k)
	}
	if st.Resps[pdu.ESME_RTHROTTLED]+st.Resps[pdu.ESME_RMSGQFUL] != k || st.Resps[pdu.ESME_ROK] != n {
		t.Errorf("resps %v", st.Resps)
	}
}

func TestThrottledSubmitGivesUpWithContext(t *testing.T) {
	srv := startServer(t, ServerOptions{
		OnSubmit: func(ctx context.Context, s *Session, m *pdu.SubmitSM) (string, pdu.Status) {
			return "", pdu.ESME_RTHROTTLED
		},
	})
	// The pause after throttling (capped at 10s) outlasts the context, so
	// Submit gives up before sending again: the last answer stands.
	c := boundClient(t, srv.Addr().String(), ClientOptions{ThrottlePause: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := c.Submit(ctx, submitTo("1"))
	var se *StatusError
	if !errors.As(err, &se) || se.Status != pdu.ESME_RTHROTTLED || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v; want the throttling status wrapping the deadline", err)
	}
	if !Retryable(err) {
		t.Error("giving up on throttling should be retryable elsewhere")
	}
}

func TestSubmitErrorStatuses(t *testing.T) {
	srv := startServer(t, ServerOptions{
		OnSubmit: func(ctx context.Context, s *Session, m *pdu.SubmitSM) (string, pdu.Status) {
			st, _ := strconv.ParseUint(m.DestinationAddr, 16, 32)
			return "", pdu.Status(st)
		},
	})
	c := boundClient(t, srv.Addr().String(), ClientOptions{})
	for _, tc := range []struct {
		status    pdu.Status
		retryable bool
	}{
		{pdu.ESME_RINVDSTADR, false},
		{pdu.ESME_RINVSRCADR, false},
		{pdu.ESME_RINVMSGLEN, false},
		{pdu.ESME_RX_R_APPN, false},
		{pdu.ESME_RSYSERR, true},
		{pdu.ESME_RSUBMITFAIL, true},
		{pdu.ESME_RX_T_APPN, true},
	} {
		t.Run(tc.status.String(), func(t *testing.T) {
			_, err := c.Submit(testCtx(t), submitTo(strconv.FormatUint(uint64(tc.status), 16)))
			var se *StatusError
			if !errors.As(err, &se) || se.Status != tc.status || se.Local {
				t.Fatalf("err %v", err)
			}
			if Retryable(err) != tc.retryable {
				t.Errorf("Retryable = %v", !tc.retryable)
			}
		})
	}
	// A PDU the codec refuses is never sent, and says why.
	long := submitTo("123456789012345678901234567890")
	_, err := c.Submit(testCtx(t), long)
	var se *StatusError
	if !errors.As(err, &se) || !se.Local || se.Status != pdu.ESME_RINVDSTADR || Retryable(err) {
		t.Errorf("over-long destination: %v", err)
	}
}

func TestDeliverReachesOnDeliverAndItsStatusComesBack(t *testing.T) {
	bound := make(chan *Session, 1)
	srv := startServer(t, ServerOptions{OnBind: func(s *Session) { bound <- s }})
	got := make(chan *pdu.DeliverSM, 2)
	boundClient(t, srv.Addr().String(), ClientOptions{
		OnDeliver: func(ctx context.Context, d *pdu.DeliverSM) pdu.Status {
			got <- d
			if string(d.Message()) == "store me later" {
				return pdu.ESME_RX_T_APPN // e.g. the database is down
			}
			return pdu.ESME_ROK
		},
	})
	s := <-bound
	receipt := &pdu.DeliverSM{
		SourceAddr: "14155550100", DestinationAddr: "Trunkline", ESMClass: pdu.ESMClassReceipt,
		ShortMessage: pdu.FormatReceipt(pdu.Receipt{ID: "1A2B", Sub: 1, Dlvrd: 1, Stat: "DELIVRD", Err: "000", Text: "hello"}),
	}
	receipt.TLVs.SetReceiptedMessageID("1A2B")
	st, err := s.Deliver(testCtx(t), receipt)
	if err != nil || st != pdu.ESME_ROK {
		t.Fatalf("receipt: %v %v", st, err)
	}
	d := <-got
	if !d.IsReceipt() {
		t.Error("esm_class lost")
	}
	r, err := pdu.ParseReceipt(d.Message())
	if id, _ := d.TLVs.ReceiptedMessageID(); err != nil || r.ID != "1A2B" || r.Stat != "DELIVRD" || id != "1A2B" {
		t.Errorf("receipt %+v %v, tlv %q", r, err, id)
	}

	mo := &pdu.DeliverSM{SourceAddr: "14155550100", DestinationAddr: "14155550199", ShortMessage: []byte("store me later")}
	st, err = s.Deliver(testCtx(t), mo)
	if err != nil || st != pdu.ESME_RX_T_APPN {
		t.Fatalf("refused MO: %v %v", st, err)
	}
	<-got
}

func TestServerClosingMidWindowFailsOutstandingAndClientReconnects(t *testing.T) {
	g := newGate()
	bound := make(chan *Session, 4)
	srv := startServer(t, ServerOptions{
		OnBind: func(s *Session) { bound <- s },
		OnSubmit: func(ctx context.Context, s *Session, m *pdu.SubmitSM) (string, pdu.Status) {
			if err := g.pass(ctx); err != nil {
				return "", pdu.ESME_RSYSERR
			}
			return "ok", pdu.ESME_ROK
		},
	})
	states := newStateLog()
	c := boundClient(t, srv.Addr().String(), ClientOptions{Window: 10, OnState: states.record})
	s := <-bound

	errs := make(chan error, 10)
	for range 10 {
		go func() {
			_, err := c.Submit(testCtx(t), submitTo("1"))
			errs <- err
		}()
	}
	g.waitArrivals(t, 10)
	s.Close()
	for range 10 {
		err := <-errs
		if !errors.Is(err, ErrConnectionLost) || !Retryable(err) {
			t.Errorf("outstanding submit: %v, want ErrConnectionLost", err)
		}
	}
	states.waitFor(t, StateDown, 1)
	close(g.open)
	if err := c.WaitBound(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	<-bound
	if _, err := c.Submit(testCtx(t), submitTo("1")); err != nil {
		t.Fatalf("after reconnect: %v", err)
	}
	if st := c.Stats(); st.Reconnects != 1 || st.WindowInUse != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestSubmitTimeoutsReconnect(t *testing.T) {
	g := newGate() // never opened: the server never answers
	srv := startServer(t, ServerOptions{
		OnSubmit: func(ctx context.Context, s *Session, m *pdu.SubmitSM) (string, pdu.Status) {
			g.pass(ctx)
			return "", pdu.ESME_RSYSERR
		},
	})
	states := newStateLog()
	c := boundClient(t, srv.Addr().String(), ClientOptions{
		ResponseTimeout: 50 * time.Millisecond, MaxTimeouts: 2, OnState: states.record,
	})
	for i := range 2 {
		_, err := c.Submit(testCtx(t), submitTo("1"))
		if !errors.Is(err, ErrTimeout) || !Retryable(err) {
			t.Fatalf("submit %d: %v, want ErrTimeout", i, err)
		}
		if i == 0 && !c.Bound() {
			t.Fatal("one timeout must not tear the connection down")
		}
	}
	states.waitFor(t, StateDown, 1)
	states.waitFor(t, StateBound, 2)
	if st := c.Stats(); st.Timeouts != 2 || st.Reconnects != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestSubmitWhenNotBound(t *testing.T) {
	// Nothing listens on this port once the listener is closed.
	srv := startServer(t, ServerOptions{})
	addr := srv.Addr().String()
	srv.Close()
	c := newTestClient(t, addr, ClientOptions{})
	if _, err := c.Submit(testCtx(t), submitTo("1")); !errors.Is(err, ErrNotBound) || !Retryable(err) {
		t.Fatalf("err %v, want ErrNotBound", err)
	}
	r := newTestClient(t, addr, ClientOptions{Bind: Receiver})
	if _, err := r.Submit(testCtx(t), submitTo("1")); !errors.Is(err, ErrBindType) {
		t.Fatalf("receiver submit: %v", err)
	}
}

func TestCloseDrainsOutstandingAndUnbinds(t *testing.T) {
	g := newGate()
	unbound := make(chan *Session, 1)
	srv := startServer(t, ServerOptions{
		OnUnbind: func(s *Session) { unbound <- s },
		OnSubmit: func(ctx context.Context, s *Session, m *pdu.SubmitSM) (string, pdu.Status) {
			if err := g.pass(ctx); err != nil {
				return "", pdu.ESME_RSYSERR
			}
			return "ok", pdu.ESME_ROK
		},
	})
	states := newStateLog()
	// A window of 5, all in use: a submit made while Close runs waits for
	// a slot and is refused as soon as closing begins, never sent.
	c := boundClient(t, srv.Addr().String(), ClientOptions{Window: 5, OnState: states.record})
	errs := make(chan error, 5)
	for range 5 {
		go func() {
			_, err := c.Submit(testCtx(t), submitTo("1"))
			errs <- err
		}()
	}
	g.waitArrivals(t, 5)
	closed := make(chan error)
	go func() { closed <- c.Shutdown(testCtx(t)) }()
	if _, err := c.Submit(testCtx(t), submitTo("2")); !errors.Is(err, ErrClosed) {
		t.Fatalf("submit while closing: %v, want ErrClosed", err)
	}
	select {
	case err := <-closed:
		t.Fatalf("Shutdown returned %v with submits outstanding", err)
	default:
	}
	close(g.open)
	for range 5 {
		if err := <-errs; err != nil {
			t.Errorf("outstanding submit during Close: %v", err)
		}
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	<-unbound
	states.waitFor(t, StateClosed, 1)
	if err := c.WaitBound(testCtx(t)); !errors.Is(err, ErrClosed) {
		t.Errorf("WaitBound after Close: %v", err)
	}
}

func TestCloseBeforeStart(t *testing.T) {
	c := NewClient(ClientOptions{Addr: "127.0.0.1:1", Logger: testLogger(t)})
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(t.Context()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after Close: %v", err)
	}
	if _, err := c.Submit(testCtx(t), submitTo("1")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Submit after Close: %v", err)
	}
}

func TestServerShutdownUnbindsClient(t *testing.T) {
	unbound := make(chan struct{}, 1)
	srv := startServer(t, ServerOptions{OnUnbind: func(*Session) { unbound <- struct{}{} }})
	states := newStateLog()
	c := boundClient(t, srv.Addr().String(), ClientOptions{OnState: states.record})
	if _, err := c.Submit(testCtx(t), submitTo("1")); err != nil {
		t.Fatal(err)
	}
	if err := srv.Shutdown(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	<-unbound
	states.waitFor(t, StateDown, 1)
	if c.Bound() {
		t.Error("still bound after the SMSC unbound")
	}
}

func TestRetryable(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"connection lost", ErrConnectionLost, true},
		{"timeout", fmt.Errorf("carrier x: %w", ErrTimeout), true},
		{"not bound", ErrNotBound, true},
		{"closed", ErrClosed, true},
		{"protocol", ErrProtocol, true},
		{"net", &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}, true},
		{"throttled", &StatusError{Status: pdu.ESME_RTHROTTLED}, true},
		{"queue full", &StatusError{Status: pdu.ESME_RMSGQFUL}, true},
		{"system error", &StatusError{Status: pdu.ESME_RSYSERR}, true},
		{"submit failed", &StatusError{Status: pdu.ESME_RSUBMITFAIL}, true},
		{"temporary app error", &StatusError{Status: pdu.ESME_RX_T_APPN}, true},
		{"bad destination", &StatusError{Status: pdu.ESME_RINVDSTADR}, false},
		{"bad source", &StatusError{Status: pdu.ESME_RINVSRCADR}, false},
		{"bad length", &StatusError{Status: pdu.ESME_RINVMSGLEN}, false},
		{"rejected", &StatusError{Status: pdu.ESME_RX_R_APPN}, false},
		{"permanent app error", &StatusError{Status: pdu.ESME_RX_P_APPN}, false},
		{"canceled", context.Canceled, false},
		{"deadline", context.DeadlineExceeded, false},
		{"other", errors.New("boom"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Retryable(tc.err); got != tc.want {
				t.Errorf("Retryable(%v) = %v", tc.err, got)
			}
		})
	}
}
