package session

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trunkline/trunkline/smpp/pdu"
)

// deliverConcurrency bounds the OnDeliver calls running at once on one
// connection. Beyond it the client stops reading, and TCP pushes back on
// the SMSC, rather than piling up goroutines.
const deliverConcurrency = 64

// ClientOptions configure a Client. Zero values take the defaults noted.
type ClientOptions struct {
	// Name identifies the client in logs, e.g. the carrier's name.
	Name string
	// Addr is the SMSC's host:port.
	Addr string
	// TLS, when set, makes the connection TLS (SMPP over TLS, as some
	// carriers offer on port 3550). An empty ServerName is taken from Addr.
	TLS *tls.Config

	SystemID, Password, SystemType string
	// Bind is the bind type; the zero value is Transceiver.
	Bind BindType

	// Window is the most submit_sm awaiting their resp at once
	// (default 10).
	Window int
	// TPS caps submits per second (0 = unlimited).
	TPS float64
	// EnquireLink is the interval between keep-alives (default 30s).
	EnquireLink time.Duration
	// ResponseTimeout is how long a request waits for its response,
	// and the bound of dialling and binding (default 10s).
	ResponseTimeout time.Duration
	// MaxTimeouts is how many consecutive submit timeouts make the client
	// give up on the connection and reconnect (default 3). One late
	// response does not tear a busy connection down.
	MaxTimeouts int
	// ReconnectMin and ReconnectMax bound the back-off between connection
	// attempts (defaults 500ms and 30s). Each wait is jittered.
	ReconnectMin, ReconnectMax time.Duration
	// ThrottlePause is the pause after the SMSC answers ESME_RTHROTTLED or
	// ESME_RMSGQFUL (default 250ms), doubled while throttling persists
	// (up to 32 times that, and 10s).
	ThrottlePause time.Duration
	// ThrottleCooldown is the quiet time after which the halved window
	// and rate grow one step back towards Window and TPS (default 2s).
	ThrottleCooldown time.Duration
	// MaxThrottleWait bounds how long one Submit keeps retrying a throttled
	// message before giving up with the (retryable) throttling status, so a
	// router can send it through another carrier instead (0 = as long as
	// the caller's ctx allows).
	MaxThrottleWait time.Duration

	// OnDeliver receives every deliver_sm (delivery receipts and MO
	// messages; a data_sm from the SMSC is passed as a DeliverSM too, with
	// Hdr.ID still saying data_sm, and answered with data_sm_resp). Its
	// result is the command_status of the deliver_sm_resp: return
	// ESME_RX_T_APPN when the message could not be stored, so the SMSC
	// delivers it again later. Calls run concurrently (up to 64 per
	// connection) and ctx ends when the connection does. Nil acknowledges
	// everything with ESME_ROK. OnDeliver must not wait for Submit on the
	// same client.
	OnDeliver func(ctx context.Context, d *pdu.DeliverSM) pdu.Status
	// OnState is told of every state change, for carrier health. It is
	// called from the client's connection goroutine and must not block.
	OnState func(State)

	// Logger receives connection events; never message content.
	// Default slog.Default().
	Logger *slog.Logger
	// Now is the clock of the TPS limiter and throttling (default
	// time.Now).
	Now func() time.Time
}

