package main

// End-to-end test: Plivo's official Node SDK (test/node, npm plivo pinned in
// package.json) drives a real `trunkline serve` child process over HTTPS with the
// server's own self-signed CA, then the server is stopped with SIGTERM and its audit log
// verified. It runs on SQLite, and again on PostgreSQL when TRUNKLINE_TEST_POSTGRES is set.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/trunkline/trunkline/internal/peer"
	"github.com/trunkline/trunkline/store/storetest"
)

// Bounds for the child processes; the waits end as soon as the event happens.
const (
	e2eReadyTimeout = 60 * time.Second
	e2eNodeTimeout  = 3 * time.Minute
	e2eStopTimeout  = 60 * time.Second // drain_timeout is 30s by default
	e2eCLITimeout   = 60 * time.Second
	e2eAccountName  = "E2E Main Account"
)

func TestNodeSDK(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the end-to-end test stops the server with SIGTERM")
	}
	if testing.Short() {
		t.Skip("end-to-end test (builds the binary, runs node); skipped with -short")
	}
	node, nodeDir := e2eNodePeer(t)
	bin := e2eBuild(t)

	t.Run("sqlite", func(t *testing.T) { e2eRunNodeSDK(t, bin, node, nodeDir, "") })
	if dsn := os.Getenv(storetest.PostgresEnv); dsn != "" {
		t.Run("postgres", func(t *testing.T) { e2eRunNodeSDK(t, bin, node, nodeDir, e2ePostgresSchema(t, dsn)) })
	} else {
		t.Logf("%s is not set: the PostgreSQL run is skipped", storetest.PostgresEnv)
	}
}

// e2eRunNodeSDK is one full run against a fresh data dir (and, with dsn, a fresh
// PostgreSQL schema).
func e2eRunNodeSDK(t *testing.T, bin, node, nodeDir, dsn string) {
	dataDir := filepath.Join(t.TempDir(), "data")
	env := e2eEnv(map[string]string{"TRUNKLINE_DATABASE_DSN": dsn})

	csv := filepath.Join(nodeDir, "testdata", "sdk-e2e-numbers.csv")
	// Flags go before the file: Go's flag parsing stops at the first argument.
	out := e2eCLI(t, bin, env, "number", "import", "--data-dir", dataDir, "--json", csv)
	t.Logf("number import: %s", bytes.TrimSpace(out))

	out = e2eCLI(t, bin, env, "account", "create", "--name", e2eAccountName, "--json", "--data-dir", dataDir)
	var acct struct {
		AuthID    string `json:"auth_id"`
		AuthToken string `json:"auth_token"`
	}
	if err := json.Unmarshal(out, &acct); err != nil || acct.AuthID == "" || acct.AuthToken == "" {
		t.Fatalf("account create --json printed %q (%v); want {auth_id, auth_token, …}", out, err)
	}

	srv := e2eStartServer(t, bin, env, dataDir)
	caPath := filepath.Join(dataDir, "tls", "ca.crt")
	if _, err := os.Stat(caPath); err != nil {
		t.Fatalf("the server's CA: %v", err)
	}

	// The SDK run. Its failure is reported but the shutdown and audit checks still run.
	nodeOut := &e2eLines{t: t, prefix: "node: "}
	ctx, cancel := context.WithTimeout(context.Background(), e2eNodeTimeout)
	cmd := exec.CommandContext(ctx, node, "sdk-e2e.js")
	cmd.Dir = nodeDir
	cmd.Env = append(e2eEnv(nil),
		"PLIVO_TEST_BASE="+srv.base,
		"NODE_EXTRA_CA_CERTS="+caPath,
		"PLIVO_AUTH_ID="+acct.AuthID,
		"PLIVO_AUTH_TOKEN="+acct.AuthToken,
		"PLIVO_TEST_ACCOUNT_NAME="+e2eAccountName,
	)
	cmd.Stdout, cmd.Stderr = nodeOut, nodeOut
	err := cmd.Run()
	timedOut := errors.Is(ctx.Err(), context.DeadlineExceeded)
	cancel()
	nodeOut.flush()
	if timedOut {
		t.Errorf("node sdk-e2e.js did not finish within %s", e2eNodeTimeout)
	} else if err != nil {
		t.Errorf("node sdk-e2e.js failed (%v); failed steps:\n%s", err, e2eFailures(nodeOut.String()))
	}

	pool := e2eCAPool(t, caPath)
	e2eCheckAuditAPI(t, srv.base, pool, acct.AuthID, acct.AuthToken)

	// SIGTERM with a request in flight: it completes, then a final checkpoint, exit 0.
	srv.stopDuringRequest(t, pool, acct.AuthID, acct.AuthToken)

	// The audit log the run left behind verifies, and the final checkpoint covers it all.
	out = e2eCLI(t, bin, env, "audit", "verify", "--json", "--data-dir", dataDir)
	var rep struct {
		OK        bool
		Entries   int64
		Uncovered *int64
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Errorf("audit verify --json printed %q: %v", out, err)
	} else {
		if !rep.OK {
			t.Errorf("audit verify: %s", out)
		}
		if rep.Uncovered != nil && *rep.Uncovered != 0 {
			t.Errorf("audit verify: %d entries not covered by a signed checkpoint after a clean stop: %s", *rep.Uncovered, out)
		}
		t.Logf("audit verify: OK, %d entries", rep.Entries)
	}
}

