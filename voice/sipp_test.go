package voice_test

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/audio"
	"github.com/trunkline/trunkline/internal/peer"
	"github.com/trunkline/trunkline/internal/rtpobs"
	"github.com/trunkline/trunkline/store/storetest"
)

// These tests put SIPp (Debian sip-tester) on the other end: a real, foreign
// SIP stack as the caller, with the server's audio sent to an RTP observer
// the test owns (the offer's c=/m= name it), so what the caller hears is
// measured on the wire.

func runSIPp(t *testing.T, s *stack, scenario string, keys map[string]string) *peer.SIPpResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := peer.RunSIPp(ctx, t, peer.SIPpOptions{
		Scenario: peer.SIPpScenario(t, scenario), Remote: s.srv.Addr().String(), Service: s.number,
		Calls: 1, Keys: keys, Timeout: 45 * time.Second, RecvTimeout: 30 * time.Second,
	})
	if err != nil && res == nil {
		t.Fatalf("sipp %s: %v", scenario, err)
	}
	return res
}

func TestSIPpIVR(t *testing.T) {
	peer.SIPp(t)
	peer.SIPpPcapPlay(t)
	s := newStack(t, stackOptions{})
	s.app.set("/answer", `<Response><GetDigits action="`+s.app.url("/digits")+`" numDigits="4" timeout="10" digitTimeout="5"><Speak>Welcome to Trunkline. Please enter your four digit PIN.</Speak></GetDigits><Speak>We did not get your PIN</Speak></Response>`)
	s.app.set("/digits", `<Response><Speak>Thank you</Speak><Hangup/></Response>`)
	s.app.set("/hangup", "ok")
	obs := rtpobs.Listen(t)
	res := runSIPp(t, s, "uac_ivr.xml", map[string]string{
		"obs_ip": obs.IP(), "obs_port": strconv.Itoa(obs.Port()), "pre_dtmf_ms": "2500", "hold_ms": "0",
	})
	if res.Successful != 1 {
		t.Fatalf("sipp: %s", res)
	}
	dig := s.app.wait(t, "/digits", 5*time.Second)
	if dig.Get("Digits") != "1234" {
		t.Fatalf("action got Digits=%q; want 1234 (SIPp's RFC 2833 pcaps, first packet duration 0)", dig.Get("Digits"))
	}
	// What the caller heard: speech, at a speaking level, not silence or
	// comfort noise.
	if obs.Packets() < 100 {
		t.Fatalf("the caller got %d RTP packets", obs.Packets())
	}
	if f := obs.SpeechFraction(-40); f < 0.25 {
		t.Fatalf("speech in %.0f%% of the caller's audio (level %.1f dBov); want speech", f*100, obs.Level())
	}
	hp := s.app.wait(t, "/hangup", 10*time.Second)
	for k, want := range map[string]string{"Event": "Hangup", "CallStatus": "completed", "Direction": "inbound",
		"To": s.number, "HangupSource": "Answer XML", "HangupCauseName": "Normal Hangup", "HangupCauseCode": "4000"} {
		if hp.Get(k) != want {
			t.Errorf("hangup_url %s=%q, want %q", k, hp.Get(k), want)
		}
	}
	for _, k := range []string{"CallUUID", "Duration", "BillDuration", "StartTime", "AnswerTime", "EndTime", "HangupCause"} {
		if hp.Get(k) == "" {
			t.Errorf("hangup_url lacks %s", k)
		}
	}
	c := lastCall(t, s)
	if c.UUID != hp.Get("CallUUID") || c.HangupCauseCode != 4000 || c.HangupSource != "Answer XML" || c.BillDuration < 2 {
		t.Fatalf("cdr: %+v", c)
	}
}

func TestSIPpRecord(t *testing.T) {
	peer.SIPp(t)
	peer.SIPpPcapPlay(t)
	dir := t.TempDir()
	db := storetest.Open(t)[0]
	files := newFiles(t, db, dir)
	s := newStackDB(t, db, stackOptions{recordings: recSink{files}})
	s.app.set("/answer", `<Response><Speak>Leave a message after the beep</Speak><Record action="`+s.app.url("/recorded")+`" fileFormat="wav" maxLength="30" timeout="5"/></Response>`)
	s.app.set("/recorded", `<Response><Hangup/></Response>`)
	s.app.set("/hangup", "ok")
	// The caller says 3 s of a 500 Hz tone at -12 dBov.
	tone := audio.Tone(500, 3000, -12)
	raw := filepath.Join(dir, "caller.ulaw")
	if err := os.WriteFile(raw, audio.EncodeMulaw(nil, tone), 0o600); err != nil {
		t.Fatal(err)
	}
	obs := rtpobs.Listen(t)
	res := runSIPp(t, s, "uac_record.xml", map[string]string{
		"obs_ip": obs.IP(), "obs_port": strconv.Itoa(obs.Port()), "pre_audio_ms": "3500",
		"caller_stream": raw + ",1,0", "audio_ms": "3000", "pound": "1", "hold_ms": "0",
	})
	if res.Successful != 1 {
		t.Fatalf("sipp: %s", res)
	}
	got := s.app.wait(t, "/recorded", 10*time.Second)
	rec, err := db.GetRecording(context.Background(), trunkline.Scope{AccountID: s.acct.Account.ID}, got.Get("RecordingID"))
	if err != nil {
		t.Fatalf("recording %q: %v", got.Get("RecordingID"), err)
	}
	checkRecording(t, files, rec, dir, 3.0)
}

