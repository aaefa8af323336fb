// Package rtpobs is an RTP observer for tests: a UDP socket on 127.0.0.1
// that a test names as the media address of a call (in a SIPp scenario's
// SDP, or as the far end of an outbound call), and that records what
// arrives, so the test can check what a caller would have heard: how many
// packets, which payload types, the audio decoded from PCMU/PCMA, its level,
// and the RFC 4733 key presses.
//
// It only listens: it never answers or sends.
package rtpobs

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/trunkline/trunkline/audio"
	"github.com/trunkline/trunkline/audio/dtmf"
)

// Payload types with a static meaning (RFC 3551) and the usual dynamic
// one for telephone-event.
const (
	PCMU           = 0
	PCMA           = 8
	TelephoneEvent = 101
)

// MaxPackets bounds what an Observer keeps: about 66 minutes of one 20 ms
// stream. Packets beyond it are counted in Dropped and not stored.
const MaxPackets = 200_000

// Packet is one received RTP packet.
type Packet struct {
	PayloadType uint8
	Marker      bool
	Seq         uint16
	Timestamp   uint32
	SSRC        uint32
	Payload     []byte // a copy, without header, CSRCs, extension or padding
	From        *net.UDPAddr
	At          time.Time // arrival
}

// Observer receives RTP on a UDP socket. Its methods are safe for
// concurrent use while packets arrive.
type Observer struct {
	conn *net.UDPConn
	done chan struct{} // the reader has returned

	mu      sync.Mutex
	pkts    []Packet
	invalid int           // datagrams that are not RTP (or are RTCP)
	dropped int           // RTP packets beyond MaxPackets
	notify  chan struct{} // closed and replaced on each datagram
	readErr error
}

// Listen starts an Observer on 127.0.0.1 on a free port; the test's
// cleanup closes it.
func Listen(t testing.TB) *Observer {
	t.Helper()
	o, err := ListenAddr("127.0.0.1:0")
	if err != nil {
		t.Fatalf("rtpobs: %v", err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

// ListenAddr starts an Observer on addr ("127.0.0.1:0"); Close stops it.
func ListenAddr(addr string) (*Observer, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	conn, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, err
	}
	o := &Observer{conn: conn, done: make(chan struct{}), notify: make(chan struct{})}
	go o.read()
	return o, nil
}

// Addr is the observer's address.
func (o *Observer) Addr() *net.UDPAddr { return o.conn.LocalAddr().(*net.UDPAddr) }

// IP and Port are Addr's parts, as an SDP c= and m= line want them.
func (o *Observer) IP() string { return o.Addr().IP.String() }
func (o *Observer) Port() int  { return o.Addr().Port }

// Close stops the observer and waits for its reader. What was received
// stays readable.
func (o *Observer) Close() error {
	err := o.conn.Close()
	<-o.done
	return err
}

func (o *Observer) read() {
	defer close(o.done)
	buf := make([]byte, 65536)
	for {
		n, from, err := o.conn.ReadFromUDP(buf)
		if err != nil {
			o.mu.Lock()
			if !errors.Is(err, net.ErrClosed) {
				o.readErr = err
			}
			close(o.notify)
			o.notify = nil
			o.mu.Unlock()
			return
		}
		at := time.Now()
		p, ok := parse(buf[:n])
		o.mu.Lock()
		switch {
		case !ok:
			o.invalid++
		case len(o.pkts) >= MaxPackets:
			o.dropped++
		default:
			p.Payload = append([]byte(nil), p.Payload...)
			p.From, p.At = from, at
			o.pkts = append(o.pkts, p)
		}
		close(o.notify)
		o.notify = make(chan struct{})
		o.mu.Unlock()
	}
}

// parse reads an RTP packet (RFC 3550 §5.1). RTCP (packet types 200-204
// in the second byte, RFC 5761) and anything that is not version 2 or is
// too short is refused.
func parse(b []byte) (Packet, bool) {
	if len(b) < 12 || b[0]>>6 != 2 {
		return Packet{}, false
	}
	if b[1] >= 192 && b[1] <= 223 {
		return Packet{}, false // RTCP
	}
	off := 12 + 4*int(b[0]&0x0F)
	if len(b) < off {
		return Packet{}, false
	}
	if b[0]&0x10 != 0 {
		if len(b) < off+4 {
			return Packet{}, false
		}
		off += 4 + 4*int(binary.BigEndian.Uint16(b[off+2:]))
		if len(b) < off {
			return Packet{}, false
		}
	}
	end := len(b)
	if b[0]&0x20 != 0 {
		pad := int(b[end-1])
		if pad == 0 || end-pad < off {
			return Packet{}, false
		}
		end -= pad
	}
	return Packet{
		PayloadType: b[1] & 0x7F,
		Marker:      b[1]&0x80 != 0,
		Seq:         binary.BigEndian.Uint16(b[2:]),
		Timestamp:   binary.BigEndian.Uint32(b[4:]),
		SSRC:        binary.BigEndian.Uint32(b[8:]),
		Payload:     b[off:end],
	}, true
}

// Packets is the number of RTP packets received (and kept).
func (o *Observer) Packets() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.pkts)
}

