package audio

import (
	"fmt"
	"math"
	"sync"
)

// Resampler design: a Kaiser-windowed sinc low-pass evaluated at polyphase
// offsets (the classic bandlimited-interpolation method). The cutoff sits
// at 91% of the lower Nyquist frequency (3650 Hz when the output is 8 kHz)
// and the filter spans 32 zero crossings each side, which puts the
// transition band at about 3.35-3.95 kHz with roughly 80 dB of stop-band
// attenuation: nothing above 4 kHz folds back into the telephone band.
const (
	rsZeroCrossings = 32
	rsRolloff       = 0.9125
	rsKaiserBeta    = 7.86 // about 80 dB
	rsMaxExact      = 512  // exact rational phases up to this many
	rsQuantPhases   = 128  // else this many, linearly interpolated

	// MinRate and MaxRate bound the input rates Resampler accepts.
	MinRate = 1000
	MaxRate = 192000
)

type filterBank struct {
	l      int  // phase denominator: output n sits at input n*m/l
	m      int  //
	exact  bool // one stored row per phase; else rsQuantPhases+1 rows, interpolated
	phases int
	half   int // taps each side: taps = 2*half
	taps   int
	coef   []float32
}

var bankCache struct {
	sync.Mutex
	m map[[2]int]*filterBank
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func bankFor(in, out int) *filterBank {
	key := [2]int{in, out}
	bankCache.Lock()
	b := bankCache.m[key]
	bankCache.Unlock()
	if b != nil {
		return b
	}
	b = newFilterBank(in, out)
	bankCache.Lock()
	if bankCache.m == nil || len(bankCache.m) >= 32 {
		// Rates in the wild are few; a flood of odd ones starts over.
		bankCache.m = make(map[[2]int]*filterBank)
	}
	bankCache.m[key] = b
	bankCache.Unlock()
	return b
}

func newFilterBank(in, out int) *filterBank {
	g := gcd(in, out)
	b := &filterBank{l: out / g, m: in / g}
	scale := 1.0 // cutoff relative to the input Nyquist
	if out < in {
		scale = float64(out) / float64(in)
	}
	fc := rsRolloff * scale / 2 // cycles per input sample
	halfLen := rsZeroCrossings / scale
	b.half = int(math.Ceil(halfLen))
	b.taps = 2 * b.half
	if b.l <= rsMaxExact {
		b.exact = true
		b.phases = b.l
	} else {
		b.phases = rsQuantPhases
	}
	rows := b.phases
	if !b.exact {
		rows++ // the row at frac = 1 closes the interpolation
	}
	b.coef = make([]float32, rows*b.taps)
	i0b := besselI0(rsKaiserBeta)
	row := make([]float64, b.taps)
	for p := range rows {
		frac := float64(p) / float64(b.phases)
		sum := 0.0
		for j := range b.taps {
			t := frac + float64(b.half-1-j) // input-sample distance from the output instant
			x := t / halfLen
			v := 0.0
			if x > -1 && x < 1 {
				v = 2 * fc * sinc(2*fc*t) * besselI0(rsKaiserBeta*math.Sqrt(1-x*x)) / i0b
			}
			row[j] = v
			sum += v
		}
		// Unity gain at DC for every phase, so no phase-dependent ripple.
		for j := range b.taps {
			b.coef[p*b.taps+j] = float32(row[j] / sum)
		}
	}
	return b
}

func sinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	return math.Sin(math.Pi*x) / (math.Pi * x)
}

// besselI0 is the zeroth-order modified Bessel function of the first kind.
func besselI0(x float64) float64 {
	sum, term := 1.0, 1.0
	for k := 1; k < 64; k++ {
		term *= (x / (2 * float64(k))) * (x / (2 * float64(k)))
		sum += term
		if term < sum*1e-12 {
			break
		}
	}
	return sum
}

// Resampler converts a stream of mono samples from one rate to another.
// Output sample n is aligned with input instant n*in/out (no added delay),
// so Process followed by Flush returns ceil(len(input)*out/in) samples.
// It is not safe for concurrent use.
type Resampler struct {
	in, out int
	bank    *filterBank // nil when in == out

	buf   []float32 // input; buf[0] is absolute index base
	base  int64
	i     int64 // integer input index of the next output
	ph    int   // its phase numerator, 0 <= ph < bank.l
	total int64 // input samples received
	done  bool
}

