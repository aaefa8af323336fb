package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/trunkline/trunkline"
	. "github.com/trunkline/trunkline/store"
)

// TestLastOwnerGuard: an account keeps an owner, also when its two owners demote or
// remove each other at the same moment; a user of another account is not found.
func TestLastOwnerGuard(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		mkAccount(t, db, "MA1", "")
		mkAccount(t, db, "MA2", "")
		for round := range 5 {
			a := &trunkline.User{ID: fmt.Sprintf("UA%d", round), AccountID: "MA1", Email: fmt.Sprintf("a%d@example.com", round), Role: trunkline.RoleOwner, PassHash: "x"}
			b := &trunkline.User{ID: fmt.Sprintf("UB%d", round), AccountID: "MA1", Email: fmt.Sprintf("b%d@example.com", round), Role: trunkline.RoleOwner, PassHash: "x"}
			for _, u := range []*trunkline.User{a, b} {
				if err := db.CreateUser(ctx, u); err != nil {
					t.Fatal(err)
				}
			}
			errs := make([]error, 2)
			var wg sync.WaitGroup
			wg.Add(2)
			go func() { defer wg.Done(); errs[0] = db.SetUserRole(ctx, "MA1", b.ID, trunkline.RoleReadOnly) }()
			go func() { defer wg.Done(); errs[1] = db.DeleteUser(ctx, "MA1", a.ID) }()
			wg.Wait()
			ok := 0
			for _, err := range errs {
				if err == nil {
					ok++
				} else if !errors.Is(err, trunkline.ErrLastOwner) {
					t.Fatal(err)
				}
			}
			users, err := db.AccountUsers(ctx, "MA1")
			if err != nil {
				t.Fatal(err)
			}
			owners := 0
			for _, u := range users {
				if u.Role == trunkline.RoleOwner {
					owners++
				}
			}
			if ok != 1 || owners != 1 {
				t.Fatalf("round %d: %d changes went through, %d owners left (%v)", round, ok, owners, errs)
			}
			for _, u := range users {
				if _, err := db.Exec(ctx, `DELETE FROM users WHERE id = ?`, u.ID); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := db.DeleteUser(ctx, "MA2", "nobody"); !errors.Is(err, trunkline.ErrNotFound) {
			t.Fatalf("removing an unknown user: %v", err)
		}
		u := &trunkline.User{ID: "UX", AccountID: "MA1", Email: "x@example.com", Role: trunkline.RoleDeveloper, PassHash: "x"}
		if err := db.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		if err := db.SetUserRole(ctx, "MA2", u.ID, trunkline.RoleOwner); !errors.Is(err, trunkline.ErrNotFound) {
			t.Fatalf("changing another account's user: %v", err)
		}
	})
}
