// Package ratelimit provides keyed limiters: a token bucket per key (the API's 300
// requests per 5 s per account, SIP requests per source address), a failure counter that
// locks a key out for a while after too many failures (console second factors), and
// Guard, the throttle of failed authentications the API, the console login and the SIP
// registrar share: it throttles the guessing address, never the owner of the identity.
//
// State is in memory on one node: limits are per node, which is what a client sees from
// a load balancer in front of a cluster anyway. Memory is bounded: idle keys are swept.
package ratelimit

import (
	"math"
	"sync"
	"time"
)

// Bucket is a keyed token bucket: each key may spend Burst requests at once, refilled at
// Burst per Period. It holds at most maxBucketKeys keys: idle keys are swept once a
// period, and a new key past the bound drops an arbitrary one (which starts again full,
// loosening its limit a little, rather than letting a flood of keys take the memory).
type Bucket struct {
	mu     sync.Mutex
	peer   func(kind, key, _ string) // publishes to the other nodes (Share)
	burst  float64
	rate   float64 // tokens per second
	now    func() time.Time
	keys   map[string]*bucketState
	sweep  time.Time
	maxIdl time.Duration
}

type bucketState struct {
	tokens float64
	last   time.Time
}

// NewBucket returns a limiter allowing burst requests per period for each key.
func NewBucket(burst int, period time.Duration, now func() time.Time) *Bucket {
	if now == nil {
		now = time.Now
	}
	return &Bucket{burst: float64(burst), rate: float64(burst) / period.Seconds(), now: now,
		keys: map[string]*bucketState{}, maxIdl: period * 2}
}

// Allow spends one token of key. When none is left it reports how long until one is.
func (b *Bucket) Allow(key string) (ok bool, retryAfter time.Duration) {
	ok, retryAfter = b.allow(key, false)
	b.mu.Lock()
	p := b.peer
	b.mu.Unlock()
	if ok && p != nil {
		p("take", key, "")
	}
	return ok, retryAfter
}

// take spends a token another node spent (never below none).
func (b *Bucket) take(key string) { b.allow(key, true) }

func (b *Bucket) allow(key string, remote bool) (ok bool, retryAfter time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	b.maybeSweep(now)
	s, found := b.keys[key]
	if !found {
		if len(b.keys) >= maxBucketKeys {
			for k := range b.keys { // swept above at most once a period: drop any one
				delete(b.keys, k)
				break
			}
		}
		s = &bucketState{tokens: b.burst, last: now}
		b.keys[key] = s
	}
	s.tokens = math.Min(b.burst, s.tokens+now.Sub(s.last).Seconds()*b.rate)
	s.last = now
	if remote {
		s.tokens = math.Max(0, s.tokens-1)
		return true, 0
	}
	if s.tokens >= 1 {
		s.tokens--
		return true, 0
	}
	wait := time.Duration((1 - s.tokens) / b.rate * float64(time.Second))
	return false, wait
}

// maxBucketKeys bounds a Bucket's memory (some 100 bytes a key).
const maxBucketKeys = 100000

// maybeSweep drops keys whose bucket has been full for a while (they hold no state worth
// keeping), at most once per idle period.
func (b *Bucket) maybeSweep(now time.Time) {
	if now.Sub(b.sweep) < b.maxIdl {
		return
	}
	b.sweep = now
	for k, s := range b.keys {
		if now.Sub(s.last) > b.maxIdl {
			delete(b.keys, k)
		}
	}
}

// Failures counts failures per key over a window; a key with Max failures in the window is
// locked out until the window that holds them ends (and longer with repeated lockouts, up
// to MaxLockout).
type Failures struct {
	mu         sync.Mutex
	peer       func(kind, key, _ string) // publishes to the other nodes (Share)
	max        int
	window     time.Duration
	maxLockout time.Duration
	now        func() time.Time
	keys       map[string]*failState
	sweep      time.Time
}

type failState struct {
	count    int
	start    time.Time
	until    time.Time // locked out until
	lockouts int
}

// NewFailures returns a failure throttle: max failures per window, lockouts doubling from
// window up to maxLockout.
func NewFailures(max int, window, maxLockout time.Duration, now func() time.Time) *Failures {
	if now == nil {
		now = time.Now
	}
	return &Failures{max: max, window: window, maxLockout: maxLockout, now: now, keys: map[string]*failState{}}
}

// Blocked reports whether key is locked out now and for how long.
func (f *Failures) Blocked(key string) (bool, time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.keys[key]
	if s == nil {
		return false, 0
	}
	if d := s.until.Sub(f.now()); d > 0 {
		return true, d
	}
	return false, 0
}

// Fail records a failure of key and reports whether it is now locked out.
func (f *Failures) Fail(key string) (bool, time.Duration) {
	locked, d := f.failLocal(key)
	f.mu.Lock()
	p := f.peer
	f.mu.Unlock()
	if p != nil {
		p("fail", key, "")
	}
	return locked, d
}

func (f *Failures) failLocal(key string) (bool, time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	f.maybeSweep(now)
	s := f.keys[key]
	if s == nil {
		s = &failState{start: now}
		f.keys[key] = s
	}
	if now.Sub(s.start) > f.window {
		s.count, s.start = 0, now
	}
	s.count++
	if s.count >= f.max {
		lock := f.window << min(s.lockouts, 16)
		if lock > f.maxLockout {
			lock = f.maxLockout
		}
		s.until = now.Add(lock)
		s.lockouts++
		s.count, s.start = 0, now
		return true, lock
	}
	return false, 0
}

// Succeed forgets the failures of key (a successful login resets the count, not the
// escalation of past lockouts, which decays by sweeping).
func (f *Failures) Succeed(key string) {
	f.succeedLocal(key)
	f.mu.Lock()
	p := f.peer
	f.mu.Unlock()
	if p != nil {
		p("ok", key, "")
	}
}

func (f *Failures) succeedLocal(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s := f.keys[key]; s != nil {
		s.count = 0
	}
}

func (f *Failures) maybeSweep(now time.Time) {
	if now.Sub(f.sweep) < f.window {
		return
	}
	f.sweep = now
	for k, s := range f.keys {
		if now.After(s.until) && now.Sub(s.start) > f.maxLockout {
			delete(f.keys, k)
		}
	}
}
