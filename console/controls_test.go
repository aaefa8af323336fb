package console

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/trunkline/trunkline/store/storetest"
)

// TestFormControlCharactersRefused: a NUL (or another C0 control) in a console form or
// query is refused with a clear 400 page naming the field, on every store; on PostgreSQL
// a NUL that reached the store failed as a server error.
func TestFormControlCharactersRefused(t *testing.T) {
	for _, db := range storetest.Open(t) {
		t.Run(string(db.Dialect()), func(t *testing.T) {
			pe := newPagesEnvOn(t, db)
			for _, tc := range []struct{ path, field, value string }{
				{"/console/subaccounts", "name", "Team\x00A"},
				{"/console/subaccounts", "name", "Team\x1b[2JA"},
				{"/console/applications", "app_name", "app\x00"},
				{"/console/members", "email", "new\x00@example.com"},
			} {
				resp, page := pe.post(t, tc.path, pe.form(tc.field, tc.value, "role", "read-only", "answer_url", "https://example.com/a"), "")
				if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "The field &#34;"+tc.field+"&#34; holds a control character") {
					t.Errorf("POST %s %s=%q: %d\n%s", tc.path, tc.field, tc.value, resp.StatusCode, page)
				}
			}
			if subs, err := db.SubaccountIDs(context.Background(), pe.mine); err != nil || len(subs) != 0 {
				t.Errorf("subaccounts made by refused forms: %v %v", subs, err)
			}
			resp, page := pe.get(t, "/console/audit?action=user.login%00")
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "The field &#34;action&#34; holds a control character") {
				t.Errorf("query with NUL: %d", resp.StatusCode)
			}
			// A subaccount name is one line.
			resp, page = pe.post(t, "/console/subaccounts", pe.form("name", "Team\nA", "enabled", "on"), "")
			if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "must be one line") {
				t.Errorf("name with a line break: %d", resp.StatusCode)
			}
			// Ordinary text still works.
			resp, _ = pe.post(t, "/console/subaccounts", pe.form("name", "Team A", "enabled", "on"), "")
			if resp.StatusCode != http.StatusOK {
				t.Errorf("plain name: %d", resp.StatusCode)
			}
		})
	}
}
