package api

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/keys"
	"github.com/trunkline/trunkline/message"
	"github.com/trunkline/trunkline/store"
)

func importNumbers(t *testing.T, db *store.DB, numbers ...string) {
	t.Helper()
	var ns []*trunkline.Number
	for _, n := range numbers {
		ns = append(ns, &trunkline.Number{Number: n, CountryISO: "US", Type: "local", Region: "California", Carrier: "carrier-a",
			VoiceEnabled: true, SMSEnabled: true, MonthlyRentalRate: "0.80000", SetupRate: "0.00000", SMSRate: "0.00500", VoiceRate: "0.00850"})
	}
	if _, err := db.ImportNumbers(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
}

func TestConventions(t *testing.T) {
	forEachStore(t, Options{}, func(t *testing.T, e *env) {
		a := e.mainAccount("conv")
		for _, p := range []string{"/v1/Account/" + a.id + "/", "/v1/Account/" + a.id, "/v1/Account/" + a.id + "//", "//v1//Account/" + a.id} {
			r := mustStatus(t, e.do(a, "GET", p, nil), 200)
			if r.str("auth_id") != a.id || r.str("resource_uri") != "/v1/Account/"+a.id+"/" {
				t.Fatalf("GET %s: %s", p, r.raw)
			}
		}
		// The Node SDK sends the JSON string "" as the body of calls without parameters.
		mustStatus(t, e.do(a, "GET", acctPath(a, ""), `""`), 200)
		mustStatus(t, e.do(a, "GET", acctPath(a, ""), `null`), 200)
		// Typed JSON values, string forms and form bodies are all accepted.
		r := mustStatus(t, e.do(a, "POST", acctPath(a, "Application/"), map[string]any{
			"app_name": "typed", "answer_url": "https://example.com/a", "public_uri": false, "log_incoming_messages": "false"}), 201)
		appID := r.str("app_id")
		r = mustStatus(t, e.do(a, "GET", acctPath(a, "Application/"+appID), nil), 200)
		if r.body["public_uri"] != false || r.body["log_incoming_messages"] != false || r.str("hangup_url") != "https://example.com/a" {
			t.Fatalf("typed values not applied: %s", r.raw)
		}
		mustStatus(t, e.doCT(a, "POST", acctPath(a, "Application/"+appID+"/"), "public_uri=true&answer_method=get", "application/x-www-form-urlencoded"), 202)
		r = mustStatus(t, e.do(a, "GET", acctPath(a, "Application/"+appID+"/"), nil), 200)
		if r.body["public_uri"] != true || r.str("answer_method") != "GET" {
			t.Fatalf("form update not applied: %s", r.raw)
		}
		// DELETE with a JSON body (as the SDKs send it).
		sub := mustStatus(t, e.do(a, "POST", acctPath(a, "Subaccount/"), map[string]any{"name": "s", "enabled": "true"}), 201)
		mustStatus(t, e.do(a, "DELETE", acctPath(a, "Subaccount/"+sub.str("auth_id")+"/"), map[string]any{"cascade": "true"}), 204)
		// Unknown routes and wrong methods in the same shape.
		r = mustStatus(t, e.do(a, "GET", acctPath(a, "Nothing/"), nil), 404)
		if r.str("error") != "not found" {
			t.Fatalf("unknown route: %s", r.raw)
		}
		mustStatus(t, e.do(a, "PUT", acctPath(a, "Application/"), nil), 405)
		mustStatus(t, e.do(cred{}, "GET", acctPath(a, ""), nil), 401)
	})
}

func TestPagination(t *testing.T) {
	forEachStore(t, Options{}, func(t *testing.T, e *env) {
		a := e.mainAccount("pages")
		for i := 0; i < 25; i++ {
			mustStatus(t, e.do(a, "POST", acctPath(a, "Application/"), map[string]any{"app_name": fmt.Sprintf("app%02d", i), "answer_url": "https://example.com/"}), 201)
		}
		r := mustStatus(t, e.do(a, "GET", acctPath(a, "Application/"), nil), 200)
		meta := r.body["meta"].(map[string]any)
		if meta["limit"].(float64) != 20 || meta["total_count"].(float64) != 25 || meta["previous"] != nil ||
			meta["next"] != "/v1/Account/"+a.id+"/Application/?limit=20&offset=20" || len(r.body["objects"].([]any)) != 20 {
			t.Fatalf("first page: %v", meta)
		}
		r = mustStatus(t, e.do(a, "GET", acctPath(a, "Application/?limit=10&offset=20"), nil), 200)
		meta = r.body["meta"].(map[string]any)
		if meta["next"] != nil || meta["previous"] != "/v1/Account/"+a.id+"/Application/?limit=10&offset=10" || len(r.body["objects"].([]any)) != 5 {
			t.Fatalf("last page: %v", meta)
		}
		mustStatus(t, e.do(a, "GET", acctPath(a, "Application/?limit=21"), nil), 400)
		mustStatus(t, e.do(a, "GET", acctPath(a, "Application/?offset=-1"), nil), 400)
	})
}

func TestBadInput(t *testing.T) {
	forEachStore(t, Options{MaxBody: 4096}, func(t *testing.T, e *env) {
		a := e.mainAccount("bad")
		app := acctPath(a, "Application/")
		importNumbers(t, e.db, "14155550100")
		// The message cases below test checks after src's: the operator allows ACME.
		if err := e.db.AllowSenderID(context.Background(), a.id, "ACME", "test"); err != nil {
			t.Fatal(err)
		}
		// The real message service (no carrier), which holds the send rules.
		ring, err := keys.NewRing(bytes.Repeat([]byte{7}, 32))
		if err != nil {
			t.Fatal(err)
		}
		e.srv.opts.Messages = message.New(message.Options{DB: e.db, Ring: ring, Now: e.clock.Now})
		cases := []struct {
			name, method, path, ct string
			body                   any
			want                   int
			mention                string
		}{
			{"malformed json", "POST", app, "application/json", `{"app_name": "x",`, 400, "JSON"},
			{"json array", "POST", app, "application/json", `["x"]`, 400, "JSON object"},
			{"two json values", "POST", app, "application/json", `{"app_name":"x"}{"a":1}`, 400, "more than one"},
			{"object value", "POST", app, "application/json", `{"app_name":{"x":1},"answer_url":"https://e.com/"}`, 400, "object"},
			{"wrong bool", "POST", app, "application/json", `{"app_name":"x","answer_url":"https://e.com/","public_uri":"maybe"}`, 400, "true or false"},
			{"wrong method", "POST", app, "application/json", `{"app_name":"x","answer_url":"https://e.com/","answer_method":"PUT"}`, 400, "GET or POST"},
			{"unknown field", "POST", app, "application/json", `{"app_name":"x","answer_url":"https://e.com/","colour":"red"}`, 400, `unknown parameter "colour"`},
			{"missing app_name", "POST", app, "application/json", `{"answer_url":"https://e.com/"}`, 400, "app_name"},
			{"bad app_name", "POST", app, "application/json", `{"app_name":"a b","answer_url":"https://e.com/"}`, 400, "app_name"},
			{"bad url", "POST", app, "application/json", `{"app_name":"x","answer_url":"javascript:alert(1)"}`, 400, "answer_url"},
			{"url with userinfo", "POST", app, "application/json", `{"app_name":"x","answer_url":"https://u:p@e.com/"}`, 400, "user name"},
			{"very long value", "POST", app, "application/json", `{"app_name":"x","answer_url":"https://e.com/` + strings.Repeat("a", 3000) + `"}`, 400, "too long"},
			{"very long name", "POST", acctPath(a, ""), "application/json", `{"name":"` + strings.Repeat("n", 300) + `"}`, 400, "too long"},
			{"oversized body", "POST", app, "application/json", `{"app_name":"` + strings.Repeat("x", 5000) + `"}`, 413, "larger than"},
			{"non-utf8 json", "POST", app, "application/json", "{\"app_name\":\"\xff\xfe\",\"answer_url\":\"https://e.com/\"}", 400, "UTF-8"},
			{"non-utf8 form", "POST", app, "application/x-www-form-urlencoded", "app_name=%ff%fe&answer_url=https://e.com/", 400, "UTF-8"},
			{"non-utf8 query", "GET", app + "?subaccount=%ff", "", nil, 400, "UTF-8"},
			{"bad form", "POST", app, "application/x-www-form-urlencoded", "a=%zz", 400, "malformed"},
			{"unsupported type", "POST", app, "text/xml", "<x/>", 415, "content type"},
			{"invalid number rent", "POST", acctPath(a, "PhoneNumber/12ab/"), "application/json", `{}`, 400, "invalid number"},
			{"short number rent", "POST", acctPath(a, "PhoneNumber/123/"), "application/json", `{}`, 400, "invalid number"},
			{"number not in inventory", "POST", acctPath(a, "PhoneNumber/14155550999/"), "application/json", `{}`, 404, "not available"},
			{"search without country", "GET", acctPath(a, "PhoneNumber/"), "", nil, 400, "country_iso"},
			{"search bad type", "GET", acctPath(a, "PhoneNumber/?country_iso=US&type=satellite"), "", nil, 400, "type"},
			{"search bad services", "GET", acctPath(a, "PhoneNumber/?country_iso=US&services=fax"), "", nil, 400, "services"},
			{"limit not a number", "GET", app + "?limit=ten", "", nil, 400, "limit"},
			{"dot dot path", "GET", "/v1/Account/" + a.id + "/Application/../../", "", nil, 404, "not found"},
			{"encoded dot dot", "GET", "/v1/Account/" + a.id + "/Application/%2e%2e/", "", nil, 404, "not found"},
			{"bad timezone", "POST", acctPath(a, ""), "application/json", `{"timezone":"Mars/Olympus"}`, 400, "timezone"},
			{"empty name", "POST", acctPath(a, ""), "application/json", `{"name":"  "}`, 400, "name"},
			{"overlap too long", "POST", acctPath(a, "AuthToken/"), "application/json", `{"overlap":99999999}`, 400, "overlap"},
			{"message without src", "POST", acctPath(a, "Message/"), "application/json", `{"dst":"447700900123","text":"x"}`, 400, "src"},
			{"message src not owned", "POST", acctPath(a, "Message/"), "application/json", `{"src":"14155550199","dst":"447700900123","text":"x"}`, 400, "one of your numbers"},
			{"message bad sender id", "POST", acctPath(a, "Message/"), "application/json", `{"src":"Way Too Long Sender","dst":"447700900123","text":"x"}`, 400, "sender ID"},
			{"message bad dst", "POST", acctPath(a, "Message/"), "application/json", `{"src":"ACME","dst":"44770<abc","text":"x"}`, 400, "dst"},
			{"message no text", "POST", acctPath(a, "Message/"), "application/json", `{"src":"ACME","dst":"447700900123"}`, 400, "text"},
			{"message too long", "POST", acctPath(a, "Message/"), "application/json", `{"src":"ACME","dst":"447700900123","text":"` + strings.Repeat("a", 1601) + `"}`, 400, "too long"},
			{"message ucs2 too long", "POST", acctPath(a, "Message/"), "application/json", `{"src":"ACME","dst":"447700900123","text":"` + strings.Repeat("ж", 738) + `"}`, 400, "too long"},
			{"message bad log", "POST", acctPath(a, "Message/"), "application/json", `{"src":"ACME","dst":"447700900123","text":"x","log":"sometimes"}`, 400, "log"},
			{"message mms", "POST", acctPath(a, "Message/"), "application/json", `{"src":"ACME","dst":"447700900123","text":"x","type":"mms"}`, 400, "only sms"},
			{"message bad expiry", "POST", acctPath(a, "Message/"), "application/json", `{"src":"ACME","dst":"447700900123","text":"x","message_expiry":99999}`, 400, "message_expiry"},
			{"message bad url", "POST", acctPath(a, "Message/"), "application/json", `{"src":"ACME","dst":"447700900123","text":"x","url":"ftp://x"}`, 400, "url"},
			{"message bad direction filter", "GET", acctPath(a, "Message/?message_direction=sideways"), "", nil, 400, "message_direction"},
			{"audit bad time", "GET", acctPath(a, "AuditLog/?time__gt=yesterday"), "", nil, 400, "time__gt"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				var r reply
				if c.body == nil {
					r = e.do(a, c.method, c.path, nil)
				} else {
					r = e.doCT(a, c.method, c.path, c.body, c.ct)
				}
				mustStatus(t, r, c.want)
				if !strings.Contains(r.str("error"), c.mention) {
					t.Fatalf("error %q does not mention %q", r.str("error"), c.mention)
				}
			})
		}
		// Nothing half-created: only valid requests made applications.
		r := mustStatus(t, e.do(a, "GET", app, nil), 200)
		if n := r.body["meta"].(map[string]any)["total_count"].(float64); n != 0 {
			t.Fatalf("%v applications exist after only bad requests", n)
		}
	})
}

