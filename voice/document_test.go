package voice_test

import (
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/sandbox"
	"github.com/trunkline/trunkline/voice"
)

// A platform call (phone verification) runs its own XML document, with no
// application and no URL, and reaches the sandbox phone, which hears the
// speech and gets the transcript through Options.Spoken.
func TestOutboundDocumentToSandboxPhone(t *testing.T) {
	phone := sandbox.NewPhone(sandbox.PhoneOptions{})
	if err := phone.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { phone.Close() })
	host, port, _ := net.SplitHostPort(phone.Addr().String())
	pn, _ := strconv.Atoi(port)

	type said struct{ trunk, uuid, to, text string }
	var (
		mu    sync.Mutex
		heard []said
	)
	spoken := func(trunk, uuid, to, text string) {
		mu.Lock()
		heard = append(heard, said{trunk, uuid, to, text})
		mu.Unlock()
		if trunk == "sandbox" {
			phone.Spoken(to, text)
		}
	}
	route := func(dst string) []voice.Target {
		return []voice.Target{{Name: "sandbox", URI: sip.Uri{Scheme: "sip", User: dst, Host: host, Port: pn}}}
	}
	s := newStack(t, stackOptions{route: route, spoken: spoken})

	const text = "Your code is 1 2 3"
	doc := `<Response><Speak>` + text + `</Speak></Response>`
	const to = "14155550100"
	c, err := s.srv.Originate(trunkline.PlaceCall{AccountID: s.acct.Account.ID, From: "14155550123", To: to,
		Document: doc, RingTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}

	// The document ends, the server hangs up: the phone's record completes.
	var rec sandbox.PhoneCall
	for deadline := time.Now().Add(30 * time.Second); ; {
		if r := phone.Recent(); len(r) == 1 && !r[0].EndedAt.IsZero() && r[0].HungUpBy != "" {
			rec = r[0]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the phone has no finished call: %+v", phone.Recent())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if rec.To != to || rec.From != "14155550123" || rec.AnsweredAt.IsZero() || rec.HungUpBy != "caller" {
		t.Fatalf("phone record %+v", rec)
	}
	t.Logf("the phone heard %.2f s of speech", rec.SpeechSeconds)
	if rec.SpeechSeconds <= 0.5 {
		t.Fatalf("the phone heard %.2f s of speech", rec.SpeechSeconds)
	}
	if got := strings.Join(rec.Spoken, "|"); got != text {
		t.Fatalf("phone transcript %q", got)
	}
	mu.Lock()
	got := append([]said(nil), heard...)
	mu.Unlock()
	if len(got) != 1 || got[0] != (said{"sandbox", c.UUID(), to, text}) {
		t.Fatalf("Spoken calls %+v, want one for call %s", got, c.UUID())
	}

	cdr := lastCall(t, s)
	if cdr.UUID != c.UUID() || cdr.Trunk != "sandbox" || cdr.AnsweredAt == nil || cdr.AppID != "" || cdr.HangupCauseName != "End Of XML Instructions" {
		t.Fatalf("cdr %+v", cdr)
	}
	// No application: nothing was fetched, no hangup_url called.
	s.app.mu.Lock()
	hits := len(s.app.hit)
	s.app.mu.Unlock()
	if hits != 0 {
		t.Fatalf("the application server got %d requests", hits)
	}
	waitIdle(t, s)
}

// An outbound call with neither an application nor a document is refused.
func TestOutboundDocumentOrAppRequired(t *testing.T) {
	s := newStack(t, stackOptions{route: func(string) []voice.Target { return []voice.Target{target("t", "127.0.0.1:9")} }})
	if _, err := s.srv.Originate(trunkline.PlaceCall{AccountID: s.acct.Account.ID, From: "1", To: "2"}); err == nil {
		t.Fatal("Originate without App or Document succeeded")
	}
}
