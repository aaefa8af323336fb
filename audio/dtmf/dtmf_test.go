package dtmf

import (
	"bytes"
	"errors"
	"testing"
)

func TestDigitCodes(t *testing.T) {
	for i, r := range "0123456789*#ABCD" {
		c, ok := CodeForDigit(r)
		if !ok || int(c) != i {
			t.Errorf("CodeForDigit(%q) = %d, %v", r, c, ok)
		}
		d, ok := DigitForCode(uint8(i))
		if !ok || d != r {
			t.Errorf("DigitForCode(%d) = %q", i, d)
		}
	}
	if c, ok := CodeForDigit('a'); !ok || c != 12 {
		t.Error("lower-case a")
	}
	for _, r := range "xE w" {
		if _, ok := CodeForDigit(r); ok {
			t.Errorf("%q accepted", r)
		}
	}
	if _, ok := DigitForCode(16); ok {
		t.Error("code 16 (flash) is not a key")
	}
}

func TestPayloadWireFormat(t *testing.T) {
	// RFC 4733 §2.3: event, E|R|volume, duration (big-endian).
	p := Payload{Event: 11, End: true, Volume: 10, Duration: 0x0320}
	b := p.Append(nil)
	if !bytes.Equal(b, []byte{0x0B, 0x8A, 0x03, 0x20}) {
		t.Fatalf("% x", b)
	}
	got, err := ParsePayload(append(b, 0xEE, 0xEE))
	if err != nil || got != p {
		t.Fatalf("%+v %v", got, err)
	}
	// The reserved bit is ignored; volume is 6 bits.
	got, _ = ParsePayload([]byte{1, 0x7F, 0, 0})
	if got.End || got.Volume != 63 {
		t.Fatalf("%+v", got)
	}
	if _, err := ParsePayload([]byte{1, 2, 3}); !errors.Is(err, ErrShortPayload) {
		t.Fatal(err)
	}
}

func TestGenerate(t *testing.T) {
	pkts, err := Generate('5', 1000, 800, GenerateOptions{PayloadType: 101})
	if err != nil {
		t.Fatal(err)
	}
	// 100 ms in 20 ms updates: 160, 320, 480, 640, then 800 (end) three times.
	wantDur := []uint16{160, 320, 480, 640, 800, 800, 800}
	if len(pkts) != len(wantDur) {
		t.Fatalf("%d packets, want %d", len(pkts), len(wantDur))
	}
	for i, o := range pkts {
		p, _ := ParsePayload(o.Payload)
		if p.Event != 5 || p.Duration != wantDur[i] || p.Volume != 10 || o.Timestamp != 1000 {
			t.Errorf("packet %d: %+v ts %d", i, p, o.Timestamp)
		}
		if o.Marker != (i == 0) {
			t.Errorf("packet %d marker %v", i, o.Marker)
		}
		if p.End != (i >= 4) {
			t.Errorf("packet %d end %v", i, p.End)
		}
		if o.Offset != uint32(i*160) {
			t.Errorf("packet %d offset %d", i, o.Offset)
		}
	}
	if _, err := Generate('x', 0, 800, GenerateOptions{}); !errors.Is(err, ErrInvalidDigit) {
		t.Error(err)
	}
	// A duration shorter than one interval still makes a press.
	pkts, _ = Generate('1', 0, 0, GenerateOptions{EndRepeats: 1})
	if len(pkts) != 1 || !pkts[0].Marker {
		t.Errorf("%+v", pkts)
	}
}

func TestGenerateLongPressSegments(t *testing.T) {
	const dur = 200000 // 25 s
	pkts, err := Generate('#', 0xFFFF0000, dur, GenerateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	segs := map[uint32]uint16{}
	var order []uint32
	for _, o := range pkts {
		p, _ := ParsePayload(o.Payload)
		if _, ok := segs[o.Timestamp]; !ok {
			order = append(order, o.Timestamp)
		}
		segs[o.Timestamp] = max(segs[o.Timestamp], p.Duration)
	}
	// Segments start 0xFFFF apart (across the timestamp wrap here) and add up.
	if len(order) != 4 {
		t.Fatalf("%d segments, want 4", len(order))
	}
	var total uint32
	for i, ts := range order {
		if i > 0 && ts-order[i-1] != 0xFFFF {
			t.Errorf("segment %d starts %d after the previous", i, ts-order[i-1])
		}
		if i < len(order)-1 {
			total += 0xFFFF
		} else {
			total += uint32(segs[ts])
		}
	}
	if total != dur {
		t.Errorf("segments cover %d samples, want %d", total, dur)
	}
}

func TestTone(t *testing.T) {
	pcm, err := Tone('D', 800, -10)
	if err != nil || len(pcm) != 800 {
		t.Fatal(err)
	}
	d := NewInbandDetector(InbandOptions{})
	if ev := d.Process(nil, append(pcm, make([]int16, 400)...)); len(ev) != 1 || ev[0].Digit != 'D' {
		t.Fatalf("%+v", ev)
	}
	if _, err := Tone('?', 10, 0); err == nil {
		t.Error("invalid digit")
	}
}
