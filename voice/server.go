package voice

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/diago"
	dmedia "github.com/emiago/diago/media"
	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/audio"
	"github.com/trunkline/trunkline/audio/tts"
	"github.com/trunkline/trunkline/audit"
	"github.com/trunkline/trunkline/callerid"
	"github.com/trunkline/trunkline/internal/sipready"
	"github.com/trunkline/trunkline/media"
	"github.com/trunkline/trunkline/ratelimit"
	"github.com/trunkline/trunkline/voice/registrar"
	"github.com/trunkline/trunkline/webhook"
)

// Tokens gives the tokens that sign an account's callbacks.
type Tokens interface {
	SigningTokens(ctx context.Context, accountID string) (own, main string, err error)
}

// Recordings stores recording files encrypted (package recording).
type Recordings interface {
	Create(ctx context.Context, accountID, recordingID string) (RecordingWriter, error)
}

// RecordingWriter is one recording file being written.
type RecordingWriter interface {
	io.Writer
	Close() error
	Abort()
}

// CallerIDChecker is the source rule (package callerid) as voice asks it, for the
// caller ID of a placed call and of a <Dial>.
type CallerIDChecker interface {
	Check(ctx context.Context, accountID, src string, use callerid.Use) error
}

// Messenger sends the SMS of a <Message> element. It applies the source rule itself
// (package message stores a refused src as a failed message).
type Messenger interface {
	SendSMS(ctx context.Context, accountID, src, dst, text, url, method string) error
}

// Registrar answers SIP REGISTER requests (package voice/registrar): digest
// authentication of an account's endpoints and where they can be reached.
type Registrar interface {
	HandleRegister(req *sip.Request, tx sip.ServerTransaction)
	// AuthenticateRequest checks a phone's INVITE; when it returns false it
	// has answered the request itself (407 challenge, 403).
	AuthenticateRequest(req *sip.Request, tx sip.ServerTransaction) (registrar.Endpoint, bool)
}

// Auditor appends to the security log.
type Auditor interface {
	Append(ctx context.Context, e audit.Entry) (int64, error)
}

// Options configure a Server.
type Options struct {
	Listen       string      // host:port for UDP and TCP; port 0 picks one
	TLSListen    string      // host:port for TLS; "" = off
	TLSConfig    *tls.Config // server certificate for TLSListen
	ExternalHost string      // advertised in Contact and SDP; "" = the listen host
	RTPPortMin   int
	RTPPortMax   int
	MaxCalls     int // concurrent calls; more get 503 (default 2000)
	// SourceRate limits the requests (new transactions, any method) one source address
	// that is no trunk may send: SourceRate per SourcePeriod, in a burst at most (IPv6:
	// per /64). Beyond it a request gets 503 with Retry-After (an ACK, which has no
	// answer, is dropped) and reaches no handler. Trunks are not limited: their traffic
	// is the platform's, and MaxCalls bounds it. Defaults 100 per 10 s; negative: off.
	SourceRate   int
	SourcePeriod time.Duration

	// ACL names the trunk an INVITE's source address belongs to; false means
	// the address is no trunk of ours and gets 403 with no detail.
	ACL func(netip.Addr) (trunk string, ok bool)

	DB         Store
	Tokens     Tokens
	Webhooks   *webhook.Client
	Audio      *audio.Cache
	TTS        tts.Synthesizer
	Recordings Recordings
	MP3        audio.Encoder // nil: fileFormat="mp3" records fall back to WAV
	Messages   Messenger
	// CallerIDs decides which caller IDs an account may present; default
	// callerid.New(DB).
	CallerIDs CallerIDChecker
	Audit     Auditor
	Registrar Registrar // nil: REGISTER gets 405
	// Route gives the targets an outbound call to dst tries, in order
	// (trunks by route, priority, weight and health).
	Route func(dst string) []Target
	// Locate finds a registered endpoint for <Dial><User>sip:name@…</User>.
	Locate func(uri string) (Target, bool)
	// FailoverCodes are the final SIP statuses after which an outbound call
	// tries the next trunk; nil means 408 and 5xx. (No answer at all always
	// fails over; after early media nothing does.)
	FailoverCodes []int
	// RTPTimeout hangs up a call whose peer has sent no RTP for this long
	// (default 60 s; negative: never).
	RTPTimeout time.Duration
	// TrunkTimeout is how long an outbound INVITE waits for any answer from
	// a trunk before trying the next (default 5 s).
	TrunkTimeout time.Duration
	// Spoken, when set, is told the text of each Speak right before it
	// plays (after synthesis succeeded), with the call's trunk, UUID and To:
	// it lets the sandbox phone keep a transcript of what it was told. The
	// text may be secret (a verification code): never log it.
	Spoken func(trunk, callUUID, to, text string)
	// RecordingURL gives the API address of a recording, for callbacks.
	RecordingURL func(accountID, recordingID, format string) string

	Logger *slog.Logger
	Now    func() time.Time
	Node   string
}