// Snapshot returns the packets received so far, in arrival order. The
// slice is the caller's; the payloads are shared and must not be changed.
func (o *Observer) Snapshot() []Packet {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]Packet(nil), o.pkts...)
}

// Counts reports the datagrams that were not RTP (or were RTCP) and the
// RTP packets not kept because MaxPackets was reached.
func (o *Observer) Counts() (invalid, dropped int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.invalid, o.dropped
}

// PayloadTypes counts the packets of each payload type.
func (o *Observer) PayloadTypes() map[uint8]int {
	m := map[uint8]int{}
	for _, p := range o.Snapshot() {
		m[p.PayloadType]++
	}
	return m
}

// PCM decodes the PCMU (0) and PCMA (8) packets, in arrival order, to
// 8 kHz linear samples. Other payload types (events, comfort noise) are
// skipped; nothing fills gaps.
func (o *Observer) PCM() []int16 {
	var pcm []int16
	for _, p := range o.Snapshot() {
		switch p.PayloadType {
		case PCMU:
			pcm = audio.DecodeMulaw(pcm, p.Payload)
		case PCMA:
			pcm = audio.DecodeAlaw(pcm, p.Payload)
		}
	}
	return pcm
}

// Level is the RMS level of all the audio received, in dBov (-Inf for
// none or digital silence).
func (o *Observer) Level() float64 { return audio.Level(o.PCM()) }

// frame is 20 ms at 8 kHz.
const frame = audio.SampleRate / 50

// SpeechFraction is the share of the received audio's 20 ms frames whose
// level is above thresholdDBov (e.g. -40 for "not silence"); 0 when no
// whole frame was received.
func (o *Observer) SpeechFraction(thresholdDBov float64) float64 {
	pcm := o.PCM()
	n, loud := 0, 0
	for i := 0; i+frame <= len(pcm); i += frame {
		n++
		if audio.Level(pcm[i:i+frame]) > thresholdDBov {
			loud++
		}
	}
	if n == 0 {
		return 0
	}
	return float64(loud) / float64(n)
}

// EventPacket is one telephone-event packet with its parsed payload.
type EventPacket struct {
	Packet
	Event dtmf.Payload
}

// EventPackets returns the packets of payload type pt (the negotiated
// telephone-event type, often 101) whose payload parses as RFC 4733.
func (o *Observer) EventPackets(pt uint8) []EventPacket {
	var out []EventPacket
	for _, p := range o.Snapshot() {
		if p.PayloadType != pt {
			continue
		}
		if pl, err := dtmf.ParsePayload(p.Payload); err == nil {
			out = append(out, EventPacket{Packet: p, Event: pl})
		}
	}
	return out
}

// Events returns the key presses sent as RFC 4733 telephone-events on
// payload type 101, each once (see EventsPT).
func (o *Observer) Events() []dtmf.Event { return o.EventsPT(TelephoneEvent) }

// EventsPT returns the key presses sent as RFC 4733 telephone-events on
// payload type pt, each reported once however many packets it took
// (dtmf.Detector over every packet in arrival order, flushed at the end,
// so a press whose end packets have not arrived yet is reported too, with
// Ended false).
func (o *Observer) EventsPT(pt uint8) []dtmf.Event {
	d := dtmf.NewDetector(pt)
	var evs []dtmf.Event
	for _, p := range o.Snapshot() {
		evs = d.Feed(evs, dtmf.Packet{
			PayloadType: p.PayloadType, Marker: p.Marker, SSRC: p.SSRC,
			Timestamp: p.Timestamp, Payload: p.Payload,
		}, p.At)
	}
	return d.Flush(evs)
}

// Digits returns the keys of Events as a string, e.g. "1234".
func (o *Observer) Digits() string { return digits(o.Events()) }

// DigitsPT is Digits for telephone-event payload type pt.
func (o *Observer) DigitsPT(pt uint8) string { return digits(o.EventsPT(pt)) }

func digits(evs []dtmf.Event) string {
	b := make([]rune, 0, len(evs))
	for _, e := range evs {
		b = append(b, e.Digit)
	}
	return string(b)
}

// ErrClosed is returned by the Wait methods when the observer is closed
// before the condition holds.
var ErrClosed = errors.New("rtpobs: observer closed")

// WaitPackets waits until at least n RTP packets have arrived.
func (o *Observer) WaitPackets(ctx context.Context, n int) error {
	return o.Wait(ctx, func() bool { return o.Packets() >= n })
}

// Wait waits until cond (which may call the observer's methods) holds,
// checking it again on every datagram received. It returns ctx's error if
// ctx ends first, ErrClosed if the observer is closed first.
func (o *Observer) Wait(ctx context.Context, cond func() bool) error {
	for {
		o.mu.Lock()
		ch := o.notify
		o.mu.Unlock()
		if cond() {
			return nil
		}
		if ch == nil {
			return ErrClosed
		}
		select {
		case <-ch:
		case <-ctx.Done():
			if cond() {
				return nil
			}
			return ctx.Err()
		}
	}
}

// Err reports a read error that stopped the observer other than Close.
func (o *Observer) Err() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.readErr
}
