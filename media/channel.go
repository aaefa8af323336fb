package media

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/pion/rtp"

	"github.com/trunkline/trunkline/audio"
	"github.com/trunkline/trunkline/audio/dtmf"
)

// frameSamples is one 20 ms frame at 8 kHz: the packet size every G.711
// carrier expects.
const frameSamples = 160

// RTPIO is the part of an RTP session (diago's *media.RTPSession) a channel uses.
type RTPIO interface {
	ReadRTP(b []byte, p *rtp.Packet) (int, error)
	WriteRTP(p *rtp.Packet) error
}

// Channel is the media of one call: one reader that fans the caller's RTP out
// to the DTMF detector and to whoever listens (recorder, silence detector),
// and a writer the shared Pacer drives every 20 ms, which sends the current
// prompt, queued key presses, or comfort noise when nothing plays, so the line
// never goes silent on the wire (voice-notes traps 7 and 8).
type Channel struct {
	io      RTPIO
	alaw    bool
	ptAudio uint8
	ptEvent int // telephone-event payload type we send and detect; -1 none

	mu      sync.Mutex
	ssrc    uint32
	seq     uint16
	ts      uint32
	play    *playback
	events  []dtmf.Outgoing // key presses being sent, one packet per tick
	evBase  uint32
	noiseAt int
	frame   [frameSamples]int16
	payload [frameSamples]byte
	pkt     rtp.Packet
	closed  bool
	lastRx  time.Time // last RTP packet from the peer

	shard *pacerShard // set by Pacer.Add
	feed  *FIFO       // bridged: the other leg's audio, sent when no prompt plays
	over  *playback   // live-call play/speak, mixed over whatever else is sent
	loop  bool        // over repeats until stopped
	outs  map[int]func([]int16)
	outID int
	mix   [frameSamples]int16
	srcs  map[int]func([]int16) // mixed into every frame sent (AddSource)

	tapMu sync.Mutex
	taps  map[int]func([]int16)
	tapID int
	keys  map[int]func(rune) // see TapDigits

	digits chan rune
	done   chan struct{}
	resume func() // clears a read deadline on the RTP socket; may be nil
}

type playback struct {
	pcm  []int16
	pos  int
	done chan struct{}
}

// NewChannel makes the media of one call on an RTP session: codec is "PCMU" or
// "PCMA", ptEvent the negotiated telephone-event payload type (-1: none), and
// resume (may be nil) clears a read deadline left on the session's socket. Start
// runs its reader; the caller registers it with a Pacer, which drives its writer.
func NewChannel(io RTPIO, codec string, ptEvent int, resume func()) *Channel {
	c := &Channel{
		io: io, alaw: codec == "PCMA", ptEvent: ptEvent, resume: resume,
		ssrc: rand.Uint32(), seq: uint16(rand.Uint32()), ts: rand.Uint32(),
		noiseAt: rand.IntN(len(noiseFrames[0])),
		taps:    map[int]func([]int16){},
		digits:  make(chan rune, 64),
		done:    make(chan struct{}),
		lastRx:  time.Now(),
	}
	if c.alaw {
		c.ptAudio = 8
	}
	return c
}

// Done is closed when the reader stops: the media session ended.
func (c *Channel) Done() <-chan struct{} { return c.done }

// Digits delivers detected key presses (RFC 4733 and SIP INFO).
func (c *Channel) Digits() <-chan rune { return c.digits }

// FlushDigits drops key presses nobody asked for yet.
func (c *Channel) FlushDigits() {
	for {
		select {
		case <-c.digits:
		default:
			return
		}
	}
}

// PushDigit adds a key press that arrived out of band (SIP INFO).
func (c *Channel) PushDigit(d rune) {
	c.tapMu.Lock()
	for _, f := range c.keys {
		f(d)
	}
	c.tapMu.Unlock()
	select {
	case c.digits <- d:
	default: // a caller mashing keys faster than anyone reads them
	}
}

// Tap registers f to receive every decoded 20 ms frame of the caller's audio,
// on the reader goroutine (keep it quick); the returned func removes it.
func (c *Channel) Tap(f func([]int16)) (remove func()) {
	c.tapMu.Lock()
	c.tapID++
	id := c.tapID
	c.taps[id] = f
	c.tapMu.Unlock()
	return func() {
		c.tapMu.Lock()
		delete(c.taps, id)
		c.tapMu.Unlock()
	}
}

// TapDigits registers f to see every key press (detected or SIP INFO) as
// it arrives, besides Digits, which only one reader consumes; keep f quick.
func (c *Channel) TapDigits(f func(rune)) (remove func()) {
	c.tapMu.Lock()
	c.tapID++
	id := c.tapID
	if c.keys == nil {
		c.keys = map[int]func(rune){}
	}
	c.keys[id] = f
	c.tapMu.Unlock()
	return func() {
		c.tapMu.Lock()
		delete(c.keys, id)
		c.tapMu.Unlock()
	}
}

