package audit

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// witnessed gives the fixture's store a log that hands its checkpoints to two file
// witnesses, as serve does (the data dir's file and a second path).
func (f *fixture) witnessed(t *testing.T) (*Log, []Witness) {
	t.Helper()
	signer, v, err := LoadOrCreateKeys(filepath.Join(t.TempDir(), "keys"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ws := []Witness{FileWitness{Path: filepath.Join(dir, "audit", "witness")}, FileWitness{Path: filepath.Join(dir, "offsite", "witness")}}
	l := New(f.db, signer, Options{Now: f.clk.Now, Node: "node-a", Verifier: v, Witnesses: ws})
	t.Cleanup(func() { l.Close() })
	f.log, f.v = l, v
	return l, ws
}

func (f *fixture) verifyWith(t *testing.T, ws []Witness) *Report {
	t.Helper()
	r, err := Verify(context.Background(), f.db, f.v, ws...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// rollBack deletes the entries after size, their tree hashes and the checkpoints
// covering them, and points the head at entry size: what an attacker with the database
// but not the signing key can do to take back the newest entries.
func (f *fixture) rollBack(t *testing.T, size int64) {
	t.Helper()
	recs := f.records(t)
	f.exec(t, `DELETE FROM audit_entries WHERE seq > ?`, size)
	f.exec(t, `DELETE FROM audit_tree WHERE idx >= ?`, tlog.StoredHashCount(size))
	f.exec(t, `DELETE FROM audit_checkpoints WHERE size > ?`, size)
	f.exec(t, `UPDATE audit_head SET size = ?, chain_hash = ? WHERE id = 1`, size, recs[size-1].ChainHash)
}

func TestWitnessCatchesRollback(t *testing.T) {
	tests := []struct {
		name    string
		tamper  func(t *testing.T, f *fixture)
		problem string
	}{
		{
			name:    "newest entries and checkpoints deleted",
			tamper:  func(t *testing.T, f *fixture) { f.rollBack(t, 10) },
			problem: "entries 11–15 were removed: the log ends at entry 10 but checkpoint 15, witnessed outside the database",
		},
		{
			name: "entry rewritten with hashes recomputed after the checkpoints were deleted",
			tamper: func(t *testing.T, f *fixture) {
				f.exec(t, `DELETE FROM audit_checkpoints`)
				f.exec(t, `UPDATE audit_entries SET actor = 'console:innocent@example.com' WHERE seq = 12`)
				f.rehash(t, true)
			},
			problem: "the log does not extend checkpoint 15 witnessed outside the database",
		},
		{
			name: "rolled back, then regrown with other entries and a checkpoint deleted",
			tamper: func(t *testing.T, f *fixture) {
				f.rollBack(t, 10)
				f.appendN(t, 7) // same size as before and more, different content
				f.exec(t, `DELETE FROM audit_checkpoints WHERE size > 10`)
			},
			problem: "the log does not extend checkpoint 15",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			eachDB(t, func(t *testing.T, f *fixture) {
				l, ws := f.witnessed(t)
				f.appendN(t, 10)
				f.checkpoint(t)
				f.appendN(t, 5)
				f.checkpoint(t)
				if r := f.verifyWith(t, ws); !r.OK || r.Witnessed != 15 {
					t.Fatalf("untouched log: %+v", r)
				}
				tc.tamper(t, f)
				// The database alone cannot tell (this is what verify checked before).
				if r := f.verify(t); !r.OK {
					t.Fatalf("the database-only check was expected to be fooled: %s", r.Problem)
				}
				r := f.verifyWith(t, ws)
				if r.OK || !strings.Contains(r.Problem, tc.problem) {
					t.Fatalf("verify = %+v, want a failure with %q", r, tc.problem)
				}
				// Each witness alone is enough (the data dir's file, or the off-host copy).
				for _, w := range ws {
					if r := f.verifyWith(t, []Witness{w}); r.OK {
						t.Fatalf("verify with %s passed", w.Name())
					}
				}
				// The server refuses to sign over the rollback (it checks at start and on
				// every tick), and says why.
				if _, err := l.Checkpoint(context.Background()); err == nil || !strings.Contains(err.Error(), "refusing to sign") {
					t.Fatalf("checkpoint over a rolled-back log: %v", err)
				}
				// A fresh log (a restarted server) reads the witness and refuses too, and
				// reports it (serve sets a metric from this).
				outcome := make(chan error, 1)
				fresh := New(f.db, l.signer, Options{Now: f.clk.Now, Verifier: f.v, Witnesses: ws, CheckpointEvery: time.Hour,
					Checked: func(err error) {
						select {
						case outcome <- err:
						default:
						}
					}})
				defer fresh.Close()
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan struct{})
				go func() { fresh.Run(ctx); close(done) }()
				select {
				case err := <-outcome:
					if err == nil || !strings.Contains(err.Error(), "witnessed in") {
						t.Fatalf("restarted checkpoint over a rolled-back log: %v", err)
					}
				case <-time.After(30 * time.Second):
					t.Fatal("no checkpoint outcome")
				}
				cancel()
				<-done
			})
		})
	}
}

func TestWitnessFile(t *testing.T) {
	eachDB(t, func(t *testing.T, f *fixture) {
		l, ws := f.witnessed(t)
		f.appendN(t, 3)
		f.checkpoint(t)
		f.appendN(t, 2)
		c := f.checkpoint(t)
		path := ws[0].Name()
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("witness file: %v %v", fi, err)
		}
		b, _ := os.ReadFile(path)
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) != 2 {
			t.Fatalf("witness holds %d records, want 2", len(lines))
		}
		last, _ := base64.StdEncoding.DecodeString(lines[1])
		if !bytes.Equal(last, c.Note) {
			t.Fatal("the witness does not hold the signed note")
		}
		// Nothing new: nothing written.
		if cp, err := l.Checkpoint(context.Background()); err != nil || cp != nil {
			t.Fatalf("idle checkpoint: %v %v", cp, err)
		}
		if b2, _ := os.ReadFile(path); !bytes.Equal(b, b2) {
			t.Fatal("an idle checkpoint wrote to the witness")
		}

		// A witness added later gets the newest checkpoint on the next run.
		late := FileWitness{Path: filepath.Join(t.TempDir(), "late")}
		l2 := New(f.db, l.signer, Options{Now: f.clk.Now, Verifier: f.v, Witnesses: []Witness{late}})
		defer l2.Close()
		if _, err := l2.Checkpoint(context.Background()); err != nil {
			t.Fatal(err)
		}
		if w, err := late.Latest(context.Background(), f.v); err != nil || w == nil || w.Size != 5 {
			t.Fatalf("late witness: %+v %v", w, err)
		}

		// Witness files lost while the database has checkpoints: verify says so.
		for _, w := range ws {
			os.Remove(w.Name())
		}
		if r := f.verifyWith(t, ws); r.OK || !strings.Contains(r.Problem, "no witness outside it holds any") {
			t.Fatalf("lost witness: %+v", r)
		}
	})
}

