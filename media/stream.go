package media

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/trunkline/trunkline/audio"
)

// StreamOptions configure one audio stream of a call.
type StreamOptions struct {
	CallID, StreamID, AccountID string
	Tracks                      string // inbound (default), outbound or both
	Format                      StreamFormat
	// Bidirectional: the server may send audio (playAudio), checkpoints,
	// clearAudio and sendDTMF. A listen-only stream ignores what it sends.
	Bidirectional bool
	ExtraHeaders  string        // k=v,k2=v2, as the customer gave them
	Timeout       time.Duration // streamTimeout; 0: none
	Now           func() time.Time
	// OnBadMessage, when set, hears why a message from the server was
	// refused (the reason never quotes the payload); the stream goes on.
	OnBadMessage func(err error)
}

// StreamEnd says why a stream ended. Dropped: the server failed (closed the
// socket, could not keep up, stopped answering), not our side.
type StreamEnd struct {
	Reason  string
	Dropped bool
}

// Stream is one call's audio going to a customer's WebSocket server in
// Plivo's event format, and (bidirectional) the server's audio coming back
// into the call. The connection is dialled by the caller (voice, through the
// SSRF guard); Stream owns it from Run on.
type Stream struct {
	ch   *Channel
	conn *websocket.Conn
	o    StreamOptions

	streamQ, extraQ string // JSON-quoted streamId and extra_headers
	seq             uint64 // the writer's sequenceNumber
	out             chan streamMsg
	ctl             chan streamMsg
	stopped         chan struct{}
	wexit           chan struct{} // closed when the writer has returned
	stopOnce        sync.Once
	stopReason      atomic.Value // string
	dropped         atomic.Int64 // media frames a slow server made us drop
	play            *streamPlayer
	dtmf            chan string // sendDTMF keys waiting for the call (dtmfWorker)

	in, outTrack trackEncoder
}

// streamMsg is one message for the writer: a media frame (payload) or a
// control message built with its sequence number.
type streamMsg struct {
	track   string
	tsMs    int64
	chunk   uint64
	payload []byte
	build   func(seq uint64) []byte
}

// trackEncoder turns one track's 20 ms frames into payloads; each runs on
// one goroutine (the RTP reader or the Pacer).
type trackEncoder struct {
	chunk uint64
	rs    *audio.Resampler // 8 → 16 kHz for audio/x-l16;rate=16000
	tmp   []int16
}

// streamQueue is how many messages wait for a slow server: a second of
// both tracks. Beyond it media frames are dropped (and counted), so a
// server that cannot keep up never holds up the call's audio.
const streamQueue = 100

// maxPlayQueue bounds the audio a server may queue for playback: 60 s,
// Plivo's figure.
const maxPlayQueue = 60 * audio.SampleRate

