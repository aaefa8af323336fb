package session

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/trunkline/trunkline/internal/netaddr"
	"github.com/trunkline/trunkline/smpp/pdu"
)

// ServerOptions configure a Server. Zero values take the defaults noted.
type ServerOptions struct {
	// Listen is the TCP address to listen on, e.g. "127.0.0.1:0".
	Listen string

	// SystemID is the SMSC's system_id, sent in bind responses
	// (default "trunkline").
	SystemID string

	// Authenticate decides a bind: ESME_ROK accepts it, anything else is
	// the bind_resp status. It must answer an unknown system_id and a wrong
	// password alike (e.g. ESME_RBINDFAIL for both), or the status tells
	// an attacker which accounts exist; StaticCredentials does. Nil refuses
	// every bind. It runs on the connection's read loop.
	Authenticate func(systemID, password string, bind BindType, remote net.Addr) pdu.Status
	// OnSubmit handles a submit_sm from a bound transmitter or
	// transceiver: it returns the message id for submit_sm_resp, or a
	// non-zero status to refuse the message. Calls run concurrently, up to
	// Window per session; ctx ends when the session does, and OnSubmit
	// must then return. Nil refuses every submit with ESME_RSYSERR.
	OnSubmit func(ctx context.Context, s *Session, m *pdu.SubmitSM) (messageID string, status pdu.Status)
	// OnBind is told of each successful bind, OnUnbind of the end of each
	// bound session (unbind, close or failure). Both are optional and must
	// not block.
	OnBind, OnUnbind func(s *Session)

	// Window bounds, per session, the submits being handled at once (the
	// session stops reading beyond it, so TCP pushes back on the ESME) and
	// the deliver_sm awaiting a resp (default 64).
	Window int
	// EnquireLink is the interval of keep-alives to bound ESMEs
	// (default 30s); a missing answer closes the session.
	EnquireLink time.Duration
	// ResponseTimeout bounds the wait for an ESME's response (default 10s).
	ResponseTimeout time.Duration
	// BindTimeout closes connections that have not bound in time
	// (default 10s).
	BindTimeout time.Duration
	// MaxBindFailures failed binds from one IP address within
	// BindFailureWindow make further binds from it fail without being
	// checked, until it stays quiet for a whole window (defaults 5 and 1m).
	MaxBindFailures   int
	BindFailureWindow time.Duration

	// Logger receives session events; never message content.
	// Default slog.Default().
	Logger *slog.Logger
	// Now is the clock of the bind failure counter (default time.Now).
	Now func() time.Time
	// TLS, when set, makes the listener TLS.
	TLS *tls.Config
}

func (o *ServerOptions) setDefaults() {
	if o.SystemID == "" {
		o.SystemID = "trunkline"
	}
	if o.Window <= 0 {
		o.Window = 64
	}
	if o.EnquireLink <= 0 {
		o.EnquireLink = 30 * time.Second
	}
	if o.ResponseTimeout <= 0 {
		o.ResponseTimeout = 10 * time.Second
	}
	if o.BindTimeout <= 0 {
		o.BindTimeout = 10 * time.Second
	}
	if o.MaxBindFailures <= 0 {
		o.MaxBindFailures = 5
	}
	if o.BindFailureWindow <= 0 {
		o.BindFailureWindow = time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Server is an SMSC: it accepts ESME binds, hands their submits to
// OnSubmit, and lets the application deliver messages and receipts to
// bound receivers and transceivers with Session.Deliver.
type Server struct {
	opts  ServerOptions
	log   *slog.Logger
	guard *bindGuard

	mu       sync.Mutex
	ln       net.Listener
	sessions map[*Session]struct{}
	closing  bool
	wg       sync.WaitGroup // the accept loop and every session
}

// NewServer returns a server for opts; Start makes it listen.
func NewServer(opts ServerOptions) *Server {
	opts.setDefaults()
	return &Server{
		opts:     opts,
		log:      opts.Logger.With("smpp_server", opts.SystemID),
		guard:    newBindGuard(opts.Now, opts.MaxBindFailures, opts.BindFailureWindow),
		sessions: make(map[*Session]struct{}),
	}
}

// Start listens on Options.Listen and accepts connections in the background
// until Shutdown or Close. It binds synchronously, so a bad address fails here.
func (s *Server) Start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.opts.Listen)
	if err != nil {
		return fmt.Errorf("smpp: listen: %w", err)
	}
	if s.opts.TLS != nil {
		ln = tls.NewListener(ln, s.opts.TLS)
	}
	s.mu.Lock()
	if s.ln != nil || s.closing {
		s.mu.Unlock()
		ln.Close()
		return errors.New("smpp: server already started or closed")
	}
	s.ln = ln
	s.wg.Add(1)
	s.mu.Unlock()
	go s.accept(ln)
	return nil
}

