package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/smpp/pdu"
	. "github.com/trunkline/trunkline/store"
	"github.com/trunkline/trunkline/store/storetest"
)

// The store suite: every test runs on SQLite and, when TRUNKLINE_TEST_POSTGRES is set,
// on PostgreSQL, through the same methods.

func forEach(t *testing.T, fn func(t *testing.T, db *DB)) {
	for _, db := range storetest.Open(t) {
		t.Run(string(db.Dialect()), func(t *testing.T) { fn(t, db) })
	}
}

func mkAccount(t *testing.T, db *DB, id, parent string) *trunkline.Account {
	t.Helper()
	a := &trunkline.Account{ID: id, ParentID: parent, Name: "n-" + id, Enabled: true}
	if err := db.CreateAccount(context.Background(), a, &trunkline.Credential{ID: "CR" + id, TokenMAC: []byte("mac-" + id), TokenEnc: []byte("enc")}); err != nil {
		t.Fatal(err)
	}
	return a
}

func TestMigrationsIdempotent(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		v, err := db.SchemaVersion(ctx)
		if err != nil || v < 1 {
			t.Fatalf("schema version %d, %v", v, err)
		}
		if err := db.Migrate(ctx); err != nil {
			t.Fatalf("second migrate: %v", err)
		}
	})
}

func TestAccountsAndCredentials(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		db.SetClock(func() time.Time { return now })
		m := mkAccount(t, db, "MA1", "")
		mkAccount(t, db, "SA1", "MA1")
		mkAccount(t, db, "SA2", "MA1")
		if err := db.CreateAccount(ctx, &trunkline.Account{ID: "MA1", Name: "dup"}, &trunkline.Credential{ID: "CRdup", TokenMAC: []byte{1}, TokenEnc: []byte{1}}); !errors.Is(err, trunkline.ErrConflict) {
			t.Fatalf("duplicate id: %v", err)
		}
		got, err := db.Account(ctx, "SA1")
		if err != nil || got.ParentID != "MA1" || got.MainID() != "MA1" || !got.IsSub() || !got.CreatedAt.Equal(now) {
			t.Fatalf("account %+v %v", got, err)
		}
		if _, err := db.Account(ctx, "nope"); !errors.Is(err, trunkline.ErrNotFound) {
			t.Fatalf("missing account: %v", err)
		}
		name, off := "renamed", false
		if a, err := db.UpdateAccount(ctx, "SA1", trunkline.AccountUpdate{Name: &name, Enabled: &off}); err != nil || a.Name != name || a.Enabled {
			t.Fatalf("update %+v %v", a, err)
		}
		subs, total, err := db.ListAccounts(ctx, "MA1", 1, 1)
		if err != nil || total != 2 || len(subs) != 1 || subs[0].ID != "SA2" {
			t.Fatalf("list subs %v %d %v", subs, total, err)
		}
		mains, total, _ := db.ListAccounts(ctx, "", 20, 0)
		if total != 1 || mains[0].ID != m.ID {
			t.Fatalf("list mains %v", mains)
		}

		// Rotation: the old credential expires at the overlap end; the new one is current.
		end := now.Add(time.Hour)
		retired, err := db.RotateCredential(ctx, &trunkline.Credential{ID: "CRnew", AccountID: "MA1", TokenMAC: []byte("n"), TokenEnc: []byte("e")}, &end)
		if err != nil || len(retired) != 1 || retired[0] != "CRMA1" {
			t.Fatalf("rotate: %v %v", retired, err)
		}
		live, _ := db.Credentials(ctx, "MA1", now)
		if len(live) != 2 || live[0].ID != "CRnew" || live[1].ExpiresAt == nil || !live[1].ExpiresAt.Equal(end) {
			t.Fatalf("live during overlap: %+v", live)
		}
		if live, _ := db.Credentials(ctx, "MA1", end); len(live) != 1 || live[0].ID != "CRnew" {
			t.Fatalf("live after overlap: %+v", live)
		}
		// Revocation is immediate.
		ids, err := db.RevokeCredentials(ctx, "MA1", "CRnew")
		if err != nil || len(ids) != 1 {
			t.Fatalf("revoke: %v %v", ids, err)
		}
		if live, _ := db.Credentials(ctx, "MA1", now); len(live) != 1 {
			t.Fatalf("after revoke: %+v", live)
		}
		if ids, _ := db.SubaccountIDs(ctx, "MA1"); len(ids) != 2 {
			t.Fatalf("subaccount ids %v", ids)
		}
	})
}