// AddSource registers f to add its audio into every frame the call sends
// (f mixes into the frame it is given, on the Pacer's goroutine: keep it
// quick and never block). An audio stream's playback uses it.
func (c *Channel) AddSource(f func(frame []int16)) (remove func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.srcs == nil {
		c.srcs = map[int]func([]int16){}
	}
	c.outID++
	id := c.outID
	c.srcs[id] = f
	return func() {
		c.mu.Lock()
		delete(c.srcs, id)
		c.mu.Unlock()
	}
}

// Start runs the call's one RTP reader until the session closes (Done).
func (c *Channel) Start() { go c.read() }

func (c *Channel) read() {
	defer close(c.done)
	buf := make([]byte, 1500)
	var (
		pkt      rtp.Packet
		det      *dtmf.Detector
		events   []dtmf.Event
		pcm      = make([]int16, 0, frameSamples*2)
		timeouts int
	)
	if c.ptEvent >= 0 {
		det = dtmf.NewDetector(uint8(c.ptEvent))
	}
	for {
		if _, err := c.io.ReadRTP(buf, &pkt); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && c.resume != nil && timeouts < 3 {
				// A read deadline left on the shared socket by diago when it
				// replaced the RTP session (late offer, re-INVITE): clear it
				// and go on reading.
				timeouts++
				c.resume()
				continue
			}
			if det != nil {
				for _, e := range det.Flush(events[:0]) {
					c.PushDigit(e.Digit)
				}
			}
			return
		}
		timeouts = 0
		c.mu.Lock()
		c.lastRx = time.Now()
		c.mu.Unlock()
		if det != nil {
			events = det.Feed(events[:0], dtmf.Packet{PayloadType: pkt.PayloadType, Marker: pkt.Marker,
				SSRC: pkt.SSRC, Timestamp: pkt.Timestamp, Payload: pkt.Payload}, time.Now())
			for _, e := range events {
				c.PushDigit(e.Digit)
			}
		}
		c.tapMu.Lock()
		tapped := len(c.taps) > 0
		c.tapMu.Unlock()
		if !tapped {
			continue // nobody listens: no need to decode
		}
		var frame []int16
		switch pkt.PayloadType {
		case 0:
			frame = audio.DecodeMulaw(pcm[:0], pkt.Payload)
		case 8:
			frame = audio.DecodeAlaw(pcm[:0], pkt.Payload)
		default:
			continue
		}
		c.tapMu.Lock()
		for _, f := range c.taps {
			f(frame)
		}
		c.tapMu.Unlock()
	}
}

// tick sends the next 20 ms: a key-press packet, a prompt frame, or comfort
// noise. The Pacer calls it; it never blocks on anything but the socket.
func (c *Channel) tick() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	if len(c.events) > 0 {
		ev := c.events[0]
		c.events = c.events[1:]
		c.write(ev.Payload, uint8(c.ptEvent), ev.Marker, c.evBase+ev.Timestamp)
		if len(c.events) == 0 {
			// Audio resumes where the press ended (dtmf.Generate's contract);
			// later ticks keep advancing from there.
			c.ts = c.evBase + ev.Timestamp + dtmfDuration
		}
		return
	}
	if c.over != nil || len(c.outs) > 0 || len(c.srcs) > 0 {
		c.tickMixed()
		c.ts += frameSamples
		return
	}
	if p := c.play; p == nil && c.feed != nil && c.feed.Pop(c.frame[:]) {
		c.encodeWrite(c.frame[:])
	} else if p != nil {
		f := c.frame[:]
		n := copy(f, p.pcm[p.pos:])
		p.pos += n
		clear(f[n:])
		if p.pos >= len(p.pcm) {
			close(p.done)
			c.play = nil
		}
		c.encodeWrite(f)
	} else {
		codec := 0
		if c.alaw {
			codec = 1
		}
		c.noiseAt = (c.noiseAt + 1) % len(noiseFrames[codec])
		c.write(noiseFrames[codec][c.noiseAt][:], c.ptAudio, false, c.ts)
	}
	c.ts += frameSamples
}

func (c *Channel) write(payload []byte, pt uint8, marker bool, ts uint32) {
	c.pkt.Header = rtp.Header{Version: 2, PayloadType: pt, Marker: marker, SequenceNumber: c.seq, Timestamp: ts, SSRC: c.ssrc}
	c.pkt.Payload = payload
	c.seq++
	// A write error means the session is closing; the reader sees it too.
	_ = c.io.WriteRTP(&c.pkt)
}