// NewStream prepares a stream on ch over conn (an open WebSocket).
func NewStream(ch *Channel, conn *websocket.Conn, o StreamOptions) *Stream {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Tracks == "" {
		o.Tracks = "inbound"
	}
	if o.Format.Encoding == "" {
		o.Format = StreamFormat{"audio/x-l16", 8000}
	}
	s := &Stream{ch: ch, conn: conn, o: o, out: make(chan streamMsg, streamQueue), ctl: make(chan streamMsg, 64),
		stopped: make(chan struct{}), wexit: make(chan struct{}), play: newStreamPlayer(), dtmf: make(chan string, maxDTMFQueue)}
	s.streamQ = quote(o.StreamID)
	// The attribute separates pairs with ',' and Plivo's events with ';'.
	s.extraQ = quote(strings.ReplaceAll(o.ExtraHeaders, ",", ";"))
	if o.Format.Rate == 16000 {
		s.in.rs, _ = audio.NewResampler(audio.SampleRate, 16000)
		s.outTrack.rs, _ = audio.NewResampler(audio.SampleRate, 16000)
	}
	conn.SetReadLimit(MaxStreamMessage)
	return s
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// Stop ends the stream (the API's stop, a new document's stop): Run
// returns with reason.
func (s *Stream) Stop(reason string) {
	s.stopOnce.Do(func() {
		s.stopReason.Store(reason)
		close(s.stopped)
	})
}

// Dropped is how many media frames were dropped because the server did not
// read them fast enough.
func (s *Stream) Dropped() int64 { return s.dropped.Load() }

// Run sends the start event, then the call's audio, until ctx ends (the
// call), Stop, the timeout, or the server closes the socket or fails to
// keep up; then it sends stop and closes the socket.
func (s *Stream) Run(ctx context.Context) StreamEnd {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	tracks := []string{s.o.Tracks}
	if s.o.Tracks == "both" {
		tracks = []string{"inbound", "outbound"}
	}
	start := map[string]any{"event": "start", "start": map[string]any{"callId": s.o.CallID, "streamId": s.o.StreamID,
		"accountId": s.o.AccountID, "tracks": tracks,
		"mediaFormat": map[string]any{"encoding": s.o.Format.Encoding, "sampleRate": s.o.Format.Rate}},
		"extra_headers": strings.ReplaceAll(s.o.ExtraHeaders, ",", ";")}
	s.ctl <- streamMsg{build: jsonWithSeq(start)}

	wdone := make(chan StreamEnd, 1)
	ending := make(chan struct{})
	go func() { wdone <- s.write(ctx, ending); close(s.wexit) }()
	rdone := make(chan StreamEnd, 1)
	go func() { rdone <- s.read(ctx) }()
	ddone := make(chan struct{})
	go func() { s.dtmfWorker(ctx); close(ddone) }()

	var removes []func()
	if s.o.Tracks != "outbound" {
		removes = append(removes, s.ch.Tap(func(f []int16) { s.frame("inbound", &s.in, f) }))
	}
	if s.o.Tracks != "inbound" {
		removes = append(removes, s.ch.TapOut(func(f []int16) { s.frame("outbound", &s.outTrack, f) }))
	}
	removes = append(removes, s.ch.TapDigits(s.digit))
	if s.o.Bidirectional {
		removes = append(removes, s.ch.AddSource(s.play.fill))
	}
	var timeout <-chan time.Time
	if s.o.Timeout > 0 {
		t := time.NewTimer(s.o.Timeout)
		defer t.Stop()
		timeout = t.C
	}

	var (
		end     StreamEnd
		wd      = (<-chan StreamEnd)(wdone)
		written bool
		rd      = (<-chan StreamEnd)(rdone)
	)
	for end.Reason == "" {
		select {
		case <-ctx.Done():
			end = StreamEnd{Reason: "call ended"}
		case <-s.stopped:
			end = StreamEnd{Reason: s.stopReason.Load().(string)}
		case <-timeout:
			end = StreamEnd{Reason: "stream timeout reached"}
		case end = <-wd:
			wd, written = nil, true
			if end.Reason == reasonConnClosed && rd != nil {
				// A write fails as soon as the server's close is in; the reader, which
				// reads the close frame, says whether it was a normal one (a stop).
				select {
				case r := <-rd:
					rd = nil
					if r.Reason != "" {
						end = r
					}
				case <-time.After(time.Second):
				}
			}
		case end = <-rd:
			rd = nil
		case <-s.play.notify:
			s.reportMarks(ctx)
		}
	}
	for _, rm := range removes {
		rm()
	}
	s.play.clear()
	// Tell the server why, then close; a server that is gone makes these
	// fail fast, a stuck one is bounded by the writer's timeout.
	stop := map[string]any{"event": "stop", "streamId": s.o.StreamID, "reason": end.Reason,
		"stop": map[string]any{"callId": s.o.CallID, "streamId": s.o.StreamID, "reason": end.Reason}}
	select {
	case s.ctl <- streamMsg{build: jsonWithSeq(stop)}:
	default:
	}
	close(ending)
	if !written {
		select {
		case <-wdone:
		case <-time.After(2 * time.Second):
		}
	}
	code := websocket.StatusNormalClosure
	if end.Dropped {
		code = websocket.StatusPolicyViolation
	}
	s.conn.Close(code, closeReason(end.Reason))
	cancel()
	if rd != nil {
		<-rdone
	}
	<-ddone
	return end
}

// reasonConnClosed ends a stream whose server went away without a normal close.
const reasonConnClosed = "the stream server closed the connection"

// closeReason fits a WebSocket close reason (at most 123 bytes).
func closeReason(r string) string {
	if len(r) > 120 {
		return r[:120]
	}
	return r
}

func jsonWithSeq(m map[string]any) func(uint64) []byte {
	return func(seq uint64) []byte {
		m["sequenceNumber"] = seq
		b, _ := json.Marshal(m)
		return b
	}
}

// frame queues one 20 ms frame of a track (a Tap or TapOut callback: it
// must not block).
func (s *Stream) frame(track string, e *trackEncoder, f []int16) {
	var payload []byte
	switch {
	case s.o.Format.Encoding == "audio/x-mulaw":
		payload = audio.EncodeMulaw(make([]byte, 0, len(f)), f)
	default:
		pcm := f
		if e.rs != nil {
			e.tmp = e.rs.ProcessInt16(e.tmp[:0], f)
			pcm = e.tmp
		}
		payload = make([]byte, 2*len(pcm))
		for i, v := range pcm {
			payload[2*i], payload[2*i+1] = byte(v), byte(uint16(v)>>8)
		}
	}
	e.chunk++
	select {
	case s.out <- streamMsg{track: track, tsMs: s.o.Now().UnixMilli(), chunk: e.chunk, payload: payload}:
	default:
		s.dropped.Add(1)
	}
}

func (s *Stream) digit(d rune) {
	m := map[string]any{"event": "dtmf", "streamId": s.o.StreamID, "extra_headers": strings.ReplaceAll(s.o.ExtraHeaders, ",", ";"),
		"dtmf": map[string]any{"track": "inbound", "digit": string(d), "timestamp": strconv.FormatInt(s.o.Now().UnixMilli(), 10)}}
	select {
	case s.ctl <- streamMsg{build: jsonWithSeq(m)}:
	default:
	}
}

// writeTimeout bounds one write: a server that stops reading for this long
// has dropped the stream.
const writeTimeout = 10 * time.Second

// write is the one writer: control messages first, then media. After
// ending it sends what control messages wait (the stop) and returns.
func (s *Stream) write(ctx context.Context, ending <-chan struct{}) StreamEnd {
	var buf []byte
	send := func(m streamMsg) error {
		s.seq++
		if m.build != nil {
			buf = m.build(s.seq)
		} else {
			buf = appendMediaEvent(buf[:0], s.seq, s.streamQ, m.track, m.tsMs, m.chunk, m.payload, s.extraQ)
		}
		wctx, cancel := context.WithTimeout(ctx, writeTimeout)
		defer cancel()
		return s.conn.Write(wctx, websocket.MessageText, buf)
	}
	fail := func(err error) StreamEnd {
		if ctx.Err() != nil {
			return StreamEnd{}
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return StreamEnd{Reason: "the stream server stopped reading", Dropped: true}
		}
		return StreamEnd{Reason: reasonConnClosed, Dropped: true}
	}
	for {
		select {
		case m := <-s.ctl:
			if err := send(m); err != nil {
				return fail(err)
			}
			continue
		default:
		}
		select {
		case m := <-s.ctl:
			if err := send(m); err != nil {
				return fail(err)
			}
		case m := <-s.out:
			if err := send(m); err != nil {
				return fail(err)
			}
		case <-ending:
			for {
				select {
				case m := <-s.ctl:
					if send(m) != nil {
						return StreamEnd{}
					}
				default:
					return StreamEnd{}
				}
			}
		case <-ctx.Done():
			return StreamEnd{}
		}
	}
}

// maxBadMessages: a server that sends this many messages we cannot act on
// has its stream dropped (each is reported to OnBadMessage first).
const maxBadMessages = 10

// read takes the server's messages until the socket closes. A listen-only
// stream ignores them.
func (s *Stream) read(ctx context.Context) StreamEnd {
	down := map[int]*audio.Resampler{}
	var pcm []int16
	bad := 0
	for {
		typ, b, err := s.conn.Read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return StreamEnd{}
			}
			switch websocket.CloseStatus(err) {
			case websocket.StatusMessageTooBig:
				return StreamEnd{Reason: "the stream server sent a message over 64 KB", Dropped: true}
			case websocket.StatusNormalClosure, websocket.StatusGoingAway:
				// The server ended the stream on purpose: a stop, not a drop.
				return StreamEnd{Reason: "the stream server closed the stream"}
			}
			return StreamEnd{Reason: reasonConnClosed, Dropped: true}
		}
		if !s.o.Bidirectional {
			continue
		}
		if typ != websocket.MessageText {
			err := errors.New("invalid stream message: a binary frame (the protocol is JSON text)")
			s.bad(err)
			if bad++; bad >= maxBadMessages {
				return StreamEnd{Reason: fmt.Sprintf("the stream server sent %d invalid messages; the last: %v", bad, err), Dropped: true}
			}
			continue
		}
		ev, err := ParseStreamEvent(b)
		if errors.Is(err, ErrUnknownStreamEvent) {
			continue // a newer server's event: not ours to refuse
		}
		if err != nil {
			s.bad(err)
			if bad++; bad >= maxBadMessages {
				return StreamEnd{Reason: fmt.Sprintf("the stream server sent %d invalid messages; the last: %v", bad, err), Dropped: true}
			}
			continue
		}
		switch ev.Event {
		case "playAudio":
			f := s.o.Format
			if ev.HasFormat {
				f = ev.Format
			}
			var rs *audio.Resampler
			if f.Rate == 16000 {
				if rs = down[f.Rate]; rs == nil {
					rs, _ = audio.NewResampler(16000, audio.SampleRate)
					down[f.Rate] = rs
				}
			}
			pcm = DecodeStreamAudio(pcm[:0], ev.Payload, f, rs)
			if !s.play.add(pcm) {
				s.bad(errors.New("invalid stream message: playAudio beyond 60 s of queued audio was dropped"))
			}
		case "checkpoint":
			s.play.mark(ev.Name)
			s.reportMarks(ctx)
		case "clearAudio":
			s.play.clear()
			s.reportMarks(ctx)
			s.control(ctx, streamMsg{build: jsonWithSeq(map[string]any{"event": "clearedAudio", "streamId": s.o.StreamID})})
		case "sendDTMF":
			select {
			case s.dtmf <- ev.DTMF:
			default:
				s.bad(fmt.Errorf("invalid stream message: sendDTMF beyond %d waiting was dropped", maxDTMFQueue))
			}
		}
	}
}

