// Package api serves Trunkline's REST API, wire-compatible with Plivo's v1 API: HTTP
// Basic auth with Auth ID and Auth Token, JSON or form bodies with typed or string values,
// paths with or without a trailing slash (and the "//" form some SDKs send), api_id on
// every reply, Plivo's error shape and pagination.
//
// The request pipeline is: authentication (failures throttled per source address and per
// address and Auth ID by a ratelimit.Guard) → per-account rate limit → route → tenant
// check (the path's Auth ID must be the caller's) → newest-token check on routes that
// manage the account → parameter decoding → handler → audit entry for every
// state-changing request.
package api

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/account"
	"github.com/trunkline/trunkline/application"
	"github.com/trunkline/trunkline/audit"
	"github.com/trunkline/trunkline/callerid"
	"github.com/trunkline/trunkline/endpoint"
	"github.com/trunkline/trunkline/internal/netaddr"
	"github.com/trunkline/trunkline/number"
	"github.com/trunkline/trunkline/ratelimit"
)

// Auditor records and lists audit entries. Append must fail when the entry could not be
// stored.
type Auditor interface {
	Append(ctx context.Context, e audit.Entry) (int64, error)
	// Build returns e's append for a store to run in the transaction of the change
	// it records (audit.Log.Build).
	Build(e audit.Entry) (trunkline.AuditBuild, error)
	List(ctx context.Context, f audit.Filter) ([]audit.Entry, int, error)
}

// Store is what the API reads and writes, in the domain core's terms (package store
// implements it).
type Store interface {
	trunkline.AccountService
	trunkline.ApplicationService
	trunkline.NumberService
	trunkline.EndpointService
	trunkline.MessageService
	trunkline.CallHistory
	trunkline.RecordingService
	trunkline.CallerIDService
	callerid.Store
}

// Metrics receives a count of each request.
type Metrics interface {
	Request(route string, code int, d time.Duration)
}

// Options configure the API server.
type Options struct {
	// Throttles, when set, makes the throttles cluster-wide (failures and spent tokens
	// on one node count on all); nil keeps them to this node.
	Throttles *ratelimit.Exchange
	DB        Store
	Accounts  *account.Service
	Audit     Auditor
	// Proofs serves the audit log's checkpoints and proofs to customers; default Audit
	// when it implements AuditProver. Nil: the proof routes answer 503.
	Proofs   AuditProver
	Messages trunkline.MessageSender // nil: messaging answers 503
	Calls    trunkline.CallService   // nil: POST Call/ answers 503 and no call is live
	// Conferences lists and controls live conference rooms; nil: none is live.
	Conferences trunkline.ConferenceService
	// MPCs lists and controls multi-party calls; nil: none is live.
	MPCs    trunkline.MPCService
	Metrics Metrics // optional
	// Applications holds the application rules; default application.New(DB, DB).
	Applications *application.Service
	// Numbers holds the number rules; default number.New(DB, Applications).
	Numbers *number.Service
	// Endpoints holds the endpoint rules; default endpoint.New(DB, Applications,
	// Accounts, SIPDomain).
	Endpoints *endpoint.Service
	// CallerIDs decides which numbers and sender IDs an account may send or call from;
	// default callerid.New(DB), the one rule every path uses.
	CallerIDs CallerIDChecker
	// Verifier sends and checks the codes of the VerifiedCallerId API (package
	// identity); nil: that API answers 503.
	Verifier CallerIDVerifier
	Logger   *slog.Logger

	// Console, when set, serves every path outside /v1/ (the web console shares the
	// API's listeners and TLS certificate).
	Console http.Handler

	// Recordings serves and removes recording audio; nil: audio URLs answer 404 and
	// deleting a recording removes only its record.
	Recordings RecordingFiles

	// Rate limit per account: Burst requests per Period (Plivo: 300 per 5 s).
	RateBurst  int
	RatePeriod time.Duration
	// Failed authentications allowed within FailWindow per source address (IPv4 /32,
	// IPv6 /64; an IPv4 /24 or IPv6 /48 gets four times as many) and per address and Auth ID before
	// a lockout of that address or pair (which doubles on repeat, up to MaxLockout).
	// Past FailsPerID failures of one Auth ID from all addresses its attempts are slowed
	// down, never locked: the right token from an address that has not been failing
	// still works. See ratelimit.Guard.
	FailsPerAddr, FailsPerID int
	FailWindow, MaxLockout   time.Duration

	MaxBody    int64         // request body limit (413 beyond)
	MaxOverlap time.Duration // longest rotation overlap a client may ask for
	SIPDomain  string        // host in application sip_uri
	// PublicURL is the scheme and host (and port) links to this server are built on, such
	// as recording_url: the operator's api.public_url. Empty: the first listener's own
	// address. Never the request's Host header, which the client chooses.
	PublicURL string
	Now       func() time.Time

	// Listen is the HTTPS address, served with TLS (required with Listen).
	Listen string
	TLS    *tls.Config
	// PlainListen is a plain-HTTP address, only when the operator chose one explicitly
	// (behind a TLS-terminating proxy). All listeners share one set of limits, so a
	// second listener gives an attacker no extra attempts.
	PlainListen string
}

