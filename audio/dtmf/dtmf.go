// Package dtmf detects and generates telephone keypad digits: RFC 4733
// telephone-event packets (the usual way carriers send them), and tones in
// the audio itself for carriers that send nothing else.
//
// The RFC 4733 Detector exists because diago's reader misses digits whose
// first packet has duration 0, as SIPp's bundled pcaps and some phones
// send them: it keys each event on its RTP timestamp and reports it once.
package dtmf

import (
	"encoding/binary"
	"errors"
)

const digits = "0123456789*#ABCD"

// DigitForCode returns the key of RFC 4733 event code 0-15.
func DigitForCode(code uint8) (rune, bool) {
	if int(code) >= len(digits) {
		return 0, false
	}
	return rune(digits[code]), true
}

// CodeForDigit returns the RFC 4733 event code of a key (0-9, *, #, A-D;
// a-d accepted).
func CodeForDigit(d rune) (uint8, bool) {
	if d >= 'a' && d <= 'd' {
		d -= 'a' - 'A'
	}
	for i, c := range digits {
		if c == d {
			return uint8(i), true
		}
	}
	return 0, false
}

// Payload is one RFC 4733 telephone-event payload (§2.3).
type Payload struct {
	Event    uint8
	End      bool
	Volume   uint8  // 0-63, -dBm0
	Duration uint16 // RTP timestamp units since the event's timestamp
}

// PayloadSize is the size of one event payload on the wire.
const PayloadSize = 4

// ErrShortPayload means fewer than 4 payload bytes.
var ErrShortPayload = errors.New("dtmf: telephone-event payload shorter than 4 bytes")

// ParsePayload reads the first event of b. Extra bytes (padding, or more
// events under RFC 2198 redundancy) are ignored; the reserved bit is
// ignored as the RFC asks.
func ParsePayload(b []byte) (Payload, error) {
	if len(b) < PayloadSize {
		return Payload{}, ErrShortPayload
	}
	return Payload{
		Event:    b[0],
		End:      b[1]&0x80 != 0,
		Volume:   b[1] & 0x3F,
		Duration: binary.BigEndian.Uint16(b[2:4]),
	}, nil
}

// Append appends the wire form of p to dst.
func (p Payload) Append(dst []byte) []byte {
	b1 := p.Volume & 0x3F
	if p.End {
		b1 |= 0x80
	}
	return append(dst, p.Event, b1, byte(p.Duration>>8), byte(p.Duration))
}

// Packet is the part of an RTP packet the Detector needs.
type Packet struct {
	PayloadType uint8
	Marker      bool
	SSRC        uint32
	Timestamp   uint32
	Payload     []byte
}

// Event is one detected key press.
type Event struct {
	Digit rune
	Code  uint8
	// Timestamp is the RTP timestamp of the event (for in-band detection,
	// the sample index where the tone was first seen, modulo 2^32).
	Timestamp uint32
	// Duration in samples as last reported; for in-band detection, 0.
	Duration uint32
	// Ended reports that an RFC 4733 end packet was seen; false when the
	// end was inferred (end packets lost), and always false for in-band
	// detection, which reports a key as soon as its tone is confirmed.
	Ended bool
}
