package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trunkline/trunkline/audit"
	"github.com/trunkline/trunkline/config"
	"github.com/trunkline/trunkline/store/storetest"
)

// TestAuditVerifyRemote runs `trunkline audit verify-remote`, a customer's verifier, over
// the real HTTPS API of a whole node in this process (SQLite, and PostgreSQL when
// configured). It accepts the real log as it grows, with other accounts' entries
// interleaved and entries not yet checkpointed; then the database under the running,
// unmodified server is tampered with as an insider with database access could (and, for
// the rewrite, as an operator holding the signing key could), one account's entries at a
// time, and the verifier of the account concerned must fail and say what, while the other
// accounts' verifiers still pass. This is a fair test of a customer's position: the
// customer sees only what the real server serves from the tampered store, and the
// server does nothing to help (it serves stored rows, stored tree hashes and stored
// checkpoints as they are).
func TestAuditVerifyRemote(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testAuditVerifyRemote(t, "") })
	if dsn := os.Getenv(storetest.PostgresEnv); dsn != "" {
		t.Run("postgres", func(t *testing.T) { testAuditVerifyRemote(t, e2ePostgresSchema(t, dsn)) })
	}
}

// remoteCustomer is one account with its own state file.
type remoteCustomer struct {
	id, token, tokenFile, state string
}

