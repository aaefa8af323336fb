package dtmf

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/trunkline/trunkline/audio"
	at "github.com/trunkline/trunkline/audio/internal/audiotest"
)

// A tiny pcap reader for tests: classic pcap (either byte order,
// microsecond or nanosecond), Ethernet or Linux cooked or raw IP links,
// IPv4/UDP, then RTP.

type rtpPacket struct {
	Packet
	Seq uint16
	At  time.Time
}

func readPcap(b []byte) ([]rtpPacket, error) {
	if len(b) < 24 {
		return nil, errors.New("short pcap header")
	}
	var bo binary.ByteOrder
	nano := false
	switch binary.LittleEndian.Uint32(b) {
	case 0xa1b2c3d4:
		bo = binary.LittleEndian
	case 0xa1b23c4d:
		bo, nano = binary.LittleEndian, true
	case 0xd4c3b2a1:
		bo = binary.BigEndian
	case 0x4d3cb2a1:
		bo, nano = binary.BigEndian, true
	default:
		return nil, errors.New("not a pcap file")
	}
	link := bo.Uint32(b[20:])
	var out []rtpPacket
	for off := 24; off+16 <= len(b); {
		sec, frac := bo.Uint32(b[off:]), bo.Uint32(b[off+4:])
		n := int(bo.Uint32(b[off+8:]))
		off += 16
		if n > len(b)-off {
			return out, errors.New("truncated record")
		}
		rec := b[off : off+n]
		off += n
		at := time.Unix(int64(sec), int64(frac)*1000)
		if nano {
			at = time.Unix(int64(sec), int64(frac))
		}
		ip, ok := ipPayload(rec, link)
		if !ok {
			continue
		}
		udp, ok := udpPayload(ip)
		if !ok {
			continue
		}
		p, seq, err := parseRTP(udp)
		if err != nil {
			continue
		}
		out = append(out, rtpPacket{Packet: p, Seq: seq, At: at})
	}
	return out, nil
}

func ipPayload(rec []byte, link uint32) ([]byte, bool) {
	switch link {
	case 1: // Ethernet, with any 802.1Q tags
		if len(rec) < 14 {
			return nil, false
		}
		et, off := binary.BigEndian.Uint16(rec[12:]), 14
		for et == 0x8100 && len(rec) >= off+4 {
			et, off = binary.BigEndian.Uint16(rec[off+2:]), off+4
		}
		return rec[off:], et == 0x0800
	case 113: // Linux cooked
		if len(rec) < 16 {
			return nil, false
		}
		return rec[16:], binary.BigEndian.Uint16(rec[14:]) == 0x0800
	case 101: // raw IP
		return rec, true
	}
	return nil, false
}

func udpPayload(ip []byte) ([]byte, bool) {
	if len(ip) < 20 || ip[0]>>4 != 4 || ip[9] != 17 {
		return nil, false
	}
	ihl := int(ip[0]&0x0F) * 4
	total := int(binary.BigEndian.Uint16(ip[2:]))
	if ihl < 20 || total < ihl+8 || total > len(ip) {
		return nil, false
	}
	udp := ip[ihl:total]
	ulen := int(binary.BigEndian.Uint16(udp[4:]))
	if ulen < 8 || ulen > len(udp) {
		return nil, false
	}
	return udp[8:ulen], true
}

// parseRTP reads an RTP header (RFC 3550 §5.1).
func parseRTP(b []byte) (Packet, uint16, error) {
	if len(b) < 12 || b[0]>>6 != 2 {
		return Packet{}, 0, errors.New("not RTP")
	}
	cc := int(b[0] & 0x0F)
	off := 12 + 4*cc
	if len(b) < off {
		return Packet{}, 0, errors.New("short CSRC list")
	}
	if b[0]&0x10 != 0 {
		if len(b) < off+4 {
			return Packet{}, 0, errors.New("short extension")
		}
		off += 4 + 4*int(binary.BigEndian.Uint16(b[off+2:]))
		if len(b) < off {
			return Packet{}, 0, errors.New("short extension")
		}
	}
	end := len(b)
	if b[0]&0x20 != 0 {
		pad := int(b[len(b)-1])
		if pad == 0 || end-pad < off {
			return Packet{}, 0, errors.New("bad padding")
		}
		end -= pad
	}
	return Packet{
		PayloadType: b[1] & 0x7F,
		Marker:      b[1]&0x80 != 0,
		Timestamp:   binary.BigEndian.Uint32(b[4:]),
		SSRC:        binary.BigEndian.Uint32(b[8:]),
		Payload:     b[off:end],
	}, binary.BigEndian.Uint16(b[2:]), nil
}