func TestApplicationsScoped(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		mkAccount(t, db, "MA1", "")
		mkAccount(t, db, "SA1", "MA1")
		mkAccount(t, db, "MA2", "")
		for _, a := range []*trunkline.Application{
			{ID: "1", AccountID: "MA1", Name: "main", DefaultNumberApp: true},
			{ID: "2", AccountID: "SA1", Name: "sub"},
			{ID: "3", AccountID: "MA2", Name: "other"},
		} {
			if err := db.CreateApplication(ctx, a); err != nil {
				t.Fatal(err)
			}
		}
		main, sub, other := trunkline.Scope{AccountID: "MA1", IncludeSubs: true}, trunkline.Scope{AccountID: "SA1"}, trunkline.Scope{AccountID: "MA2", IncludeSubs: true}
		if _, n, _ := db.ListApplications(ctx, main, trunkline.ApplicationFilter{Limit: 20}); n != 2 {
			t.Fatalf("main sees %d applications, want 2", n)
		}
		if apps, n, _ := db.ListApplications(ctx, sub, trunkline.ApplicationFilter{Limit: 20}); n != 1 || apps[0].ID != "2" {
			t.Fatalf("sub sees %d", n)
		}
		if _, err := db.Application(ctx, sub, "1"); !errors.Is(err, trunkline.ErrNotFound) {
			t.Fatalf("sub reads parent's app: %v", err)
		}
		if _, err := db.Application(ctx, other, "2"); !errors.Is(err, trunkline.ErrNotFound) {
			t.Fatalf("other tenant reads app: %v", err)
		}
		if _, err := db.UpdateApplication(ctx, other, "1", func(a *trunkline.Application) error { a.Name = "x"; return nil }); !errors.Is(err, trunkline.ErrNotFound) {
			t.Fatalf("other tenant updates app: %v", err)
		}
		if err := db.DeleteApplication(ctx, sub, "1"); !errors.Is(err, trunkline.ErrNotFound) {
			t.Fatalf("sub deletes parent's app: %v", err)
		}
		// A new default app takes the flag from the old one.
		if err := db.CreateApplication(ctx, &trunkline.Application{ID: "4", AccountID: "MA1", Name: "new", DefaultNumberApp: true}); err != nil {
			t.Fatal(err)
		}
		if a, _ := db.Application(ctx, main, "1"); a.DefaultNumberApp {
			t.Fatal("two default number apps")
		}
		a, err := db.UpdateApplication(ctx, main, "2", func(a *trunkline.Application) error { a.PublicURI = true; a.AccountID = "MA1"; return nil })
		if err != nil || !a.PublicURI {
			t.Fatalf("update: %+v %v", a, err)
		}
		if _, err := db.Application(ctx, sub, "2"); !errors.Is(err, trunkline.ErrNotFound) {
			t.Fatal("moving an app to the parent left it visible to the sub")
		}
	})
}

