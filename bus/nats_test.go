package bus

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/trunkline/trunkline"
)

const testToken = "test-token-0123456789abcdef"

// startCluster starts n embedded NATS servers on 127.0.0.1, each routed to the first
// (gossip meshes the rest), and waits until every one has a route to every other.
func startCluster(t *testing.T, n int) []*NATS {
	t.Helper()
	var nodes []*NATS
	var seed []string
	for i := range n {
		b := NewNATS(NATSOptions{Name: "n" + string(rune('1'+i)), Listen: "127.0.0.1:0", RouteListen: "127.0.0.1:0",
			Routes: seed, Token: testToken})
		if err := b.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		if i == 0 {
			seed = []string{b.RouteAddr().String()}
		}
		nodes = append(nodes, b)
	}
	waitPeers(t, nodes, n-1)
	return nodes
}

func waitPeers(t *testing.T, nodes []*NATS, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, b := range nodes {
		for b.Peers() != want {
			if time.Now().After(deadline) {
				t.Fatalf("%s has %d peers, want %d", b.o.Name, b.Peers(), want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// retryRequest retries while interest has not yet propagated over the routes.
func retryRequest(t *testing.T, b *NATS, subject string, data []byte) []byte {
	t.Helper()
	for i := 0; ; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		got, err := b.Request(ctx, subject, data)
		cancel()
		if err == nil {
			return got
		}
		if !errors.Is(err, ErrNoResponders) || i > 200 {
			t.Fatalf("request %s: %v", subject, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestNATSClusterPublishRequest(t *testing.T) {
	nodes := startCluster(t, 3)
	got := make(chan string, 10)
	for _, b := range nodes[1:] {
		name := b.o.Name
		if _, err := b.Subscribe("message.*", func(m trunkline.Msg) { got <- name + ":" + m.Subject }); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := nodes[2].Subscribe("call.x", func(m trunkline.Msg) { m.Reply(append([]byte("on n3: "), m.Data...)) }); err != nil {
		t.Fatal(err)
	}
	if r := retryRequest(t, nodes[0], "call.x", []byte("hangup")); string(r) != "on n3: hangup" {
		t.Fatalf("reply %q", r)
	}
	if err := nodes[0].Publish("message.queued", nil); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for len(seen) < 2 {
		select {
		case s := <-got:
			seen[s] = true
		case <-time.After(5 * time.Second):
			t.Fatalf("published message reached %v only", seen)
		}
	}
	if !seen["n2:message.queued"] || !seen["n3:message.queued"] {
		t.Fatalf("got %v", seen)
	}
	// Nobody on a subject: ErrNoResponders at once, as on Local.
	if _, err := nodes[0].Request(context.Background(), "call.nobody", nil); !errors.Is(err, ErrNoResponders) {
		t.Fatalf("request to nobody: %v", err)
	}
}

func TestNATSPeerDeathSeen(t *testing.T) {
	nodes := startCluster(t, 3)
	if _, err := nodes[2].Subscribe("call.y", func(m trunkline.Msg) { m.Reply([]byte("ok")) }); err != nil {
		t.Fatal(err)
	}
	retryRequest(t, nodes[0], "call.y", nil)
	nodes[2].Kill()
	waitPeers(t, nodes[:2], 1)
	// The dead node's interest is gone with it: the survivors see "no responders".
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := nodes[0].Request(context.Background(), "call.y", nil)
		if errors.Is(err, ErrNoResponders) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("request to a dead node's subject: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestNATSRefusesWrongToken(t *testing.T) {
	a := NewNATS(NATSOptions{Name: "a", Listen: "127.0.0.1:0", RouteListen: "127.0.0.1:0", Token: testToken})
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	// A server with another token tries to join: the route is refused.
	b := NewNATS(NATSOptions{Name: "b", Listen: "127.0.0.1:0", RouteListen: "127.0.0.1:0",
		Routes: []string{a.RouteAddr().String()}, Token: "another-token-0123456789"})
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	// A client with the wrong token is refused too.
	c := NewNATS(NATSOptions{Name: "c", URL: "nats://" + a.ClientAddr().String(), Token: "wrong-token-0123456789"})
	if err := c.Start(context.Background()); err == nil {
		c.Close()
		t.Fatal("client with a wrong token connected")
	}
	// And one with the right token works, as an external-NATS node would.
	d := NewNATS(NATSOptions{Name: "d", URL: "nats://" + a.ClientAddr().String(), Token: testToken})
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Subscribe("x", func(m trunkline.Msg) { m.Reply([]byte("y")) }); err != nil {
		t.Fatal(err)
	}
	if r := retryRequest(t, a, "x", nil); string(r) != "y" {
		t.Fatalf("reply %q", r)
	}
	// By now b has tried (routes connect at once); it never became a peer.
	if a.Peers() != 0 || b.Peers() != 0 {
		t.Fatalf("peers with a wrong route token: a %d, b %d", a.Peers(), b.Peers())
	}
}

func TestNATSEmbeddedNeedsToken(t *testing.T) {
	b := NewNATS(NATSOptions{Name: "a", Listen: "127.0.0.1:0"})
	if err := b.Start(context.Background()); err == nil {
		b.Close()
		t.Fatal("embedded server started without a token")
	}
	b = NewNATS(NATSOptions{Name: "a", Listen: ":0", Token: testToken})
	if err := b.Start(context.Background()); err == nil {
		b.Close()
		t.Fatal("embedded server started on all interfaces")
	}
}