func TestTokenRotation(t *testing.T) {
	forEachStore(t, Options{}, func(t *testing.T, e *env) {
		a := e.mainAccount("rot")
		r := mustStatus(t, e.do(a, "POST", acctPath(a, "AuthToken/"), map[string]any{"overlap": 3600}), 200)
		b := cred{a.id, r.str("auth_token")}
		if len(b.token) < 40 || b.token == a.token {
			t.Fatalf("new token %q", b.token)
		}
		// Both work during the overlap.
		mustStatus(t, e.do(a, "GET", acctPath(a, ""), nil), 200)
		mustStatus(t, e.do(b, "GET", acctPath(b, ""), nil), 200)
		// The retiring token cannot rotate or revoke (it may have leaked).
		mustStatus(t, e.do(a, "POST", acctPath(a, "AuthToken/"), nil), 403)
		mustStatus(t, e.do(a, "DELETE", acctPath(a, "AuthToken/"), nil), 403)
		// After the overlap the old token fails; the new one works.
		e.clock.Add(time.Hour + time.Second)
		mustStatus(t, e.do(a, "GET", acctPath(a, ""), nil), 401)
		mustStatus(t, e.do(b, "GET", acctPath(b, ""), nil), 200)

		// Default overlap (24 h), then revoke the old one at once with DELETE AuthToken.
		r = mustStatus(t, e.do(b, "POST", acctPath(b, "AuthToken/"), nil), 200)
		c := cred{a.id, r.str("auth_token")}
		till, err := time.Parse(time.RFC3339, r.str("old_token_valid_until"))
		if err != nil || till.Sub(e.clock.Now()) < 23*time.Hour || till.Sub(e.clock.Now()) > 24*time.Hour {
			t.Fatalf("old_token_valid_until %q, want ~24h ahead", r.str("old_token_valid_until"))
		}
		mustStatus(t, e.do(b, "GET", acctPath(b, ""), nil), 200)
		mustStatus(t, e.do(c, "DELETE", acctPath(c, "AuthToken/"), nil), 204)
		mustStatus(t, e.do(b, "GET", acctPath(b, ""), nil), 401)
		mustStatus(t, e.do(c, "GET", acctPath(c, ""), nil), 200)

		// revoke_old stops the old token immediately.
		r = mustStatus(t, e.do(c, "POST", acctPath(c, "AuthToken/"), map[string]any{"revoke_old": true}), 200)
		d := cred{a.id, r.str("auth_token")}
		if r.body["old_token_valid_until"] != nil {
			t.Fatalf("revoke_old still reports an overlap: %s", r.raw)
		}
		mustStatus(t, e.do(c, "GET", acctPath(c, ""), nil), 401)
		mustStatus(t, e.do(d, "GET", acctPath(d, ""), nil), 200)

		// A main account rotates its subaccount's token.
		s := mustStatus(t, e.do(d, "POST", acctPath(d, "Subaccount/"), map[string]any{"name": "s1", "enabled": true}), 201)
		sub := cred{s.str("auth_id"), s.str("auth_token")}
		mustStatus(t, e.do(sub, "GET", acctPath(sub, ""), nil), 200)
		r = mustStatus(t, e.do(d, "POST", acctPath(d, "Subaccount/"+sub.id+"/AuthToken/"), map[string]any{"revoke_old": "true"}), 200)
		mustStatus(t, e.do(sub, "GET", acctPath(sub, ""), nil), 401)
		mustStatus(t, e.do(cred{sub.id, r.str("auth_token")}, "GET", acctPath(sub, ""), nil), 200)

		// Every rotation is in the audit log, and no token is.
		assertNoSecretStored(t, e.db, a.token, b.token, c.token, d.token, sub.token, r.str("auth_token"))
		entries := mustStatus(t, e.do(d, "GET", acctPath(d, "AuditLog/?action=credential.rotate"), nil), 200)
		// Four rotations and the refused one by the retiring token.
		if n := entries.body["meta"].(map[string]any)["total_count"].(float64); n != 5 {
			t.Fatalf("%v rotation entries, want 5: %s", n, entries.raw)
		}
		outcomes := ""
		for _, o := range entries.body["objects"].([]any) {
			outcomes += o.(map[string]any)["outcome"].(string) + ","
		}
		if outcomes != "success,success,success,failure,success," {
			t.Fatalf("outcomes newest first: %s", outcomes)
		}
	})
}

