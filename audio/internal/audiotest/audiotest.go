// Package audiotest has the signal helpers the audio packages' tests
// share: tone synthesis, level and frequency measurement, and the rule for
// tests that need an installed program.
package audiotest

import (
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/trunkline/trunkline/internal/peer"
)

// Sine returns seconds of a sine at freq Hz sampled at rate, with peak amp.
func Sine(freq float64, rate int, seconds, amp float64) []int16 {
	n := int(seconds * float64(rate))
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(math.Round(amp * math.Sin(2*math.Pi*freq*float64(i)/float64(rate))))
	}
	return out
}

// SineFloat is Sine without rounding.
func SineFloat(freq float64, rate int, n int, amp, phase float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = amp * math.Sin(2*math.Pi*freq*float64(i)/float64(rate)+phase)
	}
	return out
}

// Noise returns n samples of Gaussian noise with RMS rms.
func Noise(n int, rms float64, seed uint64) []int16 {
	r := rand.New(rand.NewPCG(seed, 1))
	out := make([]int16, n)
	for i := range out {
		out[i] = Clamp(r.NormFloat64() * rms)
	}
	return out
}

// Clamp rounds v into int16.
func Clamp(v float64) int16 {
	return int16(max(-32768, min(32767, math.Round(v))))
}

// Add mixes b into a (saturating), returning a.
func Add(a, b []int16) []int16 {
	for i := range min(len(a), len(b)) {
		a[i] = Clamp(float64(a[i]) + float64(b[i]))
	}
	return a
}

// RMS is the root mean square of pcm.
func RMS(pcm []int16) float64 {
	if len(pcm) == 0 {
		return 0
	}
	var s float64
	for _, v := range pcm {
		s += float64(v) * float64(v)
	}
	return math.Sqrt(s / float64(len(pcm)))
}

// DB is 20·log10(a/b).
func DB(a, b float64) float64 { return 20 * math.Log10(a/b) }

// ToneAmplitude estimates the peak amplitude of the component at freq Hz
// with a Goertzel filter over pcm (Hann-windowed, so a neighbouring
// strong tone leaks little).
func ToneAmplitude(pcm []int16, freq float64, rate int) float64 {
	n := len(pcm)
	if n == 0 {
		return 0
	}
	coef := 2 * math.Cos(2*math.Pi*freq/float64(rate))
	var s1, s2, wsum float64
	for i, v := range pcm {
		w := 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(n-1))
		wsum += w
		s0 := float64(v)*w + coef*s1 - s2
		s2, s1 = s1, s0
	}
	p := s1*s1 + s2*s2 - coef*s1*s2
	return 2 * math.Sqrt(max(p, 0)) / wsum
}

// ZeroCrossingFreq estimates the frequency of a pure tone from its
// rising zero crossings.
func ZeroCrossingFreq(pcm []int16, rate int) float64 {
	first, last, count := -1.0, -1.0, 0
	for i := 1; i < len(pcm); i++ {
		a, b := float64(pcm[i-1]), float64(pcm[i])
		if a < 0 && b >= 0 {
			t := float64(i-1) + a/(a-b) // interpolated crossing
			if first < 0 {
				first = t
			} else {
				count++
			}
			last = t
		}
	}
	if count == 0 {
		return 0
	}
	return float64(count) * float64(rate) / (last - first)
}

// NeedProgram skips the test when name is not on PATH, unless
// TRUNKLINE_REQUIRE_PEERS=1, when it fails instead: the test command
// installs the program, so a missing one there is a setup error.
func NeedProgram(t testing.TB, name string) string {
	t.Helper()
	return peer.Program(t, name)
}

// NeedFile is NeedProgram for a file a package installs.
func NeedFile(t testing.TB, path, pkg string) {
	t.Helper()
	if _, err := os.Stat(path); err == nil {
		return
	}
	peer.Missing(t, path+" (Debian "+pkg+") is missing")
}
