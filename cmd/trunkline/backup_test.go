package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/audit"
	"github.com/trunkline/trunkline/backup"
	"github.com/trunkline/trunkline/config"
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

// With scheduled backups on, deleting a subaccount rewrites the keyring at every
// destination at once: its data keys leave the destinations before any next backup.
func TestBackupWorkerShredsKeyringOnDelete(t *testing.T) {
	base := t.TempDir()
	c := config.Default()
	c.DataDir = filepath.Join(base, "data")
	c.Backup.KeyFile = filepath.Join(base, "backup.key")
	c.Backup.Interval = config.Duration{Duration: time.Hour}
	c.Backup.Destinations = []config.BackupDest{{Name: "disk", Type: "dir", Path: filepath.Join(base, "dest")}}
	if _, err := backup.GenerateKeyFile(c.Backup.KeyFile); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p, err := openPlatform(ctx, &c, slog.New(slog.NewTextHandler(io.Discard, nil)), false)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	k, dests, err := backupKeyAndDests(&c, "")
	if err != nil {
		t.Fatal(err)
	}
	main, err := p.accounts.CreateMain(ctx, "Main")
	if err != nil {
		t.Fatal(err)
	}
	sub, err := p.accounts.CreateSub(ctx, main.Account, "Sub", true)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{main.Account.ID, sub.Account.ID} {
		if err := p.db.InsertMessages(ctx, []*trunkline.Message{{UUID: "m-" + a, AccountID: a, Direction: "outbound", From: "1", To: "2",
			Body: "hello", State: trunkline.MsgQueued, Units: 1, ExpiresAt: time.Now().Add(time.Hour)}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := doBackup(ctx, p, k, dests, "", nil, nil); err != nil {
		t.Fatal(err)
	}
	has := func(id string) bool {
		kr, err := backup.ReadKeyring(ctx, dests[0], k)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range kr.Accounts {
			if e.AccountID == id {
				return true
			}
		}
		return false
	}
	if !has(sub.Account.ID) {
		t.Fatal("the keyring lacks the subaccount's key before the deletion")
	}
	w := &backupWorker{p: p, k: k, dests: dests, ready: make(chan struct{}), refreshed: make(chan error, 1)}
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	<-w.ready
	if err := p.db.DeleteSubaccount(ctx, main.Account.ID, sub.Account.ID, true); err != nil {
		t.Fatal(err)
	}
	p.accounts.Invalidate(sub.Account.ID) // what the API does after a deletion
	select {
	case err := <-w.refreshed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no keyring refresh after the deletion")
	}
	if has(sub.Account.ID) {
		t.Fatal("the deleted subaccount's key is still in the destination's keyring")
	}
	if !has(main.Account.ID) {
		t.Fatal("the refresh dropped the main account's key")
	}
}

// Scheduled backups and drills in serve's worker: each drill lands in the metrics and the
// audit log.
func TestBackupWorkerSchedules(t *testing.T) {
	base := t.TempDir()
	c := config.Default()
	c.DataDir = filepath.Join(base, "data")
	c.Backup.KeyFile = filepath.Join(base, "backup.key")
	// Shorter than Validate allows, to run within the test.
	c.Backup.Interval = config.Duration{Duration: 20 * time.Millisecond}
	c.Backup.DrillInterval = config.Duration{Duration: 50 * time.Millisecond}
	c.Backup.Destinations = []config.BackupDest{{Name: "disk", Type: "dir", Path: filepath.Join(base, "dest")}}
	if _, err := backup.GenerateKeyFile(c.Backup.KeyFile); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p, err := openPlatform(ctx, &c, slog.New(slog.NewTextHandler(io.Discard, nil)), false)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.accounts.CreateMain(ctx, "Main"); err != nil {
		t.Fatal(err)
	}
	k, dests, err := backupKeyAndDests(&c, "")
	if err != nil {
		t.Fatal(err)
	}
	w := &backupWorker{p: p, k: k, dests: dests, ran: make(chan string)}
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	seen := map[string]int{}
	timeout := time.After(30 * time.Second)
	for seen["drill"] < 1 || seen["backup"] < 1 {
		select {
		case job := <-w.ran:
			seen[job]++
		case <-timeout:
			t.Fatalf("scheduled jobs after 30 s: %v", seen)
		}
	}
	if got := testutil.ToFloat64(p.metrics.BackupDrills.WithLabelValues("ok")); got < 1 {
		t.Fatalf("drills counted ok: %v (failed: %v)", got, testutil.ToFloat64(p.metrics.BackupDrills.WithLabelValues("failed")))
	}
	if testutil.ToFloat64(p.metrics.Backups.WithLabelValues("ok")) < 1 || testutil.ToFloat64(p.metrics.LastDrillOK) == 0 {
		t.Fatal("backup metrics not set")
	}
	entries, _, err := p.audit.List(ctx, audit.Filter{Action: "backup.drill"})
	if err != nil || len(entries) == 0 || entries[0].Outcome != "success" {
		t.Fatalf("no successful backup.drill audit entry: %v %v", entries, err)
	}
}

// A data dir whose server kept an audit witness file (config.WitnessPath): the backup
// carries the witness, `backup verify` checks the restored log against it (as `audit
// verify` does on the data dir) and passes, and a restore verifies with it too.
func TestBackupVerifyWithWitness(t *testing.T) {
	base := t.TempDir()
	keyFile := filepath.Join(base, "secret", "backup.key")
	cfgFile := filepath.Join(base, "trunkline.toml")
	os.WriteFile(cfgFile, []byte(`
[backup]
key_file = "`+keyFile+`"

[[backup.destinations]]
name = "disk"
type = "dir"
path = "`+filepath.Join(base, "dest")+`"
`), 0o600)
	c := config.Default()
	if err := c.LoadFile(cfgFile); err != nil {
		t.Fatal(err)
	}
	c.DataDir = filepath.Join(base, "data")
	c.Log.File = "-"
	c.API.Listen = "127.0.0.1:0"
	c.Voice.Listen = "127.0.0.1:0"
	if code, out, errs := cli(t, c.DataDir, "backup", "keygen", "--out", keyFile); code != 0 {
		t.Fatalf("keygen: %d %s %s", code, out, errs)
	}
	// A node signs checkpoints at start and at Close; each goes to the witness file.
	m := NewMain(&c, io.Discard, io.Discard)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := m.Run(ctx); err != nil {
		m.Close()
		t.Fatal(err)
	}
	if _, err := m.p.accounts.CreateMain(ctx, "Acme"); err != nil {
		m.Close()
		t.Fatal(err)
	}
	if _, err := m.p.audit.Append(ctx, audit.Entry{Actor: "system", Source: "local", Action: "test.entry", ObjectType: "test", ObjectID: "1", Outcome: "success"}); err != nil {
		m.Close()
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(c.WitnessPath()); err != nil || fi.Size() == 0 {
		t.Fatalf("no witness file at %s: %v", c.WitnessPath(), err)
	}
	// Entries after the last checkpoint: the backup's log is newer than its witness.
	if code, _, errs := cli(t, c.DataDir, "account", "create", "--name", "Later", "--config", cfgFile); code != 0 {
		t.Fatalf("account create: %s", errs)
	}
	if code, out, errs := cli(t, c.DataDir, "backup", "--config", cfgFile); code != 0 {
		t.Fatalf("backup: %d %s %s", code, out, errs)
	}
	code, out, errs := cli(t, c.DataDir, "backup", "verify", "--config", cfgFile, "--json")
	if code != 0 {
		t.Fatalf("verify: %d %s %s", code, out, errs)
	}
	var done struct {
		Event  string
		OK     bool
		Report backup.DrillReport
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &done); err != nil || done.Event != "done" || !done.OK {
		t.Fatalf("verify output: %v\n%s", err, out)
	}
	if a := done.Report.Audit; a == nil || !a.OK || a.Witnessed == 0 || a.Witnessed > a.Covered {
		t.Fatalf("the drill did not check the log against the backed-up witness: %+v", a)
	}
	// The restored data dir verifies against its restored witness.
	target := filepath.Join(base, "restored")
	if code, out, errs := cli(t, c.DataDir, "restore", "--config", cfgFile, "--to", target); code != 0 {
		t.Fatalf("restore: %d %s %s", code, out, errs)
	}
	if _, err := os.Stat(filepath.Join(target, "audit", "witness")); err != nil {
		t.Fatalf("witness not restored: %v", err)
	}
	os.MkdirAll(filepath.Join(target, "keys"), 0o700)
	for _, k := range []string{"kek", "audit.key"} {
		os.WriteFile(filepath.Join(target, "keys", k), must(os.ReadFile(filepath.Join(c.DataDir, "keys", k))), 0o600)
	}
	if code, out, errs := cli(t, target, "audit", "verify", "--config", cfgFile); code != 0 || !strings.Contains(out+errs, "witness") {
		t.Fatalf("restored audit verify: %d %s %s", code, out, errs)
	}
}