// assertNoSecretStored scans every text and blob column of every table for the secrets.
func assertNoSecretStored(t *testing.T, db *store.DB, secrets ...string) {
	t.Helper()
	for _, table := range []string{"accounts", "credentials", "applications", "numbers", "endpoints", "audit_entries", "audit_checkpoints"} {
		rows, err := db.SQL().Query("SELECT * FROM " + table)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for i, v := range vals {
				var s string
				switch x := v.(type) {
				case string:
					s = x
				case []byte:
					s = string(x)
				}
				for _, sec := range secrets {
					if sec != "" && strings.Contains(s, sec) {
						t.Fatalf("a token is stored in clear in %s.%s", table, cols[i])
					}
				}
			}
		}
		rows.Close()
	}
}

func TestAuthThrottling(t *testing.T) {
	forEachStore(t, Options{FailsPerID: 3, FailsPerAddr: 6, FailWindow: time.Minute, MaxLockout: 10 * time.Minute}, func(t *testing.T, e *env) {
		a := e.mainAccount("victim")
		unknown := cred{"MA" + strings.Repeat("Z", 18), "x"}
		// Unknown ID and wrong token give the same reply.
		r1 := mustStatus(t, e.do(unknown, "GET", acctPath(unknown, ""), nil), 401)
		r2 := mustStatus(t, e.do(cred{a.id, "wrong"}, "GET", acctPath(a, ""), nil), 401)
		if r1.str("error") != r2.str("error") || r1.header.Get("WWW-Authenticate") != r2.header.Get("WWW-Authenticate") {
			t.Fatalf("unknown ID and wrong token differ: %s vs %s", r1.raw, r2.raw)
		}
		mustStatus(t, e.do(cred{a.id, "wrong"}, "GET", acctPath(a, ""), nil), 401)
		// Third failure for this Auth ID from this address locks the pair out: even the
		// right token gets 429 from here (TestAuthThrottleSparesOwner: not from elsewhere).
		r := mustStatus(t, e.do(cred{a.id, "wrong"}, "GET", acctPath(a, ""), nil), 401)
		_ = r
		r = mustStatus(t, e.do(a, "GET", acctPath(a, ""), nil), 429)
		if ra, _ := strconv.Atoi(r.header.Get("Retry-After")); ra < 1 || ra > 60 {
			t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
		}
		// The source address has 4 failures; two more lock the address out for everyone.
		mustStatus(t, e.do(unknown, "GET", acctPath(unknown, ""), nil), 401)
		mustStatus(t, e.do(unknown, "GET", acctPath(unknown, ""), nil), 401)
		other := e.mainAccount("bystander")
		mustStatus(t, e.do(other, "GET", acctPath(other, ""), nil), 429)
		e.clock.Add(2 * time.Minute)
		mustStatus(t, e.do(a, "GET", acctPath(a, ""), nil), 200)
		mustStatus(t, e.do(other, "GET", acctPath(other, ""), nil), 200)
		// Failures are audited on the account they named, without the token.
		al := mustStatus(t, e.do(a, "GET", acctPath(a, "AuditLog/?action=auth.failed"), nil), 200)
		if n := al.body["meta"].(map[string]any)["total_count"].(float64); n != 3 {
			t.Fatalf("%v auth.failed entries for the account, want 3: %s", n, al.raw)
		}
		assertNoSecretStored(t, e.db, "wrong", a.token)
	})
}

