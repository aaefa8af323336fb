package audio

import (
	"math"
	"time"
)

// Level returns the RMS level of pcm in dBov (0 for a full-scale square
// wave, about -3 for a full-scale sine), or -Inf for digital silence.
func Level(pcm []int16) float64 {
	if len(pcm) == 0 {
		return math.Inf(-1)
	}
	var sum float64
	for _, s := range pcm {
		sum += float64(s) * float64(s)
	}
	return 10 * math.Log10(sum/float64(len(pcm))/(32768*32768))
}

// Tone returns ms milliseconds of a sine at freq Hz and levelDBov RMS, at
// SampleRate, with 5 ms ramps so it starts and stops without clicks: the
// beep of <Record playBeep> and <Wait beep>.
func Tone(freq float64, ms int, levelDBov float64) []int16 {
	n := ms * SampleRate / 1000
	amp := 32768 * math.Sqrt2 * math.Pow(10, levelDBov/20)
	ramp := min(5*SampleRate/1000, n/2)
	out := make([]int16, n)
	for i := range out {
		g := 1.0
		if i < ramp {
			g = float64(i) / float64(ramp)
		} else if n-1-i < ramp {
			g = float64(n-1-i) / float64(ramp)
		}
		out[i] = clamp16(float32(g * amp * math.Sin(2*math.Pi*freq*float64(i)/SampleRate)))
	}
	return out
}

// SilenceTimer measures how long the audio has stayed below a level, for
// <Record timeout>: feed it the caller's frames and compare the result
// with the timeout. Comfort noise at -65 dBov and line noise stay under
// the default threshold; speech does not.
type SilenceTimer struct {
	// ThresholdDBov is the level at or below which a frame is silent;
	// 0 means -45.
	ThresholdDBov float64
	silent        int // samples
}

// Add takes one frame and returns the length of the current silence.
func (s *SilenceTimer) Add(frame []int16) time.Duration {
	th := s.ThresholdDBov
	if th == 0 {
		th = -45
	}
	if Level(frame) <= th {
		s.silent += len(frame)
	} else {
		s.silent = 0
	}
	return time.Duration(s.silent) * time.Second / SampleRate
}

// Reset starts a new measurement.
func (s *SilenceTimer) Reset() { s.silent = 0 }
