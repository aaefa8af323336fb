package media

import (
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/trunkline/trunkline/audio"
)

// fakeLeg stands in for a call's Channel (a mock: the SIP-level test with
// real peers is voice's TestConferenceThreeCallers): the test pushes what
// the member says and pops what it hears.
type fakeLeg struct {
	tap  func([]int16)
	feed *FIFO
}

func (l *fakeLeg) Tap(f func([]int16)) func() { l.tap = f; return func() { l.tap = nil } }
func (l *fakeLeg) SetFeed(f *FIFO)            { l.feed = f }

// toneAmp is the amplitude of freq in pcm (Goertzel).
func toneAmp(pcm []int16, freq float64) float64 {
	coef := 2 * math.Cos(2*math.Pi*freq/8000)
	var s1, s2 float64
	for _, v := range pcm {
		s0 := float64(v) + coef*s1 - s2
		s2, s1 = s1, s0
	}
	return 2 * math.Sqrt(max(s1*s1+s2*s2-coef*s1*s2, 0)) / float64(len(pcm))
}

// run feeds each leg its tone for frames ticks and returns what each heard.
func run(r *Room, legs []*fakeLeg, tones [][]int16, frames int) [][]int16 {
	heard := make([][]int16, len(legs))
	var f [frameSamples]int16
	for i := range frames {
		for j, l := range legs {
			if l.tap != nil && tones[j] != nil {
				l.tap(tones[j][(i*frameSamples)%(len(tones[j])-frameSamples):][:frameSamples])
			}
		}
		r.Tick()
		for j, l := range legs {
			if l.feed != nil && l.feed.Pop(f[:]) {
				heard[j] = append(heard[j], f[:]...)
			}
		}
	}
	return heard
}

func TestRoomEachHearsTheOthers(t *testing.T) {
	var events []bool
	r := &Room{taps: map[int]func([]int16){}, onTalk: func(m *Member, talking bool) { events = append(events, talking) }}
	freqs := []float64{400, 700, 1100}
	legs := make([]*fakeLeg, 3)
	tones := make([][]int16, 3)
	members := make([]*Member, 3)
	for i := range legs {
		legs[i] = &fakeLeg{}
		tones[i] = audio.Tone(freqs[i], 2000, -20)
		members[i] = r.Join(legs[i], MemberOptions{Music: audio.Tone(300, 500, -20)})
	}
	// Before the start: music only, nobody heard.
	heard := run(r, legs, tones, 25)
	for i := range legs {
		if a := toneAmp(heard[i], 300); a < 500 {
			t.Fatalf("member %d hears no wait music before the start (%.0f)", i, a)
		}
		for j, f := range freqs {
			if a := toneAmp(heard[i], f); a > 100 {
				t.Fatalf("member %d hears member %d before the start (%.0f)", i, j, a)
			}
		}
	}
	r.Start()
	var recorded []int16
	r.TapMix(func(f []int16) { recorded = append(recorded, f...) })
	check := func(name string, want [3][3]bool) {
		t.Helper()
		heard := run(r, legs, tones, 50)
		for i := range legs {
			for j, f := range freqs {
				a := toneAmp(heard[i], f)
				if got := a > 300; got != want[i][j] {
					t.Fatalf("%s: member %d hears %.0f Hz at amplitude %.0f; want heard=%v", name, i, f, a, want[i][j])
				}
			}
		}
	}
	all := [3][3]bool{{false, true, true}, {true, false, true}, {true, true, false}}
	check("all talking", all)
	if len(events) != 3 || !events[0] {
		t.Fatalf("talk events %v; want three starts", events)
	}
	for _, f := range freqs {
		if toneAmp(recorded, f) < 300 {
			t.Fatalf("the recording lacks %.0f Hz", f)
		}
	}
	members[0].SetMuted(true)
	check("0 muted", [3][3]bool{{false, true, true}, {false, false, true}, {false, true, false}})
	members[0].SetMuted(false)
	members[1].SetDeaf(true)
	check("1 deaf", [3][3]bool{{false, true, true}, {false, false, false}, {true, true, false}})
	members[1].SetDeaf(false)
	// Coach mode: 2 whispers, heard only by 0.
	members[0].set(func() { members[0].hearsWhisper = true })
	members[2].SetWhisper(true)
	check("2 whispers to 0", [3][3]bool{{false, true, true}, {true, false, false}, {true, true, false}})
	members[2].SetWhisper(false)
	members[1].SetHeld(true)
	check("1 held", [3][3]bool{{false, false, true}, {false, false, false}, {true, false, false}})
	members[1].SetHeld(false)
	// A prompt into the room, then one to member 2 only.
	beep := audio.Tone(1800, 400, -20)
	done := r.Play(beep)
	heard = run(r, legs, make([][]int16, 3), 25)
	<-done
	for i := range legs {
		if toneAmp(heard[i], 1800) < 300 {
			t.Fatalf("member %d did not hear the room prompt", i)
		}
	}
	done = members[2].Play(beep)
	heard = run(r, legs, make([][]int16, 3), 25)
	<-done
	if toneAmp(heard[2], 1800) < 300 || toneAmp(heard[0], 1800) > 100 {
		t.Fatal("a member prompt is heard by others or not by its member")
	}
	members[1].Leave()
	if legs[1].feed != nil || legs[1].tap != nil || r.Members() != 2 {
		t.Fatal("Leave did not give the leg back")
	}
	check("1 left", [3][3]bool{{false, false, true}, {false, false, false}, {true, false, false}})
	// Silence: the talk stop events arrive after 500 ms.
	events = nil
	run(r, legs, make([][]int16, 3), 40)
	if len(events) != 2 || events[0] {
		t.Fatalf("talk events after silence %v; want two stops", events)
	}
}

