package account

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"github.com/trunkline/trunkline"
)

// authCache keeps what authentication needs of recently seen accounts (the account, its
// parent's enabled flag, and the live credentials' hashes) for a short time, so a busy
// client costs no database reads per request. Changes made through this service (rotation,
// revocation, account updates the API reports with Invalidate) drop the entry at once,
// and on other nodes through the bus; changes made by another process without a bus (the
// operator CLI) are seen within the TTL.
type authCache struct {
	ttl time.Duration
	max int

	mu      sync.Mutex
	entries map[string]*authEntry
}

type authEntry struct {
	acct          *trunkline.Account
	parentEnabled bool
	// The API allowlists of the account and of its main account (nil: any address).
	allow, parentAllow []netip.Prefix
	creds              []*trunkline.Credential
	loaded             time.Time
}

func (c *authCache) get(id string, now time.Time) *authEntry {
	if c.ttl <= 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[id]
	if e == nil || now.Sub(e.loaded) >= c.ttl || now.Before(e.loaded) {
		return nil
	}
	return e
}

func (c *authCache) put(id string, e *authEntry) {
	if c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		// Bounded memory: starting over is cheap, the entries reload on use.
		c.entries = map[string]*authEntry{}
	}
	c.entries[id] = e
}

// drop forgets id and every subaccount of it (they cache their parent's enabled flag).
func (c *authCache) drop(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, id)
	for k, e := range c.entries {
		if e.acct.ParentID == id {
			delete(c.entries, k)
		}
	}
}

// load reads what authentication needs from the store, through the cache.
func (s *Service) load(ctx context.Context, id string) (*authEntry, error) {
	now := s.now()
	if e := s.cache.get(id, now); e != nil {
		return e, nil
	}
	a, err := s.st.Account(ctx, id)
	if err != nil {
		return nil, err
	}
	e := &authEntry{acct: a, parentEnabled: true, loaded: now}
	// A stored list was validated when set; one that no longer parses admits nobody
	// rather than everybody.
	e.allow = storedAllowlist(a.APIAllow)
	if a.IsSub() {
		p, err := s.st.Account(ctx, a.ParentID)
		if err != nil {
			return nil, err
		}
		e.parentEnabled = p.Enabled
		e.parentAllow = storedAllowlist(p.APIAllow)
	}
	// Credentials live now; each is checked again against the clock on use, since an
	// overlap may end while the entry is cached.
	if e.creds, err = s.st.Credentials(ctx, id, now); err != nil {
		return nil, err
	}
	s.cache.put(id, e)
	return e, nil
}

// Bus is the part of the message bus the service uses to tell other nodes that an
// account's credentials or state changed.
type Bus interface {
	Publish(subject string, data []byte) error
}

// InvalidateSubject carries account ids whose cached authentication data is stale.
const InvalidateSubject = "account.invalidate"

// Invalidate drops cached authentication data of id here and, through the bus, on every
// node. Call it after any change to an account's enabled state or credentials.
func (s *Service) Invalidate(id string) {
	s.cache.drop(id)
	if s.bus != nil {
		s.bus.Publish(InvalidateSubject, []byte(id))
	}
}

// DropCached forgets id on this node only (the bus subscriber calls it).
func (s *Service) DropCached(id string) { s.cache.drop(id) }

// storedAllowlist parses a stored allowlist; one that does not parse (it was checked when
// set, so only a tampered row) admits no address.
func storedAllowlist(v string) []netip.Prefix {
	if v == "" {
		return nil
	}
	l, _, err := ParseAllowlist(v)
	if err != nil || len(l) == 0 {
		return []netip.Prefix{netip.MustParsePrefix("255.255.255.255/32")}
	}
	return l
}