// CallerIDChecker is the source rule (package callerid) as the API asks it.
type CallerIDChecker interface {
	Check(ctx context.Context, accountID, src string, use callerid.Use) error
}

func (o *Options) setDefaults() {
	if p, ok := o.Audit.(AuditProver); ok && o.Proofs == nil {
		o.Proofs = p
	}
	if o.CallerIDs == nil && o.DB != nil {
		o.CallerIDs = callerid.New(o.DB)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.RateBurst == 0 {
		o.RateBurst = 300
	}
	if o.RatePeriod == 0 {
		o.RatePeriod = 5 * time.Second
	}
	if o.FailsPerAddr == 0 {
		o.FailsPerAddr = 20
	}
	if o.FailsPerID == 0 {
		o.FailsPerID = 10
	}
	if o.FailWindow == 0 {
		o.FailWindow = time.Minute
	}
	if o.MaxLockout == 0 {
		o.MaxLockout = 15 * time.Minute
	}
	if o.MaxBody == 0 {
		o.MaxBody = 1 << 20
	}
	if o.MaxOverlap == 0 {
		o.MaxOverlap = 7 * 24 * time.Hour
	}
	if o.SIPDomain == "" {
		o.SIPDomain = "localhost"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Applications == nil && o.DB != nil {
		o.Applications = application.New(o.DB, o.DB)
	}
	if o.Numbers == nil && o.DB != nil {
		o.Numbers = number.New(o.DB, o.Applications)
	}
	if o.Endpoints == nil && o.DB != nil {
		o.Endpoints = endpoint.New(o.DB, o.Applications, o.Accounts, o.SIPDomain)
	}
}

// Server is the API's HTTP server: New → Start → Addr → Shutdown.
type Server struct {
	opts     Options
	log      *slog.Logger
	routes   []*route
	rate     *ratelimit.Bucket
	authFail *ratelimit.Guard
	srvs     []*http.Server
	lns      []net.Listener
	base     string // PublicURL(); set by New or the first Start, before any request
	// addr and plainAddr are the bound addresses, set by Start.
	addr, plainAddr netip.AddrPort
	// draining is set by Drain: ReadyPath answers 503 so load balancers take the node
	// out of their pools while it still serves.
	draining atomic.Bool
}

// New returns an API server; it does not listen until Start.
func New(o Options) *Server {
	o.setDefaults()
	s := &Server{opts: o, log: o.Logger, base: strings.TrimSuffix(o.PublicURL, "/")}
	s.routes = s.routeTable()
	s.rate = ratelimit.NewBucket(o.RateBurst, o.RatePeriod, o.Now)
	s.authFail = ratelimit.NewGuard(ratelimit.GuardOptions{PerAddress: o.FailsPerAddr, PerPair: o.FailsPerID,
		Window: o.FailWindow, MaxLockout: o.MaxLockout, Now: o.Now})
	s.rate.Share(o.Throttles, "api.rate")
	s.authFail.Share(o.Throttles, "api.auth")
	return s
}

// Start binds Options.Listen (TLS) and Options.PlainListen synchronously, so a bad
// address fails here, and serves them in the background.
func (s *Server) Start(ctx context.Context) error {
	if s.opts.Listen == "" && s.opts.PlainListen == "" {
		return errors.New("api: no listen address")
	}
	if s.opts.Listen != "" {
		if s.opts.TLS == nil {
			return fmt.Errorf("api listen on %s: no TLS configuration", s.opts.Listen)
		}
		if err := s.listen(ctx, s.opts.Listen, s.opts.TLS); err != nil {
			return err
		}
		s.addr = netaddr.Of(s.lns[0].Addr())
	}
	if s.opts.PlainListen != "" {
		if err := s.listen(ctx, s.opts.PlainListen, nil); err != nil {
			s.Close()
			return err
		}
		s.plainAddr = netaddr.Of(s.lns[len(s.lns)-1].Addr())
		if !s.addr.IsValid() {
			s.addr = s.plainAddr
		}
	}
	return nil
}

// listen binds addr and serves it (over TLS unless tlsConfig is nil).
func (s *Server) listen(ctx context.Context, addr string, tlsConfig *tls.Config) error {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("api listen on %s: %w", addr, err)
	}
	if tlsConfig != nil {
		ln = tls.NewListener(ln, tlsConfig)
	}
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	if s.base == "" {
		s.base = listenerURL(ln.Addr(), tlsConfig != nil)
	}
	s.lns = append(s.lns, ln)
	s.srvs = append(s.srvs, srv)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("api server stopped", "err", err)
		}
	}()
	return nil
}

