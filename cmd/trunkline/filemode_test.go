package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestDataDirModes: a data dir left 0755 with 0644 files (an older version, a backup
// restored with a umask of 022) is tightened at start to 0700 directories and 0600
// files; what a link points to outside the data dir is left alone; and what start
// creates (database, -wal, -shm, keys, witness, logs) is owner-only.
func TestDataDirModes(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	root := t.TempDir()
	dir := filepath.Join(root, "data")
	for _, d := range []string{dir, filepath.Join(dir, "tls"), filepath.Join(dir, "keys"), filepath.Join(dir, "logs"), filepath.Join(dir, "recordings", "MA1")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		os.Chmod(d, 0o755)
	}
	for _, f := range []string{"tls/ca.crt", "tls/server.crt", "logs/trunkline.log", "recordings/MA1/RE1.rec"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	outside := filepath.Join(root, "shared.txt")
	os.WriteFile(outside, []byte("not ours"), 0o644)
	if err := os.Symlink(outside, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := cli(t, dir, "account", "create", "--name", "Acme"); code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	seen := 0
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := os.Lstat(path)
		want := os.FileMode(0o600)
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			return nil
		case fi.IsDir():
			want = 0o700
		}
		seen++
		if fi.Mode().Perm() != want {
			rel, _ := filepath.Rel(dir, path)
			t.Errorf("%s has mode %v, want %v", rel, fi.Mode().Perm(), want)
		}
		return nil
	})
	if seen < 12 {
		t.Fatalf("only %d entries in the data dir", seen)
	}
	if fi, _ := os.Stat(outside); fi.Mode().Perm() != 0o644 {
		t.Fatalf("a file outside the data dir was changed through a link: %v", fi.Mode().Perm())
	}
}
