package identity

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/callerid"
)

// TestCallerIDVerification: a caller ID is verified only by the code sent to it, once,
// within its expiry and its tries, by the account it was started for (or its main
// account); the result is what the caller-ID rule accepts. On SQLite and PostgreSQL.
func TestCallerIDVerification(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		mk := func(id, parent string) {
			if err := f.db.CreateAccount(ctx, &trunkline.Account{ID: id, ParentID: parent, Name: id, Enabled: true},
				&trunkline.Credential{ID: "CR" + id, TokenMAC: []byte(id), TokenEnc: []byte("e")}); err != nil {
				t.Fatal(err)
			}
		}
		mk("MAmain", "")
		mk("SAsub1", "MAmain")
		mk("SAsub2", "MAmain")
		mk("MAother", "")
		is := func(ids ...string) func(string) bool {
			return func(a string) bool {
				for _, id := range ids {
					if a == id {
						return true
					}
				}
				return false
			}
		}
		rule := callerid.New(f.db)

		// Bad input.
		if _, err := f.s.StartCallerIDVerification(ctx, "MAmain", "12", "", "sms", "192.0.2.1"); userMsg(err) == "" {
			t.Fatalf("bad number: %v", err)
		}
		if _, err := f.s.StartCallerIDVerification(ctx, "MAmain", "+447700900123", "", "fax", "192.0.2.1"); userMsg(err) == "" {
			t.Fatalf("bad channel: %v", err)
		}

		// Started for a subaccount (the main account's subaccount parameter).
		tok, err := f.s.StartCallerIDVerification(ctx, "SAsub1", "+44 7700 900123", "desk", "call", "192.0.2.1")
		if err != nil {
			t.Fatal(err)
		}
		code := f.codes.last("447700900123")
		if code == "" {
			t.Fatal("no code was sent")
		}
		if err := rule.Check(ctx, "SAsub1", "447700900123", callerid.Voice); err == nil {
			t.Fatal("allowed before the code was checked")
		}
		// Another tenant, or a sibling, cannot complete it, and spends none of its tries.
		for i := 0; i < 6; i++ {
			if _, err := f.s.CompleteCallerIDVerification(ctx, is("MAother"), tok, code, "192.0.2.9"); err != errNoFlow {
				t.Fatalf("another tenant: %v", err)
			}
			if _, err := f.s.CompleteCallerIDVerification(ctx, is("SAsub2"), tok, code, "192.0.2.9"); err != errNoFlow {
				t.Fatalf("a sibling: %v", err)
			}
		}
		wrong := "000000"
		if code == wrong {
			wrong = "111111"
		}
		if _, err := f.s.CompleteCallerIDVerification(ctx, is("SAsub1", "MAmain"), tok, wrong, "192.0.2.1"); !strings.Contains(userMsg(err), "not right") {
			t.Fatalf("wrong code: %v", err)
		}
		// The main account completes it for its subaccount.
		v, err := f.s.CompleteCallerIDVerification(ctx, is("MAmain", "SAsub1"), tok, code, "192.0.2.1")
		if err != nil {
			t.Fatal(err)
		}
		if v.AccountID != "SAsub1" || v.PhoneNumber != "447700900123" || v.Alias != "desk" || v.Channel != "call" || v.VerificationUUID != tok {
			t.Fatalf("verified %+v", v)
		}
		if _, err := f.s.CompleteCallerIDVerification(ctx, is("MAmain", "SAsub1"), tok, code, "192.0.2.1"); err != errNoFlow {
			t.Fatalf("second use: %v", err)
		}
		for acct, want := range map[string]bool{"SAsub1": true, "MAmain": true, "SAsub2": false, "MAother": false} {
			if err := rule.Check(ctx, acct, "447700900123", callerid.Voice); (err == nil) != want {
				t.Errorf("%s calling from the verified number: %v, want allowed=%v", acct, err, want)
			}
		}

		// Tries are bounded, and a code expires.
		tok, _ = f.s.StartCallerIDVerification(ctx, "MAmain", "+447700900456", "", "sms", "192.0.2.1")
		code = f.codes.last("447700900456")
		for i := 0; i < 5; i++ {
			f.s.CompleteCallerIDVerification(ctx, is("MAmain"), tok, wrong, "192.0.2.1")
		}
		if _, err := f.s.CompleteCallerIDVerification(ctx, is("MAmain"), tok, code, "192.0.2.1"); err == nil {
			t.Fatal("the right code after 5 wrong ones was accepted")
		}
		tok, _ = f.s.StartCallerIDVerification(ctx, "MAmain", "+447700900789", "", "sms", "192.0.2.1")
		code = f.codes.last("447700900789")
		f.clk.add(11 * time.Minute)
		if _, err := f.s.CompleteCallerIDVerification(ctx, is("MAmain"), tok, code, "192.0.2.1"); !strings.Contains(userMsg(err), "expired") {
			t.Fatalf("expired code: %v", err)
		}
		for _, n := range []string{"447700900456", "447700900789"} {
			if err := rule.Check(ctx, "MAmain", n, callerid.Voice); err == nil {
				t.Errorf("%s allowed without a right code", n)
			}
		}
		// No code or flow token reached the audit log.
		text := f.audit.text()
		for _, secret := range []string{code, tok} {
			if strings.Contains(text, secret) {
				t.Fatalf("the audit log holds %q", secret)
			}
		}
	})
}