// Server is Trunkline's SIP side: it takes calls from trunks and runs their
// applications' XML.
type Server struct {
	o   Options
	log *slog.Logger

	ua    *sipgo.UserAgent
	dg    *diago.Diago
	srv   *sipgo.Server
	pacer *media.Pacer
	// perSource limits requests per source address (Options.SourceRate); nil: off.
	perSource *ratelimit.Bucket

	udp   net.PacketConn
	tcp   net.Listener
	tlsLn net.Listener
	addr  netip.AddrPort

	pending  sync.Map // pendingKey → *admission, from the middleware to the handler
	byCID    sync.Map // SIP Call-ID → *Call (for INFO)
	calls    sync.Map // uuid → *Call
	requests sync.Map // request_uuid → *Call (outbound, until it ends)
	active   atomic.Int64

	ctx      context.Context
	cancel   context.CancelFunc
	draining atomic.Bool
	wg       sync.WaitGroup
}

// admission is what the checks before a call found out.
type admission struct {
	from      string // the caller, when the registrar says who (an endpoint)
	accountID string // whose call it is
	to        string // the number or application called
	trunk     string
	offer     media.Offer
	late      bool // INVITE without SDP
	number    *trunkline.Number
	app       *trunkline.Application
}

// New checks the options; Start binds.
func New(o Options) (*Server, error) {
	if o.DB == nil || o.Webhooks == nil || o.Tokens == nil {
		return nil, errors.New("voice: DB, Webhooks and Tokens are required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.RTPTimeout == 0 {
		o.RTPTimeout = 60 * time.Second
	}
	if o.TrunkTimeout <= 0 {
		o.TrunkTimeout = 5 * time.Second
	}
	if o.MaxCalls <= 0 {
		o.MaxCalls = 2000
	}
	if o.SourceRate == 0 {
		o.SourceRate = 100
	}
	if o.SourcePeriod <= 0 {
		o.SourcePeriod = 10 * time.Second
	}
	if o.ACL == nil {
		o.ACL = func(netip.Addr) (string, bool) { return "", false }
	}
	if o.Listen == "" {
		o.Listen = "127.0.0.1:5060"
	}
	if o.CallerIDs == nil {
		o.CallerIDs = callerid.New(o.DB)
	}
	srv := &Server{o: o, log: o.Logger.With("component", "voice")}
	if o.SourceRate > 0 {
		srv.perSource = ratelimit.NewBucket(o.SourceRate, o.SourcePeriod, o.Now)
	}
	return srv, nil
}

// Start binds the SIP listeners (UDP and TCP on one port) and serves.
func (s *Server) Start(ctx context.Context) error {
	host, portStr, err := net.SplitHostPort(s.o.Listen)
	if err != nil {
		return fmt.Errorf("voice: listen %q: %w", s.o.Listen, err)
	}
	port, _ := strconv.Atoi(portStr)
	// UDP and TCP share the port number. With port 0, take what UDP got and
	// retry a few times if TCP finds it taken.
	for try := 0; ; try++ {
		s.udp, err = net.ListenPacket("udp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return fmt.Errorf("voice: %w", err)
		}
		p := s.udp.LocalAddr().(*net.UDPAddr).Port
		s.tcp, err = net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p)))
		if err == nil {
			ap, _ := netip.ParseAddrPort(s.udp.LocalAddr().String())
			s.addr = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
			break
		}
		s.udp.Close()
		if port != 0 || try >= 20 {
			return fmt.Errorf("voice: %w", err)
		}
	}
	if s.o.RTPPortMin > 0 && s.o.RTPPortMax > s.o.RTPPortMin {
		// diago keeps the range in package globals; one server per process.
		dmedia.RTPPortStart, dmedia.RTPPortEnd = s.o.RTPPortMin, s.o.RTPPortMax
	}
	ext := s.o.ExternalHost
	s.ua, err = sipgo.NewUA(sipgo.WithUserAgent("Trunkline"))
	if err != nil {
		return err
	}
	s.srv, err = sipgo.NewServer(s.ua)
	if err != nil {
		return err
	}
	bindHost := s.addr.Addr().String()
	opts := []diago.DiagoOption{
		diago.WithServer(s.srv),
		diago.WithLogger(quietLogger(s.log)),
		diago.WithServerRequestMiddleware(s.middleware),
		diago.WithTransport(diago.Transport{Transport: "udp", BindHost: bindHost, BindPort: int(s.addr.Port()), ExternalHost: ext}),
		// RewriteContact: requests inside a dialog (BYE, re-INVITE, INFO) go
		// to the address the peer's INVITE or answer came from, so over TCP
		// and TLS they travel on that connection, the one the phone called,
		// answered or registered on. A new connection to its Contact reaches
		// no phone behind NAT (and none that cannot accept TLS), which then
		// never hears the BYE.
		diago.WithTransport(diago.Transport{Transport: "tcp", BindHost: bindHost, BindPort: int(s.addr.Port()), ExternalHost: ext, RewriteContact: true}),
	}
	if s.o.TLSListen != "" && s.o.TLSConfig != nil {
		s.tlsLn, err = tls.Listen("tcp", s.o.TLSListen, s.o.TLSConfig)
		if err != nil {
			s.udp.Close()
			s.tcp.Close()
			return fmt.Errorf("voice: tls: %w", err)
		}
		tp := s.tlsLn.Addr().(*net.TCPAddr).Port
		// SDES-SRTP on TLS only: the keys travel in the SDP, which only TLS
		// keeps secret. A plain RTP/AVP offer over TLS is still answered plain
		// (unless the account requires SRTP, checked at admission).
		opts = append(opts, diago.WithTransport(diago.Transport{Transport: "tls", BindHost: bindHost, BindPort: tp,
			ExternalHost: ext, TLSConf: s.o.TLSConfig, TLSURINoSIPS: true, MediaSRTP: 1, RewriteContact: true}))
	}
	s.dg = diago.NewDiago(s.ua, opts...)
	s.dg.HandleFunc(s.handle)
	if s.o.Registrar != nil {
		// diago has no REGISTER handler; ours goes on the same server.
		s.srv.OnRegister(s.limited(s.o.Registrar.HandleRegister))
	}
	// Methods nobody handles get sipgo's 405, after the same limit.
	s.srv.OnNoRoute(s.limited(func(req *sip.Request, tx sip.ServerTransaction) {
		if err := tx.Respond(sip.NewResponseFromRequest(req, sip.StatusMethodNotAllowed, "Method Not Allowed", nil)); err != nil {
			s.log.Debug("respond", "code", 405, "err", err)
		}
	}))
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.pacer = media.NewPacer()
	serve := func(f func() error) {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := f(); err != nil && !errors.Is(err, net.ErrClosed) {
				s.log.Debug("sip listener stopped", "err", err)
			}
		}()
	}
	serve(func() error { return s.srv.ServeUDP(s.udp) })
	serve(func() error { return s.srv.ServeTCP(s.tcp) })
	if s.tlsLn != nil {
		serve(func() error { return s.srv.ServeTLS(s.tlsLn) })
	}
	if err := sipready.Await(ctx, s.addr.String()); err != nil {
		s.Shutdown(context.Background())
		return fmt.Errorf("voice: %w", err)
	}
	s.log.Info("sip listening", "udp", s.udp.LocalAddr().String(), "tcp", s.tcp.Addr().String())
	return nil
}