// Addr returns the listening address, or the zero AddrPort before Start.
func (s *Server) Addr() netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return netip.AddrPort{}
	}
	return netaddr.Of(s.ln.Addr())
}

func (s *Server) accept(ln net.Listener) {
	defer s.wg.Done()
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			s.mu.Unlock()
			if closing || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait, don't spin.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log.Warn("smpp: accept", "err", err, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		ss := newSession(s, nc)
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			nc.Close()
			continue
		}
		s.sessions[ss] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go ss.serve()
	}
}

// Sessions returns the bound sessions of systemID, or all bound sessions
// when systemID is empty. To deliver, pick one whose Bind().CanReceive().
func (s *Server) Sessions(systemID string) []*Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*Session
	for ss := range s.sessions {
		id, _, bound := ss.info()
		if bound && (systemID == "" || id == systemID) {
			out = append(out, ss)
		}
	}
	return out
}

// Shutdown stops accepting, unbinds every session (waiting for the
// submits being handled to be answered first) and waits for them to end.
// When ctx ends first, the rest are closed at once and ctx's error is
// returned.
func (s *Server) Shutdown(ctx context.Context) error {
	sessions := s.stop()
	var wg sync.WaitGroup
	for _, ss := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ss.shutdown(ctx)
		}()
	}
	wg.Wait()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.Close()
		return ctx.Err()
	}
}

// Close closes the listener and every session at once, and waits until
// no callback is running.
func (s *Server) Close() error {
	for _, ss := range s.stop() {
		ss.Close()
	}
	s.wg.Wait()
	return nil
}

// stop marks the server closing, closes the listener and returns the
// sessions.
func (s *Server) stop() []*Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closing = true
	if s.ln != nil {
		s.ln.Close()
	}
	out := make([]*Session, 0, len(s.sessions))
	for ss := range s.sessions {
		out = append(out, ss)
	}
	return out
}

// Session is one ESME connection to a Server.
type Session struct {
	srv    *Server
	c      *conn
	remote net.Addr
	win    *window
	sem    chan struct{}

	mu       sync.Mutex
	systemID string
	bind     BindType
	bound    bool
}

func newSession(srv *Server, nc net.Conn) *Session {
	ss := &Session{
		srv:    srv,
		remote: nc.RemoteAddr(),
		win:    newWindow(srv.opts.Window),
		sem:    make(chan struct{}, srv.opts.Window),
	}
	ss.c = newConn(nc, srv.log.With("remote", ss.remote.String()))
	return ss
}

// SystemID returns the system_id the session bound with ("" before).
func (ss *Session) SystemID() string {
	id, _, _ := ss.info()
	return id
}

// Bind returns the session's bind type (meaningful once bound).
func (ss *Session) Bind() BindType {
	_, b, _ := ss.info()
	return b
}

// RemoteAddr returns the ESME's address.
func (ss *Session) RemoteAddr() net.Addr { return ss.remote }

func (ss *Session) info() (string, BindType, bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.systemID, ss.bind, ss.bound
}

// Close closes the session's connection at once; requests outstanding on
// it fail with ErrConnectionLost.
func (ss *Session) Close() error {
	ss.c.closeWith(errLocalClose)
	return nil
}

// Deliver sends d (a delivery receipt or an MO message) to the ESME and
// returns the command_status of its deliver_sm_resp. d is not modified.
// The session must be bound as receiver or transceiver (ErrBindType
// otherwise). At most Window deliveries are outstanding per session;
// more wait for a slot. ErrTimeout and ErrConnectionLost mean the ESME may
// or may not have the message.
func (ss *Session) Deliver(ctx context.Context, d *pdu.DeliverSM) (pdu.Status, error) {
	_, bt, bound := ss.info()
	if !bound {
		return 0, ErrNotBound
	}
	if !bt.CanReceive() {
		return 0, ErrBindType
	}
	if err := ss.win.acquire(ctx, ss.c.done); err != nil {
		if errors.Is(err, ErrClosed) {
			return 0, ErrConnectionLost
		}
		return 0, err
	}
	defer ss.win.release()
	dm := *d
	p, err := ss.c.request(ctx, &dm, ss.srv.opts.ResponseTimeout)
	if err != nil {
		return 0, err
	}
	switch v := p.(type) {
	case *pdu.DeliverSMResp:
		return v.Hdr.Status, nil
	case *pdu.GenericNack:
		if v.Hdr.Status == pdu.ESME_ROK {
			return pdu.ESME_RUNKNOWNERR, nil
		}
		return v.Hdr.Status, nil
	}
	return 0, fmt.Errorf("%w: deliver_sm answered with %v", ErrProtocol, p.CommandID())
}

