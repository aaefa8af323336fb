package api

import (
	"context"
	"net/http"
	"testing"

	"github.com/trunkline/trunkline/audit"
)

// TestAPIAllowlist: an account's allowlist (set in the console) refuses its credentials,
// and its subaccounts', from other addresses with 403, recorded in its audit log.
func TestAPIAllowlist(t *testing.T) {
	forEachStore(t, Options{}, func(t *testing.T, e *env) {
		ctx := context.Background()
		main := e.mainAccount("allow")
		r := mustStatus(t, e.do(main, "POST", acctPath(main, "Subaccount/"), map[string]any{"name": "sub", "enabled": true}), http.StatusCreated)
		sub := cred{r.str("auth_id"), r.str("auth_token")}
		for _, c := range []struct {
			name      string
			mainAllow string
			subAllow  string
			wantMain  int
			wantSub   int
		}{
			{"no lists", "", "", 200, 200},
			{"main allows loopback", "127.0.0.0/8", "", 200, 200},
			{"main allows elsewhere", "203.0.113.0/24", "", 403, 403},
			{"sub allows elsewhere", "", "203.0.113.7", 200, 403},
			{"both allow loopback", "127.0.0.1,::1", "127.0.0.1/32", 200, 200},
		} {
			if err := e.db.SetAPIAllow(ctx, main.id, c.mainAllow); err != nil {
				t.Fatal(err)
			}
			if err := e.db.SetAPIAllow(ctx, sub.id, c.subAllow); err != nil {
				t.Fatal(err)
			}
			e.accounts.Invalidate(main.id)
			e.accounts.Invalidate(sub.id)
			if got := e.do(main, "GET", acctPath(main, ""), nil); got.status != c.wantMain {
				t.Errorf("%s: main account %d, want %d", c.name, got.status, c.wantMain)
			}
			got := e.do(sub, "GET", acctPath(sub, ""), nil)
			if got.status != c.wantSub {
				t.Errorf("%s: subaccount %d, want %d", c.name, got.status, c.wantSub)
			}
			if got.status == 403 {
				checkShape(t, got)
			}
		}
		entries, _, err := e.audit.List(ctx, audit.Filter{AccountIDs: []string{main.id}, Action: "auth.address_denied"})
		if err != nil || len(entries) == 0 {
			t.Fatalf("no auth.address_denied entry: %v", err)
		}
	})
}
