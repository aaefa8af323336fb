package audit

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/store"
	"github.com/trunkline/trunkline/store/storetest"
)

// *store.DB is the log's Store (production wiring relies on it too: cmd/trunkline hands
// its database to New). The assertion lives here because store does not import audit.
var _ Store = (*store.DB)(nil)

// clock is a fake clock that moves one second per reading.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

type fixture struct {
	db  *store.DB
	log *Log
	v   note.Verifier
	clk *clock
}

// eachDB runs fn against a fresh store of every dialect under test (SQLite always,
// PostgreSQL when TRUNKLINE_TEST_POSTGRES is set).
func eachDB(t *testing.T, fn func(t *testing.T, f *fixture)) {
	t.Helper()
	for _, db := range storetest.Open(t) {
		t.Run(string(db.Dialect()), func(t *testing.T) {
			signer, v, err := LoadOrCreateKeys(filepath.Join(t.TempDir(), "keys"))
			if err != nil {
				t.Fatal(err)
			}
			clk := &clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
			l := New(db, signer, Options{Now: clk.Now, Node: "node-a", Verifier: v})
			t.Cleanup(func() { l.Close() }) // before the store closes (cleanups run last first)
			fn(t, &fixture{db: db, log: l, v: v, clk: clk})
		})
	}
}

var actions = []string{"account.update", "subaccount.create", "auth.failed", "credential.rotate", "message.read"}

func sample(i int) Entry {
	return Entry{
		AccountID:    fmt.Sprintf("MA%d", i%3),
		Actor:        "api",
		CredentialID: fmt.Sprintf("cred-%d", i%2),
		Action:       actions[i%len(actions)],
		ObjectType:   "account",
		ObjectID:     fmt.Sprintf("obj-%d", i),
		Source:       "192.0.2.7",
		Outcome:      Success,
		Detail:       map[string]string{"field": "name", "n": fmt.Sprint(i)},
	}
}

func (f *fixture) appendN(t *testing.T, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if _, err := f.log.Append(context.Background(), sample(i)); err != nil {
			t.Fatal(err)
		}
	}
}

func (f *fixture) checkpoint(t *testing.T) *Checkpoint {
	t.Helper()
	c, err := f.log.Checkpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if c == nil {
		t.Fatal("no checkpoint made")
	}
	return c
}

