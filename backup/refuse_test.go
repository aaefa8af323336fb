package backup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/recording"
	"github.com/trunkline/trunkline/store"
	"github.com/trunkline/trunkline/store/storetest"
)

// Each damaged backup is refused with an error naming the problem, and the target is
// left as it was: no data dir, no staging directory, an empty database.
func TestRestoreRefusesDamage(t *testing.T) {
	for _, db := range storetest.Open(t) {
		t.Run(string(db.Dialect()), func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, db)
			k := testKey(t)
			root := filepath.Join(t.TempDir(), "dest")
			dir, _ := NewDir("disk", root)
			a, err := Run(ctx, f.options(k, dir))
			if err != nil {
				t.Fatal(err)
			}
			b, err := Run(ctx, f.options(k, dir))
			if err != nil {
				t.Fatal(err)
			}
			ma, _, err := LoadManifest(ctx, dir, k, a.ID)
			if err != nil {
				t.Fatalf("manifest: %v", err)
			}
			var dbInfo ObjectInfo
			for _, o := range ma.Objects {
				if o.Name == "db" {
					dbInfo = o
				}
			}
			if len(dbInfo.Parts) == 0 {
				t.Fatalf("no database parts in %+v", ma.Objects)
			}
			last := len(dbInfo.Parts) - 1
			dbObj := filepath.Join(root, "blobs", dbInfo.Parts[last].Blob)
			orig, _ := os.ReadFile(dbObj)
			restore := func(key *Key) error {
				parent := t.TempDir()
				target := filepath.Join(parent, "restored")
				dsn := restoreTarget(t, db)
				_, err := Restore(ctx, RestoreOptions{Source: dir, Key: key, ID: a.ID, DataDir: target, DSN: dsn})
				if err == nil {
					return nil
				}
				if es, _ := os.ReadDir(parent); len(es) != 0 {
					t.Fatalf("a refused restore left %v behind", es[0].Name())
				}
				if dsn != "" {
					pg, err := store.Open(ctx, dsn)
					if err != nil {
						t.Fatal(err)
					}
					counts, _ := pg.CountRows(ctx)
					pg.Close()
					if tbl, ok := store.IsEmpty(counts); !ok {
						t.Fatalf("a refused restore left rows in %s", tbl)
					}
				}
				return err
			}
			expect := func(name string, err error, want string) {
				t.Helper()
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("%s: got %v, want an error containing %q", name, err, want)
				}
			}
			// A changed byte in the last part of the database.
			bad := append([]byte(nil), orig...)
			bad[len(bad)-20] ^= 1
			os.WriteFile(dbObj, bad, 0o600)
			expect("flipped byte", restore(k), fmt.Sprintf("object db part %d, chunk 0: failed authentication", last))
			// A part of the database gone.
			os.Remove(dbObj)
			expect("missing part", restore(k), fmt.Sprintf("object db, part %d is missing", last))
			os.WriteFile(dbObj, orig, 0o600)

			// A missing chunk: the recording blob is one chunk; drop the whole chunk's tail.
			m, _, _ := LoadManifest(ctx, dir, k, a.ID)
			var blob string
			for _, o := range m.Objects {
				if o.Kind == "blob" {
					blob = filepath.Join(root, "blobs", o.Blob)
				}
			}
			borig, _ := os.ReadFile(blob)
			os.WriteFile(blob, borig[:0], 0o600)
			expect("missing chunk", restore(k), "chunk 0: missing")
			os.WriteFile(blob, borig, 0o600)

			// A wrong backup key.
			expect("wrong key", restore(testKey(t)), "wrong backup key")

			// The manifest of backup b put in place of a's.
			man := filepath.Join(root, "backups", a.ID, "manifest")
			morig, _ := os.ReadFile(man)
			mb, _ := os.ReadFile(filepath.Join(root, "backups", b.ID, "manifest"))
			os.WriteFile(man, mb, 0o600)
			expect("manifest from another backup", restore(k), "belongs to backup "+b.ID)
			// … even with its id field edited to match.
			os.WriteFile(man, []byte(strings.ReplaceAll(string(mb), b.ID, a.ID)), 0o600)
			expect("edited manifest", restore(k), "failed authentication")
			os.WriteFile(man, morig, 0o600)

			// A non-empty target.
			full := t.TempDir()
			os.WriteFile(filepath.Join(full, "x"), []byte("x"), 0o600)
			_, err = Restore(ctx, RestoreOptions{Source: dir, Key: k, DataDir: full, DSN: restoreTarget(t, db)})
			expect("non-empty target", err, "not empty")

			// And intact, it restores.
			if err := restore(k); err != nil {
				t.Fatalf("intact backup: %v", err)
			}
		})
	}
}