// Addr is the HTTPS listener's address, or the plain one's when only that is
// configured (the zero AddrPort before Start).
func (s *Server) Addr() netip.AddrPort { return s.addr }

// PlainAddr is the plain-HTTP listener's address (the zero AddrPort without one).
func (s *Server) PlainAddr() netip.AddrPort { return s.plainAddr }

// PublicURL is the base of links to this server (see Options.PublicURL); empty before
// the first Start when none is configured.
func (s *Server) PublicURL() string { return s.base }

// listenerURL is a listener's address as a base URL; a wildcard address becomes
// localhost, the name a default install's certificate and console passkeys use.
func listenerURL(a net.Addr, tls bool) string {
	scheme := "http"
	if tls {
		scheme = "https"
	}
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return scheme + "://" + a.String()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// ReadyPath is the readiness endpoint load balancers check (no authentication, no
// detail beyond the state): 200 {"status":"ready"} while the node takes traffic, 503
// {"status":"draining"} from Drain on, while the node still serves for the load
// balancer's grace.
const ReadyPath = "/ready"

// Drain marks the node draining: ReadyPath answers 503 and every reply asks its client
// to close the connection (Connection: close), so clients reconnect, through a load
// balancer to another node once it has seen /ready. Requests are served as before until
// Shutdown. Idle connections are not closed here: a client may be writing its next
// request on one at that very moment, and a POST cut that way fails; Shutdown closes
// those left once the grace is over.
func (s *Server) Drain() { s.draining.Store(true) }

// Draining reports whether Drain was called.
func (s *Server) Draining() bool { return s.draining.Load() }

// serveReady answers ReadyPath.
func (s *Server) serveReady(w http.ResponseWriter, hr *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if hr.Method != http.MethodGet && hr.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if s.draining.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `{"status":"draining"}`+"\n")
		return
	}
	io.WriteString(w, `{"status":"ready"}`+"\n")
}

// Shutdown stops accepting requests and waits for in-flight ones until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.Drain()
	var errs []error
	for _, srv := range s.srvs {
		errs = append(errs, srv.Shutdown(ctx))
	}
	return errors.Join(errs...)
}

// Close stops at once.
func (s *Server) Close() error {
	var errs []error
	for _, srv := range s.srvs {
		errs = append(errs, srv.Close())
	}
	return errors.Join(errs...)
}

// request is one API call as handlers see it.
type request struct {
	*http.Request
	w      http.ResponseWriter
	s      *Server
	apiID  string
	source string
	acct   *trunkline.Account // the authenticated account
	credID string
	vars   map[string]string
	p      Params
	route  string // matched pattern, for metrics
	status int    // answered status, for metrics
	// set by handlers for the audit entry
	objectType, objectID string
	detail               map[string]string
	// stream, set by a handler, is sent instead of a JSON body (after the audit entry).
	stream *stream
	// audited is set by a handler whose change was stored with its own audit entry
	// (auditWith): when it succeeds there is nothing more to record.
	audited bool
	rt      *route
}