// e2eNodePeer finds node and the installed SDK: a skip when missing, a failure when
// TRUNKLINE_REQUIRE_PEERS asks for the real peers (scripts/test sets it).
func e2eNodePeer(t *testing.T) (node, dir string) {
	t.Helper()
	return peer.Node(t, "plivo")
}

// e2eBuild builds the trunkline binary from this package.
func e2eBuild(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build trunkline: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "trunkline")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// e2eEnv is this process's environment without anything that would steer the children
// (Trunkline settings, Plivo credentials, node options), plus set (empty values dropped).
func e2eEnv(set map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "TRUNKLINE_") || strings.HasPrefix(k, "PLIVO_") || k == "NODE_OPTIONS" || k == "NODE_EXTRA_CA_CERTS" {
			continue
		}
		env = append(env, kv)
	}
	for k, v := range set {
		if v != "" {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// e2eCLI runs an operator command, failing the test unless it exits 0; it returns stdout.
func e2eCLI(t *testing.T, bin string, env []string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), e2eCLITimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("trunkline %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout.Bytes(), stderr.Bytes())
	}
	if stderr.Len() > 0 {
		t.Logf("trunkline %s (stderr): %s", args[0], bytes.TrimSpace(stderr.Bytes()))
	}
	return stdout.Bytes()
}

type e2eServer struct {
	cmd    *exec.Cmd
	stdout *e2eLines
	exited chan struct{}
	err    error // set before exited closes
	base   string
	once   sync.Once
}

var e2eListenRE = regexp.MustCompile(`(?m)^trunkline: API listening on (https://\S+)$`)

// e2eStartServer starts `trunkline serve` on a free loopback port and waits (bounded,
// no sleeps) for its readiness lines.
func e2eStartServer(t *testing.T, bin string, env []string, dataDir string, extra ...string) *e2eServer {
	t.Helper()
	s := &e2eServer{exited: make(chan struct{})}
	s.stdout = &e2eLines{t: t, prefix: "serve: ", notify: make(chan struct{}, 1)}
	stderr := &e2eLines{t: t, prefix: "serve(stderr): "}
	s.cmd = exec.Command(bin, append([]string{"serve", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--sip-listen", "127.0.0.1:0"}, extra...)...)
	s.cmd.Env = env
	s.cmd.Stdout, s.cmd.Stderr = s.stdout, stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start trunkline serve: %v", err)
	}
	go func() {
		s.err = s.cmd.Wait()
		s.stdout.flush()
		stderr.flush()
		close(s.exited)
	}()
	// Whatever happens, the child does not outlive the test.
	t.Cleanup(func() {
		select {
		case <-s.exited:
		default:
			s.cmd.Process.Kill()
			<-s.exited
		}
	})

	deadline := time.NewTimer(e2eReadyTimeout)
	defer deadline.Stop()
	for {
		out := s.stdout.String()
		if m := e2eListenRE.FindStringSubmatch(out); m != nil && strings.Contains(out, "\ntrunkline: ready\n") {
			s.base = m[1]
			return s
		}
		select {
		case <-s.stdout.notify:
		case <-s.exited:
			t.Fatalf("trunkline serve exited before it was ready (%v); stdout:\n%s", s.err, s.stdout.String())
		case <-deadline.C:
			t.Fatalf("trunkline serve was not ready within %s; stdout so far:\n%s", e2eReadyTimeout, s.stdout.String())
		}
	}
}

// stopDuringRequest checks the drain: a request whose body is still arriving when
// SIGTERM lands is served to the end, and then the server exits 0 after printing
// "trunkline: stopped".
func (s *e2eServer) stopDuringRequest(t *testing.T, pool *x509.CertPool, authID, token string) {
	t.Helper()
	u, err := url.Parse(s.base)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := tls.Dial("tcp", u.Host, &tls.Config{RootCAs: pool, ServerName: u.Hostname()})
	if err != nil {
		t.Fatalf("dial %s: %v", u.Host, err)
	}
	defer conn.Close()
	body := `{"city": "Drained"}`
	// "Expect: 100-continue" makes the server say when the handler has started reading
	// the body: only then is the request in flight (a request whose headers the server
	// has not read yet is not, and may be refused by a draining server).
	head := "POST /v1/Account/" + authID + "/ HTTP/1.1\r\nHost: " + u.Host + "\r\n" +
		"Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(authID+":"+token)) + "\r\n" +
		"Content-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\nConnection: close\r\n" +
		"Expect: 100-continue\r\n\r\n"
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatalf("write the request headers: %v", err)
	}
	conn.SetReadDeadline(time.Now().Add(e2eStopTimeout))
	br := bufio.NewReader(conn)
	if line, err := br.ReadString('\n'); err != nil || !strings.Contains(line, "100") {
		t.Fatalf("no 100 Continue from the server (%q, %v)", line, err)
	}
	br.ReadString('\n') // the blank line after the interim status
	// Half the body: the handler is now waiting for the rest.
	if _, err := io.WriteString(conn, body[:len(body)/2]); err != nil {
		t.Fatalf("write the first half of the request: %v", err)
	}

	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	deadline := time.NewTimer(e2eStopTimeout)
	defer deadline.Stop()
	for !strings.Contains(s.stdout.String(), "trunkline: draining") {
		select {
		case <-s.stdout.notify:
		case <-s.exited:
			t.Fatalf("trunkline serve exited on SIGTERM without draining (%v); stdout:\n%s", s.err, s.stdout.String())
		case <-deadline.C:
			t.Fatalf("trunkline serve did not start draining within %s of SIGTERM", e2eStopTimeout)
		}
	}
	select {
	case <-s.exited:
		t.Fatalf("trunkline serve exited (%v) with a request still in flight", s.err)
	default:
	}

	// The rest of the body: the in-flight request must complete.
	conn.SetDeadline(time.Now().Add(e2eStopTimeout))
	if _, err := io.WriteString(conn, body[len(body)/2:]); err != nil {
		t.Errorf("write the rest of the in-flight request: %v", err)
	} else if resp, err := http.ReadResponse(br, nil); err != nil {
		t.Errorf("the request in flight at SIGTERM got no reply: %v", err)
	} else {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Errorf("the request in flight at SIGTERM: HTTP %d %s; want 202", resp.StatusCode, b)
		} else {
			t.Logf("the request in flight at SIGTERM completed: HTTP %d %s", resp.StatusCode, bytes.TrimSpace(b))
		}
	}
	conn.Close()

	select {
	case <-s.exited:
	case <-deadline.C:
		t.Fatalf("trunkline serve did not stop within %s of SIGTERM", e2eStopTimeout)
	}
	if s.err != nil {
		t.Errorf("trunkline serve exited with %v after SIGTERM; want exit status 0", s.err)
	}
	if out := s.stdout.String(); !strings.Contains(out, "trunkline: stopped") {
		t.Errorf("trunkline serve did not print %q on SIGTERM; stdout:\n%s", "trunkline: stopped", out)
	}
}

// e2eCheckAuditAPI checks, through the API, that the SDK's changes and the failed
// authentications are in the account's audit log.
func e2eCheckAuditAPI(t *testing.T, base string, pool *x509.CertPool, authID, token string) {
	t.Helper()
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer hc.CloseIdleConnections()
	for _, c := range []struct{ action, outcome string }{
		{"account.update", "success"},
		{"application.create", "success"},
		{"application.update", "success"},
		{"application.delete", "success"},
		{"number.rent", "success"},
		{"number.update", "success"},
		{"subaccount.create", "success"},
		{"subaccount.update", "success"},
		{"subaccount.delete", "success"},
		{"auth.failed", "failure"},
	} {
		u := base + "/v1/Account/" + authID + "/AuditLog/?" + url.Values{"action": {c.action}, "limit": {"20"}}.Encode()
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		req.SetBasicAuth(authID, token)
		resp, err := hc.Do(req)
		if err != nil {
			t.Errorf("GET AuditLog (%s): %v", c.action, err)
			continue
		}
		var body struct {
			Objects []struct {
				Action, Outcome, Actor, Source string
			}
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || err != nil {
			t.Errorf("GET AuditLog (%s): HTTP %d, %v", c.action, resp.StatusCode, err)
			continue
		}
		found := false
		for _, o := range body.Objects {
			found = found || (o.Action == c.action && o.Outcome == c.outcome && o.Source == "127.0.0.1")
		}
		if !found {
			t.Errorf("the audit log has no %s entry with outcome %s from 127.0.0.1 after the SDK run: %+v", c.action, c.outcome, body.Objects)
		}
	}
}

// e2eCAPool trusts the server's self-signed CA (DATA/tls/ca.crt).
func e2eCAPool(t *testing.T, caPath string) *x509.CertPool {
	t.Helper()
	pem, err := os.ReadFile(caPath)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in %s", caPath)
	}
	return pool
}

// e2ePostgresSchema makes a throwaway schema and returns a DSN that uses it; the schema
// is dropped when the test ends (after the server, registered first, has stopped).
func e2ePostgresSchema(t *testing.T, dsn string) string {
	t.Helper()
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatalf("open %s: %v", storetest.PostgresEnv, err)
	}
	t.Cleanup(func() { admin.Close() })
	var b [6]byte
	rand.Read(b[:])
	schema := "e2e_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatalf("create schema on %s: %v", storetest.PostgresEnv, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + "search_path=" + schema
}

