package registrar

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/diago"
	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/account"
	"github.com/trunkline/trunkline/internal/peer"
)

// callee is the number the tests' endpoints call: the server refuses every admitted call
// with 486, so it needs to exist nowhere.
const callee = "14155550100"

// call is what a test wants in an INVITE from an endpoint; zero values give a plain one
// from user to callee.
type call struct {
	user    string // From user
	to      string // the number called; "" for callee
	auth    string // credentials; "" for none
	authHdr string // their header; "" for Proxy-Authorization
}

func (c *rawClient) ruri(to string) string {
	if to == "" {
		to = callee
	}
	return "sip:" + to + "@" + c.server.String()
}

// invite sends an INVITE (with an SDP offer), reads its final answer and ACKs it (every
// answer here is a refusal: 4xx).
func (c *rawClient) invite(q call) answer {
	c.t.Helper()
	if q.authHdr == "" {
		q.authHdr = "Proxy-Authorization"
	}
	c.cseq++
	local := c.conn.LocalAddr().(*net.UDPAddr)
	ruri := c.ruri(q.to)
	branch := "z9hG4bK" + randHex(8)
	from := fmt.Sprintf("<sip:%s@%s>;tag=%s", q.user, c.server.IP, randHex(6))
	sdp := fmt.Sprintf("v=0\r\no=- 1 1 IN IP4 %[1]s\r\ns=-\r\nc=IN IP4 %[1]s\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n", local.IP)
	var b strings.Builder
	fmt.Fprintf(&b, "INVITE %s SIP/2.0\r\n", ruri)
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP %s;branch=%s;rport\r\n", local, branch)
	fmt.Fprintf(&b, "Max-Forwards: 70\r\n")
	fmt.Fprintf(&b, "From: %s\r\n", from)
	fmt.Fprintf(&b, "To: <%s>\r\n", ruri)
	fmt.Fprintf(&b, "Call-ID: %s\r\n", c.callID)
	fmt.Fprintf(&b, "CSeq: %d INVITE\r\n", c.cseq)
	fmt.Fprintf(&b, "Contact: <sip:%s@%s>\r\n", q.user, local)
	if q.auth != "" {
		fmt.Fprintf(&b, "%s: %s\r\n", q.authHdr, q.auth)
	}
	fmt.Fprintf(&b, "User-Agent: raw-test/1.0\r\nContent-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s", len(sdp), sdp)
	if _, err := c.conn.WriteToUDP([]byte(b.String()), c.server); err != nil {
		c.t.Fatal(err)
	}

	var a answer
	for i := 0; ; i++ {
		if i == 10 {
			c.t.Fatal("no final answer among 10 messages")
		}
		a = c.read()
		if via := a.res.Via(); via == nil || via.Params.GetOr("branch", "") != branch || a.res.IsProvisional() {
			continue // a provisional answer, or a retransmission of an earlier one
		}
		break
	}
	var ack strings.Builder
	fmt.Fprintf(&ack, "ACK %s SIP/2.0\r\n", ruri)
	fmt.Fprintf(&ack, "Via: SIP/2.0/UDP %s;branch=%s;rport\r\n", local, branch)
	fmt.Fprintf(&ack, "Max-Forwards: 70\r\nFrom: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %d ACK\r\nContent-Length: 0\r\n\r\n",
		from, a.header("To"), c.callID, c.cseq)
	if _, err := c.conn.WriteToUDP([]byte(ack.String()), c.server); err != nil {
		c.t.Fatal(err)
	}
	return a
}

// dial runs the two legs of a call: INVITE, 407, INVITE with credentials for password.
// q.auth is ignored.
func (c *rawClient) dial(q call, password string) answer {
	c.t.Helper()
	q.auth = ""
	first := c.invite(q)
	if first.res.StatusCode != 407 {
		return first
	}
	q.auth = digestFor("INVITE", q.user, testRealm, password, proxyNonceOf(c.t, first), c.ruri(q.to), "00000001")
	return c.invite(q)
}

func proxyNonceOf(t *testing.T, a answer) string {
	t.Helper()
	m := challengeRE.FindStringSubmatch(a.header("Proxy-Authenticate"))
	if a.res.StatusCode != 407 || m == nil {
		t.Fatalf("not a proxy challenge:\n%s", a.raw)
	}
	return m[1]
}