const sippDir = "/usr/share/sip-tester"

var sippDigits = map[string]rune{
	"0": '0', "1": '1', "2": '2', "3": '3', "4": '4', "5": '5', "6": '6', "7": '7', "8": '8', "9": '9',
	"star": '*', "pound": '#',
}

func loadSIPpDTMF(t *testing.T) map[rune][]rtpPacket {
	t.Helper()
	at.NeedFile(t, filepath.Join(sippDir, "dtmf_2833_1.pcap"), "sip-tester")
	out := map[rune][]rtpPacket{}
	for name, digit := range sippDigits {
		b, err := os.ReadFile(filepath.Join(sippDir, "dtmf_2833_"+name+".pcap"))
		if err != nil {
			t.Fatal(err)
		}
		pkts, err := readPcap(b)
		if err != nil || len(pkts) == 0 {
			t.Fatalf("%s: %d packets, %v", name, len(pkts), err)
		}
		out[digit] = pkts
	}
	return out
}

// TestSIPpPcaps feeds the RFC 2833 pcaps SIPp ships (and plays with
// play_pcap_audio): each starts with a marker packet of duration 0, which
// diago's own reader misses.
func TestSIPpPcaps(t *testing.T) {
	pcaps := loadSIPpDTMF(t)
	for digit, pkts := range pcaps {
		p0, _ := ParsePayload(pkts[0].Payload)
		if !pkts[0].Marker || p0.Duration != 0 || pkts[0].PayloadType != 101 {
			t.Errorf("%c: first packet marker=%v duration=%d pt=%d; the premise changed", digit, pkts[0].Marker, p0.Duration, pkts[0].PayloadType)
		}
		d := NewDetector(101)
		var evs []Event
		for _, p := range pkts {
			evs = d.Feed(evs, p.Packet, p.At)
		}
		if len(evs) != 1 || evs[0].Digit != digit || !evs[0].Ended || evs[0].Duration != 2240 {
			t.Errorf("%c: got %+v", digit, evs)
		}
	}

	// All twelve as one stream, in the order they were captured (by
	// sequence number), then in file-name order, in which timestamps run
	// backwards, as a scenario playing them in any order sends them.
	digits := slices.Collect(func(yield func(rune) bool) {
		for d := range pcaps {
			if !yield(d) {
				return
			}
		}
	})
	sort.Slice(digits, func(i, j int) bool { return pcaps[digits[i]][0].Seq < pcaps[digits[j]][0].Seq })
	for _, order := range []string{string(digits), "0123456789*#", "1#1#55"} {
		d := NewDetector(101)
		var evs []Event
		for _, r := range order {
			for _, p := range pcaps[r] {
				evs = d.Feed(evs, p.Packet, p.At)
			}
		}
		if got := digitsOf(evs); got != order {
			t.Errorf("stream %q: got %q", order, got)
		}
	}
	t.Logf("capture order: %s", string(digits))
}

// TestSIPpPcapsStrictReaderMisses documents the trap the Detector exists
// for: a reader that starts an event only on a marker packet with a
// non-zero duration (diago v0.42.1) sees none of SIPp's digits.
func TestSIPpPcapsStrictReaderMisses(t *testing.T) {
	pcaps := loadSIPpDTMF(t)
	seen := 0
	for _, pkts := range pcaps {
		started := false
		for _, p := range pkts {
			pl, _ := ParsePayload(p.Payload)
			if p.Marker && pl.Duration > 0 {
				started = true
			}
			if started && pl.End {
				seen++
				break
			}
		}
	}
	if seen != 0 {
		t.Errorf("a strict reader saw %d digits; the premise changed", seen)
	}
}