// e2eMarkRE matches the explanation of a known server mismatch (M1: …) in the SDK run.
var e2eMarkRE = regexp.MustCompile(`^M\d+: `)

// e2eFailures picks the FAIL/SKIP lines (and their detail lines) out of the SDK run.
func e2eFailures(out string) string {
	var b strings.Builder
	keep := false
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(line, "FAILED:"), strings.HasPrefix(line, "ok "), strings.HasPrefix(line, "  [sdk"):
			keep = false
		case strings.HasPrefix(line, "FAIL"), strings.HasPrefix(line, "SKIP"), e2eMarkRE.MatchString(line):
			keep = true
		}
		if keep {
			b.WriteString(line + "\n")
		}
	}
	if b.Len() == 0 {
		return out
	}
	return b.String()
}

// e2eLines is an io.Writer for a child's output: it logs each line to the test log as
// it arrives, keeps everything, and pokes notify (if set) on every write.
type e2eLines struct {
	t      testing.TB
	prefix string
	notify chan struct{}

	mu      sync.Mutex
	all     bytes.Buffer
	partial []byte
}

func (w *e2eLines) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.all.Write(p)
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		w.t.Logf("%s%s", w.prefix, w.partial[:i])
		w.partial = w.partial[i+1:]
	}
	w.mu.Unlock()
	if w.notify != nil {
		select {
		case w.notify <- struct{}{}:
		default:
		}
	}
	return len(p), nil
}

// flush logs a last line that had no newline.
func (w *e2eLines) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.partial) > 0 {
		w.t.Logf("%s%s", w.prefix, w.partial)
		w.partial = nil
	}
}

func (w *e2eLines) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.all.String()
}
