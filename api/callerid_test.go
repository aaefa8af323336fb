package api

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/audit"
	"github.com/trunkline/trunkline/callerid"
	"github.com/trunkline/trunkline/identity"
	"github.com/trunkline/trunkline/keys"
	"github.com/trunkline/trunkline/message"
	"github.com/trunkline/trunkline/store/storetest"
)

// sent records what the message and call services would send: a refused source must
// reach neither. A message passes the real send rules (message.Prepare, as the message
// service applies them) before it counts.
type sent struct {
	ids   message.CallerIDChecker
	mu    sync.Mutex
	srcs  []string
	froms []string
}

func (s *sent) Send(ctx context.Context, d trunkline.MessageDraft) (*trunkline.MessageAccepted, error) {
	r, err := message.Prepare(ctx, d, s.ids)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.srcs = append(s.srcs, r.Src)
	return &trunkline.MessageAccepted{UUIDs: []string{"m-" + r.Src}, LogMode: r.LogMode}, nil
}

func (s *sent) Place(_ context.Context, c trunkline.PlaceCall) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.froms = append(s.froms, c.From)
	return nil
}
func (s *sent) Live(func(string) bool, bool) []trunkline.LiveCall { return nil }
func (s *sent) Get(string) (trunkline.LiveCall, bool)             { return trunkline.LiveCall{}, false }
func (s *sent) Hangup(string) bool                                { return false }
func (s *sent) Cancel(string) bool                                { return false }
func (s *sent) Command(context.Context, string, trunkline.CallCommand) (trunkline.CommandResult, error) {
	return trunkline.CommandResult{}, trunkline.ErrNoLiveCall
}

