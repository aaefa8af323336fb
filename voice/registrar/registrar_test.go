package registrar

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/account"
)

// normalize blanks what legitimately differs between two answers: tags, branch, nonce,
// Call-ID, CSeq, the Via's received/rport (the client's port), and the user names.
func normalize(raw []byte, users ...string) string {
	s := string(raw)
	for _, u := range users {
		s = strings.ReplaceAll(s, u, "USER")
	}
	for _, re := range []struct{ re, to string }{
		{`tag=[^;\r\n>]+`, "tag=X"},
		{`branch=[^;\r\n]+`, "branch=X"},
		{`nonce="[^"]*"`, `nonce="X"`},
		{`(?m)^Call-ID: .*\r$`, "Call-ID: X\r"},
		{`(?m)^CSeq: .*\r$`, "CSeq: X\r"},
		{`(?m)^Via: .*\r$`, "Via: X\r"},
	} {
		s = regexp.MustCompile(re.re).ReplaceAllString(s, re.to)
	}
	return s
}

// TestUnknownUserLikeWrongPassword: captured raw over UDP, the answer to an unknown user
// and the answer to a known user with a wrong password are the same bytes once tags,
// branch, nonce, Call-ID, CSeq and Via are blanked, and cost the same look-ups.
func TestUnknownUserLikeWrongPassword(t *testing.T) {
	forEachStore(t, Options{}, func(t *testing.T, e *env) {
		alice := e.mkEndpoint("alice", "right-password")
		ghost := "ghost" + strings.Repeat("7", 12) // same length, no such endpoint
		// A disabled account's endpoint and one stored for another realm answer alike too.
		other := e.mkEndpoint("frozen", "right-password")
		off := false
		dis := account.NewID("MA")
		e.db.CreateAccount(context.Background(), &trunkline.Account{ID: dis, Name: "off", Enabled: true},
			&trunkline.Credential{ID: account.NewID("CR"), TokenMAC: []byte{2}, TokenEnc: []byte{2}})
		e.db.SQL().Exec(e.db.Rebind(`UPDATE endpoints SET account_id = ? WHERE username = ?`), dis, other)
		e.db.UpdateAccount(context.Background(), dis, trunkline.AccountUpdate{Enabled: &off})
		moved := e.mkEndpoint("movedx", "right-password")
		e.db.SQL().Exec(e.db.Rebind(`UPDATE endpoints SET realm = ? WHERE username = ?`), "old.example.com", moved)

		attempt := func(user, password string) (first, second answer, lookups int64) {
			c := newRawClient(t, "127.0.0.1", e.addr)
			first = c.send(request{user: user, expires: "600"})
			before := e.st.lookups.Load()
			second = c.send(request{user: user, expires: "600",
				auth: digest(user, testRealm, password, nonceOf(t, first), "sip:"+e.addr.String(), "00000001")})
			return first, second, e.st.lookups.Load() - before
		}
		_, wrong, lw := attempt(alice, "wrong-password")
		_, unknown, lu := attempt(ghost, "wrong-password")
		_, disabled, ld := attempt(other, "right-password")
		_, realm, lr := attempt(moved, "right-password")
		first, _, _ := attempt(alice, "whatever")
		wantStatus(t, wrong, 401)
		t.Logf("the answer to a wrong password:\n%s", wrong.raw)

		// User names differ in length between some of these: compare the blanked forms.
		want := normalize(wrong.raw, alice)
		for _, c := range []struct {
			name string
			a    answer
			user string
		}{
			{"unknown user", unknown, ghost},
			{"disabled account", disabled, other},
			{"HA1 for another realm", realm, moved},
			{"first challenge", first, alice},
		} {
			if got := normalize(c.a.raw, c.user); got != want {
				t.Errorf("%s differs from a wrong password:\n%s\n---\n%s", c.name, got, want)
			}
		}
		// Byte for byte, the unknown user (same length) differs only where normalize blanks.
		if len(unknown.raw) != len(wrong.raw) {
			t.Errorf("unknown user: %d bytes, wrong password: %d bytes", len(unknown.raw), len(wrong.raw))
		}
		if lw != 1 || lu != 1 || ld != 1 || lr != 1 {
			t.Errorf("look-ups per attempt: wrong %d, unknown %d, disabled %d, other realm %d; want 1 each", lw, lu, ld, lr)
		}
		// The challenge itself.
		wa := wrong.header("WWW-Authenticate")
		if !strings.HasPrefix(wa, `Digest realm="`+testRealm+`", nonce="`) || !strings.HasSuffix(wa, `", algorithm=MD5, qop="auth"`) {
			t.Errorf("challenge %q", wa)
		}
		if wrong.res.Reason != "Unauthorized" {
			t.Errorf("reason %q", wrong.res.Reason)
		}
	})
}

