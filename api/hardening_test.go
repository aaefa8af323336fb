package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/audit"
	"github.com/trunkline/trunkline/keys"
	"github.com/trunkline/trunkline/message"
	"github.com/trunkline/trunkline/store/storetest"
)

// TestControlCharactersRefused: a NUL (or another C0 control) in any parameter value or
// name is refused with a 400 naming the parameter, on every store. PostgreSQL text
// cannot hold NUL, so before the one check in decodeParams these reached the store and
// came back as 500s there.
func TestControlCharactersRefused(t *testing.T) {
	for _, db := range storetest.Open(t) {
		t.Run(string(db.Dialect()), func(t *testing.T) {
			e := newEnv(t, db, Options{})
			ring, err := keys.NewRing(bytes.Repeat([]byte{7}, 32))
			if err != nil {
				t.Fatal(err)
			}
			// The real message service (no carrier: messages are accepted and fail), so a
			// text that got past the API would reach the store as it does in production.
			e.srv.opts.Messages = message.New(message.Options{DB: db, Ring: ring, Now: e.clock.Now})
			a := e.mainAccount("ctl")
			importNumbers(t, db, "14155550100")
			mustStatus(t, e.do(a, "POST", acctPath(a, "PhoneNumber/14155550100/"), map[string]any{}), 201)
			ep := mustStatus(t, e.do(a, "POST", acctPath(a, "Endpoint/"), map[string]any{"username": "alice", "password": "s3cret-Passw0rd", "alias": "a"}), 201)
			app := mustStatus(t, e.do(a, "POST", acctPath(a, "Application/"), map[string]any{"app_name": "ok", "answer_url": "https://example.com/a"}), 201)

			form := "application/x-www-form-urlencoded"
			for _, tc := range []struct {
				name, method, path string
				body               any
				ct                 string
				param              string
			}{
				{"application name NUL (JSON)", "POST", "Application/", map[string]any{"app_name": "a\x00b", "answer_url": "https://example.com/a"}, "", "app_name"},
				{"application name NUL (form)", "POST", "Application/", "app_name=a%00b&answer_url=https://example.com/a", form, "app_name"},
				{"application update answer_url NUL", "POST", "Application/" + app.str("app_id") + "/", map[string]any{"answer_url": "https://example.com/\x00"}, "", "answer_url"},
				{"account name NUL", "POST", "", map[string]any{"name": "Acme\x00"}, "", "name"},
				{"account city ESC", "POST", "", map[string]any{"city": "a\x1b[2Jb"}, "", "city"},
				{"subaccount name NUL", "POST", "Subaccount/", map[string]any{"name": "team\x00a"}, "", "name"},
				{"subaccount name BEL", "POST", "Subaccount/", map[string]any{"name": "team\x07"}, "", "name"},
				{"endpoint alias NUL", "POST", "Endpoint/" + ep.str("endpoint_id") + "/", map[string]any{"alias": "x\x00y"}, "", "alias"},
				{"number alias NUL", "POST", "Number/14155550100/", map[string]any{"alias": "main\x00"}, "", "alias"},
				{"message text NUL", "POST", "Message/", map[string]any{"src": "14155550100", "dst": "447700900123", "text": "hello\x00world"}, "", "text"},
				{"message text NUL (form)", "POST", "Message/", "src=14155550100&dst=447700900123&text=hello%00world", form, "text"},
				{"query string NUL", "GET", "Application/?app_name=a%00", nil, "", "app_name"},
				{"DEL in a name", "POST", "Subaccount/", map[string]any{"name": "x\x7f"}, "", "name"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					ct := tc.ct
					if ct == "" {
						ct = "application/json"
					}
					r := mustStatus(t, e.doCT(a, tc.method, acctPath(a, tc.path), tc.body, ct), 400)
					if !strings.Contains(r.str("error"), `"`+tc.param+`"`) || !strings.Contains(r.str("error"), "control character") {
						t.Fatalf("error does not name %s: %s", tc.param, r.raw)
					}
				})
			}
			// Names, aliases and address fields are one line: no tab or line break either.
			for _, tc := range []struct{ path, param, value string }{
				{"Subaccount/", "name", "team\nA"},
				{"", "address", "1 Main St\r\nFake line"},
				{"Number/14155550100/", "alias", "x\ty"},
			} {
				r := mustStatus(t, e.do(a, "POST", acctPath(a, tc.path), map[string]any{tc.param: tc.value}), 400)
				if !strings.Contains(r.str("error"), tc.param+" must be one line") {
					t.Fatalf("%s=%q: %s", tc.param, tc.value, r.raw)
				}
			}
			// A NUL in a parameter name is refused too, without echoing the name.
			r := mustStatus(t, e.doCT(a, "POST", acctPath(a, "Subaccount/"), "name=x&n%00me=y", form), 400)
			if !strings.Contains(r.str("error"), "parameter name contains a control character") {
				t.Fatalf("name with NUL: %s", r.raw)
			}
			// Line breaks and tabs in a message text are ordinary text.
			r = mustStatus(t, e.do(a, "POST", acctPath(a, "Message/"), map[string]any{"src": "14155550100", "dst": "447700900123", "text": "line one\r\nline\ttwo"}), 202)
			uuids, _ := r.body["message_uuid"].([]any)
			if len(uuids) != 1 {
				t.Fatalf("no message uuid: %s", r.raw)
			}
			m, err := db.Message(context.Background(), trunkline.Scope{AccountID: a.id}, uuids[0].(string))
			if err != nil || m.Body != "line one\r\nline\ttwo" {
				t.Fatalf("stored message %v: %+v", err, m)
			}
			// Nothing refused above was stored.
			subs, err := db.SubaccountIDs(context.Background(), a.id)
			if err != nil || len(subs) != 0 {
				t.Fatalf("subaccounts %v %v", subs, err)
			}
		})
	}
}

