package dtmf

import (
	"slices"
	"strings"
	"testing"
	"time"
)

const pt = 101

// press returns the packets of one key press as a sender would send them.
func press(t testing.TB, digit rune, ts, dur uint32) []Packet {
	t.Helper()
	out, err := Generate(digit, ts, dur, GenerateOptions{PayloadType: pt})
	if err != nil {
		t.Fatal(err)
	}
	pkts := make([]Packet, len(out))
	for i, o := range out {
		pkts[i] = Packet{PayloadType: pt, Marker: o.Marker, SSRC: 0xABCD, Timestamp: o.Timestamp, Payload: o.Payload}
	}
	return pkts
}

func audioPacket(ts uint32) Packet {
	return Packet{PayloadType: 0, SSRC: 0xABCD, Timestamp: ts, Payload: make([]byte, 160)}
}

func digitsOf(evs []Event) string {
	var b strings.Builder
	for _, e := range evs {
		b.WriteRune(e.Digit)
	}
	return b.String()
}

func feedAll(d *Detector, pkts []Packet) []Event {
	var evs []Event
	for _, p := range pkts {
		evs = d.Feed(evs, p, time.Time{})
	}
	return evs
}

func drop(pkts []Packet, idx ...int) []Packet {
	var out []Packet
	for i, p := range pkts {
		if !slices.Contains(idx, i) {
			out = append(out, p)
		}
	}
	return out
}

func cat(parts ...[]Packet) []Packet { return slices.Concat(parts...) }

func TestDetector(t *testing.T) {
	first := func(p []Packet, f func(*Packet)) []Packet {
		p = slices.Clone(p)
		f(&p[0])
		return p
	}
	zeroFirst := func(p []Packet) []Packet {
		// SIPp's pcaps: the first packet says duration 0.
		z := Payload{Event: p[0].Payload[0], Volume: 10}
		return first(p, func(q *Packet) { q.Payload = z.Append(nil) })
	}
	endless := func(p []Packet) []Packet { return p[:len(p)-3] } // all three end packets lost

	cases := []struct {
		name  string
		pkts  []Packet
		flush bool // call Flush at the end
		want  string
		ended []bool // per event, when checked
	}{
		{name: "plain", pkts: press(t, '5', 1000, 800), want: "5", ended: []bool{true}},
		{name: "first-duration-zero", pkts: zeroFirst(press(t, '1', 1000, 800)), want: "1"},
		{name: "no-marker", pkts: first(press(t, '2', 1000, 800), func(p *Packet) { p.Marker = false }), want: "2"},
		{name: "first-packets-lost", pkts: drop(press(t, '3', 1000, 800), 0, 1, 2), want: "3"},
		{name: "only-end-packets", pkts: drop(press(t, '4', 1000, 800), 0, 1, 2, 3), want: "4"},
		{name: "single-end-packet", pkts: drop(press(t, '4', 1000, 800), 0, 1, 2, 3, 5, 6), want: "4"},
		{name: "redundant-ends-once", pkts: cat(press(t, '6', 1000, 800), press(t, '6', 1000, 800)[4:]), want: "6"},
		{name: "sequence", pkts: cat(press(t, '1', 1000, 800), press(t, '2', 3000, 800), press(t, '3', 5000, 800)), want: "123"},
		{name: "same-key-twice", pkts: cat(press(t, '7', 1000, 800), press(t, '7', 3000, 800)), want: "77"},
		{name: "end-lost-next-starts", pkts: cat(endless(press(t, '8', 1000, 800)), press(t, '9', 3000, 800)),
			want: "89", ended: []bool{false, true}},
		{name: "end-lost-same-key-next", pkts: cat(endless(press(t, '8', 1000, 800)), press(t, '8', 3000, 800)), want: "88"},
		{name: "end-lost-audio-moves-on", pkts: cat(endless(press(t, '0', 1000, 800)), []Packet{audioPacket(1800), audioPacket(3400), audioPacket(3600)}),
			want: "0", ended: []bool{false}},
		{name: "end-lost-audio-within-guard", pkts: cat(endless(press(t, '0', 1000, 800)), []Packet{audioPacket(1800), audioPacket(2600)}),
			want: ""},
		{name: "end-lost-flush", pkts: endless(press(t, '*', 1000, 800)), flush: true, want: "*"},
		{name: "lone-zero-packet-flush", pkts: zeroFirst(press(t, '*', 1000, 800))[:1], flush: true, want: ""},
		{name: "timestamp-wrap", pkts: cat(press(t, '1', 0xFFFFFE00, 800), press(t, '2', 0x00000400, 800), press(t, '3', 0x00000C00, 800)), want: "123"},
		{name: "wrap-audio-expiry", pkts: cat(endless(press(t, '1', 0xFFFFFC00, 800)), []Packet{audioPacket(0x00000500)}), want: "1"},
		{name: "long-press-segments", pkts: press(t, '#', 500, 200000), want: "#"},
		{name: "long-press-across-wrap", pkts: press(t, '#', 0xFFFF0000, 200000), want: "#"},
		{name: "same-pcap-replayed", pkts: cat(zeroFirst(press(t, '1', 13280, 2240)), zeroFirst(press(t, '1', 13280, 2240))), want: "11"},
		{name: "replay-older-timestamp", pkts: cat(zeroFirst(press(t, '1', 13280, 2240)), zeroFirst(press(t, '2', 23200, 2240)), zeroFirst(press(t, '1', 13280, 2240))), want: "121"},
		{name: "timestamps-backwards", pkts: cat(press(t, '5', 43200, 800), press(t, '1', 13280, 800)), want: "51"},
		{name: "late-update-after-end", pkts: cat(press(t, '5', 1000, 800), press(t, '5', 1000, 800)[2:3]), want: "5"},
		{name: "end-before-last-update", pkts: func() []Packet {
			p := press(t, '5', 1000, 800)
			p[3], p[4] = p[4], p[3]
			return p
		}(), want: "5"},
		{name: "duplicated-packets", pkts: func() []Packet {
			var out []Packet
			for _, p := range press(t, '6', 1000, 800) {
				out = append(out, p, p)
			}
			return out
		}(), want: "6"},
		{name: "late-packet-of-older-event", pkts: cat(press(t, '1', 1000, 800), press(t, '2', 3000, 800), press(t, '1', 1000, 800)[2:3]), want: "12"},
		{name: "flash-ignored", pkts: []Packet{{PayloadType: pt, Marker: true, SSRC: 0xABCD, Timestamp: 1, Payload: Payload{Event: 16, End: true, Duration: 800}.Append(nil)}}, want: ""},
		{name: "short-payload-ignored", pkts: []Packet{{PayloadType: pt, SSRC: 0xABCD, Timestamp: 1, Payload: []byte{1, 2}}}, want: ""},
		{name: "other-payload-type-ignored", pkts: func() []Packet {
			p := press(t, '5', 1000, 800)
			for i := range p {
				p[i].PayloadType = 96
			}
			return p
		}(), want: ""},
		{name: "ssrc-change", pkts: cat(endless(press(t, '1', 1000, 800)), func() []Packet {
			p := press(t, '1', 1000, 800) // same timestamp, new stream
			for i := range p {
				p[i].SSRC = 0x1234
			}
			return p
		}()), want: "11"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDetector(pt)
			evs := feedAll(d, tc.pkts)
			if tc.flush {
				evs = d.Flush(evs)
			}
			if got := digitsOf(evs); got != tc.want {
				t.Fatalf("got %q, want %q (%+v)", got, tc.want, evs)
			}
			for i, e := range tc.ended {
				if evs[i].Ended != e {
					t.Errorf("event %d Ended=%v, want %v", i, evs[i].Ended, e)
				}
			}
			if d.Pending() && !tc.flush && tc.want != "" && !strings.Contains(tc.name, "within-guard") {
				// Every complete case leaves nothing half-done.
				t.Errorf("still pending")
			}
			// Nothing more comes out at the end of the stream.
			if more := d.Flush(nil); len(more) != 0 && tc.name != "end-lost-audio-within-guard" {
				t.Errorf("Flush reported %q more", digitsOf(more))
			}
		})
	}
}