// serve runs the session until its connection ends.
func (ss *Session) serve() {
	srv := ss.srv
	defer srv.wg.Done()
	unboundTimer := time.AfterFunc(srv.opts.BindTimeout, func() {
		if _, _, bound := ss.info(); !bound {
			ss.c.log.Info("smpp: no bind in time; closing")
			ss.c.closeWith(errors.New("no bind in time"))
		}
	})
	ss.c.readLoop(ss.handle)
	unboundTimer.Stop()
	// Callbacks see their ctx cancelled; once they return, none runs for
	// this session any more.
	ss.c.handlers.wait(context.Background())

	srv.mu.Lock()
	delete(srv.sessions, ss)
	srv.mu.Unlock()
	if _, _, bound := ss.info(); bound && srv.opts.OnUnbind != nil {
		guard(ss.c.log, "OnUnbind", func() { srv.opts.OnUnbind(ss) })
	}
}

// handle answers one request from the ESME.
func (ss *Session) handle(p pdu.PDU) {
	h := *p.Header()
	if bt, req, ok := bindTypeOf(p); ok {
		ss.handleBind(h, bt, req)
		return
	}
	_, bt, bound := ss.info()
	switch m := p.(type) {
	case *pdu.EnquireLink:
		ss.c.respond(&pdu.EnquireLinkResp{Hdr: pdu.Header{Seq: h.Seq}})
	case *pdu.Unbind:
		ss.c.log.Debug("smpp: ESME unbinds")
		ss.c.sendAndClose(&pdu.UnbindResp{Hdr: pdu.Header{Seq: h.Seq}})
	case *pdu.SubmitSM:
		if !bound || !bt.CanSubmit() {
			ss.c.respond(pdu.Response(h, pdu.ESME_RINVBNDSTS))
			return
		}
		ss.submit(m)
	default:
		if !bound {
			ss.c.respond(pdu.Response(h, pdu.ESME_RINVBNDSTS))
			return
		}
		// query_sm, cancel_sm, replace_sm, submit_multi, data_sm: not
		// offered (yet).
		ss.c.respond(pdu.Response(h, pdu.ESME_RINVCMDID))
	}
}

func (ss *Session) handleBind(h pdu.Header, bt BindType, req *pdu.BindTransmitter) {
	srv := ss.srv
	if _, _, bound := ss.info(); bound {
		ss.c.respond(bindResp(bt, h.Seq, pdu.ESME_RALYBND, ""))
		return
	}
	key := remoteKey(ss.remote)
	st := pdu.ESME_RBINDFAIL
	if !srv.guard.allow(key) {
		ss.c.log.Warn("smpp: bind refused: too many failed binds from this address", "system_id", req.SystemID)
	} else if srv.opts.Authenticate != nil {
		guard(ss.c.log, "Authenticate", func() {
			st = srv.opts.Authenticate(req.SystemID, req.Password, bt, ss.remote)
		})
	}
	if st != pdu.ESME_ROK {
		srv.guard.fail(key)
		ss.c.log.Info("smpp: bind failed", "system_id", req.SystemID, "bind", bt, "status", st)
		// Close after a failed bind: guessing costs a connection per try.
		ss.c.sendAndClose(bindResp(bt, h.Seq, st, ""))
		return
	}
	ss.mu.Lock()
	ss.systemID, ss.bind, ss.bound = req.SystemID, bt, true
	ss.mu.Unlock()
	ss.c.respond(bindResp(bt, h.Seq, pdu.ESME_ROK, srv.opts.SystemID))
	ss.c.log.Info("smpp: bound", "system_id", req.SystemID, "bind", bt)
	if srv.opts.OnBind != nil {
		guard(ss.c.log, "OnBind", func() { srv.opts.OnBind(ss) })
	}
	go ss.enquireLoop()
}

// submit hands m to OnSubmit in its own goroutine. The slot is taken on
// the read loop, so beyond Window submits in progress the session stops
// reading and TCP pushes back on the ESME.
func (ss *Session) submit(m *pdu.SubmitSM) {
	select {
	case ss.sem <- struct{}{}:
	case <-ss.c.done:
		return
	}
	ss.c.handlers.add()
	go func() {
		defer ss.c.handlers.done()
		defer func() { <-ss.sem }()
		id, st := "", pdu.ESME_RSYSERR
		if f := ss.srv.opts.OnSubmit; f != nil {
			guard(ss.c.log, "OnSubmit", func() { id, st = f(ss.c.ctx, ss, m) })
		}
		resp := &pdu.SubmitSMResp{Hdr: pdu.Header{Seq: m.Hdr.Seq, Status: st}}
		if st == pdu.ESME_ROK {
			resp.MessageID = id
		}
		ss.c.respond(resp)
	}()
}