// A destination that is down: the backup reports it (after retries), the other
// destination holds a complete, restorable copy.
func TestOneDestinationDown(t *testing.T) {
	ctx := context.Background()
	db := storetest.Open(t)[0]
	f := newFixture(t, db)
	k := testKey(t)
	dir, _ := NewDir("disk", filepath.Join(t.TempDir(), "dest"))
	s3, srv := newS3(t)
	srv.Close() // the S3 server is gone
	var retries int
	prog := &eventCounter{on: func(kind string) {
		if kind == "retry" {
			retries++
		}
	}}
	o := f.options(k, dir, s3)
	o.Progress = prog
	res, err := Run(ctx, o)
	var de *DestinationError
	if !errors.As(err, &de) || de.Failed["s3"] == "" || len(res.Confirmed) != 1 || res.Confirmed[0] != "disk" {
		t.Fatalf("want a destination error for s3 only, got %v (%+v)", err, res)
	}
	if !strings.Contains(err.Error(), "destination s3 failed: destination s3 unreachable") || !strings.Contains(err.Error(), "complete copy kept at: disk") {
		t.Fatalf("unclear error: %v", err)
	}
	if retries != o.Attempts-1 && retries != 2 {
		t.Fatalf("retries = %d, want 2", retries)
	}
	if _, err := Restore(ctx, RestoreOptions{Source: dir, Key: k, DataDir: filepath.Join(t.TempDir(), "r")}); err != nil {
		t.Fatalf("the copy on the directory does not restore: %v", err)
	}
}

type eventCounter struct {
	nopProgress
	on func(string)
}

func (e *eventCounter) Event(kind string, _ map[string]any) { e.on(kind) }

// Deleting an account shreds its content in an older backup: restored, its messages'
// text and its recordings do not decrypt, while the other account's do.
func TestCryptoShreddingOldBackup(t *testing.T) {
	for _, db := range storetest.Open(t) {
		t.Run(string(db.Dialect()), func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, db)
			k := testKey(t)
			dir, _ := NewDir("disk", filepath.Join(t.TempDir(), "dest"))
			old, err := Run(ctx, f.options(k, dir))
			if err != nil {
				t.Fatal(err)
			}
			gone := f.sub.Account.ID
			if err := db.DeleteSubaccount(ctx, f.main.Account.ID, gone, true); err != nil {
				t.Fatal(err)
			}
			f.recs.Forget(gone)
			if _, err := Run(ctx, f.options(k, dir)); err != nil {
				t.Fatal(err)
			}
			target := filepath.Join(t.TempDir(), "restored")
			dsn := restoreTarget(t, db)
			if _, err := Restore(ctx, RestoreOptions{Source: dir, Key: k, ID: old.ID, DataDir: target, DSN: dsn}); err != nil {
				t.Fatal(err)
			}
			rdb := openRestored(t, target, dsn, f.kek)
			rrecs, _ := recording.New(filepath.Join(target, "recordings"), f.kek, rdb)
			for _, tc := range []struct {
				acct     string
				readable bool
			}{{f.main.Account.ID, true}, {gone, false}} {
				ms, n, err := rdb.ListMessages(ctx, trunkline.Scope{AccountID: tc.acct}, trunkline.MessageFilter{Limit: 100})
				if err != nil || n == 0 {
					t.Fatalf("the old backup lacks %s's messages: %d %v", tc.acct, n, err)
				}
				for _, m := range ms {
					if tc.readable != (!m.BodyUnreadable && m.Body != "") {
						t.Fatalf("account %s message %s: body %q unreadable=%v, want readable=%v", tc.acct, m.UUID, m.Body, m.BodyUnreadable, tc.readable)
					}
				}
				rc, err := rrecs.Open(ctx, tc.acct, "RE-"+strings.ToLower(tc.acct))
				if (err == nil) != tc.readable {
					t.Fatalf("account %s recording: open err %v, want readable=%v", tc.acct, err, tc.readable)
				}
				if err == nil {
					rc.Close()
				}
			}
			// The restored file of the deleted account is there, but nothing opens it.
			if _, err := os.Stat(filepath.Join(target, "recordings", gone)); err != nil {
				t.Fatalf("expected the shredded recording's ciphertext in the old backup: %v", err)
			}
		})
	}
}

