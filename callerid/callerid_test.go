package callerid

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/store"
	"github.com/trunkline/trunkline/store/storetest"
)

// TestCheck runs the rule on SQLite and PostgreSQL: who may use a rented number, an
// allowed sender ID and a verified caller ID, and who may not.
func TestCheck(t *testing.T) {
	for _, db := range storetest.Open(t) {
		t.Run(string(db.Dialect()), func(t *testing.T) {
			ctx := context.Background()
			mk := func(id, parent string) {
				a := &trunkline.Account{ID: id, ParentID: parent, Name: id, Enabled: true}
				if err := db.CreateAccount(ctx, a, &trunkline.Credential{ID: "CR" + id, TokenMAC: []byte("mac-" + id), TokenEnc: []byte("e")}); err != nil {
					t.Fatal(err)
				}
			}
			mk("MAmain", "")
			mk("SAsub1", "MAmain")
			mk("SAsub2", "MAmain")
			mk("MAother", "")
			if _, err := db.ImportNumbers(ctx, []*trunkline.Number{
				{Number: "14155550100", CountryISO: "US", Type: "local", VoiceEnabled: true, SMSEnabled: true},
				{Number: "14155550101", CountryISO: "US", Type: "local", VoiceEnabled: true, SMSEnabled: true},
				{Number: "14155550102", CountryISO: "US", Type: "local", VoiceEnabled: true, SMSEnabled: true},
				{Number: "14155550199", CountryISO: "US", Type: "local", VoiceEnabled: true, SMSEnabled: true},
			}); err != nil {
				t.Fatal(err)
			}
			for n, a := range map[string]string{"14155550100": "MAmain", "14155550101": "SAsub1", "14155550102": "MAother"} {
				if _, err := db.RentNumber(ctx, n, a, ""); err != nil {
					t.Fatal(err)
				}
			}
			if err := db.AllowSenderID(ctx, "MAmain", "Acme", "test"); err != nil {
				t.Fatal(err)
			}
			if err := db.AllowSenderID(ctx, "MAother", "Other", "test"); err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			if err := db.SaveVerifiedCallerID(ctx, &trunkline.VerifiedCallerID{AccountID: "SAsub1", PhoneNumber: "447700900123",
				Channel: "sms", VerifiedAt: now, ModifiedAt: now}); err != nil {
				t.Fatal(err)
			}
			c := New(db)
			for _, tc := range []struct {
				name, acct, src string
				use             Use
				ok              bool
			}{
				{"own number", "MAmain", "14155550100", SMS, true},
				{"own number with plus", "MAmain", "+14155550100", Voice, true},
				{"main's number from a sub", "SAsub2", "14155550100", Voice, true},
				{"sub's number from its main", "MAmain", "14155550101", SMS, true},
				{"sibling's number", "SAsub2", "14155550101", SMS, false},
				{"another tenant's number", "MAmain", "14155550102", SMS, false},
				{"another tenant's number as caller ID", "SAsub1", "14155550102", Voice, false},
				{"unrented number", "MAmain", "14155550199", Voice, false},
				{"allowed sender ID", "MAmain", "Acme", SMS, true},
				{"main's sender ID from a sub", "SAsub1", "Acme", SMS, true},
				{"sender ID case differs", "MAmain", "ACME", SMS, false},
				{"another tenant's sender ID", "MAmain", "Other", SMS, false},
				{"sender ID not allowed", "MAother", "Acme", SMS, false},
				{"sender ID as caller ID", "MAmain", "Acme", Voice, false},
				{"bad sender ID", "MAmain", "Way Too Long", SMS, false},
				{"verified caller ID", "SAsub1", "447700900123", Voice, true},
				{"sub's verified caller ID from its main", "MAmain", "447700900123", Voice, true},
				{"verified caller ID is not an SMS sender", "SAsub1", "447700900123", SMS, false},
				{"sibling's verified caller ID", "SAsub2", "447700900123", Voice, false},
				{"another tenant's verified caller ID", "MAother", "447700900123", Voice, false},
			} {
				err := c.Check(ctx, tc.acct, tc.src, tc.use)
				var refused *Refused
				switch {
				case tc.ok && err != nil:
					t.Errorf("%s: refused: %v", tc.name, err)
				case !tc.ok && !errors.As(err, &refused):
					t.Errorf("%s: want a refusal, got %v", tc.name, err)
				}
			}
			// Revoking and deleting take the right away.
			if err := db.RevokeSenderID(ctx, "MAmain", "Acme"); err != nil {
				t.Fatal(err)
			}
			if err := db.RevokeSenderID(ctx, "MAmain", "Acme"); !errors.Is(err, trunkline.ErrNotFound) {
				t.Fatalf("revoke twice: %v", err)
			}
			if err := c.Check(ctx, "MAmain", "Acme", SMS); err == nil {
				t.Fatal("revoked sender ID still allowed")
			}
			if err := db.DeleteVerifiedCallerID(ctx, trunkline.ScopeOf(&trunkline.Account{ID: "MAmain"}), "447700900123"); err != nil {
				t.Fatal(err)
			}
			if err := c.Check(ctx, "SAsub1", "447700900123", Voice); err == nil {
				t.Fatal("deleted caller ID still allowed")
			}
		})
	}
}

// countingStore counts account reads.
type countingStore struct {
	*store.DB
	reads int
}

func (c *countingStore) Account(ctx context.Context, id string) (*trunkline.Account, error) {
	c.reads++
	return c.DB.Account(ctx, id)
}

// TestCheckReadsAccountOnce: every message's source is checked, and all the rule needs
// of the account is its main account, which never changes: it is read once, and a
// subaccount still shares its main account's numbers from the cache.
func TestCheckReadsAccountOnce(t *testing.T) {
	for _, db := range storetest.Open(t) {
		t.Run(string(db.Dialect()), func(t *testing.T) {
			ctx := context.Background()
			for _, a := range []*trunkline.Account{{ID: "MAmain", Name: "m", Enabled: true}, {ID: "SAsub", ParentID: "MAmain", Name: "s", Enabled: true}} {
				if err := db.CreateAccount(ctx, a, &trunkline.Credential{ID: "CR" + a.ID, TokenMAC: []byte("mac-" + a.ID), TokenEnc: []byte("e")}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := db.ImportNumbers(ctx, []*trunkline.Number{{Number: "14155550100", CountryISO: "US", Type: "local", SMSEnabled: true}}); err != nil {
				t.Fatal(err)
			}
			if _, err := db.RentNumber(ctx, "14155550100", "MAmain", ""); err != nil {
				t.Fatal(err)
			}
			cs := &countingStore{DB: db}
			c := New(cs)
			for i := 0; i < 3; i++ {
				if err := c.Check(ctx, "SAsub", "14155550100", SMS); err != nil {
					t.Fatalf("check %d: %v", i, err)
				}
			}
			var refused *Refused
			if err := c.Check(ctx, "SAsub", "14155550199", SMS); !errors.As(err, &refused) {
				t.Fatalf("a number nobody rents: %v", err)
			}
			if cs.reads != 1 {
				t.Fatalf("account read %d times, want once", cs.reads)
			}
		})
	}
}
