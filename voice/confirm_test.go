package voice_test

import (
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/emiago/diago"
	"github.com/emiago/sipgo"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/audio"
	"github.com/trunkline/trunkline/voice"
)

// phoneTrunk is a SIP phone (diago) reached as a trunk: it answers every
// call and then does what onAnswer says.
func phoneTrunk(t *testing.T, onAnswer func(d *diago.DialogServerSession, med *diago.DialogMedia)) voice.Target {
	t.Helper()
	ua, _ := sipgo.NewUA(sipgo.WithUserAgent("callee"))
	t.Cleanup(func() { ua.Close() })
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := sipgo.NewServer(ua)
	port := conn.LocalAddr().(*net.UDPAddr).Port
	dg := diago.NewDiago(ua, diago.WithServer(srv), diago.WithTransport(diago.Transport{Transport: "udp", BindHost: "127.0.0.1", BindPort: port}))
	dg.HandleFunc(func(d *diago.DialogServerSession) {
		med, err := d.Answer(diago.AnswerOptions{})
		if err != nil {
			return
		}
		onAnswer(d, med)
		<-d.Context().Done()
	})
	go srv.ServeUDP(conn)
	t.Cleanup(func() { srv.Close(); conn.Close() })
	if code := rawSIP(t, conn.LocalAddr().String(), optionsRequest(conn.LocalAddr().String())); code != 200 {
		t.Fatalf("phone not ready: %d", code)
	}
	return target("phone", conn.LocalAddr().String())
}

// confirmKey: the called party must press it after confirmSound before the
// call is bridged; one that does not is dropped (DialStatus no-answer).
// digitsMatch: the caller's keys matching a pattern reach callbackUrl.
func TestDialConfirmKeyAndDigitsMatch(t *testing.T) {
	for _, tc := range []struct {
		name    string
		presses bool
		status  string
	}{{"confirmed", true, "completed"}, {"not confirmed", false, "no-answer"}} {
		t.Run(tc.name, func(t *testing.T) {
			phone := phoneTrunk(t, func(d *diago.DialogServerSession, med *diago.DialogMedia) {
				if !tc.presses {
					return
				}
				// Hear the confirm prompt start, then press 5.
				r, _ := med.AudioReader()
				buf := make([]byte, 1500)
				for i := 0; i < 10; i++ {
					r.Read(buf)
				}
				w, _ := med.AudioWriterDTMF()
				w.WriteDTMF('5')
				go func() {
					for {
						if _, err := r.Read(buf); err != nil {
							return
						}
					}
				}()
			})
			s := newStack(t, stackOptions{route: func(string) []voice.Target { return []voice.Target{phone} }})
			s.app.set("/answer", `<Response><Dial action="`+s.app.url("/dialed")+`" redirect="false" confirmSound="`+s.app.url("/confirm")+
				`" confirmKey="5" confirmTimeout="3" digitsMatch="12#" callbackUrl="`+s.app.url("/events")+`"><Number>14155550100</Number></Dial><Hangup/></Response>`)
			s.app.set("/confirm", `<Response><Speak>Press 5 to take this call</Speak></Response>`)
			s.app.set("/dialed", "ok")
			s.app.set("/events", "ok")
			s.app.set("/hangup", "ok")
			p, err := call(t, s, s.number)
			if err != nil {
				t.Fatal(err)
			}
			if tc.presses {
				var ev url.Values
				for ev == nil || ev.Get("Event") != "DialAnswer" {
					ev = s.app.wait(t, "/events", 15*time.Second)
				}
				p.press(t, "12#")
				for ev.Get("Event") != "DialDigitsMatch" {
					ev = s.app.wait(t, "/events", 15*time.Second)
				}
				if ev.Get("DialDigitsMatch") != "12#" {
					t.Fatalf("digitsMatch event %v", ev)
				}
				p.hangup()
			}
			dialed := s.app.wait(t, "/dialed", 20*time.Second)
			if dialed.Get("DialStatus") != tc.status {
				t.Fatalf("DialStatus %q, want %q (%v)", dialed.Get("DialStatus"), tc.status, dialed)
			}
		})
	}
}

