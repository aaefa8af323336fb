package account

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/bus/bustest"
	"github.com/trunkline/trunkline/keys"
	"github.com/trunkline/trunkline/store/storetest"
)

// Three nodes' account services on one store, with an authentication cache that would
// serve a credential for an hour: a token rotated (old one revoked) through node A is
// refused by node B as soon as A's invalidation crosses a real NATS cluster, and node C,
// which does not listen to the bus (the control), still takes it from its cache, so
// only the invalidation can have made B refuse it.
func TestInvalidationAcrossNodes(t *testing.T) {
	for _, db := range storetest.Open(t) {
		t.Run(string(db.Dialect()), func(t *testing.T) {
			ctx := context.Background()
			ring, _ := keys.NewRing(bytes.Repeat([]byte{5}, 32))
			nodes := bustest.Cluster(t, 3)
			svc := make([]*Service, 3)
			for i := range svc {
				svc[i] = New(db, ring, Options{CacheTTL: time.Hour, Bus: nodes[i]})
			}
			var dropped []chan string
			for i := range 2 { // A and B listen, as every node's platform does; C does not
				ch := make(chan string, 16)
				dropped = append(dropped, ch)
				if _, err := nodes[i].Subscribe(InvalidateSubject, func(m trunkline.Msg) {
					svc[i].DropCached(string(m.Data))
					ch <- string(m.Data)
				}); err != nil {
					t.Fatal(err)
				}
			}
			// The subscription crosses the routes: wait until a publication from C reaches B.
			bustest.Eventually(t, "node B hears node C", func() bool {
				nodes[2].Publish(InvalidateSubject, []byte("MAWARMUP"))
				select {
				case <-dropped[1]:
					return true
				default:
					return false
				}
			})

			c, err := svc[0].CreateMain(ctx, "rotating")
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range svc {
				if _, _, err := s.Authenticate(ctx, c.Account.ID, c.Token); err != nil {
					t.Fatalf("node %d: the first token: %v", i, err)
				}
			}
			rot, err := svc[0].Rotate(ctx, c.Account.ID, 0, true)
			if err != nil {
				t.Fatal(err)
			}
			// B drops the account when the invalidation arrives (bounded wait), then
			// refuses the old token and takes the new one.
			deadline := time.After(5 * time.Second)
			for got := ""; got != c.Account.ID; {
				select {
				case got = <-dropped[1]:
				case <-deadline:
					t.Fatal("node B got no invalidation within 5 s")
				}
			}
			if _, _, err := svc[1].Authenticate(ctx, c.Account.ID, c.Token); !errors.Is(err, ErrBadCredentials) {
				t.Fatalf("node B after the rotation through A: old token %v, want refused", err)
			}
			if _, _, err := svc[1].Authenticate(ctx, c.Account.ID, rot.Token); err != nil {
				t.Fatalf("node B: the new token: %v", err)
			}
			if _, _, err := svc[0].Authenticate(ctx, c.Account.ID, c.Token); !errors.Is(err, ErrBadCredentials) {
				t.Fatalf("node A: old token %v, want refused", err)
			}
			// The control: without the bus, the cache serves the revoked token.
			if _, _, err := svc[2].Authenticate(ctx, c.Account.ID, c.Token); err != nil {
				t.Fatalf("node C (no subscription) refused the cached old token (%v): the test would not show the bus at work", err)
			}
			// The newest credential, which the managing routes require (api's
			// requireNewest), is read through the same cache: B knows the rotated one,
			// C (the control) still the one it cached.
			if cur, err := svc[1].CurrentCredential(ctx, c.Account.ID); err != nil || cur != rot.CredentialID {
				t.Fatalf("node B: newest credential %q (%v), want the rotated one %q", cur, err, rot.CredentialID)
			}
			if cur, err := svc[2].CurrentCredential(ctx, c.Account.ID); err != nil || cur != c.CredentialID {
				t.Fatalf("node C (no subscription): newest credential %q (%v), want the cached first one %q", cur, err, c.CredentialID)
			}
		})
	}
}