func TestNumbers(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		mkAccount(t, db, "MA1", "")
		mkAccount(t, db, "MA2", "")
		ns := []*trunkline.Number{
			{Number: "14155550100", CountryISO: "US", Type: "local", VoiceEnabled: true, SMSEnabled: true, MonthlyRentalRate: "0.80000"},
			{Number: "14155550101", CountryISO: "US", Type: "tollfree", VoiceEnabled: true},
			{Number: "442071838750", CountryISO: "GB", Type: "mobile", SMSEnabled: true},
		}
		if added, err := db.ImportNumbers(ctx, ns); err != nil || added != 3 {
			t.Fatalf("import: %d %v", added, err)
		}
		ns[0].Carrier = "carrier-b"
		if added, err := db.ImportNumbers(ctx, ns[:1]); err != nil || added != 0 {
			t.Fatalf("re-import: %d %v", added, err)
		}
		if got, n, _ := db.SearchNumbers(ctx, trunkline.NumberSearch{CountryISO: "us", Services: []string{"sms"}, Limit: 20}); n != 1 || got[0].Carrier != "carrier-b" {
			t.Fatalf("search sms in US: %d %+v", n, got)
		}
		if _, n, _ := db.SearchNumbers(ctx, trunkline.NumberSearch{CountryISO: "US", Type: "tollfree", Limit: 20}); n != 1 {
			t.Fatalf("search tollfree: %d", n)
		}
		// Concurrent renters: exactly one wins.
		var wg sync.WaitGroup
		wins := make(chan string, 2)
		for _, acct := range []string{"MA1", "MA2"} {
			wg.Add(1)
			go func(acct string) {
				defer wg.Done()
				if _, err := db.RentNumber(ctx, "14155550100", acct, ""); err == nil {
					wins <- acct
				}
			}(acct)
		}
		wg.Wait()
		close(wins)
		var winner string
		count := 0
		for w := range wins {
			winner = w
			count++
		}
		if count != 1 {
			t.Fatalf("%d renters won the same number", count)
		}
		loser := map[string]string{"MA1": "MA2", "MA2": "MA1"}[winner]
		ws, ls := trunkline.Scope{AccountID: winner, IncludeSubs: true}, trunkline.Scope{AccountID: loser, IncludeSubs: true}
		if _, err := db.RentedNumber(ctx, ls, "14155550100"); !errors.Is(err, trunkline.ErrNotFound) {
			t.Fatalf("loser sees the number: %v", err)
		}
		if _, n, _ := db.SearchNumbers(ctx, trunkline.NumberSearch{CountryISO: "US", Limit: 20}); n != 1 {
			t.Fatalf("rented number still offered: %d", n)
		}
		if err := db.CreateApplication(ctx, &trunkline.Application{ID: "9", AccountID: winner, Name: "a"}); err != nil {
			t.Fatal(err)
		}
		if n, err := db.UpdateRented(ctx, ws, "14155550100", func(n *trunkline.Number) error { n.AppID, n.Alias = "9", "desk"; return nil }); err != nil || n.AppID != "9" {
			t.Fatalf("assign: %+v %v", n, err)
		}
		if got, n, _ := db.ListRented(ctx, ws, trunkline.RentedFilter{Alias: "desk", Limit: 20}); n != 1 || got[0].AppID != "9" {
			t.Fatalf("list rented: %d", n)
		}
		// Deleting the app leaves the number without one.
		if err := db.DeleteApplication(ctx, ws, "9"); err != nil {
			t.Fatal(err)
		}
		if n, _ := db.RentedNumber(ctx, ws, "14155550100"); n.AppID != "" {
			t.Fatalf("number still points at a deleted app")
		}
		if err := db.UnrentNumber(ctx, ls, "14155550100"); !errors.Is(err, trunkline.ErrNotFound) {
			t.Fatalf("loser unrents: %v", err)
		}
		if err := db.UnrentNumber(ctx, ws, "14155550100"); err != nil {
			t.Fatal(err)
		}
		if _, n, _ := db.SearchNumbers(ctx, trunkline.NumberSearch{CountryISO: "US", Limit: 20}); n != 2 {
			t.Fatalf("unrented number not offered again: %d", n)
		}
	})
}

func TestDeleteSubaccount(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		mkAccount(t, db, "MA1", "")
		mkAccount(t, db, "SA1", "MA1")
		mkAccount(t, db, "SA2", "MA1")
		db.CreateApplication(ctx, &trunkline.Application{ID: "1", AccountID: "SA1", Name: "a"})
		db.CreateApplication(ctx, &trunkline.Application{ID: "2", AccountID: "SA2", Name: "b"})
		db.ImportNumbers(ctx, []*trunkline.Number{{Number: "14155550100", CountryISO: "US", Type: "local"}})
		db.RentNumber(ctx, "14155550100", "SA1", "1")
		main := trunkline.Scope{AccountID: "MA1", IncludeSubs: true}
		if err := db.DeleteSubaccount(ctx, "MA2", "SA1", false); !errors.Is(err, trunkline.ErrNotFound) {
			t.Fatalf("delete by a stranger: %v", err)
		}
		if err := db.DeleteSubaccount(ctx, "MA1", "SA1", false); err != nil {
			t.Fatal(err)
		}
		if a, err := db.Application(ctx, main, "1"); err != nil || a.AccountID != "MA1" {
			t.Fatalf("without cascade the app moves to the parent: %+v %v", a, err)
		}
		if n, err := db.RentedNumber(ctx, main, "14155550100"); err != nil || n.AccountID != "MA1" || n.AppID != "1" {
			t.Fatalf("number after delete: %+v %v", n, err)
		}
		if err := db.DeleteSubaccount(ctx, "MA1", "SA2", true); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Application(ctx, main, "2"); !errors.Is(err, trunkline.ErrNotFound) {
			t.Fatalf("cascade left the app: %v", err)
		}
		if _, err := db.Account(ctx, "SA2"); !errors.Is(err, trunkline.ErrNotFound) {
			t.Fatal("subaccount still there")
		}
	})
}

