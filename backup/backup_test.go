package backup

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"golang.org/x/mod/sumdb/note"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/account"
	"github.com/trunkline/trunkline/audit"
	"github.com/trunkline/trunkline/keys"
	"github.com/trunkline/trunkline/recording"
	"github.com/trunkline/trunkline/store"
	"github.com/trunkline/trunkline/store/storetest"
)

// fixture is a small installation: a data dir, a store with accounts, messages sealed
// under account keys, a recording, and a signed audit log.
type fixture struct {
	db       *store.DB
	dir      string
	kek      *keys.Ring
	verifier note.Verifier
	audit    *audit.Log
	accts    *account.Service
	recs     *recording.Files
	main     *account.Created
	sub      *account.Created
	recBytes []byte
}

func newFixture(t *testing.T, db *store.DB) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{db: db, dir: t.TempDir()}
	raw := make([]byte, 32)
	rand.Read(raw)
	var err error
	if f.kek, err = keys.NewRing(raw); err != nil {
		t.Fatal(err)
	}
	db.SetBodyCipher(keys.NewBodies(f.kek, db, isNotFound))
	signer, verifier, err := audit.LoadOrCreateKeys(filepath.Join(f.dir, "keys"))
	if err != nil {
		t.Fatal(err)
	}
	f.verifier = verifier
	f.audit = audit.New(db, signer, audit.Options{Node: "test", Verifier: verifier})
	t.Cleanup(func() { f.audit.Close() })
	f.accts = account.New(db, f.kek, account.Options{CacheTTL: -1})
	if f.main, err = f.accts.CreateMain(ctx, "Main"); err != nil {
		t.Fatal(err)
	}
	if f.sub, err = f.accts.CreateSub(ctx, f.main.Account, "Sub", true); err != nil {
		t.Fatal(err)
	}
	if f.recs, err = recording.New(filepath.Join(f.dir, "recordings"), f.kek, db); err != nil {
		t.Fatal(err)
	}
	f.recBytes = make([]byte, 300_000)
	rand.Read(f.recBytes)
	for _, a := range []string{f.main.Account.ID, f.sub.Account.ID} {
		f.addMessages(t, a, 5)
		w, err := f.recs.Create(ctx, a, "RE-"+strings.ToLower(a))
		if err != nil {
			t.Fatal(err)
		}
		w.Write(f.recBytes)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := f.audit.Append(ctx, audit.Entry{AccountID: a, Actor: "cli", Action: "account.create", ObjectType: "account", ObjectID: a, Outcome: "success"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.audit.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	return f
}

var msgSeq atomic.Int64

func (f *fixture) addMessages(t testing.TB, acct string, n int) {
	t.Helper()
	var ms []*trunkline.Message
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("m-%d-%s", msgSeq.Add(1), acct)
		ms = append(ms, &trunkline.Message{UUID: id, AccountID: acct, Direction: "outbound", Type: "sms", LogMode: "true",
			From: "15550001111", To: "15550002222", Body: "secret text of " + acct, State: trunkline.MsgDelivered,
			Units: 1, ExpiresAt: time.Now().Add(time.Hour)})
	}
	if err := f.db.InsertMessages(context.Background(), ms, nil); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) options(k *Key, dests ...Destination) Options {
	return Options{DB: f.db, DataDir: f.dir, Files: []string{"keys/" + audit.VerifierKeyFile, "audit/witness"}, Key: k, Dests: dests,
		RetryPause: time.Millisecond}
}

func testKey(t *testing.T) *Key {
	raw := make([]byte, 32)
	rand.Read(raw)
	k, err := NewKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newS3 runs gofakes3, an S3-compatible server (not AWS), in-process on 127.0.0.1:0.
func newS3(t *testing.T) (*S3, *httptest.Server) {
	t.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket("backups"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	s, err := NewS3("s3", S3Config{Endpoint: srv.Listener.Addr().String(), Bucket: "backups", Prefix: "trunkline",
		AccessKey: "test", SecretKey: "testtesttest", Region: "us-east-1", Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	return s, srv
}

// restoreTarget gives the DSN a restore of db's dialect goes to ("" for SQLite).
func restoreTarget(t *testing.T, db *store.DB) string {
	t.Helper()
	if db.Dialect() != store.Postgres {
		return ""
	}
	dsn := os.Getenv(storetest.PostgresEnv)
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	var b [6]byte
	rand.Read(b[:])
	schema := "r_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`) })
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + "search_path=" + schema
}

func openRestored(t *testing.T, dir, dsn string, kek *keys.Ring) *store.DB {
	t.Helper()
	if dsn == "" {
		dsn = filepath.Join(dir, "trunkline.db")
	}
	db, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetBodyCipher(keys.NewBodies(kek, db, isNotFound))
	return db
}

// Backup under load to a directory and an S3 bucket at once, restore from each into a
// fresh place: same messages (bodies decrypt), the recording plays, audit verifies,
// tokens authenticate; the drill agrees.
func TestBackupRestoreUnderLoad(t *testing.T) {
	for _, db := range storetest.Open(t) {
		t.Run(string(db.Dialect()), func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, db)
			k := testKey(t)
			dir, err := NewDir("disk", filepath.Join(t.TempDir(), "dest"))
			if err != nil {
				t.Fatal(err)
			}
			s3, _ := newS3(t)
			// Load: messages flow and audit entries are appended while the backup runs.
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 200; i++ {
					select {
					case <-stop:
						return
					default:
					}
					f.addMessages(t, f.main.Account.ID, 3)
					f.audit.Append(ctx, audit.Entry{AccountID: f.main.Account.ID, Actor: "api", Action: "message.send", Outcome: "success"})
				}
			}()
			// An audit witness file beside the database goes along; the KEK and the audit
			// signing key never do.
			os.MkdirAll(filepath.Join(f.dir, "audit"), 0o700)
			os.WriteFile(filepath.Join(f.dir, "audit", "witness"), []byte("witnessed checkpoints\n"), 0o600)
			os.WriteFile(filepath.Join(f.dir, "keys", "kek"), []byte("the KEK\n"), 0o600)
			res, err := Run(ctx, f.options(k, dir, s3))
			close(stop)
			wg.Wait()
			if err != nil {
				t.Fatalf("backup: %v", err)
			}
			if len(res.Confirmed) != 2 || res.Tables["messages"] < 10 || res.KeyringLen < 4 {
				t.Fatalf("result %+v", res)
			}
			for _, src := range []Destination{dir, s3} {
				target := filepath.Join(t.TempDir(), "restored")
				dsn := restoreTarget(t, db)
				r, err := Restore(ctx, RestoreOptions{Source: src, Key: k, DataDir: target, DSN: dsn})
				if err != nil {
					t.Fatalf("restore from %s: %v", src.Name(), err)
				}
				if b, err := os.ReadFile(filepath.Join(target, "audit", "witness")); err != nil || string(b) != "witnessed checkpoints\n" {
					t.Fatalf("the audit witness was not restored: %q %v", b, err)
				}
				for _, secret := range []string{"kek", "audit.key"} {
					if _, err := os.Stat(filepath.Join(target, "keys", secret)); err == nil {
						t.Fatalf("keys/%s is in the backup", secret)
					}
				}
				rdb := openRestored(t, target, dsn, f.kek)
				counts, _ := rdb.CountRows(ctx)
				if counts["messages"] != r.Manifest.Tables["messages"] {
					t.Fatalf("messages %d, manifest %d", counts["messages"], r.Manifest.Tables["messages"])
				}
				// Same API-visible results: the first messages read back the same.
				for _, a := range []string{f.main.Account.ID, f.sub.Account.ID} {
					ms, n, err := rdb.ListMessages(ctx, trunkline.Scope{AccountID: a}, trunkline.MessageFilter{Limit: 1000})
					if err != nil || n == 0 {
						t.Fatalf("list restored messages of %s: %d %v", a, n, err)
					}
					for _, m := range ms {
						if m.BodyUnreadable || m.Body != "secret text of "+a {
							t.Fatalf("restored message %s body %q unreadable=%v", m.UUID, m.Body, m.BodyUnreadable)
						}
						live, err := db.MessageByUUID(ctx, m.UUID)
						if err != nil || live.State != m.State || live.To != m.To || !live.CreatedAt.Equal(m.CreatedAt) {
							t.Fatalf("restored message %s differs from live: %+v vs %+v", m.UUID, m, live)
						}
					}
				}
				rrecs, _ := recording.New(filepath.Join(target, "recordings"), f.kek, rdb)
				rc, err := rrecs.Open(ctx, f.sub.Account.ID, "RE-"+strings.ToLower(f.sub.Account.ID))
				if err != nil {
					t.Fatal(err)
				}
				got, _ := io.ReadAll(rc)
				rc.Close()
				if !bytes.Equal(got, f.recBytes) {
					t.Fatal("restored recording differs")
				}
				rep, err := audit.Verify(ctx, rdb, f.verifier)
				if err != nil || !rep.OK || rep.Covered < r.Manifest.Audit.Size || r.Manifest.Audit.Size == 0 {
					t.Fatalf("audit verify of restore: %+v %v", rep, err)
				}
				ra := account.New(rdb, f.kek, account.Options{CacheTTL: -1})
				if _, _, err := ra.Authenticate(ctx, f.main.Account.ID, f.main.Token); err != nil {
					t.Fatalf("token does not authenticate against the restored store: %v", err)
				}
			}
			drill, err := Drill(ctx, DrillOptions{Source: s3, Key: k, KEK: f.kek, PostgresDSN: os.Getenv(storetest.PostgresEnv), Verifier: f.verifier})
			if err != nil || !drill.OK || drill.Recordings != 2 || drill.Tokens < 2 || drill.Messages == 0 {
				t.Fatalf("drill: %+v %v", drill, err)
			}
		})
	}
}

// A SQLite backup restores into PostgreSQL and a PostgreSQL backup into SQLite (moving
// between stores): messages read back, tokens authenticate, the audit log verifies.
func TestCrossDialectRestore(t *testing.T) {
	dbs := storetest.Open(t)
	if len(dbs) < 2 {
		t.Skip("needs " + storetest.PostgresEnv)
	}
	for _, db := range dbs {
		t.Run(string(db.Dialect())+"-to-other", func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, db)
			k := testKey(t)
			dir, _ := NewDir("disk", filepath.Join(t.TempDir(), "dest"))
			if _, err := Run(ctx, f.options(k, dir)); err != nil {
				t.Fatal(err)
			}
			target := filepath.Join(t.TempDir(), "restored")
			dsn := ""
			if db.Dialect() == store.SQLite {
				dsn = restoreTarget(t, dbs[1]) // a new PostgreSQL schema
			}
			if _, err := Restore(ctx, RestoreOptions{Source: dir, Key: k, DataDir: target, DSN: dsn}); err != nil {
				t.Fatal(err)
			}
			rdb := openRestored(t, target, dsn, f.kek)
			if rdb.Dialect() == db.Dialect() {
				t.Fatalf("restored into %s, the same dialect", rdb.Dialect())
			}
			ms, n, err := rdb.ListMessages(ctx, trunkline.Scope{AccountID: f.sub.Account.ID}, trunkline.MessageFilter{Limit: 100})
			if err != nil || n != 5 || ms[0].Body != "secret text of "+f.sub.Account.ID {
				t.Fatalf("messages after the move: %d %v %+v", n, err, ms)
			}
			a, err := rdb.Account(ctx, f.sub.Account.ID)
			if err != nil || !a.Enabled || a.ParentID != f.main.Account.ID {
				t.Fatalf("account after the move: %+v %v", a, err)
			}
			ra := account.New(rdb, f.kek, account.Options{CacheTTL: -1})
			if _, _, err := ra.Authenticate(ctx, f.sub.Account.ID, f.sub.Token); err != nil {
				t.Fatal(err)
			}
			if rep, err := audit.Verify(ctx, rdb, f.verifier); err != nil || !rep.OK {
				t.Fatalf("audit after the move: %+v %v", rep, err)
			}
		})
	}
}
