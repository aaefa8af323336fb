package audio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// WAV format tags this package decodes.
const (
	WAVFormatPCM        = 1
	WAVFormatFloat      = 3
	WAVFormatAlaw       = 6
	WAVFormatMulaw      = 7
	wavFormatExtensible = 0xFFFE
)

// WAVInfo is what a WAV header says about its audio.
type WAVInfo struct {
	Format        int // WAVFormatPCM, WAVFormatFloat, WAVFormatAlaw or WAVFormatMulaw (extensible resolved)
	Channels      int
	SampleRate    int
	BitsPerSample int
	// DataBytes is the declared size of the data chunk, or -1 when the
	// writer left it open (0 or 0xFFFFFFFF, as streaming writers do).
	// espeak-ng declares about 2 GB on stdout: readers stop at EOF anyway.
	DataBytes int64
}

// FrameBytes is the size of one sample of every channel.
func (i WAVInfo) FrameBytes() int { return i.Channels * i.BitsPerSample / 8 }

// ReadWAVHeader reads the RIFF header and chunks up to the start of the
// data chunk, leaving r there. Chunks other than "fmt " and "data" are
// skipped, so their sizes are bounded only by the reader.
func ReadWAVHeader(r io.Reader) (WAVInfo, error) {
	var info WAVInfo
	var hdr [12]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return info, wavReadErr(err, "RIFF header")
	}
	if string(hdr[0:4]) != "RIFF" || string(hdr[8:12]) != "WAVE" {
		return info, unsupported("not a RIFF/WAVE file")
	}
	haveFmt := false
	for {
		var ch [8]byte
		if _, err := io.ReadFull(r, ch[:]); err != nil {
			return info, wavReadErr(err, "no data chunk")
		}
		id := string(ch[0:4])
		size := int64(binary.LittleEndian.Uint32(ch[4:8]))
		switch id {
		case "fmt ":
			if size < 16 || size > 1024 {
				return info, malformed(fmt.Sprintf("fmt chunk of %d bytes", size))
			}
			buf := make([]byte, size+size&1)
			if _, err := io.ReadFull(r, buf); err != nil {
				return info, wavReadErr(err, "fmt chunk")
			}
			if err := parseFmt(&info, buf[:size]); err != nil {
				return info, err
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return info, malformed("data chunk before fmt chunk")
			}
			info.DataBytes = size
			if size == 0 || size == 0xFFFFFFFF {
				info.DataBytes = -1
			}
			return info, nil
		default:
			n := size + size&1
			if m, err := io.CopyN(io.Discard, r, n); err != nil {
				if m < n && errors.Is(err, io.EOF) {
					return info, malformed("truncated " + quoteID(id) + " chunk")
				}
				return info, err
			}
		}
	}
}

func quoteID(id string) string {
	for _, c := range []byte(id) {
		if c < 0x20 || c > 0x7E {
			return fmt.Sprintf("%x", id)
		}
	}
	return fmt.Sprintf("%q", id)
}

func wavReadErr(err error, what string) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return malformed("truncated WAV: " + what)
	}
	return err
}

func parseFmt(info *WAVInfo, b []byte) error {
	tag := int(binary.LittleEndian.Uint16(b[0:2]))
	info.Channels = int(binary.LittleEndian.Uint16(b[2:4]))
	rate := binary.LittleEndian.Uint32(b[4:8])
	info.BitsPerSample = int(binary.LittleEndian.Uint16(b[14:16]))
	if tag == wavFormatExtensible {
		if len(b) < 40 {
			return malformed("WAVE_FORMAT_EXTENSIBLE without its extension")
		}
		// The sub-format GUID starts with the plain format tag.
		tag = int(binary.LittleEndian.Uint16(b[24:26]))
		if valid := int(binary.LittleEndian.Uint16(b[18:20])); valid != 0 && valid > info.BitsPerSample {
			return malformed("valid bits exceed container bits")
		}
	}
	info.Format = tag
	if info.Channels < 1 || info.Channels > 8 {
		return unsupported(fmt.Sprintf("%d channels", info.Channels))
	}
	if rate < MinRate || rate > MaxRate {
		return unsupported(fmt.Sprintf("sample rate %d Hz", rate))
	}
	info.SampleRate = int(rate)
	ok := false
	switch tag {
	case WAVFormatPCM:
		ok = info.BitsPerSample == 8 || info.BitsPerSample == 16 || info.BitsPerSample == 24 || info.BitsPerSample == 32
	case WAVFormatFloat:
		ok = info.BitsPerSample == 32 || info.BitsPerSample == 64
	case WAVFormatAlaw, WAVFormatMulaw:
		ok = info.BitsPerSample == 8
	default:
		return unsupported(fmt.Sprintf("WAV format tag 0x%04x (want PCM, float, A-law or μ-law)", tag))
	}
	if !ok {
		return unsupported(fmt.Sprintf("%d-bit samples in WAV format tag %d", info.BitsPerSample, tag))
	}
	return nil
}