func (f *fixture) exec(t *testing.T, q string, args ...any) {
	t.Helper()
	if _, err := f.db.SQL().ExecContext(context.Background(), f.db.Rebind(q), args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func (f *fixture) records(t *testing.T) []trunkline.AuditRecord {
	t.Helper()
	recs, err := f.db.AuditRecords(context.Background(), 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func (f *fixture) verify(t *testing.T) *Report {
	t.Helper()
	r, err := Verify(context.Background(), f.db, f.v)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// overwrite replaces every column of the row at seq with rec's values (seq excepted).
func (f *fixture) overwrite(t *testing.T, seq int64, r trunkline.AuditRecord) {
	t.Helper()
	f.exec(t, `UPDATE audit_entries SET at = ?, account_id = ?, actor = ?, credential_id = ?, action = ?, object_type = ?, object_id = ?,
		source = ?, node = ?, outcome = ?, detail = ?, record_hash = ?, chain_hash = ? WHERE seq = ?`,
		r.At.UnixMicro(), r.AccountID, r.Actor, r.CredentialID, r.Action, r.ObjectType, r.ObjectID,
		r.Source, r.Node, r.Outcome, r.Detail, r.RecordHash, r.ChainHash, seq)
}

// rehash plays the clever attacker with database access but no signing key: it
// recomputes every record hash, chain hash and tree hash from the rows as they now are
// and, if moveHead, points the head at the result.
func (f *fixture) rehash(t *testing.T, moveHead bool) {
	t.Helper()
	f.exec(t, `DELETE FROM audit_tree`)
	tr := newTree()
	for _, rec := range f.records(t) {
		e, err := fromRecord(rec)
		if err != nil {
			t.Fatal(err)
		}
		rh := RecordHash(e)
		base := tlog.StoredHashIndex(0, tr.size)
		hs, err := tr.add(rh)
		if err != nil {
			t.Fatal(err)
		}
		for i, h := range hs {
			f.exec(t, `INSERT INTO audit_tree(idx, hash) VALUES (?, ?)`, base+int64(i), h[:])
		}
		f.exec(t, `UPDATE audit_entries SET record_hash = ?, chain_hash = ? WHERE seq = ?`, rh[:], tr.chain[:], rec.Seq)
	}
	if moveHead {
		f.exec(t, `UPDATE audit_head SET size = ?, chain_hash = ? WHERE id = 1`, tr.size, tr.chain[:])
	}
}

func TestAppendVerify(t *testing.T) {
	eachDB(t, func(t *testing.T, f *fixture) {
		r := f.verify(t)
		if !r.OK || r.Entries != 0 {
			t.Fatalf("empty log: %+v", r)
		}
		f.appendN(t, 20)
		r = f.verify(t)
		if !r.OK || r.Entries != 20 || r.Checkpoints != 0 || r.Uncovered != 20 {
			t.Fatalf("before checkpoint: %+v", r)
		}
		f.checkpoint(t)
		f.appendN(t, 3)
		r = f.verify(t)
		if !r.OK || r.Entries != 23 || r.Checkpoints != 1 || r.Covered != 20 || r.Uncovered != 3 {
			t.Fatalf("after checkpoint: %+v", r)
		}
		if s := r.String(); !strings.Contains(s, "audit log OK") || !strings.Contains(s, "3 entries are not yet covered") {
			t.Errorf("report text:\n%s", s)
		}
		got, total, err := f.log.List(context.Background(), Filter{Limit: 1})
		if err != nil || total != 23 || len(got) != 1 {
			t.Fatalf("list: %v %d %v", got, total, err)
		}
		want := sample(2)
		want.Seq, want.At, want.Node = 23, got[0].At, "node-a"
		if fmt.Sprint(got[0]) != fmt.Sprint(want) {
			t.Errorf("stored entry\n got %+v\nwant %+v", got[0], want)
		}
		if got[0].At.Location() != time.UTC || got[0].At.IsZero() {
			t.Errorf("At = %v, want a UTC time", got[0].At)
		}
	})
}

// TestTamper alters the database directly, as an attacker with database access would,
// and checks that Verify names what was done.
func TestTamper(t *testing.T) {
	tests := []struct {
		name          string
		tamper        func(t *testing.T, f *fixture)
		ok            bool
		firstBad      int64
		badCheckpoint int64
		problem       string
	}{
		{
			name:     "field altered",
			tamper:   func(t *testing.T, f *fixture) { f.exec(t, `UPDATE audit_entries SET actor = 'mallory' WHERE seq = 7`) },
			firstBad: 7, problem: "entry 7 was changed or reordered",
		},
		{
			name: "detail altered",
			tamper: func(t *testing.T, f *fixture) {
				f.exec(t, `UPDATE audit_entries SET detail = '{"field":"x","n":"8"}' WHERE seq = 9`)
			},
			firstBad: 9, problem: "entry 9 was changed or reordered",
		},
		{
			name:     "detail made unreadable",
			tamper:   func(t *testing.T, f *fixture) { f.exec(t, `UPDATE audit_entries SET detail = 'garbage' WHERE seq = 4`) },
			firstBad: 4, problem: "entry 4 was changed or reordered",
		},
		{
			name:     "time altered",
			tamper:   func(t *testing.T, f *fixture) { f.exec(t, `UPDATE audit_entries SET at = at + 1 WHERE seq = 2`) },
			firstBad: 2, problem: "entry 2 was changed or reordered",
		},
		{
			name: "uncovered entry altered",
			tamper: func(t *testing.T, f *fixture) {
				f.exec(t, `UPDATE audit_entries SET outcome = 'failure' WHERE seq = 12`)
			},
			firstBad: 12, problem: "entry 12 was changed or reordered",
		},
		{
			name:     "middle entry deleted",
			tamper:   func(t *testing.T, f *fixture) { f.exec(t, `DELETE FROM audit_entries WHERE seq = 4`) },
			firstBad: 4, problem: "entry 4 was removed",
		},
		{
			name: "two entries' contents swapped",
			tamper: func(t *testing.T, f *fixture) {
				recs := f.records(t)
				f.overwrite(t, 3, recs[7])
				f.overwrite(t, 8, recs[2])
			},
			firstBad: 3, problem: "entry 3 was changed or reordered",
		},
		{
			name: "two entries renumbered",
			tamper: func(t *testing.T, f *fixture) {
				f.exec(t, `UPDATE audit_entries SET seq = -3 WHERE seq = 3`)
				f.exec(t, `UPDATE audit_entries SET seq = 3 WHERE seq = 8`)
				f.exec(t, `UPDATE audit_entries SET seq = 8 WHERE seq = -3`)
			},
			firstBad: 3, problem: "entry 3 was changed or reordered",
		},
		{
			name:     "uncovered last entries deleted",
			tamper:   func(t *testing.T, f *fixture) { f.exec(t, `DELETE FROM audit_entries WHERE seq > 10`) },
			firstBad: 11, problem: "entry 11 was removed",
		},
		{
			name: "covered last entries deleted and head rolled back",
			tamper: func(t *testing.T, f *fixture) {
				recs := f.records(t)
				f.exec(t, `DELETE FROM audit_entries WHERE seq > 8`)
				f.exec(t, `UPDATE audit_head SET size = 8, chain_hash = ? WHERE id = 1`, recs[7].ChainHash)
			},
			firstBad: 9, badCheckpoint: 10, problem: "entries 9–10 were removed: checkpoint 10 vouches for them",
		},
		{
			name: "every entry deleted and head reset",
			tamper: func(t *testing.T, f *fixture) {
				f.exec(t, `DELETE FROM audit_entries`)
				f.exec(t, `DELETE FROM audit_tree`)
				f.exec(t, `UPDATE audit_head SET size = 0, chain_hash = ? WHERE id = 1`, make([]byte, 32))
			},
			firstBad: 1, badCheckpoint: 5, problem: "entries 1–5 were removed",
		},
		{
			name: "entry rewritten with all hashes recomputed",
			tamper: func(t *testing.T, f *fixture) {
				f.exec(t, `UPDATE audit_entries SET actor = 'console:innocent@example.com' WHERE seq = 7`)
				f.rehash(t, true)
			},
			firstBad: 6, badCheckpoint: 10, problem: "checkpoint 10 (entries 1–10) does not match the log: an entry among 6–10 was changed, removed or reordered",
		},
		{
			name: "early entry rewritten with all hashes recomputed",
			tamper: func(t *testing.T, f *fixture) {
				f.exec(t, `UPDATE audit_entries SET outcome = 'denied' WHERE seq = 2`)
				f.rehash(t, true)
			},
			firstBad: 1, badCheckpoint: 5, problem: "checkpoint 5 (entries 1–5) does not match the log",
		},
		{
			name: "entries reordered with all hashes recomputed",
			tamper: func(t *testing.T, f *fixture) {
				recs := f.records(t)
				f.overwrite(t, 6, recs[8])
				f.overwrite(t, 9, recs[5])
				f.rehash(t, true)
			},
			firstBad: 6, badCheckpoint: 10, problem: "does not match the log",
		},
		{
			name: "entry deleted and the rest renumbered with hashes recomputed",
			tamper: func(t *testing.T, f *fixture) {
				f.exec(t, `DELETE FROM audit_entries WHERE seq = 3`)
				for s := 4; s <= 12; s++ {
					f.exec(t, `UPDATE audit_entries SET seq = ? WHERE seq = ?`, s-1, s)
				}
				f.rehash(t, true)
			},
			firstBad: 1, badCheckpoint: 5, problem: "checkpoint 5 (entries 1–5) does not match the log",
		},
		{
			// The documented limit: what no checkpoint covers yet can be rewritten.
			name: "uncovered entry rewritten with all hashes recomputed goes unseen",
			tamper: func(t *testing.T, f *fixture) {
				f.exec(t, `UPDATE audit_entries SET actor = 'nobody' WHERE seq = 11`)
				f.rehash(t, true)
			},
			ok: true,
		},
		{
			name: "entry added beyond the head",
			tamper: func(t *testing.T, f *fixture) {
				r := f.records(t)[11]
				f.exec(t, `INSERT INTO audit_entries(seq, at, action, outcome, record_hash, chain_hash) VALUES (13, ?, 'account.update', 'success', ?, ?)`,
					r.At.UnixMicro(), r.RecordHash, r.ChainHash)
				f.rehash(t, false)
			},
			firstBad: 13, problem: "entry 13 was added outside the audit log",
		},
		{
			name: "tree hash altered",
			tamper: func(t *testing.T, f *fixture) {
				f.exec(t, `UPDATE audit_tree SET hash = ? WHERE idx = ?`, make([]byte, 32), tlog.StoredHashIndex(0, 6))
			},
			firstBad: 7, problem: "Merkle tree hashes stored for entry 7 were changed",
		},
		{
			name: "head chain altered",
			tamper: func(t *testing.T, f *fixture) {
				f.exec(t, `UPDATE audit_head SET chain_hash = ? WHERE id = 1`, make([]byte, 32))
			},
			firstBad: 12, problem: "head record does not match entry 12",
		},
		{
			name:     "head deleted",
			tamper:   func(t *testing.T, f *fixture) { f.exec(t, `DELETE FROM audit_head`) },
			firstBad: 1, problem: "head record is missing",
		},
		{
			name: "checkpoint signed with a forged key",
			tamper: func(t *testing.T, f *fixture) {
				skey, _, err := note.GenerateKey(rand.Reader, KeyName)
				if err != nil {
					t.Fatal(err)
				}
				forger, _ := note.NewSigner(skey)
				var text string
				if err := f.db.SQL().QueryRow(`SELECT note FROM audit_checkpoints WHERE size = 10`).Scan(&text); err != nil {
					t.Fatal(err)
				}
				body := text[:strings.Index(text, "\n\n")+1]
				msg, err := note.Sign(&note.Note{Text: body}, forger)
				if err != nil {
					t.Fatal(err)
				}
				f.exec(t, `UPDATE audit_checkpoints SET note = ? WHERE size = 10`, string(msg))
			},
			firstBad: 6, badCheckpoint: 10, problem: "checkpoint 10 (entries 1–10) does not verify with key trunkline-audit: it was forged or altered",
		},
		{
			name: "checkpoint text altered under a valid signature",
			tamper: func(t *testing.T, f *fixture) {
				f.exec(t, `UPDATE audit_checkpoints SET note = REPLACE(note, 'time 2025', 'time 2024') WHERE size = 5`)
			},
			firstBad: 1, badCheckpoint: 5, problem: "checkpoint 5 (entries 1–5) does not verify",
		},
		{
			name: "rewritten log with a forged checkpoint",
			tamper: func(t *testing.T, f *fixture) {
				f.exec(t, `UPDATE audit_entries SET actor = 'x' WHERE seq = 7`)
				f.rehash(t, true)
				skey, _, _ := note.GenerateKey(rand.Reader, KeyName)
				forger, _ := note.NewSigner(skey)
				forgedLog := New(f.db, forger, Options{})
				f.exec(t, `DELETE FROM audit_checkpoints WHERE size = 10`)
				if c, err := forgedLog.Checkpoint(context.Background()); err != nil || c == nil {
					t.Fatalf("forging checkpoint: %v %v", c, err)
				}
			},
			firstBad: 6, badCheckpoint: 12, problem: "checkpoint 12 (entries 1–12) does not verify",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			eachDB(t, func(t *testing.T, f *fixture) {
				f.appendN(t, 5)
				f.checkpoint(t)
				f.appendN(t, 5)
				f.checkpoint(t)
				f.appendN(t, 2)
				if r := f.verify(t); !r.OK {
					t.Fatalf("before tampering: %s", r)
				}
				tc.tamper(t, f)
				r := f.verify(t)
				if r.OK != tc.ok || r.FirstBad != tc.firstBad || r.BadCheckpoint != tc.badCheckpoint || !strings.Contains(r.Problem, tc.problem) {
					t.Fatalf("got OK=%v FirstBad=%d BadCheckpoint=%d Problem=%q\nwant OK=%v FirstBad=%d BadCheckpoint=%d Problem containing %q",
						r.OK, r.FirstBad, r.BadCheckpoint, r.Problem, tc.ok, tc.firstBad, tc.badCheckpoint, tc.problem)
				}
				if !r.OK && !strings.Contains(r.String(), "FAILED") {
					t.Errorf("report text:\n%s", r)
				}
			})
		})
	}
}

// TestCheckpointRefusesAlteredLog: a new signature must never bless tampering.
func TestCheckpointRefusesAlteredLog(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(t *testing.T, f *fixture)
	}{
		{"covered entry rewritten with hashes recomputed", func(t *testing.T, f *fixture) {
			f.exec(t, `UPDATE audit_entries SET actor = 'x' WHERE seq = 3`)
			f.rehash(t, true)
		}},
		{"uncovered entry altered", func(t *testing.T, f *fixture) {
			f.exec(t, `UPDATE audit_entries SET actor = 'x' WHERE seq = 7`)
		}},
		{"uncovered entry deleted", func(t *testing.T, f *fixture) {
			f.exec(t, `DELETE FROM audit_entries WHERE seq = 7`)
		}},
		{"head rolled back behind the checkpoint", func(t *testing.T, f *fixture) {
			f.exec(t, `UPDATE audit_head SET size = 3 WHERE id = 1`)
		}},
		{"last checkpoint forged", func(t *testing.T, f *fixture) {
			f.exec(t, `UPDATE audit_checkpoints SET note = REPLACE(note, 'time 2025', 'time 2024')`)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			eachDB(t, func(t *testing.T, f *fixture) {
				f.appendN(t, 5)
				f.checkpoint(t)
				f.appendN(t, 3)
				tc.tamper(t, f)
				c, err := f.log.Checkpoint(context.Background())
				if err == nil || !strings.Contains(err.Error(), "refusing to sign") {
					t.Fatalf("Checkpoint = %v, %v; want a refusal", c, err)
				}
			})
		})
	}
}

func TestCheckpoint(t *testing.T) {
	eachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		if c, err := f.log.Checkpoint(ctx); c != nil || err != nil {
			t.Fatalf("empty log: %v %v", c, err)
		}
		f.appendN(t, 4)
		c := f.checkpoint(t)
		if c.Size != 4 || !strings.HasPrefix(string(c.Note), "go.sum database tree\n4\n") {
			t.Fatalf("checkpoint: %+v\n%s", c, c.Note)
		}
		if again, err := f.log.Checkpoint(ctx); again != nil || err != nil {
			t.Fatalf("unchanged log signed again: %v %v", again, err)
		}
		f.appendN(t, 1)
		if c := f.checkpoint(t); c.Size != 5 {
			t.Fatalf("size %d, want 5", c.Size)
		}
		latest, err := f.log.LatestCheckpoint(ctx)
		if err != nil || latest.Size != 5 {
			t.Fatalf("latest: %+v %v", latest, err)
		}
		// The checkpoint is a standard tlog tree note.
		if tree, err := tlog.ParseTree([]byte(strings.SplitN(string(latest.Note), "\n\n", 2)[0] + "\n")); err != nil || tree.N != 5 || tree.Hash != latest.Root {
			t.Fatalf("ParseTree: %+v %v", tree, err)
		}
		// Run stops with its context.
		ctx2, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { f.log.Run(ctx2); close(done) }()
		cancel()
		<-done
	})
}

func TestConcurrentAppend(t *testing.T) {
	eachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		const writers, each = 8, 25
		var wg sync.WaitGroup
		errs := make(chan error, writers+1)
		stop, cpDone := make(chan struct{}), make(chan struct{})
		// Checkpoints are signed while the appends race.
		go func() {
			defer close(cpDone)
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := f.log.Checkpoint(ctx); err != nil {
					errs <- err
					return
				}
			}
		}()
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < each; i++ {
					e := sample(i)
					e.Actor = fmt.Sprintf("writer-%d", w)
					if _, err := f.log.Append(ctx, e); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(stop)
		<-cpDone
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		f.log.Checkpoint(ctx)
		r := f.verify(t)
		if !r.OK || r.Entries != writers*each || r.Covered != writers*each {
			t.Fatalf("%+v", r)
		}
	})
}

