package dtmf

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	at "github.com/trunkline/trunkline/audio/internal/audiotest"
	"github.com/trunkline/trunkline/audio/tts"
)

// dualTone returns a tone pair with separate levels (dBm0) and frequency
// error (fraction).
func dualTone(digit rune, ms int, rowDB, colDB, freqErr float64) []int16 {
	code, _ := CodeForDigit(digit)
	var fr, fc float64
	for r := range 4 {
		for c := range 4 {
			if keypad[r][c] == code {
				fr, fc = rowFreqs[r]*(1+freqErr), colFreqs[c]*(1+freqErr)
			}
		}
	}
	ar, ac := dBm0Amplitude*math.Pow(10, rowDB/20), dBm0Amplitude*math.Pow(10, colDB/20)
	n := ms * 8
	out := make([]int16, n)
	for i := range out {
		t := float64(i) / 8000
		out[i] = at.Clamp(ar*math.Sin(2*math.Pi*fr*t) + ac*math.Sin(2*math.Pi*fc*t+1))
	}
	return out
}

func silence(ms int) []int16 { return make([]int16, ms*8) }

func detectInband(pcm []int16, chunk int) string {
	d := NewInbandDetector(InbandOptions{})
	var evs []Event
	for len(pcm) > 0 {
		n := min(chunk, len(pcm))
		evs = d.Process(evs, pcm[:n])
		pcm = pcm[n:]
	}
	return digitsOf(evs)
}

func TestInbandAllDigits(t *testing.T) {
	const keys = "0123456789*#ABCD"
	var pcm []int16
	for _, k := range keys {
		pcm = append(pcm, silence(50)...)
		pcm = append(pcm, dualTone(k, 60, -10, -8, 0)...)
	}
	pcm = append(pcm, silence(50)...)
	for _, chunk := range []int{160, 37, 1000} { // RTP frames and odd sizes
		if got := detectInband(pcm, chunk); got != keys {
			t.Errorf("chunk %d: got %q, want %q", chunk, got, keys)
		}
	}
}

func TestInbandAccepts(t *testing.T) {
	cases := []struct {
		name         string
		ms           int
		rowDB, colDB float64
		freqErr, snr float64 // snr in dB against white noise; 0 for none
	}{
		{"loud", 100, -3, -3, 0, 0},
		{"typical", 60, -10, -8, 0, 0},
		{"weak-25dBm0", 60, -25, -25, 0, 0},
		{"normal-twist-7dB", 60, -10, -17, 0, 0},
		{"reverse-twist-3dB", 60, -13, -10, 0, 0},
		{"freq+1.5%", 60, -10, -10, 0.015, 0},
		{"freq-1.5%", 60, -10, -10, -0.015, 0},
		{"min-duration-40ms", 40, -10, -10, 0, 0},
		{"noise-snr-20dB", 80, -15, -15, 0, 20},
		{"noise-snr-12dB", 80, -15, -15, 0, 12},
		{"long-press-2s", 2000, -10, -10, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range "159#D" {
				pcm := append(silence(40), dualTone(k, tc.ms, tc.rowDB, tc.colDB, tc.freqErr)...)
				pcm = append(pcm, silence(60)...)
				if tc.snr > 0 {
					ar, ac := dBm0Amplitude*math.Pow(10, tc.rowDB/20), dBm0Amplitude*math.Pow(10, tc.colDB/20)
					sig := (ar*ar + ac*ac) / 2
					at.Add(pcm, at.Noise(len(pcm), math.Sqrt(sig/math.Pow(10, tc.snr/10)), uint64(k)))
				}
				if got := detectInband(pcm, 160); got != string(k) {
					t.Errorf("%c: got %q", k, got)
				}
			}
		})
	}
}