// Addr is the bound UDP/TCP address.
func (s *Server) Addr() netip.AddrPort { return s.addr }

// TLSAddr is the bound TLS address, if any.
func (s *Server) TLSAddr() string {
	if s.tlsLn == nil {
		return ""
	}
	return s.tlsLn.Addr().String()
}

// Active is the number of calls in progress.
func (s *Server) Active() int { return int(s.active.Load()) }

// Shutdown stops taking calls (new INVITEs get 503), waits for running calls
// to end until ctx ends, then hangs up the rest and closes the listeners.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.srv == nil {
		return nil
	}
	s.draining.Store(true)
	tk := time.NewTicker(50 * time.Millisecond)
	defer tk.Stop()
wait:
	for s.active.Load() > 0 {
		select {
		case <-ctx.Done():
			break wait
		case <-tk.C:
		}
	}
	s.calls.Range(func(_, v any) bool {
		v.(*Call).hangup(CauseShutdown, "server shutting down")
		return true
	})
	// Give the hang-ups a bounded moment to go out.
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
end:
	for s.active.Load() > 0 {
		select {
		case <-deadline.C:
			break end
		case <-tk.C:
		}
	}
	s.cancel()
	s.pacer.Stop()
	s.srv.Close()
	s.udp.Close()
	s.tcp.Close()
	if s.tlsLn != nil {
		s.tlsLn.Close()
	}
	s.ua.Close()
	s.wg.Wait()
	return nil
}