// TestRegisterRaw: a full registration by hand, its expiry clamping, refreshes, queries
// and the ways to unregister, each seen in the store.
func TestRegisterRaw(t *testing.T) {
	forEachStore(t, Options{MinExpires: time.Minute, MaxExpires: time.Hour}, func(t *testing.T, e *env) {
		user := e.mkEndpoint("desk", "desk-password")
		c := newRawClient(t, "127.0.0.1", e.addr)
		local := c.conn.LocalAddr().String()
		now := e.clock.Now()
		check := func(a answer, wantExp int) {
			t.Helper()
			wantStatus(t, a, 200)
			exp := a.header("Expires")
			contact := a.header("Contact")
			if exp != itoa(wantExp) || !strings.Contains(contact, "sip:"+user+"@"+local) || !strings.HasSuffix(contact, ";expires="+itoa(wantExp)) {
				t.Fatalf("Expires %q, Contact %q; want %d", exp, contact, wantExp)
			}
			ep := e.endpoint(user)
			if ep.SIPContact != "sip:"+user+"@"+local || ep.SIPUserAgent != "raw-test/1.0" ||
				!ep.SIPExpiresAt.Equal(now.Add(time.Duration(wantExp)*time.Second).Truncate(time.Microsecond)) || !ep.Registered(now) {
				t.Fatalf("stored %+v", ep)
			}
			got, ok := e.reg.Lookup(user)
			if !ok || got.String() != "sip:"+user+"@"+local {
				t.Fatalf("Lookup %v %v", got, ok)
			}
			b, ok := e.reg.Binding(context.Background(), user)
			if !ok || b.Source != local || b.Transport != "UDP" || b.AccountID != e.owner || b.UserAgent != "raw-test/1.0" {
				t.Fatalf("Binding %+v %v", b, ok)
			}
		}
		check(c.login(request{user: user, expires: "600"}, "desk-password"), 600)
		check(c.login(request{user: user, expires: "5"}, "desk-password"), 60)             // raised to MinExpires
		check(c.login(request{user: user, expires: "99999999999"}, "desk-password"), 3600) // lowered to MaxExpires
		check(c.login(request{user: user}, "desk-password"), 3600)                         // none asked: the default
		// The Contact's expires parameter wins over the header.
		check(c.login(request{user: user, expires: "3000", contact: "<sip:" + user + "@" + local + ">;expires=120"}, "desk-password"), 120)

		// A query (no Contact) lists the binding and changes nothing.
		q := c.login(request{user: user, contact: "-"}, "desk-password")
		wantStatus(t, q, 200)
		if !strings.Contains(q.header("Contact"), user+"@"+local) {
			t.Fatalf("query: %s", q.raw)
		}

		// Bad bindings are refused, after authentication, with a SIP status.
		wantStatus(t, c.login(request{user: user, expires: "soon"}, "desk-password"), 400)
		wantStatus(t, c.login(request{user: user, contact: "*", expires: "60"}, "desk-password"), 400)
		wantStatus(t, c.login(request{user: user, contact: "<tel:+14155550100>"}, "desk-password"), 400)

		// Expires: 0 unregisters.
		wantStatus(t, c.login(request{user: user, expires: "0"}, "desk-password"), 200)
		if ep := e.endpoint(user); ep.SIPContact != "" || ep.SIPExpiresAt != nil || ep.Registered(now) {
			t.Fatalf("after Expires: 0: %+v", ep)
		}
		if _, ok := e.reg.Lookup(user); ok {
			t.Fatal("Lookup after unregister")
		}
		// And so does "Contact: *" with Expires: 0.
		check(c.login(request{user: user, expires: "600"}, "desk-password"), 600)
		a := c.login(request{user: user, contact: "*", expires: "0"}, "desk-password")
		wantStatus(t, a, 200)
		if a.header("Contact") != "" || e.endpoint(user).Registered(now) {
			t.Fatalf("after Contact *: %s", a.raw)
		}

		// A registration expires by itself, in the store and in Lookup.
		check(c.login(request{user: user, expires: "60"}, "desk-password"), 60)
		e.clock.Add(61 * time.Second)
		if _, ok := e.reg.Lookup(user); ok {
			t.Fatal("Lookup of an expired registration")
		}
		if e.endpoint(user).Registered(e.clock.Now()) {
			t.Fatal("expired registration still live in the store")
		}
		// A deleted endpoint is gone from Lookup at once, whatever the memory holds.
		now = e.clock.Now()
		check(c.login(request{user: user, expires: "600"}, "desk-password"), 600)
		if err := e.db.DeleteEndpoint(context.Background(), trunkline.Scope{AccountID: e.owner}, e.endpoint(user).ID); err != nil {
			t.Fatal(err)
		}
		if _, ok := e.reg.Lookup(user); ok {
			t.Fatal("Lookup of a deleted endpoint")
		}
	})
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestNonces: stale, forged and replayed nonces, the digest user against To, RFC 2069.
func TestNonces(t *testing.T) {
	forEachStore(t, Options{}, func(t *testing.T, e *env) {
		user := e.mkEndpoint("nonce", "nonce-password")
		c := newRawClient(t, "127.0.0.1", e.addr)
		uri := "sip:" + e.addr.String()
		n := nonceOf(t, c.send(request{user: user}))

		// qop=auth: nc 1 then 2 work; nc 2 again is a replay (stale, not a failure).
		wantStatus(t, c.send(request{user: user, auth: digest(user, testRealm, "nonce-password", n, uri, "00000001")}), 200)
		wantStatus(t, c.send(request{user: user, auth: digest(user, testRealm, "nonce-password", n, uri, "00000002")}), 200)
		replay := c.send(request{user: user, auth: digest(user, testRealm, "nonce-password", n, uri, "00000002")})
		wantStatus(t, replay, 401)
		if !strings.HasSuffix(replay.header("WWW-Authenticate"), ", stale=true") {
			t.Fatalf("replay: %s", replay.raw)
		}

		// RFC 2069 (no qop): accepted once per nonce.
		n2 := nonceOf(t, c.send(request{user: user}))
		wantStatus(t, c.send(request{user: user, auth: digest(user, testRealm, "nonce-password", n2, uri, "")}), 200)
		wantStatus(t, c.send(request{user: user, auth: digest(user, testRealm, "nonce-password", n2, uri, "")}), 401)

		// An expired nonce: stale=true, the client retries without asking its user.
		n3 := nonceOf(t, c.send(request{user: user}))
		e.clock.Add(5*time.Minute + time.Second)
		stale := c.send(request{user: user, auth: digest(user, testRealm, "nonce-password", n3, uri, "00000001")})
		if stale.res.StatusCode != 401 || !strings.HasSuffix(stale.header("WWW-Authenticate"), ", stale=true") {
			t.Fatalf("expired nonce: %s", stale.raw)
		}
		// A nonce we did not make (or altered) gets a plain new challenge.
		forged := n3[:len(n3)-2] + "AA"
		if forged == n3 {
			forged = n3[:len(n3)-2] + "BB"
		}
		a := c.send(request{user: user, auth: digest(user, testRealm, "nonce-password", forged, uri, "00000001")})
		if a.res.StatusCode != 401 || strings.Contains(a.header("WWW-Authenticate"), "stale") {
			t.Fatalf("forged nonce: %s", a.raw)
		}
		// Credentials for another realm: a new challenge for ours.
		n4 := nonceOf(t, a)
		wantStatus(t, c.send(request{user: user, auth: strings.Replace(digest(user, testRealm, "nonce-password", n4, uri, "00000001"),
			`realm="`+testRealm+`"`, `realm="elsewhere"`, 1)}), 401)

		// The digest user must be the To user: no registering someone else's address.
		other := e.mkEndpoint("other", "other-password")
		n5 := nonceOf(t, c.send(request{user: other}))
		a = c.send(request{user: other, auth: digest(user, testRealm, "nonce-password", n5, uri, "00000001")})
		wantStatus(t, a, 403)
		if e.endpoint(other).SIPContact != "" {
			t.Fatal("registered another user's address")
		}
		// Malformed credentials: 400.
		wantStatus(t, c.send(request{user: user, auth: `Digest username="` + user + `", realm="` + testRealm + `", nonce="x`}), 400)
		wantStatus(t, c.send(request{user: user, auth: `Digest username="` + user + `", realm="` + testRealm + `", nonce="x", uri="sip:x", response="short"`}), 400)

		// None of these counted as a failure: the right password still works at once.
		wantStatus(t, c.login(request{user: user}, "nonce-password"), 200)
	})
}

// TestThrottling: wrong passwords from one source lock that source out for that user, and
// then for every user (403 even with the right password, and nothing verified); the
// user from another source is unaffected (a new phone as much as one that registered
// before), a success does not reset the source's count for other users, and the lockout
// ends.
func TestThrottling(t *testing.T) {
	o := Options{FailsPerUser: 3, FailsPerSource: 5, FailWindow: time.Minute, MaxLockout: 10 * time.Minute}
	forEachStore(t, o, func(t *testing.T, e *env) {
		alice := e.mkEndpoint("alice", "alice-password")
		bob := e.mkEndpoint("bob", "bob-password")
		eve := e.mkEndpoint("eve", "eve-password")

		// Alice's own phone registered before the attack.
		phone := newRawClient(t, "127.0.0.4", e.addr)
		wantStatus(t, phone.login(request{user: alice}, "alice-password"), 200)

		attacker := newRawClient(t, "127.0.0.1", e.addr)
		for i := range 3 {
			wantStatus(t, attacker.login(request{user: alice}, "guess-"+itoa(i)), 401)
		}
		// Alice is locked: the right password from the attacker's address is refused,
		// before any challenge, with nothing looked up.
		before := e.st.lookups.Load()
		a := attacker.send(request{user: alice})
		wantStatus(t, a, 403)
		if a.res.Reason != "Forbidden" || a.header("Retry-After") != "" || a.header("Warning") != "" || a.header("WWW-Authenticate") != "" {
			t.Fatalf("the refusal says more than Forbidden:\n%s", a.raw)
		}
		first := newRawClient(t, "127.0.0.1", e.addr).send(request{user: alice})
		wantStatus(t, first, 403)
		if e.st.lookups.Load() != before {
			t.Fatal("a refused attempt was verified")
		}
		// The user name is not locked: a new phone at an address that has not been
		// failing registers alice with the right password, and so does the phone that
		// registered her before, and bob from elsewhere.
		wantStatus(t, newRawClient(t, "127.0.0.3", e.addr).login(request{user: alice}, "alice-password"), 200)
		wantStatus(t, phone.login(request{user: alice}, "alice-password"), 200)
		wantStatus(t, newRawClient(t, "127.0.0.2", e.addr).login(request{user: bob}, "bob-password"), 200)

		// Unknown users count as much as known ones: 2 more failures lock the source.
		wantStatus(t, attacker.login(request{user: "nobody000000000001"}, "x-password"), 401)
		wantStatus(t, attacker.login(request{user: "nobody000000000002"}, "x-password"), 401)
		wantStatus(t, attacker.login(request{user: bob}, "bob-password"), 403)

		// A success does not reset a source's count for other users.
		mixed := newRawClient(t, "127.0.0.5", e.addr)
		wantStatus(t, mixed.login(request{user: "nobody000000000003"}, "x-password"), 401)
		wantStatus(t, mixed.login(request{user: "nobody000000000004"}, "x-password"), 401)
		wantStatus(t, mixed.login(request{user: eve}, "eve-password"), 200)
		wantStatus(t, mixed.login(request{user: "nobody000000000005"}, "x-password"), 401)
		wantStatus(t, mixed.login(request{user: "nobody000000000006"}, "x-password"), 401)
		wantStatus(t, mixed.login(request{user: "nobody000000000007"}, "x-password"), 401)
		wantStatus(t, mixed.login(request{user: bob}, "bob-password"), 403)
		// Its own user, registered from there, goes on.
		wantStatus(t, mixed.login(request{user: eve}, "eve-password"), 200)

		// A trusted phone's own failures are limited too.
		for i := range 3 {
			wantStatus(t, phone.login(request{user: alice}, "typo-"+itoa(i)), 401)
		}
		wantStatus(t, phone.login(request{user: alice}, "alice-password"), 403)

		// The lockout ends.
		e.clock.Add(2 * time.Minute)
		wantStatus(t, attacker.login(request{user: alice}, "alice-password"), 200)
		wantStatus(t, phone.login(request{user: alice}, "alice-password"), 200)

		// Nothing secret in the logs, which say what happened.
		logs := e.logs.String()
		for _, s := range []string{"alice-password", "bob-password", "guess-0", md5s(alice + ":" + testRealm + ":alice-password"), "response="} {
			if strings.Contains(logs, s) {
				t.Fatalf("the log holds %q:\n%s", s, logs)
			}
		}
		if !strings.Contains(logs, "locked out") || !strings.Contains(logs, "endpoint registered") {
			t.Fatalf("log:\n%s", logs)
		}
	})
}
