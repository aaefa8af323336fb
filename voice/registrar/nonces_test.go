package registrar

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/trunkline/trunkline/bus"
	"github.com/trunkline/trunkline/store"
	"github.com/trunkline/trunkline/store/storetest"
)

// natsPair starts two embedded NATS servers routed to each other (a two-node cluster's
// bus) and waits until a subscription on one is reachable from the other.
func natsPair(t *testing.T) (*bus.NATS, *bus.NATS) {
	t.Helper()
	const token = "nonce-test-token-0123456789"
	a := bus.NewNATS(bus.NATSOptions{Name: "a", Listen: "127.0.0.1:0", RouteListen: "127.0.0.1:0", Token: token})
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	b := bus.NewNATS(bus.NATSOptions{Name: "b", Listen: "127.0.0.1:0", RouteListen: "127.0.0.1:0",
		Routes: []string{a.RouteAddr().String()}, Token: token})
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	for i := 0; a.Peers() != 1 || b.Peers() != 1; i++ {
		if i > 2000 {
			t.Fatal("the two NATS servers did not route to each other within 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return a, b
}

// waitInterest waits until a request to r's nonce subject through b finds r (interest
// crosses the route asynchronously).
func waitInterest(t *testing.T, b *bus.NATS, r *Registrar) {
	t.Helper()
	for i := 0; ; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := b.Request(ctx, nonceSubject(r.issuer), []byte("{}"))
		cancel()
		if err == nil {
			return
		}
		if !errors.Is(err, bus.ErrNoResponders) || i > 1000 {
			t.Fatalf("the other node's nonce subject: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

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
	busA, busB := natsPair(t)
	if err := ea.reg.ShareNonces(busA); err != nil {
		t.Fatal(err)
	}
	if err := regB.ShareNonces(busB); err != nil {
		t.Fatal(err)
	}
	waitInterest(t, busB, ea.reg)
	waitInterest(t, busA, regB)

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