func TestDetectorEventDetails(t *testing.T) {
	d := NewDetector(pt)
	evs := feedAll(d, press(t, '#', 0xFFFF0000, 200000))
	if len(evs) != 1 {
		t.Fatal(evs)
	}
	e := evs[0]
	if e.Digit != '#' || e.Code != 11 || e.Timestamp != 0xFFFF0000 || e.Duration != 200000 || !e.Ended {
		t.Fatalf("%+v", e)
	}
}

func TestDetectorExpire(t *testing.T) {
	d := NewDetector(pt)
	t0 := time.Unix(100, 0)
	var evs []Event
	for i, p := range press(t, '9', 1000, 800)[:4] { // end packets lost
		evs = d.Feed(evs, p, t0.Add(time.Duration(i)*20*time.Millisecond))
	}
	last := t0.Add(60 * time.Millisecond)
	if evs = d.Expire(evs, last.Add(200*time.Millisecond), 250*time.Millisecond); len(evs) != 0 {
		t.Fatal("expired early")
	}
	if evs = d.Expire(evs, last.Add(300*time.Millisecond), 250*time.Millisecond); digitsOf(evs) != "9" || evs[0].Ended {
		t.Fatalf("%+v", evs)
	}
	if evs = d.Expire(evs, last.Add(time.Second), 250*time.Millisecond); len(evs) != 1 {
		t.Fatal("expired twice")
	}
	// The end packets arriving late do not report it again.
	if evs = feedAll(d, press(t, '9', 1000, 800)[4:]); len(evs) != 0 {
		t.Fatalf("late end packets: %+v", evs)
	}
}

// TestDetectorLossPatterns drops every combination of up to three of a
// press's packets: the key is reported exactly once unless every packet
// carrying it is gone.
func TestDetectorLossPatterns(t *testing.T) {
	full := cat(press(t, '3', 1000, 800), press(t, '4', 3000, 800))
	n := len(full)
	for a := -1; a < n; a++ {
		for b := a + 1; b < n; b++ {
			for c := b + 1; c < n; c++ {
				pkts := drop(full, a, b, c)
				d := NewDetector(pt)
				got := digitsOf(d.Flush(feedAll(d, pkts)))
				if got != "34" {
					t.Fatalf("dropping %d,%d,%d: got %q", a, b, c, got)
				}
			}
		}
	}
}
