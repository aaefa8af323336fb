package voice_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/emiago/diago"
	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/account"
	"github.com/trunkline/trunkline/audio"
	"github.com/trunkline/trunkline/internal/peer"
	"github.com/trunkline/trunkline/internal/rtpobs"
	"github.com/trunkline/trunkline/voice"
)

// <Dial><Number>: an inbound SIPp call is bridged through a trunk to a SIPp
// UAS that plays a tone, and the caller hears it (B → A; A → B is
// TestDialDTMFRelayAndAudio).
func TestDialBridgesAudio(t *testing.T) {
	peer.SIPp(t)
	peer.SIPpPcapPlay(t)
	tone := filepath.Join(t.TempDir(), "tone.pcmu")
	os.WriteFile(tone, audio.EncodeMulaw(nil, audio.Tone(600, 3000, -12)), 0o600)
	tr, _ := sippTrunk(t, "trunk-b", "uas_play.xml", map[string]string{"play_stream": tone + ",-1,0", "play_ms": "3000"})
	s := newStack(t, stackOptions{route: func(string) []voice.Target { return []voice.Target{tr} }})
	s.app.set("/answer", `<Response><Dial action="`+s.app.url("/dialed")+`"><Number>14155550100</Number></Dial></Response>`)
	s.app.set("/dialed", `<Response><Hangup/></Response>`)
	s.app.set("/hangup", "ok")
	obs := rtpobs.Listen(t)
	res := runSIPp(t, s, "uac_ivr.xml", map[string]string{"obs_ip": obs.IP(), "obs_port": strconv.Itoa(obs.Port()), "pre_dtmf_ms": "100", "hold_ms": "0"})
	if res.Successful != 1 {
		t.Fatalf("sipp: %s", res)
	}
	dialed := s.app.wait(t, "/dialed", 10*time.Second)
	if dialed.Get("DialStatus") != "completed" || dialed.Get("DialBLegUUID") == "" || dialed.Get("DialALegUUID") == "" {
		t.Fatalf("Dial action: %v", dialed)
	}
	loud := 0
	for f := range audio.Frames(obs.PCM()) {
		if audio.Level(f) > -30 {
			loud++
		}
	}
	if sec := float64(loud) * 0.02; sec < 2 {
		t.Fatalf("the caller heard %.2f s of the callee's 3 s tone", sec)
	}
	// The B leg has its own CDR with the A leg as parent.
	b, err := s.db.GetCall(t.Context(), trunkline.Scope{AccountID: s.acct.Account.ID}, dialed.Get("DialBLegUUID"))
	if err != nil || b.ParentUUID != dialed.Get("DialALegUUID") || b.Direction != "outbound" || b.Trunk != "trunk-b" {
		t.Fatalf("B leg cdr %+v %v", b, err)
	}
}

// The caller's key presses reach the callee as telephone-events, and the
// caller's audio reaches the callee.
func TestDialDTMFRelayAndAudio(t *testing.T) {
	peer.SIPp(t)
	peer.SIPpPcapPlay(t)
	obsB := rtpobs.Listen(t)
	tr, _ := sippTrunk(t, "trunk-b", "uas_answer.xml", map[string]string{"obs_ip": obsB.IP(), "obs_port": strconv.Itoa(obsB.Port())})
	s := newStack(t, stackOptions{route: func(string) []voice.Target { return []voice.Target{tr} }})
	s.app.set("/answer", `<Response><Dial><Number>14155550100</Number></Dial></Response>`)
	s.app.set("/hangup", "ok")
	obsA := rtpobs.Listen(t)
	res := runSIPp(t, s, "uac_ivr.xml", map[string]string{"obs_ip": obsA.IP(), "obs_port": strconv.Itoa(obsA.Port()), "pre_dtmf_ms": "1000", "hold_ms": "1500"})
	if res.Successful != 1 {
		t.Fatalf("sipp: %s", res)
	}
	s.app.wait(t, "/hangup", 10*time.Second)
	if got := obsB.DigitsPT(101); got != "1234" {
		t.Fatalf("the callee got %q as telephone-events; want 1234", got)
	}
	// The caller's digits went over as events, not as audio: the callee's
	// audio is comfort noise and bridged silence only.
	if obsB.PayloadTypes()[101] == 0 {
		t.Fatal("no telephone-event packets reached the callee")
	}
}

