package voice_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/trunkline/trunkline/audio"
	"github.com/trunkline/trunkline/internal/peer"
	"github.com/trunkline/trunkline/media"
	"github.com/trunkline/trunkline/voice"
)

// BenchmarkConferenceSIPp puts SIPp callers into <Conference> rooms, every
// caller sending a looped tone over RTP the whole time, and measures over a
// window of steady state, with audio flowing both ways through real SIP legs:
//
//   - cpu-ms/s/member: the process's CPU (user+system, getrusage) per second
//     per participant: the SIP legs, RTP in and out, G.711, the mixer. SIPp
//     runs in its own process and is not counted; the process also holds the
//     test's answer server, idle during the window.
//   - missing-%: member-frames whose audio had not arrived when mixed (the
//     RTP reader fell behind, or the sender was late), of all member-frames.
//   - dropped-%: member-frames of callers' audio thrown away because they
//     piled up unmixed.
//   - gaps-%: member-frames a call was to send its caller while the mix for
//     it was not ready (the caller hears a gap), of all member-frames.
//   - late-%: the mixers' frames mixed more than media.LateAfter (10 ms)
//     after their 20 ms tick was due, or skipped, of all frames mixed; and
//     maxlate-ms, the latest since the rooms opened. A cause, not what
//     callers hear: a late frame is no gap while the call's queue has one.
//   - keeps-up: 1 when the room(s) keep up: every caller joined and stayed,
//     and missing-%, dropped-% and gaps-% are each at most 1 %; else 0.
//
// The sub-benchmarks step the participant count: "room" puts them all in
// one room (Plivo's maxMembers ceiling of 20 is lifted for it, through a
// test hook), "rooms10" in rooms of 10. The largest count with keeps-up=1
// is the figure. Run it alone, once per count:
//
//	go test ./voice -run xxx -bench ConferenceSIPp -benchtime 1x -timeout 30m
//
// TRUNKLINE_BENCH_ROOM and TRUNKLINE_BENCH_ROOMS10 replace the counts
// (space-separated, "" skips that series); TRUNKLINE_BENCH_WINDOW the
// window (default 10s). Needs SIPp (Debian sip-tester); everything is on
// 127.0.0.1.
func BenchmarkConferenceSIPp(b *testing.B) {
	peer.SIPp(b)
	series := []struct {
		name    string
		env     string
		perRoom int // 0: one room
		counts  string
	}{
		{"room", "TRUNKLINE_BENCH_ROOM", 0, "50 100 200 400 600 800"},
		{"rooms10", "TRUNKLINE_BENCH_ROOMS10", 10, "100 200 400 600 800"},
	}
	window := 10 * time.Second
	if v := os.Getenv("TRUNKLINE_BENCH_WINDOW"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatalf("TRUNKLINE_BENCH_WINDOW: %v", err)
		}
		window = d
	}
	for _, s := range series {
		counts := s.counts
		if v, ok := os.LookupEnv(s.env); ok {
			counts = v
		}
		best := 0
		for _, f := range strings.Fields(counts) {
			n, err := strconv.Atoi(f)
			if err != nil || n < 2 {
				b.Fatalf("%s: %q is no participant count", s.env, f)
			}
			rooms := 1
			if s.perRoom > 0 {
				rooms = (n + s.perRoom - 1) / s.perRoom
			}
			b.Run(fmt.Sprintf("%s/members=%d", s.name, n), func(b *testing.B) {
				for range b.N {
					if confBench(b, n, rooms, window) {
						best = max(best, n)
					}
				}
			})
		}
		if counts != "" {
			// Printed, not logged: the figure is the benchmark's output.
			fmt.Printf("conference %s: the most participants that kept up: %d (of %s)\n", s.name, best, counts)
		}
	}
}