// NewResampler returns a resampler from inRate to outRate (Hz), both in
// [MinRate, MaxRate].
func NewResampler(inRate, outRate int) (*Resampler, error) {
	for _, r := range []int{inRate, outRate} {
		if r < MinRate || r > MaxRate {
			return nil, unsupported(fmt.Sprintf("sample rate %d Hz (want %d-%d)", r, MinRate, MaxRate))
		}
	}
	r := &Resampler{in: inRate, out: outRate}
	if inRate != outRate {
		r.bank = bankFor(inRate, outRate)
		// Zero history before the first sample.
		r.buf = make([]float32, r.bank.half, r.bank.half+4096)
		r.base = -int64(r.bank.half)
	}
	return r, nil
}

// Process appends to dst the output that src (samples in int16 units)
// makes available, and returns it. Some output waits for later input.
func (r *Resampler) Process(dst []int16, src []float32) []int16 {
	if r.done {
		return dst
	}
	r.total += int64(len(src))
	if r.bank == nil {
		for _, v := range src {
			dst = append(dst, clamp16(v))
		}
		return dst
	}
	r.buf = append(r.buf, src...)
	return r.drain(dst, false)
}

// ProcessInt16 is Process for int16 input.
func (r *Resampler) ProcessInt16(dst []int16, src []int16) []int16 {
	var tmp [1024]float32
	for len(src) > 0 {
		n := min(len(src), len(tmp))
		for i, s := range src[:n] {
			tmp[i] = float32(s)
		}
		dst = r.Process(dst, tmp[:n])
		src = src[n:]
	}
	return dst
}

// Flush appends the remaining output, treating the input as ended. The
// Resampler produces nothing after Flush.
func (r *Resampler) Flush(dst []int16) []int16 {
	if r.done || r.bank == nil {
		r.done = true
		return dst
	}
	r.buf = append(r.buf, make([]float32, r.bank.half+1)...)
	dst = r.drain(dst, true)
	r.done = true
	r.buf = nil
	return dst
}

func (r *Resampler) drain(dst []int16, final bool) []int16 {
	b := r.bank
	step, stepFrac := int64(b.m/b.l), b.m%b.l
	end := r.base + int64(len(r.buf)) // first absolute index not in buf
	for {
		if r.i+int64(b.half) >= end {
			break
		}
		if final && r.i*int64(b.l)+int64(r.ph) >= r.total*int64(b.l) {
			break
		}
		start := int(r.i - int64(b.half) + 1 - r.base)
		x := r.buf[start : start+b.taps]
		var acc float32
		if b.exact {
			c := b.coef[r.ph*b.taps : (r.ph+1)*b.taps]
			acc = dot(x, c)
		} else {
			pos := float64(r.ph) * float64(b.phases) / float64(b.l)
			p := int(pos)
			a := float32(pos - float64(p))
			c0 := b.coef[p*b.taps : (p+1)*b.taps]
			c1 := b.coef[(p+1)*b.taps : (p+2)*b.taps]
			acc = (1-a)*dot(x, c0) + a*dot(x, c1)
		}
		dst = append(dst, clamp16(acc))
		r.i += step
		r.ph += stepFrac
		if r.ph >= b.l {
			r.ph -= b.l
			r.i++
		}
	}
	// Drop input no later output needs.
	if drop := int(r.i - int64(b.half) + 1 - r.base); drop > 4096 && drop <= len(r.buf) {
		n := copy(r.buf, r.buf[drop:])
		r.buf = r.buf[:n]
		r.base += int64(drop)
	}
	return dst
}

func dot(x, c []float32) float32 {
	x = x[:len(c)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(c); i += 4 {
		s0 += x[i] * c[i]
		s1 += x[i+1] * c[i+1]
		s2 += x[i+2] * c[i+2]
		s3 += x[i+3] * c[i+3]
	}
	for ; i < len(c); i++ {
		s0 += x[i] * c[i]
	}
	return s0 + s1 + s2 + s3
}

// Resample converts a whole buffer from inRate to outRate.
func Resample(pcm []int16, inRate, outRate int) ([]int16, error) {
	r, err := NewResampler(inRate, outRate)
	if err != nil {
		return nil, err
	}
	dst := make([]int16, 0, int(int64(len(pcm))*int64(outRate)/int64(inRate))+1)
	dst = r.ProcessInt16(dst, pcm)
	return r.Flush(dst), nil
}
