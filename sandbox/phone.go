package sandbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/diago"
	"github.com/emiago/diago/media"
	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"

	"github.com/trunkline/trunkline/audio"
	"github.com/trunkline/trunkline/internal/netaddr"
	"github.com/trunkline/trunkline/internal/sipready"
)

// PhoneCall is one call the sandbox phone took.
type PhoneCall struct {
	ID       string
	From, To string // the caller's user part and the number dialled
	At       time.Time
	// AnsweredAt and EndedAt are zero until the call is answered or over.
	AnsweredAt, EndedAt time.Time
	HungUpBy            string // "caller" or "phone"; "" while live
	// SpeechSeconds is how much of the caller's audio had speech-level
	// energy: decoded 20 ms frames with an RMS above speechRMS.
	SpeechSeconds float64
	// Spoken is what the platform said it spoke on the call (Phone.Spoken),
	// in order: the transcript the phone cannot make itself.
	Spoken []string
}

// PhoneOptions configure the sandbox phone.
type PhoneOptions struct {
	// Listen is the UDP SIP address (default 127.0.0.1:0: the sandbox is for
	// this machine only).
	Listen      string
	Keep        int           // calls remembered (default 200)
	MaxCallTime time.Duration // the phone hangs up a call this long after answering it (default 2 min)
	Notify      *Notifier     // optional: told of every new call and of what is spoken on one
	Logger      *slog.Logger
	Now         func() time.Time
}

// speechRMS is the frame RMS (16-bit PCM) from which a frame counts as
// speech: about -36 dBov, well above comfort noise (-65 dBov) and line hiss.
const speechRMS = 500

// spokenWindow is how long after a call ended Spoken may still attach text
// to it: the platform reports a prompt just before it plays, so a report
// racing the caller's own hang-up still lands on the right call.
const spokenWindow = time.Minute

// Phone is the sandbox callee: a SIP phone on this machine that answers
// every call (PCMU or PCMA), listens until the caller hangs up (or
// MaxCallTime), and keeps a record of each call. Outbound calls of an
// install without SIP trunks go to it.
type Phone struct {
	o   PhoneOptions
	log *slog.Logger

	ua   *sipgo.UserAgent
	srv  *sipgo.Server
	dg   *diago.Diago
	conn net.PacketConn
	addr netip.AddrPort

	ctx    context.Context // ends on Close: live calls hang up
	cancel context.CancelFunc
	serve  chan struct{} // closed when the UDP serve loop returns
	seq    atomic.Uint64

	mu     sync.Mutex
	closed bool
	calls  sync.WaitGroup // call handlers; Add only under mu while !closed
	recent []*PhoneCall   // oldest first; live calls included
}

// NewPhone makes a sandbox phone; Start binds it.
func NewPhone(o PhoneOptions) *Phone {
	if o.Keep <= 0 {
		o.Keep = 200
	}
	if o.Listen == "" {
		o.Listen = "127.0.0.1:0"
	}
	if o.MaxCallTime <= 0 {
		o.MaxCallTime = 2 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Phone{o: o, log: o.Logger.With("component", "sandbox-phone")}
}

// Start binds a UDP SIP listener on Options.Listen and returns once it
// answers requests.
func (p *Phone) Start(ctx context.Context) error {
	conn, err := (&net.ListenConfig{}).ListenPacket(ctx, "udp", p.o.Listen)
	if err != nil {
		return fmt.Errorf("sandbox phone: %w", err)
	}
	local := netaddr.Of(conn.LocalAddr())
	if local.Addr().IsUnspecified() {
		local = netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), local.Port())
	}
	host := local.Addr().String()
	p.conn, p.addr = conn, local
	fail := func(err error) error {
		conn.Close()
		if p.ua != nil {
			p.ua.Close()
		}
		return fmt.Errorf("sandbox phone: %w", err)
	}
	// The user agent name is also the Contact's user part: no spaces.
	if p.ua, err = sipgo.NewUA(sipgo.WithUserAgent("trunkline-sandbox")); err != nil {
		return fail(err)
	}
	if p.srv, err = sipgo.NewServer(p.ua); err != nil {
		return fail(err)
	}
	// Our own socket on the port asked for (0 works: we know what it got),
	// served by sipgo, so diago's Contact and SDP carry the real port.
	p.dg = diago.NewDiago(p.ua, diago.WithServer(p.srv), diago.WithLogger(quiet(p.log)),
		diago.WithTransport(diago.Transport{Transport: "udp", BindHost: host, BindPort: int(local.Port())}))
	p.dg.HandleFunc(p.handle)
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.serve = make(chan struct{})
	go func() {
		defer close(p.serve)
		if err := p.srv.ServeUDP(conn); err != nil && !errors.Is(err, net.ErrClosed) {
			p.log.Debug("sandbox phone listener stopped", "err", err)
		}
	}()
	// Only once the serve loop answers is the socket in sipgo's pool, so the
	// phone's own BYEs go out of it.
	if err := sipready.Await(ctx, p.addr.String()); err != nil {
		p.cancel()
		p.srv.Close()
		conn.Close()
		<-p.serve
		p.ua.Close()
		return fmt.Errorf("sandbox phone: %w", err)
	}
	p.log.Debug("sandbox phone listening", "addr", p.addr)
	return nil
}

