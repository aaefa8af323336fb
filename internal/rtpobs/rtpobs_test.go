package rtpobs

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"net"
	"testing"
	"time"

	"github.com/trunkline/trunkline/audio"
	"github.com/trunkline/trunkline/audio/dtmf"
)

// header is what marshal writes: a 12-byte RTP header, optionally with
// CSRCs, a header extension and padding.
type header struct {
	pt     uint8
	marker bool
	seq    uint16
	ts     uint32
	ssrc   uint32
	csrcs  int
	extLen int // 32-bit words of extension data; -1 for none
	pad    int
}

func marshal(h header, payload []byte) []byte {
	b := make([]byte, 12, 12+4*h.csrcs+len(payload)+h.pad+8)
	b[0] = 2<<6 | byte(h.csrcs)
	if h.extLen >= 0 {
		b[0] |= 0x10
	}
	if h.pad > 0 {
		b[0] |= 0x20
	}
	b[1] = h.pt
	if h.marker {
		b[1] |= 0x80
	}
	binary.BigEndian.PutUint16(b[2:], h.seq)
	binary.BigEndian.PutUint32(b[4:], h.ts)
	binary.BigEndian.PutUint32(b[8:], h.ssrc)
	for i := range h.csrcs {
		b = binary.BigEndian.AppendUint32(b, uint32(0xC0000000+i))
	}
	if h.extLen >= 0 {
		b = binary.BigEndian.AppendUint16(b, 0xBEDE)
		b = binary.BigEndian.AppendUint16(b, uint16(h.extLen))
		b = append(b, make([]byte, 4*h.extLen)...)
	}
	b = append(b, payload...)
	if h.pad > 0 {
		b = append(b, make([]byte, h.pad-1)...)
		b = append(b, byte(h.pad))
	}
	return b
}

// sender sends datagrams to an observer from its own UDP socket.
type sender struct {
	t    *testing.T
	conn *net.UDPConn
}

func newSender(t *testing.T, o *Observer) *sender {
	t.Helper()
	c, err := net.DialUDP("udp", nil, o.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &sender{t: t, conn: c}
}

func (s *sender) send(b []byte) {
	s.t.Helper()
	if _, err := s.conn.Write(b); err != nil {
		s.t.Fatal(err)
	}
}

func (s *sender) audio(pt uint8, ssrc uint32, encoded []byte) int {
	n := 0
	for i := 0; i+160 <= len(encoded); i += 160 {
		s.send(marshal(header{pt: pt, marker: i == 0, seq: uint16(100 + n), ts: uint32(1000 + i), ssrc: ssrc, extLen: -1}, encoded[i:i+160]))
		n++
	}
	return n
}

// press sends one RFC 4733 key press as SIPp's pcaps do: a marker packet
// with duration 0, updates, and three end packets.
func (s *sender) press(pt uint8, ssrc uint32, seq *uint16, ts uint32, key rune) int {
	code, _ := dtmf.CodeForDigit(key)
	n := 0
	for i := range 7 {
		pl := dtmf.Payload{Event: code, Volume: 10, Duration: uint16(320 * i)}
		s.send(marshal(header{pt: pt, marker: i == 0, seq: *seq, ts: ts, ssrc: ssrc, extLen: -1}, pl.Append(nil)))
		*seq++
		n++
	}
	end := dtmf.Payload{Event: code, End: true, Volume: 10, Duration: 2240}
	for range 3 {
		s.send(marshal(header{pt: pt, seq: *seq, ts: ts, ssrc: ssrc, extLen: -1}, end.Append(nil)))
		n++
	}
	*seq++
	return n
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestAudio(t *testing.T) {
	for _, tc := range []struct {
		name   string
		pt     uint8
		encode func([]byte, []int16) []byte
	}{
		{"pcmu", PCMU, audio.EncodeMulaw},
		{"pcma", PCMA, audio.EncodeAlaw},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := Listen(t)
			s := newSender(t, o)
			// 500 ms of a 1 kHz tone at -12 dBov, then 500 ms of silence.
			pcm := append(audio.Tone(1000, 500, -12), make([]int16, 4000)...)
			n := s.audio(tc.pt, 0x1234, tc.encode(nil, pcm))
			if n != 50 {
				t.Fatalf("sent %d packets", n)
			}
			if err := o.WaitPackets(ctx(t), n); err != nil {
				t.Fatalf("%v after %d packets", err, o.Packets())
			}
			if got := o.PayloadTypes(); len(got) != 1 || got[tc.pt] != n {
				t.Errorf("payload types %v", got)
			}
			got := o.PCM()
			if len(got) != len(pcm) {
				t.Fatalf("%d samples, want %d", len(got), len(pcm))
			}
			// Half the time at -12 dBov and half silent: -15 dBov in all.
			if l := o.Level(); math.Abs(l-(-15)) > 0.5 {
				t.Errorf("level %.2f dBov, want about -15", l)
			}
			// The tone's 5 ms ramps keep its first and last frames above -40.
			if f := o.SpeechFraction(-40); f != 0.5 {
				t.Errorf("speech fraction %.3f, want 0.5", f)
			}
			if f := o.SpeechFraction(-6); f != 0 {
				t.Errorf("speech fraction above -6 dBov %.3f, want 0", f)
			}
			first := o.Snapshot()[0]
			if !first.Marker || first.Seq != 100 || first.Timestamp != 1000 || first.SSRC != 0x1234 ||
				len(first.Payload) != 160 || first.From.Port != s.conn.LocalAddr().(*net.UDPAddr).Port || first.At.IsZero() {
				t.Errorf("first packet %+v", first)
			}
			if len(o.Events()) != 0 {
				t.Errorf("events in plain audio: %v", o.Events())
			}
		})
	}
}