// stream is a non-JSON reply body, e.g. recording audio.
type stream struct {
	contentType string
	body        io.ReadCloser
}

func (r *request) scope() trunkline.Scope { return trunkline.ScopeOf(r.acct) }

// hstsValue keeps browsers (and HSTS-aware clients) on HTTPS for a year once they have
// seen a reply over TLS; the console sends the same value. It is only sent over TLS
// (RFC 6797 §7.2), so a loopback plain_listen is unaffected.
const hstsValue = "max-age=31536000"

// ServeHTTP runs the pipeline described in the package comment.
func (s *Server) ServeHTTP(w http.ResponseWriter, hr *http.Request) {
	if hr.TLS != nil {
		// Set before the console takes its paths, so every reply on a TLS listener has it.
		w.Header().Set("Strict-Transport-Security", hstsValue)
	}
	if s.draining.Load() {
		// Go's server closes the connection after this reply (HTTP/1.1); HTTP/2
		// clients get Shutdown's GOAWAY instead.
		w.Header().Set("Connection", "close")
	}
	if hr.URL.Path == ReadyPath {
		s.serveReady(w, hr)
		return
	}
	if s.opts.Console != nil && !strings.HasPrefix(hr.URL.Path, "/v1/") && !strings.HasPrefix(hr.URL.Path, "//v1/") {
		s.opts.Console.ServeHTTP(w, hr)
		return
	}
	r := &request{Request: hr, w: w, s: s, apiID: uuid.NewString(), source: sourceAddr(hr), route: "unmatched"}
	if s.opts.Metrics != nil {
		start := time.Now()
		defer func() { s.opts.Metrics.Request(r.route, r.status, time.Since(start)) }()
	}
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("panic serving API request", "api_id", r.apiID, "method", hr.Method, "path", hr.URL.Path, "panic", v, "stack", string(debug.Stack()))
			s.writeError(r, errors.New("panic"))
		}
	}()
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")

	if err := s.authenticate(r); err != nil {
		s.writeError(r, err)
		return
	}
	if ok, wait := s.rate.Allow(r.acct.ID); !ok {
		s.writeError(r, &Error{Status: http.StatusTooManyRequests, Msg: "too many requests", RetryAfter: wait})
		return
	}
	rt, vars, err := s.match(hr.Method, hr.URL.Path)
	if err != nil {
		s.writeError(r, err)
		return
	}
	r.vars, r.route, r.rt = vars, rt.Method+" "+rt.Pattern, rt
	// The account comes from the credential; a path naming another account is as
	// unknown to this caller as a path that does not exist.
	if vars["auth_id"] != r.acct.ID {
		ok, err := s.ownSubPath(r, rt, vars["auth_id"])
		if err == nil && !ok {
			err = errNotFound
		}
		if err != nil {
			s.writeError(r, err)
			return
		}
	}
	status, body, err := s.run(r, rt)
	if r.stream != nil && err != nil {
		r.stream.body.Close()
	}
	if err != nil && r.audited {
		// The entry built for the change (auditWith) was not stored with it: the
		// failure is recorded instead, naming no object (none was made).
		r.objectType, r.objectID, r.detail = "", "", nil
	}
	if (rt.Method != http.MethodGet || rt.auditRead) && (err != nil || !r.audited) {
		if aerr := s.auditRequest(r, rt, status, err); aerr != nil && err == nil {
			// The change happened but could not be recorded: say so rather than
			// pretend all is well (the operator's alert is the logged error).
			status, body, err = 0, nil, &Error{Status: http.StatusServiceUnavailable, Msg: "the change was made but could not be recorded in the audit log; contact the operator"}
			if r.stream != nil {
				// An unrecorded read is not served.
				r.stream.body.Close()
				err = &Error{Status: http.StatusServiceUnavailable, Msg: "the audit log is not available; try again later"}
			}
		}
	}
	if err != nil {
		s.writeError(r, err)
		return
	}
	if r.stream != nil {
		s.writeStream(r, status)
		return
	}
	s.writeJSON(r, status, body)
}

