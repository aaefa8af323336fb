package audio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	at "github.com/trunkline/trunkline/audio/internal/audiotest"
)

func TestDecodeMP3Files(t *testing.T) {
	cases := []struct {
		file    string
		seconds float64 // lame adds encoder delay and padding
	}{
		{"testdata/tone1k-44100-stereo.mp3", 1.0},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			b, err := os.ReadFile(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			pcm, err := Decode(bytes.NewReader(b), int64(len(b)))
			if err != nil {
				t.Fatal(err)
			}
			if got := float64(len(pcm)) / SampleRate; got < tc.seconds || got > tc.seconds+0.2 {
				t.Errorf("duration %.3f s, want %.1f s plus encoder padding", got, tc.seconds)
			}
			// The tone was written at -6 dBFS; skip the padding at both ends.
			n := int(tc.seconds * SampleRate * 0.75)
			checkTone(t, pcm[1200:1200+n], 1000, float64(n)/SampleRate, 16384, 0.5)
		})
	}
}

func TestDecodeMP3Refusals(t *testing.T) {
	good, _ := os.ReadFile("testdata/tone1k-44100-stereo.mp3")
	cases := []struct {
		name string
		in   []byte
		want error
	}{
		{"layer-2-header", []byte{0xFF, 0xFD, 0x90, 0x00, 0, 0, 0, 0}, ErrUnsupported},
		{"id3-only", []byte("ID3\x03\x00\x00\x00\x00\x00\x100123456789abcdef"), ErrMalformed},
		{"truncated-id3", []byte("ID3\x03\x00\x00\x00\x00\x01\x00short"), ErrMalformed},
		{"not-syncsafe", []byte("ID3\x03\x00\x00\x80\x00\x00\x00"), ErrMalformed},
		{"sync-then-garbage", append([]byte{0xFF, 0xFB}, bytes.Repeat([]byte{0x11}, 300)...), nil},
		{"truncated-after-first-frame", good[:300], nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(bytes.NewReader(tc.in), 1<<20)
			if tc.want == nil {
				if err != nil && !errors.Is(err, ErrMalformed) {
					t.Fatalf("got %v, want success or ErrMalformed", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestDecodeMP3SizeLimit(t *testing.T) {
	b, _ := os.ReadFile("testdata/tone1k-44100-stereo.mp3")
	if _, err := DecodeMP3(bytes.NewReader(b), int64(len(b))/2); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("got %v, want ErrTooLarge", err)
	}
	if _, err := DecodeMP3(bytes.NewReader(b), int64(len(b))); err != nil {
		t.Fatal(err)
	}
}

// TestDecodeMP3HugeID3TagDoesNotAllocate: a 10-byte ID3 header may claim
// 256 MB; go-mp3 would allocate that before reading.
func TestDecodeMP3HugeID3TagDoesNotAllocate(t *testing.T) {
	in := []byte("ID3\x03\x00\x00\x7f\x7f\x7f\x7f")
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := Decode(bytes.NewReader(in), 1<<20)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("got %v, want ErrMalformed", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 8<<20 {
		t.Fatalf("allocated %d MB", grew>>20)
	}
}

// TestDecodeMP3FromLame encodes a tone with lame at every MPEG version and
// several bit rates and checks what comes back.
func TestDecodeMP3FromLame(t *testing.T) {
	lame := at.NeedProgram(t, "lame")
	dir := t.TempDir()
	cases := []struct {
		rate, channels, kbps int
	}{
		// MPEG-2.5 (8–12 kHz) is refused (TestDecodeMP3Limits) and go-mp3 garbles some
		// padded MPEG-2 frames at 22.05 kHz (see mp3.go), so those rates are left out.
		{16000, 1, 24}, {24000, 1, 32},
		{32000, 1, 32}, {44100, 2, 64}, {44100, 2, 128}, {48000, 1, 96}, {48000, 2, 320},
	}
	for _, tc := range cases {
		name := fmt.Sprintf("%dHz-%dch-%dk", tc.rate, tc.channels, tc.kbps)
		t.Run(name, func(t *testing.T) {
			raw := at.Sine(1000, tc.rate, 1, 16384)
			var in bytes.Buffer
			for _, s := range raw {
				for range tc.channels {
					binary.Write(&in, binary.LittleEndian, s)
				}
			}
			out := filepath.Join(dir, name+".mp3")
			cmd := exec.Command(lame, "--quiet", "-r", "-s", fmt.Sprint(float64(tc.rate)/1000), "--bitwidth", "16",
				"--signed", "--little-endian", "-m", map[int]string{1: "m", 2: "j"}[tc.channels],
				"-b", fmt.Sprint(tc.kbps), "--resample", fmt.Sprint(float64(tc.rate)/1000), "-", out)
			cmd.Stdin = &in
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("lame: %v %s", err, b)
			}
			f, _ := os.Open(out)
			defer f.Close()
			pcm, err := Decode(f, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			if d := float64(len(pcm)) / SampleRate; d < 1 || d > 1.25 {
				t.Errorf("duration %.3f s, want 1 s plus encoder padding", d)
			}
			mid := pcm[2400:7800] // past the decoder delay (up to 1105 samples at 8 kHz)
			if f := at.ZeroCrossingFreq(mid, SampleRate); math.Abs(f-1000) > 2 {
				t.Errorf("frequency %.2f Hz, want 1000", f)
			}
			// Low bit rates are lossy: allow 1.5 dB, and demand a clean tone.
			a := at.ToneAmplitude(mid, 1000, SampleRate)
			if db := at.DB(a, 16384); math.Abs(db) > 1.5 {
				t.Errorf("amplitude %.0f (%.2f dB), want 16384", a, db)
			}
			resid := at.RMS(mid) * math.Sqrt2
			if snr := at.DB(a, math.Sqrt(max(resid*resid-a*a, 1e-9))); snr < 20 {
				t.Errorf("tone-to-rest %.1f dB, want >= 20 (garbled decode?)", snr)
			}
		})
	}
}

// TestDecodeMP3Limits pins the known limits of the MP3 decoder: MPEG-2.5 is refused
// with a clear error rather than garbled.
func TestDecodeMP3Limits(t *testing.T) {
	b, err := os.ReadFile("testdata/tone1k-8000-mpeg25.mp3")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(bytes.NewReader(b), int64(len(b))); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("MPEG-2.5: %v, want ErrUnsupported", err)
	}
}
