package api

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/trunkline/trunkline/account"
	"github.com/trunkline/trunkline/keys"
)

const testSIPDomain = "sip.trunkline.test"

var endpointUserRE = regexp.MustCompile(`^zumba[0-9]{12}$`)

func TestEndpoints(t *testing.T) {
	forEachStore(t, Options{SIPDomain: testSIPDomain}, func(t *testing.T, e *env) {
		ctx := context.Background()
		a := e.mainAccount("endpoints")
		app := mustStatus(t, e.do(a, "POST", acctPath(a, "Application/"), map[string]any{"app_name": "phones", "answer_url": "https://example.com/a"}), 201).str("app_id")

		r := mustStatus(t, e.do(a, "POST", acctPath(a, "Endpoint/"), map[string]any{"username": "zumba", "password": "s3cret-zumba", "alias": "Zumba", "app_id": app}), 201)
		user, id := r.str("username"), r.str("endpoint_id")
		if !endpointUserRE.MatchString(user) || r.str("alias") != "Zumba" || r.str("message") != "created" || id == "" {
			t.Fatalf("create: %s", r.raw)
		}
		r = mustStatus(t, e.do(a, "GET", acctPath(a, "Endpoint/"+id+"/"), nil), 200)
		want := map[string]any{
			"alias": "Zumba", "application": "/v1/Account/" + a.id + "/Application/" + app + "/", "endpoint_id": id,
			"password": account.PasswordMD5("s3cret-zumba"), "resource_uri": "/v1/Account/" + a.id + "/Endpoint/" + id + "/",
			"sip_contact": "", "sip_expires": "", "sip_registered": "false", "sip_uri": "sip:" + user + "@" + testSIPDomain,
			"sip_user_agent": "", "sub_account": nil, "username": user,
		}
		for k, v := range want {
			if r.body[k] != v {
				t.Errorf("%s = %#v, want %#v", k, r.body[k], v)
			}
		}

		// What the registrar will check: HA1 for the SIP domain as realm, sealed for this username.
		ep, err := e.db.EndpointByUsername(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		ha1, err := account.OpenEndpointHA1(testRing(t), user, ep.HA1Enc)
		if err != nil || string(ha1) != account.DigestHA1(user, testSIPDomain, "s3cret-zumba") || ep.Realm != testSIPDomain {
			t.Fatalf("sealed HA1: %q %v (realm %q)", ha1, err, ep.Realm)
		}

		// The registration shows once the registrar has written it, and not after it expires.
		exp := e.clock.Now().Add(10 * time.Minute)
		if err := e.db.SetRegistration(ctx, user, "sip:"+user+"@192.0.2.10:5062;transport=udp", "Linphone/5.2", exp); err != nil {
			t.Fatal(err)
		}
		r = mustStatus(t, e.do(a, "GET", acctPath(a, "Endpoint/"+id+"/"), nil), 200)
		if r.str("sip_registered") != "true" || r.str("sip_contact") != "sip:"+user+"@192.0.2.10:5062;transport=udp" ||
			r.str("sip_user_agent") != "Linphone/5.2" || r.str("sip_expires") != plivoDateTime(exp) {
			t.Fatalf("registered: %s", r.raw)
		}
		e.clock.Add(11 * time.Minute)
		if r = mustStatus(t, e.do(a, "GET", acctPath(a, "Endpoint/"+id+"/"), nil), 200); r.str("sip_registered") != "false" || r.str("sip_contact") != "" {
			t.Fatalf("expired registration still shown: %s", r.raw)
		}

		// Changes: password (the old one stops matching), alias, application removed.
		mustStatus(t, e.do(a, "POST", acctPath(a, "Endpoint/"+id+"/"), map[string]any{"password": "n3w-password", "alias": "Front desk", "app_id": ""}), 202)
		r = mustStatus(t, e.do(a, "GET", acctPath(a, "Endpoint/"+id+"/"), nil), 200)
		if r.str("password") != account.PasswordMD5("n3w-password") || r.str("alias") != "Front desk" || r.str("application") != "" {
			t.Fatalf("after update: %s", r.raw)
		}
		ep, _ = e.db.EndpointByUsername(ctx, user)
		if ha1, _ := account.OpenEndpointHA1(testRing(t), user, ep.HA1Enc); string(ha1) != account.DigestHA1(user, testSIPDomain, "n3w-password") {
			t.Fatal("the HA1 was not replaced")
		}
		mustStatus(t, e.do(a, "POST", acctPath(a, "Endpoint/"+id+"/"), map[string]any{"app_id": app}), 202)

		// Listing and pagination.
		for _, n := range []string{"bob", "carol"} {
			e.clock.Add(time.Second) // listed oldest first
			mustStatus(t, e.do(a, "POST", acctPath(a, "Endpoint/"), map[string]any{"username": n, "password": "pw-" + n + "-123", "alias": n}), 201)
		}
		r = mustStatus(t, e.do(a, "GET", acctPath(a, "Endpoint/?limit=2&offset=1"), nil), 200)
		meta, objs := r.body["meta"].(map[string]any), r.body["objects"].([]any)
		if meta["total_count"].(float64) != 3 || len(objs) != 2 || meta["previous"] == nil || meta["next"] != nil ||
			!strings.HasPrefix(objs[0].(map[string]any)["username"].(string), "bob") {
			t.Fatalf("list: %s", r.raw)
		}

		// A subaccount's endpoints: its own view, and its main account's (with sub_account).
		s := mustStatus(t, e.do(a, "POST", acctPath(a, "Subaccount/"), map[string]any{"name": "branch", "enabled": true}), 201)
		sub := cred{s.str("auth_id"), s.str("auth_token")}
		sid := mustStatus(t, e.do(sub, "POST", acctPath(sub, "Endpoint/"), map[string]any{"username": "branch1", "password": "branch-pass", "alias": "b"}), 201).str("endpoint_id")
		if r := mustStatus(t, e.do(sub, "GET", acctPath(sub, "Endpoint/"), nil), 200); r.body["meta"].(map[string]any)["total_count"].(float64) != 1 {
			t.Fatalf("subaccount list: %s", r.raw)
		}
		r = mustStatus(t, e.do(a, "GET", acctPath(a, "Endpoint/"+sid+"/"), nil), 200)
		if r.body["sub_account"] != "/v1/Account/"+a.id+"/Subaccount/"+sub.id+"/" {
			t.Fatalf("main account's view of a subaccount endpoint: %s", r.raw)
		}
		// The main account's application is not the subaccount endpoint's to use, nor the reverse.
		subApp := mustStatus(t, e.do(sub, "POST", acctPath(sub, "Application/"), map[string]any{"app_name": "subapp", "answer_url": "https://example.com/s"}), 201).str("app_id")
		mustStatus(t, e.do(a, "POST", acctPath(a, "Endpoint/"+sid+"/"), map[string]any{"app_id": app}), 400)
		mustStatus(t, e.do(a, "POST", acctPath(a, "Endpoint/"+id+"/"), map[string]any{"app_id": subApp}), 400)
		mustStatus(t, e.do(a, "POST", acctPath(a, "Endpoint/"+sid+"/"), map[string]any{"app_id": subApp}), 202)

		mustStatus(t, e.do(a, "DELETE", acctPath(a, "Endpoint/"+id+"/"), nil), 204)
		mustStatus(t, e.do(a, "GET", acctPath(a, "Endpoint/"+id+"/"), nil), 404)
		mustStatus(t, e.do(a, "DELETE", acctPath(a, "Endpoint/"+id+"/"), nil), 404)

		// Audited, with the fields named and the password nowhere.
		r = mustStatus(t, e.do(a, "GET", acctPath(a, "AuditLog/?action=endpoint.update"), nil), 200)
		if n := r.body["meta"].(map[string]any)["total_count"].(float64); n != 5 {
			t.Fatalf("%v endpoint.update entries, want 5: %s", n, r.raw)
		}
		r = mustStatus(t, e.do(a, "GET", acctPath(a, "AuditLog/?action=endpoint.create"), nil), 200)
		if !strings.Contains(r.raw, "password") || !strings.Contains(r.raw, user) {
			t.Fatalf("create entry should name the fields and the username: %s", r.raw)
		}
		mustStatus(t, e.do(a, "GET", acctPath(a, "AuditLog/?action=endpoint.delete"), nil), 200)
		var secrets []string
		for _, p := range []string{"s3cret-zumba", "n3w-password", "pw-bob-123", "pw-carol-123", "branch-pass"} {
			secrets = append(secrets, p, account.PasswordMD5(p))
		}
		secrets = append(secrets, account.DigestHA1(user, testSIPDomain, "s3cret-zumba"), account.DigestHA1(user, testSIPDomain, "n3w-password"))
		assertNoSecretStored(t, e.db, secrets...)
	})
}

func testRing(t *testing.T) *keys.Ring {
	// The harness's KEK (newEnv).
	ring, err := keys.NewRing(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return ring
}

func TestEndpointBadInput(t *testing.T) {
	forEachStore(t, Options{}, func(t *testing.T, e *env) {
		a, b := e.mainAccount("bad-endpoints"), e.mainAccount("other")
		foreignApp := mustStatus(t, e.do(b, "POST", acctPath(b, "Application/"), map[string]any{"app_name": "theirs", "answer_url": "https://example.com/b"}), 201).str("app_id")
		ok := mustStatus(t, e.do(a, "POST", acctPath(a, "Endpoint/"), map[string]any{"username": "deskphone", "password": "desk-pass", "alias": "d"}), 201).str("endpoint_id")
		path := acctPath(a, "Endpoint/")
		cases := []struct {
			name    string
			path    string
			body    map[string]any
			mention string
		}{
			{"short password", path, map[string]any{"username": "alice", "password": "1234", "alias": "a"}, "password"},
			{"long password", path, map[string]any{"username": "alice", "password": strings.Repeat("p", 129), "alias": "a"}, "password"},
			{"control in password", path, map[string]any{"username": "alice", "password": "abc\x00defg", "alias": "a"}, "control"},
			{"password is username", path, map[string]any{"username": "alice", "password": "ALICE", "alias": "a"}, "username"},
			{"digit first", path, map[string]any{"username": "1alice", "password": "secret-1", "alias": "a"}, "username"},
			{"underscore", path, map[string]any{"username": "al_ice", "password": "secret-1", "alias": "a"}, "username"},
			{"sip metacharacters", path, map[string]any{"username": "a@b;x", "password": "secret-1", "alias": "a"}, "username"},
			{"non-ascii letter", path, map[string]any{"username": "álice", "password": "secret-1", "alias": "a"}, "username"},
			{"too long", path, map[string]any{"username": "a" + strings.Repeat("b", 32), "password": "secret-1", "alias": "a"}, "username"},
			{"empty username", path, map[string]any{"username": "", "password": "secret-1", "alias": "a"}, "username"},
			{"no password", path, map[string]any{"username": "alice", "alias": "a"}, "required"},
			{"no alias", path, map[string]any{"username": "alice", "password": "secret-1"}, "required"},
			{"long alias", path, map[string]any{"username": "alice", "password": "secret-1", "alias": strings.Repeat("x", 257)}, "alias"},
			{"foreign app", path, map[string]any{"username": "alice", "password": "secret-1", "alias": "a", "app_id": foreignApp}, "app_id"},
			{"unknown app", path, map[string]any{"username": "alice", "password": "secret-1", "alias": "a", "app_id": "12345"}, "app_id"},
			{"unknown parameter", path, map[string]any{"username": "alice", "password": "secret-1", "alias": "a", "subaccount": "x"}, "unknown parameter"},
			{"update short password", path + ok + "/", map[string]any{"password": "abc"}, "password"},
			{"update password is username", path + ok + "/", map[string]any{"password": "DeskPhone"}, "username"},
			{"update foreign app", path + ok + "/", map[string]any{"app_id": foreignApp}, "app_id"},
			{"update username", path + ok + "/", map[string]any{"username": "other"}, "unknown parameter"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r := mustStatus(t, e.do(a, "POST", c.path, c.body), 400)
				if !strings.Contains(r.str("error"), c.mention) {
					t.Fatalf("error %q does not mention %q", r.str("error"), c.mention)
				}
			})
		}
		// Nothing half-made or half-changed.
		r := mustStatus(t, e.do(a, "GET", path, nil), 200)
		if n := r.body["meta"].(map[string]any)["total_count"].(float64); n != 1 {
			t.Fatalf("%v endpoints after bad requests", n)
		}
		if r := mustStatus(t, e.do(a, "GET", path+ok+"/", nil), 200); r.str("password") != account.PasswordMD5("desk-pass") || r.str("application") != "" {
			t.Fatalf("a refused update changed the endpoint: %s", r.raw)
		}
		// A foreign endpoint is 404 whatever the parameters (no validation oracle).
		mustStatus(t, e.do(b, "POST", acctPath(b, "Endpoint/"+ok+"/"), map[string]any{"password": "x"}), 404)
	})
}
