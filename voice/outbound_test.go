package voice_test

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/internal/peer"
	"github.com/trunkline/trunkline/internal/rtpobs"
	"github.com/trunkline/trunkline/voice"
)

// sippTrunk starts a SIPp UAS as a trunk and returns it as a target.
func sippTrunk(t *testing.T, name, scenario string, keys map[string]string) (voice.Target, *peer.SIPpRun) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	run, err := peer.StartSIPp(ctx, t, peer.SIPpOptions{Scenario: peer.SIPpScenario(t, scenario), Keys: keys, Timeout: 80 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return target(name, run.Addr()), run
}

func target(name, addr string) voice.Target {
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	return voice.Target{Name: name, URI: sip.Uri{User: "14155550100", Host: host, Port: p}}
}

func originate(t *testing.T, s *stack, xml string) *voice.Call {
	t.Helper()
	s.app.set("/out", xml)
	s.app.set("/hangup", "ok")
	c, err := s.srv.Originate(trunkline.PlaceCall{AccountID: s.acct.Account.ID, RequestUUID: "req-1", From: "14155550123",
		To: "14155550100", App: trunkline.Application{AccountID: s.acct.Account.ID, AnswerURL: s.app.url("/out"), AnswerMethod: "POST",
			HangupURL: s.app.url("/hangup"), HangupMethod: "POST"}, RingTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestOutboundAnsweredRunsXML(t *testing.T) {
	peer.SIPp(t)
	obs := rtpobs.Listen(t)
	tr, run := sippTrunk(t, "trunk-a", "uas_answer.xml", map[string]string{"obs_ip": obs.IP(), "obs_port": strconv.Itoa(obs.Port())})
	s := newStack(t, stackOptions{route: func(string) []voice.Target { return []voice.Target{tr} }})
	c := originate(t, s, `<Response><Speak>Hello, this is an outbound call</Speak><Hangup/></Response>`)
	ans := s.app.wait(t, "/out", 10*time.Second)
	if ans.Get("CallStatus") != "in-progress" || ans.Get("Direction") != "outbound" || ans.Get("RequestUUID") != "req-1" {
		t.Fatalf("answer_url params: %v", ans)
	}
	hp := s.app.wait(t, "/hangup", 20*time.Second)
	if hp.Get("HangupSource") != "Answer XML" || hp.Get("CallUUID") != c.UUID() {
		t.Fatalf("hangup: %v", hp)
	}
	if f := obs.SpeechFraction(-40); f < 0.3 {
		t.Fatalf("the callee heard speech in %.0f%% of the call", f*100)
	}
	cdr := lastCall(t, s)
	if cdr.Direction != "outbound" || cdr.Trunk != "trunk-a" || cdr.RequestUUID != "req-1" || cdr.AnsweredAt == nil {
		t.Fatalf("cdr %+v", cdr)
	}
	run.Terminate()
}

func TestOutboundFailover(t *testing.T) {
	peer.SIPp(t)
	cases := []struct {
		name       string
		first      func(t *testing.T) voice.Target
		wantFirst  string
		secondUsed bool
		cause      int
		codes      []int
	}{
		{"486 fails over when configured", func(t *testing.T) voice.Target {
			tr, _ := sippTrunk(t, "trunk-a", "uas_486.xml", nil)
			return tr
		}, "failover", true, 4000, []int{486, 503}},
		{"503 fails over", func(t *testing.T) voice.Target {
			tr, _ := sippTrunk(t, "trunk-a", "uas_503.xml", nil)
			return tr
		}, "failover", true, 4000, nil},
		{"unreachable fails over", func(t *testing.T) voice.Target {
			c, _ := net.ListenPacket("udp", "127.0.0.1:0") // bound, never answers
			t.Cleanup(func() { c.Close() })
			return target("trunk-a", c.LocalAddr().String())
		}, "failover", true, 4000, nil},
		{"486 does not", func(t *testing.T) voice.Target {
			tr, _ := sippTrunk(t, "trunk-a", "uas_486.xml", nil)
			return tr
		}, "busy", false, 3000, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			obs := rtpobs.Listen(t)
			first := tc.first(t)
			second, run := sippTrunk(t, "trunk-b", "uas_answer.xml", map[string]string{"obs_ip": obs.IP(), "obs_port": strconv.Itoa(obs.Port())})
			s := newStack(t, stackOptions{failoverCodes: tc.codes, route: func(string) []voice.Target { return []voice.Target{first, second} }})
			c := originate(t, s, `<Response><Speak>Through the second trunk</Speak><Hangup/></Response>`)
			s.app.wait(t, "/hangup", 30*time.Second)
			at := c.Attempts()
			if len(at) == 0 || at[0].Outcome != tc.wantFirst {
				t.Fatalf("attempts %+v", at)
			}
			if used := len(at) == 2 && at[1].Outcome == "answered"; used != tc.secondUsed {
				t.Fatalf("second trunk used=%v, want %v (attempts %+v)", used, tc.secondUsed, at)
			}
			cdr := lastCall(t, s)
			if cdr.HangupCauseCode != tc.cause {
				t.Fatalf("cdr %+v", cdr)
			}
			if tc.secondUsed && cdr.Trunk != "trunk-b" {
				t.Fatalf("cdr trunk %q", cdr.Trunk)
			}
			if !strings.Contains(cdr.Attempts, `"trunk":"trunk-a"`) || !strings.Contains(cdr.Attempts, `"outcome":"`+tc.wantFirst+`"`) {
				t.Fatalf("attempts on the CDR: %s", cdr.Attempts)
			}
			t.Logf("first attempt took %v", at[0].Took)
			run.Terminate()
		})
	}
}

// A callee that never answers: the call ends at ring_timeout with No
// Answer, and the phone gets a CANCEL.
func TestOutboundRingTimeout(t *testing.T) {
	peer.SIPp(t)
	tr, run := sippTrunk(t, "trunk-a", "uas_ring.xml", nil)
	s := newStack(t, stackOptions{route: func(string) []voice.Target { return []voice.Target{tr} }})
	s.app.set("/out", `<Response><Speak>never</Speak></Response>`)
	s.app.set("/hangup", "ok")
	c, err := s.srv.Originate(trunkline.PlaceCall{AccountID: s.acct.Account.ID, RequestUUID: "req-r", From: "14155550123", To: "14155550100",
		App: trunkline.Application{AccountID: s.acct.Account.ID, AnswerURL: s.app.url("/out"), HangupURL: s.app.url("/hangup")}, RingTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	hp := s.app.wait(t, "/hangup", 15*time.Second)
	if hp.Get("HangupCauseName") != "No Answer" || hp.Get("CallUUID") != c.UUID() || hp.Get("AnswerTime") != "" {
		t.Fatalf("hangup %v", hp)
	}
	run.Terminate()
	if r, _ := run.Wait(); r == nil || r.Successful != 1 {
		t.Fatalf("the ringing phone did not get a CANCEL: %v", r)
	}
}

// A transfer to a URL that does not answer ends the call cleanly with the
// reason on the CDR.
func TestTransferToUnreachableURL(t *testing.T) {
	s := newStack(t, stackOptions{webhookTimeout: 500 * time.Millisecond})
	s.app.set("/answer", `<Response><Wait length="30"/></Response>`)
	s.app.set("/hangup", "ok")
	p, err := call(t, s, s.number)
	if err != nil {
		t.Fatal(err)
	}
	var uuid string
	for _, l := range s.srv.LiveCalls(func(trunkline.LiveCall) bool { return true }) {
		uuid = l.CallUUID
	}
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := dead.Addr().String()
	dead.Close() // nothing listens there now
	// The callee's 200 can arrive a moment before the server has marked the
	// call answered: retry while it says so (bounded).
	for deadline := time.Now().Add(5 * time.Second); ; {
		_, err := s.srv.Command(t.Context(), uuid, trunkline.CallCommand{Kind: "transfer", URL: "http://" + addr + "/gone"})
		if err == nil {
			break
		}
		if err != voice.ErrNoMedia || time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.ended(t, 15*time.Second)
	c := lastCall(t, s)
	if c.HangupCauseCode != 7010 || !strings.Contains(c.HangupReason, "transfer") {
		t.Fatalf("cdr %+v", c)
	}
	waitIdle(t, s)
}