// Simultaneous dial: the first to answer wins; the other leg is cancelled.
// A busy first trunk does not fail over; DialStatus says busy.
func TestDialBusyAndSimultaneous(t *testing.T) {
	peer.SIPp(t)
	t.Run("busy", func(t *testing.T) {
		busy, _ := sippTrunk(t, "trunk-a", "uas_486.xml", nil)
		other, run := sippTrunk(t, "trunk-b", "uas_answer.xml", map[string]string{"obs_ip": "127.0.0.1", "obs_port": "9"})
		s := newStack(t, stackOptions{route: func(string) []voice.Target { return []voice.Target{busy, other} }})
		s.app.set("/answer", `<Response><Dial action="`+s.app.url("/dialed")+`"><Number>14155550100</Number></Dial></Response>`)
		s.app.set("/dialed", `<Response><Hangup/></Response>`)
		s.app.set("/hangup", "ok")
		p, err := call(t, s, s.number)
		if err != nil {
			t.Fatal(err)
		}
		dialed := s.app.wait(t, "/dialed", 15*time.Second)
		if dialed.Get("DialStatus") != "busy" || dialed.Get("DialBLegUUID") != "" {
			t.Fatalf("Dial action: %v", dialed)
		}
		p.ended(t, 10*time.Second)
		run.Terminate()
		if r, _ := run.Wait(); r != nil && r.Created != 0 {
			t.Fatalf("the second trunk got %d calls after a 486", r.Created)
		}
	})
	t.Run("first answer wins", func(t *testing.T) {
		obsB := rtpobs.Listen(t)
		answers, _ := sippTrunk(t, "trunk-b", "uas_answer.xml", map[string]string{"obs_ip": obsB.IP(), "obs_port": strconv.Itoa(obsB.Port())})
		// A phone that rings and never answers: it must get a CANCEL when the
		// other leg answers.
		rings, ringRun := sippTrunk(t, "trunk-r", "uas_ring.xml", nil)
		s := newStack(t, stackOptions{route: func(dst string) []voice.Target {
			if dst == "14155550100" {
				return []voice.Target{answers}
			}
			return []voice.Target{rings}
		}})
		s.app.set("/answer", `<Response><Dial action="`+s.app.url("/dialed")+`" redirect="false"><Number>14155550199</Number><Number>14155550100</Number></Dial><Hangup/></Response>`)
		s.app.set("/dialed", `ok`)
		s.app.set("/hangup", "ok")
		p, err := call(t, s, s.number)
		if err != nil {
			t.Fatal(err)
		}
		obsB.WaitPackets(t.Context(), 10)
		p.hangup()
		dialed := s.app.wait(t, "/dialed", 15*time.Second)
		b, err := s.db.GetCall(t.Context(), trunkline.Scope{AccountID: s.acct.Account.ID}, dialed.Get("DialBLegUUID"))
		if err != nil || b.To != "14155550100" {
			t.Fatalf("winner %+v %v (action %v)", b, err, dialed)
		}
		ringRun.Terminate()
		if r, _ := ringRun.Wait(); r == nil || r.Successful != 1 {
			t.Fatalf("the ringing leg was not cancelled: %v", r)
		}
	})
}