func TestNoAudio(t *testing.T) {
	o := Listen(t)
	if l := o.Level(); !math.IsInf(l, -1) {
		t.Errorf("level with nothing received: %v", l)
	}
	if f := o.SpeechFraction(-40); f != 0 {
		t.Errorf("speech fraction with nothing received: %v", f)
	}
	s := newSender(t, o)
	silence := make([]byte, 1600)
	for i := range silence {
		silence[i] = audio.MulawSilence
	}
	n := s.audio(PCMU, 1, silence)
	if err := o.WaitPackets(ctx(t), n); err != nil {
		t.Fatal(err)
	}
	if l := o.Level(); !math.IsInf(l, -1) {
		t.Errorf("level of digital silence: %v", l)
	}
	if f := o.SpeechFraction(-60); f != 0 {
		t.Errorf("speech fraction of silence: %v", f)
	}
}

func TestEvents(t *testing.T) {
	o := Listen(t)
	s := newSender(t, o)
	seq := uint16(7984)
	n := 0
	// Audio on one SSRC, digits on another, as SIPp sends them (rtp_stream
	// and play_pcap_audio).
	tone := audio.EncodeMulaw(nil, audio.Tone(440, 100, -20))
	n += s.audio(PCMU, 0xAAAA, tone)
	for i, key := range "1#9" {
		n += s.press(TelephoneEvent, 0x0e05384e, &seq, uint32(13280+8000*i), key)
	}
	// The same keys on payload type 96, as SIPp's play_dtmf sends them.
	for i, key := range "*0" {
		n += s.press(96, 0x01020305, &seq, uint32(50000+8000*i), key)
	}
	if err := o.WaitPackets(ctx(t), n); err != nil {
		t.Fatalf("%v after %d of %d packets", err, o.Packets(), n)
	}
	if got := o.Digits(); got != "1#9" {
		t.Errorf("digits on 101: %q", got)
	}
	if got := o.DigitsPT(96); got != "*0" {
		t.Errorf("digits on 96: %q", got)
	}
	evs := o.Events()
	for _, e := range evs {
		if !e.Ended || e.Duration != 2240 {
			t.Errorf("event %+v", e)
		}
	}
	eps := o.EventPackets(TelephoneEvent)
	if len(eps) != 30 || !eps[0].Marker || eps[0].Event.Duration != 0 || eps[0].Event.Event != 1 || !eps[29].Event.End {
		t.Errorf("%d event packets; first %+v, last %+v", len(eps), eps[0], eps[len(eps)-1])
	}
	// Only the audio counts as audio.
	if got := len(o.PCM()); got != len(tone) {
		t.Errorf("%d samples of audio, want %d", got, len(tone))
	}
}

