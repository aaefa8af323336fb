package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trunkline/trunkline/audit"
	"github.com/trunkline/trunkline/config"
	"golang.org/x/mod/sumdb/note"

	_ "modernc.org/sqlite"
)

// cli runs the trunkline command line in-process against dataDir.
func cli(t *testing.T, dataDir string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	args = append(args, "--data-dir", dataDir)
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestCLIAccounts(t *testing.T) {
	dir := t.TempDir()
	code, out, errs := cli(t, dir, "account", "create", "--name", "Acme", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var acct struct{ AuthID, AuthToken string }
	if err := json.Unmarshal([]byte(out), &struct {
		AuthID    *string `json:"auth_id"`
		AuthToken *string `json:"auth_token"`
	}{&acct.AuthID, &acct.AuthToken}); err != nil || !strings.HasPrefix(acct.AuthID, "MA") || len(acct.AuthID) != 20 || len(acct.AuthToken) < 40 {
		t.Fatalf("account create --json printed %q", out)
	}
	code, out, _ = cli(t, dir, "account", "create", "--name", "Sub", "--parent", acct.AuthID, "--json")
	if code != 0 || !strings.Contains(out, `"auth_id": "SA`) {
		t.Fatalf("subaccount create: %d %s", code, out)
	}
	code, out, _ = cli(t, dir, "account", "list")
	if code != 0 || !strings.Contains(out, acct.AuthID) || strings.Contains(out, acct.AuthToken) {
		t.Fatalf("list: %s", out)
	}
	code, out, _ = cli(t, dir, "account", "rotate", "--id", acct.AuthID, "--overlap", "1h", "--json")
	if code != 0 || !strings.Contains(out, "old_token_valid_until") {
		t.Fatalf("rotate: %d %s", code, out)
	}
	if code, _, _ := cli(t, dir, "account", "revoke-old", "--id", acct.AuthID); code != 0 {
		t.Fatal("revoke-old failed")
	}
	if code, _, errs := cli(t, dir, "account", "rotate", "--id", "MA000000000000000000"); code != 1 || !strings.Contains(errs, "no account") {
		t.Fatalf("rotate unknown: %d %s", code, errs)
	}
	if code, _, _ := cli(t, dir, "account", "create"); code != 2 {
		t.Fatalf("missing --name: exit %d, want 2", code)
	}
	// Numbers.
	csv := filepath.Join(dir, "numbers.csv")
	os.WriteFile(csv, []byte("number,country_iso,type,carrier\n14155550100,US,local,a\n14155550101,US,local,b\n"), 0o600)
	if code, out, errs := cli(t, dir, "number", "import", csv); code != 0 || !strings.Contains(out, "2 new") {
		t.Fatalf("import: %d %s %s", code, out, errs)
	}
	if code, _, errs := cli(t, dir, "number", "add", "--number", "+14155550102", "--country", "US"); code != 0 {
		t.Fatalf("add: %s", errs)
	}
	if code, _, errs := cli(t, dir, "number", "add", "--number", "12", "--country", "US"); code != 1 || !strings.Contains(errs, "E.164") {
		t.Fatalf("bad add: %d %s", code, errs)
	}
	// Every action is in the audit log, which verifies, and no token is.
	code, out, _ = cli(t, dir, "audit", "verify")
	if code != 0 || !strings.Contains(out, "OK") {
		t.Fatalf("verify: %d %s", code, out)
	}
	db, _ := sql.Open("sqlite", filepath.Join(dir, "trunkline.db"))
	defer db.Close()
	var n int
	db.QueryRow(`SELECT COUNT(*) FROM audit_entries WHERE actor LIKE 'cli%' AND source = 'local'`).Scan(&n)
	if n != 6 {
		t.Fatalf("%d CLI audit entries, want 6 (2 creates, rotate, revoke, 2 imports)", n)
	}
	db.QueryRow(`SELECT COUNT(*) FROM audit_entries WHERE detail LIKE ?`, "%"+acct.AuthToken+"%").Scan(&n)
	if n != 0 {
		t.Fatal("a token reached the audit log")
	}
}

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	if code, out, _ := cli(t, dir, "check-config"); code != 0 || !strings.Contains(out, "valid") {
		t.Fatalf("defaults: %d %s", code, out)
	}
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte("[api]\nlisten = \"nowhere\"\n[audit]\ncheckpoint_interval = \"1h\"\n"), 0o600)
	code, _, errs := cli(t, dir, "check-config", "--config", bad)
	if code != 2 || !strings.Contains(errs, "api.listen") || !strings.Contains(errs, "checkpoint_interval") {
		t.Fatalf("bad config: %d %s", code, errs)
	}
	t.Setenv("TRUNKLINE_API_LISTEN", "127.0.0.1:1")
	if code, _, errs := cli(t, dir, "check-config", "--config", bad, "--listen", "127.0.0.1:2"); code != 2 || strings.Contains(errs, "api.listen") {
		t.Fatalf("flag should override file and env: %d %s", code, errs)
	}
}