func (o *ClientOptions) setDefaults() {
	if o.Window <= 0 {
		o.Window = 10
	}
	if o.EnquireLink <= 0 {
		o.EnquireLink = 30 * time.Second
	}
	if o.ResponseTimeout <= 0 {
		o.ResponseTimeout = 10 * time.Second
	}
	if o.MaxTimeouts <= 0 {
		o.MaxTimeouts = 3
	}
	if o.ReconnectMin <= 0 {
		o.ReconnectMin = 500 * time.Millisecond
	}
	if o.ReconnectMax <= 0 {
		o.ReconnectMax = 30 * time.Second
	}
	if o.ReconnectMax < o.ReconnectMin {
		o.ReconnectMax = o.ReconnectMin
	}
	if o.ThrottlePause <= 0 {
		o.ThrottlePause = 250 * time.Millisecond
	}
	if o.ThrottleCooldown <= 0 {
		o.ThrottleCooldown = 2 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Client is an ESME: it keeps one bind to an SMSC up, reconnecting with
// back-off for as long as it runs, and submits messages through it inside
// a window, at most TPS per second, slowing down when the SMSC throttles.
type Client struct {
	opts ClientOptions
	log  *slog.Logger
	win  *window
	pace *pacer

	mu          sync.Mutex
	started     bool
	cur         *conn         // the bound connection, nil when not bound
	bound       chan struct{} // closed while cur != nil
	state       State
	shutdownCtx context.Context
	lastErr     string
	lastBind    pdu.Status

	closing   chan struct{} // closed by Shutdown: no new submits
	closeOnce sync.Once
	runCtx    context.Context // cancelled by Shutdown: stops dialling
	runCancel context.CancelFunc
	done      chan struct{} // closed when the connection goroutine ends

	submits, timeouts, throttled, slowDowns atomic.Uint64
	reconnects, bindFailures, delivers      atomic.Uint64
	lateResps                               atomic.Uint64
	respMu                                  sync.Mutex
	resps                                   map[pdu.Status]uint64
}

// NewClient returns a client for opts; Start connects it.
func NewClient(opts ClientOptions) *Client {
	opts.setDefaults()
	c := &Client{
		opts:    opts,
		log:     opts.Logger.With("smpp_client", opts.Name),
		bound:   make(chan struct{}),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
		resps:   make(map[pdu.Status]uint64),
	}
	c.runCtx, c.runCancel = context.WithCancel(context.Background())
	c.win = newWindow(opts.Window)
	c.pace = newPacer(opts.Now, opts.TPS, opts.Window, opts.ThrottlePause, opts.ThrottleCooldown, c.win.setLimit)
	return c
}

// Start checks the options and starts connecting in the background. It
// does not wait for the bind: see WaitBound and OnState. The client
// reconnects with back-off whenever the connection is lost or the bind
// refused, until Shutdown or Close. ctx bounds the start only.
func (c *Client) Start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if c.opts.Addr == "" {
		return errors.New("smpp: client needs an address")
	}
	if _, _, err := net.SplitHostPort(c.opts.Addr); err != nil {
		return fmt.Errorf("smpp: client address: %w", err)
	}
	if c.opts.Bind > Receiver {
		return fmt.Errorf("smpp: unknown bind type %v", c.opts.Bind)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started {
		return errors.New("smpp: client already started")
	}
	select {
	case <-c.closing:
		return ErrClosed
	default:
	}
	c.started = true
	go c.run()
	return nil
}

// Bound reports whether the client has a bound connection now.
func (c *Client) Bound() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur != nil
}

// WaitBound waits until the client is bound, ctx ends, or the client is
// closed.
func (c *Client) WaitBound(ctx context.Context) error {
	for {
		c.mu.Lock()
		cur, ch := c.cur, c.bound
		c.mu.Unlock()
		select {
		case <-c.closing:
			return ErrClosed
		default:
		}
		if cur != nil {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-c.closing:
			return ErrClosed
		}
	}
}

// Submit sends m and waits for its submit_sm_resp. m is not modified (a
// copy gets the sequence number), so it may be reused.
//
// It waits for a window slot and the TPS limit, not for a bind: when the
// client is not bound it fails at once with ErrNotBound so a router can
// use another carrier. When the SMSC answers ESME_RTHROTTLED or
// ESME_RMSGQFUL, the client slows down and sends the same message again,
// for as long as ctx allows (waiting for a reconnect if need be); it never
// drops it. If ctx ends first, the error is a *StatusError with the
// throttling status, wrapping ctx's error.
//
// Other non-zero statuses come back as *StatusError. ErrTimeout and
// ErrConnectionLost mean the outcome is unknown: the SMSC may have
// accepted the message. See Retryable.
func (c *Client) Submit(ctx context.Context, m *pdu.SubmitSM) (*pdu.SubmitSMResp, error) {
	if !c.opts.Bind.CanSubmit() {
		return nil, ErrBindType
	}
	var throttledBy pdu.Status
	giveUp := func(err error) error {
		if throttledBy != 0 {
			return &StatusError{Status: throttledBy, Err: err}
		}
		return err
	}
	for {
		select {
		case <-c.closing:
			return nil, giveUp(ErrClosed)
		default:
		}
		if throttledBy != 0 {
			if err := c.WaitBound(ctx); err != nil {
				return nil, giveUp(err)
			}
		}
		// Waiting for a window slot or the pacer is bounded by MaxThrottleWait
		// too: a carrier so congested (or slowed by throttling) that a message
		// cannot even be sent in that time should not hold it from another.
		qctx, qcancel := ctx, context.CancelFunc(func() {})
		if c.opts.MaxThrottleWait > 0 {
			qctx, qcancel = context.WithTimeout(ctx, c.opts.MaxThrottleWait)
		}
		if err := c.win.acquire(qctx, c.closing); err != nil {
			qcancel()
			if ctx.Err() == nil && qctx.Err() != nil {
				return nil, giveUp(ErrBusy)
			}
			return nil, giveUp(err)
		}
		resp, status, sent, err := c.submitOnce(qctx, ctx, m)
		qcancel()
		c.win.release()
		if err != nil && !sent && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			return nil, giveUp(ErrBusy)
		}
		if err != nil && throttledBy != 0 && errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil && sent {
			// The throttle wait ran out while a retry was in flight: its
			// outcome is unknown, which a router treats as retryable.
			return nil, ErrTimeout
		}
		switch {
		case err == nil:
		case throttledBy != 0 && errors.Is(err, ErrNotBound):
			continue // reconnecting: wait for the bind and retry
		case !sent:
			// Gave up before sending again: the last answer is what
			// counts.
			return nil, giveUp(err)
		default:
			return nil, err // sent: this error tells what is known
		}
		if status == pdu.ESME_ROK {
			return resp, nil
		}
		if !throttling(status) {
			return nil, &StatusError{Status: status}
		}
		if throttledBy == 0 && c.opts.MaxThrottleWait > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, c.opts.MaxThrottleWait)
			defer cancel()
		}
		throttledBy = status
	}
}