func TestRetention(t *testing.T) {
	day := func(s string) string {
		tm, _ := time.Parse("2006-01-02 15:04", s)
		return NewID(tm)
	}
	ids := []string{day("2026-09-30 10:00"), day("2026-10-31 10:00"), day("2026-11-29 10:00"), day("2026-11-30 09:00"),
		day("2026-11-30 10:00"), day("2026-12-01 10:00"), day("2026-12-02 10:00")}
	keep := Retention{Daily: 2, Monthly: 3}.Keep(ids)
	wantKeep := map[string]bool{ids[6]: true, ids[5]: true, ids[4]: true, ids[1]: true}
	for _, id := range ids {
		if keep[id] != wantKeep[id] {
			t.Fatalf("%s kept=%v want %v (kept %v)", id, keep[id], wantKeep[id], keep)
		}
	}
	// Per destination, blobs only the pruned backups used go too.
	ctx := context.Background()
	db := storetest.Open(t)[0]
	f := newFixture(t, db)
	k := testKey(t)
	dir, _ := NewDir("disk", filepath.Join(t.TempDir(), "dest"))
	for i := 0; i < 3; i++ {
		o := f.options(k, dir)
		o.Now = func() time.Time { return time.Date(2026, 11, 20+i, 10, 0, 0, 0, time.UTC) }
		if i == 1 {
			f.recs.Remove(ctx, f.main.Account.ID, "RE-"+strings.ToLower(f.main.Account.ID))
			w, _ := f.recs.Create(ctx, f.main.Account.ID, "RE-other")
			w.Write([]byte("another recording"))
			w.Close()
		}
		if _, err := Run(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	deleted, err := Prune(ctx, dir, k, Retention{Daily: 2})
	if err != nil || len(deleted) != 1 {
		t.Fatalf("prune: %v %v", deleted, err)
	}
	left, _ := List(ctx, dir)
	if len(left) != 2 {
		t.Fatalf("left %v", left)
	}
	blobs, _ := dir.List(ctx, "blobs/")
	// Exactly the blobs the kept backups name remain: the main account's first recording
	// was only in the pruned backup, so its blob went with it.
	want := map[string]bool{}
	recordings := 0
	for _, id := range left {
		m, _, err := LoadManifest(ctx, dir, k, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range m.Objects {
			if o.Kind == "blob" {
				want["blobs/"+o.Blob] = true
				recordings++
			}
			for _, p := range o.Parts {
				want["blobs/"+p.Blob] = true
			}
		}
	}
	if len(blobs) != len(want) || recordings != 4 {
		t.Fatalf("blobs after prune: %v, want %v", blobs, want)
	}
	for _, b := range blobs {
		if !want[b] {
			t.Fatalf("blob %s survived the prune", b)
		}
	}
	if _, err := Restore(ctx, RestoreOptions{Source: dir, Key: k, ID: left[0], DataDir: filepath.Join(t.TempDir(), "r")}); err != nil {
		t.Fatalf("a kept backup no longer restores: %v", err)
	}
}

// The file cache: an unchanged recording (same size, time and inode) is not read again.
func TestCacheSkipsUnchangedRecordings(t *testing.T) {
	ctx := context.Background()
	db := storetest.Open(t)[0]
	f := newFixture(t, db)
	k := testKey(t)
	dir, _ := NewDir("disk", filepath.Join(t.TempDir(), "dest"))
	o := f.options(k, dir)
	o.CacheFile = filepath.Join(t.TempDir(), "cache.json")
	first, err := Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	// Scramble a recording in place, keeping its size and times: only a read would notice.
	p := filepath.Join(f.dir, "recordings", f.main.Account.ID, "RE-"+strings.ToLower(f.main.Account.ID)+".rec")
	fi, _ := os.Stat(p)
	w, _ := os.OpenFile(p, os.O_WRONLY, 0)
	w.WriteAt(make([]byte, 100), 1000)
	w.Close()
	os.Chtimes(p, fi.ModTime(), fi.ModTime())
	second, err := Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if second.Reused != 2 {
		t.Fatalf("reused %d recordings, want 2 (first backup: %+v)", second.Reused, first)
	}
	// Without the cache the change is seen: a new blob.
	o.CacheFile = ""
	third, err := Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if third.Reused != 1 {
		t.Fatalf("without the cache reused %d, want 1", third.Reused)
	}
}

// A directory destination whose disk is not mounted fails alone, and is not created on
// whatever file system lies below.
func TestDirDestinationNotMounted(t *testing.T) {
	ctx := context.Background()
	db := storetest.Open(t)[0]
	f := newFixture(t, db)
	k := testKey(t)
	good, _ := NewDir("disk", filepath.Join(t.TempDir(), "dest"))
	gone := filepath.Join(t.TempDir(), "mnt", "usb", "trunkline")
	bad, err := NewDir("usb", gone)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(ctx, f.options(k, good, bad))
	var de *DestinationError
	if !errors.As(err, &de) || !strings.Contains(de.Failed["usb"], "is the disk mounted?") || len(res.Confirmed) != 1 {
		t.Fatalf("got %v %+v", err, res)
	}
	if _, err := os.Stat(gone); err == nil {
		t.Fatal("the destination directory was created on the file system below the missing mount")
	}
}

// Deleting one recording shreds it in older backups: its blob key leaves the keyring at
// the next backup, and a restore of the older backup leaves it out (and says so) while
// the other recordings come back.
func TestDeletedRecordingShreddedInOldBackup(t *testing.T) {
	ctx := context.Background()
	db := storetest.Open(t)[0]
	f := newFixture(t, db)
	k := testKey(t)
	dir, _ := NewDir("disk", filepath.Join(t.TempDir(), "dest"))
	old, err := Run(ctx, f.options(k, dir))
	if err != nil {
		t.Fatal(err)
	}
	gone := "RE-" + strings.ToLower(f.main.Account.ID)
	if err := f.recs.Remove(ctx, f.main.Account.ID, gone); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(ctx, f.options(k, dir)); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(t.TempDir(), "restored")
	r, err := Restore(ctx, RestoreOptions{Source: dir, Key: k, ID: old.ID, DataDir: target})
	if err != nil {
		t.Fatal(err)
	}
	if r.Shredded != 1 {
		t.Fatalf("shredded %d recordings, want 1", r.Shredded)
	}
	if _, err := os.Stat(filepath.Join(target, "recordings", f.main.Account.ID, gone+".rec")); err == nil {
		t.Fatal("the deleted recording came back from the older backup")
	}
	rdb := openRestored(t, target, "", f.kek)
	rrecs, _ := recording.New(filepath.Join(target, "recordings"), f.kek, rdb)
	rc, err := rrecs.Open(ctx, f.sub.Account.ID, "RE-"+strings.ToLower(f.sub.Account.ID))
	if err != nil {
		t.Fatalf("the kept recording does not open: %v", err)
	}
	rc.Close()
	// The blob is still at the destination (the old backup names it) but no key opens it:
	// the keyring no longer holds one.
	kr, err := ReadKeyring(ctx, dir, k)
	if err != nil {
		t.Fatal(err)
	}
	m, _, _ := LoadManifest(ctx, dir, k, old.ID)
	for _, o := range m.Objects {
		if o.Kind == "blob" && strings.Contains(o.Path, gone) {
			if _, ok := kr.Recordings[o.Blob]; ok {
				t.Fatal("the deleted recording's key is still in the keyring")
			}
			if ok, _ := dir.Exists(ctx, "blobs/"+o.Blob); !ok {
				t.Fatal("expected the old backup's blob to remain (retention removes it later)")
			}
		}
	}
}
