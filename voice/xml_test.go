package voice_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/emiago/sipgo"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/audio"
	"github.com/trunkline/trunkline/internal/peer"
	"github.com/trunkline/trunkline/internal/rtpobs"
	"github.com/trunkline/trunkline/store/storetest"
)

// GetDigits: a key outside validDigits plays invalidDigitsSound and uses a
// retry; finishOnKey ends the input and is not part of Digits.
func TestGetDigitsRetriesValidFinish(t *testing.T) {
	s := newStack(t, stackOptions{})
	mux := http.NewServeMux()
	played := make(chan struct{}, 4)
	mux.HandleFunc("/invalid.wav", func(w http.ResponseWriter, r *http.Request) {
		played <- struct{}{}
		audio.WriteWAV(w, audio.Tone(800, 300, -12))
	})
	media := newMediaServer(t, mux)
	s.app.set("/answer", `<Response><GetDigits action="`+s.app.url("/digits")+`" numDigits="5" finishOnKey="#" validDigits="123#" retries="2" timeout="10" invalidDigitsSound="`+media+`/invalid.wav"><Speak>Enter</Speak></GetDigits><Speak>Bye</Speak></Response>`)
	s.app.set("/digits", `<Response><Hangup/></Response>`)
	s.app.set("/hangup", "ok")
	p, err := call(t, s, s.number)
	if err != nil {
		t.Fatal(err)
	}
	p.listen(t, 300*time.Millisecond)
	p.press(t, "9")
	select {
	case <-played:
	case <-time.After(10 * time.Second):
		t.Fatal("invalidDigitsSound was not fetched after an invalid key")
	}
	p.listen(t, 1500*time.Millisecond) // the invalid sound, then the prompt again
	p.press(t, "12#")
	if got := s.app.wait(t, "/digits", 10*time.Second).Get("Digits"); got != "12" {
		t.Fatalf("Digits=%q, want 12 (no #)", got)
	}
	p.ended(t, 10*time.Second)
}

// No input after the retries: the next element runs, no action request.
func TestGetDigitsNoInput(t *testing.T) {
	s := newStack(t, stackOptions{})
	s.app.set("/answer", `<Response><GetDigits action="`+s.app.url("/digits")+`" timeout="1" retries="2"><Speak>Enter</Speak></GetDigits><Redirect>`+s.app.url("/after")+`</Redirect></Response>`)
	s.app.set("/after", `<Response><Hangup/></Response>`)
	s.app.set("/hangup", "ok")
	p, err := call(t, s, s.number)
	if err != nil {
		t.Fatal(err)
	}
	s.app.wait(t, "/after", 20*time.Second)
	p.ended(t, 10*time.Second)
	s.app.mu.Lock()
	n := len(s.app.hit["/digits"])
	s.app.mu.Unlock()
	if n != 0 {
		t.Fatalf("the action URL was called %d times without input", n)
	}
}

// Hangup as the first element rejects the call unanswered, with the SIP
// status its reason asks for; after PreAnswer the call had early media.
func TestRejectAndPreAnswer(t *testing.T) {
	cases := []struct {
		name, xml string
		code      int
		cause     int
	}{
		{"busy", `<Response><Hangup reason="busy"/></Response>`, 486, 3000},
		{"rejected", `<Response><Hangup reason="rejected"/></Response>`, 603, 3010},
		{"early media then busy", `<Response><PreAnswer><Speak>The number you called is busy</Speak></PreAnswer><Hangup reason="busy"/></Response>`, 486, 3000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newStack(t, stackOptions{})
			s.app.set("/answer", tc.xml)
			s.app.set("/hangup", "ok")
			_, err := call(t, s, s.number)
			var re *sipgo.ErrDialogResponse
			if !errors.As(err, &re) || re.Res.StatusCode != tc.code {
				t.Fatalf("got %v, want %d", err, tc.code)
			}
			c := lastCall(t, s)
			if c.HangupCauseCode != tc.cause || c.AnsweredAt != nil || c.BillDuration != 0 {
				t.Fatalf("cdr %+v", c)
			}
		})
	}
}

// Record ends on the silence timeout, measured on the wall clock: the caller
// talks, then stops sending audio altogether.
func TestRecordSilenceTimeoutAndMP3(t *testing.T) {
	peer.Program(t, "lame")
	dir := t.TempDir()
	db := storetest.Open(t)[0]
	files := newFiles(t, db, dir)
	s := newStackDB(t, db, stackOptions{recordings: recSink{files}})
	s.app.set("/answer", `<Response><Record action="`+s.app.url("/recorded")+`" fileFormat="mp3" maxLength="30" timeout="2" playBeep="false"/></Response>`)
	s.app.set("/recorded", `<Response><Hangup/></Response>`)
	s.app.set("/hangup", "ok")
	p, err := call(t, s, s.number)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	p.talk(t, audio.Tone(700, 1500, -12))
	got := s.app.wait(t, "/recorded", 15*time.Second)
	if el := time.Since(start); el > 6*time.Second {
		t.Fatalf("Record took %v to end on 2 s of silence", el)
	}
	if got.Get("Digits") != "" || got.Get("RecordUrl") == "" {
		t.Fatalf("record action %v", got)
	}
	rec, err := db.GetRecording(context.Background(), trunkline.Scope{AccountID: s.acct.Account.ID}, got.Get("RecordingID"))
	if err != nil || rec.Format != "mp3" {
		t.Fatalf("recording %+v %v", rec, err)
	}
	checkRecording(t, files, rec, dir, 1.5)
}

// <DTMF> sends RFC 4733 events the caller receives (seen on the wire).
func TestDTMFElement(t *testing.T) {
	peer.SIPp(t)
	peer.SIPpPcapPlay(t)
	s := newStack(t, stackOptions{})
	s.app.set("/answer", `<Response><DTMF async="false">159#</DTMF><Wait length="4"/><Hangup/></Response>`)
	obs := rtpobs.Listen(t)
	res := runSIPp(t, s, "uac_ivr.xml", map[string]string{"obs_ip": obs.IP(), "obs_port": strconv.Itoa(obs.Port()), "pre_dtmf_ms": "100", "hold_ms": "0"})
	if res.Successful != 1 {
		t.Fatalf("sipp: %s", res)
	}
	if got := obs.DigitsPT(101); got != "159#" {
		t.Fatalf("the caller received %q as telephone-events; want 159#", got)
	}
}