// submitOnce sends m once, holding a window slot. A throttling status is
// recorded with the pacer here. sent reports whether m may have reached
// the SMSC.
func (c *Client) submitOnce(qctx, ctx context.Context, m *pdu.SubmitSM) (resp *pdu.SubmitSMResp, status pdu.Status, sent bool, err error) {
	for {
		wait, ok := c.pace.next()
		if err := sleep(qctx, c.closing, wait); err != nil {
			if ok {
				c.pace.refund()
			}
			return nil, 0, false, err
		}
		if ok {
			break
		}
	}
	if err := gateOf(ctx); err != nil {
		c.pace.refund()
		return nil, 0, false, err
	}
	c.mu.Lock()
	cn := c.cur
	c.mu.Unlock()
	if cn == nil {
		return nil, 0, false, ErrNotBound
	}
	epoch := c.pace.currentEpoch()
	sm := *m
	c.submits.Add(1)
	p, err := cn.request(ctx, &sm, c.opts.ResponseTimeout)
	if err != nil {
		if errors.Is(err, ErrTimeout) {
			c.timeouts.Add(1)
			if n := cn.timeouts.Add(1); int(n) >= c.opts.MaxTimeouts {
				c.log.Warn("smpp: consecutive submit timeouts; reconnecting", "timeouts", n)
				cn.closeWith(fmt.Errorf("%d consecutive response timeouts", n))
			}
		}
		var se *StatusError
		local := errors.As(err, &se) && se.Local
		return nil, 0, !local, err
	}
	cn.timeouts.Store(0)
	switch v := p.(type) {
	case *pdu.SubmitSMResp:
		status, resp = v.Hdr.Status, v
	case *pdu.GenericNack:
		status = v.Hdr.Status
		if status == pdu.ESME_ROK {
			status = pdu.ESME_RUNKNOWNERR
		}
	default:
		return nil, 0, true, fmt.Errorf("%w: submit_sm answered with %v", ErrProtocol, p.CommandID())
	}
	c.respMu.Lock()
	c.resps[status]++
	c.respMu.Unlock()
	switch {
	case status == pdu.ESME_ROK:
		c.pace.succeeded()
	case throttling(status):
		c.throttled.Add(1)
		if c.pace.throttled(epoch) {
			c.slowDowns.Add(1)
			win, rate := c.pace.current()
			c.log.Info("smpp: SMSC throttles; slowing down", "status", status, "window", win, "tps", rate)
		}
	}
	return resp, status, true, nil
}

