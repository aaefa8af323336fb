package voice_test

import (
	"bytes"
	"context"
	"io"
	"math"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/audio"
	"github.com/trunkline/trunkline/store/storetest"
	"github.com/trunkline/trunkline/voice"
)

// toneAmp is the amplitude of the freq Hz component of pcm (a Goertzel
// filter): how loud one caller's tone is in what another hears.
func toneAmp(pcm []int16, freq float64) float64 {
	if len(pcm) == 0 {
		return 0
	}
	coef := 2 * math.Cos(2*math.Pi*freq/audio.SampleRate)
	var s1, s2 float64
	for _, v := range pcm {
		s0 := float64(v) + coef*s1 - s2
		s2, s1 = s1, s0
	}
	return 2 * math.Sqrt(max(s1*s1+s2*s2-coef*s1*s2, 0)) / float64(len(pcm))
}

// talkTone keeps p saying a tone until stop closes (diago paces the writes).
func talkTone(t *testing.T, p *phone, freq float64, stop <-chan struct{}, wg *sync.WaitGroup) {
	w, err := p.med.AudioWriter()
	if err != nil {
		t.Error(err)
		return
	}
	tone := audio.EncodeMulaw(nil, audio.Tone(freq, 1000, -20))
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i = (i + 160) % len(tone) {
			select {
			case <-stop:
				return
			case <-p.d.Context().Done():
				return
			default:
			}
			if _, err := w.Write(tone[i : i+160]); err != nil {
				return
			}
		}
	}()
}

// window waits d and returns what p heard in it.
func (p *phone) window(d time.Duration) []int16 {
	p.mu.Lock()
	from := len(p.heard)
	p.mu.Unlock()
	time.Sleep(d) // real audio for d: the measurement needs that much signal
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int16(nil), p.heard[from:]...)
}

