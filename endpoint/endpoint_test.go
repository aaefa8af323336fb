package endpoint_test

import (
	"context"
	"strings"
	"testing"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/application"
	"github.com/trunkline/trunkline/endpoint"
	"github.com/trunkline/trunkline/internal/fixture"
	"github.com/trunkline/trunkline/store/storetest"
)

func TestCreateAndUpdate(t *testing.T) {
	for _, db := range storetest.Open(t) {
		t.Run(string(db.Dialect()), func(t *testing.T) {
			ctx := context.Background()
			acc := fixture.Accounts(t, db)
			a, b := fixture.Main(t, acc, "a"), fixture.Main(t, acc, "b")
			apps := application.New(db, db)
			bApp := application.Defaults(b.ID)
			bApp.Name, bApp.AnswerURL = "b", "https://example.com/b"
			if err := apps.Create(ctx, bApp, false); err != nil {
				t.Fatal(err)
			}
			s := endpoint.New(db, apps, acc, "sip.example.com")
			owner := a.ID
			for _, c := range []struct {
				d    endpoint.Draft
				want string
			}{
				{endpoint.Draft{Username: "1alice", Password: "secret1", Alias: "x"}, "username must be"},
				{endpoint.Draft{Username: "alice", Password: "ALICE", Alias: "x"}, "password must not be the username"},
				{endpoint.Draft{Username: "alice", Password: "abc", Alias: "x"}, "password must be 5 to 128 characters"},
				{endpoint.Draft{Username: "alice", Password: "secret1", Alias: "a\x00"}, "alias must not contain control characters"},
				{endpoint.Draft{Username: "alice", Password: "secret1", Alias: "x", AppID: bApp.ID}, "app_id does not name one of your applications"},
			} {
				_, err := s.Create(ctx, owner, c.d)
				if trunkline.ErrorCode(err) != trunkline.EINVALID || !strings.HasPrefix(trunkline.ErrorMessage(err), c.want) {
					t.Errorf("Create(%+v) = %v, want EINVALID %q", c.d, err, c.want)
				}
			}
			e, err := s.Create(ctx, owner, endpoint.Draft{Username: "alice", Password: "secret1", Alias: "desk", AppID: "null"})
			if err != nil {
				t.Fatal(err)
			}
			if len(e.Username) != len("alice")+endpoint.Suffix || !strings.HasPrefix(e.Username, "alice") || e.AppID != "" ||
				e.Realm != "sip.example.com" || len(e.HA1Enc) == 0 {
				t.Fatalf("created %+v", e)
			}
			sc := trunkline.ScopeOf(a)
			// The chosen name is refused as a password later too.
			pw := "Alice"
			if _, err := s.Update(ctx, sc, e.ID, endpoint.Change{Password: &pw}); trunkline.ErrorMessage(err) != "password must not be the username" {
				t.Fatalf("update to the chosen name: %v", err)
			}
			if _, err := s.Update(ctx, trunkline.ScopeOf(b), e.ID, endpoint.Change{}); trunkline.ErrorCode(err) != trunkline.ENOTFOUND {
				t.Fatalf("another account's endpoint: %v, want not found", err)
			}
			alias := "front"
			if _, err := s.Update(ctx, sc, e.ID, endpoint.Change{Alias: &alias}); err != nil {
				t.Fatal(err)
			}
			if got, err := s.Get(ctx, sc, e.ID); err != nil || got.Alias != alias {
				t.Fatalf("after update: %+v, %v", got, err)
			}
		})
	}
}
