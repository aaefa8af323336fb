package dtmf

import (
	"encoding/binary"
	"strings"
	"testing"
	"time"
)

// Seed corpora live in testdata/fuzz/<Name>/.

func FuzzParsePayload(f *testing.F) {
	f.Add([]byte{0x0B, 0x8A, 0x03, 0x20})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePayload(b)
		if err != nil {
			if len(b) >= PayloadSize {
				t.Fatalf("rejected %d bytes: %v", len(b), err)
			}
			return
		}
		again, err := ParsePayload(p.Append(nil))
		if err != nil || again != p {
			t.Fatalf("round trip: %+v -> %+v, %v", p, again, err)
		}
	})
}

// FuzzDetector feeds arbitrary packets: 9 bytes each (flags, timestamp,
// payload). It must not panic, must report only keys, never more events
// than event packets, and Flush must be idempotent.
func FuzzDetector(f *testing.F) {
	f.Add([]byte{0x81, 0, 0, 0x33, 0xe0, 1, 10, 0, 0, 0x01, 0, 0, 0x33, 0xe0, 1, 0x8a, 0x08, 0xc0})
	f.Fuzz(func(t *testing.T, b []byte) {
		d := NewDetector(pt)
		var evs []Event
		packets := 0
		now := time.Unix(0, 0)
		for len(b) >= 9 {
			flags := b[0]
			p := Packet{
				PayloadType: pt,
				Marker:      flags&0x80 != 0,
				SSRC:        uint32(flags>>4) & 1,
				Timestamp:   binary.BigEndian.Uint32(b[1:5]),
				Payload:     b[5:9],
			}
			if flags&0x40 != 0 {
				p.PayloadType = 0
			} else {
				packets++
			}
			now = now.Add(time.Duration(flags&0x0F) * 10 * time.Millisecond)
			evs = d.Feed(evs, p, now)
			if flags&0x20 != 0 {
				evs = d.Expire(evs, now, 100*time.Millisecond)
			}
			b = b[9:]
		}
		evs = d.Flush(evs)
		if n := len(d.Flush(nil)); n != 0 {
			t.Fatalf("second Flush reported %d", n)
		}
		if len(evs) > packets {
			t.Fatalf("%d events from %d event packets", len(evs), packets)
		}
		for _, e := range evs {
			if !strings.ContainsRune(digits, e.Digit) || e.Digit == 0 {
				t.Fatalf("bad digit %+v", e)
			}
		}
	})
}

// FuzzDetectorLoss drops packets of three generated presses by a fuzzed
// mask: every press with a packet left is reported, once, in order.
func FuzzDetectorLoss(f *testing.F) {
	f.Add([]byte{0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, mask []byte) {
		presses := [][]Packet{
			press(t, '1', 0xFFFFF000, 800),
			press(t, '1', 0xFFFFF000+2000, 400),
			press(t, '#', 0xFFFFF000+4000, 1600),
		}
		d := NewDetector(pt)
		var evs []Event
		var want strings.Builder
		bit := 0
		for i, ps := range presses {
			kept := false
			for _, p := range ps {
				keep := bit/8 >= len(mask) || mask[bit/8]&(1<<(bit%8)) == 0
				bit++
				if keep {
					evs = d.Feed(evs, p, time.Time{})
					kept = true
				}
			}
			if kept {
				want.WriteByte("11#"[i])
			}
		}
		evs = d.Flush(evs)
		if got := digitsOf(evs); got != want.String() {
			t.Fatalf("got %q, want %q", got, want.String())
		}
	})
}

func FuzzInband(f *testing.F) {
	f.Add([]byte{0, 0, 0xff, 0x7f})
	f.Fuzz(func(t *testing.T, b []byte) {
		pcm := make([]int16, len(b)/2)
		for i := range pcm {
			pcm[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
		}
		d := NewInbandDetector(InbandOptions{})
		evs := d.Process(nil, pcm)
		// At most one key per two blocks.
		if len(evs) > len(pcm)/(2*blockSize)+1 {
			t.Fatalf("%d events from %d samples", len(evs), len(pcm))
		}
	})
}

// FuzzReadPcap covers the test pcap and RTP reader, which parses files
// from outside the repository.
func FuzzReadPcap(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		pkts, _ := readPcap(b)
		for _, p := range pkts {
			if len(p.Payload) > len(b) {
				t.Fatal("payload larger than input")
			}
		}
	})
}