// wantAdmitted checks that the test server admitted the call as user's (its 486 with
// X-Endpoint), and returns the other fields of X-Endpoint: endpoint ID, account ID,
// alias, app ID.
func wantAdmitted(t *testing.T, a answer, user string) []string {
	t.Helper()
	wantStatus(t, a, 486)
	f := strings.Split(a.header("X-Endpoint"), " ")
	if len(f) != 5 || f[0] != user {
		t.Fatalf("admitted as %q, want %s:\n%s", a.header("X-Endpoint"), user, a.raw)
	}
	return f[1:]
}

// TestInviteRaw: a call from an endpoint is challenged with 407 and admitted with the
// right credentials (Proxy-Authorization or Authorization, qop=auth or RFC 2069) as that
// endpoint, with its account and application; replays, a digest for another method, URI
// or realm, and a From naming another endpoint are not admitted.
func TestInviteRaw(t *testing.T) {
	forEachStore(t, Options{}, func(t *testing.T, e *env) {
		ctx := context.Background()
		alice := e.mkEndpoint("alice", "alice-password")
		bob := e.mkEndpoint("bob", "bob-password")
		app := &trunkline.Application{ID: account.NewNumericID(17), AccountID: e.owner, Name: "phones", AnswerURL: "http://127.0.0.1:9/answer",
			AnswerMethod: "POST", HangupMethod: "POST", FallbackMethod: "POST", MessageMethod: "POST", Enabled: true}
		if err := e.db.CreateApplication(ctx, app); err != nil {
			t.Fatal(err)
		}
		ep := e.endpoint(alice)
		if _, err := e.db.UpdateEndpoint(ctx, trunkline.Scope{AccountID: e.owner}, ep.ID, func(x *trunkline.Endpoint) error {
			x.AppID = app.ID
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		c := newRawClient(t, "127.0.0.1", e.addr)
		ruri := c.ruri("")

		// No credentials: the challenge, a 407 with Proxy-Authenticate.
		first := c.invite(call{user: alice})
		wantStatus(t, first, 407)
		pa := first.header("Proxy-Authenticate")
		if first.res.Reason != "Proxy Authentication Required" || first.header("WWW-Authenticate") != "" ||
			!strings.HasPrefix(pa, `Digest realm="`+testRealm+`", nonce="`) || !strings.HasSuffix(pa, `", algorithm=MD5, qop="auth"`) {
			t.Fatalf("challenge:\n%s", first.raw)
		}
		t.Logf("the challenge:\n%s", first.raw)
		n := proxyNonceOf(t, first)

		// The right credentials: admitted as alice, with her account and application.
		got := wantAdmitted(t, c.invite(call{user: alice, auth: digestFor("INVITE", alice, testRealm, "alice-password", n, ruri, "00000001")}), alice)
		if got[0] != ep.ID || got[1] != e.owner || got[2] != "alice" || got[3] != app.ID {
			t.Fatalf("X-Endpoint fields %q; want %s %s alice %s", got, ep.ID, e.owner, app.ID)
		}
		// The same nonce, nc 2: a phone authenticating ahead.
		wantAdmitted(t, c.invite(call{user: alice, auth: digestFor("INVITE", alice, testRealm, "alice-password", n, ruri, "00000002")}), alice)
		// nc 2 again: a replay, answered stale=true.
		replay := c.invite(call{user: alice, auth: digestFor("INVITE", alice, testRealm, "alice-password", n, ruri, "00000002")})
		wantStatus(t, replay, 407)
		if !strings.HasSuffix(replay.header("Proxy-Authenticate"), ", stale=true") {
			t.Fatalf("replay:\n%s", replay.raw)
		}
		// Credentials in Authorization, as for a 401, work too; and RFC 2069 (no qop).
		n = proxyNonceOf(t, c.invite(call{user: bob}))
		wantAdmitted(t, c.invite(call{user: bob, authHdr: "Authorization", auth: digestFor("INVITE", bob, testRealm, "bob-password", n, ruri, "")}), bob)
		// A nonce from REGISTER's challenge is as good.
		n = nonceOf(t, c.send(request{user: bob}))
		wantAdmitted(t, c.invite(call{user: bob, auth: digestFor("INVITE", bob, testRealm, "bob-password", n, ruri, "00000001")}), bob)

		// From may hold what sipgo and diago put there (their UA name), a number or
		// "anonymous": the caller is the digest user.
		for _, from := range []string{"sipgo", "diago-phone", "14155550199", "anonymous"} {
			n = proxyNonceOf(t, c.invite(call{user: from}))
			wantAdmitted(t, c.invite(call{user: from, auth: digestFor("INVITE", alice, testRealm, "alice-password", n, ruri, "00000001")}), alice)
		}
		// ... but not another endpoint's user name, existing or not: 403, before verifying.
		for _, from := range []string{bob, "ghost" + strings.Repeat("5", 12)} {
			n = proxyNonceOf(t, c.invite(call{user: from}))
			before := e.st.lookups.Load()
			a := c.invite(call{user: from, auth: digestFor("INVITE", alice, testRealm, "alice-password", n, ruri, "00000001")})
			wantStatus(t, a, 403)
			if e.st.lookups.Load() != before || a.header("Proxy-Authenticate") != "" {
				t.Fatalf("From %s: verified, or said more than Forbidden:\n%s", from, a.raw)
			}
		}

		// A digest for another Request-URI: 400, nothing verified.
		n = proxyNonceOf(t, c.invite(call{user: alice}))
		wantStatus(t, c.invite(call{user: alice, auth: digestFor("INVITE", alice, testRealm, "alice-password", n, c.ruri("14155550111"), "00000001")}), 400)
		// The Request-URI as another client writes it (parameters, default port made
		// explicit) is the same URI.
		wantAdmitted(t, c.invite(call{user: alice, auth: digestFor("INVITE", alice, testRealm, "alice-password", n, ruri+";transport=udp", "00000001")}), alice)
		// A digest computed for REGISTER does not admit an INVITE.
		n = proxyNonceOf(t, c.invite(call{user: alice}))
		wantStatus(t, c.invite(call{user: alice, auth: digestFor("REGISTER", alice, testRealm, "alice-password", n, ruri, "00000001")}), 407)
		// Another realm's credentials: a challenge for ours.
		wantStatus(t, c.invite(call{user: alice, auth: strings.Replace(digestFor("INVITE", alice, testRealm, "alice-password", n, ruri, "00000002"),
			`realm="`+testRealm+`"`, `realm="elsewhere"`, 1)}), 407)
		// An expired nonce: stale=true.
		n = proxyNonceOf(t, c.invite(call{user: alice}))
		e.clock.Add(5*time.Minute + time.Second)
		stale := c.invite(call{user: alice, auth: digestFor("INVITE", alice, testRealm, "alice-password", n, ruri, "00000001")})
		if stale.res.StatusCode != 407 || !strings.HasSuffix(stale.header("Proxy-Authenticate"), ", stale=true") {
			t.Fatalf("expired nonce:\n%s", stale.raw)
		}
		// Malformed credentials: 400.
		wantStatus(t, c.invite(call{user: alice, auth: `Digest username="` + alice + `", realm="` + testRealm + `", nonce="x`}), 400)
		wantStatus(t, c.invite(call{user: alice, auth: `Digest username="` + alice + `", realm="` + testRealm + `", nonce="x", uri="sip:x", response="short"`}), 400)

		// A deleted endpoint is not admitted.
		n = proxyNonceOf(t, c.invite(call{user: bob}))
		if err := e.db.DeleteEndpoint(ctx, trunkline.Scope{AccountID: e.owner}, e.endpoint(bob).ID); err != nil {
			t.Fatal(err)
		}
		wantStatus(t, c.invite(call{user: bob, auth: digestFor("INVITE", bob, testRealm, "bob-password", n, ruri, "00000001")}), 407)
	})
}

// TestInviteUnknownUserLikeWrongPassword: the 407 to a call from an unknown user and the
// 407 to a known user with a wrong password (and a disabled account, and the first
// challenge) are the same bytes once tags, branch, nonce, Call-ID, CSeq and Via are
// blanked, and cost the same look-ups.
func TestInviteUnknownUserLikeWrongPassword(t *testing.T) {
	forEachStore(t, Options{}, func(t *testing.T, e *env) {
		alice := e.mkEndpoint("alice", "right-password")
		ghost := "ghost" + strings.Repeat("7", 12) // same length, no such endpoint
		frozen := e.mkEndpoint("frozen", "right-password")
		off := false
		dis := account.NewID("MA")
		e.db.CreateAccount(context.Background(), &trunkline.Account{ID: dis, Name: "off", Enabled: true},
			&trunkline.Credential{ID: account.NewID("CR"), TokenMAC: []byte{2}, TokenEnc: []byte{2}})
		e.db.SQL().Exec(e.db.Rebind(`UPDATE endpoints SET account_id = ? WHERE username = ?`), dis, frozen)
		e.db.UpdateAccount(context.Background(), dis, trunkline.AccountUpdate{Enabled: &off})

		attempt := func(user, password string) (first, second answer, lookups int64) {
			c := newRawClient(t, "127.0.0.1", e.addr)
			first = c.invite(call{user: user})
			before := e.st.lookups.Load()
			second = c.invite(call{user: user, auth: digestFor("INVITE", user, testRealm, password, proxyNonceOf(t, first), c.ruri(""), "00000001")})
			return first, second, e.st.lookups.Load() - before
		}
		_, wrong, lw := attempt(alice, "wrong-password")
		_, unknown, lu := attempt(ghost, "wrong-password")
		_, disabled, ld := attempt(frozen, "right-password")
		first, _, _ := attempt(alice, "whatever")
		wantStatus(t, wrong, 407)
		t.Logf("the answer to a wrong password:\n%s", wrong.raw)

		want := normalize(wrong.raw, alice)
		for _, c := range []struct {
			name string
			a    answer
			user string
		}{
			{"unknown user", unknown, ghost},
			{"disabled account", disabled, frozen},
			{"first challenge", first, alice},
		} {
			if got := normalize(c.a.raw, c.user); got != want {
				t.Errorf("%s differs from a wrong password:\n%s\n---\n%s", c.name, got, want)
			}
		}
		if len(unknown.raw) != len(wrong.raw) {
			t.Errorf("unknown user: %d bytes, wrong password: %d bytes", len(unknown.raw), len(wrong.raw))
		}
		if lw != 1 || lu != 1 || ld != 1 {
			t.Errorf("look-ups per attempt: wrong %d, unknown %d, disabled %d; want 1 each", lw, lu, ld)
		}
	})
}

// TestInviteThrottling: calls share REGISTER's throttles. Calls without credentials are
// challenged and count for nothing; wrong passwords by INVITE lock the guessing address
// out of REGISTER and INVITE for that user alike (403, nothing verified), and wrong
// passwords by REGISTER lock its calls out; the user from other addresses goes on (a
// new phone, and a source that authenticated the user before); the lockout ends.
func TestInviteThrottling(t *testing.T) {
	o := Options{FailsPerUser: 3, FailsPerSource: 5, FailWindow: time.Minute, MaxLockout: 10 * time.Minute}
	forEachStore(t, o, func(t *testing.T, e *env) {
		alice := e.mkEndpoint("alice", "alice-password")
		bob := e.mkEndpoint("bob", "bob-password")

		// Alice's phone registered before the attack.
		phone := newRawClient(t, "127.0.0.4", e.addr)
		wantStatus(t, phone.login(request{user: alice}, "alice-password"), 200)

		// Many calls without credentials, more than either limit: each is challenged,
		// nothing is verified or counted, and the right password then works.
		quiet := newRawClient(t, "127.0.0.6", e.addr)
		before := e.st.lookups.Load()
		for range 8 {
			wantStatus(t, quiet.invite(call{user: alice}), 407)
		}
		if e.st.lookups.Load() != before {
			t.Fatal("a call without credentials was verified")
		}
		wantAdmitted(t, quiet.dial(call{user: alice}, "alice-password"), alice)

		// Three wrong passwords by INVITE lock alice out.
		attacker := newRawClient(t, "127.0.0.1", e.addr)
		for i := range 3 {
			wantStatus(t, attacker.dial(call{user: alice}, "guess-"+itoa(i)), 407)
		}
		before = e.st.lookups.Load()
		a := attacker.invite(call{user: alice})
		wantStatus(t, a, 403)
		if a.res.Reason != "Forbidden" || a.header("Proxy-Authenticate") != "" || a.header("Retry-After") != "" || a.header("Warning") != "" {
			t.Fatalf("the refusal says more than Forbidden:\n%s", a.raw)
		}
		// The right password from the attacker's address is refused unverified, also by
		// REGISTER.
		wantStatus(t, attacker.login(request{user: alice}, "alice-password"), 403)
		if e.st.lookups.Load() != before {
			t.Fatal("a refused attempt was verified")
		}
		// A new phone elsewhere registers alice and calls as her.
		elsewhere := newRawClient(t, "127.0.0.3", e.addr)
		wantStatus(t, elsewhere.login(request{user: alice}, "alice-password"), 200)
		wantAdmitted(t, elsewhere.dial(call{user: alice}, "alice-password"), alice)
		// Her registered phone goes on calling and registering, and so does the source
		// that called as her before.
		wantAdmitted(t, phone.dial(call{user: alice}, "alice-password"), alice)
		wantStatus(t, phone.login(request{user: alice}, "alice-password"), 200)
		wantAdmitted(t, quiet.dial(call{user: alice}, "alice-password"), alice)

		// Two more failures by INVITE, unknown users, make five for the attacker's
		// address: locked out of REGISTER for bob too.
		wantStatus(t, attacker.dial(call{user: "nobody000000000001"}, "x-password"), 407)
		wantStatus(t, attacker.dial(call{user: "nobody000000000002"}, "x-password"), 407)
		wantStatus(t, attacker.login(request{user: bob}, "bob-password"), 403)
		wantStatus(t, attacker.dial(call{user: bob}, "bob-password"), 403)

		// And the other way round: three wrong passwords by REGISTER lock the guesser's
		// calls as bob, not bob's phone's.
		guesser := newRawClient(t, "127.0.0.7", e.addr)
		for i := range 3 {
			wantStatus(t, guesser.login(request{user: bob}, "guess-"+itoa(i)), 401)
		}
		wantStatus(t, guesser.dial(call{user: bob}, "bob-password"), 403)
		bobPhone := newRawClient(t, "127.0.0.8", e.addr)
		wantAdmitted(t, bobPhone.dial(call{user: bob}, "bob-password"), bob)

		// The lockouts end.
		e.clock.Add(2 * time.Minute)
		wantAdmitted(t, attacker.dial(call{user: alice}, "alice-password"), alice)
		wantAdmitted(t, bobPhone.dial(call{user: bob}, "bob-password"), bob)

		logs := e.logs.String()
		for _, s := range []string{"alice-password", "bob-password", "guess-0", md5s(alice + ":" + testRealm + ":alice-password"), "response="} {
			if strings.Contains(logs, s) {
				t.Fatalf("the log holds %q:\n%s", s, logs)
			}
		}
		if !strings.Contains(logs, "locked out") || !strings.Contains(logs, "method=INVITE") {
			t.Fatalf("log:\n%s", logs)
		}
	})
}

// sippCall runs uac_auth_invite.xml (refused=false) or uac_auth_invite_refused.xml from
// localIP, one call, and returns the message trace and the status of the last response
// SIPp got.
func sippCall(t *testing.T, server *net.UDPAddr, localIP, user, password string, refused bool) (string, int) {
	t.Helper()
	peer.SIPp(t)
	o := peer.SIPpOptions{Remote: server.String(), LocalIP: localIP, Service: callee, Calls: 1, Timeout: 20 * time.Second,
		RecvTimeout: 5 * time.Second, TraceMessages: true, Keys: map[string]string{"user": user},
		// SIPp's digest uri is sip:remote_ip:remote_port unless told the Request-URI.
		Args: []string{"-au", user, "-ap", password, "-auth_uri", callee + "@" + server.String()}}
	if refused {
		o.Scenario = peer.SIPpScenario(t, "uac_auth_invite_refused.xml")
	} else {
		o.Scenario = peer.SIPpScenario(t, "uac_auth_invite.xml")
	}
	res, err := peer.RunSIPp(ctxFor(t, 30*time.Second), t, o)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(res.MessageFile)
	if err != nil {
		t.Fatal(err)
	}
	msgs := string(b)
	last := 0
	for _, m := range regexp.MustCompile(`(?m)^SIP/2\.0 (\d{3}) `).FindAllStringSubmatch(msgs, -1) {
		last, _ = strconv.Atoi(m[1])
	}
	if res.ExitCode != 0 || res.Successful != 1 {
		t.Fatalf("SIPp: %s\n%s", res, msgs)
	}
	return msgs, last
}

// TestSIPpInvite: SIPp calls as an endpoint with its own digest implementation (a 407,
// Proxy-Authorization) and is admitted as that endpoint; a wrong password and an unknown
// user get 407 again; after too many failures the right password gets 403 from the
// failing address, for calls and registrations alike, and is admitted from another.
func TestSIPpInvite(t *testing.T) {
	o := Options{FailsPerUser: 3, FailsPerSource: 10, FailWindow: time.Minute, MaxLockout: 10 * time.Minute}
	forEachStore(t, o, func(t *testing.T, e *env) {
		alice := e.mkEndpoint("alice", "alice-Pass-1")

		msgs, last := sippCall(t, e.addr, "127.0.0.1", alice, "alice-Pass-1", false)
		m := regexp.MustCompile(`(?m)^Proxy-Authorization: (Digest .*)$`).FindStringSubmatch(msgs)
		if m == nil || last != 486 || !strings.Contains(msgs, "X-Endpoint: "+alice+" "+e.endpoint(alice).ID+" ") {
			t.Fatalf("SIPp's call was not admitted as %s (last answer %d):\n%s", alice, last, msgs)
		}
		t.Logf("SIPp's credentials: %s", m[1])

		if _, st := sippCall(t, e.addr, "127.0.0.1", alice, "wrong-pass", true); st != 407 {
			t.Fatalf("wrong password: last answer %d, want 407", st)
		}
		if _, st := sippCall(t, e.addr, "127.0.0.1", "ghost000000000000", "alice-Pass-1", true); st != 407 {
			t.Fatalf("unknown user: last answer %d, want 407", st)
		}
		// Two more wrong passwords make three for alice from 127.0.0.1: that address is
		// locked out for her, calls and registrations alike.
		for range 2 {
			if _, st := sippCall(t, e.addr, "127.0.0.1", alice, "wrong-pass", true); st != 407 {
				t.Fatalf("wrong password: last answer %d, want 407", st)
			}
		}
		if _, st := sippCall(t, e.addr, "127.0.0.1", alice, "alice-Pass-1", true); st != 403 {
			t.Fatalf("locked out with the right password: last answer %d, want 403", st)
		}
		if _, st := sippRegister(t, e.addr, "127.0.0.1", alice, "alice-Pass-1", true); st != 403 {
			t.Fatalf("REGISTER while locked out by failed calls: last answer %d, want 403", st)
		}
		// Another address, with the right password, calls and registers as alice.
		sippCall(t, e.addr, "127.0.0.2", alice, "alice-Pass-1", false)
		sippRegister(t, e.addr, "127.0.0.2", alice, "alice-Pass-1", false)
		e.clock.Add(2 * time.Minute)
		sippCall(t, e.addr, "127.0.0.1", alice, "alice-Pass-1", false)
	})
}

// TestDiagoInvite: diago (sipgo's client digest) answers the 407 by itself and is
// admitted as the endpoint whose credentials it holds, whether its From carries its UA
// name (its default) or the endpoint's user name; a wrong password fails on 407, and a
// From naming another endpoint gets 403.
func TestDiagoInvite(t *testing.T) {
	forEachStore(t, Options{}, func(t *testing.T, e *env) {
		user := e.mkEndpoint("phone", "phone-Pass-9")
		other := e.mkEndpoint("desk", "desk-Pass-9")
		ua, err := sipgo.NewUA(sipgo.WithUserAgent("diago-phone"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ua.Close() })
		dg := diago.NewDiago(ua, diago.WithTransport(diago.Transport{Transport: "udp", BindHost: "127.0.0.1", BindPort: 0}))
		target := sip.Uri{Scheme: "sip", User: callee, Host: "127.0.0.1", Port: e.addr.Port}

		// invite returns the final answer diago got (every one here is a refusal).
		invite := func(password string, fromUser string) *sip.Response {
			t.Helper()
			opts := diago.InviteOptions{Username: user, Password: password}
			if fromUser != "" {
				opts.Headers = []sip.Header{&sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: fromUser, Host: "127.0.0.1"}, Params: sip.NewParams()}}
			}
			d, _, err := dg.Invite(ctxFor(t, 10*time.Second), target, opts)
			if err == nil {
				d.Close()
				t.Fatal("the test server answered a call")
			}
			var de *sipgo.ErrDialogResponse
			if !errors.As(err, &de) {
				t.Fatalf("invite: %v", err)
			}
			return de.Res
		}
		admitted := func(res *sip.Response) {
			t.Helper()
			h := res.GetHeader("X-Endpoint")
			if res.StatusCode != 486 || h == nil || !strings.HasPrefix(h.Value(), user+" ") {
				t.Fatalf("not admitted as %s: %s", user, res.Short())
			}
		}
		admitted(invite("phone-Pass-9", ""))   // From: "diago-phone"
		admitted(invite("phone-Pass-9", user)) // From: the endpoint, as a phone sends it
		if res := invite("nope-nope", ""); res.StatusCode != 407 {
			t.Fatalf("wrong password: %s", res.Short())
		}
		if res := invite("phone-Pass-9", other); res.StatusCode != 403 {
			t.Fatalf("From another endpoint: %s", res.Short())
		}
	})
}
