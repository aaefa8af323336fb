package api

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/trunkline/trunkline/audit"
)

// entryOf reads an AuditLog/ object back into the entry whose leaf it claims to be.
func entryOf(t *testing.T, o map[string]any) audit.Entry {
	t.Helper()
	str := func(k string) string { s, _ := o[k].(string); return s }
	at, err := time.ParseInLocation(audit.WireTime, str("time"), time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	seq, _ := o["seq"].(float64)
	e := audit.Entry{Seq: int64(seq), At: at, AccountID: str("account_id"), Actor: str("actor"), CredentialID: str("credential_id"),
		Action: str("action"), ObjectType: str("object_type"), ObjectID: str("object_id"), Source: str("source"),
		Node: str("node"), Outcome: str("outcome"), Detail: map[string]string{}}
	d, _ := o["detail"].(map[string]any)
	for k, v := range d {
		e.Detail[k], _ = v.(string)
	}
	return e
}

func hashesOf(t *testing.T, v any) []tlog.Hash {
	t.Helper()
	l, ok := v.([]any)
	if !ok {
		t.Fatalf("proof %v is not a list", v)
	}
	out := make([]tlog.Hash, len(l))
	for i, s := range l {
		h, err := tlog.ParseHash(s.(string))
		if err != nil {
			t.Fatal(err)
		}
		out[i] = h
	}
	return out
}

// TestAuditProofs: GET AuditLog/ entries come with their leaf hash and an inclusion
// proof against a signed checkpoint that each checks with (the leaf re-derived from the
// entry's fields); the checkpoint and consistency proofs between checkpoints are served
// to the account's credentials only; bad sizes are clear 400s.
func TestAuditProofs(t *testing.T) {
	forEachStore(t, Options{}, func(t *testing.T, e *env) {
		ctx := context.Background()
		a, b := e.mainAccount("prover"), e.mainAccount("other")
		update := func(c cred, n int) {
			for i := 0; i < n; i++ {
				mustStatus(t, e.do(c, "POST", acctPath(c, ""), map[string]any{"city": fmt.Sprint("c", i)}), 202)
			}
		}
		// Before the first checkpoint: nothing to prove against.
		update(a, 1)
		mustStatus(t, e.do(a, "GET", acctPath(a, "AuditLog/Checkpoint/"), nil), 404)
		r := mustStatus(t, e.do(a, "GET", acctPath(a, "AuditLog/"), nil), 200)
		if c, ok := r.body["checkpoint"]; !ok || c != nil {
			t.Fatalf("checkpoint before the first is signed: %v", r.body["checkpoint"])
		}
		if o := r.body["objects"].([]any)[0].(map[string]any); o["inclusion_proof"] != nil || o["leaf_hash"] == "" {
			t.Fatalf("entry before a checkpoint: %v", o)
		}
		update(b, 3)
		update(a, 2)
		if _, err := e.audit.Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
		cpr := mustStatus(t, e.do(a, "GET", acctPath(a, "AuditLog/Checkpoint/"), nil), 200)
		cp, err := audit.ParseCheckpoint([]byte(cpr.str("note")), nil)
		if err != nil || float64(cp.Size) != cpr.body["tree_size"].(float64) || cp.Root.String() != cpr.str("root_hash") {
			t.Fatalf("checkpoint %v: %v", cpr.raw, err)
		}
		update(a, 1) // newer than the checkpoint: no proof yet
		check := func(r reply, cp *audit.Checkpoint) (proved, pending int) {
			t.Helper()
			if c := r.body["checkpoint"].(map[string]any); c["note"] != string(cp.Note) {
				t.Fatalf("list proves against %v, want checkpoint %d", c, cp.Size)
			}
			for _, o := range r.body["objects"].([]any) {
				o := o.(map[string]any)
				en := entryOf(t, o)
				if en.AccountID != a.id {
					t.Fatalf("another account's entry listed: %v", o)
				}
				leaf := audit.RecordHash(en)
				if leaf.String() != o["leaf_hash"] {
					t.Fatalf("entry %d: leaf_hash %v, fields hash to %v", en.Seq, o["leaf_hash"], leaf)
				}
				if en.Seq > cp.Size {
					if o["inclusion_proof"] != nil {
						t.Fatalf("entry %d is newer than the checkpoint but has a proof", en.Seq)
					}
					pending++
					continue
				}
				if err := tlog.CheckRecord(hashesOf(t, o["inclusion_proof"]), cp.Size, cp.Root, en.Seq-1, leaf); err != nil {
					t.Fatalf("entry %d: %v", en.Seq, err)
				}
				// The proof fails for the entry with any field changed.
				en.Outcome = "failure"
				if tlog.CheckRecord(hashesOf(t, o["inclusion_proof"]), cp.Size, cp.Root, en.Seq-1, audit.RecordHash(en)) == nil {
					t.Fatalf("entry %d: an altered entry passes its proof", en.Seq)
				}
				proved++
			}
			return proved, pending
		}
		if proved, pending := check(mustStatus(t, e.do(a, "GET", acctPath(a, "AuditLog/"), nil), 200), cp); proved != 3 || pending != 1 {
			t.Fatalf("%d proved, %d pending; want 3 and 1", proved, pending)
		}
		if strings.Contains(mustStatus(t, e.do(a, "GET", acctPath(a, "AuditLog/"), nil), 200).raw, b.id) {
			t.Fatal("another account's id in the listing")
		}

		// A second checkpoint; the list can still prove against the first, and the
		// consistency proof links the two.
		update(b, 2)
		if _, err := e.audit.Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
		cp2r := mustStatus(t, e.do(a, "GET", acctPath(a, "AuditLog/Checkpoint/"), nil), 200)
		cp2, _ := audit.ParseCheckpoint([]byte(cp2r.str("note")), nil)
		if proved, pending := check(mustStatus(t, e.do(a, "GET", acctPath(a, fmt.Sprintf("AuditLog/?tree_size=%d", cp.Size)), nil), 200), cp); proved != 3 || pending != 1 {
			t.Fatalf("against the first checkpoint: %d proved, %d pending", proved, pending)
		}
		if proved, pending := check(mustStatus(t, e.do(a, "GET", acctPath(a, "AuditLog/"), nil), 200), cp2); proved != 4 || pending != 0 {
			t.Fatalf("against the newest: %d proved, %d pending", proved, pending)
		}
		if old := mustStatus(t, e.do(a, "GET", acctPath(a, fmt.Sprintf("AuditLog/Checkpoint/?tree_size=%d", cp.Size)), nil), 200); old.str("note") != string(cp.Note) {
			t.Fatalf("checkpoint by size: %s", old.raw)
		}
		con := mustStatus(t, e.do(a, "GET", acctPath(a, fmt.Sprintf("AuditLog/Consistency/?old_size=%d&new_size=%d", cp.Size, cp2.Size)), nil), 200)
		if err := tlog.CheckTree(hashesOf(t, con.body["proof"]), cp2.Size, cp2.Root, cp.Size, cp.Root); err != nil {
			t.Fatalf("consistency proof: %v", err)
		}
		if tlog.CheckTree(hashesOf(t, con.body["proof"]), cp2.Size, cp2.Root, cp.Size, cp2.Root) == nil {
			t.Fatal("the consistency proof also links a wrong old root")
		}

		for _, c := range []struct{ path, want string }{
			{"AuditLog/?tree_size=abc", "tree_size"},
			{"AuditLog/?tree_size=0", "tree_size"},
			{fmt.Sprintf("AuditLog/?tree_size=%d", cp.Size+1), "no checkpoint was signed at tree_size"},
			{"AuditLog/Checkpoint/?tree_size=-1", "tree_size"},
			{"AuditLog/Consistency/", "required"},
			{fmt.Sprintf("AuditLog/Consistency/?old_size=%d&new_size=%d", cp2.Size, cp.Size), "must not be larger"},
			{fmt.Sprintf("AuditLog/Consistency/?old_size=1&new_size=%d", cp2.Size+1), "newest checkpoint"},
			{"AuditLog/Consistency/?old_size=1&new_size=99999999999999999999", "new_size"},
			{"AuditLog/Consistency/?old_size=1&new_size=2&seq=4", "seq"},
		} {
			if r := mustStatus(t, e.do(a, "GET", acctPath(a, c.path), nil), 400); !strings.Contains(r.str("error"), c.want) {
				t.Errorf("%s: error %q does not mention %q", c.path, r.str("error"), c.want)
			}
		}
		// The account's credentials only: none, or another account's path.
		for _, p := range []string{"AuditLog/Checkpoint/", "AuditLog/Consistency/?old_size=1&new_size=2"} {
			mustStatus(t, e.do(cred{id: a.id}, "GET", acctPath(a, p), nil), 401)
			mustStatus(t, e.do(b, "GET", acctPath(a, p), nil), 404)
		}
	})
}
