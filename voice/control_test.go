package voice_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/audio"
	"github.com/trunkline/trunkline/internal/peer"
	"github.com/trunkline/trunkline/internal/rtpobs"
	"github.com/trunkline/trunkline/store/storetest"
)

// Live-call control on a call SIPp placed: speak and DTMF are checked on the
// wire at the caller, record start/stop leaves a recording, a transfer runs
// the new URL's XML, and commands on a call that ended say so.
func TestLiveCallControl(t *testing.T) {
	peer.SIPp(t)
	peer.SIPpPcapPlay(t)
	dir := t.TempDir()
	db := storetest.Open(t)[0]
	files := newFiles(t, db, dir)
	s := newStackDB(t, db, stackOptions{recordings: recSink{files}})
	s.app.set("/answer", `<Response><Wait length="60"/></Response>`)
	s.app.set("/moved", `<Response><Speak>You were transferred</Speak><Hangup/></Response>`)
	s.app.set("/hangup", "ok")
	s.app.set("/rec", "ok")
	obs := rtpobs.Listen(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	run, err := peer.StartSIPp(ctx, t, peer.SIPpOptions{Scenario: peer.SIPpScenario(t, "uac_ivr.xml"), Remote: s.srv.Addr().String(),
		Service: s.number, Calls: 1, Timeout: 50 * time.Second,
		Keys: map[string]string{"obs_ip": obs.IP(), "obs_port": strconv.Itoa(obs.Port()), "pre_dtmf_ms": "100", "hold_ms": "0"}})
	if err != nil {
		t.Fatal(err)
	}
	s.app.wait(t, "/answer", 10*time.Second)
	var uuid string
	for deadline := time.Now().Add(5 * time.Second); uuid == ""; {
		for _, l := range s.srv.LiveCalls(func(trunkline.LiveCall) bool { return true }) {
			uuid = l.CallUUID
		}
		if time.Now().After(deadline) {
			t.Fatal("the call is not live")
		}
	}
	if err := obs.WaitPackets(ctx, 20); err != nil {
		t.Fatal(err)
	}
	rec, err := s.srv.Command(ctx, uuid, trunkline.CallCommand{Kind: "record", FileFormat: "wav", CallbackURL: s.app.url("/rec"), CallbackMethod: "POST"})
	if err != nil || rec.RecordingID == "" {
		t.Fatalf("record: %+v %v", rec, err)
	}
	// Play a WAV over the call, then stop it: the caller hears the tone.
	mux := http.NewServeMux()
	mux.HandleFunc("/tone.wav", func(w http.ResponseWriter, r *http.Request) { audio.WriteWAV(w, audio.Tone(900, 3000, -10)) })
	media := newMediaServer(t, mux)
	mark := len(obs.PCM())
	if _, err := s.srv.Command(ctx, uuid, trunkline.CallCommand{Kind: "play", URLs: []string{media + "/tone.wav"}}); err != nil {
		t.Fatal(err)
	}
	obs.Wait(ctx, func() bool { return len(obs.PCM()) > mark+8000 })
	if f := speechFraction(obs.PCM()[mark:]); f < 0.5 {
		t.Fatalf("the played tone is in %.0f%% of the caller's audio", f*100)
	}
	if _, err := s.srv.Command(ctx, uuid, trunkline.CallCommand{Kind: "stop_play"}); err != nil {
		t.Fatal(err)
	}
	before := len(obs.PCM())
	if _, err := s.srv.Command(ctx, uuid, trunkline.CallCommand{Kind: "speak", Text: "This is a live announcement", Language: "en-US"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.srv.Command(ctx, uuid, trunkline.CallCommand{Kind: "dtmf", Digits: "42"}); err != nil {
		t.Fatal(err)
	}
	obs.Wait(ctx, func() bool { return len(obs.PCM()) > before+8000*2 })
	if f := speechFraction(obs.PCM()[before:]); f < 0.3 {
		t.Fatalf("speech in %.0f%% after the speak command", f*100)
	}
	if got := obs.DigitsPT(101); got != "42" {
		t.Fatalf("the caller got %q as telephone-events, want 42", got)
	}
	if _, err := s.srv.Command(ctx, uuid, trunkline.CallCommand{Kind: "stop_record"}); err != nil {
		t.Fatal(err)
	}
	cb := s.app.wait(t, "/rec", 15*time.Second)
	if cb.Get("recording_id") != rec.RecordingID || cb.Get("call_uuid") != uuid {
		t.Fatalf("recording callback %v", cb)
	}
	r, err := db.GetRecording(ctx, trunkline.Scope{AccountID: s.acct.Account.ID}, rec.RecordingID)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := files.Open(ctx, r.AccountID, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(rc)
	rc.Close()
	pcm, err := audio.Decode(bytes.NewReader(plain), 1<<24)
	if err != nil || speechFraction(pcm) < 0.2 {
		t.Fatalf("the live recording does not hold the announcement (%v)", err)
	}
	// Transfer: the running <Wait> stops and the new XML runs.
	if _, err := s.srv.Command(ctx, uuid, trunkline.CallCommand{Kind: "transfer", URL: s.app.url("/moved")}); err != nil {
		t.Fatal(err)
	}
	s.app.wait(t, "/moved", 10*time.Second)
	hp := s.app.wait(t, "/hangup", 15*time.Second)
	if hp.Get("HangupSource") != "Answer XML" {
		t.Fatalf("hangup %v", hp)
	}
	res, _ := run.Wait()
	if res == nil || res.Successful != 1 {
		t.Fatalf("sipp: %v", res)
	}
	// The call has ended: every command says so.
	if _, err := s.srv.Command(ctx, uuid, trunkline.CallCommand{Kind: "speak", Text: "x"}); err != trunkline.ErrNoLiveCall {
		t.Fatalf("command on an ended call: %v", err)
	}
	if s.srv.Hangup(uuid) {
		t.Fatal("hangup of an ended call succeeded")
	}
}