// Bad input from a real foreign stack: each ends with the right SIP answer
// or a clean teardown and a clear reason, and no call is left running.
func TestSIPpBadInputAndHangups(t *testing.T) {
	peer.SIPp(t)
	t.Run("G.722 only gets 488", func(t *testing.T) {
		s := newStack(t, stackOptions{})
		s.app.set("/answer", `<Response><Speak>hi</Speak></Response>`)
		if res := runSIPp(t, s, "uac_g722.xml", nil); res.Successful != 1 {
			t.Fatalf("sipp: %s", res)
		}
	})
	t.Run("malformed SDP gets 400", func(t *testing.T) {
		s := newStack(t, stackOptions{})
		if res := runSIPp(t, s, "uac_bad_sdp.xml", nil); res.Successful != 1 {
			t.Fatalf("sipp: %s", res)
		}
	})
	t.Run("not a trunk gets 403", func(t *testing.T) {
		s := newStack(t, stackOptions{acl: func(a netip.Addr) (string, bool) { return "", false }})
		if res := runSIPp(t, s, "uac_acl.xml", nil); res.Successful != 1 {
			t.Fatalf("sipp: %s", res)
		}
	})
	t.Run("INVITE without SDP", func(t *testing.T) {
		s := newStack(t, stackOptions{})
		s.app.set("/answer", `<Response><Speak loop="0">Hold the line</Speak></Response>`)
		s.app.set("/hangup", "ok")
		if res := runSIPp(t, s, "uac_nosdp.xml", map[string]string{"hold_ms": "1500"}); res.Successful != 1 {
			t.Fatalf("sipp: %s; cdr %+v", res, lastCall(t, s))
		}
		if hp := s.app.wait(t, "/hangup", 10*time.Second); hp.Get("HangupSource") != "Caller" {
			t.Fatalf("hangup: %v; cdr %+v", hp, lastCall(t, s))
		}
	})
	t.Run("caller hangs up mid-Speak", func(t *testing.T) {
		peer.SIPpPcapPlay(t)
		s := newStack(t, stackOptions{})
		s.app.set("/answer", `<Response><Speak loop="0">This is a very long announcement that nobody waits for</Speak></Response>`)
		s.app.set("/hangup", "ok")
		obs := rtpobs.Listen(t)
		res := runSIPp(t, s, "uac_ivr.xml", map[string]string{"obs_ip": obs.IP(), "obs_port": strconv.Itoa(obs.Port()), "pre_dtmf_ms": "800", "hold_ms": "300"})
		if res.Successful != 1 {
			t.Fatalf("sipp: %s", res)
		}
		hp := s.app.wait(t, "/hangup", 10*time.Second)
		if hp.Get("HangupSource") != "Caller" || hp.Get("HangupCauseCode") != "4000" {
			t.Fatalf("hangup: %v", hp)
		}
		waitIdle(t, s)
	})
	t.Run("caller hangs up mid-Record", func(t *testing.T) {
		peer.SIPpPcapPlay(t)
		dir := t.TempDir()
		db := storetest.Open(t)[0]
		files := newFiles(t, db, dir)
		s := newStackDB(t, db, stackOptions{recordings: recSink{files}})
		s.app.set("/answer", `<Response><Record action="`+s.app.url("/recorded")+`" fileFormat="wav" maxLength="60" timeout="30" playBeep="false"/></Response>`)
		s.app.set("/recorded", `<Response><Speak>never played</Speak></Response>`)
		s.app.set("/hangup", "ok")
		raw := filepath.Join(dir, "caller.ulaw")
		os.WriteFile(raw, audio.EncodeMulaw(nil, audio.Tone(500, 2000, -12)), 0o600)
		obs := rtpobs.Listen(t)
		res := runSIPp(t, s, "uac_record.xml", map[string]string{
			"obs_ip": obs.IP(), "obs_port": strconv.Itoa(obs.Port()), "pre_audio_ms": "200",
			"caller_stream": raw + ",1,0", "audio_ms": "2000", "pound": "0", "hold_ms": "300",
		})
		if res.Successful != 1 {
			t.Fatalf("sipp: %s", res)
		}
		// The message is kept: a hang-up is how voicemail ends.
		got := s.app.wait(t, "/recorded", 10*time.Second)
		rec, err := db.GetRecording(context.Background(), trunkline.Scope{AccountID: s.acct.Account.ID}, got.Get("RecordingID"))
		if err != nil {
			t.Fatal(err)
		}
		checkRecording(t, files, rec, dir, 2.0)
		if hp := s.app.wait(t, "/hangup", 10*time.Second); hp.Get("HangupSource") != "Caller" {
			t.Fatalf("hangup: %v", hp)
		}
		waitIdle(t, s)
	})
}
