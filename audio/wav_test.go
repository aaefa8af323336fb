package audio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	at "github.com/trunkline/trunkline/audio/internal/audiotest"
)

// wavSpec builds WAV files for tests.
type wavSpec struct {
	tag, channels, rate, bits int
	extensible                bool
	extra                     []chunk // before "data"
	trailing                  []chunk // after "data"
	dataSize                  int64   // -1: the real size
}

type chunk struct {
	id   string
	body []byte
}

func appendChunk(b []byte, id string, body []byte, size uint32) []byte {
	b = append(b, id...)
	b = binary.LittleEndian.AppendUint32(b, size)
	b = append(b, body...)
	if len(body)%2 == 1 {
		b = append(b, 0)
	}
	return b
}

// build encodes frames (float samples in -1..1, one slice per channel).
func (s wavSpec) build(chans [][]float64) []byte {
	var data []byte
	for i := range chans[0] {
		for c := range s.channels {
			v := chans[c%len(chans)][i]
			switch {
			case s.tag == WAVFormatPCM && s.bits == 8:
				data = append(data, byte(int(math.Round(v*127))+128))
			case s.tag == WAVFormatPCM && s.bits == 16:
				data = binary.LittleEndian.AppendUint16(data, uint16(int16(math.Round(v*32767))))
			case s.tag == WAVFormatPCM && s.bits == 24:
				x := int32(math.Round(v * 8388607))
				data = append(data, byte(x), byte(x>>8), byte(x>>16))
			case s.tag == WAVFormatPCM && s.bits == 32:
				data = binary.LittleEndian.AppendUint32(data, uint32(int32(math.Round(v*2147483647))))
			case s.tag == WAVFormatFloat && s.bits == 32:
				data = binary.LittleEndian.AppendUint32(data, math.Float32bits(float32(v)))
			case s.tag == WAVFormatFloat && s.bits == 64:
				data = binary.LittleEndian.AppendUint64(data, math.Float64bits(v))
			case s.tag == WAVFormatMulaw:
				data = append(data, MulawFromLinear(int16(math.Round(v*32767))))
			case s.tag == WAVFormatAlaw:
				data = append(data, AlawFromLinear(int16(math.Round(v*32767))))
			default:
				data = append(data, make([]byte, s.bits/8)...)
			}
		}
	}
	var fmtBody []byte
	tag := s.tag
	if s.extensible {
		tag = wavFormatExtensible
	}
	fmtBody = binary.LittleEndian.AppendUint16(fmtBody, uint16(tag))
	fmtBody = binary.LittleEndian.AppendUint16(fmtBody, uint16(s.channels))
	fmtBody = binary.LittleEndian.AppendUint32(fmtBody, uint32(s.rate))
	fmtBody = binary.LittleEndian.AppendUint32(fmtBody, uint32(s.rate*s.channels*s.bits/8))
	fmtBody = binary.LittleEndian.AppendUint16(fmtBody, uint16(s.channels*s.bits/8))
	fmtBody = binary.LittleEndian.AppendUint16(fmtBody, uint16(s.bits))
	if s.extensible {
		fmtBody = binary.LittleEndian.AppendUint16(fmtBody, 22)
		fmtBody = binary.LittleEndian.AppendUint16(fmtBody, uint16(s.bits))
		fmtBody = binary.LittleEndian.AppendUint32(fmtBody, 3)
		guid := []byte{0, 0, 0, 0, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71}
		binary.LittleEndian.PutUint16(guid, uint16(s.tag))
		fmtBody = append(fmtBody, guid...)
	}
	body := []byte("WAVE")
	body = appendChunk(body, "fmt ", fmtBody, uint32(len(fmtBody)))
	for _, c := range s.extra {
		body = appendChunk(body, c.id, c.body, uint32(len(c.body)))
	}
	size := uint32(len(data))
	if s.dataSize >= 0 {
		size = uint32(s.dataSize)
	}
	body = appendChunk(body, "data", data, size)
	for _, c := range s.trailing {
		body = appendChunk(body, c.id, c.body, uint32(len(c.body)))
	}
	return appendChunk(nil, "RIFF", body, uint32(len(body)))
}

func toneSeconds(freq float64, rate int, seconds, amp float64) []float64 {
	return at.SineFloat(freq, rate, int(seconds*float64(rate)), amp, 0)
}

