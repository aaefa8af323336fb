package voice

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/diago"
	dmedia "github.com/emiago/diago/media"
	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/trunkline/trunkline/audio"
	"github.com/trunkline/trunkline/audio/tts"
	"github.com/trunkline/trunkline/audit"
	"github.com/trunkline/trunkline/callerid"
	"github.com/trunkline/trunkline/internal/netaddr"
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
	confs    conferences // live <Conference> rooms (conference.go)
	mpcs     mpcs        // multi-party calls (mpc.go)

	ctx      context.Context
	cancel   context.CancelFunc
	draining atomic.Bool
	wg       sync.WaitGroup
	shutdown sync.Once
	// saves counts room recordings being stored (roomRecording.stop):
	// Shutdown waits for them, so a node that stops keeps them.
	saves inflight
}

// inflight counts background work that Shutdown waits for. Unlike a
// sync.WaitGroup, work may start while someone waits.
type inflight struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed when n drops to 0
}

func (f *inflight) add() {
	f.mu.Lock()
	if f.n == 0 {
		f.idle = make(chan struct{})
	}
	f.n++
	f.mu.Unlock()
}

func (f *inflight) done() {
	f.mu.Lock()
	f.n--
	if f.n == 0 {
		close(f.idle)
	}
	f.mu.Unlock()
}

// wait returns when nothing is in flight, or ctx ends first.
func (f *inflight) wait(ctx context.Context) error {
	f.mu.Lock()
	if f.n == 0 {
		f.mu.Unlock()
		return nil
	}
	idle := f.idle
	f.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
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
			s.addr = netaddr.Of(s.udp.LocalAddr())
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

// TLSAddr is the bound TLS address; zero when SIP over TLS is off.
func (s *Server) TLSAddr() netip.AddrPort {
	if s.tlsLn == nil {
		return netip.AddrPort{}
	}
	return netaddr.Of(s.tlsLn.Addr())
}

// Active is the number of calls in progress.
func (s *Server) Active() int { return int(s.active.Load()) }

// Drain stops taking calls while the listeners stay up: new INVITEs get 503, and so do
// OPTIONS, so a SIP proxy probing the node (Kamailio's dispatcher) takes it out of its
// set; requests in running calls (BYE, re-INVITE, INFO) are served until Shutdown.
func (s *Server) Drain() { s.draining.Store(true) }

// Shutdown stops taking calls (new INVITEs get 503), waits for running calls
// to end until ctx ends, then hangs up the rest and closes the listeners.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.srv == nil {
		return nil
	}
	s.shutdown.Do(func() { s.stop(ctx) })
	return nil
}

func (s *Server) stop(ctx context.Context) {
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
	// Rooms still open (a member whose call did not end in time) stop
	// recording now; every room recording then gets stored before the
	// store and the webhooks go away. ctx is spent draining calls, so the
	// wait has its own bound: the time one save may take.
	s.stopRoomRecordings()
	wctx, cancel := context.WithTimeout(context.Background(), roomSaveTimeout)
	defer cancel()
	if err := s.saves.wait(wctx); err != nil {
		s.log.Error("room recordings not stored before shutdown", "err", err)
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