func TestWitnessRefusesForgedCopy(t *testing.T) {
	eachDB(t, func(t *testing.T, f *fixture) {
		_, ws := f.witnessed(t)
		f.appendN(t, 4)
		f.checkpoint(t)
		// A checkpoint signed by another key (one an attacker made) claiming a smaller
		// log, appended to the witness, and a damaged line: both are refused, never
		// skipped.
		skey, _, err := note.GenerateKey(rand.Reader, KeyName)
		if err != nil {
			t.Fatal(err)
		}
		other, _ := note.NewSigner(skey)
		forged, err := note.Sign(&note.Note{Text: checkpointText(2, tlog.Hash{1}, tlog.Hash{2}, time.Now())}, other)
		if err != nil {
			t.Fatal(err)
		}
		for name, line := range map[string]string{
			"does not verify": base64.StdEncoding.EncodeToString(forged) + "\n",
			"damaged":         "not*base64\n",
		} {
			t.Run(name, func(t *testing.T) {
				w := FileWitness{Path: filepath.Join(t.TempDir(), "witness")}
				good, _ := os.ReadFile(ws[0].Name())
				os.WriteFile(w.Path, append(good, line...), 0o600)
				r := f.verifyWith(t, []Witness{w})
				if r.OK || !strings.Contains(r.Problem, name) {
					t.Fatalf("verify = %+v, want %q", r, name)
				}
				if _, err := w.Latest(context.Background(), f.v); err == nil {
					t.Fatal("Latest accepted the bad copy")
				}
			})
		}
	})
}