func TestRateLimit(t *testing.T) {
	forEachStore(t, Options{RateBurst: 5, RatePeriod: 5 * time.Second}, func(t *testing.T, e *env) {
		a, b := e.mainAccount("busy"), e.mainAccount("quiet")
		for i := 0; i < 5; i++ {
			mustStatus(t, e.do(a, "GET", acctPath(a, ""), nil), 200)
		}
		r := mustStatus(t, e.do(a, "GET", acctPath(a, ""), nil), 429)
		if r.header.Get("Retry-After") != "1" {
			t.Fatalf("Retry-After %q, want 1", r.header.Get("Retry-After"))
		}
		mustStatus(t, e.do(b, "GET", acctPath(b, ""), nil), 200)
		e.clock.Add(time.Second)
		mustStatus(t, e.do(a, "GET", acctPath(a, ""), nil), 200)
	})
}

func TestNumbersAndAudit(t *testing.T) {
	forEachStore(t, Options{}, func(t *testing.T, e *env) {
		a := e.mainAccount("nums")
		importNumbers(t, e.db, "14155550100", "14155550101", "14155550102")
		r := mustStatus(t, e.do(a, "GET", acctPath(a, "PhoneNumber/?country_iso=US&type=local&pattern=5550101"), nil), 200)
		objs := r.body["objects"].([]any)
		if len(objs) != 1 || objs[0].(map[string]any)["number"] != "14155550101" {
			t.Fatalf("search: %s", r.raw)
		}
		app := mustStatus(t, e.do(a, "POST", acctPath(a, "Application/"), map[string]any{"app_name": "ivr", "answer_url": "https://example.com/a"}), 201).str("app_id")
		r = mustStatus(t, e.do(a, "POST", acctPath(a, "PhoneNumber/+14155550101/"), map[string]any{"app_id": app}), 201)
		if r.str("status") != "fulfilled" {
			t.Fatalf("rent: %s", r.raw)
		}
		// A rented number is no longer offered, and cannot be rented twice.
		r = mustStatus(t, e.do(a, "GET", acctPath(a, "PhoneNumber/?country_iso=US"), nil), 200)
		if r.body["meta"].(map[string]any)["total_count"].(float64) != 2 {
			t.Fatalf("search after rent: %s", r.raw)
		}
		mustStatus(t, e.do(a, "POST", acctPath(a, "PhoneNumber/14155550101/"), nil), 404)
		r = mustStatus(t, e.do(a, "GET", acctPath(a, "Number/14155550101/"), nil), 200)
		if r.str("application") != "/v1/Account/"+a.id+"/Application/"+app+"/" || r.str("carrier") != "carrier-a" {
			t.Fatalf("rented number: %s", r.raw)
		}
		mustStatus(t, e.do(a, "POST", acctPath(a, "Number/14155550101/"), map[string]any{"app_id": "", "alias": "front desk"}), 202)
		r = mustStatus(t, e.do(a, "GET", acctPath(a, "Number/?alias=front%20desk"), nil), 200)
		if len(r.body["objects"].([]any)) != 1 || r.body["objects"].([]any)[0].(map[string]any)["application"] != nil {
			t.Fatalf("after unassign: %s", r.raw)
		}
		mustStatus(t, e.do(a, "DELETE", acctPath(a, "Number/14155550101/"), nil), 204)
		mustStatus(t, e.do(a, "GET", acctPath(a, "Number/14155550101/"), nil), 404)

		r = mustStatus(t, e.do(a, "GET", acctPath(a, "AuditLog/"), nil), 200)
		var actions []string
		for _, o := range r.body["objects"].([]any) {
			m := o.(map[string]any)
			actions = append(actions, m["action"].(string))
			if m["source"] != "127.0.0.1" || m["outcome"] == "" || m["time"] == "" {
				t.Fatalf("entry lacks who/where/outcome: %v", m)
			}
		}
		want := "number.unrent,number.update,number.rent,number.rent,application.create"
		if got := strings.Join(actions, ","); got != want {
			t.Fatalf("audit actions newest first:\n got %s\nwant %s", got, want)
		}
		// Time filters.
		future := e.clock.Now().Add(time.Hour).Format("2006-01-02 15:04:05")
		r = mustStatus(t, e.do(a, "GET", acctPath(a, "AuditLog/?time__gt="+strings.ReplaceAll(future, " ", "%20")), nil), 200)
		if r.body["meta"].(map[string]any)["total_count"].(float64) != 0 {
			t.Fatalf("future filter: %s", r.raw)
		}
	})
}

