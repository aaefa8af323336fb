// Package bustest starts real NATS clusters for tests of what nodes share over the bus
// (nonces, cache invalidations, health). Only tests import it.
package bustest

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/trunkline/trunkline/bus"
)

const token = "bustest-token-0123456789abcdef"

// Cluster starts n embedded NATS servers on 127.0.0.1, each routed to the first, and
// waits (bounded) until every one has a route to every other. They stop with the test.
func Cluster(t testing.TB, n int) []*bus.NATS {
	t.Helper()
	var nodes []*bus.NATS
	var seed []string
	for i := range n {
		b := bus.NewNATS(bus.NATSOptions{Name: "n" + strconv.Itoa(i+1), Listen: "127.0.0.1:0", RouteListen: "127.0.0.1:0",
			Routes: seed, Token: token})
		if err := b.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		if i == 0 {
			seed = []string{b.RouteAddr().String()}
		}
		nodes = append(nodes, b)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, b := range nodes {
		for b.Peers() != n-1 {
			if time.Now().After(deadline) {
				t.Fatalf("a NATS server has %d peers, want %d", b.Peers(), n-1)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return nodes
}

// WaitResponder waits (bounded) until a request on subject through b finds a
// responder: interest crosses routes asynchronously.
func WaitResponder(t testing.TB, b *bus.NATS, subject string) {
	t.Helper()
	for i := 0; ; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := b.Request(ctx, subject, []byte("{}"))
		cancel()
		if err == nil {
			return
		}
		if !errors.Is(err, bus.ErrNoResponders) || i > 1000 {
			t.Fatalf("request %s: %v", subject, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Eventually polls cond every 5 ms until it holds, failing the test after 5 s: what
// crosses the bus (interest, events) arrives asynchronously.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 5 s: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Heard returns a function that reports (without blocking) whether ch got a value.
func Heard(ch <-chan struct{}) func() bool {
	return func() bool {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
}