// TestReceiptBeforeSubmit: a receipt that arrives before its submit_sm_resp was recorded
// (and spells the id differently) is kept and applied when the submit is recorded.
func TestReceiptBeforeSubmit(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		mkAccount(t, db, "MA1", "")
		m := &trunkline.Message{UUID: "m1", AccountID: "MA1", Direction: "outbound", Type: "sms", LogMode: "true", From: "1", To: "2",
			State: trunkline.MsgQueued, Units: 1, PayloadEnc: []byte("x"), ExpiresAt: time.Now().Add(time.Hour)}
		if err := db.InsertMessages(ctx, []*trunkline.Message{m}, nil); err != nil {
			t.Fatal(err)
		}
		// Receipt quotes the id in decimal; the resp gave it in hex (the keys as the
		// message service makes them: one stored per segment, the receipt's candidates).
		out, err := db.ApplyReceipt(ctx, "c1", pdu.MessageIDKeys("169552957"), trunkline.MsgDelivered, "000", true, nil)
		if err != nil || out.Message != nil {
			t.Fatalf("early receipt: %+v %v", out, err)
		}
		got, err := db.RecordSend(ctx, "m1", trunkline.SendOutcome{State: trunkline.MsgSent, Carrier: "c1", Erase: true,
			Parts: []trunkline.Part{{Seq: 1, Keys: []string{pdu.MessageIDKey("0A1B2C3D")}}}})
		if err != nil {
			t.Fatal(err)
		}
		if got.State != trunkline.MsgDelivered || got.ErrorCode != "000" {
			t.Fatalf("after the late resp: %s %s", got.State, got.ErrorCode)
		}
		// A receipt for another carrier's id does not touch it.
		if out, _ := db.ApplyReceipt(ctx, "c2", pdu.MessageIDKeys("0A1B2C3D"), trunkline.MsgUndelivered, "70", true, nil); out.Message != nil {
			t.Fatal("a receipt matched another carrier's message")
		}
	})
}

func TestClaimLeases(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		mkAccount(t, db, "MA1", "")
		var ms []*trunkline.Message
		for i := 0; i < 5; i++ {
			ms = append(ms, &trunkline.Message{UUID: fmt.Sprint("m", i), AccountID: "MA1", Direction: "outbound", Type: "sms", LogMode: "true",
				From: "1", To: "2", State: trunkline.MsgQueued, Units: 1, ExpiresAt: time.Now().Add(time.Hour)})
		}
		if err := db.InsertMessages(ctx, ms, nil); err != nil {
			t.Fatal(err)
		}
		got, err := db.ClaimMessages(ctx, "node-a", time.Minute, 3)
		if err != nil || len(got) != 3 {
			t.Fatalf("first claim: %d %v", len(got), err)
		}
		got2, _ := db.ClaimMessages(ctx, "node-b", time.Minute, 10)
		if len(got2) != 2 {
			t.Fatalf("second claim took %d, want the 2 unleased", len(got2))
		}
		if more, _ := db.ClaimMessages(ctx, "node-b", time.Minute, 10); len(more) != 0 {
			t.Fatalf("leased messages claimed twice: %d", len(more))
		}
		// node-a restarts: its leases are freed, node-b's are not.
		if n, err := db.ReleaseLeases(ctx, "node-a", ""); err != nil || n != 3 {
			t.Fatalf("release: %d %v", n, err)
		}
		if again, _ := db.ClaimMessages(ctx, "node-a", time.Minute, 10); len(again) != 3 || again[0].Attempts != 2 {
			t.Fatalf("after release: %d", len(again))
		}
	})
}

// TestPruneEarlyReceipts: a receipt that came before its submit and was taken back
// leaves the spellings of its id the submit did not use; those, and receipts for
// messages never sent from here, go once older than the cut-off, and newer ones stay.
func TestPruneEarlyReceipts(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		day := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
		db.SetClock(func() time.Time { return day })
		// A digits-only id: stored under its own key and its spellings in the other base.
		if out, err := db.ApplyReceipt(ctx, "c1", pdu.MessageIDKeys("169552957"), trunkline.MsgDelivered, "000", true, nil); err != nil || out.Message != nil {
			t.Fatalf("early receipt: %+v %v", out, err)
		}
		db.SetClock(func() time.Time { return day.Add(2 * time.Hour) })
		if _, err := db.ApplyReceipt(ctx, "c1", pdu.MessageIDKeys("zz-unknown"), trunkline.MsgDelivered, "000", true, nil); err != nil {
			t.Fatal(err)
		}
		count := func() (n int) {
			t.Helper()
			if err := db.SQL().QueryRow(`SELECT COUNT(*) FROM early_receipts`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		if n := count(); n != 4 {
			t.Fatalf("%d early receipt rows, want 4 (three spellings and one word)", n)
		}
		n, err := db.PruneEarlyReceipts(ctx, day.Add(time.Hour))
		if err != nil || n != 3 || count() != 1 {
			t.Fatalf("prune: %d deleted, %v, %d left; want 3 deleted and the newer one left", n, err, count())
		}
	})
}