// ownSubPath reports whether a path naming auth_id is allowed for r's main account on
// rt: only on subPath routes, and only for one of its own subaccounts.
func (s *Server) ownSubPath(r *request, rt *route, authID string) (bool, error) {
	if !rt.subPath || r.acct.IsSub() || !account.ValidAuthID(authID) {
		return false, nil
	}
	a, err := s.opts.DB.Account(r.Context(), authID)
	if errors.Is(err, trunkline.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return a.ParentID == r.acct.ID, nil
}

// writeStream sends a handler's stream. Once the header is out a failure can only cut
// the body short, so it is logged.
func (s *Server) writeStream(r *request, status int) {
	defer r.stream.body.Close()
	r.status = status
	// Long recordings may take longer than the server's write timeout on slow links.
	http.NewResponseController(r.w).SetWriteDeadline(time.Now().Add(streamWriteTimeout))
	r.w.Header().Set("Content-Type", r.stream.contentType)
	r.w.WriteHeader(status)
	if _, err := io.Copy(r.w, r.stream.body); err != nil {
		s.log.Warn("stream cut short", "api_id", r.apiID, "path", r.URL.Path, "err", err)
	}
}

// streamWriteTimeout bounds one streamed reply.
const streamWriteTimeout = 15 * time.Minute

func (s *Server) run(r *request, rt *route) (status int, body map[string]any, err error) {
	if !rt.retiredOK {
		if err := s.requireNewest(r); err != nil {
			return 0, nil, err
		}
	}
	r.p, err = decodeParams(r.w, r.Request, s.opts.MaxBody)
	if err != nil {
		return 0, nil, err
	}
	if err := r.p.onlyKnown(rt.allowed); err != nil {
		return 0, nil, err
	}
	return rt.handler(r)
}

// authenticate checks HTTP Basic credentials, throttling failures by source address and
// Auth ID (see Options.FailsPerAddr). Every failure gives the same 401 (or 429 while the
// address is locked out).
func (s *Server) authenticate(r *request) error {
	id, token, ok := r.BasicAuth()
	// Only an Auth ID of the right form is counted: another cannot be right, and
	// counting it would let junk fill the throttle's memory.
	ident := ""
	if ok && account.ValidAuthID(id) {
		ident = id
	}
	v := s.authFail.Check(r.source, ident)
	if !v.Allowed {
		return &Error{Status: http.StatusTooManyRequests, Msg: "too many failed authentications from this address", RetryAfter: v.RetryAfter}
	}
	if err := v.Wait(r.Context()); err != nil {
		return err
	}
	var err error
	if ok {
		r.acct, r.credID, err = s.opts.Accounts.Authenticate(r.Context(), id, token)
	} else {
		err = account.ErrBadCredentials
	}
	if err == nil {
		s.authFail.Succeed(r.source, ident)
		return s.checkSource(r)
	}
	if !errors.Is(err, account.ErrBadCredentials) {
		return err
	}
	locked := s.authFail.Fail(r.source, ident)
	// Record the failure in the audit log, attributed to the named account when it
	// exists, so a customer sees attempts on their account. The token is never recorded.
	e := audit.Entry{Actor: "api", Action: "auth.failed", Source: r.source, Outcome: "failure",
		Detail: map[string]string{"method": r.Method, "path": truncate(r.URL.Path, 200)}}
	if ok && account.ValidAuthID(id) {
		if _, aerr := s.opts.DB.Account(r.Context(), id); aerr == nil {
			e.AccountID = id
		}
	}
	if locked {
		e.Detail["lockout"] = "true"
	}
	if _, aerr := s.opts.Audit.Append(r.Context(), e); aerr != nil {
		s.log.Error("audit append failed", "action", e.Action, "err", aerr)
	}
	return errUnauthorized
}

// checkSource enforces the account's API allowlist (set in the console). A refusal is
// recorded in the account's audit log; it does not count as a failed authentication,
// since the token was right.
func (s *Server) checkSource(r *request) error {
	err := s.opts.Accounts.CheckSource(r.Context(), r.acct.ID, r.source)
	if !errors.Is(err, account.ErrAddressNotAllowed) {
		return err
	}
	e := audit.Entry{AccountID: r.acct.ID, Actor: "api", CredentialID: r.credID, Action: "auth.address_denied",
		Source: r.source, Outcome: "failure", Detail: map[string]string{"method": r.Method, "path": truncate(r.URL.Path, 200)}}
	if _, aerr := s.opts.Audit.Append(r.Context(), e); aerr != nil {
		s.log.Error("audit append failed", "action", e.Action, "err", aerr)
	}
	return &Error{Status: http.StatusForbidden, Msg: account.ErrAddressNotAllowed.Error()}
}

func (s *Server) auditRequest(r *request, rt *route, status int, herr error) error {
	_, err := s.opts.Audit.Append(r.Context(), s.auditEntry(r, rt, status, herr))
	if err != nil {
		s.log.Error("audit append failed", "action", rt.action, "api_id", r.apiID, "err", err)
	}
	return err
}

// auditWith returns the audit entry of r's success (status) for a store to write in
// the same transaction as the change (trunkline.MessageDraft.Audit): the change and
// its record commit together, and the request waits for one commit, not two. The
// handler must have set r's object and detail first. Once the change succeeds the
// entry is stored and r needs no other; if it fails, the failure is recorded as usual.
func (s *Server) auditWith(r *request, status int) (trunkline.AuditBuild, error) {
	b, err := s.opts.Audit.Build(s.auditEntry(r, r.rt, status, nil))
	if err != nil {
		s.log.Error("audit append failed", "action", r.rt.action, "api_id", r.apiID, "err", err)
		return nil, &Error{Status: http.StatusServiceUnavailable, Msg: "the audit log is not available; try again later"}
	}
	r.audited = true
	return b, nil
}

// auditEntry is the audit entry of r on rt: its outcome (status, or herr's), the
// object and detail the handler set, and the names (never the values) of the fields
// a change set.
func (s *Server) auditEntry(r *request, rt *route, status int, herr error) audit.Entry {
	outcome := "success"
	if herr != nil {
		// The status the caller is answered with (writeError's mapping).
		outcome, status = "failure", http.StatusInternalServerError
		if ue := httpError(herr); ue != nil {
			status = ue.Status
		}
	}
	detail := map[string]string{"status": strconv.Itoa(status)}
	for k, v := range r.detail {
		detail[k] = v
	}
	if r.p != nil && outcome == "success" {
		// Which fields changed, never their values.
		var names []string
		for k := range r.p {
			names = append(names, k)
		}
		if len(names) > 0 {
			detail["fields"] = truncate(strings.Join(slices.Sorted(slices.Values(names)), ","), 400)
		}
	}
	objType, objID := r.objectType, r.objectID
	if objType == "" {
		objType = rt.object
	}
	if objID == "" {
		objID = r.vars[rt.idVar]
	}
	if objID == "" && objType == "account" {
		objID = r.acct.ID
	}
	return audit.Entry{AccountID: r.acct.ID, Actor: "api", CredentialID: r.credID, Action: rt.action,
		ObjectType: objType, ObjectID: objID, Source: r.source, Outcome: outcome, Detail: detail}
}

func (s *Server) writeJSON(r *request, status int, body map[string]any) {
	r.status = status
	if status == http.StatusNoContent {
		r.w.WriteHeader(status)
		return
	}
	if body == nil {
		body = map[string]any{}
	}
	body["api_id"] = r.apiID
	b, err := json.Marshal(body)
	if err != nil {
		s.writeError(r, err)
		return
	}
	r.w.Header().Set("Content-Type", "application/json")
	r.w.WriteHeader(status)
	r.w.Write(b)
}

func (s *Server) writeError(r *request, err error) {
	ue := httpError(err)
	if ue == nil {
		s.log.Error("internal error serving API request", "api_id", r.apiID, "method", r.Method, "path", r.URL.Path, "err", err)
		ue = &Error{Status: http.StatusInternalServerError, Msg: "internal error"}
	}
	if ue.RetryAfter > 0 {
		r.w.Header().Set("Retry-After", strconv.Itoa(int((ue.RetryAfter+time.Second-1)/time.Second)))
	}
	if ue.Status == http.StatusUnauthorized {
		r.w.Header().Set("WWW-Authenticate", `Basic realm="trunkline"`)
	}
	r.status = ue.Status
	b, _ := json.Marshal(map[string]string{"api_id": r.apiID, "error": ue.Msg})
	r.w.Header().Set("Content-Type", "application/json")
	r.w.WriteHeader(ue.Status)
	r.w.Write(b)
}

func sourceAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
