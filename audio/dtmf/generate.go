package dtmf

import (
	"errors"
	"math"
	"time"
)

// GenerateOptions shape the packets of one generated key press.
type GenerateOptions struct {
	PayloadType uint8
	// Interval between packets in samples; default 160 (20 ms at 8 kHz).
	Interval uint32
	// Volume in -dBm0 (0-63); default 10.
	Volume uint8
	// EndRepeats is how many times the end packet is sent; default 3
	// (RFC 4733 §2.5.1.4).
	EndRepeats int
}

// Outgoing is one packet to send. Packet i of a key press is due
// i×Interval samples after the first; the RTP layer adds the sequence
// number (each packet, retransmitted end packets included, takes the next
// one) and the SSRC.
type Outgoing struct {
	Marker    bool
	Timestamp uint32
	Payload   []byte
	// Offset is when the packet is due, in samples after the first.
	Offset uint32
}

// ErrInvalidDigit means the key is not 0-9, *, #, A-D.
var ErrInvalidDigit = errors.New("dtmf: invalid digit")

// Generate returns the RFC 4733 packets of one key press of duration
// samples starting at RTP timestamp start. The first packet carries the
// marker bit and every packet the cumulative duration; the last is sent
// EndRepeats times with the end bit. Presses longer than 0xFFFF samples
// are split into segments as §2.5.1.3 asks. After the press, audio
// resumes at timestamp start+duration.
func Generate(digit rune, start, duration uint32, opts GenerateOptions) ([]Outgoing, error) {
	code, ok := CodeForDigit(digit)
	if !ok {
		return nil, ErrInvalidDigit
	}
	if opts.Interval == 0 {
		opts.Interval = 160
	}
	if opts.Volume == 0 {
		opts.Volume = 10
	}
	if opts.EndRepeats <= 0 {
		opts.EndRepeats = 3
	}
	if duration == 0 {
		duration = opts.Interval
	}
	var out []Outgoing
	first := true
	var offset uint32
	segStart := uint32(0) // samples into the press where this segment began
	for elapsed := opts.Interval; ; elapsed += opts.Interval {
		if elapsed > duration {
			elapsed = duration
		}
		if elapsed-segStart > 0xFFFF {
			// Close the segment at its maximum and start the next one.
			segStart += 0xFFFF
		}
		p := Payload{Event: code, Volume: opts.Volume, Duration: uint16(elapsed - segStart), End: elapsed == duration}
		o := Outgoing{Marker: first, Timestamp: start + segStart, Payload: p.Append(nil), Offset: offset}
		first = false
		if !p.End {
			out = append(out, o)
			offset += opts.Interval
			continue
		}
		for range opts.EndRepeats {
			o.Offset = offset
			out = append(out, o)
			offset += opts.Interval
		}
		return out, nil
	}
}

// Durations of a key press Plivo's <DTMF> and digits sent with a call use.
const (
	DefaultToneDuration = 100 * time.Millisecond
	DefaultGapDuration  = 60 * time.Millisecond
)

// Tone returns samples of a key's dual tone at 8 kHz, each tone at
// levelDBm0 (e.g. -10), for senders that must play digits in the audio.
func Tone(digit rune, samples int, levelDBm0 float64) ([]int16, error) {
	code, ok := CodeForDigit(digit)
	if !ok {
		return nil, ErrInvalidDigit
	}
	var fr, fc float64
	for r := range 4 {
		for c := range 4 {
			if keypad[r][c] == code {
				fr, fc = rowFreqs[r], colFreqs[c]
			}
		}
	}
	amp := dBm0Amplitude * math.Pow(10, levelDBm0/20)
	out := make([]int16, samples)
	for i := range out {
		t := float64(i) / 8000
		v := amp * (math.Sin(2*math.Pi*fr*t) + math.Sin(2*math.Pi*fc*t))
		out[i] = int16(max(-32768, min(32767, math.Round(v))))
	}
	return out, nil
}