func TestRedaction(t *testing.T) {
	detail := map[string]string{
		"auth_token":     "abc",
		"Password":       "hunter2",
		"new_passphrase": "correct horse",
		"client_secret":  "s",
		"OTP":            "123456",
		"verify_code":    "9911",
		"api_key":        "k",
		"pan":            "4111111111111111",
		"card_last4":     "1111",
		"dtmf_digits":    "1234#",
		"note":           "paid with 4111 1111 1111 1111 today",
		"ref":            "4111111111111112", // fails the Luhn check: kept
		"name":           "Ada",
		"phone":          "+14155550100",
	}
	kept := map[string]bool{"ref": true, "name": true, "phone": true}
	eachDB(t, func(t *testing.T, f *fixture) {
		e := sample(1)
		e.Detail = detail
		if _, err := f.log.Append(context.Background(), e); err != nil {
			t.Fatal(err)
		}
		got, _, err := f.log.List(context.Background(), Filter{})
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range detail {
			want := Redacted
			if kept[k] {
				want = v
			}
			if got[0].Detail[k] != want {
				t.Errorf("detail %q = %q, want %q", k, got[0].Detail[k], want)
			}
		}
		var raw string
		f.db.SQL().QueryRow(`SELECT detail FROM audit_entries`).Scan(&raw)
		for _, secret := range []string{"hunter2", "correct horse", "4111 1111"} {
			if strings.Contains(raw, secret) {
				t.Errorf("secret %q stored: %s", secret, raw)
			}
		}
		if r := f.verify(t); !r.OK {
			t.Fatal(r)
		}
	})
}