// Addr is the bound SIP address (UDP).
func (p *Phone) Addr() netip.AddrPort { return p.addr }

// Close is Shutdown with ten seconds for the calls to end.
func (p *Phone) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return p.Shutdown(ctx)
}

// Shutdown hangs up the live calls, waits for them until ctx ends and stops the phone.
func (p *Phone) Shutdown(ctx context.Context) error {
	if p.srv == nil {
		return nil
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	p.cancel()
	done := make(chan struct{})
	go func() { p.calls.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		p.log.Warn("sandbox phone: calls still ending at close")
	}
	p.srv.Close()
	err := p.conn.Close()
	<-p.serve
	p.ua.Close()
	return err
}

// Recent returns the calls taken, newest first (live ones included).
func (p *Phone) Recent() []PhoneCall {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]PhoneCall, 0, len(p.recent))
	for i := len(p.recent) - 1; i >= 0; i-- {
		c := *p.recent[i]
		c.Spoken = append([]string(nil), c.Spoken...)
		out = append(out, c)
	}
	return out
}

// Spoken notes that the platform spoke text on the newest call to the
// number to that is live or ended less than a minute ago; with no such
// call it is dropped. The phone keeps the text in memory only.
func (p *Phone) Spoken(to, text string) {
	now := p.o.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.recent) - 1; i >= 0; i-- {
		c := p.recent[i]
		if c.To == to && (c.EndedAt.IsZero() || now.Sub(c.EndedAt) < spokenWindow) {
			c.Spoken = append(c.Spoken, text)
			p.o.Notify.notify()
			return
		}
	}
}

// update changes a call's record under the lock.
func (p *Phone) update(c *PhoneCall, f func(*PhoneCall)) {
	p.mu.Lock()
	f(c)
	p.mu.Unlock()
}

// handle runs one call: answer, listen, hang up or be hung up.
func (p *Phone) handle(d *diago.DialogServerSession) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		d.Respond(sip.StatusServiceUnavailable, "Service Unavailable", nil)
		return
	}
	p.calls.Add(1)
	defer p.calls.Done()
	to := d.InviteRequest.Recipient.User
	if to == "" {
		to = d.ToUser()
	}
	c := &PhoneCall{ID: "PH" + strings.ToUpper(strconv.FormatUint(p.seq.Add(1), 16)), From: d.FromUser(), To: to, At: p.o.Now()}
	p.recent = append(p.recent, c)
	if len(p.recent) > p.o.Keep {
		p.recent = append([]*PhoneCall(nil), p.recent[len(p.recent)-p.o.Keep:]...)
	}
	p.mu.Unlock()
	p.o.Notify.notify()
	log := p.log.With("call", c.ID)
	defer func() {
		p.update(c, func(c *PhoneCall) { c.EndedAt = p.o.Now() })
	}()

	// The dialog is established as the 200 OK goes out: from then on the
	// call was answered, even if the caller's BYE overtakes its ACK and
	// Answer itself reports the end.
	var answered atomic.Bool
	d.OnState(func(s sip.DialogState) {
		if s == sip.DialogStateEstablished || s == sip.DialogStateConfirmed {
			answered.Store(true)
		}
	})
	d.Trying()
	codecs := []media.Codec{media.CodecAudioUlaw, media.CodecAudioAlaw, media.CodecTelephoneEvent8000}
	var (
		med *diago.DialogMedia
		err error
	)
	if len(d.InviteRequest.Body()) == 0 {
		med, err = d.AnswerLate()
		if err != nil && med != nil && med.RTPSession() != nil && d.LoadState() >= sip.DialogStateConfirmed {
			// diago v0.42.1 fails to monitor the first RTP session of a late
			// offer after applying the ACK's SDP to a fresh one: the call is fine.
			err = nil
		}
	} else {
		med, err = d.Answer(diago.AnswerOptions{Codecs: codecs})
	}
	if err != nil {
		if med != nil {
			med.Close()
		}
		by := "caller" // hung up (or canceled) before the answer completed
		if d.Context().Err() == nil {
			by = "phone" // diago answers 480, or we hang up
			log.Warn("sandbox phone: answer failed", "err", err)
			if answered.Load() {
				hctx, hcancel := context.WithTimeout(context.Background(), 5*time.Second)
				d.Hangup(hctx)
				hcancel()
			}
		}
		p.update(c, func(c *PhoneCall) {
			if answered.Load() {
				c.AnsweredAt = p.o.Now()
			}
			c.HungUpBy = by
		})
		return
	}
	defer med.Close()
	p.update(c, func(c *PhoneCall) { c.AnsweredAt = p.o.Now() })

	ctx, cancel := context.WithTimeout(p.ctx, p.o.MaxCallTime)
	defer cancel()
	heard := make(chan struct{})
	go func() {
		defer close(heard)
		p.listen(med, c)
	}()
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		sendSilence(ctx, d.Context(), med)
	}()

	by := "caller"
	select {
	case <-d.Context().Done():
	case <-ctx.Done():
		by = "phone"
		hctx, hcancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := d.Hangup(hctx); err != nil && d.Context().Err() == nil {
			log.Debug("sandbox phone: bye", "err", err)
		}
		hcancel()
	}
	cancel()
	med.Close() // ends the reader
	for _, ch := range []chan struct{}{heard, sent} {
		select {
		case <-ch:
		case <-time.After(2 * time.Second):
			log.Warn("sandbox phone: media goroutine did not stop")
		}
	}
	p.update(c, func(c *PhoneCall) { c.HungUpBy = by })
}

