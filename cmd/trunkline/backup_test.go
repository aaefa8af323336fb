package main

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// The operator's path end to end: keygen, check-config, backup to a directory and an
// S3-compatible server (gofakes3, in-process on 127.0.0.1:0; not AWS), list, verify
// (the restore drill), restore into a new dir, and the restored dir works with the
// original keys.
func TestCLIBackupRestore(t *testing.T) {
	backend := s3mem.New()
	backend.CreateBucket("backups")
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	defer srv.Close()

	base := t.TempDir()
	dir := filepath.Join(base, "data")
	keyFile := filepath.Join(base, "secret", "backup.key")
	cfg := filepath.Join(base, "trunkline.toml")
	os.WriteFile(cfg, []byte(`
[backup]
key_file = "`+keyFile+`"
keep_daily = 7
keep_monthly = 12

[[backup.destinations]]
name = "disk"
type = "dir"
path = "`+filepath.Join(base, "dest")+`"

[[backup.destinations]]
name = "s3"
type = "s3"
endpoint = "`+srv.Listener.Addr().String()+`"
bucket = "backups"
access_key = "k"
secret_key = "secretsecret"
region = "us-east-1"
insecure = true
`), 0o600)
	if code, out, errs := cli(t, dir, "backup", "keygen", "--out", keyFile); code != 0 || !strings.Contains(out, "backup key") {
		t.Fatalf("keygen: %d %s %s", code, out, errs)
	}
	code, out, errs := cli(t, dir, "account", "create", "--name", "Acme", "--json", "--config", cfg)
	if code != 0 {
		t.Fatalf("account create: %s", errs)
	}
	if code, out, errs = cli(t, dir, "backup", "--config", cfg); code != 0 || !strings.Contains(out, "confirmed by disk, s3") {
		t.Fatalf("backup: %d %s %s", code, out, errs)
	}
	if code, out, errs = cli(t, dir, "backup", "--config", cfg, "--json"); code != 0 || !strings.Contains(out, `"event":"done","ok":true`) {
		t.Fatalf("backup --json: %d %s %s", code, out, errs)
	}
	if code, out, _ = cli(t, dir, "backup", "list", "--config", cfg); code != 0 || strings.Count(out, "\n") != 2 { // retention keeps the newest of the day at each destination
		t.Fatalf("list: %d %q", code, out)
	}
	if code, out, errs = cli(t, dir, "backup", "verify", "--config", cfg, "--dest", "s3"); code != 0 || !strings.Contains(out, "PASSED") {
		t.Fatalf("verify: %d %s %s", code, out, errs)
	}
	target := filepath.Join(base, "restored")
	if code, out, errs = cli(t, dir, "restore", "--config", cfg, "--to", target); code != 0 || !strings.Contains(out, "restored backup") {
		t.Fatalf("restore: %d %s %s", code, out, errs)
	}
	// Not twice into the same place.
	if code, _, errs = cli(t, dir, "restore", "--config", cfg, "--to", target); code != 1 || !strings.Contains(errs, "not empty") {
		t.Fatalf("restore into a non-empty dir: %d %s", code, errs)
	}
	// A wrong key is named as such.
	os.Setenv("TRUNKLINE_BACKUP_KEY", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	code, _, errs = cli(t, dir, "restore", "--config", cfg, "--to", filepath.Join(base, "other"))
	os.Unsetenv("TRUNKLINE_BACKUP_KEY")
	if code != 1 || !strings.Contains(errs, "wrong backup key") {
		t.Fatalf("wrong key: %d %s", code, errs)
	}
	// With the keys copied over (they are never in a backup), the restored dir serves.
	if _, err := os.Stat(filepath.Join(target, "keys", "kek")); err == nil {
		t.Fatal("the KEK is in the backup")
	}
	os.MkdirAll(filepath.Join(target, "keys"), 0o700)
	for _, k := range []string{"kek", "audit.key"} {
		b, _ := os.ReadFile(filepath.Join(dir, "keys", k))
		os.WriteFile(filepath.Join(target, "keys", k), b, 0o600)
	}
	if code, out, errs = cli(t, target, "account", "list"); code != 0 || !strings.Contains(out, "Acme") {
		t.Fatalf("restored list: %d %s %s", code, out, errs)
	}
	if code, out, errs = cli(t, target, "audit", "verify"); code != 0 {
		t.Fatalf("restored audit verify: %d %s %s", code, out, errs)
	}
	// A backup key inside the keys directory is refused by check-config.
	bad := strings.Replace(string(must(os.ReadFile(cfg))), keyFile, filepath.Join(dir, "keys", "backup.key"), 1)
	os.WriteFile(cfg, []byte(bad), 0o600)
	if code, _, errs = cli(t, dir, "check-config", "--config", cfg); code != 2 || !strings.Contains(errs, "apart from the KEK") {
		t.Fatalf("check-config: %d %s", code, errs)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
