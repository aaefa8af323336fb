package compliance

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/trunkline/trunkline/audit"
	"github.com/trunkline/trunkline/store/storetest"
)

// TestExport runs on the real signed audit log over both stores: an account's four
// categories in the period, nothing of another account, nothing outside the period,
// nothing that is not one of the categories; CSV and JSON carry the same rows.
func TestExport(t *testing.T) {
	for _, db := range storetest.Open(t) {
		t.Run(string(db.Dialect()), func(t *testing.T) {
			ctx := context.Background()
			skey, _, err := note.GenerateKey(rand.Reader, audit.KeyName)
			if err != nil {
				t.Fatal(err)
			}
			signer, _ := note.NewSigner(skey)
			log := audit.New(db, signer, audit.Options{Node: "test"})
			t.Cleanup(func() { log.Close() })
			add := func(acct, action string, detail map[string]string) {
				if _, err := log.Append(ctx, audit.Entry{AccountID: acct, Actor: "console:o@x.test", Action: action,
					ObjectType: "account", ObjectID: acct, Source: "=cmd()", Outcome: audit.Success, Detail: detail}); err != nil {
					t.Fatal(err)
				}
			}
			from := time.Now().Add(-time.Minute)
			add("A", "user.login", nil)
			add("A", "credential.rotate", nil)
			add("A", "staff.read", map[string]string{"reason": "ticket work", "ticket": "SUP-1"})
			add("A", "application.update", nil)
			add("A", "message.get", nil) // a read: not exported
			add("B", "credential.rotate", nil)
			to := time.Now().Add(time.Minute)
			rows, err := Export(ctx, log, []string{"A"}, from, to)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range rows {
				got = append(got, r.Category+":"+r.Action)
			}
			want := "login:user.login credential_change:credential.rotate staff_access:staff.read configuration_change:application.update"
			if strings.Join(got, " ") != want {
				t.Fatalf("rows %v\nwant %s", got, want)
			}
			if rows[2].Detail != "reason=ticket work; ticket=SUP-1" {
				t.Fatalf("detail %q", rows[2].Detail)
			}
			if rows, _ := Export(ctx, log, []string{"A"}, to, to.Add(time.Hour)); len(rows) != 0 {
				t.Fatalf("rows outside the period: %v", rows)
			}
			if _, err := Export(ctx, log, []string{"A"}, to, from); err == nil {
				t.Fatal("a reversed period was accepted")
			}
			var buf bytes.Buffer
			if err := WriteCSV(&buf, rows); err != nil {
				t.Fatal(err)
			}
			recs, err := csv.NewReader(&buf).ReadAll()
			if err != nil || len(recs) != 5 || recs[0][2] != "category" || recs[3][4] != "staff.read" || recs[1][7] != "'=cmd()" {
				t.Fatalf("csv %v %v", recs, err)
			}
			buf.Reset()
			if err := WriteJSON(&buf, "A", from, to, rows); err != nil {
				t.Fatal(err)
			}
			var doc struct {
				AccountID string `json:"account_id"`
				Events    []Row  `json:"events"`
			}
			if err := json.Unmarshal(buf.Bytes(), &doc); err != nil || doc.AccountID != "A" || len(doc.Events) != 4 || doc.Events[2].Action != "staff.read" {
				t.Fatalf("json %s %v", buf.Bytes(), err)
			}
		})
	}
}
