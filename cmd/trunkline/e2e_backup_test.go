package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/trunkline/trunkline/store/storetest"
)

// End to end against real `trunkline serve` processes, on SQLite and PostgreSQL: a backup
// taken while messages flow through the API restores into a fresh place whose audit log
// verifies; a backup of the settled server restores into a fresh data dir (and a fresh
// PostgreSQL schema) whose server answers the message listing exactly as the original
// did. Destinations: a directory and an S3-compatible server (gofakes3, in-process on
// 127.0.0.1:0; not AWS).
func TestE2EBackupRestore(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs trunkline serve")
	}
	bin := e2eBuild(t)
	dbs := []string{""}
	if dsn := os.Getenv(storetest.PostgresEnv); dsn != "" {
		dbs = append(dbs, dsn)
	}
	for _, pg := range dbs {
		name := "sqlite"
		if pg != "" {
			name = "postgres"
		}
		t.Run(name, func(t *testing.T) { e2eBackupScenario(t, bin, pg) })
	}
}

func e2eBackupScenario(t *testing.T, bin, pgDSN string) {
	backend := s3mem.New()
	backend.CreateBucket("backups")
	s3srv := httptest.NewServer(gofakes3.New(backend).Server())
	defer s3srv.Close()
	base := t.TempDir()
	keyFile := filepath.Join(base, "secret", "backup.key")
	cfg := filepath.Join(base, "trunkline.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`
[backup]
key_file = %q

[[backup.destinations]]
name = "disk"
type = "dir"
path = %q

[[backup.destinations]]
name = "s3"
type = "s3"
endpoint = %q
bucket = "backups"
access_key = "k"
secret_key = "secretsecret"
region = "us-east-1"
insecure = true
`, keyFile, filepath.Join(base, "dest"), s3srv.Listener.Addr().String())), 0o600)
	// Messages flow as fast as the loop sends them while the backup runs: the per-account
	// rate limit (300 per 5 s) is not what this test is about.
	env := e2eEnv(map[string]string{"TRUNKLINE_CONFIG": cfg, "TRUNKLINE_API_RATE_LIMIT": "1000000"})
	// Operator commands take the database from the environment.
	envDB := func(dsn string) []string {
		return e2eEnv(map[string]string{"TRUNKLINE_CONFIG": cfg, "TRUNKLINE_DATABASE_DSN": dsn})
	}
	dirA := filepath.Join(base, "a")
	dbFlag := func(dsn string) []string {
		if dsn == "" {
			return nil
		}
		return []string{"--db", dsn}
	}
	dsnA := ""
	if pgDSN != "" {
		dsnA = e2ePostgresSchema(t, pgDSN)
	}
	e2eCLI(t, bin, env, "backup", "keygen", "--out", keyFile)
	var acct struct {
		AuthID    string `json:"auth_id"`
		AuthToken string `json:"auth_token"`
	}
	out := e2eCLI(t, bin, envDB(dsnA), "account", "create", "--name", "Acme", "--json", "--data-dir", dirA)
	if err := json.Unmarshal(out, &acct); err != nil {
		t.Fatalf("account create: %s", out)
	}
	// Sender IDs are allowed per account by the operator (callerid).
	e2eCLI(t, bin, envDB(dsnA), "account", "sender-id", "allow", "--id", acct.AuthID, "--sender", "Trunkline", "--data-dir", dirA)
	srvA := e2eStartServer(t, bin, env, dirA, dbFlag(dsnA)...)
	pool := e2eCAPool(t, filepath.Join(dirA, "tls", "ca.crt"))
	api := smsNewAPI(t, srvA.base, pool, acct.AuthID, acct.AuthToken)
	send := func(i int) {
		code, body, err := api.call(http.MethodPost, "Message/", map[string]any{"src": "Trunkline", "dst": "14155550199",
			"text": fmt.Sprintf("backup test message %d", i)})
		if err != nil || code != http.StatusAccepted {
			t.Errorf("send: %d %s %v", code, body, err)
		}
	}
	for i := 0; i < 10; i++ {
		send(i)
	}

	// Backup 1 while messages flow.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 10; i < 500; i++ {
			select {
			case <-stop:
				return
			default:
				send(i)
			}
		}
	}()
	out = e2eCLI(t, bin, envDB(dsnA), "backup", "--json", "--data-dir", dirA)
	close(stop)
	wg.Wait()
	var done struct {
		OK     bool `json:"ok"`
		Result struct {
			ID        string   `json:"id"`
			Confirmed []string `json:"confirmed"`
		} `json:"result"`
	}
	lines := splitLines(out)
	if err := json.Unmarshal(lines[len(lines)-1], &done); err != nil || !done.OK || len(done.Result.Confirmed) != 2 {
		t.Fatalf("backup under load: %s", out)
	}
	underLoad := done.Result.ID

	// Settle, then backup 2 and the listing the restored server must reproduce.
	listing := func(a *smsAPI) []map[string]any {
		code, body, err := a.call(http.MethodGet, "Message/?limit=20", nil)
		if err != nil || code != http.StatusOK {
			t.Fatalf("list messages: %d %s %v", code, body, err)
		}
		var r struct {
			Objects []map[string]any `json:"objects"`
		}
		json.Unmarshal(body, &r)
		return r.Objects
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, body, _ := api.call(http.MethodGet, "Message/?message_state=queued&limit=1", nil)
		var r struct {
			Meta struct {
				Total int `json:"total_count"`
			} `json:"meta"`
		}
		json.Unmarshal(body, &r)
		if code == http.StatusOK && r.Meta.Total == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("messages still queued after 60 s: %s", body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	before := listing(api)
	if len(before) == 0 || before[0]["message_state"] == "" {
		t.Fatalf("empty listing: %v", before)
	}
	out = e2eCLI(t, bin, envDB(dsnA), "backup", "--json", "--data-dir", dirA)
	lines = splitLines(out)
	json.Unmarshal(lines[len(lines)-1], &done)
	settled := done.Result.ID
	srvA.cmd.Process.Signal(syscall.SIGTERM)
	<-srvA.exited

	restoreInto := func(id, dest string) (string, string) {
		dir := filepath.Join(base, "restored-"+id)
		dsn := ""
		args := []string{"restore", "--id", id, "--dest", dest, "--to", dir}
		if pgDSN != "" {
			dsn = e2ePostgresSchema(t, pgDSN)
			args = append(args, "--db", dsn)
		}
		e2eCLI(t, bin, env, args...)
		os.MkdirAll(filepath.Join(dir, "keys"), 0o700)
		for _, k := range []string{"kek", "audit.key"} {
			b, err := os.ReadFile(filepath.Join(dirA, "keys", k))
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(dir, "keys", k), b, 0o600)
		}
		return dir, dsn
	}
	// The under-load backup, from S3: the audit log verifies.
	dir1, dsn1 := restoreInto(underLoad, "s3")
	out = e2eCLI(t, bin, envDB(dsn1), "audit", "verify", "--json", "--data-dir", dir1)
	var rep struct{ OK bool }
	if json.Unmarshal(out, &rep); !rep.OK {
		t.Fatalf("audit verify of the under-load restore: %s", out)
	}
	// The settled backup, from the directory: the restored server answers as before.
	dir2, dsn2 := restoreInto(settled, "disk")
	srvB := e2eStartServer(t, bin, env, dir2, dbFlag(dsn2)...)
	apiB := smsNewAPI(t, srvB.base, e2eCAPool(t, filepath.Join(dir2, "tls", "ca.crt")), acct.AuthID, acct.AuthToken)
	after := listing(apiB)
	for _, l := range [][]map[string]any{before, after} {
		for _, m := range l {
			delete(m, "api_id")
		}
	}
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("the restored server lists messages differently:\nbefore %v\nafter  %v", before, after)
	}
	srvB.cmd.Process.Signal(syscall.SIGTERM)
	<-srvB.exited
}

func splitLines(b []byte) [][]byte {
	var out [][]byte
	for _, l := range bytes.Split(b, []byte("\n")) {
		if len(l) > 0 {
			out = append(out, l)
		}
	}
	return out
}