// middleware answers what must not reach a dialog: requests over the per-source limit
// (503, see limited), INVITEs and OPTIONS from outside the trunks (403 or the registrar's
// 407, no detail), over capacity (503), with bad or
// incompatible SDP (400/488) or to numbers nobody rents (404); and SIP INFO
// key presses, which diago refuses.
func (s *Server) middleware(next sipgo.RequestHandler) sipgo.RequestHandler {
	return s.limited(func(req *sip.Request, tx sip.ServerTransaction) {
		switch req.Method {
		case sip.INVITE:
			if req.To() != nil && req.To().Params.Has("tag") {
				next(req, tx) // re-INVITE in a dialog
				return
			}
			code, reason, answered := s.admit(req, tx)
			if answered {
				return
			}
			if code != 0 {
				res := sip.NewResponseFromRequest(req, code, reason, nil)
				if err := tx.Respond(res); err != nil {
					s.log.Debug("respond", "code", code, "err", err)
				}
				return
			}
		case sip.INFO:
			if s.info(req, tx) {
				return
			}
		case sip.OPTIONS:
			if !s.optionsAllowed(req, tx) {
				return
			}
		}
		next(req, tx)
	})
}

// limited applies the per-source request limit (Options.SourceRate) before next: over
// it, 503 with Retry-After, or nothing for an ACK. Requests from trunks are not limited.
func (s *Server) limited(next sipgo.RequestHandler) sipgo.RequestHandler {
	if s.perSource == nil {
		return next
	}
	return func(req *sip.Request, tx sip.ServerTransaction) {
		src := sourceAddr(req)
		if _, trunk := s.o.ACL(src); !trunk {
			key := ratelimit.SourceKey(src.String())
			if !src.IsValid() {
				key = ratelimit.SourceKey(req.Source())
			}
			if ok, wait := s.perSource.Allow(key); !ok {
				if req.IsAck() {
					return
				}
				res := sip.NewResponseFromRequest(req, sip.StatusServiceUnavailable, "Service Unavailable", nil)
				res.AppendHeader(sip.NewHeader("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds()))))))
				if err := tx.Respond(res); err != nil {
					s.log.Debug("respond", "code", 503, "err", err)
				}
				return
			}
		}
		next(req, tx)
	}
}

// optionsAllowed lets trunks (their health probes) and authenticated
// endpoints have OPTIONS answered with our capabilities. Anyone else gets
// what a stranger's INVITE gets, and so learns nothing from either: the
// registrar's uniform 407 challenge when endpoints are served, else 403.
// When it returns false the request has been answered.
func (s *Server) optionsAllowed(req *sip.Request, tx sip.ServerTransaction) bool {
	if _, ok := s.o.ACL(sourceAddr(req)); ok {
		return true
	}
	if s.o.Registrar != nil {
		_, ok := s.o.Registrar.AuthenticateRequest(req, tx)
		return ok
	}
	if err := tx.Respond(sip.NewResponseFromRequest(req, sip.StatusForbidden, "Forbidden", nil)); err != nil {
		s.log.Debug("respond", "code", sip.StatusForbidden, "err", err)
	}
	return false
}

func sourceAddr(req *sip.Request) netip.Addr {
	host, _, err := net.SplitHostPort(req.Source())
	if err != nil {
		host = req.Source()
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

func (s *Server) admit(req *sip.Request, tx sip.ServerTransaction) (int, string, bool) {
	trunk, fromTrunk := s.o.ACL(sourceAddr(req))
	ad := &admission{trunk: trunk}
	var ep *registrar.Endpoint
	if !fromTrunk && s.o.Registrar != nil && !s.publicApp(req) {
		// Not a trunk and not a public application: a phone of one of our
		// endpoints, or nobody. The registrar answers what fails (407, 403).
		e, ok := s.o.Registrar.AuthenticateRequest(req, tx)
		if !ok {
			return 0, "", true
		}
		ep = &e
		contactToSource(req)
	}
	code, reason := s.admitChecked(req, ad, fromTrunk || ep != nil, ep)
	return code, reason, false
}

// contactToSource points a phone's Contact at the address its INVITE came
// from, so the requests of the call (BYE, re-INVITE, INFO) go back there:
// behind NAT the Contact names a private address nobody can reach. Over TCP
// and TLS the transport's RewriteContact already sends them on the phone's
// connection; this covers UDP, where the source is the NAT's mapping.
func contactToSource(req *sip.Request) {
	c := req.Contact()
	host, port, err := net.SplitHostPort(req.Source())
	if c == nil || err != nil {
		return
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	c.Address.Host, c.Address.Port = host, p
}

// publicApp says whether the Request-URI names an application whose
// public_uri lets anyone call it.
func (s *Server) publicApp(req *sip.Request) bool {
	user := normalizeNumber(req.Recipient.User)
	if user == "" {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	app, err := s.o.DB.ApplicationByID(ctx, user)
	return err == nil && app.PublicURI && app.Enabled
}

func (s *Server) admitChecked(req *sip.Request, ad *admission, fromTrunk bool, ep *registrar.Endpoint) (int, string) {
	if s.draining.Load() || s.active.Load() >= int64(s.o.MaxCalls) {
		if !fromTrunk {
			return sip.StatusForbidden, "Forbidden"
		}
		return sip.StatusServiceUnavailable, "Service Unavailable"
	}
	if body := req.Body(); len(body) == 0 {
		ad.late, ad.offer = true, media.Offer{Audio: true, Codec: "PCMU", PayloadTEL: 101}
	} else {
		if ct := req.ContentType(); ct != nil && !strings.EqualFold(strings.TrimSpace(strings.SplitN(ct.Value(), ";", 2)[0]), "application/sdp") {
			return refuse(fromTrunk, sip.StatusUnsupportedMediaType, "Unsupported Media Type")
		}
		o, err := media.CheckOffer(body)
		switch {
		case errors.Is(err, media.ErrNoCommonCode):
			return refuse(fromTrunk, sip.StatusNotAcceptableHere, "Not Acceptable Here")
		case err != nil:
			return refuse(fromTrunk, sip.StatusBadRequest, "Bad Request (SDP)")
		}
		if o.SRTP && !isTLS(req) {
			// SDES keys sent in the clear protect nothing: SRTP only over TLS.
			return refuse(fromTrunk, sip.StatusNotAcceptableHere, "Not Acceptable Here")
		}
		ad.offer = o
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if ep != nil {
		// A call from an endpoint runs the endpoint's application, whatever
		// it dials; the application decides (e.g. <Dial> the number).
		if ep.AppID == "" {
			return sip.StatusNotFound, "Not Found"
		}
		app, err := s.o.DB.Application(ctx, trunkline.Scope{AccountID: ep.AccountID}, ep.AppID)
		if err != nil || !app.Enabled || app.AnswerURL == "" {
			return sip.StatusNotFound, "Not Found"
		}
		ad.app, ad.accountID, ad.to, ad.from = app, ep.AccountID, req.Recipient.User, ep.Username
		ad.trunk = "endpoint:" + ep.Username
		return s.pend(req, ad)
	}
	user := normalizeNumber(req.Recipient.User)
	if user == "" {
		return refuse(fromTrunk, sip.StatusNotFound, "Not Found")
	}
	// A rented number: only from a trunk.
	n, err := s.o.DB.NumberRentedBy(ctx, user)
	switch {
	case err == nil && n.AccountID != "":
		if !fromTrunk {
			return sip.StatusForbidden, "Forbidden"
		}
		if n.AppID == "" {
			return sip.StatusNotFound, "Not Found"
		}
		app, err := s.o.DB.Application(ctx, trunkline.Scope{AccountID: n.AccountID}, n.AppID)
		if err != nil || !app.Enabled || app.AnswerURL == "" {
			return sip.StatusNotFound, "Not Found"
		}
		ad.number, ad.app, ad.accountID, ad.to = n, app, n.AccountID, n.Number
	case err != nil && !errors.Is(err, trunkline.ErrNotFound):
		s.log.Error("number lookup", "err", err)
		return sip.StatusServiceUnavailable, "Service Unavailable"
	default:
		// sip:{app_id}@…: the application itself. Anyone may call it only
		// when its public_uri is true (the whitepaper's HIPAA advice keeps it
		// false); otherwise only our trunks. Everyone else gets the same 403,
		// so the answer says nothing about which applications exist.
		app, err := s.o.DB.ApplicationByID(ctx, user)
		if err != nil || !app.Enabled || app.AnswerURL == "" || (!app.PublicURI && !fromTrunk) {
			return refuse(fromTrunk, sip.StatusNotFound, "Not Found")
		}
		ad.app, ad.accountID, ad.to = app, app.AccountID, user
		if !fromTrunk {
			ad.trunk = "public-uri"
		}
	}
	return s.pend(req, ad)
}

// pend hands an admitted INVITE's admission to the dialog handler.
func (s *Server) pend(req *sip.Request, ad *admission) (int, string) {
	if s.secureAccount(ad.accountID) && (!isTLS(req) || !ad.offer.SRTP || ad.late) {
		// The account requires SIP over TLS with SRTP (secure_voice).
		return sip.StatusNotAcceptableHere, "Not Acceptable Here"
	}
	key := pendingKey(req)
	s.pending.Store(key, ad)
	// Dropped if the dialog layer never hands the INVITE over (a malformed
	// request it refuses): no entry outlives the INVITE transaction.
	time.AfterFunc(64*500*time.Millisecond, func() { s.pending.Delete(key) })
	return 0, ""
}

// pendingKey identifies an INVITE between the middleware and the handler
// (diago hands the handler its own copy of the request).
func pendingKey(req *sip.Request) string {
	k := ""
	if h := req.CallID(); h != nil {
		k = h.Value()
	}
	if f := req.From(); f != nil {
		k += "|" + f.Params.GetOr("tag", "")
	}
	if v := req.Via(); v != nil {
		k += "|" + v.Params.GetOr("branch", "")
	}
	return k
}

// secureAccount says whether the account (or its main account) requires
// SIP over TLS with SRTP for all its calls. Unknown accounts count as
// requiring it: failing closed.
func (s *Server) secureAccount(id string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a, err := s.o.DB.Account(ctx, id)
	if err != nil {
		return true
	}
	if a.SecureVoice || !a.IsSub() {
		return a.SecureVoice
	}
	m, err := s.o.DB.Account(ctx, a.ParentID)
	return err != nil || m.SecureVoice
}

// secureTargets keeps the targets reached over TLS (whose calls offer SRTP).
func secureTargets(ts []Target) []Target {
	var out []Target
	for _, t := range ts {
		if strings.EqualFold(t.URI.UriParams.GetOr("transport", ""), "tls") {
			out = append(out, t)
		}
	}
	return out
}

func isTLS(req *sip.Request) bool {
	t := strings.ToUpper(req.Transport())
	return t == "TLS" || t == "WSS"
}

// refuse answers a trunk with the real reason and anyone else with 403 and
// no detail: a stranger learns nothing about our numbers or applications.
func refuse(fromTrunk bool, code int, reason string) (int, string) {
	if !fromTrunk {
		return sip.StatusForbidden, "Forbidden"
	}
	return code, reason
}

// normalizeNumber keeps the digits of a dialled user part ("+1415…", "1415…").
func normalizeNumber(user string) string {
	user = strings.TrimPrefix(user, "+")
	if user == "" || len(user) > 20 || strings.Trim(user, "0123456789") != "" {
		return ""
	}
	return user
}

// info takes a SIP INFO key press (application/dtmf-relay "Signal=5" or
// application/dtmf "5") for one of our calls.
func (s *Server) info(req *sip.Request, tx sip.ServerTransaction) bool {
	ct := req.ContentType()
	if ct == nil {
		return false
	}
	kind := strings.ToLower(strings.TrimSpace(strings.SplitN(ct.Value(), ";", 2)[0]))
	if kind != "application/dtmf-relay" && kind != "application/dtmf" {
		return false
	}
	cid := req.CallID()
	if cid == nil {
		return false
	}
	v, ok := s.byCID.Load(cid.Value())
	if !ok {
		return false
	}
	d, ok := ParseINFODigit(kind, req.Body())
	if !ok {
		tx.Respond(sip.NewResponseFromRequest(req, sip.StatusBadRequest, "Bad Request", nil))
		return true
	}
	if ch := v.(*Call).channel(); ch != nil {
		ch.PushDigit(d)
	}
	tx.Respond(sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
	return true
}

// ParseINFODigit reads the key of a SIP INFO body.
func ParseINFODigit(kind string, body []byte) (rune, bool) {
	if len(body) > 1024 {
		return 0, false
	}
	val := strings.TrimSpace(string(body))
	if kind == "application/dtmf-relay" {
		val = ""
		for _, line := range strings.Split(string(body), "\n") {
			k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "Signal") {
				val = strings.TrimSpace(v)
			}
		}
	}
	switch {
	case len(val) == 1 && strings.ContainsRune("0123456789*#ABCDabcd", rune(val[0])):
		return rune(strings.ToUpper(val)[0]), true
	case val == "10":
		return '*', true
	case val == "11":
		return '#', true
	}
	return 0, false
}

// quietLogger keeps diago's per-packet chatter out of the server log: a
// caller's hang-up surfaces there as "use of closed network connection"
// (voice-notes trap 13).
func quietLogger(l *slog.Logger) *slog.Logger {
	return slog.New(levelFloor{l.Handler(), slog.LevelError})
}

type levelFloor struct {
	slog.Handler
	min slog.Level
}

func (h levelFloor) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}
func (h levelFloor) WithAttrs(a []slog.Attr) slog.Handler {
	return levelFloor{h.Handler.WithAttrs(a), h.min}
}
func (h levelFloor) WithGroup(n string) slog.Handler {
	return levelFloor{h.Handler.WithGroup(n), h.min}
}