func TestClean(t *testing.T) {
	many := map[string]string{}
	for i := 0; i < 40; i++ {
		many[fmt.Sprintf("k%02d", i)] = "v"
	}
	tests := []struct {
		name  string
		edit  func(e *Entry)
		err   string
		check func(t *testing.T, e Entry)
	}{
		{name: "no action", edit: func(e *Entry) { e.Action = " " }, err: "no action"},
		{name: "unknown outcome", edit: func(e *Entry) { e.Outcome = "ok" }, err: "outcome"},
		{name: "long field capped", edit: func(e *Entry) { e.Actor = strings.Repeat("é", 300) }, check: func(t *testing.T, e Entry) {
			if len(e.Actor) > MaxField || !utf8.ValidString(e.Actor) || !strings.HasSuffix(e.Actor, "…") {
				t.Errorf("actor %d bytes, valid=%v", len(e.Actor), utf8.ValidString(e.Actor))
			}
		}},
		{name: "long detail value capped", edit: func(e *Entry) { e.Detail = map[string]string{"body": strings.Repeat("x", 5000)} }, check: func(t *testing.T, e Entry) {
			if len(e.Detail["body"]) > MaxDetailVal {
				t.Errorf("value %d bytes", len(e.Detail["body"]))
			}
		}},
		{name: "too many detail keys", edit: func(e *Entry) { e.Detail = many }, check: func(t *testing.T, e Entry) {
			if len(e.Detail) != MaxDetailKeys || e.Detail["truncated"] != "9 more keys" || e.Detail["k00"] != "v" {
				t.Errorf("detail %v", e.Detail)
			}
		}},
		{name: "NUL and invalid UTF-8 replaced", edit: func(e *Entry) {
			e.Source = "a\x00b\xffc"
			e.Detail = map[string]string{"x\x00": "\xfe"}
		}, check: func(t *testing.T, e Entry) {
			if e.Source != "a\uFFFDb\uFFFDc" || e.Detail["x\uFFFD"] != "\uFFFD" {
				t.Errorf("source %q detail %q", e.Source, e.Detail)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := sample(0)
			tc.edit(&e)
			got, err := Clean(e)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, got)
		})
	}
	// Whatever Clean lets through must survive the database unchanged, or Verify
	// would report honest entries as changed.
	eachDB(t, func(t *testing.T, f *fixture) {
		e := sample(0)
		e.Actor = strings.Repeat("é", 300)
		e.Source = "a\x00b\xffc"
		e.Detail = many
		e.Detail["x\x00"] = "\xfe<&>\"\\"
		if _, err := f.log.Append(context.Background(), e); err != nil {
			t.Fatal(err)
		}
		if r := f.verify(t); !r.OK {
			t.Fatal(r)
		}
		if _, err := f.log.Append(context.Background(), Entry{Action: "x"}); err == nil {
			t.Fatal("entry without outcome accepted")
		}
	})
}