// maxDTMFQueue bounds the sendDTMF messages waiting to be played: each
// press takes the call a tenth of a second or more.
const maxDTMFQueue = 16

// dtmfWorker plays the server's sendDTMF keys into the call, one message
// after the other, until ctx ends.
func (s *Stream) dtmfWorker(ctx context.Context) {
	for {
		select {
		case d := <-s.dtmf:
			if err := s.ch.SendDigits(ctx, d); err != nil && ctx.Err() == nil {
				s.bad(errors.New("sendDTMF: " + err.Error()))
			}
		case <-ctx.Done():
			return
		}
	}
}

func (s *Stream) bad(err error) {
	if s.o.OnBadMessage != nil {
		s.o.OnBadMessage(err)
	}
}

// control queues a control message for the writer, waiting while the queue
// is full (a server that floods requests for answers is slowed to the pace
// it reads them), but never once the stream is ending: false then.
func (s *Stream) control(ctx context.Context, m streamMsg) bool {
	select {
	case s.ctl <- m:
		return true
	case <-ctx.Done():
	case <-s.stopped:
	case <-s.wexit:
	}
	return false
}

// reportMarks sends playedStream for every checkpoint whose audio has played.
func (s *Stream) reportMarks(ctx context.Context) {
	for _, name := range s.play.takeReached() {
		m := map[string]any{"event": "playedStream", "streamId": s.o.StreamID, "name": name}
		if !s.control(ctx, streamMsg{build: jsonWithSeq(m)}) {
			return
		}
	}
}