// tickMixed is the slower path of tick, in PCM: the frame (prompt, bridged
// audio or silence) plus the overlay, shown to the outgoing taps (live
// recordings). Called with c.mu held.
func (c *Channel) tickMixed() {
	f := c.mix[:]
	clear(f)
	if p := c.play; p != nil {
		n := copy(f, p.pcm[p.pos:])
		p.pos += n
		if p.pos >= len(p.pcm) {
			close(p.done)
			c.play = nil
		}
	} else if c.feed != nil {
		c.feed.Pop(f)
	}
	if o := c.over; o != nil {
		for i := range f {
			if o.pos >= len(o.pcm) {
				if !c.loop {
					c.over = nil
					break
				}
				o.pos = 0
			}
			s := int32(f[i]) + int32(o.pcm[o.pos])
			f[i] = int16(max(-32768, min(32767, s)))
			o.pos++
		}
	}
	for _, src := range c.srcs {
		src(f)
	}
	for _, t := range c.outs {
		t(f)
	}
	c.encodeWrite(f)
}

// Overlay mixes pcm over whatever the call sends (the Call API's Play and
// Speak with mix=true); nil stops it.
func (c *Channel) Overlay(pcm []int16, loop bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(pcm) == 0 {
		c.over = nil
		return
	}
	c.over, c.loop = &playback{pcm: pcm}, loop
}

// TapOut registers f to see every frame the call sends (as PCM).
func (c *Channel) TapOut(f func([]int16)) (remove func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.outs == nil {
		c.outs = map[int]func([]int16){}
	}
	c.outID++
	id := c.outID
	c.outs[id] = f
	return func() {
		c.mu.Lock()
		delete(c.outs, id)
		c.mu.Unlock()
	}
}

func (c *Channel) encodeWrite(f []int16) {
	if c.alaw {
		audio.EncodeAlaw(c.payload[:0], f)
	} else {
		audio.EncodeMulaw(c.payload[:0], f)
	}
	c.write(c.payload[:], c.ptAudio, false, c.ts)
}

// SetFeed makes the channel send f's audio whenever no prompt plays (a
// bridge); nil ends it.
func (c *Channel) SetFeed(f *FIFO) {
	c.mu.Lock()
	c.feed = f
	c.mu.Unlock()
}

// Play sends pcm (8 kHz mono) and returns when it has all been sent, or when
// ctx ends (barge-in, hang-up), in which case the prompt stops at once.
func (c *Channel) Play(ctx context.Context, pcm []int16) error {
	p := &playback{pcm: pcm, done: make(chan struct{})}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	if old := c.play; old != nil {
		close(old.done)
	}
	c.play = p
	c.mu.Unlock()
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		c.mu.Lock()
		if c.play == p {
			c.play = nil
			close(p.done)
		}
		c.mu.Unlock()
		return ctx.Err()
	case <-c.done:
		return ErrClosed
	}
}

// dtmfDuration is how long each sent key press lasts (100 ms, a common
// carrier default) in samples.
const dtmfDuration = 800

// SendDigits queues RFC 4733 key presses; 'w' waits 0.5 s and 'W' 1 s. It
// returns once they are all on the wire or ctx ends.
func (c *Channel) SendDigits(ctx context.Context, digits string) error {
	if c.ptEvent < 0 {
		return errors.New("the caller did not offer telephone-event")
	}
	for _, d := range digits {
		switch d {
		case 'w', 'W':
			wait := 500 * time.Millisecond
			if d == 'W' {
				wait = time.Second
			}
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			}
			continue
		}
		pkts, err := dtmf.Generate(d, 0, dtmfDuration, dtmf.GenerateOptions{PayloadType: uint8(c.ptEvent)})
		if err != nil {
			return err
		}
		c.mu.Lock()
		c.evBase = c.ts
		c.events = pkts
		c.mu.Unlock()
		// Wait until the press is sent (one packet per tick), bounded.
		deadline := time.NewTimer(time.Duration(len(pkts)+5) * 20 * time.Millisecond * 3)
		tk := time.NewTicker(20 * time.Millisecond)
	wait:
		for {
			select {
			case <-tk.C:
				c.mu.Lock()
				n := len(c.events)
				c.mu.Unlock()
				if n == 0 {
					break wait
				}
			case <-deadline.C:
				break wait
			case <-ctx.Done():
				tk.Stop()
				deadline.Stop()
				return ctx.Err()
			}
		}
		tk.Stop()
		deadline.Stop()
	}
	return nil
}

// Silent says how long the peer has sent no RTP (since the channel started
// when it never has).
func (c *Channel) Silent(now time.Time) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return now.Sub(c.lastRx)
}

// Close stops the writer: a prompt playing ends, queued key presses are
// dropped. The reader ends when the RTP session closes.
func (c *Channel) Close() {
	c.mu.Lock()
	c.closed = true
	if p := c.play; p != nil {
		c.play = nil
		close(p.done)
	}
	c.events = nil
	c.mu.Unlock()
}

// ErrClosed: the channel is closed (the call is ending).
var ErrClosed = errors.New("media closed")
