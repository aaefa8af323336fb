package ratelimit

import (
	"container/list"
	"context"
	"net/netip"
	"sync"
	"time"
)

// Guard throttles the guessing of secrets (API tokens, passphrases, SIP passwords)
// without locking their owners out. Identities (Auth IDs, emails, SIP user names) are not
// secret, so an attacker can name anyone's; a lock on the identity alone would let them
// lock its owner out from anywhere. Instead failures are counted:
//
//   - per source: the address (IPv4 /32, IPv6 /64, the smallest block one host commonly
//     holds) and its network (IPv4 /24, IPv6 /48, a site's usual assignment, so an
//     attacker holding many /64s does not get a fresh count with each), with a higher
//     limit, each locked out for a while after too many failures, for every identity;
//   - per (source address, identity): locked after fewer failures, so one address cannot
//     try many guesses on one identity;
//   - per identity from everywhere: never locked, but past its limit every attempt on the
//     identity is slowed down (Verdict.Delay grows with the failures, up to MaxDelay), so
//     an attack from many addresses is slowed while the owner, from an address that has
//     not been failing, still gets in.
//
// A success trusts its (address, identity) pair for TrustFor: a trusted pair is checked
// only against its own failures, so an owner sharing an address (a NAT) with an attacker
// of other identities keeps working.
//
// Callers pass an identity only when it has the form their identities have (an Auth ID,
// an email, an endpoint user name) and "" otherwise: a malformed one cannot be right, so
// counting it against its source is enough, and it cannot fill memory with junk keys.
// Memory is bounded: at most MaxKeys entries, the least recently used dropped first.
type Guard struct {
	mu   sync.Mutex
	peer func(kind, source, identity string) // publishes to the other nodes (Share)
	o    GuardOptions
	lru  *list.List // of *guardEntry, most recently used first
	keys map[string]*list.Element
}

// GuardOptions configure a Guard. Zero values take the defaults given.
type GuardOptions struct {
	PerAddress  int // failures per address per Window before its lockout; default 20
	PerNetwork  int // failures per IPv4 /24 or IPv6 /48 per Window before its lockout; default 4×PerAddress
	PerPair     int // failures per (address, identity) per Window before the pair's lockout; default 5
	PerIdentity int // failures per identity per Window from all sources before attempts are slowed; default PerPair

	Window     time.Duration // counting window and first lockout (doubling on repeat); default 1 min
	MaxLockout time.Duration // longest lockout; default 15 min
	SlowStep   time.Duration // added delay per failure past PerIdentity; default 100 ms
	MaxDelay   time.Duration // longest delay; default 2 s
	TrustFor   time.Duration // how long a success trusts its pair; default 24 h
	MaxKeys    int           // entries kept; default 100000 (a few hundred bytes each)
	Now        func() time.Time
}