func TestList(t *testing.T) {
	eachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		// Entry i is at base+i+1 seconds (the fake clock ticks once per append).
		base := f.clk.t
		for i, acct := range []string{"MA1", "SA1", "MA2", "MA1", "SA1", "MA1"} {
			e := sample(i)
			e.AccountID = acct
			if _, err := f.log.Append(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		at := func(seq int) time.Time { return base.Add(time.Duration(seq) * time.Second) }
		tests := []struct {
			name  string
			f     Filter
			seqs  string
			total int
		}{
			{"all, newest first", Filter{}, "6 5 4 3 2 1", 6},
			{"one account", Filter{AccountIDs: []string{"MA1"}}, "6 4 1", 3},
			{"account and subaccount", Filter{AccountIDs: []string{"MA1", "SA1"}}, "6 5 4 2 1", 5},
			{"action", Filter{Action: "subaccount.create"}, "2", 1},
			{"time range", Filter{From: at(2), To: at(5)}, "4 3 2", 3},
			{"limit", Filter{Limit: 2}, "6 5", 6},
			{"limit and offset", Filter{Limit: 2, Offset: 3}, "3 2", 6},
			{"offset only", Filter{Offset: 4}, "2 1", 6},
			{"nothing", Filter{AccountIDs: []string{"MA9"}}, "", 0},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				got, total, err := f.log.List(ctx, tc.f)
				if err != nil {
					t.Fatal(err)
				}
				var seqs []string
				for _, e := range got {
					seqs = append(seqs, fmt.Sprint(e.Seq))
				}
				if s := strings.Join(seqs, " "); s != tc.seqs || total != tc.total {
					t.Errorf("got %q total %d, want %q total %d", s, total, tc.seqs, tc.total)
				}
			})
		}
	})
}