func TestRoomClockAndClose(t *testing.T) {
	r := NewRoom(nil)
	l := &fakeLeg{}
	r.Join(l, MemberOptions{})
	r.Start()
	<-r.Play(audio.Tone(500, 100, -20)) // the clock plays it out
	r.Close()
	r.Close()
	select {
	case <-r.Play(nil):
	default:
		t.Fatal("Play on a closed room must not wait")
	}
}

// Stats counts frames mixed, a member's frames that had not arrived, and
// frames dropped because they piled up unmixed: what the SIP benchmark
// (voice's BenchmarkConferenceSIPp) judges "keeps up" by.
func TestRoomStats(t *testing.T) {
	r := &Room{taps: map[int]func([]int16){}, started: true}
	a, b := &fakeLeg{}, &fakeLeg{}
	r.Join(a, MemberOptions{})
	r.Join(b, MemberOptions{})
	f := make([]int16, frameSamples)
	for i := range 10 {
		a.tap(f) // a talks every frame, b never
		r.Tick()
		// a's call sends every frame, b's twice a frame (a clock running
		// ahead of the mixer): b hears a gap each frame.
		a.feed.Pop(f)
		b.feed.Pop(f)
		if i > 0 {
			b.feed.Pop(f)
		}
	}
	// Twelve frames at once: the in FIFO keeps five, so seven go.
	for range 12 {
		a.tap(f)
	}
	r.Tick()
	st := r.Stats()
	want := RoomStats{Ticks: 11, MemberFrames: 22, Missing: 11, Dropped: 7, Gaps: 9}
	if st != want {
		t.Fatalf("stats %+v; want %+v", st, want)
	}
}

// BenchmarkRoom mixes one 20 ms frame of a room of n talking members: the
// CPU per member is ns/op ÷ n, and 20 ms ÷ (ns/op) rooms of n fit one core.
func BenchmarkRoom(b *testing.B) {
	for _, n := range []int{3, 10, 50, 200} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			r := &Room{taps: map[int]func([]int16){}, started: true}
			legs := make([]*fakeLeg, n)
			tone := audio.Tone(440, 40, -20)
			for i := range legs {
				legs[i] = &fakeLeg{}
				r.Join(legs[i], MemberOptions{})
			}
			var f [frameSamples]int16
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				for _, l := range legs {
					l.tap(tone[:frameSamples])
				}
				r.Tick()
				for _, l := range legs {
					l.feed.Pop(f[:])
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/member")
		})
	}
}

// BenchmarkRoomClock runs an empty room on its own clock for 5 s per op and
// reports how many of its frames were mixed late (media.LateAfter) or
// skipped: the control for voice's BenchmarkConferenceSIPp, since what delays
// an empty room's goroutine is the machine (other processes), not mixing.
//
//	go test ./media -run xxx -bench RoomClock -benchtime 1x
func BenchmarkRoomClock(b *testing.B) {
	var st RoomStats
	for range b.N {
		r := NewRoom(nil)
		time.Sleep(5 * time.Second) // the clock runs in real time
		r.Close()
		x := r.Stats()
		st.Ticks += x.Ticks
		st.Late += x.Late
		st.Skipped += x.Skipped
		st.MaxLate = max(st.MaxLate, x.MaxLate)
	}
	b.ReportMetric(100*float64(st.Late+st.Skipped)/float64(max(1, st.Ticks+st.Skipped)), "late-%")
	b.ReportMetric(float64(st.MaxLate.Microseconds())/1000, "maxlate-ms")
}