// streamPlayer is the audio a bidirectional server queued, played into the
// call by the Pacer (Channel.AddSource), with its checkpoints.
type streamPlayer struct {
	mu      sync.Mutex
	buf     []int16
	head    int
	played  int64 // samples played (or cleared) since the start
	queued  int64 // samples queued since the start
	marks   []streamMark
	reached []string
	notify  chan struct{}
}

type streamMark struct {
	name string
	at   int64
}

func newStreamPlayer() *streamPlayer { return &streamPlayer{notify: make(chan struct{}, 1)} }

// add queues pcm; false when the queue is full (the excess is dropped).
func (p *streamPlayer) add(pcm []int16) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	room := maxPlayQueue - (len(p.buf) - p.head)
	n := min(len(pcm), max(room, 0))
	if p.head > 0 && p.head >= len(p.buf)/2 {
		p.buf = append(p.buf[:0], p.buf[p.head:]...)
		p.head = 0
	}
	p.buf = append(p.buf, pcm[:n]...)
	p.queued += int64(n)
	return n == len(pcm)
}

// mark sets a checkpoint after the audio queued so far.
func (p *streamPlayer) mark(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.queued <= p.played {
		p.reached = append(p.reached, name)
		return
	}
	p.marks = append(p.marks, streamMark{name, p.queued})
}

// clear drops the queued audio: every checkpoint is then reached.
func (p *streamPlayer) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf, p.head = p.buf[:0], 0
	p.played = p.queued
	for _, m := range p.marks {
		p.reached = append(p.reached, m.name)
	}
	p.marks = p.marks[:0]
}

func (p *streamPlayer) takeReached() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.reached
	p.reached = nil
	return r
}

// fill mixes the next queued audio into frame (on the Pacer's goroutine).
func (p *streamPlayer) fill(frame []int16) {
	p.mu.Lock()
	q := p.buf[p.head:]
	n := min(len(frame), len(q))
	for i := range n {
		s := int32(frame[i]) + int32(q[i])
		frame[i] = int16(max(-32768, min(32767, s)))
	}
	p.head += n
	p.played += int64(n)
	hit := false
	for len(p.marks) > 0 && p.marks[0].at <= p.played {
		p.reached = append(p.reached, p.marks[0].name)
		p.marks = p.marks[1:]
		hit = true
	}
	p.mu.Unlock()
	if hit {
		select {
		case p.notify <- struct{}{}:
		default:
		}
	}
}