func TestProofs(t *testing.T) {
	eachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.appendN(t, 5)
		old := f.checkpoint(t)
		f.appendN(t, 8)
		cp := f.checkpoint(t)
		entries, _, err := f.log.List(ctx, Filter{})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			p, err := f.log.ProveEntry(ctx, e.Seq, cp.Size)
			if err != nil {
				t.Fatal(err)
			}
			if err := tlog.CheckRecord(p, cp.Size, cp.Root, e.Seq-1, RecordHash(e)); err != nil {
				t.Errorf("entry %d: %v", e.Seq, err)
			}
			forged := e
			forged.Outcome = Denied
			if tlog.CheckRecord(p, cp.Size, cp.Root, e.Seq-1, RecordHash(forged)) == nil {
				t.Errorf("entry %d: proof accepted an altered entry", e.Seq)
			}
		}
		p, err := f.log.ProveTree(ctx, old.Size, cp.Size)
		if err != nil {
			t.Fatal(err)
		}
		if err := tlog.CheckTree(p, cp.Size, cp.Root, old.Size, old.Root); err != nil {
			t.Errorf("consistency: %v", err)
		}
		for _, bad := range [][2]int64{{0, 13}, {14, 13}, {1, 14}} {
			if _, err := f.log.ProveEntry(ctx, bad[0], bad[1]); err == nil {
				t.Errorf("ProveEntry(%d, %d) succeeded", bad[0], bad[1])
			}
		}
	})
}