func TestInbandRejects(t *testing.T) {
	single := func(f float64, ms int) []int16 {
		n := ms * 8
		out := make([]int16, n)
		for i := range out {
			out[i] = at.Clamp(dBm0Amplitude * 0.3 * math.Sin(2*math.Pi*f*float64(i)/8000))
		}
		return out
	}
	cases := []struct {
		name string
		pcm  []int16
	}{
		{"silence", silence(1000)},
		{"row-tone-only", single(770, 500)},
		{"column-tone-only", single(1336, 500)},
		{"dial-tone-350+440", at.Add(single(350, 1000), single(440, 1000))},
		{"too-weak-45dBm0", dualTone('5', 100, -45, -45, 0)},
		{"normal-twist-11dB", dualTone('5', 100, -5, -16, 0)},
		{"reverse-twist-7dB", dualTone('5', 100, -15, -8, 0)},
		{"freq-off-5%", dualTone('5', 100, -10, -10, 0.05)},
		{"too-short-15ms", append(silence(40), append(dualTone('5', 15, -10, -10, 0), silence(40)...)...)},
		{"white-noise", at.Noise(16000, 3000, 1)},
		{"three-tones", at.Add(dualTone('5', 200, -10, -10, 0), single(941, 200))},
		{"speech-like", speechLike(3 * 8000)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := detectInband(tc.pcm, 160); got != "" {
				t.Errorf("detected %q", got)
			}
		})
	}
}

// speechLike makes a voiced-speech stand-in: a glottal pulse train whose
// pitch glides between 90 and 250 Hz, shaped by formants that move, with
// syllable-rate loudness changes and breath noise.
func speechLike(n int) []int16 {
	r := rand.New(rand.NewPCG(3, 4))
	out := make([]int16, n)
	phase := 0.0
	type res struct{ f, bw float64 }
	var y1, y2 [3]float64
	for i := range out {
		t := float64(i) / 8000
		f0 := 170 + 80*math.Sin(2*math.Pi*0.7*t) + 20*math.Sin(2*math.Pi*3.1*t)
		phase += f0 / 8000
		x := 0.0
		if phase >= 1 {
			phase--
			x = 1
		}
		x += 0.02 * r.NormFloat64()
		formants := [3]res{
			{500 + 300*math.Sin(2*math.Pi*2.3*t), 80},
			{1500 + 600*math.Sin(2*math.Pi*1.7*t+1), 120},
			{2500 + 300*math.Sin(2*math.Pi*1.1*t+2), 160},
		}
		v := 0.0
		for k, fm := range formants {
			rr := math.Exp(-math.Pi * fm.bw / 8000)
			a1, a2 := -2*rr*math.Cos(2*math.Pi*fm.f/8000), rr*rr
			y := x - a1*y1[k] - a2*y2[k]
			y2[k], y1[k] = y1[k], y
			v += y
		}
		env := 0.5 + 0.5*math.Sin(2*math.Pi*4*t)
		out[i] = at.Clamp(2000 * env * v)
	}
	return out
}

// TestInbandSpeechFromEspeak: real synthesized speech, digits spoken as
// words included, is not taken for key presses.
func TestInbandSpeechFromEspeak(t *testing.T) {
	path := at.NeedProgram(t, "espeak-ng")
	e := tts.NewEspeak(tts.EspeakOptions{Path: path})
	var total float64
	for _, v := range []struct{ text, voice, lang string }{
		{"Please enter your account number, one two three four five six seven eight nine zero, then press the pound key.", "WOMAN", "en-US"},
		{"Your call is important to us. Please hold while we connect you to an agent.", "MAN", "en-GB"},
		{"Bonjour, veuillez composer votre code secret suivi de la touche dièse.", "WOMAN", "fr-FR"},
		{"Ihre Anrufe werden aufgezeichnet. Bitte warten Sie.", "MAN", "de-DE"},
	} {
		pcm, err := e.Synthesize(context.Background(), v.text, v.voice, v.lang)
		if err != nil {
			t.Fatal(err)
		}
		total += float64(len(pcm)) / 8000
		if got := detectInband(pcm, 160); got != "" {
			t.Errorf("%s %s: detected %q in speech", v.voice, v.lang, got)
		}
	}
	t.Logf("%.1f s of espeak-ng speech: no digits", total)
}

func TestInbandReset(t *testing.T) {
	d := NewInbandDetector(InbandOptions{})
	tone := dualTone('7', 200, -10, -10, 0)
	evs := d.Process(nil, tone[:800])
	d.Reset()
	evs = d.Process(evs, tone[800:])
	evs = d.Process(evs, silence(50))
	// Reset forgets the held key, so its continuation is reported anew.
	if digitsOf(evs) != "77" {
		t.Fatalf("%q", digitsOf(evs))
	}
}

// BenchmarkInband reports the cost per second of audio.
func BenchmarkInband(b *testing.B) {
	pcm := speechLike(8000)
	d := NewInbandDetector(InbandOptions{})
	for b.Loop() {
		d.Process(nil, pcm)
	}
}