// Shutdown stops the client gracefully: new submits fail with ErrClosed,
// outstanding ones get their responses (until ctx ends), then the client
// unbinds, waits briefly for unbind_resp, and closes the connection.
func (c *Client) Shutdown(ctx context.Context) error {
	c.closeOnce.Do(func() {
		// Under c.mu, so that a concurrent Start sees either a client it
		// must run or one that is closed, never both.
		c.mu.Lock()
		c.shutdownCtx = ctx
		close(c.closing)
		started := c.started
		c.mu.Unlock()
		c.runCancel()
		if !started {
			close(c.done)
		}
	})
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		// The connection goroutine obeys the same ctx; wait for it to
		// close the connection, which it now does promptly.
		<-c.done
		return ctx.Err()
	}
}

// Close is Shutdown bounded by the response timeout plus a little for
// the unbind.
func (c *Client) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.ResponseTimeout+2*time.Second)
	defer cancel()
	err := c.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		return nil // bounded by design; the connection is closed
	}
	return err
}

func (c *Client) closingNow() bool {
	select {
	case <-c.closing:
		return true
	default:
		return false
	}
}

// setState records s, running with (if not nil) under the same lock so
// that Bound, WaitBound and Stats agree, then tells OnState.
func (c *Client) setState(s State, with func()) {
	c.mu.Lock()
	if with != nil {
		with()
	}
	changed := c.state != s
	c.state = s
	c.mu.Unlock()
	if changed && c.opts.OnState != nil {
		guard(c.log, "OnState", func() { c.opts.OnState(s) })
	}
}

func (c *Client) setErr(err error, bindStatus pdu.Status) {
	c.mu.Lock()
	c.lastErr = err.Error()
	if bindStatus != 0 {
		c.lastBind = bindStatus
	}
	c.mu.Unlock()
}

// run owns the connection: it connects, binds, waits for the connection
// to end and does it again, with back-off, until Shutdown.
func (c *Client) run() {
	defer close(c.done)
	defer c.setState(StateClosed, nil)
	backoff := c.opts.ReconnectMin
	for !c.closingNow() {
		c.setState(StateConnecting, nil)
		cn, err := c.connect()
		if err != nil {
			if c.closingNow() {
				return
			}
			c.bindFailures.Add(1)
			var be *bindError
			var st pdu.Status
			if errors.As(err, &be) {
				st = be.status
			}
			c.setErr(err, st)
			c.log.Warn("smpp: cannot bind", "addr", c.opts.Addr, "err", err, "retry_in", backoff)
			c.setState(StateDown, nil)
			if sleep(context.Background(), c.closing, jitter(backoff)) != nil {
				return
			}
			backoff = min(2*backoff, c.opts.ReconnectMax)
			continue
		}
		boundAt := time.Now()
		c.log.Info("smpp: bound", "addr", c.opts.Addr, "bind", c.opts.Bind)
		c.setState(StateBound, func() {
			c.cur = cn
			close(c.bound)
		})
		go c.enquireLoop(cn)

		select {
		case <-cn.done:
		case <-c.closing:
			c.drain(cn)
		}
		unbind := func() {
			c.cur = nil
			c.bound = make(chan struct{})
		}
		if c.closingNow() {
			c.setState(StateClosed, unbind)
			return
		}
		c.reconnects.Add(1)
		err = cn.cause()
		c.setErr(fmt.Errorf("connection lost: %w", err), 0)
		c.log.Warn("smpp: connection lost; reconnecting", "addr", c.opts.Addr, "err", err)
		c.setState(StateDown, unbind)
		// A connection that stayed up a good while resets the back-off; one
		// that keeps dying right after binding backs off further.
		if time.Since(boundAt) > c.opts.ReconnectMax {
			backoff = c.opts.ReconnectMin
		}
		if sleep(context.Background(), c.closing, jitter(backoff)) != nil {
			return
		}
		backoff = min(2*backoff, c.opts.ReconnectMax)
	}
}