func TestLoadOrCreateKeys(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	signer, _, err := LoadOrCreateKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi.Mode(), err)
	}
	msg, err := note.Sign(&note.Note{Text: "hello\n"}, signer)
	if err != nil {
		t.Fatal(err)
	}
	reload := func() note.Verifier {
		t.Helper()
		_, v, err := LoadOrCreateKeys(dir)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := note.Open(msg, note.VerifierList(v)); err != nil {
			t.Fatalf("reloaded key does not verify: %v", err)
		}
		return v
	}
	reload()
	os.Remove(filepath.Join(dir, VerifierKeyFile))
	reload() // the verifier key is rewritten from the signer key

	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		err   string
	}{
		{"signing key readable by others", func(t *testing.T, dir string) {
			os.Chmod(filepath.Join(dir, KeyFile), 0o644)
		}, "chmod 600"},
		{"signing key lost", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, KeyFile))
		}, "is missing"},
		{"verifier key of another key", func(t *testing.T, dir string) {
			_, vkey, _ := note.GenerateKey(rand.Reader, KeyName)
			os.WriteFile(filepath.Join(dir, VerifierKeyFile), []byte(vkey+"\n"), 0o644)
		}, "does not belong"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := filepath.Join(t.TempDir(), "keys")
			if _, _, err := LoadOrCreateKeys(d); err != nil {
				t.Fatal(err)
			}
			tc.setup(t, d)
			if _, _, err := LoadOrCreateKeys(d); err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err = %v, want %q", err, tc.err)
			}
		})
	}
}

