package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/config"
	"github.com/trunkline/trunkline/internal/sipready"
	"github.com/trunkline/trunkline/store/storetest"
)

// TestMainInProcess starts a whole node in this process on port 0 (no child process, no
// "trunkline: ready" on a pipe): an account rents a number and sends a text over the
// API on HTTPS; the text goes over SMPP to the sandbox carrier, whose receipt comes back
// and marks it delivered; audit entries name the node from config; SIP answers an
// OPTIONS; /ready answers 200, then 503 once the node drains (the API still serving);
// then it stops. On
// SQLite and, when configured, PostgreSQL.
func TestMainInProcess(t *testing.T) {
	run := func(t *testing.T, dsn string) {
		c := config.Default()
		c.DataDir = filepath.Join(t.TempDir(), "data")
		c.Database.DSN = dsn
		c.Log.File = "-"
		c.API.Listen = "127.0.0.1:0"
		c.Voice.Listen = "127.0.0.1:0"
		c.Metrics.Listen = "127.0.0.1:0"
		c.NodeName = "node-under-test"
		if problems, _ := c.Validate(); len(problems) > 0 {
			t.Fatalf("config: %v", problems)
		}
		stdout := &e2eLines{t: t, prefix: "main: "}
		m := NewMain(&c, stdout, io.Discard)
		t.Cleanup(func() { m.Close() })
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := m.Run(ctx); err != nil {
			t.Fatalf("Run: %v\n%s", err, stdout.String())
		}
		if !strings.HasSuffix(stdout.String(), "trunkline: ready\n") {
			t.Fatalf("Run returned before ready:\n%s", stdout.String())
		}
		for name, a := range map[string]netip.AddrPort{"API": m.APIAddr(), "SIP": m.SIPAddr(),
			"sandbox SMSC": m.SandboxSMSCAddr(), "metrics": m.MetricsAddr()} {
			if !a.IsValid() || a.Port() == 0 {
				t.Fatalf("%s address %v", name, a)
			}
		}
		if want := "https://" + m.APIAddr().String(); m.PublicURL() != want {
			t.Fatalf("public URL %q, want %q", m.PublicURL(), want)
		}

		// The API, over HTTPS, trusting the CA the node made under its data dir.
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: e2eCAPool(t, filepath.Join(c.DataDir, "tls", "ca.crt"))}}}
		created, err := m.p.accounts.CreateMain(ctx, "In-process")
		if err != nil {
			t.Fatal(err)
		}
		const src, dst = "447700900001", "447700900222"
		if _, err := m.p.db.ImportNumbers(ctx, []*trunkline.Number{{Number: src, CountryISO: "GB", Type: "mobile",
			Carrier: "sandbox", SMSEnabled: true}}); err != nil {
			t.Fatal(err)
		}
		call := func(method, path string, body any, want int) map[string]any {
			t.Helper()
			var rd io.Reader
			if body != nil {
				b, _ := json.Marshal(body)
				rd = bytes.NewReader(b)
			}
			req, _ := http.NewRequestWithContext(ctx, method, m.PublicURL()+"/v1/Account/"+created.Account.ID+"/"+path, rd)
			req.SetBasicAuth(created.Account.ID, created.Token)
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			defer resp.Body.Close()
			var out map[string]any
			raw, _ := io.ReadAll(resp.Body)
			json.Unmarshal(raw, &out)
			if resp.StatusCode != want {
				t.Fatalf("%s %s: %d, want %d: %s", method, path, resp.StatusCode, want, raw)
			}
			return out
		}
		if acct := call("GET", "", nil, 200); acct["auth_id"] != created.Account.ID {
			t.Fatalf("account %v", acct)
		}
		call("POST", "PhoneNumber/"+src+"/", map[string]any{}, 201)
		sent := call("POST", "Message/", map[string]any{"src": src, "dst": dst, "text": "in-process hello"}, 202)
		uuids, _ := sent["message_uuid"].([]any)
		if len(uuids) != 1 {
			t.Fatalf("send: %v", sent)
		}
		uuid := uuids[0].(string)
		deadline := time.Now().Add(30 * time.Second)
		for state := ""; state != "delivered"; {
			if time.Now().After(deadline) {
				t.Fatalf("message %s still %q after 30s", uuid, state)
			}
			time.Sleep(50 * time.Millisecond)
			state, _ = call("GET", "Message/"+uuid+"/", nil, 200)["message_state"].(string)
		}
		got := m.msg.sandbox.Recent()
		if len(got) != 1 || got[0].Text != "in-process hello" || got[0].Dst != dst {
			t.Fatalf("the sandbox carrier took %+v", got)
		}

		// The audit entries the API wrote name the node from config.
		recs, err := m.p.db.AuditRecords(ctx, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		rented := false
		for _, r := range recs {
			if r.Action == "number.rent" {
				rented = true
				if r.Node != "node-under-test" {
					t.Errorf("audit entry %s names node %q, not config's node_name", r.Action, r.Node)
				}
			}
		}
		if !rented {
			t.Error("no audit entry for the rented number")
		}

		// SIP answers on its bound address.
		if err := sipready.Await(ctx, m.SIPAddr().String()); err != nil {
			t.Fatalf("SIP OPTIONS: %v", err)
		}

		// Drain (what SIGTERM does first): /ready says draining, the API still serves.
		ready := func() int {
			t.Helper()
			resp, err := client.Get(m.PublicURL() + "/ready")
			if err != nil {
				t.Fatalf("GET /ready: %v", err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		if code := ready(); code != http.StatusOK {
			t.Fatalf("GET /ready before the drain: %d, want 200", code)
		}
		m.Drain()
		if code := ready(); code != http.StatusServiceUnavailable {
			t.Fatalf("GET /ready while draining: %d, want 503", code)
		}
		call("GET", "", nil, 200)

		if err := m.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if !strings.HasSuffix(stdout.String(), "trunkline: stopped\n") {
			t.Fatalf("Close did not stop the node:\n%s", stdout.String())
		}
		if _, err := client.Get(m.PublicURL() + "/v1/"); err == nil {
			t.Fatal("the API still answers after Close")
		}
	}
	t.Run("sqlite", func(t *testing.T) { run(t, "") })
	if dsn := os.Getenv(storetest.PostgresEnv); dsn != "" {
		t.Run("postgres", func(t *testing.T) { run(t, e2ePostgresSchema(t, dsn)) })
	}
}
