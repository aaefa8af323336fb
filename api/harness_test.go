package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trunkline/trunkline/account"
	"github.com/trunkline/trunkline/audit"
	"github.com/trunkline/trunkline/keys"
	"github.com/trunkline/trunkline/store"
	"github.com/trunkline/trunkline/store/storetest"
)

// fakeClock is a settable clock shared by the store, the account service and the API.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env is one API server on a real listener with its store.
type env struct {
	t        *testing.T
	db       *store.DB
	accounts *account.Service
	audit    *audit.Log
	srv      *Server
	base     string
	clock    *fakeClock
}

// newEnvs starts one API server per store dialect under test (SQLite always, PostgreSQL
// when configured) and runs fn against each.
func forEachStore(t *testing.T, opts Options, fn func(t *testing.T, e *env)) {
	for _, db := range storetest.Open(t) {
		t.Run(string(db.Dialect()), func(t *testing.T) {
			fn(t, newEnv(t, db, opts))
		})
	}
}

func newEnv(t *testing.T, db *store.DB, opts Options) *env {
	t.Helper()
	clock := &fakeClock{t: time.Now().UTC()}
	db.SetClock(clock.Now)
	raw := bytes.Repeat([]byte{7}, 32)
	ring, err := keys.NewRing(raw)
	if err != nil {
		t.Fatal(err)
	}
	signer, verifier, err := audit.LoadOrCreateKeys(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	al := audit.New(db, signer, audit.Options{Now: clock.Now, Verifier: verifier})
	t.Cleanup(func() { al.Close() })
	acc := account.New(db, ring, account.Options{Now: clock.Now})
	opts.DB, opts.Accounts, opts.Audit, opts.Now = db, acc, al, clock.Now
	opts.PlainListen = "127.0.0.1:0"
	srv := New(opts)
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return &env{t: t, db: db, accounts: acc, audit: al, srv: srv, base: "http://" + srv.Addr().String(), clock: clock}
}

// cred is an Auth ID and token.
type cred struct{ id, token string }

func (e *env) mainAccount(name string) cred {
	e.t.Helper()
	c, err := e.accounts.CreateMain(context.Background(), name)
	if err != nil {
		e.t.Fatal(err)
	}
	return cred{c.Account.ID, c.Token}
}

// reply is a decoded API answer.
type reply struct {
	status int
	header http.Header
	raw    string
	body   map[string]any
}

func (r reply) str(k string) string { s, _ := r.body[k].(string); return s }

// do sends a request; body may be a string (sent as is with contentType) or a value
// (sent as JSON).
func (e *env) do(c cred, method, path string, body any) reply {
	e.t.Helper()
	return e.doCT(c, method, path, body, "application/json")
}

func (e *env) doCT(c cred, method, path string, body any, contentType string) reply {
	e.t.Helper()
	return e.send(http.DefaultClient, c, method, path, body, contentType)
}

// doFrom sends a request from source, an address of 127.0.0.0/8 (all loopback on
// Linux), so a test can play several client addresses.
func (e *env) doFrom(source string, c cred, method, path string, body any) reply {
	e.t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(source)}}
	tr := &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	return e.send(&http.Client{Transport: tr}, c, method, path, body, "application/json")
}

func (e *env) send(client *http.Client, c cred, method, path string, body any, contentType string) reply {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.base+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", contentType)
	}
	if c.id != "" {
		req.SetBasicAuth(c.id, c.token)
	}
	resp, err := client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			e.t.Fatalf("%s %s: reply is not JSON: %q", method, path, raw)
		}
	}
	return r
}

// mustStatus fails unless r has the status; it also checks Plivo's shape (api_id on every
// reply with a body, error on every error).
func mustStatus(t *testing.T, r reply, want int) reply {
	t.Helper()
	if r.status != want {
		t.Fatalf("status %d, want %d; body %s", r.status, want, r.raw)
	}
	checkShape(t, r)
	return r
}

func checkShape(t *testing.T, r reply) {
	t.Helper()
	if r.status == http.StatusNoContent {
		if r.raw != "" {
			t.Fatalf("204 with a body: %s", r.raw)
		}
		return
	}
	if r.str("api_id") == "" {
		t.Fatalf("reply without api_id: %s", r.raw)
	}
	if r.status >= 400 && r.str("error") == "" {
		t.Fatalf("error reply without error field: %s", r.raw)
	}
}

func acctPath(c cred, rest string) string { return "/v1/Account/" + c.id + "/" + rest }
