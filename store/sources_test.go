package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/trunkline/trunkline"
	. "github.com/trunkline/trunkline/store"
)

// TestNumberHoldersCache: who rents a number is cached; renting, moving and unrenting it
// through the store take effect at once, and a change the store did not make (another
// node, a CLI command) once the entry has run out.
func TestNumberHoldersCache(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		mkAccount(t, db, "MA1", "")
		mkAccount(t, db, "MA2", "")
		mkAccount(t, db, "SA1", "MA1")
		if _, err := db.ImportNumbers(ctx, []*trunkline.Number{{Number: "15550001", CountryISO: "US", Type: "local", SMSEnabled: true}}); err != nil {
			t.Fatal(err)
		}
		holder := func() string {
			t.Helper()
			hs, err := db.NumberHolders(ctx, "15550001")
			if err != nil || len(hs) > 1 {
				t.Fatalf("holders: %v %v", hs, err)
			}
			if len(hs) == 0 {
				return ""
			}
			return hs[0].AccountID
		}
		if h := holder(); h != "" {
			t.Fatalf("held by %q before renting", h)
		}
		if _, err := db.RentNumber(ctx, "15550001", "SA1", ""); err != nil {
			t.Fatal(err)
		}
		if h := holder(); h != "SA1" {
			t.Fatalf("after renting: %q", h)
		}
		if err := db.DeleteSubaccount(ctx, "MA1", "SA1", false); err != nil {
			t.Fatal(err)
		}
		if h := holder(); h != "MA1" {
			t.Fatalf("after the subaccount went: %q", h)
		}
		if err := db.UnrentNumber(ctx, trunkline.Scope{AccountID: "MA1"}, "15550001"); err != nil {
			t.Fatal(err)
		}
		if h := holder(); h != "" {
			t.Fatalf("after unrenting: %q", h)
		}
		// Behind the store's back: the cached answer stands until its entry runs out.
		db.SetNumberHoldersTTL(200 * time.Millisecond)
		holder()
		if _, err := db.SQL().Exec(db.Rebind(`UPDATE numbers SET account_id = ? WHERE number = ?`), "MA2", "15550001"); err != nil {
			t.Fatal(err)
		}
		if h := holder(); h != "" {
			t.Fatalf("not served from the cache: %q", h)
		}
		deadline := time.Now().Add(10 * time.Second)
		for holder() != "MA2" {
			if time.Now().After(deadline) {
				t.Fatal("the cached holder never ran out")
			}
			time.Sleep(20 * time.Millisecond) // waiting for the entry's age, no event to wait on
		}
	})
}
