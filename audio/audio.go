// Package audio is the media groundwork of the voice interpreter: it decodes
// customer audio (WAV, MP3) into the one format calls play, 16-bit mono PCM
// at 8000 Hz; resamples; converts to and from G.711; writes recordings; makes
// silence and comfort-noise frames for the gaps between prompts; and caches
// fetched audio by URL.
//
// Everything works on []int16 at SampleRate. Slices returned by a Cache are
// shared between callers and must not be modified.
package audio

import (
	"encoding/binary"
	"errors"
)

const (
	// SampleRate is the rate of all PCM this package returns.
	SampleRate = 8000
	// FrameSamples is one 20 ms RTP frame at SampleRate.
	FrameSamples = SampleRate / 50
)

var (
	// ErrTooLarge means the input passed the caller's byte limit.
	ErrTooLarge = errors.New("audio: input too large")
	// ErrUnsupported means the input is audio in a form this package does
	// not decode (e.g. ADPCM WAV, MPEG-2.5 MP3) or not audio at all.
	ErrUnsupported = errors.New("audio: unsupported format")
	// ErrMalformed means the input claims a known format but is broken.
	ErrMalformed = errors.New("audio: malformed input")
)

// formatError wraps one of the sentinel errors with a detail.
type formatError struct {
	kind   error
	detail string
}

func (e *formatError) Error() string { return e.kind.Error() + ": " + e.detail }
func (e *formatError) Unwrap() error { return e.kind }

func malformed(detail string) error   { return &formatError{ErrMalformed, detail} }
func unsupported(detail string) error { return &formatError{ErrUnsupported, detail} }

// Bytes returns pcm as little-endian 16-bit bytes, the layout RTP
// writers and WAV data chunks use.
func Bytes(pcm []int16) []byte {
	b := make([]byte, 2*len(pcm))
	for i, s := range pcm {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(s))
	}
	return b
}

// FromBytes reads little-endian 16-bit samples; a trailing odd byte is ignored.
func FromBytes(b []byte) []int16 {
	pcm := make([]int16, len(b)/2)
	for i := range pcm {
		pcm[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
	}
	return pcm
}

func clamp16(v float32) int16 {
	if v >= 32767 {
		return 32767
	}
	if v <= -32768 {
		return -32768
	}
	// Round half away from zero.
	if v >= 0 {
		return int16(v + 0.5)
	}
	return int16(v - 0.5)
}
