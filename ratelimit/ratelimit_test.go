package ratelimit

import (
	"fmt"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestBucket(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	b := NewBucket(300, 5*time.Second, c.now)
	for i := 0; i < 300; i++ {
		if ok, _ := b.Allow("A"); !ok {
			t.Fatalf("request %d refused inside the burst", i)
		}
	}
	ok, wait := b.Allow("A")
	if ok || wait <= 0 || wait > time.Second {
		t.Fatalf("301st request: ok=%v wait=%v, want refused with a short wait", ok, wait)
	}
	if ok, _ := b.Allow("B"); !ok {
		t.Fatal("another key must have its own bucket")
	}
	c.t = c.t.Add(time.Second) // refills 60 tokens
	for i := 0; i < 60; i++ {
		if ok, _ := b.Allow("A"); !ok {
			t.Fatalf("refilled request %d refused", i)
		}
	}
	if ok, _ := b.Allow("A"); ok {
		t.Fatal("bucket gave more than its refill")
	}
}

func TestFailures(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	f := NewFailures(5, time.Minute, 15*time.Minute, c.now)
	for i := 1; i < 5; i++ {
		if locked, _ := f.Fail("ip"); locked {
			t.Fatalf("locked after %d failures", i)
		}
	}
	locked, d := f.Fail("ip")
	if !locked || d != time.Minute {
		t.Fatalf("5th failure: locked=%v for %v, want locked for 1m", locked, d)
	}
	if b, _ := f.Blocked("ip"); !b {
		t.Fatal("key not blocked during lockout")
	}
	if b, _ := f.Blocked("other"); b {
		t.Fatal("unrelated key blocked")
	}
	c.t = c.t.Add(61 * time.Second)
	if b, _ := f.Blocked("ip"); b {
		t.Fatal("still blocked after the lockout")
	}
	for i := 0; i < 4; i++ {
		f.Fail("ip")
	}
	if _, d := f.Fail("ip"); d != 2*time.Minute {
		t.Fatalf("second lockout %v, want it doubled to 2m", d)
	}
	for i := 0; i < 40; i++ {
		c.t = c.t.Add(time.Hour)
		for j := 0; j < 5; j++ {
			f.Fail("ip")
		}
	}
	if _, d := f.Blocked("ip"); d > 15*time.Minute {
		t.Fatalf("lockout %v exceeds the cap", d)
	}
}

func TestBucketMemoryBound(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	b := NewBucket(10, time.Minute, c.now)
	for i := 0; i < maxBucketKeys+5000; i++ {
		b.Allow(SourceKey(fmt.Sprintf("2001:db8:%x::1", i)))
	}
	if n := len(b.keys); n > maxBucketKeys {
		t.Fatalf("%d keys, want at most %d", n, maxBucketKeys)
	}
	// One IPv6 /64 is one key.
	for i := 0; i < 20; i++ {
		b.Allow(SourceKey(fmt.Sprintf("2001:db8:ffff:1::%x", i)))
	}
	if ok, _ := b.Allow(SourceKey("2001:db8:ffff:1::abcd")); ok {
		t.Fatal("addresses of one /64 have separate buckets")
	}
}