// TestAuditVerifyTampering changes, deletes and reorders audit rows directly in the
// database; `trunkline audit verify` must fail and name the entry each time.
func TestAuditVerifyTampering(t *testing.T) {
	cases := []struct {
		name, sql, want string
	}{
		{"changed", `UPDATE audit_entries SET outcome = 'failure' WHERE seq = 3`, "entry 3"},
		{"deleted", `DELETE FROM audit_entries WHERE seq = 4`, "entry 4"},
		{"reordered", `UPDATE audit_entries SET action = CASE seq WHEN 2 THEN (SELECT action FROM audit_entries WHERE seq = 5) ELSE (SELECT action FROM audit_entries WHERE seq = 2) END,
			object_id = CASE seq WHEN 2 THEN (SELECT object_id FROM audit_entries WHERE seq = 5) ELSE (SELECT object_id FROM audit_entries WHERE seq = 2) END,
			detail = CASE seq WHEN 2 THEN (SELECT detail FROM audit_entries WHERE seq = 5) ELSE (SELECT detail FROM audit_entries WHERE seq = 2) END,
			record_hash = CASE seq WHEN 2 THEN (SELECT record_hash FROM audit_entries WHERE seq = 5) ELSE (SELECT record_hash FROM audit_entries WHERE seq = 2) END
			WHERE seq IN (2, 5)`, "entry 2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			for i := 0; i < 6; i++ {
				if code, _, errs := cli(t, dir, "account", "create", "--name", "a"+string(rune('0'+i))); code != 0 {
					t.Fatal(errs)
				}
			}
			if code, out, _ := cli(t, dir, "audit", "verify"); code != 0 {
				t.Fatalf("untouched log fails: %s", out)
			}
			db, err := sql.Open("sqlite", filepath.Join(dir, "trunkline.db"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(c.sql); err != nil {
				t.Fatal(err)
			}
			db.Close()
			code, out, _ := cli(t, dir, "audit", "verify")
			if code != 1 || !strings.Contains(out, c.want) {
				t.Fatalf("tampered log: exit %d, report %q does not name %q", code, out, c.want)
			}
		})
	}
}

// TestCLISenderID: the operator allows, lists and revokes an account's sender IDs; each
// change is audited; bad input is a usage error.
func TestCLISenderID(t *testing.T) {
	dir := t.TempDir()
	_, out, _ := cli(t, dir, "account", "create", "--name", "Acme", "--json")
	var a struct {
		AuthID string `json:"auth_id"`
	}
	if err := json.Unmarshal([]byte(out), &a); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := cli(t, dir, "account", "sender-id", "allow", "--id", a.AuthID, "--sender", "Trunkline"); code != 0 || !strings.Contains(out, "Trunkline") {
		t.Fatalf("allow: %d %s %s", code, out, errs)
	}
	if code, _, _ := cli(t, dir, "account", "sender-id", "allow", "--id", a.AuthID, "--sender", "Acme2"); code != 0 {
		t.Fatal("allow a second")
	}
	code, out, _ := cli(t, dir, "account", "sender-id", "list", "--id", a.AuthID, "--json")
	var list []struct{ Sender string }
	if err := json.Unmarshal([]byte(out), &list); code != 0 || err != nil || len(list) != 2 || list[0].Sender != "Acme2" || list[1].Sender != "Trunkline" {
		t.Fatalf("list: %d %s", code, out)
	}
	if code, _, errs := cli(t, dir, "account", "sender-id", "revoke", "--id", a.AuthID, "--sender", "Acme2"); code != 0 {
		t.Fatalf("revoke: %s", errs)
	}
	if code, _, errs := cli(t, dir, "account", "sender-id", "revoke", "--id", a.AuthID, "--sender", "Acme2"); code != 1 || !strings.Contains(errs, "not allowed") {
		t.Fatalf("revoke again: %d %s", code, errs)
	}
	for _, bad := range [][]string{
		{"allow", "--id", a.AuthID, "--sender", "14155550100"},  // a number is rented, not allowed
		{"allow", "--id", a.AuthID, "--sender", "Way Too Long"}, // space, and 12 characters
		{"allow", "--sender", "Acme"},                           // no --id
		{"grant", "--id", a.AuthID},
	} {
		if code, _, _ := cli(t, dir, append([]string{"account", "sender-id"}, bad...)...); code != 2 {
			t.Errorf("%v: exit %d, want 2", bad, code)
		}
	}
	if code, _, errs := cli(t, dir, "account", "sender-id", "list", "--id", "MA000000000000000000"); code != 1 || !strings.Contains(errs, "no account") {
		t.Fatalf("unknown account: %d %s", code, errs)
	}
	db, _ := sql.Open("sqlite", filepath.Join(dir, "trunkline.db"))
	defer db.Close()
	var n int
	db.QueryRow(`SELECT COUNT(*) FROM audit_entries WHERE action LIKE 'sender_id.%' AND account_id = ? AND actor LIKE 'cli%'`, a.AuthID).Scan(&n)
	if n != 3 {
		t.Fatalf("%d sender-id audit entries, want 3 (2 allows, 1 revoke)", n)
	}
}

