package dtmf

import "math"

// In-band detection: Goertzel filters at the eight DTMF frequencies over
// blocks of 102 samples (12.75 ms at 8 kHz, the block size Asterisk and
// spandsp use). A block is a hit when one row and one column tone stand
// out: each above the level floor, each at least 6 dB above the others of
// its group, within the twist limits, and together holding most of the
// block's energy (speech spreads its energy; a key press does not). A key
// is reported after two consecutive hits (25.5 ms; tones last 40 ms or
// more) and released after two consecutive blocks without it.

var (
	rowFreqs = [4]float64{697, 770, 852, 941}
	colFreqs = [4]float64{1209, 1336, 1477, 1633}
	keypad   = [4][4]uint8{
		{1, 2, 3, 12},   // 1 2 3 A
		{4, 5, 6, 13},   // 4 5 6 B
		{7, 8, 9, 14},   // 7 8 9 C
		{10, 0, 11, 15}, // * 0 # D
	}
)

const (
	blockSize = 102
	// dBm0Amplitude is the peak of a 0 dBm0 sine in 16-bit G.711 terms
	// (full-scale μ-law is +3.17 dBm0).
	dBm0Amplitude = 22656
)

// InbandOptions tune the tone detector. Zero values take the defaults.
type InbandOptions struct {
	SampleRate int // default 8000
	// MinLevel is the weakest tone accepted, in dBm0 per tone; default -30.
	MinLevel float64
	// NormalTwist is how far the high-group tone may be below the low one
	// (dB); default 8. ReverseTwist is how far above; default 4.
	NormalTwist, ReverseTwist float64
	// MinToneShare is the part of a block's energy the two tones must hold;
	// default 0.6.
	MinToneShare float64
}

// InbandDetector finds key presses in PCM. It is not safe for concurrent
// use. Feed it the far end's audio only when no telephone-event payload
// was negotiated, or each press is reported twice.
type InbandDetector struct {
	coef    [8]float32
	s1, s2  [8]float32
	energy  float32
	n       int
	minPow  float32 // Goertzel power of a tone at MinLevel over a block
	normal  float32 // power ratios
	reverse float32
	share   float32
	samples uint64 // samples consumed
	blockAt uint64 // sample index where the current block began
	last    int    // previous block's key code, -1 none
	lastAt  uint64
	down    int // key being held and already reported, -1 none
	misses  int
}

// NewInbandDetector returns a detector.
func NewInbandDetector(opts InbandOptions) *InbandDetector {
	if opts.SampleRate == 0 {
		opts.SampleRate = 8000
	}
	if opts.MinLevel == 0 {
		opts.MinLevel = -30
	}
	if opts.NormalTwist == 0 {
		opts.NormalTwist = 8
	}
	if opts.ReverseTwist == 0 {
		opts.ReverseTwist = 4
	}
	if opts.MinToneShare == 0 {
		opts.MinToneShare = 0.6
	}
	d := &InbandDetector{last: -1, down: -1}
	for i, f := range append(rowFreqs[:], colFreqs[:]...) {
		d.coef[i] = float32(2 * math.Cos(2*math.Pi*f/float64(opts.SampleRate)))
	}
	amp := dBm0Amplitude * math.Pow(10, opts.MinLevel/20)
	d.minPow = float32(amp * blockSize / 2 * amp * blockSize / 2)
	d.normal = float32(math.Pow(10, opts.NormalTwist/10))
	d.reverse = float32(math.Pow(10, opts.ReverseTwist/10))
	d.share = float32(opts.MinToneShare)
	return d
}

// Process consumes pcm and appends the key presses that began in it.
// An Event's Timestamp is the sample index (since the detector was made,
// modulo 2^32) of the block where the tone was first seen.
func (d *InbandDetector) Process(dst []Event, pcm []int16) []Event {
	for _, s := range pcm {
		x := float32(s)
		for i := range d.coef {
			s0 := x + d.coef[i]*d.s1[i] - d.s2[i]
			d.s2[i] = d.s1[i]
			d.s1[i] = s0
		}
		d.energy += x * x
		d.n++
		d.samples++
		if d.n == blockSize {
			dst = d.endBlock(dst)
		}
	}
	return dst
}

func (d *InbandDetector) endBlock(dst []Event) []Event {
	var pow [8]float32
	for i := range pow {
		pow[i] = d.s1[i]*d.s1[i] + d.s2[i]*d.s2[i] - d.coef[i]*d.s1[i]*d.s2[i]
	}
	code := d.classify(&pow)
	at := d.blockAt
	d.s1, d.s2 = [8]float32{}, [8]float32{}
	d.energy, d.n = 0, 0
	d.blockAt = d.samples

	if code >= 0 && code == d.down {
		d.misses = 0
	} else if d.down >= 0 {
		d.misses++
		if d.misses >= 2 {
			d.down, d.misses = -1, 0
		}
	}
	if code >= 0 && code == d.last && code != d.down {
		d.down, d.misses = code, 0
		r, _ := DigitForCode(uint8(code))
		dst = append(dst, Event{Digit: r, Code: uint8(code), Timestamp: uint32(d.lastAt)})
	}
	if code != d.last {
		d.lastAt = at
	}
	d.last = code
	return dst
}

// classify returns the key code a block holds, or -1.
func (d *InbandDetector) classify(pow *[8]float32) int {
	r, c := 0, 4
	for i := 1; i < 4; i++ {
		if pow[i] > pow[r] {
			r = i
		}
		if pow[4+i] > pow[c] {
			c = 4 + i
		}
	}
	pr, pc := pow[r], pow[c]
	if pr < d.minPow || pc < d.minPow {
		return -1
	}
	// Twist: the column (high) tone may be up to NormalTwist below the row
	// tone and up to ReverseTwist above it.
	if pc*d.normal < pr || pc > pr*d.reverse {
		return -1
	}
	// Each tone stands 6 dB above the rest of its group.
	const relPeak = 4
	for i := range 4 {
		if i != r && pow[i]*relPeak > pr {
			return -1
		}
		if 4+i != c && pow[4+i]*relPeak > pc {
			return -1
		}
	}
	// The tones hold most of the block's energy: mean square of the two
	// tones (2P/N^2 each) against the block's (energy/N).
	if 2*(pr+pc)/blockSize < d.share*d.energy {
		return -1
	}
	return int(keypad[r][c-4])
}

// Reset forgets any tone in progress.
func (d *InbandDetector) Reset() {
	*d = InbandDetector{
		coef: d.coef, minPow: d.minPow, normal: d.normal, reverse: d.reverse, share: d.share,
		samples: d.samples, blockAt: d.samples, last: -1, down: -1,
	}
}