func TestSigningKeyFromEnv(t *testing.T) {
	skey, _, err := note.GenerateKey(rand.Reader, KeyName)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvSigningKey, skey)
	dir := filepath.Join(t.TempDir(), "keys")
	signer, v, err := LoadOrCreateKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, KeyFile)); !os.IsNotExist(err) {
		t.Fatalf("a key file was written to the data dir: %v", err)
	}
	want, _ := note.NewSigner(skey)
	msg, _ := note.Sign(&note.Note{Text: "hello\n"}, signer)
	if _, err := note.Open(msg, note.VerifierList(v)); err != nil || signer.KeyHash() != want.KeyHash() {
		t.Fatalf("env key not used: %v", err)
	}
	pub, err := os.ReadFile(filepath.Join(dir, VerifierKeyFile))
	if err != nil || !strings.HasPrefix(string(pub), KeyName+"+") {
		t.Fatalf("verifier key not published: %q %v", pub, err)
	}
	t.Setenv(EnvSigningKey, "PRIVATE+KEY+garbage")
	if _, _, err := LoadOrCreateKeys(dir); err == nil || strings.Contains(err.Error(), "garbage") {
		t.Fatalf("a malformed env key: %v (must fail without echoing the key)", err)
	}
}

// The signing key may live in a file outside the data dir.
func TestSigningKeyFile(t *testing.T) {
	keyPath := filepath.Join(t.TempDir(), "elsewhere", "audit.key")
	dir := filepath.Join(t.TempDir(), "keys")
	s1, _, err := LoadOrCreateKeyFiles(keyPath, filepath.Join(dir, VerifierKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, KeyFile)); !os.IsNotExist(err) {
		t.Fatal("a key file was written to the data dir")
	}
	s2, _, err := LoadOrCreateKeyFiles(keyPath, filepath.Join(dir, VerifierKeyFile))
	if err != nil || s1.KeyHash() != s2.KeyHash() {
		t.Fatalf("reload: %v", err)
	}
}

// witnessService is an off-host witness as HTTPWitness expects one: it keeps what is
// POSTed and answers GET with the newest.
type witnessService struct {
	mu     sync.Mutex
	notes  [][]byte
	fail   bool   // answer POSTs with 500
	forged []byte // answer GETs with this instead
}

func (s *witnessService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch r.Method {
	case http.MethodPost:
		if s.fail {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		b, _ := io.ReadAll(r.Body)
		s.notes = append(s.notes, b)
		w.WriteHeader(http.StatusCreated)
	case http.MethodGet:
		switch {
		case s.forged != nil:
			w.Write(s.forged)
		case len(s.notes) == 0:
			http.NotFound(w, r)
		default:
			w.Write(s.notes[len(s.notes)-1])
		}
	}
}

func TestHTTPWitness(t *testing.T) {
	eachDB(t, func(t *testing.T, f *fixture) {
		svc := &witnessService{}
		srv := httptest.NewTLSServer(svc)
		defer srv.Close()
		w := HTTPWitness{URL: srv.URL + "/witness", Client: srv.Client()}
		_, _ = f.witnessed(t) // the fixture's keys
		l := New(f.db, f.log.signer, Options{Now: f.clk.Now, Verifier: f.v, Witnesses: []Witness{w}})
		defer l.Close()
		f.appendN(t, 6)
		if _, err := l.Checkpoint(context.Background()); err != nil {
			t.Fatal(err)
		}
		if svc.mu.Lock(); len(svc.notes) != 1 {
			t.Fatalf("the service got %d checkpoints", len(svc.notes))
		}
		svc.mu.Unlock()
		if r := f.verifyWith(t, []Witness{w}); !r.OK || r.Witnessed != 6 {
			t.Fatalf("untouched: %+v", r)
		}
		// The service is down: no checkpoint is signed into the database either, so the
		// database never holds one the witness lacks.
		f.appendN(t, 2)
		svc.mu.Lock()
		svc.fail = true
		svc.mu.Unlock()
		if _, err := l.Checkpoint(context.Background()); err == nil || !strings.Contains(err.Error(), "500") {
			t.Fatalf("checkpoint with the witness down: %v", err)
		}
		if c, _ := f.db.LatestAuditCheckpoint(context.Background()); c.Size != 6 {
			t.Fatalf("a checkpoint of %d was stored although the witness failed", c.Size)
		}
		svc.mu.Lock()
		svc.fail = false
		svc.mu.Unlock()
		if c, err := l.Checkpoint(context.Background()); err != nil || c.Size != 8 {
			t.Fatalf("checkpoint once the witness is back: %v", err)
		}
		// A rollback of the database shows against the off-host copy.
		f.rollBack(t, 6)
		if r := f.verifyWith(t, []Witness{w}); r.OK || !strings.Contains(r.Problem, "entries 7–8 were removed") {
			t.Fatalf("rolled back: %+v", r)
		}
		// A forged answer is refused.
		svc.mu.Lock()
		svc.forged = []byte("trunkline\n\n— x AAAA\n")
		svc.mu.Unlock()
		if r := f.verifyWith(t, []Witness{w}); r.OK || !strings.Contains(r.Problem, "does not verify") {
			t.Fatalf("forged: %+v", r)
		}
	})
}
