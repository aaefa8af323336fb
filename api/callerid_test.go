package api

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trunkline/trunkline/message"
	"github.com/trunkline/trunkline/store"
)

// sent records what reached the message and call services: a refused source must
// reach neither.
type sent struct {
	mu    sync.Mutex
	srcs  []string
	froms []string
}

func (s *sent) Send(_ context.Context, r message.Request) (*message.Accepted, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.srcs = append(s.srcs, r.Src)
	return &message.Accepted{UUIDs: []string{"m-" + r.Src}}, nil
}

func (s *sent) Place(_ context.Context, c PlaceCall) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.froms = append(s.froms, c.From)
	return nil
}
func (s *sent) Live(func(string) bool, bool) []LiveCall { return nil }
func (s *sent) Get(string) (LiveCall, bool)             { return LiveCall{}, false }
func (s *sent) Hangup(string) bool                      { return false }
func (s *sent) Cancel(string) bool                      { return false }
func (s *sent) Command(context.Context, string, CallCommand) (CommandResult, error) {
	return CommandResult{}, ErrNoLiveCall
}

// TestSendAsOwnSourcesOnly: POST Message/ and POST Call/ take as src/from only a number
// the account (or its main account) rents, an operator-allowed sender ID (SMS) or a
// verified caller ID (calls); anything else is a Plivo-style 400 and nothing is sent.
func TestSendAsOwnSourcesOnly(t *testing.T) {
	for _, db := range store.OpenTest(t) {
		t.Run(string(db.Dialect()), func(t *testing.T) {
			rec := &sent{}
			e := newEnv(t, db, Options{Messages: rec, Calls: rec})
			ctx := context.Background()
			a := e.mainAccount("tenant-a")
			b := e.mainAccount("tenant-b")
			aAcct, _ := db.Account(ctx, a.id)
			sub, err := e.accounts.CreateSub(ctx, aAcct, "a-sub", true)
			if err != nil {
				t.Fatal(err)
			}
			s := cred{sub.Account.ID, sub.Token}
			importNumbers(t, db, "14155550100", "14155550200", "14155550300")
			if _, err := db.RentNumber(ctx, "14155550100", a.id, ""); err != nil {
				t.Fatal(err)
			}
			if _, err := db.RentNumber(ctx, "14155550200", b.id, ""); err != nil {
				t.Fatal(err)
			}
			if err := db.AllowSenderID(ctx, a.id, "Acme", "test"); err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			if err := db.SaveVerifiedCallerID(ctx, &store.VerifiedCallerID{AccountID: a.id, PhoneNumber: "447700900123",
				Channel: "sms", VerifiedAt: now, ModifiedAt: now}); err != nil {
				t.Fatal(err)
			}
			msg := func(c cred, src string) reply {
				return e.do(c, "POST", acctPath(c, "Message/"), map[string]any{"src": src, "dst": "447700900999", "text": "hi"})
			}
			call := func(c cred, from string) reply {
				return e.do(c, "POST", acctPath(c, "Call/"), map[string]any{"from": from, "to": "447700900999", "answer_url": "https://example.com/a"})
			}
			for _, tc := range []struct {
				name string
				r    reply
				want int
			}{
				{"message from own number", msg(a, "14155550100"), 202},
				{"message from main's number (subaccount)", msg(s, "+14155550100"), 202},
				{"message from allowed sender ID", msg(a, "Acme"), 202},
				{"message from main's sender ID (subaccount)", msg(s, "Acme"), 202},
				{"message from another tenant's number", msg(a, "14155550200"), 400},
				{"message from an unrented number", msg(a, "14155550300"), 400},
				{"message from a sender ID not allowed", msg(b, "Acme"), 400},
				{"message from a verified caller ID", msg(a, "447700900123"), 400},
				{"call from own number", call(a, "14155550100"), 201},
				{"call from main's number (subaccount)", call(s, "14155550100"), 201},
				{"call from a verified caller ID", call(a, "447700900123"), 201},
				{"call from main's verified caller ID (subaccount)", call(s, "447700900123"), 201},
				{"call from another tenant's number", call(a, "14155550200"), 400},
				{"call from an unrented number", call(b, "14155550300"), 400},
				{"call from another tenant's verified caller ID", call(b, "447700900123"), 400},
			} {
				if tc.r.status != tc.want {
					t.Errorf("%s: status %d, want %d: %s", tc.name, tc.r.status, tc.want, tc.r.raw)
					continue
				}
				if tc.want == 400 {
					checkShape(t, tc.r)
					if msg := tc.r.str("error"); !strings.Contains(msg, "number") && !strings.Contains(msg, "sender ID") {
						t.Errorf("%s: error %q does not say why", tc.name, msg)
					}
				}
			}
			rec.mu.Lock()
			defer rec.mu.Unlock()
			if got := strings.Join(rec.srcs, ","); got != "14155550100,14155550100,Acme,Acme" {
				t.Errorf("messages sent from %s", got)
			}
			if got := strings.Join(rec.froms, ","); got != "14155550100,14155550100,447700900123,447700900123" {
				t.Errorf("calls placed from %s", got)
			}
		})
	}
}
