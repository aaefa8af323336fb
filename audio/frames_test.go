package audio

import (
	"math"
	"slices"
	"testing"

	at "github.com/trunkline/trunkline/audio/internal/audiotest"
)

func TestSilenceFills(t *testing.T) {
	f := []int16{1, 2, 3}
	var fl Filler = Silence{}
	fl.Fill(f)
	if !slices.Equal(f, []int16{0, 0, 0}) {
		t.Fatal(f)
	}
	if MulawToLinear(MulawSilence) != 0 || math.Abs(float64(AlawToLinear(AlawSilence))) > 8 {
		t.Fatal("silence code words")
	}
}

func TestComfortNoiseLevelAndRepeatability(t *testing.T) {
	for _, level := range []float64{-50, DefaultComfortNoiseLevel, -70} {
		cn := NewComfortNoise(level, 7)
		var all []int16
		frame := make([]int16, FrameSamples)
		for range 250 { // 5 s
			cn.Fill(frame)
			all = append(all, frame...)
		}
		got := at.DB(at.RMS(all), 32768)
		if math.Abs(got-level) > 1.5 {
			t.Errorf("level %.1f dBov, want %.0f", got, level)
		}
		// Not a DC offset or a tone: about zero mean, and it changes.
		var sum float64
		for _, v := range all {
			sum += float64(v)
		}
		if mean := sum / float64(len(all)); math.Abs(mean) > 2 {
			t.Errorf("mean %.2f", mean)
		}
		// Encoded for the wire it is not pure silence code words.
		mu := EncodeMulaw(nil, all[:FrameSamples])
		if !slices.ContainsFunc(mu, func(b byte) bool { return b != MulawSilence && b != 0x7F }) {
			t.Errorf("%g dBov encodes to μ-law silence", level)
		}
	}
	a, b := make([]int16, 480), make([]int16, 480)
	NewComfortNoise(-60, 1).Fill(a)
	NewComfortNoise(-60, 1).Fill(b)
	if !slices.Equal(a, b) {
		t.Error("same seed gave different noise")
	}
}

func TestFramesSplitsAndPads(t *testing.T) {
	pcm := make([]int16, 3*FrameSamples+10)
	for i := range pcm {
		pcm[i] = int16(i)
	}
	var frames [][]int16
	for f := range Frames(pcm) {
		frames = append(frames, f)
	}
	if len(frames) != 4 {
		t.Fatalf("%d frames, want 4", len(frames))
	}
	for i, f := range frames {
		if len(f) != FrameSamples {
			t.Fatalf("frame %d has %d samples", i, len(f))
		}
	}
	if frames[3][9] != int16(3*FrameSamples+9) || frames[3][10] != 0 || frames[3][FrameSamples-1] != 0 {
		t.Error("last frame not padded with silence")
	}
	n := 0
	for range Frames(pcm) {
		n++
		break
	}
	if n != 1 {
		t.Error("break did not stop")
	}
	for range Frames(nil) {
		t.Error("frames from nothing")
	}
}

func TestBytesRoundTrip(t *testing.T) {
	pcm := []int16{0, 1, -1, 32767, -32768, 1234}
	b := Bytes(pcm)
	if len(b) != 12 || b[2] != 1 || b[3] != 0 || b[4] != 0xFF {
		t.Fatalf("% x", b)
	}
	if !slices.Equal(FromBytes(append(b, 9)), pcm) {
		t.Fatal("round trip")
	}
}
