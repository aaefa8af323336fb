package ratelimit

import (
	"fmt"
	"testing"
	"time"
)

func TestGuard(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	g := NewGuard(GuardOptions{PerAddress: 6, PerPair: 3, Window: time.Minute, MaxLockout: 10 * time.Minute, Now: c.now})
	// Three failures lock the pair, not the address for others nor the identity.
	for i := 0; i < 3; i++ {
		if v := g.Check("192.0.2.1", "alice"); !v.Allowed {
			t.Fatalf("attempt %d refused", i+1)
		}
		g.Fail("192.0.2.1", "alice")
	}
	if v := g.Check("192.0.2.1", "alice"); v.Allowed || v.RetryAfter != time.Minute {
		t.Fatalf("locked pair: %+v", v)
	}
	if v := g.Check("192.0.2.1", "bob"); !v.Allowed {
		t.Fatal("the address is locked for other identities after 3 failures")
	}
	if v := g.Check("198.51.100.7", "alice"); !v.Allowed {
		t.Fatal("alice is locked out from a clean address")
	}
	// Three more (any identity) lock the address.
	for _, id := range []string{"bob", "carol", ""} {
		g.Fail("192.0.2.1", id)
	}
	if v := g.Check("192.0.2.1", "dave"); v.Allowed {
		t.Fatal("the address is not locked after 6 failures")
	}
	// IPv6: one /64 is one address.
	for i := 0; i < 6; i++ {
		g.Fail(fmt.Sprintf("2001:db8::%x", i+1), "")
	}
	if v := g.Check("2001:db8::ffff", "erin"); v.Allowed {
		t.Fatal("another address of the /64 is not locked")
	}
	if v := g.Check("2001:db8:0:1::1", "erin"); !v.Allowed {
		t.Fatal("another /64 is locked")
	}
	// IPv6 /48: four times the address limit, spread over its /64s.
	for i := 0; i < 24; i++ {
		g.Fail(fmt.Sprintf("2001:db8:1:%x::1", i), "")
	}
	if v := g.Check("2001:db8:1:ffff::1", ""); v.Allowed {
		t.Fatal("a fresh /64 of a failing /48 is not locked")
	}
	if v := g.Check("2001:db8:2::1", ""); !v.Allowed {
		t.Fatal("the next /48 is locked")
	}
	// IPv4 /24: four times the address limit, spread over its addresses.
	for i := 0; i < 24; i++ {
		g.Fail(fmt.Sprintf("203.0.113.%d", i/5+1), "")
	}
	if v := g.Check("203.0.113.200", ""); v.Allowed {
		t.Fatal("a fresh address of a failing /24 is not locked")
	}
	if v := g.Check("203.0.114.1", ""); !v.Allowed {
		t.Fatal("the next /24 is locked")
	}
	// IPv4-mapped IPv6 is the IPv4 address.
	if v := g.Check("::ffff:192.0.2.1", "dave"); v.Allowed {
		t.Fatal("the IPv4-mapped form escapes the lock")
	}
	c.t = c.t.Add(3 * time.Minute)
	if v := g.Check("192.0.2.1", "alice"); !v.Allowed {
		t.Fatal("still locked after the lockout")
	}
}

func TestGuardSlowsDistributedAttack(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	g := NewGuard(GuardOptions{PerAddress: 10, PerPair: 3, PerIdentity: 5, SlowStep: 100 * time.Millisecond, MaxDelay: time.Second, Now: c.now})
	for i := 0; i < 40; i++ {
		src := fmt.Sprintf("10.%d.0.1", i)
		if v := g.Check(src, "alice"); !v.Allowed {
			t.Fatalf("a one-guess address refused: %+v", v)
		}
		g.Fail(src, "alice")
	}
	v := g.Check("10.200.0.1", "alice")
	if !v.Allowed || v.Delay != time.Second {
		t.Fatalf("an identity attacked from 40 addresses: %+v, want allowed after the 1 s cap", v)
	}
	if v := g.Check("10.200.0.1", "bob"); v.Delay != 0 {
		t.Fatalf("another identity is slowed: %+v", v)
	}
	// The owner's address, trusted by a success, is not slowed.
	g.Succeed("10.201.0.1", "alice")
	if v := g.Check("10.201.0.1", "alice"); !v.Allowed || v.Delay != 0 {
		t.Fatalf("trusted pair: %+v", v)
	}
	c.t = c.t.Add(2 * time.Minute)
	if v := g.Check("10.200.0.1", "alice"); v.Delay != 0 {
		t.Fatalf("still slowed after the window: %+v", v)
	}
}

func TestGuardTrust(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	g := NewGuard(GuardOptions{PerAddress: 3, PerPair: 3, Now: c.now})
	g.Succeed("192.0.2.1", "alice")
	for _, id := range []string{"bob", "carol", "dave"} {
		g.Fail("192.0.2.1", id) // someone else behind the same NAT
	}
	if v := g.Check("192.0.2.1", "erin"); v.Allowed {
		t.Fatal("the address is not locked")
	}
	if v := g.Check("192.0.2.1", "alice"); !v.Allowed {
		t.Fatal("a trusted pair is locked out by others' failures")
	}
	for i := 0; i < 3; i++ {
		g.Fail("192.0.2.1", "alice")
	}
	if v := g.Check("192.0.2.1", "alice"); v.Allowed {
		t.Fatal("a trusted pair's own failures do not lock it")
	}
}

func TestGuardMemoryBound(t *testing.T) {
	g := NewGuard(GuardOptions{PerAddress: 1 << 20, MaxKeys: 1000})
	for i := 0; i < 50000; i++ {
		src := fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
		g.Fail(src, fmt.Sprintf("MA%018d", i))
	}
	if n := g.Len(); n > 1000 {
		t.Fatalf("%d entries, want at most 1000", n)
	}
}