// bindError is a bind the SMSC refused.
type bindError struct{ status pdu.Status }

func (e *bindError) Error() string {
	return fmt.Sprintf("bind refused with %v (0x%08X)", e.status, uint32(e.status))
}

// connect dials, binds and returns the bound connection.
func (c *Client) connect() (*conn, error) {
	ctx, cancel := context.WithTimeout(c.runCtx, c.opts.ResponseTimeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", c.opts.Addr)
	if err != nil {
		return nil, err
	}
	if c.opts.TLS != nil {
		cfg := c.opts.TLS.Clone()
		if cfg.ServerName == "" {
			cfg.ServerName, _, _ = net.SplitHostPort(c.opts.Addr)
		}
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, err
		}
		nc = tc
	}
	cn := newConn(nc, c.log)
	cn.lateResps = &c.lateResps
	go cn.readLoop(c.handler(cn))

	req := c.opts.Bind.bindPDU(c.opts.SystemID, c.opts.Password, c.opts.SystemType)
	p, err := cn.request(ctx, req, c.opts.ResponseTimeout)
	if err != nil {
		cn.closeWith(errLocalClose)
		return nil, err
	}
	st := p.Header().Status
	if _, nack := p.(*pdu.GenericNack); !nack && p.CommandID() != req.CommandID()|pdu.CmdGenericNack {
		cn.closeWith(errLocalClose)
		return nil, fmt.Errorf("%w: bind answered with %v", ErrProtocol, p.CommandID())
	}
	if st != pdu.ESME_ROK {
		cn.closeWith(errLocalClose)
		return nil, &bindError{status: st}
	}
	return cn, nil
}

// handler answers the SMSC's requests on cn.
func (c *Client) handler(cn *conn) handler {
	sem := make(chan struct{}, deliverConcurrency)
	return func(p pdu.PDU) {
		switch m := p.(type) {
		case *pdu.DeliverSM:
			c.deliver(cn, sem, m, func(st pdu.Status) pdu.PDU {
				return &pdu.DeliverSMResp{Hdr: pdu.Header{Seq: m.Hdr.Seq, Status: st}}
			})
		case *pdu.DataSM:
			d := &pdu.DeliverSM{
				Hdr: m.Hdr, ServiceType: m.ServiceType,
				SourceAddrTON: m.SourceAddrTON, SourceAddrNPI: m.SourceAddrNPI, SourceAddr: m.SourceAddr,
				DestAddrTON: m.DestAddrTON, DestAddrNPI: m.DestAddrNPI, DestinationAddr: m.DestinationAddr,
				ESMClass: m.ESMClass, RegisteredDelivery: m.RegisteredDelivery, DataCoding: m.DataCoding,
				TLVs: m.TLVs,
			}
			c.deliver(cn, sem, d, func(st pdu.Status) pdu.PDU {
				return &pdu.DataSMResp{Hdr: pdu.Header{Seq: m.Hdr.Seq, Status: st}}
			})
		case *pdu.EnquireLink:
			cn.respond(&pdu.EnquireLinkResp{Hdr: pdu.Header{Seq: m.Hdr.Seq}})
		case *pdu.Unbind:
			c.log.Info("smpp: SMSC unbinds")
			cn.sendAndClose(&pdu.UnbindResp{Hdr: pdu.Header{Seq: m.Hdr.Seq}})
		case *pdu.AlertNotification, *pdu.Outbind:
			// No response exists for these; nothing to do on a bound session.
		default:
			cn.respond(pdu.Response(*p.Header(), pdu.ESME_RINVCMDID))
		}
	}
}

// deliver runs OnDeliver for d in its own goroutine and answers with
// resp(status). The slot in sem is taken on the read loop, so a slow
// OnDeliver slows reading down instead of queueing without bound.
func (c *Client) deliver(cn *conn, sem chan struct{}, d *pdu.DeliverSM, resp func(pdu.Status) pdu.PDU) {
	c.delivers.Add(1)
	select {
	case sem <- struct{}{}:
	case <-cn.done:
		return
	}
	cn.handlers.add()
	go func() {
		defer cn.handlers.done()
		defer func() { <-sem }()
		st := pdu.ESME_ROK
		if c.opts.OnDeliver != nil {
			if !guard(c.log, "OnDeliver", func() { st = c.opts.OnDeliver(cn.ctx, d) }) {
				st = pdu.ESME_RX_T_APPN
			}
		}
		cn.respond(resp(st))
	}()
}