func TestEncodeIsStable(t *testing.T) {
	// The canonical encoding is a commitment: changing it breaks every stored hash.
	e := sample(1)
	e.Seq, e.At, e.Node = 42, time.Date(2025, 3, 1, 12, 0, 0, 123456000, time.UTC), "n1"
	want := "trunkline audit entry v1\nseq 42\nat 1740830400123456\naccount 3:MA1\nactor 3:api\ncredential 6:cred-1\n" +
		"action 17:subaccount.create\nobject_type 7:account\nobject_id 5:obj-1\nsource 9:192.0.2.7\nnode 2:n1\noutcome 7:success\n" +
		"detail 2\n5:field 4:name\n1:n 1:1\n"
	if got := string(Encode(e)); got != want {
		t.Errorf("Encode =\n%s\nwant\n%s", got, want)
	}
}

// TestProveEntries: the batched proofs of a page are the single proofs, against a
// checkpoint and against an older tree size, and the same bounds apply.
func TestProveEntries(t *testing.T) {
	eachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.appendN(t, 37)
		cp := f.checkpoint(t)
		for _, size := range []int64{cp.Size, 1, 20} {
			var seqs []int64
			for s := size; s >= 1; s -= 3 { // newest first, as a page lists them
				seqs = append(seqs, s)
			}
			seqs = append(seqs, size) // a repeat
			got, err := f.log.ProveEntries(ctx, seqs, size)
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range seqs {
				want, err := f.log.ProveEntry(ctx, s, size)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got[i], want) {
					t.Fatalf("size %d, entry %d: batched proof %v, single %v", size, s, got[i], want)
				}
			}
		}
		if p, err := f.log.ProveEntries(ctx, nil, cp.Size); err != nil || len(p) != 0 {
			t.Fatalf("no entries: %v %v", p, err)
		}
		for _, bad := range [][2]int64{{0, 13}, {14, 13}, {1, cp.Size + 1}} {
			if _, err := f.log.ProveEntries(ctx, []int64{1, bad[0]}, bad[1]); err == nil {
				t.Errorf("ProveEntries(%d, %d) succeeded", bad[0], bad[1])
			}
		}
	})
}

// TestTwoNodesAppend: two nodes (two stores on one database) append in turn. Each
// keeps the tree hashes it has seen committed (the store's tree cache) and reads the
// ones the other added, so the log they build together verifies entry by entry.
func TestTwoNodesAppend(t *testing.T) {
	dsns := []string{filepath.Join(t.TempDir(), "shared.db")}
	if dsn := storetest.PostgresDSN(t); dsn != "" {
		dsns = append(dsns, dsn)
	}
	for _, dsn := range dsns {
		ctx := context.Background()
		signer, v, err := LoadOrCreateKeys(filepath.Join(t.TempDir(), "keys"))
		if err != nil {
			t.Fatal(err)
		}
		var logs []*Log
		var db *store.DB
		for _, node := range []string{"node-a", "node-b"} {
			d, err := store.Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			l := New(d, signer, Options{Node: node, Verifier: v})
			defer l.Close()
			logs, db = append(logs, l), d
		}
		const n = 40
		for i := range n {
			// Runs of one to three appends by the same node, so each sometimes builds on
			// its own last hashes and sometimes on the other's.
			if _, err := logs[(i/(1+i%3))%2].Append(ctx, sample(i)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := logs[0].Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
		r, err := Verify(ctx, db, v)
		if err != nil {
			t.Fatal(err)
		}
		if !r.OK || r.Entries != n || r.Covered != n {
			t.Fatalf("%s: %+v", db.Dialect(), r)
		}
	}
}
