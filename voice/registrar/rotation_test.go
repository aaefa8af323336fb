package registrar

import (
	"bytes"
	"context"
	"log/slog"
	"testing"

	"github.com/trunkline/trunkline/account"
	"github.com/trunkline/trunkline/bus"
	"github.com/trunkline/trunkline/keys"
	"github.com/trunkline/trunkline/store"
)

// TestKEKRotation: a nonce handed out before the KEK was rotated still authenticates
// after the old KEK is gone, on a registrar started with only the new key, and
// the endpoint's digest secret (resealed under the new key) still opens. The MAC key
// the nonces are keyed with travels sealed under the KEK instead of being derived from
// the newest one (see package keys).
func TestKEKRotation(t *testing.T) {
	forEachStore(t, Options{}, func(t *testing.T, e *env) {
		ctx := context.Background()
		alice := e.mkEndpoint("alice", "alice-password")
		c := newRawClient(t, "127.0.0.1", e.addr)
		n := proxyNonceOf(t, c.invite(call{user: alice}))
		wrapped, err := e.ring.WrapMACKey()
		if err != nil {
			t.Fatal(err)
		}

		// Rotate: a new KEK first, the MAC key and the endpoint's secrets resealed under
		// it; then retire the old KEK.
		newKey := bytes.Repeat([]byte{10}, 32)
		both, _ := keys.NewRing(newKey, bytes.Repeat([]byte{9}, 32))
		if err := both.UseMACKey(wrapped); err != nil {
			t.Fatal(err)
		}
		if wrapped, err = both.WrapMACKey(); err != nil {
			t.Fatal(err)
		}
		for col, aad := range map[string]func(string) []byte{"ha1_enc": account.EndpointHA1AAD, "password_md5_enc": account.EndpointMD5AAD} {
			if _, _, err := e.db.Reseal(ctx, store.SealedColumn{Table: "endpoints", Column: col, Key: []string{"id"}, AADFrom: []string{"username"}},
				func(row []string, ct []byte) ([]byte, error) {
					out, _, err := both.Reseal(ct, aad(row[0]))
					return out, err
				}); err != nil {
				t.Fatal(err)
			}
		}
		newOnly, _ := keys.NewRing(newKey)
		if err := newOnly.UseMACKey(wrapped); err != nil {
			t.Fatal(err)
		}

		// Another node, started with only the new key: it verifies the nonce's MAC itself
		// and asks the issuer (still running the old key) over the bus whether the nonce
		// is fresh. (A nonce whose issuer has gone is stale: TestNoncesAcrossNodes.)
		r := New(Options{Store: e.st, Ring: newOnly, Now: e.clock.Now, Realm: testRealm, Logger: slog.New(slog.DiscardHandler)})
		b := bus.NewLocal()
		defer b.Close()
		if err := e.reg.ShareNonces(b); err != nil {
			t.Fatal(err)
		}
		if err := r.ShareNonces(b); err != nil {
			t.Fatal(err)
		}
		c2 := newRawClient(t, "127.0.0.1", serveSIP(t, r))
		wantAdmitted(t, c2.invite(call{user: alice, auth: digestFor("INVITE", alice, testRealm, "alice-password", n, c2.ruri(""), "00000001")}), alice)

		// What rotating used to do (the MAC key derived from the new first KEK) refuses
		// the same nonce: the challenge comes again.
		naive := New(Options{Store: e.st, Ring: derivedRing(t, newKey), Now: e.clock.Now, Realm: testRealm, Logger: slog.New(slog.DiscardHandler)})
		c3 := newRawClient(t, "127.0.0.1", serveSIP(t, naive))
		wantStatus(t, c3.invite(call{user: alice, auth: digestFor("INVITE", alice, testRealm, "alice-password", n, c3.ruri(""), "00000001")}), 407)
	})
}

// derivedRing is a ring of key alone, with the MAC key it derives from it.
func derivedRing(t *testing.T, key []byte) *keys.Ring {
	t.Helper()
	r, err := keys.NewRing(key)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