// TestSIPpSpeechHasNoInbandDigits runs the in-band detector over the
// A-law speech SIPp ships (g711a.pcap): no talk-off.
func TestSIPpSpeechHasNoInbandDigits(t *testing.T) {
	path := filepath.Join(sippDir, "g711a.pcap")
	at.NeedFile(t, path, "sip-tester")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pkts, err := readPcap(b)
	if err != nil {
		t.Fatal(err)
	}
	var pcm []int16
	for _, p := range pkts {
		if p.PayloadType == 8 {
			pcm = audio.DecodeAlaw(pcm, p.Payload)
		}
	}
	if len(pcm) < 5*audio.SampleRate || at.RMS(pcm) < 300 {
		t.Fatalf("%d samples at RMS %.0f: not the speech expected", len(pcm), at.RMS(pcm))
	}
	d := NewInbandDetector(InbandOptions{})
	if evs := d.Process(nil, pcm); len(evs) != 0 {
		t.Errorf("digits in speech: %q", digitsOf(evs))
	}
	t.Logf("%.1f s of A-law audio at RMS %.0f: no digits", float64(len(pcm))/audio.SampleRate, at.RMS(pcm))
}

func TestReadPcapRejects(t *testing.T) {
	for _, b := range [][]byte{nil, []byte("hello world, this is not a pcap")} {
		if _, err := readPcap(b); err == nil {
			t.Errorf("%q accepted", b)
		}
	}
	if _, _, err := parseRTP([]byte{0x80, 0, 0}); err == nil {
		t.Error("short RTP accepted")
	}
}

// writePcap builds an Ethernet/IPv4/UDP pcap of RTP packets, 20 ms apart.
func writePcap(pkts []Packet) []byte {
	b := binary.LittleEndian.AppendUint32(nil, 0xa1b2c3d4)
	b = binary.LittleEndian.AppendUint16(b, 2)
	b = binary.LittleEndian.AppendUint16(b, 4)
	b = append(b, make([]byte, 8)...)
	b = binary.LittleEndian.AppendUint32(b, 65535)
	b = binary.LittleEndian.AppendUint32(b, 1)
	for i, p := range pkts {
		rtp := []byte{0x80, p.PayloadType, byte(i >> 8), byte(i)}
		if p.Marker {
			rtp[1] |= 0x80
		}
		rtp = binary.BigEndian.AppendUint32(rtp, p.Timestamp)
		rtp = binary.BigEndian.AppendUint32(rtp, p.SSRC)
		rtp = append(rtp, p.Payload...)
		udp := []byte{0x13, 0x88, 0x27, 0x10, byte((8 + len(rtp)) >> 8), byte(8 + len(rtp)), 0, 0}
		udp = append(udp, rtp...)
		ip := []byte{0x45, 0, byte((20 + len(udp)) >> 8), byte(20 + len(udp)), 0, 0, 0, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1}
		ip = append(ip, udp...)
		frame := append(append(make([]byte, 12), 0x08, 0x00), ip...)
		b = binary.LittleEndian.AppendUint32(b, uint32(1000+i/50))
		b = binary.LittleEndian.AppendUint32(b, uint32(i%50*20000))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(frame)))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(frame)))
		b = append(b, frame...)
	}
	return b
}

func TestPcapRoundTrip(t *testing.T) {
	want := slices.Concat(press(t, '4', 7000, 800), press(t, 'A', 9000, 480))
	got, err := readPcap(writePcap(want))
	if err != nil || len(got) != len(want) {
		t.Fatalf("%d packets, %v", len(got), err)
	}
	for i := range want {
		w, g := want[i], got[i].Packet
		if w.PayloadType != g.PayloadType || w.Marker != g.Marker || w.Timestamp != g.Timestamp || w.SSRC != g.SSRC || !slices.Equal(w.Payload, g.Payload) {
			t.Fatalf("packet %d: %+v, want %+v", i, g, w)
		}
	}
	d := NewDetector(pt)
	var evs []Event
	for _, p := range got {
		evs = d.Feed(evs, p.Packet, p.At)
	}
	if digitsOf(evs) != "4A" {
		t.Fatalf("%q", digitsOf(evs))
	}
}