var _ = http.StatusOK

func TestMessageTimeFilters(t *testing.T) {
	forEachStore(t, Options{}, func(t *testing.T, e *env) {
		a := e.mainAccount("times")
		for i, at := range []time.Duration{-2 * time.Hour, -time.Hour, 0} {
			e.db.SetClock(func() time.Time { return e.clock.Now().Add(at) })
			m := &trunkline.Message{UUID: fmt.Sprint("m", i), AccountID: a.id, Direction: "outbound", Type: "sms", LogMode: "true",
				From: "1", To: "2", State: trunkline.MsgDelivered, Units: 1}
			if err := e.db.InsertMessages(context.Background(), []*trunkline.Message{m}, nil); err != nil {
				t.Fatal(err)
			}
		}
		e.db.SetClock(e.clock.Now)
		f := func(d time.Duration) string {
			return strings.ReplaceAll(e.clock.Now().Add(d).UTC().Format("2006-01-02 15:04:05"), " ", "%20")
		}
		count := func(q string) float64 {
			r := mustStatus(t, e.do(a, "GET", acctPath(a, "Message/?"+q), nil), 200)
			return r.body["meta"].(map[string]any)["total_count"].(float64)
		}
		if n := count("message_time__gt=" + f(-90*time.Minute)); n != 2 {
			t.Fatalf("__gt: %v, want 2", n)
		}
		if n := count("message_time__lt=" + f(-30*time.Minute)); n != 2 {
			t.Fatalf("__lt: %v, want 2", n)
		}
		if n := count("message_time__gte=" + f(-90*time.Minute) + "&message_time__lte=" + f(-30*time.Minute)); n != 1 {
			t.Fatalf("range: %v, want 1", n)
		}
		mustStatus(t, e.do(a, "GET", acctPath(a, "Message/?message_time=yesterday"), nil), 400)
	})
}
