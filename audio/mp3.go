package audio

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/hajimehoshi/go-mp3"
)

// decodeMP3 decodes MPEG-1 and MPEG-2 Layer III with github.com/hajimehoshi/go-mp3.
//
// Known limits of go-mp3 v0.3.4 (found by decoding lame's output at every rate): MPEG-2.5
// (8, 11.025 and 12 kHz files) is refused, so we refuse it up front with a clear error;
// and it sizes some padded MPEG-2 frames (22.05 kHz at 32 kbit/s) one byte short,
// garbling those files — its upstream issue #39. A fix belongs upstream, not in a copy
// of its code here; until then such prompts should be given as WAV.
func decodeMP3(br *bufio.Reader) (pcm []int16, err error) {
	if err := skipID3(br); err != nil {
		return nil, err
	}
	if err := checkMP3Frame(br); err != nil {
		return nil, err
	}
	defer func() {
		// go-mp3 is not hardened against hostile input.
		if r := recover(); r != nil {
			pcm, err = nil, malformed(fmt.Sprint("MP3 decoder failed: ", r))
		}
	}()
	// br is not an io.Seeker, so go-mp3 does not pre-scan the whole input.
	d, err := mp3.NewDecoder(struct{ io.Reader }{br})
	if err != nil {
		return nil, mp3Err(err)
	}
	s, err := newSink(d.SampleRate())
	if err != nil {
		return nil, err
	}
	buf := make([]byte, 16<<10) // 4 bytes a frame: 16-bit stereo
	mono := make([]float32, len(buf)/4)
	carry := 0
	for {
		n, rerr := d.Read(buf[carry:])
		n += carry
		frames := n / 4
		for i := range frames {
			l := int16(binary.LittleEndian.Uint16(buf[4*i:]))
			r := int16(binary.LittleEndian.Uint16(buf[4*i+2:]))
			mono[i] = (float32(l) + float32(r)) / 2
		}
		if werr := s.write(mono[:frames]); werr != nil {
			return nil, werr
		}
		carry = copy(buf, buf[frames*4:n])
		if rerr != nil {
			if errors.Is(rerr, io.EOF) {
				break
			}
			return nil, mp3Err(rerr)
		}
	}
	out, err := s.finish()
	if err == nil && len(out) == 0 {
		return nil, malformed("MP3 without audio frames")
	}
	return out, err
}

func mp3Err(err error) error {
	if errors.Is(err, ErrTooLarge) {
		return ErrTooLarge
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return malformed("truncated MP3")
	}
	return malformed("MP3: " + err.Error())
}

// skipID3 discards ID3v2 tags itself: go-mp3 allocates the tag's declared
// size (up to 256 MB) before reading it.
func skipID3(br *bufio.Reader) error {
	for {
		h, _ := br.Peek(10)
		if len(h) < 10 || string(h[0:3]) != "ID3" {
			return nil
		}
		if (h[6]|h[7]|h[8]|h[9])&0x80 != 0 {
			return malformed("ID3 tag size is not syncsafe")
		}
		size := int64(h[6])<<21 | int64(h[7])<<14 | int64(h[8])<<7 | int64(h[9])
		if h[5]&0x10 != 0 {
			size += 10 // footer
		}
		if _, err := br.Discard(10); err != nil {
			return err
		}
		if n, err := io.CopyN(io.Discard, br, size); err != nil {
			if n < size && errors.Is(err, io.EOF) {
				return malformed("truncated ID3 tag")
			}
			return err
		}
	}
}

// checkMP3Frame looks at the first frame header without consuming it.
func checkMP3Frame(br *bufio.Reader) error {
	h, _ := br.Peek(4)
	if len(h) < 4 || h[0] != 0xFF || h[1]&0xE0 != 0xE0 {
		// go-mp3 resynchronises past junk; let it try.
		return nil
	}
	switch (h[1] >> 3) & 3 {
	case 1:
		return malformed("reserved MPEG version")
	case 0:
		return unsupported("MPEG-2.5 MP3 (8 to 12 kHz): give the prompt as WAV")
	}
	if (h[1]>>1)&3 != 1 {
		return unsupported("MPEG audio other than Layer III")
	}
	return nil
}
