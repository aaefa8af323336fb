package audio

import (
	"iter"
	"math"
	"math/rand/v2"
)

// A Filler fills a frame with audio for a gap in playback: between
// prompts, during <Wait>, while a URL is fetched. Carriers drop calls and
// NAT bindings close when RTP stops, so the media path keeps sending
// frames from a Filler rather than nothing.
type Filler interface {
	Fill(frame []int16)
}

// Silence is a Filler of digital silence.
type Silence struct{}

// Fill zeroes frame.
func (Silence) Fill(frame []int16) { clear(frame) }

// ComfortNoise is a Filler of faint noise: some carriers and listeners
// treat pure digital silence as a dead line. It is not safe for concurrent
// use; make one per call.
type ComfortNoise struct {
	rng  *rand.Rand
	amp  float32 // RMS in int16 units
	prev float32
}

// DefaultComfortNoiseLevel is -65 dBov: audible only in a quiet room,
// and a few μ-law steps around zero.
const DefaultComfortNoiseLevel = -65

// NewComfortNoise returns noise at levelDBov (RMS relative to a full-scale
// square wave; e.g. -65) seeded with seed, so tests can repeat it.
func NewComfortNoise(levelDBov float64, seed uint64) *ComfortNoise {
	if levelDBov > 0 {
		levelDBov = 0
	}
	return &ComfortNoise{
		rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		amp: float32(32768 * math.Pow(10, levelDBov/20)),
	}
}

// Fill writes noise into frame.
func (c *ComfortNoise) Fill(frame []int16) {
	// Gaussian noise through a gentle one-pole low-pass (softer than white
	// hiss); the gain keeps the output RMS at amp.
	const a = 0.5
	gain := c.amp * float32(math.Sqrt((1-a*a)/((1-a)*(1-a))))
	for i := range frame {
		c.prev = a*c.prev + (1-a)*float32(c.rng.NormFloat64())
		frame[i] = clamp16(c.prev * gain)
	}
}

// Frames yields pcm in frames of FrameSamples samples; the last frame is
// padded with silence. Frames are slices of pcm (except the padded one),
// so they must not be modified.
func Frames(pcm []int16) iter.Seq[[]int16] {
	return func(yield func([]int16) bool) {
		for len(pcm) >= FrameSamples {
			if !yield(pcm[:FrameSamples:FrameSamples]) {
				return
			}
			pcm = pcm[FrameSamples:]
		}
		if len(pcm) > 0 {
			last := make([]int16, FrameSamples)
			copy(last, pcm)
			yield(last)
		}
	}
}
