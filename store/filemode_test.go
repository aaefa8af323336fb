package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	. "github.com/trunkline/trunkline/store"
)

// TestSQLiteFileModes: the database, its -wal and -shm are readable by the owner only,
// whatever the umask, for a new database and for one created 0644 before.
func TestSQLiteFileModes(t *testing.T) {
	old := syscall.Umask(0o022) // the common default, under which SQLite makes 0644 files
	defer syscall.Umask(old)
	ctx := context.Background()
	dir := t.TempDir()
	n := 0
	check := func(path string) {
		t.Helper()
		n++
		db, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		mkAccount(t, db, fmt.Sprint("MA", n), "") // a write, so the -wal and -shm exist
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("%s has mode %v, want 0600", filepath.Base(p), fi.Mode().Perm())
			}
		}
	}
	check(filepath.Join(dir, "new.db"))

	// An existing database and its -wal/-shm made 0644 (as before) are tightened on open.
	path := filepath.Join(dir, "old.db")
	check(path)
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(p, 0o644); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	check(path)
}