// checkTone asserts pcm is about seconds of a freq Hz tone at peak amp
// (in int16 units) at SampleRate.
func checkTone(t *testing.T, pcm []int16, freq, seconds, amp, tolDB float64) {
	t.Helper()
	if want := seconds * SampleRate; math.Abs(float64(len(pcm))-want) > 2 {
		t.Errorf("got %d samples, want about %.0f", len(pcm), want)
	}
	if len(pcm) < 1000 {
		t.Fatalf("only %d samples", len(pcm))
	}
	mid := pcm[300 : len(pcm)-300]
	if f := at.ZeroCrossingFreq(mid, SampleRate); math.Abs(f-freq) > 1 {
		t.Errorf("frequency %.2f Hz, want %g", f, freq)
	}
	if a := at.ToneAmplitude(mid, freq, SampleRate); math.Abs(at.DB(a, amp)) > tolDB {
		t.Errorf("amplitude %.0f, want %.0f (±%.1f dB)", a, amp, tolDB)
	}
}

func TestDecodeWAVFormats(t *testing.T) {
	cases := []struct {
		name string
		spec wavSpec
		tol  float64 // dB; G.711 and 8-bit quantize
	}{
		{"pcm8-mono-8k", wavSpec{tag: WAVFormatPCM, channels: 1, rate: 8000, bits: 8}, 0.3},
		{"pcm16-mono-8k", wavSpec{tag: WAVFormatPCM, channels: 1, rate: 8000, bits: 16}, 0.05},
		{"pcm16-stereo-44100", wavSpec{tag: WAVFormatPCM, channels: 2, rate: 44100, bits: 16}, 0.1},
		{"pcm16-mono-22050", wavSpec{tag: WAVFormatPCM, channels: 1, rate: 22050, bits: 16}, 0.1},
		{"pcm16-stereo-48000", wavSpec{tag: WAVFormatPCM, channels: 2, rate: 48000, bits: 16}, 0.1},
		{"pcm24-stereo-96000", wavSpec{tag: WAVFormatPCM, channels: 2, rate: 96000, bits: 24}, 0.1},
		{"pcm32-mono-16000", wavSpec{tag: WAVFormatPCM, channels: 1, rate: 16000, bits: 32}, 0.1},
		{"float32-stereo-44100", wavSpec{tag: WAVFormatFloat, channels: 2, rate: 44100, bits: 32}, 0.1},
		{"float64-mono-32000", wavSpec{tag: WAVFormatFloat, channels: 1, rate: 32000, bits: 64}, 0.1},
		{"mulaw-mono-8k", wavSpec{tag: WAVFormatMulaw, channels: 1, rate: 8000, bits: 8}, 0.3},
		{"alaw-mono-8k", wavSpec{tag: WAVFormatAlaw, channels: 1, rate: 8000, bits: 8}, 0.3},
		{"extensible-pcm16-6ch-48000", wavSpec{tag: WAVFormatPCM, channels: 6, rate: 48000, bits: 16, extensible: true}, 0.1},
		{"extensible-float32-mono", wavSpec{tag: WAVFormatFloat, channels: 1, rate: 44100, bits: 32, extensible: true}, 0.1},
		{"list-chunk-odd-size", wavSpec{tag: WAVFormatPCM, channels: 1, rate: 11025, bits: 16,
			extra: []chunk{{"LIST", []byte("INFOISFT\x05\x00\x00\x00Lavf\x00")}, {"fact", []byte{1, 2, 3}}}}, 0.1},
		{"trailing-chunk-ignored", wavSpec{tag: WAVFormatPCM, channels: 1, rate: 8000, bits: 16,
			trailing: []chunk{{"LIST", bytes.Repeat([]byte{0x7f}, 1001)}}}, 0.05},
		{"streamed-size-ffffffff", wavSpec{tag: WAVFormatPCM, channels: 1, rate: 8000, bits: 16, dataSize: 0xFFFFFFFF}, 0.05},
		{"espeak-style-oversized", wavSpec{tag: WAVFormatPCM, channels: 1, rate: 22050, bits: 16, dataSize: 0x7FFFF000}, 0.1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec := tc.spec
			if spec.dataSize == 0 {
				spec.dataSize = -1
			}
			wav := spec.build([][]float64{toneSeconds(1000, spec.rate, 0.5, 0.5)})
			pcm, err := Decode(bytes.NewReader(wav), int64(len(wav)))
			if err != nil {
				t.Fatal(err)
			}
			checkTone(t, pcm, 1000, 0.5, 0.5*32767, tc.tol)
		})
	}
}