// Three diago callers in one room, each saying its own tone: each hears the
// other two and not itself; mute and deaf change that; a kick ends one leg
// (its XML goes on to the action URL); the room's recording holds all
// three; the callbackUrl gets Plivo's ConferenceAction events.
func TestConferenceThreeCallers(t *testing.T) {
	dir := t.TempDir()
	db := storetest.Open(t)[0]
	files := newFiles(t, db, dir)
	s := newStackDB(t, db, stackOptions{recordings: recSink{files}})
	s.app.set("/answer", `<Response><Conference callbackUrl="`+s.app.url("/confcb")+`" action="`+s.app.url("/confaction")+
		`" record="true" recordFileFormat="wav" floorEvent="true">Team Room</Conference></Response>`)
	s.app.set("/confcb", "ok")
	s.app.set("/confaction", `<Response><Speak>bye</Speak></Response>`)
	s.app.set("/hangup", "ok")
	acct := s.acct.Account.ID

	freqs := []float64{450, 750, 1250}
	phones := make([]*phone, 3)
	ids := make([]string, 3)
	var uuid string
	for i := range phones {
		p, err := call(t, s, s.number)
		if err != nil {
			t.Fatal(err)
		}
		phones[i] = p
		ev := s.app.wait(t, "/confcb", 10*time.Second)
		if ev.Get("ConferenceAction") != "enter" || ev.Get("ConferenceName") != "Team Room" || ev.Get("CallUUID") == "" {
			t.Fatalf("enter callback: %v", ev)
		}
		if uuid == "" {
			uuid = ev.Get("ConferenceUUID")
		} else if ev.Get("ConferenceUUID") != uuid {
			t.Fatalf("two rooms: %s and %s", uuid, ev.Get("ConferenceUUID"))
		}
		ids[i] = ev.Get("ConferenceMemberID")
	}
	conf, err := s.srv.Conference(acct, "Team Room")
	if err != nil || len(conf.Members) != 3 {
		t.Fatalf("conference: %+v %v", conf, err)
	}
	if _, err := s.srv.Conference("MAOTHERACCOUNT", "Team Room"); trunkline.ErrorCode(err) != trunkline.ENOTFOUND {
		t.Fatalf("another account sees the room: %v", err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer func() { close(stop); wg.Wait() }()
	for i, p := range phones {
		talkTone(t, p, freqs[i], stop, &wg)
	}
	// The floor goes to someone who talks.
	waitAction(t, s, "floor", "")
	check := func(name string, want [3][3]bool) {
		t.Helper()
		time.Sleep(300 * time.Millisecond) // the change reaches the wire
		heard := make([][]int16, 3)
		var hw sync.WaitGroup
		for i, p := range phones {
			hw.Add(1)
			go func() { defer hw.Done(); heard[i] = p.window(1200 * time.Millisecond) }()
		}
		hw.Wait()
		for i := range phones {
			for j, f := range freqs {
				a := toneAmp(heard[i], f)
				if got := a > 800; got != want[i][j] {
					t.Fatalf("%s: caller %d hears %.0f Hz at amplitude %.0f over %d samples; want heard=%v", name, i, f, a, len(heard[i]), want[i][j])
				}
				if want[i][j] == false && a > 300 {
					t.Fatalf("%s: caller %d hears %.0f Hz faintly (%.0f); want nothing", name, i, f, a)
				}
			}
		}
	}
	check("all talking", [3][3]bool{{false, true, true}, {true, false, true}, {true, true, false}})

	ctx := context.Background()
	cmd := func(kind string, i int) {
		t.Helper()
		res, err := s.srv.ConferenceCommand(ctx, acct, "Team Room", trunkline.ConferenceCommand{Kind: kind, Members: []string{ids[i]}})
		if err != nil || len(res.MemberIDs) != 1 {
			t.Fatalf("%s %s: %+v %v", kind, ids[i], res, err)
		}
	}
	cmd("mute", 0)
	check("caller 0 muted", [3][3]bool{{false, true, true}, {false, false, true}, {false, true, false}})
	conf, _ = s.srv.Conference(acct, "Team Room")
	if !conf.Members[0].Muted || conf.Members[1].Muted {
		t.Fatalf("mute state: %+v", conf.Members)
	}
	cmd("unmute", 0)
	cmd("deaf", 1)
	check("caller 1 deaf", [3][3]bool{{false, true, true}, {false, false, false}, {true, true, false}})
	cmd("undeaf", 1)
	if _, err := s.srv.ConferenceCommand(ctx, acct, "Team Room", trunkline.ConferenceCommand{Kind: "kick", Members: []string{"99"}}); trunkline.ErrorCode(err) != trunkline.ENOTFOUND {
		t.Fatalf("kick of an unknown member: %v", err)
	}
	cmd("kick", 2)
	// The kicked caller's XML goes on: the action URL with Plivo's fields,
	// then its document (a Speak) and the end of the call.
	act := s.app.wait(t, "/confaction", 10*time.Second)
	if act.Get("ConferenceName") != "Team Room" || act.Get("ConferenceUUID") != uuid || act.Get("ConferenceMemberID") != ids[2] || act.Get("RecordingID") == "" {
		t.Fatalf("action: %v", act)
	}
	phones[2].ended(t, 15*time.Second)
	check("caller 2 kicked", [3][3]bool{{false, true, false}, {true, false, false}, {false, false, false}})
	if ev := waitAction(t, s, "exit", ids[2]); ev.Get("ConferenceUUID") != uuid || ev.Get("CallUUID") == "" {
		t.Fatalf("exit event: %v", ev)
	}
	phones[0].hangup()
	phones[1].hangup()
	rec := waitAction(t, s, "record", "")
	for _, k := range []string{"RecordUrl", "RecordingID", "RecordingDuration", "RecordingDurationMs", "RecordingStartMs", "RecordingEndMs"} {
		if rec.Get(k) == "" {
			t.Fatalf("record callback lacks %s: %v", k, rec)
		}
	}
	if names := s.srv.Conferences(acct); len(names) != 0 {
		t.Fatalf("rooms left: %v", names)
	}
	r, err := db.GetRecording(ctx, trunkline.Scope{AccountID: acct}, rec.Get("RecordingID"))
	if err != nil || r.Type != "conference" {
		t.Fatalf("recording %+v %v", r, err)
	}
	rc, err := files.Open(ctx, acct, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(rc)
	rc.Close()
	pcm, err := audio.Decode(bytes.NewReader(plain), 1<<26)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range freqs {
		if a := toneAmp(pcm, f); a < 300 {
			t.Fatalf("the recording (%d ms) holds %.0f Hz at %.0f; want all three callers", r.DurationMs, f, a)
		}
	}
}

// waitAction returns the first callbackUrl request with ConferenceAction
// action (and member id, when not ""), polling what the app got: other
// waits consume the app's request stream.
func waitAction(t *testing.T, s *stack, action, member string) url.Values {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		s.app.mu.Lock()
		hits := slices.Clone(s.app.hit["/confcb"])
		s.app.mu.Unlock()
		for _, ev := range hits {
			if ev.Get("ConferenceAction") == action && (member == "" || ev.Get("ConferenceMemberID") == member) {
				return ev
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no %s callback", action)
	return nil
}

// slowSink stores recordings as recSink does, each taking a while to
// close (a slow disk or object store): what a save in flight at shutdown
// looks like.
type slowSink struct {
	recSink
	delay time.Duration
}

type slowWriter struct {
	voice.RecordingWriter
	delay time.Duration
}

func (s slowSink) Create(ctx context.Context, a, id string) (voice.RecordingWriter, error) {
	w, err := s.recSink.Create(ctx, a, id)
	if err != nil {
		return nil, err
	}
	return slowWriter{w, s.delay}, nil
}

func (w slowWriter) Close() error {
	time.Sleep(w.delay) // the slow store the test stands in for
	return w.RecordingWriter.Close()
}

// A room recording under way when the node stops is stored before
// Shutdown returns (it used to be saved by a goroutine nobody waited for,
// lost when the process exited).
func TestConferenceRecordingSurvivesShutdown(t *testing.T) {
	dir := t.TempDir()
	db := storetest.Open(t)[0]
	files := newFiles(t, db, dir)
	s := newStackDB(t, db, stackOptions{recordings: slowSink{recSink{files}, time.Second}})
	s.app.set("/answer", `<Response><Conference callbackUrl="`+s.app.url("/confcb")+`">Night Shift</Conference></Response>`)
	s.app.set("/confcb", "ok")
	s.app.set("/hangup", "ok")
	acct := s.acct.Account.ID
	p, err := call(t, s, s.number)
	if err != nil {
		t.Fatal(err)
	}
	if ev := s.app.wait(t, "/confcb", 10*time.Second); ev.Get("ConferenceAction") != "enter" {
		t.Fatalf("enter callback: %v", ev)
	}
	ctx := context.Background()
	s.app.set("/transcribed", "ok")
	res, err := s.srv.ConferenceCommand(ctx, acct, "Night Shift", trunkline.ConferenceCommand{Kind: "record", FileFormat: "wav",
		TranscriptionURL: s.app.url("/transcribed"), TranscriptionMethod: "POST"})
	if err != nil || res.RecordingID == "" {
		t.Fatalf("record: %+v %v", res, err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	talkTone(t, p, 600, stop, &wg)
	p.window(time.Second) // a second of the caller in the recording
	// Shutdown drains calls until sctx ends, then hangs them up.
	sctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	s.srv.Shutdown(sctx)
	close(stop)
	wg.Wait()
	r, err := db.GetRecording(ctx, trunkline.Scope{AccountID: acct}, res.RecordingID)
	if err != nil {
		t.Fatalf("the recording was not stored by the time Shutdown returned: %v", err)
	}
	rc, err := files.Open(ctx, acct, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(rc)
	rc.Close()
	pcm, err := audio.Decode(bytes.NewReader(plain), 1<<26)
	if err != nil {
		t.Fatal(err)
	}
	if a := toneAmp(pcm, 600); a < 300 {
		t.Fatalf("the recording (%d ms) holds the caller's tone at %.0f; want it", r.DurationMs, a)
	}
	// The API's transcription_url gets the no-transcription callback too.
	if tr := s.app.wait(t, "/transcribed", 10*time.Second); tr.Get("recording_id") != r.ID || tr.Get("error") == "" {
		t.Fatalf("transcription callback %v", tr)
	}
}

// record="true" records from the second member on, unless recordWhenAlone
// is true; a transcriptionUrl is told, with Plivo's error field, that no
// transcription follows (there is no speech recogniser here); beep="true"
// beeps a member in.
func TestConferenceRecordWhenAlone(t *testing.T) {
	for _, alone := range []bool{false, true} {
		t.Run("recordWhenAlone="+strconv.FormatBool(alone), func(t *testing.T) {
			dir := t.TempDir()
			db := storetest.Open(t)[0]
			files := newFiles(t, db, dir)
			s := newStackDB(t, db, stackOptions{recordings: recSink{files}})
			s.app.set("/answer", `<Response><Conference callbackUrl="`+s.app.url("/confcb")+`" record="true" recordFileFormat="wav" beep="true"`+
				` recordWhenAlone="`+strconv.FormatBool(alone)+`" transcriptionType="auto" transcriptionUrl="`+s.app.url("/transcribed")+`">Solo</Conference></Response>`)
			s.app.set("/confcb", "ok")
			s.app.set("/transcribed", "ok")
			s.app.set("/hangup", "ok")
			acct := s.acct.Account.ID
			p, err := call(t, s, s.number)
			if err != nil {
				t.Fatal(err)
			}
			if ev := waitAction(t, s, "enter", ""); ev.Get("ConferenceName") != "Solo" {
				t.Fatalf("enter callback: %v", ev)
			}
			// beep="true": the member hears the entry beep (beep:1, 880 Hz).
			if a := toneAmp(p.listen(t, 600*time.Millisecond), 880); a < 300 {
				t.Fatalf("no entry beep: 880 Hz at %.0f", a)
			}
			p.d.Hangup(context.Background())
			waitAction(t, s, "exit", "")
			// Shutdown waits for recordings being stored: after it, what
			// was recorded is in the store.
			sctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			s.srv.Shutdown(sctx)
			recs, n, err := db.ListRecordings(context.Background(), trunkline.Scope{AccountID: acct}, trunkline.RecordingFilter{Limit: 20})
			if err != nil {
				t.Fatal(err)
			}
			if !alone {
				if n != 0 {
					t.Fatalf("a lone member was recorded without recordWhenAlone: %d recordings", n)
				}
				s.app.mu.Lock()
				got := s.app.hit["/transcribed"]
				s.app.mu.Unlock()
				if len(got) != 0 {
					t.Fatalf("transcriptionUrl told of a recording that was never made: %v", got)
				}
				return
			}
			if n != 1 || len(recs) != 1 || recs[0].Type != "conference" {
				t.Fatalf("recordings %d %+v; want the lone member's", n, recs)
			}
			tr := s.app.wait(t, "/transcribed", 10*time.Second)
			if tr.Get("recording_id") != recs[0].ID || tr.Get("error") == "" || tr.Get("transcription") != "" || tr.Get("call_uuid") == "" {
				t.Fatalf("transcriptionUrl got %v; want the recording's id and an error", tr)
			}
		})
	}
}

// A member kicked or hung up by the API is gone from the room's listing
// as soon as the request returns (Plivo's SDK checks with conferences.get
// right after; the member's call leaves the room on its own goroutine).
func TestConferenceKickIsImmediate(t *testing.T) {
	s := newStack(t, stackOptions{})
	s.app.set("/answer", `<Response><Conference callbackUrl="`+s.app.url("/confcb")+`">Desk</Conference></Response>`)
	s.app.set("/confcb", "ok")
	s.app.set("/hangup", "ok")
	acct := s.acct.Account.ID
	for i := range 3 {
		if _, err := call(t, s, s.number); err != nil {
			t.Fatal(err)
		}
		waitAction(t, s, "enter", strconv.Itoa(i+1))
	}
	ctx := context.Background()
	for _, kind := range []string{"kick", "hangup"} {
		member := map[string]string{"kick": "3", "hangup": "2"}[kind]
		if _, err := s.srv.ConferenceCommand(ctx, acct, "Desk", trunkline.ConferenceCommand{Kind: kind, Members: []string{member}}); err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		conf, err := s.srv.Conference(acct, "Desk")
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range conf.Members {
			if m.ID == member {
				t.Fatalf("member %s still listed right after %s: %+v", member, kind, conf.Members)
			}
		}
		if _, err := s.srv.ConferenceCommand(ctx, acct, "Desk", trunkline.ConferenceCommand{Kind: "mute", Members: []string{member}}); trunkline.ErrorCode(err) != trunkline.ENOTFOUND {
			t.Fatalf("mute of the %s member: %v; want not found", kind, err)
		}
	}
	// Hang the room up so the calls end (Shutdown would drain them first).
	if err := s.srv.HangupConference(acct, "Desk"); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, s)
}