func TestParse(t *testing.T) {
	payload := []byte{1, 2, 3, 4, 5}
	for _, tc := range []struct {
		name string
		b    []byte
		ok   bool
	}{
		{"plain", marshal(header{pt: 0, extLen: -1}, payload), true},
		{"csrcs", marshal(header{pt: 0, csrcs: 3, extLen: -1}, payload), true},
		{"extension", marshal(header{pt: 0, extLen: 2}, payload), true},
		{"empty extension", marshal(header{pt: 0, extLen: 0}, payload), true},
		{"padding", marshal(header{pt: 0, extLen: -1, pad: 4}, payload), true},
		{"everything", marshal(header{pt: 0, csrcs: 1, extLen: 1, pad: 3}, payload), true},
		{"short", []byte{0x80, 0, 0, 1}, false},
		{"version 1", append([]byte{0x40}, make([]byte, 15)...), false},
		{"rtcp sender report", append([]byte{0x80, 200, 0, 6}, make([]byte, 24)...), false},
		{"csrcs cut", marshal(header{pt: 0, csrcs: 3, extLen: -1}, nil)[:16], false},
		{"extension cut", marshal(header{pt: 0, extLen: 4}, nil)[:20], false},
		{"padding too long", func() []byte {
			b := marshal(header{pt: 0, extLen: -1}, payload)
			b[0] |= 0x20
			b[len(b)-1] = 200
			return b
		}(), false},
		{"padding zero", func() []byte {
			b := marshal(header{pt: 0, extLen: -1}, append(payload, 0))
			b[0] |= 0x20
			return b
		}(), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, ok := parse(tc.b)
			if ok != tc.ok {
				t.Fatalf("ok = %v", ok)
			}
			if ok && string(p.Payload) != string(payload) {
				t.Errorf("payload %v", p.Payload)
			}
		})
	}
}

func TestInvalidDatagrams(t *testing.T) {
	o := Listen(t)
	s := newSender(t, o)
	s.send([]byte("not rtp at all"))
	s.send(append([]byte{0x80, 201, 0, 1}, make([]byte, 4)...)) // RTCP receiver report
	s.send(marshal(header{pt: PCMU, seq: 1, extLen: -1}, make([]byte, 160)))
	if err := o.WaitPackets(ctx(t), 1); err != nil {
		t.Fatal(err)
	}
	// Datagrams from one socket arrive in order: the two before the RTP
	// packet have been read.
	if inv, dropped := o.Counts(); inv != 2 || dropped != 0 || o.Packets() != 1 {
		t.Errorf("invalid %d, dropped %d, packets %d", inv, dropped, o.Packets())
	}
}

func TestWait(t *testing.T) {
	o := Listen(t)
	c, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := o.WaitPackets(c, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("wait with nothing sent: %v", err)
	}
	s := newSender(t, o)
	done := make(chan error, 1)
	go func() {
		done <- o.Wait(ctx(t), func() bool {
			evs := o.Events()
			return len(evs) == 1 && evs[0].Digit == '5' && evs[0].Ended
		})
	}()
	seq := uint16(1)
	s.press(TelephoneEvent, 9, &seq, 160, '5')
	if err := <-done; err != nil {
		t.Errorf("wait for the digit: %v", err)
	}
	if err := o.WaitPackets(ctx(t), 10); err != nil {
		t.Errorf("wait for the last end packets: %v", err)
	}
	if err := o.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	if err := o.WaitPackets(ctx(t), 1000); !errors.Is(err, ErrClosed) {
		t.Errorf("wait after close: %v", err)
	}
	if o.Packets() != 10 || o.Err() != nil {
		t.Errorf("after close: %d packets, err %v", o.Packets(), o.Err())
	}
}