func (o *GuardOptions) defaults() {
	def := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	defD := func(p *time.Duration, v time.Duration) {
		if *p <= 0 {
			*p = v
		}
	}
	def(&o.PerAddress, 20)
	def(&o.PerNetwork, 4*o.PerAddress)
	def(&o.PerPair, 5)
	def(&o.PerIdentity, o.PerPair)
	def(&o.MaxKeys, 100000)
	defD(&o.Window, time.Minute)
	defD(&o.MaxLockout, 15*time.Minute)
	defD(&o.SlowStep, 100*time.Millisecond)
	defD(&o.MaxDelay, 2*time.Second)
	defD(&o.TrustFor, 24*time.Hour)
	if o.MaxLockout < o.Window {
		o.MaxLockout = o.Window
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

type guardEntry struct {
	key     string
	fail    failState
	trusted time.Time // pairs: trusted until
}

// NewGuard returns a Guard.
func NewGuard(o GuardOptions) *Guard {
	o.defaults()
	return &Guard{o: o, lru: list.New(), keys: map[string]*list.Element{}}
}

// Verdict is a Guard's answer to an attempt.
type Verdict struct {
	// Allowed: verify the secret (after Delay). Otherwise refuse without verifying, so a
	// guess made during a lockout is never checked, and tell the client RetryAfter.
	Allowed    bool
	RetryAfter time.Duration
	Delay      time.Duration
}

// Wait sleeps the verdict's Delay, or until ctx ends.
func (v Verdict) Wait(ctx context.Context) error {
	if v.Delay <= 0 {
		return nil
	}
	t := time.NewTimer(v.Delay)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// SourceKey is the key of a client address (an IP address without port) for limits per
// source: the IPv4 address, or the IPv6 /64 (the smallest block one host commonly
// holds, so a host cannot take a fresh key per address). Something that is no IP
// address (a test transport, a Unix socket) is its own key, bounded in length.
func SourceKey(source string) string {
	addr, _ := sourceKeys(source)
	return addr
}

// sourceKeys returns the keys of an address: its own (see SourceKey) and its network's
// (IPv4 /24, IPv6 /48; "" for what is no IP address).
func sourceKeys(source string) (addr, network string) {
	ip, err := netip.ParseAddr(source)
	if err != nil {
		if len(source) > 64 {
			source = source[:64]
		}
		return "a:" + source, ""
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is4() {
		p, _ := ip.Prefix(24)
		return "a:" + ip.String(), "n:" + p.String()
	}
	p, _ := ip.Prefix(64)
	n, _ := ip.Prefix(48)
	return "a:" + p.String(), "n:" + n.String()
}

func pairKey(addr, identity string) string { return "p:" + addr + "\x00" + identity }

// Check says whether an attempt on identity ("" when it has not the identities' form)
// from source (an IP address, without port) may be verified.
func (g *Guard) Check(source, identity string) Verdict {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.o.Now()
	addr, network := sourceKeys(source)
	if identity != "" {
		if p := g.get(pairKey(addr, identity)); p != nil {
			if d := p.fail.until.Sub(now); d > 0 {
				return Verdict{RetryAfter: d}
			}
			if now.Before(p.trusted) {
				return Verdict{Allowed: true}
			}
		}
	}
	for _, k := range []string{addr, network} {
		if k == "" {
			continue
		}
		if e := g.get(k); e != nil {
			if d := e.fail.until.Sub(now); d > 0 {
				return Verdict{RetryAfter: d}
			}
		}
	}
	v := Verdict{Allowed: true}
	if identity != "" {
		if e := g.get("i:" + identity); e != nil && now.Sub(e.fail.start) <= g.o.Window {
			if over := e.fail.count - g.o.PerIdentity + 1; over > 0 {
				v.Delay = min(g.o.MaxDelay, time.Duration(over)*g.o.SlowStep)
			}
		}
	}
	return v
}

// Fail counts a failed attempt and reports whether it locked the address, its network
// or the pair out.
func (g *Guard) Fail(source, identity string) bool {
	locked := g.failLocal(source, identity)
	if p := g.sharedWith(); p != nil {
		p("fail", source, identity)
	}
	return locked
}

func (g *Guard) sharedWith() func(kind, a, b string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.peer
}

func (g *Guard) failLocal(source, identity string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.o.Now()
	addr, network := sourceKeys(source)
	locked := g.fail(addr, g.o.PerAddress, now, true)
	if network != "" {
		locked = g.fail(network, g.o.PerNetwork, now, true) || locked
	}
	if identity != "" {
		locked = g.fail(pairKey(addr, identity), g.o.PerPair, now, true) || locked
		g.fail("i:"+identity, g.o.PerIdentity, now, false)
	}
	return locked
}

// Succeed records a right secret: it clears the pair's failures and trusts the pair
// (never the address's failures for other identities, nor the identity's from
// elsewhere).
func (g *Guard) Succeed(source, identity string) {
	if identity == "" {
		return
	}
	// Only news crosses the bus: a pair that had failures, or whose trust is getting
	// old; not every authenticated request.
	if news := g.succeedLocal(source, identity); !news {
		return
	}
	if p := g.sharedWith(); p != nil {
		p("ok", source, identity)
	}
}

func (g *Guard) succeedLocal(source, identity string) (news bool) {
	if identity == "" {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	addr, _ := sourceKeys(source)
	now := g.o.Now()
	e := g.put(pairKey(addr, identity), now)
	news = e.fail.count > 0 || e.trusted.Before(now.Add(g.o.TrustFor/2))
	e.fail.count = 0
	e.trusted = now.Add(g.o.TrustFor)
	return news
}

// Len is the number of entries held (for tests of the memory bound).
func (g *Guard) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.keys)
}

// fail counts a failure of key; with lock, reaching max locks the key out (doubling on
// repeat, up to MaxLockout); without, the count only grows within the window.
func (g *Guard) fail(key string, max int, now time.Time, lock bool) bool {
	e := g.put(key, now)
	s := &e.fail
	if now.Sub(s.start) > g.o.Window {
		s.count, s.start = 0, now
		if now.Sub(s.until) > g.o.MaxLockout {
			s.lockouts = 0 // quiet for a while: the escalation decays
		}
	}
	s.count++
	if !lock || s.count < max {
		return false
	}
	d := min(g.o.Window<<min(s.lockouts, 16), g.o.MaxLockout)
	s.until = now.Add(d)
	s.lockouts++
	s.count, s.start = 0, now
	return true
}

// get returns key's entry, or nil, and marks it used: an attacker's locked entries,
// checked on each refused attempt, are the last to be dropped.
func (g *Guard) get(key string) *guardEntry {
	el := g.keys[key]
	if el == nil {
		return nil
	}
	g.lru.MoveToFront(el)
	return el.Value.(*guardEntry)
}

// put returns key's entry, making it (and dropping the least recently used entry when
// full) if there is none, and marks it used.
func (g *Guard) put(key string, now time.Time) *guardEntry {
	if el := g.keys[key]; el != nil {
		g.lru.MoveToFront(el)
		return el.Value.(*guardEntry)
	}
	for len(g.keys) >= g.o.MaxKeys {
		old := g.lru.Back()
		g.lru.Remove(old)
		delete(g.keys, old.Value.(*guardEntry).key)
	}
	e := &guardEntry{key: key, fail: failState{start: now}}
	g.keys[key] = g.lru.PushFront(e)
	return e
}