// <Dial><User>: the call reaches a SIP phone registered as an endpoint of
// the account (digest REGISTER through the server's registrar).
func TestDialUserRegisteredPhone(t *testing.T) {
	s := newStack(t, stackOptions{registrar: true})
	user := "alice" + "123456789012"
	sec, err := account.SealEndpointPassword(s.ring, user, "localhost", "alice-Pass-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.db.CreateEndpoint(t.Context(), &trunkline.Endpoint{ID: "90000000000001", AccountID: s.acct.Account.ID, Username: user,
		Alias: "alice", Realm: sec.Realm, HA1Enc: sec.HA1Enc, PasswordMD5Enc: sec.PasswordMD5Enc}); err != nil {
		t.Fatal(err)
	}
	// The phone: registers, then answers whatever rings and listens.
	answered := make(chan []int16, 1)
	ua, _ := sipgo.NewUA(sipgo.WithUserAgent(user))
	t.Cleanup(func() { ua.Close() })
	conn, _ := net.ListenPacket("udp", "127.0.0.1:0")
	srv, _ := sipgo.NewServer(ua)
	port := conn.LocalAddr().(*net.UDPAddr).Port
	phone := diago.NewDiago(ua, diago.WithServer(srv), diago.WithTransport(diago.Transport{Transport: "udp", BindHost: "127.0.0.1", BindPort: port}))
	phone.HandleFunc(func(d *diago.DialogServerSession) {
		med, err := d.Answer(diago.AnswerOptions{})
		if err != nil {
			return
		}
		r, _ := med.AudioReader()
		var pcm []int16
		buf := make([]byte, 1500)
		for len(pcm) < 8000 {
			n, err := r.Read(buf)
			if err != nil {
				break
			}
			pcm = audio.DecodeMulaw(pcm, buf[:n])
		}
		answered <- pcm
		<-d.Context().Done()
	})
	go srv.ServeUDP(conn)
	t.Cleanup(func() { srv.Close(); conn.Close() })
	if code := rawSIP(t, conn.LocalAddr().String(), optionsRequest(conn.LocalAddr().String())); code != 200 {
		t.Fatalf("phone not ready: %d", code)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	registered := make(chan struct{})
	go phone.Register(ctx, sip.Uri{User: user, Host: "127.0.0.1", Port: int(s.srv.Addr().Port())},
		diago.RegisterOptions{Username: user, Password: "alice-Pass-1", Expiry: 300 * time.Second, OnRegistered: func() { close(registered) }})
	select {
	case <-registered:
	case <-time.After(10 * time.Second):
		t.Fatal("the phone did not register")
	}

	s.app.set("/answer", `<Response><Speak>Connecting you</Speak><Dial action="`+s.app.url("/dialed")+`" redirect="false"><User>sip:`+user+`@localhost</User></Dial></Response>`)
	s.app.set("/dialed", "ok")
	s.app.set("/hangup", "ok")
	caller, err := call(t, s, s.number)
	if err != nil {
		t.Fatal(err)
	}
	caller.talk(t, audio.Tone(500, 1500, -12)) // the caller speaks while bridged
	select {
	case pcm := <-answered:
		if speechFraction(pcm) < 0.3 {
			t.Fatalf("the phone heard speech in %.0f%% of 1 s; want the caller's tone", speechFraction(pcm)*100)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the registered phone was not called")
	}
	caller.hangup()
	if dialed := s.app.wait(t, "/dialed", 10*time.Second); dialed.Get("DialStatus") != "completed" {
		t.Fatalf("Dial action %v", dialed)
	}
}

// A trunk that dies mid-call (its RTP stops, no BYE ever comes): the B leg
// ends on the RTP timeout with a media-timeout cause, and the caller goes
// on with the XML after <Dial>.
func TestDialTrunkDiesMidCall(t *testing.T) {
	peer.SIPp(t)
	tone := filepath.Join(t.TempDir(), "tone.pcmu")
	os.WriteFile(tone, audio.EncodeMulaw(nil, audio.Tone(600, 1000, -12)), 0o600)
	tr, run := sippTrunk(t, "trunk-b", "uas_play.xml", map[string]string{"play_stream": tone + ",-1,0", "play_ms": "30000"})
	s := newStack(t, stackOptions{rtpTimeout: 2 * time.Second, route: func(string) []voice.Target { return []voice.Target{tr} }})
	s.app.set("/answer", `<Response><Dial action="`+s.app.url("/dialed")+`"><Number>14155550100</Number></Dial></Response>`)
	s.app.set("/dialed", `<Response><Speak>The other side is gone</Speak><Hangup/></Response>`)
	s.app.set("/hangup", "ok")
	p, err := call(t, s, s.number)
	if err != nil {
		t.Fatal(err)
	}
	talking := make(chan struct{})
	go func() { defer close(talking); p.talk(t, audio.Tone(400, 8000, -20)) }() // the caller keeps sending RTP
	p.listen(t, time.Second)                                                    // bridged: the trunk's tone
	run.Terminate()                                                             // the trunk dies without a BYE
	dialed := s.app.wait(t, "/dialed", 15*time.Second)
	if dialed.Get("DialStatus") != "completed" || dialed.Get("DialHangupCause") != "MEDIA_TIMEOUT" {
		t.Fatalf("Dial action %v", dialed)
	}
	p.ended(t, 15*time.Second)
	<-talking
	b, err := s.db.GetCall(t.Context(), trunkline.Scope{AccountID: s.acct.Account.ID}, dialed.Get("DialBLegUUID"))
	if err != nil || b.HangupCauseName != "Media Timeout" {
		t.Fatalf("B leg %+v %v", b, err)
	}
	waitIdle(t, s)
}

// When the caller hangs up a bridged Dial, the B leg ends with Normal Hangup
// from the Caller and the Dial action hears NORMAL_CLEARING, every time. The
// B leg's end used to race the A leg's (its context was a child of the
// caller's, cancelled with no cause set): 10–35% of calls reported an
// empty DialHangupCause and a B-leg CDR "End Of XML Instructions"/Plivo.
func TestDialCallerHangsUpCausesAreDeterministic(t *testing.T) {
	peer.SIPp(t)
	tr, _ := sippTrunk(t, "trunk-b", "uas_answer.xml", map[string]string{"obs_ip": "127.0.0.1", "obs_port": "9"})
	s := newStack(t, stackOptions{route: func(string) []voice.Target { return []voice.Target{tr} }})
	s.app.set("/answer", `<Response><Dial action="`+s.app.url("/dialed")+`" redirect="false" callbackUrl="`+s.app.url("/dialevent")+`"><Number>14155550100</Number></Dial></Response>`)
	s.app.set("/dialed", "ok")
	s.app.set("/dialevent", "ok")
	s.app.set("/hangup", "ok")
	const calls = 30
	bad := 0
	for i := range calls {
		p, err := call(t, s, s.number)
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		// Hang up as soon as the callee has answered: the bridge is starting.
		for ev := s.app.wait(t, "/dialevent", 15*time.Second); ev.Get("Event") != "DialAnswer"; ev = s.app.wait(t, "/dialevent", 15*time.Second) {
		}
		p.hangup()
		dialed := s.app.wait(t, "/dialed", 15*time.Second)
		b, err := s.db.GetCall(t.Context(), trunkline.Scope{AccountID: s.acct.Account.ID}, dialed.Get("DialBLegUUID"))
		if err != nil {
			t.Fatalf("call %d: B leg: %v (action %v)", i, err, dialed)
		}
		if dialed.Get("DialHangupCause") != "NORMAL_CLEARING" || b.HangupCauseName != "Normal Hangup" || b.HangupSource != "Caller" {
			bad++
			t.Errorf("call %d: DialHangupCause %q, B leg %q/%q (%s)", i, dialed.Get("DialHangupCause"), b.HangupCauseName, b.HangupSource, b.HangupReason)
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d bridged calls hung up by the caller had the wrong causes", bad, calls)
	}
	waitIdle(t, s)
}
