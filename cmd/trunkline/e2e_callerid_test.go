package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/trunkline/trunkline/store/storetest"
)

// TestCallerIDSDK: Plivo's official Node SDK verifies caller IDs against a real
// `trunkline serve` on its defaults (the code reaches the sandbox SMSC and the sandbox
// phone) and places calls from them; see test/node/callerid-sdk.js. On SQLite and, when
// configured, PostgreSQL.
func TestCallerIDSDK(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test (builds the binary, runs node); skipped with -short")
	}
	node, nodeDir := e2eNodePeer(t)
	bin := e2eBuild(t)
	run := func(t *testing.T, dsn string) {
		dataDir := filepath.Join(t.TempDir(), "data")
		env := e2eEnv(map[string]string{"TRUNKLINE_DATABASE_DSN": dsn, "TRUNKLINE_WEBHOOK_ALLOW": "127.0.0.0/8"})
		owner := e2eAccount(t, bin, env, dataDir, "Caller ID owner")
		other := e2eAccount(t, bin, env, dataDir, "Someone Else")
		app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/xml")
			io.WriteString(w, `<Response><Hangup/></Response>`)
		}))
		defer app.Close()
		srv := e2eStartServer(t, bin, env, dataDir)
		nodeOut := &e2eLines{t: t, prefix: "node: "}
		ctx, cancel := context.WithTimeout(context.Background(), e2eNodeTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, node, "callerid-sdk.js")
		cmd.Dir = nodeDir
		cmd.Env = append(e2eEnv(nil), "PLIVO_TEST_BASE="+srv.base, "NODE_EXTRA_CA_CERTS="+filepath.Join(dataDir, "tls", "ca.crt"),
			"PLIVO_AUTH_ID="+owner.AuthID, "PLIVO_AUTH_TOKEN="+owner.AuthToken,
			"OTHER_AUTH_ID="+other.AuthID, "OTHER_AUTH_TOKEN="+other.AuthToken,
			"CALLER_ID=447700900123", "CALLER_ID_VOICE=447700900456", "ANSWER_URL="+app.URL+"/answer")
		cmd.Stdout, cmd.Stderr = nodeOut, nodeOut
		err := cmd.Run()
		nodeOut.flush()
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Fatalf("node callerid-sdk.js did not finish within %s", e2eNodeTimeout)
		}
		if err != nil {
			t.Fatalf("node callerid-sdk.js: %v\n%s", err, nodeOut.String())
		}
		// The codes never reached the log or the audit log.
		logs, _ := os.ReadFile(filepath.Join(dataDir, "logs", "trunkline.log"))
		if bytes.Contains(logs, []byte("verification code is")) {
			t.Error("a verification text reached the server log")
		}
	}
	t.Run("sqlite", func(t *testing.T) { run(t, "") })
	if dsn := os.Getenv(storetest.PostgresEnv); dsn != "" {
		t.Run("postgres", func(t *testing.T) { run(t, e2ePostgresSchema(t, dsn)) })
	}
}
