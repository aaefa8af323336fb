package voice_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/diago"
	"github.com/emiago/sipgo/sip"

	"github.com/trunkline/trunkline/audio"
	"github.com/trunkline/trunkline/internal/peer"
)

// dialer is a SIP phone built on diago: a second, independent SIP stack
// calling the server the way a trunk would.
func dialer(t *testing.T) *diago.Diago { return peer.DiagoPhone(t, "test-phone") }

func TestDiagoIVR(t *testing.T) {
	s := newStack(t, stackOptions{})
	s.app.set("/answer", `<Response><GetDigits action="`+s.app.url("/digits")+`" numDigits="4" timeout="10"><Speak>Please enter your four digit PIN</Speak></GetDigits><Speak>No input</Speak></Response>`)
	s.app.set("/digits", `<Response><Speak language="de-DE">Danke</Speak><Hangup/></Response>`)
	s.app.set("/hangup", `ok`)

	dg := dialer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	uri := sip.Uri{User: s.number, Host: "127.0.0.1", Port: int(s.srv.Addr().Port())}
	d, med, err := dg.Invite(ctx, uri, diago.InviteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ans := s.app.wait(t, "/answer", 5*time.Second)
	if ans.Get("CallStatus") != "ringing" || ans.Get("To") != s.number || ans.Get("Direction") != "inbound" {
		t.Fatalf("answer params: %v", ans)
	}
	// Hear the prompt: read 1 s of audio and measure it.
	r, err := med.AudioReader()
	if err != nil {
		t.Fatal(err)
	}
	var pcm []int16
	buf := make([]byte, 1500)
	for len(pcm) < 8000 {
		n, err := r.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		pcm = audio.DecodeMulaw(pcm, buf[:n])
	}
	if lvl := audio.Level(pcm); lvl < -40 {
		t.Fatalf("prompt level %.1f dBov: silence, want speech", lvl)
	}
	w, err := med.AudioWriterDTMF()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range "1234" {
		if err := w.WriteDTMF(k); err != nil {
			t.Fatal(err)
		}
	}
	dig := s.app.wait(t, "/digits", 10*time.Second)
	if dig.Get("Digits") != "1234" {
		t.Fatalf("digits: %q", dig.Get("Digits"))
	}
	// Drain audio until the server hangs up.
	go func() {
		for {
			if _, err := r.Read(buf); err != nil {
				return
			}
		}
	}()
	hp := s.app.wait(t, "/hangup", 15*time.Second)
	for k, want := range map[string]string{"Event": "Hangup", "CallStatus": "completed", "HangupSource": "Answer XML", "HangupCause": "NORMAL_CLEARING", "HangupCauseCode": "4000"} {
		if hp.Get(k) != want {
			t.Errorf("hangup %s = %q, want %q", k, hp.Get(k), want)
		}
	}
	if d, _ := strconv.Atoi(hp.Get("BillDuration")); d < 1 {
		t.Errorf("BillDuration %q", hp.Get("BillDuration"))
	}
	if !strings.HasPrefix(hp.Get("AnswerTime"), "20") {
		t.Errorf("AnswerTime %q", hp.Get("AnswerTime"))
	}
}