func testAuditVerifyRemote(t *testing.T, dsn string) {
	c := config.Default()
	c.DataDir = filepath.Join(t.TempDir(), "data")
	c.Database.DSN = dsn
	c.Log.File = "-"
	c.API.Listen = "127.0.0.1:0"
	c.Voice.Listen = "127.0.0.1:0"
	if problems, _ := c.Validate(); len(problems) > 0 {
		t.Fatalf("config: %v", problems)
	}
	m := NewMain(&c, io.Discard, io.Discard)
	t.Cleanup(func() { m.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := m.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	caFile := filepath.Join(c.DataDir, "tls", "ca.crt")
	keyFile := filepath.Join(c.KeysDir(), audit.VerifierKeyFile) // what the operator publishes
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: e2eCAPool(t, caFile)}}}
	customerDir := t.TempDir() // the customers' machines: no access to the data dir

	call := func(cu remoteCustomer, method, path string, body any) (int, []byte) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequestWithContext(ctx, method, m.PublicURL()+"/v1/Account/"+cu.id+"/"+path, rd)
		if cu.token != "" {
			req.SetBasicAuth(cu.id, cu.token)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, raw
	}
	// activity makes n audited changes for cu over the API.
	activity := func(cu remoteCustomer, n int) {
		t.Helper()
		for i := 0; i < n; i++ {
			if code, raw := call(cu, "POST", "", map[string]any{"city": fmt.Sprintf("City %d", i)}); code != 202 && code != 200 {
				t.Fatalf("account update: %d %s", code, raw)
			}
		}
	}
	checkpoint := func() {
		t.Helper()
		if _, err := m.p.audit.Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
	}
	newCustomer := func(name string) remoteCustomer {
		t.Helper()
		cr, err := m.p.accounts.CreateMain(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		cu := remoteCustomer{id: cr.Account.ID, token: cr.Token, tokenFile: filepath.Join(customerDir, name+".token"),
			state: filepath.Join(customerDir, name+".state")}
		if err := os.WriteFile(cu.tokenFile, []byte(cr.Token+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return cu
	}
	verify := func(cu remoteCustomer, extra ...string) (int, string) {
		t.Helper()
		var out, errb bytes.Buffer
		args := append([]string{"audit", "verify-remote", "--url", m.PublicURL(), "--auth-id", cu.id, "--auth-token-file", cu.tokenFile,
			"--state", cu.state, "--ca", caFile, "--key", keyFile}, extra...)
		code := run(ctx, args, &out, &errb)
		return code, out.String() + errb.String()
	}
	mustPass := func(cu remoteCustomer, want string) {
		t.Helper()
		if code, out := verify(cu); code != 0 || !strings.Contains(out, want) {
			t.Fatalf("verify-remote for %s: exit %d, want 0 and %q:\n%s", cu.id, code, want, out)
		}
	}
	mustFail := func(cu remoteCustomer, want ...string) {
		t.Helper()
		code, out := verify(cu)
		if code != 1 || !strings.Contains(out, "FAILED") {
			t.Fatalf("verify-remote for %s on a tampered log: exit %d, want 1 and FAILED:\n%s", cu.id, code, out)
		}
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Fatalf("verify-remote for %s: report does not say %q:\n%s", cu.id, w, out)
			}
		}
	}
	db := m.p.db.SQL()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.ExecContext(ctx, m.p.db.Rebind(q), args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// ownSeqs lists cu's entries' seqs, oldest first, as the database holds them.
	ownSeqs := func(cu remoteCustomer) []int64 {
		t.Helper()
		rows, err := db.QueryContext(ctx, m.p.db.Rebind(`SELECT seq FROM audit_entries WHERE account_id = ? ORDER BY seq`), cu.id)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []int64
		for rows.Next() {
			var s int64
			rows.Scan(&s)
			out = append(out, s)
		}
		return out
	}

	names := []string{"altered", "removed", "reordered", "rolledback", "rewritten"}
	cs := map[string]remoteCustomer{}
	for _, n := range names {
		cs[n] = newCustomer(n)
	}
	// The checkpoint and proofs need the account's credentials.
	if code, _ := call(remoteCustomer{id: cs["altered"].id}, "GET", "AuditLog/Checkpoint/", nil); code != 401 {
		t.Fatalf("checkpoint without credentials: %d, want 401", code)
	}
	for round := 0; round < 2; round++ { // interleaved: every account's entries among the others'
		for _, n := range names {
			activity(cs[n], 2)
		}
	}
	checkpoint()
	for _, n := range names {
		mustPass(cs[n], "4 entries of this account proved")
	}
	// The log grows; some entries are not yet checkpointed.
	for _, n := range names {
		activity(cs[n], 2)
	}
	checkpoint()
	for _, n := range names {
		activity(cs[n], 1)
	}
	for _, n := range names {
		mustPass(cs[n], "only grew")
	}
	if _, out := verify(cs["altered"]); !strings.Contains(out, "6 entries of this account proved") || !strings.Contains(out, "1 entry is newer than the checkpoint") {
		t.Fatalf("report: %s", out)
	}
	// Another account's entries are never shown, only hashes of them in proofs.
	if code, raw := call(cs["altered"], "GET", "AuditLog/?limit=20", nil); code != 200 || bytes.Contains(raw, []byte(cs["removed"].id)) {
		t.Fatalf("AuditLog/: %d, or another account's id shows: %s", code, raw)
	}

	// Altered: one field of an entry proved before.
	seqs := ownSeqs(cs["altered"])
	exec(`UPDATE audit_entries SET outcome = 'failure' WHERE seq = ?`, seqs[1])
	mustFail(cs["altered"], fmt.Sprintf("entry %d as the server shows it", seqs[1]), "altered")

	// Removed: an entry proved before no longer shown (its row deleted).
	seqs = ownSeqs(cs["removed"])
	exec(`DELETE FROM audit_entries WHERE seq = ?`, seqs[2])
	mustFail(cs["removed"], fmt.Sprintf("entry %d, proved in the log on", seqs[2]), "removed")

	// Reordered: two entries swap places (their fields and stored record hashes).
	seqs = ownSeqs(cs["reordered"])
	a, b := seqs[0], seqs[3]
	type row struct {
		at           int64
		detail, hash []byte
	}
	read := func(seq int64) row {
		var r row
		if err := db.QueryRowContext(ctx, m.p.db.Rebind(`SELECT at, detail, record_hash FROM audit_entries WHERE seq = ?`), seq).Scan(&r.at, &r.detail, &r.hash); err != nil {
			t.Fatal(err)
		}
		return r
	}
	ra, rb := read(a), read(b)
	if ra.at == rb.at {
		t.Fatal("the entries to swap are alike")
	}
	exec(`UPDATE audit_entries SET at = ?, detail = ?, record_hash = ? WHERE seq = ?`, rb.at, string(rb.detail), rb.hash, a)
	exec(`UPDATE audit_entries SET at = ?, detail = ?, record_hash = ? WHERE seq = ?`, ra.at, string(ra.detail), ra.hash, b)
	mustFail(cs["reordered"], fmt.Sprintf("entry %d as the server shows it", b) /* the newest of the two: the list is newest first */, "moved from another position")

	// Each tampering touched one account's entries: the others still verify.
	mustPass(cs["rolledback"], "only grew")
	mustPass(cs["rewritten"], "only grew")

	// Rolled back: the newest entries and the checkpoints covering them deleted, the head
	// moved back, as a restore of an old database copy would leave it.
	var first int64
	if err := db.QueryRowContext(ctx, `SELECT MIN(size) FROM audit_checkpoints`).Scan(&first); err != nil {
		t.Fatal(err)
	}
	var chain []byte
	if err := db.QueryRowContext(ctx, m.p.db.Rebind(`SELECT chain_hash FROM audit_entries WHERE seq = ?`), first).Scan(&chain); err != nil {
		t.Fatal(err)
	}
	exec(`DELETE FROM audit_entries WHERE seq > ?`, first)
	exec(`DELETE FROM audit_checkpoints WHERE size > ?`, first)
	exec(`UPDATE audit_head SET size = ?, chain_hash = ?`, first, chain)
	mustFail(cs["rolledback"], "rolled back")
	// A failed run keeps the state it had (the evidence), so it fails again.
	mustFail(cs["rolledback"], "rolled back")

	// Rewritten: the operator, holding the signing key, replaces the log by another with
	// the same entries (one altered) and more, and signs it: the new checkpoint verifies,
	// but does not extend the one the customer saw.
	recs, err := m.p.db.AuditRecords(ctx, 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DELETE FROM audit_entries`, `DELETE FROM audit_tree`, `DELETE FROM audit_checkpoints`} {
		exec(q)
	}
	exec(`UPDATE audit_head SET size = 0, chain_hash = ?`, make([]byte, 32))
	signer, _, err := audit.LoadOrCreateKeyFiles(c.AuditKeyPath(), keyFile)
	if err != nil {
		t.Fatal(err)
	}
	forger := audit.New(m.p.db, signer, audit.Options{})
	defer forger.Close()
	for i := 0; i < len(recs)+30; i++ {
		e := audit.Entry{AccountID: cs["rewritten"].id, Action: "account.update", Outcome: audit.Success}
		if i < len(recs) {
			r := recs[i]
			e = audit.Entry{AccountID: r.AccountID, Actor: r.Actor, Action: r.Action, ObjectType: r.ObjectType, ObjectID: r.ObjectID,
				Source: r.Source, Outcome: r.Outcome}
		}
		if _, err := forger.Append(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := forger.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	mustFail(cs["rewritten"], "rewritten", "consistency proof fails")
}