func TestDecodeWAVDownmix(t *testing.T) {
	tone := toneSeconds(1000, 44100, 0.5, 0.5)
	neg := make([]float64, len(tone))
	zero := make([]float64, len(tone))
	for i, v := range tone {
		neg[i] = -v
	}
	spec := wavSpec{tag: WAVFormatPCM, channels: 2, rate: 44100, bits: 16, dataSize: -1}

	pcm, err := Decode(bytes.NewReader(spec.build([][]float64{tone, neg})), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if rms := at.RMS(pcm); rms > 2 {
		t.Errorf("opposite channels: RMS %.1f, want silence", rms)
	}
	pcm, err = Decode(bytes.NewReader(spec.build([][]float64{tone, zero})), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	checkTone(t, pcm, 1000, 0.5, 0.25*32767, 0.1)
}

func TestDecodeWAVErrors(t *testing.T) {
	good := wavSpec{tag: WAVFormatPCM, channels: 1, rate: 8000, bits: 16, dataSize: -1}.build([][]float64{toneSeconds(1000, 8000, 0.1, 0.5)})
	mod := func(f func(b []byte) []byte) []byte { return f(slices.Clone(good)) }
	cases := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"not-riff", []byte("hello, this is not audio at all"), ErrUnsupported},
		{"ogg", []byte("OggS\x00\x02\x00\x00\x00\x00\x00\x00"), ErrUnsupported},
		{"rifx", append([]byte("RIFX\x00\x00\x00\x00WAVE"), good[12:]...), ErrUnsupported},
		{"truncated-header", good[:20], ErrMalformed},
		{"no-data-chunk", good[:36], ErrMalformed},
		{"adpcm", mod(func(b []byte) []byte { b[20] = 2; return b }), ErrUnsupported},
		{"zero-channels", mod(func(b []byte) []byte { b[22] = 0; return b }), ErrUnsupported},
		{"nine-channels", mod(func(b []byte) []byte { b[22] = 9; return b }), ErrUnsupported},
		{"rate-zero", mod(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[24:], 0); return b }), ErrUnsupported},
		{"rate-huge", mod(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[24:], 1<<30); return b }), ErrUnsupported},
		{"12-bit", mod(func(b []byte) []byte { b[34] = 12; return b }), ErrUnsupported},
		{"fmt-too-small", mod(func(b []byte) []byte { b[16] = 8; return b }), ErrMalformed},
		{"data-before-fmt", []byte("RIFF\x00\x00\x00\x00WAVEdata\x02\x00\x00\x00\x01\x02"), ErrMalformed},
		{"truncated-skipped-chunk", []byte("RIFF\x00\x00\x00\x00WAVEjunk\xff\x00\x00\x00abc"), ErrMalformed},
		{"extensible-short", mod(func(b []byte) []byte { binary.LittleEndian.PutUint16(b[20:], 0xFFFE); return b }), ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(bytes.NewReader(tc.in), 1<<20)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestDecodeWAVTruncatedDataPlaysWhatIsThere(t *testing.T) {
	wav := wavSpec{tag: WAVFormatPCM, channels: 2, rate: 8000, bits: 16, dataSize: -1}.build([][]float64{toneSeconds(1000, 8000, 0.5, 0.5)})
	pcm, err := Decode(bytes.NewReader(wav[:len(wav)-2001]), 1<<20) // ends mid-frame
	if err != nil {
		t.Fatal(err)
	}
	if want := (len(wav) - 44 - 2001) / 4; len(pcm) != want {
		t.Errorf("got %d samples, want %d", len(pcm), want)
	}
}

func TestDecodeSizeLimit(t *testing.T) {
	wav := wavSpec{tag: WAVFormatPCM, channels: 1, rate: 8000, bits: 16, dataSize: -1}.build([][]float64{toneSeconds(1000, 8000, 0.5, 0.5)})
	if _, err := Decode(bytes.NewReader(wav), int64(len(wav))); err != nil {
		t.Fatalf("exactly at the limit: %v", err)
	}
	for _, limit := range []int64{int64(len(wav)) - 1, 100, 5, 0} {
		if _, err := Decode(bytes.NewReader(wav), limit); !errors.Is(err, ErrTooLarge) {
			t.Errorf("limit %d: got %v, want ErrTooLarge", limit, err)
		}
		if _, err := DecodeWAV(bytes.NewReader(wav), limit); !errors.Is(err, ErrTooLarge) {
			t.Errorf("DecodeWAV limit %d: got %v, want ErrTooLarge", limit, err)
		}
	}
	// A skipped chunk counts towards the limit too.
	big := wavSpec{tag: WAVFormatPCM, channels: 1, rate: 8000, bits: 16, dataSize: -1,
		extra: []chunk{{"junk", make([]byte, 1<<20)}}}.build([][]float64{toneSeconds(1000, 8000, 0.1, 0.5)})
	if _, err := Decode(bytes.NewReader(big), 64<<10); !errors.Is(err, ErrTooLarge) {
		t.Errorf("large skipped chunk: got %v, want ErrTooLarge", err)
	}
}

func TestDecodeDurationCap(t *testing.T) {
	old := maxDecodedSamples
	maxDecodedSamples = 2 * SampleRate
	defer func() { maxDecodedSamples = old }()
	// One second at 1 kHz, 8-bit: 1000 input bytes become 8000 samples.
	ok := wavSpec{tag: WAVFormatPCM, channels: 1, rate: 1000, bits: 8, dataSize: -1}.build([][]float64{toneSeconds(100, 1000, 1, 0.5)})
	if _, err := Decode(bytes.NewReader(ok), 1<<20); err != nil {
		t.Fatal(err)
	}
	long := wavSpec{tag: WAVFormatPCM, channels: 1, rate: 1000, bits: 8, dataSize: -1}.build([][]float64{toneSeconds(100, 1000, 3, 0.5)})
	if _, err := Decode(bytes.NewReader(long), 1<<20); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("got %v, want ErrTooLarge", err)
	}
}

