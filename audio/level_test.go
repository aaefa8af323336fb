package audio

import (
	"math"
	"testing"
	"time"

	at "github.com/trunkline/trunkline/audio/internal/audiotest"
)

func TestLevel(t *testing.T) {
	if l := Level(make([]int16, 160)); !math.IsInf(l, -1) {
		t.Errorf("silence: %v", l)
	}
	if l := Level(at.Sine(1000, SampleRate, 0.1, 32767)); math.Abs(l+3.01) > 0.05 {
		t.Errorf("full-scale sine: %.2f dBov, want -3.01", l)
	}
	if l := Level(nil); !math.IsInf(l, -1) {
		t.Errorf("empty: %v", l)
	}
}

func TestTone(t *testing.T) {
	beep := Tone(1000, 250, -12)
	if len(beep) != 2000 {
		t.Fatalf("%d samples", len(beep))
	}
	if l := Level(beep[100:1900]); math.Abs(l+12) > 0.1 {
		t.Errorf("level %.2f dBov, want -12", l)
	}
	if f := at.ZeroCrossingFreq(beep, SampleRate); math.Abs(f-1000) > 1 {
		t.Errorf("frequency %.1f", f)
	}
	if abs(beep[0]) > 0 || abs(beep[len(beep)-1]) > 200 {
		t.Errorf("no ramp: %d ... %d", beep[0], beep[len(beep)-1])
	}
}

func abs(v int16) int { return max(int(v), -int(v)) }

func TestSilenceTimer(t *testing.T) {
	var st SilenceTimer
	speech := Tone(300, 20, -20)
	cn := NewComfortNoise(DefaultComfortNoiseLevel, 1)
	frame := make([]int16, FrameSamples)
	if d := st.Add(speech); d != 0 {
		t.Fatal(d)
	}
	var d time.Duration
	for range 50 {
		cn.Fill(frame)
		d = st.Add(frame)
	}
	if d != time.Second {
		t.Fatalf("after 1 s of comfort noise: %v", d)
	}
	if d := st.Add(speech); d != 0 {
		t.Fatalf("speech did not reset: %v", d)
	}
	st.Add(make([]int16, FrameSamples))
	st.Reset()
	if d := st.Add(speech); d != 0 {
		t.Fatal(d)
	}
}
