package registrar

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/trunkline/trunkline/bus/bustest"
	"github.com/trunkline/trunkline/store"
	"github.com/trunkline/trunkline/store/storetest"
)

// Two nodes (two registrars on one store and KEK, each behind its own SIP socket,
// sharing nonce uses over a real two-server NATS cluster): a nonce used on one node
// cannot be replayed on the other, whichever node issued it; a nonce whose issuer no
// longer answers is stale (the client takes a new one); without a bus another
// registrar's nonces are stale too.
func TestNoncesAcrossNodes(t *testing.T) {
	db := storetestFirst(t)
	ea := newEnv(t, db, Options{})
	regB := New(Options{Store: ea.st, Ring: ea.ring, Now: ea.clock.Now, Realm: testRealm, Logger: slog.New(slog.DiscardHandler)})
	addrB := serveSIP(t, regB)
	nodes := bustest.Cluster(t, 2)
	busA, busB := nodes[0], nodes[1]
	if err := ea.reg.ShareNonces(busA); err != nil {
		t.Fatal(err)
	}
	if err := regB.ShareNonces(busB); err != nil {
		t.Fatal(err)
	}
	bustest.WaitResponder(t, busB, nonceSubject(ea.reg.issuer))
	bustest.WaitResponder(t, busA, nonceSubject(regB.issuer))

	user := ea.mkEndpoint("twonode", "twonode-password")
	onA, onB := newRawClient(t, "127.0.0.1", ea.addr), newRawClient(t, "127.0.0.1", addrB)
	uri := "sip:" + ea.addr.String()
	auth := func(n, nc string) request {
		return request{user: user, auth: digest(user, testRealm, "twonode-password", n, uri, nc)}
	}
	stale := func(t *testing.T, a answer, what string) {
		t.Helper()
		if a.res.StatusCode != 401 || !strings.HasSuffix(a.header("WWW-Authenticate"), ", stale=true") {
			t.Fatalf("%s: want 401 with stale=true:\n%s", what, a.raw)
		}
	}

	// A's nonce used on A, the same request replayed on B.
	n := nonceOf(t, onA.send(request{user: user}))
	wantStatus(t, onA.send(auth(n, "00000001")), 200)
	stale(t, onB.send(auth(n, "00000001")), "A's nonce replayed on B")
	// Used first on B (B asks A), then on A with a higher count, then replayed on B.
	n = nonceOf(t, onA.send(request{user: user}))
	wantStatus(t, onB.send(auth(n, "00000001")), 200)
	stale(t, onA.send(auth(n, "00000001")), "A's nonce used on B, replayed on A")
	wantStatus(t, onA.send(auth(n, "00000002")), 200)
	stale(t, onB.send(auth(n, "00000002")), "nc 2 replayed on B")
	// RFC 2069 (no qop): B's nonce once, on either node.
	n = nonceOf(t, onB.send(request{user: user}))
	wantStatus(t, onA.send(auth(n, "")), 200)
	stale(t, onB.send(auth(n, "")), "B's qop-less nonce replayed on B")

	// B stops answering (its node stopped): its nonces are stale on A.
	n = nonceOf(t, onB.send(request{user: user}))
	regB.Close()
	stale(t, onA.send(auth(n, "00000001")), "a nonce of a node that stopped")
	// A registrar with no bus (a single node) takes no other registrar's nonce.
	ea.reg.Close()
	n = nonceOf(t, onB.send(request{user: user}))
	stale(t, onA.send(auth(n, "00000001")), "another registrar's nonce without a bus")
	// Its own still work, once.
	wantStatus(t, onA.login(request{user: user}, "twonode-password"), 200)
}

// storetestFirst is the first store storetest opens (SQLite): nonces are not stored,
// so one dialect is enough here.
func storetestFirst(t *testing.T) *store.DB {
	t.Helper()
	return storetest.Open(t)[0]
}