// TestFailedLoginPathEscapedInAudit: the path of a failed authentication is client input;
// a CR LF in it must not become a line break in the audit entry.
func TestFailedLoginPathEscapedInAudit(t *testing.T) {
	forEachStore(t, Options{}, func(t *testing.T, e *env) {
		a := e.mainAccount("victim")
		bad := cred{a.id, "wrong-token-wrong-token-wrong-1"}
		mustStatus(t, e.do(bad, "GET", acctPath(a, "x%0D%0Aauth.ok%09MA%1b[31m%E2%80%AEfoo/"), nil), 401)
		es, _, err := e.audit.List(context.Background(), audit.Filter{AccountIDs: []string{a.id}, Action: "auth.failed"})
		if err != nil || len(es) != 1 {
			t.Fatalf("entries %v %v", es, err)
		}
		got := es[0].Detail["path"]
		want := "/v1/Account/" + a.id + `/x\r\nauth.ok\tMA\x1b[31m\u202efoo/`
		if got != want {
			t.Fatalf("path in the audit entry = %q, want %q", got, want)
		}
	})
}

// TestHSTSOnAPI: API replies over TLS tell browsers to keep to HTTPS, as the console's do;
// plain HTTP replies (a loopback listener) must not carry it (RFC 6797 §7.2).
func TestHSTSOnAPI(t *testing.T) {
	forEachStore(t, Options{}, func(t *testing.T, e *env) {
		a := e.mainAccount("hsts")
		ts := httptest.NewTLSServer(e.srv)
		t.Cleanup(ts.Close)
		for _, c := range []cred{a, {a.id, "wrong-token-wrong-token-wrong-1"}} {
			req, _ := http.NewRequest("GET", ts.URL+acctPath(a, ""), nil)
			req.SetBasicAuth(c.id, c.token)
			resp, err := ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := resp.Header.Get("Strict-Transport-Security"); got != hstsValue {
				t.Errorf("status %d over TLS: Strict-Transport-Security %q, want %q", resp.StatusCode, got, hstsValue)
			}
		}
		if r := e.do(a, "GET", acctPath(a, ""), nil); r.header.Get("Strict-Transport-Security") != "" {
			t.Errorf("plain HTTP reply carries HSTS")
		}
	})
}

// TestLinksIgnoreHostHeader: recording_url is built from the configured public URL (or,
// without one, the listener's own address), never from the Host header a client sends.
func TestLinksIgnoreHostHeader(t *testing.T) {
	get := func(t *testing.T, e *env, a cred, path string) reply {
		t.Helper()
		req, _ := http.NewRequest("GET", e.base+path, nil)
		req.Host = "evil.example"
		req.SetBasicAuth(a.id, a.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r reply
		r.status = resp.StatusCode
		if err := json.NewDecoder(resp.Body).Decode(&r.body); err != nil {
			t.Fatal(err)
		}
		return r
	}
	setup := func(t *testing.T, e *env) (cred, string) {
		a := e.mainAccount("links")
		if err := e.db.InsertRecording(context.Background(), &trunkline.Recording{ID: "rec-1", AccountID: a.id, CallUUID: "c1", Format: "mp3"}); err != nil {
			t.Fatal(err)
		}
		return a, "/v1/Account/" + a.id + "/Recording/rec-1.mp3"
	}
	t.Run("configured", func(t *testing.T) {
		forEachStore(t, Options{PublicURL: "https://api.example.com:8443"}, func(t *testing.T, e *env) {
			a, p := setup(t, e)
			for _, path := range []string{acctPath(a, "Recording/rec-1/"), acctPath(a, "Recording/")} {
				r := get(t, e, a, path)
				body := r.body
				if objs, ok := body["objects"].([]any); ok && len(objs) == 1 {
					body = objs[0].(map[string]any)
				}
				if got := body["recording_url"]; got != "https://api.example.com:8443"+p {
					t.Fatalf("GET %s: recording_url %v", path, got)
				}
			}
			if e.srv.PublicURL() != "https://api.example.com:8443" {
				t.Fatalf("PublicURL %q", e.srv.PublicURL())
			}
		})
	})
	t.Run("default", func(t *testing.T) {
		forEachStore(t, Options{}, func(t *testing.T, e *env) {
			a, p := setup(t, e)
			r := get(t, e, a, acctPath(a, "Recording/rec-1/"))
			if got := r.body["recording_url"]; got != e.base+p {
				t.Fatalf("recording_url %v, want %s", got, e.base+p)
			}
		})
	})
}