// Transfer legs=bleg: the bridged B leg leaves the bridge and runs its own
// XML; the A leg goes on after its Dial.
func TestTransferBLeg(t *testing.T) {
	heard := make(chan []int16, 1)
	ended := make(chan struct{})
	phone := phoneTrunk(t, func(d *diago.DialogServerSession, med *diago.DialogMedia) {
		go func() {
			defer close(ended)
			r, _ := med.AudioReader()
			var pcm []int16
			buf := make([]byte, 1500)
			for {
				n, err := r.Read(buf)
				if err != nil {
					break
				}
				pcm = audio.DecodeMulaw(pcm, buf[:n])
			}
			heard <- pcm
		}()
	})
	s := newStack(t, stackOptions{route: func(string) []voice.Target { return []voice.Target{phone} }})
	s.app.set("/answer", `<Response><Dial callbackUrl="`+s.app.url("/events")+`"><Number>14155550100</Number></Dial><Speak>Back to you</Speak><Hangup/></Response>`)
	s.app.set("/events", "ok")
	s.app.set("/moved", `<Response><Speak>You have been transferred to a recording</Speak><Hangup/></Response>`)
	s.app.set("/hangup", "ok")
	p, err := call(t, s, s.number)
	if err != nil {
		t.Fatal(err)
	}
	ev := s.app.wait(t, "/events", 10*time.Second)
	if ev.Get("Event") != "DialAnswer" {
		t.Fatalf("event %v", ev)
	}
	if _, err := s.srv.Command(t.Context(), ev.Get("DialALegUUID"), trunkline.CallCommand{Kind: "transfer", Legs: "bleg", BURL: s.app.url("/moved")}); err != nil {
		t.Fatal(err)
	}
	s.app.wait(t, "/moved", 10*time.Second)
	select {
	case <-ended:
	case <-time.After(15 * time.Second):
		t.Fatal("the B leg was not hung up after its XML")
	}
	if pcm := <-heard; speechFraction(pcm) < 0.2 {
		t.Fatalf("the B leg heard speech in %.0f%%", speechFraction(pcm)*100)
	}
	p.ended(t, 15*time.Second) // the A leg ran "Back to you" and hung up
	// A bleg transfer of a call that is not bridged says so.
	if _, err := s.srv.Command(t.Context(), ev.Get("DialALegUUID"), trunkline.CallCommand{Kind: "transfer", Legs: "bleg", BURL: s.app.url("/moved")}); err == nil {
		t.Fatal("bleg transfer without a bridge succeeded")
	}
}

// The caller hangs up a bridged call: the B leg gets a BYE.
func TestDialCallerHangsUpByesBLeg(t *testing.T) {
	byed := make(chan struct{})
	phone := phoneTrunk(t, func(d *diago.DialogServerSession, med *diago.DialogMedia) {
		go func() {
			<-d.Context().Done()
			close(byed)
		}()
	})
	s := newStack(t, stackOptions{route: func(string) []voice.Target { return []voice.Target{phone} }})
	s.app.set("/answer", `<Response><Dial callbackUrl="`+s.app.url("/events")+`"><Number>14155550100</Number></Dial></Response>`)
	s.app.set("/events", "ok")
	s.app.set("/hangup", "ok")
	p, err := call(t, s, s.number)
	if err != nil {
		t.Fatal(err)
	}
	if ev := s.app.wait(t, "/events", 10*time.Second); ev.Get("Event") != "DialAnswer" {
		t.Fatalf("event %v", ev)
	}
	p.hangup()
	select {
	case <-byed:
	case <-time.After(10 * time.Second):
		t.Fatal("the B leg got no BYE after the caller hung up")
	}
	waitIdle(t, s)
}

// The caller hangs up just as the callee answers: the leg that won is still
// this Dial's B leg. It gets its BYE and a finished CDR with Normal Hangup
// from the Caller, and the action is told about it, instead of the leg
// staying answered with nobody on it.
func TestDialCallerHangsUpAsCalleeAnswers(t *testing.T) {
	answered, byed := make(chan struct{}, 1), make(chan struct{}, 1)
	phone := phoneTrunk(t, func(d *diago.DialogServerSession, med *diago.DialogMedia) {
		answered <- struct{}{}
		go func() {
			<-d.Context().Done()
			byed <- struct{}{}
		}()
	})
	s := newStack(t, stackOptions{route: func(string) []voice.Target { return []voice.Target{phone} }})
	s.app.set("/answer", `<Response><Dial action="`+s.app.url("/dialed")+`" redirect="false"><Number>14155550100</Number></Dial></Response>`)
	s.app.set("/dialed", "ok")
	s.app.set("/hangup", "ok")
	for i := range 10 {
		p, err := call(t, s, s.number)
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-answered:
		case <-time.After(10 * time.Second):
			t.Fatalf("call %d: the callee was not called", i)
		}
		p.hangup()
		select {
		case <-byed:
		case <-time.After(10 * time.Second):
			t.Fatalf("call %d: the callee answered as the caller hung up and got no BYE", i)
		}
		dialed := s.app.wait(t, "/dialed", 10*time.Second)
		b, err := s.db.GetCall(t.Context(), trunkline.Scope{AccountID: s.acct.Account.ID}, dialed.Get("DialBLegUUID"))
		if err != nil || dialed.Get("DialStatus") != "completed" || b.EndedAt == nil {
			t.Fatalf("call %d: Dial action %v, B leg %+v %v", i, dialed, b, err)
		}
		// The callee had picked up: a normal hang-up by the caller.
		if dialed.Get("DialHangupCause") != "NORMAL_CLEARING" || b.HangupCauseName != "Normal Hangup" || b.HangupSource != "Caller" {
			t.Fatalf("call %d: DialHangupCause %q, B leg %q/%q (%s)", i, dialed.Get("DialHangupCause"), b.HangupCauseName, b.HangupSource, b.HangupReason)
		}
	}
	waitIdle(t, s)
}