func decodeWAV(r io.Reader) ([]int16, error) {
	info, err := ReadWAVHeader(r)
	if err != nil {
		return nil, err
	}
	s, err := newSink(info.SampleRate)
	if err != nil {
		return nil, err
	}
	if info.DataBytes >= 0 {
		r = io.LimitReader(r, info.DataBytes)
	}
	fb := info.FrameBytes()
	buf := make([]byte, (16<<10)/fb*fb)
	mono := make([]float32, len(buf)/fb)
	carry := 0
	for {
		n, err := io.ReadAtLeast(r, buf[carry:], 1)
		n += carry
		frames := n / fb
		if frames > 0 {
			toMono(mono[:frames], buf[:frames*fb], info)
			if werr := s.write(mono[:frames]); werr != nil {
				return nil, werr
			}
		}
		carry = copy(buf, buf[frames*fb:n])
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				break // a short data chunk plays what is there
			}
			return nil, err
		}
	}
	return s.finish()
}

// toMono averages the channels of each frame into int16-scaled floats.
func toMono(dst []float32, b []byte, info WAVInfo) {
	ch := info.Channels
	bps := info.BitsPerSample / 8
	inv := 1 / float32(ch)
	for f := range dst {
		var sum float32
		for c := range ch {
			o := (f*ch + c) * bps
			sum += sampleAt(b[o:o+bps], info.Format, bps)
		}
		dst[f] = sum * inv
	}
}

func sampleAt(b []byte, format, bps int) float32 {
	switch format {
	case WAVFormatPCM:
		switch bps {
		case 1:
			return float32(int(b[0])-128) * 256
		case 2:
			return float32(int16(binary.LittleEndian.Uint16(b)))
		case 3:
			v := int32(uint32(b[0])<<8|uint32(b[1])<<16|uint32(b[2])<<24) >> 8
			return float32(v) / 256
		case 4:
			return float32(int32(binary.LittleEndian.Uint32(b))) / 65536
		}
	case WAVFormatFloat:
		var v float64
		if bps == 4 {
			v = float64(math.Float32frombits(binary.LittleEndian.Uint32(b)))
		} else {
			v = math.Float64frombits(binary.LittleEndian.Uint64(b))
		}
		if math.IsNaN(v) {
			return 0
		}
		return float32(max(-1, min(1, v)) * 32768)
	case WAVFormatAlaw:
		return float32(alawToLinear[b[0]])
	case WAVFormatMulaw:
		return float32(mulawToLinear[b[0]])
	}
	return 0
}

// wavHeader returns the 44-byte header of a 16-bit mono PCM WAV at
// SampleRate holding dataBytes of samples.
func wavHeader(dataBytes uint32) []byte {
	h := make([]byte, 44)
	copy(h[0:], "RIFF")
	binary.LittleEndian.PutUint32(h[4:], 36+dataBytes)
	copy(h[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(h[16:], 16)
	binary.LittleEndian.PutUint16(h[20:], WAVFormatPCM)
	binary.LittleEndian.PutUint16(h[22:], 1)
	binary.LittleEndian.PutUint32(h[24:], SampleRate)
	binary.LittleEndian.PutUint32(h[28:], SampleRate*2)
	binary.LittleEndian.PutUint16(h[32:], 2)
	binary.LittleEndian.PutUint16(h[34:], 16)
	copy(h[36:], "data")
	binary.LittleEndian.PutUint32(h[40:], dataBytes)
	return h
}

// maxWAVSamples keeps the RIFF size field within 32 bits.
const maxWAVSamples = (math.MaxUint32 - 36) / 2

// WriteWAV writes pcm as a 16-bit mono WAV file at SampleRate.
func WriteWAV(w io.Writer, pcm []int16) error {
	if len(pcm) > maxWAVSamples {
		return ErrTooLarge
	}
	if _, err := w.Write(wavHeader(uint32(2 * len(pcm)))); err != nil {
		return err
	}
	_, err := w.Write(Bytes(pcm))
	return err
}

// WAVWriter streams a 16-bit mono WAV at SampleRate to a seekable file,
// filling in the sizes on Close: a recording can be written as it is
// captured.
type WAVWriter struct {
	w       io.WriteSeeker
	samples int64
	err     error
}

// NewWAVWriter writes a placeholder header at the current position of w.
func NewWAVWriter(w io.WriteSeeker) (*WAVWriter, error) {
	if _, err := w.Write(wavHeader(0)); err != nil {
		return nil, err
	}
	return &WAVWriter{w: w}, nil
}

// Write appends samples.
func (ww *WAVWriter) Write(pcm []int16) error {
	if ww.err != nil {
		return ww.err
	}
	if ww.samples+int64(len(pcm)) > maxWAVSamples {
		ww.err = ErrTooLarge
		return ww.err
	}
	if _, err := ww.w.Write(Bytes(pcm)); err != nil {
		ww.err = err
		return err
	}
	ww.samples += int64(len(pcm))
	return nil
}

// Samples reports how many samples were written.
func (ww *WAVWriter) Samples() int64 { return ww.samples }

// Close writes the final sizes into the header. It does not close the
// underlying file.
func (ww *WAVWriter) Close() error {
	if ww.err != nil {
		return ww.err
	}
	end, err := ww.w.Seek(0, io.SeekCurrent)
	if err != nil {
		return err
	}
	start := end - 44 - 2*ww.samples
	h := wavHeader(uint32(2 * ww.samples))
	if _, err := ww.w.Seek(start, io.SeekStart); err != nil {
		return err
	}
	if _, err := ww.w.Write(h); err != nil {
		return err
	}
	_, err = ww.w.Seek(end, io.SeekStart)
	ww.err = errors.New("audio: WAVWriter closed")
	return err
}
