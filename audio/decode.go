package audio

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
)

// MaxDecodedSeconds caps decoded output, whatever the input size: a tiny
// compressed or low-rate file must not expand into gigabytes of PCM.
const MaxDecodedSeconds = 3600

var maxDecodedSamples = MaxDecodedSeconds * SampleRate // a var for tests

// Decode reads a WAV or MP3 file of at most maxBytes bytes (sniffed from
// its first bytes, not from a name or content type) and returns it as
// 16-bit mono PCM at SampleRate. Errors match ErrTooLarge, ErrUnsupported
// or ErrMalformed with errors.Is, or are the reader's own.
func Decode(r io.Reader, maxBytes int64) ([]int16, error) {
	lr := &limitedReader{r: r, n: maxBytes}
	br := bufio.NewReaderSize(lr, 16<<10)
	head, _ := br.Peek(12)
	if lr.exceeded {
		return nil, ErrTooLarge
	}
	var pcm []int16
	var err error
	switch sniff(head) {
	case "wav":
		pcm, err = decodeWAV(br)
	case "mp3":
		pcm, err = decodeMP3(br)
	case "":
		if len(head) == 0 {
			return nil, malformed("empty input")
		}
		return nil, unsupported("not WAV or MP3")
	default:
		return nil, unsupported(sniff(head))
	}
	if lr.exceeded {
		return nil, ErrTooLarge
	}
	return pcm, err
}

// DecodeWAV is Decode for input known to be WAV.
func DecodeWAV(r io.Reader, maxBytes int64) ([]int16, error) {
	lr := &limitedReader{r: r, n: maxBytes}
	pcm, err := decodeWAV(bufio.NewReaderSize(lr, 16<<10))
	if lr.exceeded {
		return nil, ErrTooLarge
	}
	return pcm, err
}

// DecodeMP3 is Decode for input known to be MP3.
func DecodeMP3(r io.Reader, maxBytes int64) ([]int16, error) {
	lr := &limitedReader{r: r, n: maxBytes}
	pcm, err := decodeMP3(bufio.NewReaderSize(lr, 16<<10))
	if lr.exceeded {
		return nil, ErrTooLarge
	}
	return pcm, err
}

func sniff(h []byte) string {
	switch {
	case len(h) >= 12 && string(h[0:4]) == "RIFF" && string(h[8:12]) == "WAVE":
		return "wav"
	case len(h) >= 4 && (string(h[0:4]) == "RIFX" || string(h[0:4]) == "RF64"):
		return "big-endian or 64-bit WAV (RIFX/RF64)"
	case len(h) >= 3 && string(h[0:3]) == "ID3":
		return "mp3"
	case len(h) >= 2 && h[0] == 0xFF && h[1]&0xE0 == 0xE0:
		return "mp3"
	case bytes.HasPrefix(h, []byte("OggS")):
		return "Ogg"
	case bytes.HasPrefix(h, []byte("fLaC")):
		return "FLAC"
	}
	return ""
}

// limitedReader fails with ErrTooLarge once more than n bytes are read.
// It records the overrun because decoders may wrap or drop the error.
type limitedReader struct {
	r        io.Reader
	n        int64
	exceeded bool
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.exceeded {
		return 0, ErrTooLarge
	}
	if len(p) == 0 {
		return 0, nil
	}
	if l.n <= 0 {
		var one [1]byte
		n, err := l.r.Read(one[:])
		if n > 0 {
			l.exceeded = true
			return 0, ErrTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

// sink collects resampled output under the duration cap.
type sink struct {
	rs  *Resampler
	pcm []int16
}

func newSink(rate int) (*sink, error) {
	rs, err := NewResampler(rate, SampleRate)
	if err != nil {
		return nil, err
	}
	return &sink{rs: rs}, nil
}

func (s *sink) write(mono []float32) error {
	s.pcm = s.rs.Process(s.pcm, mono)
	if len(s.pcm) > maxDecodedSamples {
		return fmt.Errorf("%w: longer than %d s", ErrTooLarge, MaxDecodedSeconds)
	}
	return nil
}

func (s *sink) finish() ([]int16, error) {
	s.pcm = s.rs.Flush(s.pcm)
	if len(s.pcm) > maxDecodedSamples {
		return nil, fmt.Errorf("%w: longer than %d s", ErrTooLarge, MaxDecodedSeconds)
	}
	return s.pcm, nil
}