func TestReadWAVHeader(t *testing.T) {
	wav := wavSpec{tag: WAVFormatMulaw, channels: 1, rate: 8000, bits: 8, dataSize: -1}.build([][]float64{toneSeconds(1000, 8000, 0.25, 0.5)})
	r := bytes.NewReader(wav)
	info, err := ReadWAVHeader(r)
	if err != nil {
		t.Fatal(err)
	}
	want := WAVInfo{Format: WAVFormatMulaw, Channels: 1, SampleRate: 8000, BitsPerSample: 8, DataBytes: 2000}
	if info != want {
		t.Fatalf("got %+v, want %+v", info, want)
	}
	if rest, _ := io.ReadAll(r); len(rest) != 2000 {
		t.Errorf("reader left %d bytes before the data, want 2000", len(rest))
	}
}

func TestWriteWAVRoundTrip(t *testing.T) {
	pcm := at.Add(at.Sine(440, SampleRate, 0.3, 9000), at.Noise(2400, 500, 9))
	var buf bytes.Buffer
	if err := WriteWAV(&buf, pcm); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != 44+2*len(pcm) {
		t.Fatalf("size %d", buf.Len())
	}
	got, err := DecodeWAV(&buf, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, pcm) {
		t.Fatal("8 kHz WAV did not round-trip exactly")
	}
}

func TestWAVWriterPatchesSizes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rec.wav")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewWAVWriter(f)
	if err != nil {
		t.Fatal(err)
	}
	var all []int16
	for i := range 50 {
		frame := at.Sine(float64(300+i*10), SampleRate, 0.02, 5000)
		all = append(all, frame...)
		if err := w.Write(frame); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if w.Write(all[:1]) == nil {
		t.Error("Write after Close succeeded")
	}
	f.Close()
	b, _ := os.ReadFile(path)
	if got := binary.LittleEndian.Uint32(b[40:]); got != uint32(2*len(all)) {
		t.Errorf("data size %d, want %d", got, 2*len(all))
	}
	if got := binary.LittleEndian.Uint32(b[4:]); got != uint32(36+2*len(all)) {
		t.Errorf("RIFF size %d, want %d", got, 36+2*len(all))
	}
	pcm, err := DecodeWAV(bytes.NewReader(b), 1<<20)
	if err != nil || !slices.Equal(pcm, all) {
		t.Fatalf("round trip: %v, equal=%v", err, slices.Equal(pcm, all))
	}
	// A real reader agrees about the header.
	if p, err := exec.LookPath("soxi"); err == nil {
		out, err := exec.Command(p, "-D", path).Output()
		if err != nil || strings.TrimSpace(string(out)) != "1.000000" {
			t.Errorf("soxi -D: %q %v, want 1.000000", out, err)
		}
	}
}

// TestDecodeSoxFiles decodes files SoX writes (real-world headers: SoX
// uses WAVE_FORMAT_EXTENSIBLE past 16 bits or 2 channels).
func TestDecodeSoxFiles(t *testing.T) {
	sox := at.NeedProgram(t, "sox")
	dir := t.TempDir()
	cases := []struct {
		args []string
		tol  float64
	}{
		{[]string{"-r", "44100", "-c", "2", "-b", "16"}, 0.1},
		{[]string{"-r", "48000", "-c", "1", "-b", "24"}, 0.1},
		{[]string{"-r", "22050", "-c", "4", "-b", "16"}, 0.1},
		{[]string{"-r", "8000", "-c", "1", "-e", "u-law"}, 0.3},
		{[]string{"-r", "8000", "-c", "1", "-e", "a-law"}, 0.3},
		{[]string{"-r", "16000", "-c", "1", "-e", "floating-point", "-b", "32"}, 0.1},
		{[]string{"-r", "11025", "-c", "1", "-b", "8"}, 0.3},
	}
	for i, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			path := filepath.Join(dir, fmt.Sprintf("%d.wav", i))
			args := append(append([]string{"-n"}, tc.args...), path, "synth", "0.5", "sine", "1000", "vol", "0.5")
			if out, err := exec.Command(sox, args...).CombinedOutput(); err != nil {
				t.Fatalf("sox: %v %s", err, out)
			}
			f, _ := os.Open(path)
			defer f.Close()
			pcm, err := Decode(f, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			checkTone(t, pcm, 1000, 0.5, 0.5*32767, tc.tol)
		})
	}
}