// enquireLoop checks the link every EnquireLink; a missing answer closes
// the connection, and run reconnects.
func (c *Client) enquireLoop(cn *conn) {
	t := time.NewTicker(c.opts.EnquireLink)
	defer t.Stop()
	for {
		select {
		case <-cn.done:
			return
		case <-t.C:
		}
		// Any answer, even a generic_nack, shows the peer is alive.
		if _, err := cn.request(cn.ctx, &pdu.EnquireLink{}, c.opts.ResponseTimeout); err != nil {
			if !cn.closed() {
				c.log.Warn("smpp: no enquire_link_resp; reconnecting", "err", err)
				cn.closeWith(fmt.Errorf("enquire_link: %w", err))
			}
			return
		}
	}
}

// drain is the graceful end of a bound connection: let outstanding
// submits and deliveries finish, unbind, close.
func (c *Client) drain(cn *conn) {
	c.mu.Lock()
	ctx := c.shutdownCtx
	c.mu.Unlock()
	if err := c.win.waitIdle(ctx); err != nil {
		c.log.Warn("smpp: closing with submits outstanding", "err", err)
	}
	if err := cn.handlers.wait(ctx); err != nil {
		c.log.Warn("smpp: closing with deliveries unanswered", "err", err)
	}
	if ctx.Err() == nil && !cn.closed() {
		uctx, cancel := context.WithTimeout(ctx, min(c.opts.ResponseTimeout, 2*time.Second))
		if _, err := cn.request(uctx, &pdu.Unbind{}, c.opts.ResponseTimeout); err != nil {
			c.log.Info("smpp: no unbind_resp", "err", err)
		}
		cancel()
	}
	cn.closeWith(errLocalClose)
}

// jitter spreads reconnects of many clients: a uniform pick in [d/2, d].
func jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}

// Stats is a snapshot of a client's counters, for metrics and health.
type Stats struct {
	State State
	// Submits counts submit_sm written, retries after throttling included.
	Submits uint64
	// Resps counts submit_sm_resp (and generic_nack answering a submit)
	// by command_status.
	Resps map[pdu.Status]uint64
	// Timeouts counts submits that got no response in time; LateResps
	// responses that came after their request had given up.
	Timeouts, LateResps uint64
	// Throttled counts ESME_RTHROTTLED and ESME_RMSGQFUL answers;
	// SlowDowns the times the client halved its window and rate.
	Throttled, SlowDowns uint64
	// Reconnects counts bound connections lost; BindFailures failed
	// connection or bind attempts.
	Reconnects, BindFailures uint64
	// LastBindStatus is the status of the last refused bind (0 if none);
	// LastError the last connection or bind error, for operators.
	LastBindStatus pdu.Status
	LastError      string
	// Delivers counts deliver_sm (and data_sm) received.
	Delivers uint64
	// WindowInUse is the submits holding a window slot now; Window and TPS
	// the effective limits (below the configured ones while recovering
	// from throttling).
	WindowInUse, Window int
	TPS                 float64
}

// Stats returns the client's counters.
func (c *Client) Stats() Stats {
	inUse, _ := c.win.used()
	win, rate := c.pace.current()
	c.mu.Lock()
	s := Stats{State: c.state, LastBindStatus: c.lastBind, LastError: c.lastErr}
	c.mu.Unlock()
	c.respMu.Lock()
	s.Resps = make(map[pdu.Status]uint64, len(c.resps))
	for k, v := range c.resps {
		s.Resps[k] = v
	}
	c.respMu.Unlock()
	s.Submits = c.submits.Load()
	s.Timeouts = c.timeouts.Load()
	s.LateResps = c.lateResps.Load()
	s.Throttled = c.throttled.Load()
	s.SlowDowns = c.slowDowns.Load()
	s.Reconnects = c.reconnects.Load()
	s.BindFailures = c.bindFailures.Load()
	s.Delivers = c.delivers.Load()
	s.WindowInUse, s.Window, s.TPS = inUse, win, rate
	return s
}
