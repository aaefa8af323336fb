package voice_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/callerid"
	"github.com/trunkline/trunkline/internal/peer"
	"github.com/trunkline/trunkline/message"
	"github.com/trunkline/trunkline/store/storetest"
	"github.com/trunkline/trunkline/voice"
)

// smsVia sends <Message> through a real message service, as cmd/trunkline's adapter
// does. The service has no carrier: a message it accepts fails with 90 (no route), one
// whose src it refuses fails with 40 (invalid source).
type smsVia struct{ s *message.Service }

func (m smsVia) SendSMS(ctx context.Context, acct, src, dst, text, url, method string) error {
	acc, err := m.s.Queue(ctx, trunkline.SendRequest{AccountID: acct, Src: src, Dsts: []string{dst}, Text: text, LogMode: trunkline.LogAll})
	if err == nil && acc.Refused != "" {
		return errors.New(acc.Refused)
	}
	return err
}

// sourceStack is a voice stack whose account rents 14155550123 and verified the caller
// ID 447700900123, beside another tenant renting 14155550200; the trunk is a SIPp UAS
// that answers every INVITE with 486, so a placed leg shows as DialStatus=busy and a
// refused one (never placed) as failed.
func sourceStack(t *testing.T) (*stack, *peer.SIPpRun) {
	t.Helper()
	peer.SIPp(t)
	db := storetest.Open(t)[0]
	busy, run := sippTrunk(t, "trunk-busy", "uas_486.xml", nil)
	s := newStackDB(t, db, stackOptions{route: func(string) []voice.Target { return []voice.Target{busy} },
		messages: smsVia{message.New(message.Options{DB: db})}})
	ctx := context.Background()
	other, err := s.accounts.CreateMain(ctx, "other tenant")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ImportNumbers(ctx, []*trunkline.Number{{Number: "14155550200", CountryISO: "US", Type: "local", VoiceEnabled: true, SMSEnabled: true}}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.RentNumber(ctx, "14155550200", other.Account.ID, ""); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := db.SaveVerifiedCallerID(ctx, &trunkline.VerifiedCallerID{AccountID: s.acct.Account.ID, PhoneNumber: "447700900123",
		Channel: "sms", VerifiedAt: now, ModifiedAt: now}); err != nil {
		t.Fatal(err)
	}
	return s, run
}

// TestDialCallerIDRule: <Dial callerId> with another tenant's number places no leg:
// the Dial action sees DialStatus=failed, the leg's CDR says why, and the call goes on.
// The account's own number and its verified caller ID are placed (the trunk answers
// busy).
func TestDialCallerIDRule(t *testing.T) {
	s, run := sourceStack(t)
	dial := func(callerID, action string) string {
		return `<Response><Dial callerId="` + callerID + `" action="` + s.app.url(action) + `"><Number>14155550100</Number></Dial></Response>`
	}
	s.app.set("/answer", dial("14155550200", "/foreign"))
	s.app.set("/foreign", dial("+14155550123", "/own"))
	s.app.set("/own", dial("447700900123", "/verified"))
	s.app.set("/verified", `<Response><Hangup/></Response>`)
	s.app.set("/hangup", "ok")
	p, err := call(t, s, s.number)
	if err != nil {
		t.Fatal(err)
	}
	foreign := s.app.wait(t, "/foreign", 10*time.Second)
	if foreign.Get("DialStatus") != "failed" || foreign.Get("DialHangupCause") != voice.CauseCallerIDRefused.Telephony ||
		foreign.Get("DialBLegUUID") != "" {
		t.Errorf("Dial with another tenant's callerId: %v", foreign)
	}
	if own := s.app.wait(t, "/own", 15*time.Second); own.Get("DialStatus") != "busy" {
		t.Errorf("Dial with the account's own number: %v", own)
	}
	if v := s.app.wait(t, "/verified", 15*time.Second); v.Get("DialStatus") != "busy" {
		t.Errorf("Dial with a verified caller ID: %v", v)
	}
	p.ended(t, 10*time.Second)
	s.app.wait(t, "/hangup", 10*time.Second)
	run.Terminate()
	if r, _ := run.Wait(); r != nil && r.Created != 2 {
		t.Errorf("the trunk got %d INVITEs; want 2 (the refused Dial places none)", r.Created)
	}
	legs, _, err := s.db.ListCalls(context.Background(), trunkline.Scope{AccountID: s.acct.Account.ID},
		trunkline.CallFilter{ParentUUID: foreign.Get("CallUUID"), Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	refused := 0
	for _, l := range legs {
		if l.HangupCauseName == voice.CauseCallerIDRefused.Name {
			refused++
			if l.From != "14155550200" || !strings.Contains(l.HangupReason, "14155550200") || l.Trunk != "" {
				t.Errorf("refused leg's CDR: %+v", l)
			}
		}
	}
	if refused != 1 || len(legs) != 3 {
		t.Errorf("%d legs, %d refused; want 3 and 1", len(legs), refused)
	}
}

// TestMessageInCallCallerIDRule: <Message src> in call XML from another tenant's number
// or an unallowed sender ID is stored failed with error 40 (and not sent); from the
// account's own number it is accepted (and fails only for want of a carrier here).
func TestMessageInCallCallerIDRule(t *testing.T) {
	s, _ := sourceStack(t)
	s.app.set("/answer", `<Response><Message src="14155550200" dst="447700900555">as another tenant</Message>`+
		`<Message src="Bank" dst="447700900555">as a sender ID</Message>`+
		`<Message src="14155550123" dst="447700900555">from our number</Message><Hangup/></Response>`)
	s.app.set("/hangup", "ok")
	// The XML runs before any answer and ends with a hangup, so the INVITE gets a
	// final error response: the hangup_url marks the end.
	call(t, s, s.number)
	s.app.wait(t, "/hangup", 10*time.Second)
	ms, _, err := s.db.ListMessages(context.Background(), trunkline.Scope{AccountID: s.acct.Account.ID}, trunkline.MessageFilter{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	codes := map[string]string{}
	for _, m := range ms {
		codes[m.From] = m.State + "/" + m.ErrorCode
	}
	want := map[string]string{"14155550200": "failed/" + message.ErrInvalidSource, "Bank": "failed/" + message.ErrInvalidSource,
		"14155550123": "failed/" + message.ErrNoRoute}
	if len(codes) != len(want) {
		t.Fatalf("messages %v, want %v", codes, want)
	}
	for k, v := range want {
		if codes[k] != v {
			t.Errorf("message from %s: %s, want %s", k, codes[k], v)
		}
	}
}

// TestTransferCallerIDRule: a live call moved to new XML (the API's transfer) is held
// to the same rule: a <Dial callerId> with another tenant's number there fails too.
func TestTransferCallerIDRule(t *testing.T) {
	s, run := sourceStack(t)
	s.app.set("/answer", `<Response><Speak>Please hold</Speak><Wait length="30"/></Response>`)
	s.app.set("/moved", `<Response><Dial callerId="14155550200" action="`+s.app.url("/dialed")+`"><Number>14155550100</Number></Dial></Response>`)
	s.app.set("/dialed", `<Response><Hangup/></Response>`)
	s.app.set("/hangup", "ok")
	p, err := call(t, s, s.number)
	if err != nil {
		t.Fatal(err)
	}
	answer := s.app.wait(t, "/answer", 10*time.Second)
	for deadline := time.Now().Add(10 * time.Second); ; {
		if l, ok := s.srv.Get(answer.Get("CallUUID")); ok && l.Status == voice.StateInProgress {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the call was not answered")
		}
		time.Sleep(10 * time.Millisecond) // as TestLiveCallControl: the server has no answered signal
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.srv.Command(ctx, answer.Get("CallUUID"), trunkline.CallCommand{Kind: "transfer", URL: s.app.url("/moved"), Method: "POST"}); err != nil {
		t.Fatal(err)
	}
	if d := s.app.wait(t, "/dialed", 10*time.Second); d.Get("DialStatus") != "failed" || d.Get("DialHangupCause") != voice.CauseCallerIDRefused.Telephony {
		t.Errorf("Dial after a transfer: %v", d)
	}
	p.ended(t, 10*time.Second)
	run.Terminate()
	if r, _ := run.Wait(); r != nil && r.Created != 0 {
		t.Errorf("the trunk got %d INVITEs; want none", r.Created)
	}
}

// TestOriginateCallerIDRule: the voice server itself refuses to place a call from a
// number the account may not use, whoever calls Originate.
func TestOriginateCallerIDRule(t *testing.T) {
	s, _ := sourceStack(t)
	app := trunkline.Application{AccountID: s.acct.Account.ID, AnswerURL: s.app.url("/out"), AnswerMethod: "POST"}
	_, err := s.srv.Originate(trunkline.PlaceCall{AccountID: s.acct.Account.ID, From: "14155550200", To: "14155550100", App: app})
	var refused *callerid.Refused
	if !errors.As(err, &refused) {
		t.Fatalf("Originate from another tenant's number: %v", err)
	}
}