// enquireLoop checks a bound ESME is alive every EnquireLink.
func (ss *Session) enquireLoop() {
	t := time.NewTicker(ss.srv.opts.EnquireLink)
	defer t.Stop()
	for {
		select {
		case <-ss.c.done:
			return
		case <-t.C:
		}
		if _, err := ss.c.request(ss.c.ctx, &pdu.EnquireLink{}, ss.srv.opts.ResponseTimeout); err != nil {
			if !ss.c.closed() {
				ss.c.log.Info("smpp: ESME does not answer enquire_link; closing", "err", err)
				ss.c.closeWith(fmt.Errorf("enquire_link: %w", err))
			}
			return
		}
	}
}

// shutdown ends the session politely: unbind (the ESME stops submitting),
// answer the submits in progress, close.
func (ss *Session) shutdown(ctx context.Context) {
	if _, _, bound := ss.info(); bound && ctx.Err() == nil {
		uctx, cancel := context.WithTimeout(ctx, min(ss.srv.opts.ResponseTimeout, 2*time.Second))
		if _, err := ss.c.request(uctx, &pdu.Unbind{}, ss.srv.opts.ResponseTimeout); err != nil && !ss.c.closed() {
			ss.c.log.Info("smpp: no unbind_resp", "err", err)
		}
		cancel()
	}
	ss.c.handlers.wait(ctx)
	ss.c.sendAndClose(nil)
}

// remoteKey is what failed binds are counted by: the IP address, without
// the port, which changes with every connection.
func remoteKey(a net.Addr) string {
	if a == nil {
		return ""
	}
	if host, _, err := net.SplitHostPort(a.String()); err == nil {
		return host
	}
	return a.String()
}

// guardMaxEntries caps the failed-bind table; a flood of addresses cannot
// grow it without bound.
const guardMaxEntries = 10000

// bindGuard counts failed binds per remote address, so that guessing
// passwords gets a handful of tries per window, not thousands.
type bindGuard struct {
	mu     sync.Mutex
	now    func() time.Time
	max    int
	window time.Duration
	m      map[string]*guardEntry
}

type guardEntry struct {
	n    int
	last time.Time // last failure, or last refused attempt while blocked
}

func newBindGuard(now func() time.Time, max int, window time.Duration) *bindGuard {
	return &bindGuard{now: now, max: max, window: window, m: make(map[string]*guardEntry)}
}

// allow reports whether a bind from key may be checked. A blocked address
// that keeps trying stays blocked: each attempt restarts the window.
func (g *bindGuard) allow(key string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	e := g.m[key]
	if e == nil {
		return true
	}
	now := g.now()
	if now.Sub(e.last) >= g.window {
		delete(g.m, key)
		return true
	}
	if e.n >= g.max {
		e.last = now
		return false
	}
	return true
}

// fail records a failed bind from key.
func (g *bindGuard) fail(key string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	e := g.m[key]
	if e != nil && now.Sub(e.last) >= g.window {
		e = nil
	}
	if e == nil {
		if len(g.m) >= guardMaxEntries {
			for k, v := range g.m {
				if now.Sub(v.last) >= g.window {
					delete(g.m, k)
				}
			}
			if len(g.m) >= guardMaxEntries {
				return
			}
		}
		e = &guardEntry{}
		g.m[key] = e
	}
	e.n++
	e.last = now
}

// StaticCredentials returns an Authenticate function for a fixed table of
// system_id → password, as the sandbox carrier and tests need. Passwords
// are compared in constant time, and an unknown system_id and a wrong
// password both get ESME_RBINDFAIL, so a failed bind says nothing about
// which accounts exist.
func StaticCredentials(users map[string]string) func(systemID, password string, bind BindType, remote net.Addr) pdu.Status {
	sums := make(map[string][32]byte, len(users))
	for id, pw := range users {
		sums[id] = sha256.Sum256([]byte(pw))
	}
	// Hashing first makes the comparison independent of lengths; the
	// dummy keeps an unknown system_id doing the same work.
	dummy := sha256.Sum256([]byte("\x00no such system_id\x00"))
	return func(systemID, password string, _ BindType, _ net.Addr) pdu.Status {
		want, known := sums[systemID]
		if !known {
			want = dummy
		}
		got := sha256.Sum256([]byte(password))
		if subtle.ConstantTimeCompare(want[:], got[:]) == 1 && known {
			return pdu.ESME_ROK
		}
		return pdu.ESME_RBINDFAIL
	}
}