// TestSendAsOwnSourcesOnly: POST Message/ and POST Call/ take as src/from only a number
// the account (or its main account) rents, an operator-allowed sender ID (SMS) or a
// verified caller ID (calls); anything else is a Plivo-style 400 and nothing is sent.
func TestSendAsOwnSourcesOnly(t *testing.T) {
	for _, db := range storetest.Open(t) {
		t.Run(string(db.Dialect()), func(t *testing.T) {
			rec := &sent{ids: callerid.New(db)}
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
			if err := db.SaveVerifiedCallerID(ctx, &trunkline.VerifiedCallerID{AccountID: a.id, PhoneNumber: "447700900123",
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

// codeBox stands in for the phone network (the end-to-end TestCallerIDSDK reads real
// codes from the sandbox): it keeps the last code per number.
type codeBox struct {
	mu    sync.Mutex
	codes map[string]string
}

func (c *codeBox) SendCode(_ context.Context, _, phone, code string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.codes[phone] = code
	return nil
}

func (c *codeBox) last(phone string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.codes[phone]
}

type nopAudit struct{}

func (nopAudit) Append(context.Context, audit.Entry) (int64, error) { return 0, nil }

// TestVerifiedCallerIDAPI: a main account verifies a caller ID for its subaccount
// (the subaccount parameter); the subaccount then calls from it and a sibling cannot;
// bad input is a 400 naming the problem.
func TestVerifiedCallerIDAPI(t *testing.T) {
	for _, db := range storetest.Open(t) {
		t.Run(string(db.Dialect()), func(t *testing.T) {
			rec := &sent{ids: callerid.New(db)}
			box := &codeBox{codes: map[string]string{}}
			ring, _ := keys.NewRing(bytes.Repeat([]byte{9}, 32))
			id := identity.New(identity.Options{Store: db, Ring: ring, Sender: box, Audit: nopAudit{},
				Hasher: identity.NewHasher(identity.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 1)})
			e := newEnv(t, db, Options{Calls: rec, Verifier: id})
			ctx := context.Background()
			a := e.mainAccount("tenant-a")
			aAcct, _ := db.Account(ctx, a.id)
			mkSub := func(name string) cred {
				c, err := e.accounts.CreateSub(ctx, aAcct, name, true)
				if err != nil {
					t.Fatal(err)
				}
				return cred{c.Account.ID, c.Token}
			}
			s1, s2 := mkSub("one"), mkSub("two")
			b := e.mainAccount("tenant-b")
			for _, tc := range []struct {
				name string
				c    cred
				body map[string]any
				want string
			}{
				{"no number", a, map[string]any{"alias": "x"}, "phone_number is required"},
				{"bad number", a, map[string]any{"phone_number": "12ab"}, "phone_number"},
				{"bad channel", a, map[string]any{"phone_number": "447700900123", "channel": "fax"}, "channel"},
				{"another tenant's subaccount", b, map[string]any{"phone_number": "447700900123", "subaccount": s1.id}, "subaccount"},
				{"unknown parameter", a, map[string]any{"phone_number": "447700900123", "country": "GB"}, "country"},
			} {
				r := e.do(tc.c, "POST", acctPath(tc.c, "VerifiedCallerId/"), tc.body)
				if r.status != 400 || !strings.Contains(r.str("error"), tc.want) {
					t.Errorf("%s: %d %s", tc.name, r.status, r.raw)
				}
			}
			r := mustStatus(t, e.do(a, "POST", acctPath(a, "VerifiedCallerId/"), map[string]any{"phone_number": "+447700900123",
				"alias": "desk", "subaccount": s1.id}), 200)
			uuid := r.str("verification_uuid")
			code := box.last("447700900123")
			if uuid == "" || code == "" || strings.Contains(r.raw, code) {
				t.Fatalf("initiate: %s", r.raw)
			}
			if r := e.do(a, "POST", acctPath(a, "VerifiedCallerId/Verification/"+uuid+"/"), map[string]any{}); r.status != 400 {
				t.Fatalf("verify without otp: %d %s", r.status, r.raw)
			}
			if r := e.do(b, "POST", acctPath(b, "VerifiedCallerId/Verification/"+uuid+"/"), map[string]any{"otp": code}); r.status != 400 ||
				!strings.Contains(r.str("error"), "ended") {
				t.Fatalf("another tenant verifies: %d %s", r.status, r.raw)
			}
			v := mustStatus(t, e.do(a, "POST", acctPath(a, "VerifiedCallerId/Verification/"+uuid), map[string]any{"otp": code}), 200)
			if v.str("phone_number") != "447700900123" || v.str("subaccount") != s1.id || v.str("alias") != "desk" {
				t.Fatalf("verified: %s", v.raw)
			}
			// The subaccount sees it as its own; the sibling does not see it.
			mustStatus(t, e.do(s1, "GET", acctPath(s1, "VerifiedCallerId/447700900123/"), nil), 200)
			mustStatus(t, e.do(s2, "GET", acctPath(s2, "VerifiedCallerId/447700900123/"), nil), 404)
			call := func(c cred) reply {
				return e.do(c, "POST", acctPath(c, "Call/"), map[string]any{"from": "447700900123", "to": "14155550100", "answer_url": "https://example.com/a"})
			}
			mustStatus(t, call(s1), 201)
			mustStatus(t, call(a), 201)
			mustStatus(t, call(s2), 400)
			mustStatus(t, call(b), 400)
			// Moved to the other subaccount, it follows.
			mustStatus(t, e.do(a, "POST", acctPath(a, "VerifiedCallerId/447700900123/"), map[string]any{"subaccount": s2.id, "alias": "moved"}), 202)
			mustStatus(t, call(s2), 201)
			mustStatus(t, call(s1), 400)
			list := mustStatus(t, e.do(a, "GET", acctPath(a, "VerifiedCallerId/?alias=moved"), nil), 200)
			if objs, _ := list.body["objects"].([]any); len(objs) != 1 {
				t.Fatalf("list: %s", list.raw)
			}
			mustStatus(t, e.do(a, "DELETE", acctPath(a, "VerifiedCallerId/447700900123/"), nil), 204)
			mustStatus(t, call(s2), 400)
		})
	}
	// Without a verifier the API says so.
	forEachStore(t, Options{}, func(t *testing.T, e *env) {
		a := e.mainAccount("x")
		mustStatus(t, e.do(a, "POST", acctPath(a, "VerifiedCallerId/"), map[string]any{"phone_number": "447700900123"}), 503)
	})
}