// confBench runs one step: n SIPp callers in rooms rooms (round robin). It
// reports the metrics and whether the rooms kept up.
func confBench(b *testing.B, n, rooms int, window time.Duration) bool {
	b.StopTimer()
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s := newStack(b, stackOptions{rtpTimeout: 5 * time.Minute, logger: quiet})
	voice.LiftConferenceCeiling(s.srv, n)
	var mu sync.Mutex
	next := 0
	s.app.reply = func(path string, _ url.Values) (string, bool) {
		if path != "/answer" {
			return "", false
		}
		mu.Lock()
		room := next % rooms
		next++
		mu.Unlock()
		return fmt.Sprintf(`<Response><Conference maxMembers="20" stayAlone="true">bench-%d</Conference></Response>`, room), true
	}
	s.app.set("/hangup", "ok")

	// What the server sends the callers goes to a socket nobody reads: the
	// kernel drops it once its buffer is full, at no cost to either side.
	sink, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer sink.Close()
	dir := b.TempDir()
	tone := filepath.Join(dir, "tone.ulaw")
	if err := os.WriteFile(tone, audio.EncodeMulaw(nil, audio.Tone(500, 1000, -30)), 0o600); err != nil {
		b.Fatal(err)
	}
	const rate = 100 // calls per second while ramping up
	ramp := time.Duration(n/rate+1) * time.Second
	settle := 2 * time.Second
	join := ramp + 30*time.Second
	talk := join + settle + window + 10*time.Second
	ctx, cancel := context.WithTimeout(context.Background(), talk+2*time.Minute)
	defer cancel()
	run, err := peer.StartSIPp(ctx, b, peer.SIPpOptions{
		Scenario: peer.SIPpScenario(b, "uac_record.xml"), Remote: s.srv.Addr().String(), Service: s.number,
		Calls: n, Rate: rate, CallLimit: n, RecvTimeout: 30 * time.Second, Timeout: talk + time.Minute,
		Keys: map[string]string{
			"obs_ip": "127.0.0.1", "obs_port": strconv.Itoa(sink.LocalAddr().(*net.UDPAddr).Port),
			"pre_audio_ms": "0", "caller_stream": tone + ",-1,0", "audio_ms": strconv.Itoa(int(talk.Milliseconds())),
			"pound": "0", "hold_ms": "150",
		},
	})
	if err != nil {
		b.Fatalf("sipp: %v", err)
	}
	acct := s.acct.Account.ID

	// Wait until every caller is in a room (bounded), then let the rooms
	// settle: the first frames of a leg are missing until its RTP starts.
	joined := 0
	tk := time.NewTicker(100 * time.Millisecond)
	deadline := time.After(join)
wait:
	for {
		if _, joined = voice.ConferenceRoomStats(s.srv, acct); joined >= n {
			break
		}
		select {
		case <-tk.C:
		case <-deadline:
			break wait
		case <-run.Done():
			break wait
		}
	}
	tk.Stop()
	time.Sleep(settle) // steady state: the measurement is of audio flowing

	st0, _ := voice.ConferenceRoomStats(s.srv, acct)
	cpu0 := cpuTime(b)
	t0 := time.Now()
	b.StartTimer()
	time.Sleep(window) // the window: real time with n callers talking
	b.StopTimer()
	el := time.Since(t0)
	cpu := cpuTime(b) - cpu0
	st1, inRooms := voice.ConferenceRoomStats(s.srv, acct)

	// The server hangs every caller up (SIPp's calls then count as failed:
	// a BYE during their audio is unexpected to uac_record.xml).
	s.srv.HangupConferences(acct)
	select {
	case <-run.Done():
	case <-time.After(30 * time.Second):
		run.Terminate()
	}
	run.Wait()
	// The calls end before the next step starts, so it does not pay for them.
	for end := time.Now().Add(time.Minute); s.srv.Active() > 0 && time.Now().Before(end); {
		time.Sleep(50 * time.Millisecond)
	}

	d := media.RoomStats{Ticks: st1.Ticks - st0.Ticks, Late: st1.Late - st0.Late, Skipped: st1.Skipped - st0.Skipped,
		MemberFrames: st1.MemberFrames - st0.MemberFrames, Missing: st1.Missing - st0.Missing, Dropped: st1.Dropped - st0.Dropped,
		Gaps: st1.Gaps - st0.Gaps}
	pct := func(a, of int64) float64 {
		if of == 0 {
			return 100
		}
		return 100 * float64(a) / float64(of)
	}
	late := pct(d.Late+d.Skipped, d.Ticks+d.Skipped)
	missing := pct(d.Missing, d.MemberFrames)
	dropped := pct(d.Dropped, d.MemberFrames)
	gaps := pct(d.Gaps, d.MemberFrames)
	perMember := cpu.Seconds() * 1000 / el.Seconds() / float64(n)
	ok := joined >= n && inRooms >= n && missing <= 1 && dropped <= 1 && gaps <= 1
	b.ReportMetric(perMember, "cpu-ms/s/member")
	b.ReportMetric(100*cpu.Seconds()/el.Seconds(), "cpu-%core")
	b.ReportMetric(late, "late-%")
	b.ReportMetric(missing, "missing-%")
	b.ReportMetric(dropped, "dropped-%")
	b.ReportMetric(gaps, "gaps-%")
	b.ReportMetric(float64(st1.MaxLate.Microseconds())/1000, "maxlate-ms")
	b.ReportMetric(float64(inRooms), "members")
	verdict := 0.0
	if ok {
		verdict = 1
	}
	b.ReportMetric(verdict, "keeps-up")
	// The machine's load as the window ends: on a shared machine, late
	// frames at low CPU are the neighbours' doing.
	if raw, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(raw)); len(f) > 0 {
			if v, err := strconv.ParseFloat(f[0], 64); err == nil {
				b.ReportMetric(v, "loadavg")
			}
		}
	}
	return ok
}

// cpuTime is the process's CPU time so far, user and system.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
