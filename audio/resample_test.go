package audio

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	at "github.com/trunkline/trunkline/audio/internal/audiotest"
)

var inputRates = []int{6000, 8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 96000, 44099}

func TestResampleKeepsToneFrequencyAndLevel(t *testing.T) {
	for _, rate := range inputRates {
		t.Run(fmt.Sprint(rate), func(t *testing.T) {
			in := at.Sine(1000, rate, 1, 10000)
			out, err := Resample(in, rate, SampleRate)
			if err != nil {
				t.Fatal(err)
			}
			want := int(math.Ceil(float64(len(in)) * SampleRate / float64(rate)))
			if len(out) != want {
				t.Fatalf("got %d samples, want %d", len(out), want)
			}
			mid := out[400 : len(out)-400] // away from the edges
			if f := at.ZeroCrossingFreq(mid, SampleRate); math.Abs(f-1000) > 0.5 {
				t.Errorf("frequency %.2f Hz, want 1000", f)
			}
			if a := at.ToneAmplitude(mid, 1000, SampleRate); math.Abs(at.DB(a, 10000)) > 0.1 {
				t.Errorf("amplitude %.0f (%.2f dB), want 10000", a, at.DB(a, 10000))
			}
		})
	}
}

// TestResampleMatchesIdealSignal compares the output with the same tone
// computed directly at 8 kHz: any delay, phase error or distortion shows.
func TestResampleMatchesIdealSignal(t *testing.T) {
	for _, rate := range []int{11025, 22050, 44100, 48000, 16000, 6000} {
		for _, freq := range []float64{300, 1000, 3000} {
			if freq > 0.45*float64(rate) {
				continue // at the input's own band edge
			}
			t.Run(fmt.Sprint(rate, "/", freq), func(t *testing.T) {
				in := at.Sine(freq, rate, 0.5, 12000)
				out, _ := Resample(in, rate, SampleRate)
				ideal := at.SineFloat(freq, SampleRate, len(out), 12000, 0)
				var sig, errPow float64
				for i := 300; i < len(out)-300; i++ {
					d := float64(out[i]) - ideal[i]
					errPow += d * d
					sig += ideal[i] * ideal[i]
				}
				snr := 10 * math.Log10(sig/errPow)
				if snr < 50 {
					t.Errorf("SNR %.1f dB against the ideal tone, want >= 50", snr)
				}
			})
		}
	}
}

func TestResampleRejectsAliases(t *testing.T) {
	for _, rate := range []int{22050, 44100, 48000, 16000, 11025} {
		for _, freq := range []float64{4400, 6000, 9000} {
			if freq >= float64(rate)/2 {
				continue
			}
			t.Run(fmt.Sprint(rate, "/", freq), func(t *testing.T) {
				in := at.Sine(freq, rate, 1, 20000)
				out, _ := Resample(in, rate, SampleRate)
				// Whatever survives would land at its alias below 4 kHz.
				alias := math.Mod(freq, SampleRate)
				if alias > SampleRate/2 {
					alias = SampleRate - alias
				}
				mid := out[400 : len(out)-400]
				rms := at.RMS(mid)
				if db := at.DB(rms+1e-9, 20000/math.Sqrt2); db > -60 {
					t.Errorf("%g Hz left %.1f dB of output (alias at %g Hz), want <= -60 dB", freq, db, alias)
				}
			})
		}
	}
}

func TestResamplePassband(t *testing.T) {
	for _, freq := range []float64{100, 300, 2000, 3000, 3300} {
		in := at.Sine(freq, 44100, 1, 10000)
		out, _ := Resample(in, 44100, SampleRate)
		a := at.ToneAmplitude(out[400:len(out)-400], freq, SampleRate)
		if db := at.DB(a, 10000); db < -1 || db > 0.2 {
			t.Errorf("%g Hz: %.2f dB, want within -1..0.2 dB", freq, db)
		}
	}
}

func TestResampleStreamingEqualsWhole(t *testing.T) {
	for _, rate := range []int{44100, 22050, 44099, 6000} {
		in := at.Add(at.Sine(440, rate, 0.7, 8000), at.Noise(int(0.7*float64(rate)), 2000, 3))
		whole, _ := Resample(in, rate, SampleRate)
		r, _ := NewResampler(rate, SampleRate)
		rng := rand.New(rand.NewPCG(1, 2))
		var out []int16
		for rest := in; len(rest) > 0; {
			n := min(len(rest), 1+rng.IntN(3000))
			out = r.ProcessInt16(out, rest[:n])
			rest = rest[n:]
		}
		out = r.Flush(out)
		if !slices.Equal(out, whole) {
			t.Errorf("%d Hz: chunked output differs from whole-buffer output (%d vs %d samples)", rate, len(out), len(whole))
		}
		if got := r.Flush(nil); len(got) != 0 {
			t.Errorf("output after Flush")
		}
	}
}

func TestResamplerRejectsRates(t *testing.T) {
	for _, r := range [][2]int{{0, 8000}, {999, 8000}, {8000, 0}, {MaxRate + 1, 8000}} {
		if _, err := NewResampler(r[0], r[1]); err == nil {
			t.Errorf("%v: no error", r)
		}
	}
}

func TestResampleEmpty(t *testing.T) {
	out, err := Resample(nil, 44100, 8000)
	if err != nil || len(out) != 0 {
		t.Fatalf("got %d samples, %v", len(out), err)
	}
}

// BenchmarkResample reports the cost of converting one second of audio.
func BenchmarkResample(b *testing.B) {
	for _, rate := range []int{22050, 44100, 48000, 16000} {
		in := at.Sine(1000, rate, 1, 10000)
		b.Run(fmt.Sprint(rate), func(b *testing.B) {
			out := make([]int16, 0, 9000)
			for b.Loop() {
				r, _ := NewResampler(rate, SampleRate)
				out = r.ProcessInt16(out[:0], in)
				out = r.Flush(out)
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/audio-second")
		})
	}
}
