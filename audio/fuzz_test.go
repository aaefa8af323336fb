package audio

import (
	"bytes"
	"errors"
	"testing"
)

// The seed corpora live in testdata/fuzz/<Name>/.

// FuzzDecodeWAV: any input either decodes or fails with one of the
// package's errors, never panics, and never returns more audio than the
// input can hold.
func FuzzDecodeWAV(f *testing.F) {
	f.Add(wavSpec{tag: WAVFormatPCM, channels: 1, rate: 8000, bits: 16, dataSize: -1}.build([][]float64{toneSeconds(1000, 8000, 0.01, 0.5)}))
	f.Fuzz(func(t *testing.T, b []byte) {
		pcm, err := DecodeWAV(bytes.NewReader(b), 1<<20)
		checkFuzzResult(t, b, pcm, err)
		if err == nil {
			// Re-encoding and decoding what came out is exact.
			var buf bytes.Buffer
			if werr := WriteWAV(&buf, pcm); werr != nil {
				t.Fatal(werr)
			}
			again, derr := DecodeWAV(&buf, int64(buf.Len()))
			if derr != nil || len(again) != len(pcm) {
				t.Fatalf("re-decode: %v, %d vs %d samples", derr, len(again), len(pcm))
			}
		}
	})
}

// FuzzDecode covers sniffing and the MP3 path.
func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		pcm, err := Decode(bytes.NewReader(b), 1<<20)
		checkFuzzResult(t, b, pcm, err)
	})
}

func checkFuzzResult(t *testing.T, in []byte, pcm []int16, err error) {
	t.Helper()
	if err != nil {
		if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrTooLarge) {
			t.Fatalf("error outside the package's kinds: %v", err)
		}
		return
	}
	// The smallest source sample is a byte at MinRate: 8 output samples,
	// plus the resampler's rounding. MP3 frames expand further (1152
	// samples from as few as 24 bytes at 8 kHz) but stay under the cap.
	if len(pcm) > maxDecodedSamples {
		t.Fatalf("%d samples from %d bytes", len(pcm), len(in))
	}
}

// FuzzResampler: any rates and input give the documented length.
func FuzzResampler(f *testing.F) {
	f.Add(uint32(44100), uint32(8000), []byte{1, 2, 3, 4})
	f.Fuzz(func(t *testing.T, in, out uint32, b []byte) {
		inRate := MinRate + int(in%uint32(MaxRate-MinRate+1))
		outRate := MinRate + int(out%uint32(MaxRate-MinRate+1))
		pcm := FromBytes(b)
		got, err := Resample(pcm, inRate, outRate)
		if err != nil {
			t.Fatal(err)
		}
		want := (int64(len(pcm))*int64(outRate) + int64(inRate) - 1) / int64(inRate)
		if int64(len(got)) != want {
			t.Fatalf("%d -> %d Hz: %d samples in, %d out, want %d", inRate, outRate, len(pcm), len(got), want)
		}
	})
}