// listen is the call's one RTP reader: it decodes the caller's audio into
// 20 ms frames and counts the ones with speech-level energy.
func (p *Phone) listen(med *diago.DialogMedia, c *PhoneCall) {
	sess := med.RTPSession()
	if sess == nil {
		return
	}
	var (
		pkt      rtp.Packet
		buf      = make([]byte, 1500)
		pcm      = make([]int16, 0, 4*160)
		timeouts int
	)
	for {
		if _, err := sess.ReadRTP(buf, &pkt); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && timeouts < 3 {
				// A read deadline diago left on the socket when it replaced
				// the RTP session (late offer): clear it and read on.
				timeouts++
				if ms := med.MediaSession(); ms != nil {
					ms.StartRTP(1)
				}
				continue
			}
			return
		}
		timeouts = 0
		switch pkt.PayloadType {
		case 0:
			pcm = audio.DecodeMulaw(pcm, pkt.Payload)
		case 8:
			pcm = audio.DecodeAlaw(pcm, pkt.Payload)
		default:
			continue // key presses, comfort noise
		}
		loud := 0
		for len(pcm) >= 160 {
			if frameRMSAbove(pcm[:160], speechRMS) {
				loud++
			}
			pcm = append(pcm[:0], pcm[160:]...)
		}
		if loud > 0 {
			p.update(c, func(c *PhoneCall) { c.SpeechSeconds += float64(loud) * 0.02 })
		}
	}
}

func frameRMSAbove(f []int16, rms float64) bool {
	var sum float64
	for _, s := range f {
		sum += float64(s) * float64(s)
	}
	return sum/float64(len(f)) > rms*rms
}

// sendSilence sends 20 ms of silence every 20 ms while the call lasts, so
// the caller's RTP timeout does not take the phone for a dead line.
func sendSilence(ctx, dialog context.Context, med *diago.DialogMedia) {
	w, err := med.AudioWriter()
	if err != nil {
		return
	}
	var zero [160]int16
	var frame []byte
	if ms := med.MediaSession(); ms != nil && media.CodecAudioFromSession(ms).PayloadType == 8 {
		frame = audio.EncodeAlaw(nil, zero[:])
	} else {
		frame = audio.EncodeMulaw(nil, zero[:])
	}
	for ctx.Err() == nil && dialog.Err() == nil {
		if _, err := w.Write(frame); err != nil {
			return
		}
	}
}

// quiet keeps diago's per-packet chatter (a hang-up shows as "use of closed
// network connection") out of the log.
func quiet(l *slog.Logger) *slog.Logger { return slog.New(errorsOnly{l.Handler()}) }

type errorsOnly struct{ slog.Handler }

func (h errorsOnly) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelError && h.Handler.Enabled(ctx, l)
}
func (h errorsOnly) WithAttrs(a []slog.Attr) slog.Handler { return errorsOnly{h.Handler.WithAttrs(a)} }
func (h errorsOnly) WithGroup(n string) slog.Handler      { return errorsOnly{h.Handler.WithGroup(n)} }