// TestAuditVerifyRollback deletes the newest audit entries and the checkpoints that
// covered them, and moves the head back, as someone with only the database can;
// `trunkline audit verify` finds it through the witness file in the data dir.
func TestAuditVerifyRollback(t *testing.T) {
	dir := t.TempDir()
	checkpoint := func() {
		t.Helper()
		c := config.Default()
		c.DataDir = dir
		p, err := openPlatform(context.Background(), &c, slog.New(slog.DiscardHandler), false)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		if _, err := p.audit.Checkpoint(context.Background()); err != nil { // as serve does at start and every minute
			t.Fatal(err)
		}
	}
	for i := 0; i < 6; i++ {
		if code, _, errs := cli(t, dir, "account", "create", "--name", "a"+string(rune('0'+i))); code != 0 {
			t.Fatal(errs)
		}
		if i == 2 || i == 5 {
			checkpoint()
		}
	}
	if code, out, _ := cli(t, dir, "audit", "verify"); code != 0 || !strings.Contains(out, "outside the database") {
		t.Fatalf("untouched log: %d %s", code, out)
	}
	db, err := sql.Open("sqlite", filepath.Join(dir, "trunkline.db"))
	if err != nil {
		t.Fatal(err)
	}
	var size int64
	var chain []byte
	db.QueryRow(`SELECT size FROM audit_checkpoints ORDER BY size LIMIT 1`).Scan(&size)
	db.QueryRow(`SELECT chain_hash FROM audit_entries WHERE seq = ?`, size).Scan(&chain)
	for _, q := range []string{`DELETE FROM audit_entries WHERE seq > ?`, `DELETE FROM audit_checkpoints WHERE size > ?`} {
		if _, err := db.Exec(q, size); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(`UPDATE audit_head SET size = ?, chain_hash = ?`, size, chain); err != nil {
		t.Fatal(err)
	}
	db.Close()
	code, out, _ := cli(t, dir, "audit", "verify")
	if code != 1 || !strings.Contains(out, "were removed") || !strings.Contains(out, filepath.Join(dir, "audit", "witness")) {
		t.Fatalf("rolled-back log: exit %d, %s", code, out)
	}
}

// TestAuditKeyOutsideDataDir: the checkpoint signing key can live outside the data dir,
// in a file named by audit.signing_key_file or in $TRUNKLINE_AUDIT_KEY; then no signing
// key is written to the data dir (only the verifier key, to publish).
func TestAuditKeyOutsideDataDir(t *testing.T) {
	for _, viaEnv := range []bool{false, true} {
		dir, keyPath := t.TempDir(), filepath.Join(t.TempDir(), "audit.key")
		if viaEnv {
			skey, _, err := note.GenerateKey(rand.Reader, audit.KeyName)
			if err != nil {
				t.Fatal(err)
			}
			t.Setenv(audit.EnvSigningKey, skey)
		} else {
			t.Setenv("TRUNKLINE_AUDIT_SIGNING_KEY_FILE", keyPath)
		}
		if code, _, errs := cli(t, dir, "account", "create", "--name", "Acme"); code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		if _, err := os.Stat(filepath.Join(dir, "keys", audit.KeyFile)); !os.IsNotExist(err) {
			t.Fatalf("env=%v: a signing key was written to the data dir", viaEnv)
		}
		if _, err := os.Stat(filepath.Join(dir, "keys", audit.VerifierKeyFile)); err != nil {
			t.Fatalf("env=%v: no verifier key: %v", viaEnv, err)
		}
		if _, err := os.Stat(keyPath); viaEnv == (err == nil) {
			t.Fatalf("env=%v: key file at the configured path: %v", viaEnv, err)
		}
		if code, out, _ := cli(t, dir, "audit", "verify"); code != 0 {
			t.Fatalf("env=%v: verify: %s", viaEnv, out)
		}
	}
}
