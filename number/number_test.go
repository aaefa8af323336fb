package number_test

import (
	"context"
	"errors"
	"testing"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/application"
	"github.com/trunkline/trunkline/internal/fixture"
	"github.com/trunkline/trunkline/number"
	"github.com/trunkline/trunkline/store/storetest"
)

func TestParse(t *testing.T) {
	for in, want := range map[string]string{"+14155550100": "14155550100", "14155550100": "14155550100",
		"123456": "", "0123456789": "", "+1415555010a": "", "1234567890123456": "", "": ""} {
		got, ok := number.Parse(in)
		if got != want || ok != (want != "") {
			t.Errorf("Parse(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

func TestRentAndAssign(t *testing.T) {
	for _, db := range storetest.Open(t) {
		t.Run(string(db.Dialect()), func(t *testing.T) {
			ctx := context.Background()
			acc := fixture.Accounts(t, db)
			a, b := fixture.Main(t, acc, "a"), fixture.Main(t, acc, "b")
			fixture.Import(t, db, "14155550100")
			apps := application.New(db, db)
			bApp := application.Defaults(b.ID)
			bApp.Name, bApp.AnswerURL = "b", "https://example.com/b"
			if err := apps.Create(ctx, bApp, false); err != nil {
				t.Fatal(err)
			}
			s := number.New(db, apps)
			// Renting with another account's application is refused, and rents nothing.
			if _, err := s.Rent(ctx, a, "14155550100", bApp.ID); err != application.ErrNotYours {
				t.Fatalf("rent with b's app: %v, want ErrNotYours", err)
			}
			if _, err := s.Rent(ctx, a, "14155550100", ""); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Rent(ctx, b, "14155550100", ""); err != number.ErrNotAvailable {
				t.Fatalf("rent a rented number: %v, want ErrNotAvailable", err)
			}
			sa := trunkline.ScopeOf(a)
			if _, err := s.Update(ctx, sa, "14155550100", number.Change{AppID: &bApp.ID}); err != application.ErrNotYours {
				t.Fatalf("assign b's app: %v, want ErrNotYours", err)
			}
			alias := "front desk"
			if _, err := s.Update(ctx, sa, "14155550100", number.Change{Alias: &alias}); err != nil {
				t.Fatal(err)
			}
			if n, err := s.Get(ctx, sa, "14155550100"); err != nil || n.Alias != alias || n.AppID != "" {
				t.Fatalf("after update: %+v, %v", n, err)
			}
			if err := s.Unrent(ctx, trunkline.ScopeOf(b), "14155550100"); !errors.Is(err, trunkline.ErrNotFound) {
				t.Fatalf("b unrents a's number: %v, want not found", err)
			}
			if err := s.Unrent(ctx, sa, "14155550100"); err != nil {
				t.Fatal(err)
			}
		})
	}
}
