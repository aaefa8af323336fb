// Package account manages accounts, subaccounts and their API credentials (Auth ID +
// Auth Token): creation, authentication, rotation with an overlap window, and revocation.
//
// A token is shown once, when it is made. The store keeps a keyed hash of it (to check a
// presented token in constant time) and an AES-256-GCM ciphertext under the KEK (to sign
// webhooks, which needs the token in clear). Neither the token nor its hash is ever logged.
package account

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"errors"
	"math/big"
	"time"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/keys"
)

// Store is what the service needs from storage.
type Store interface {
	CreateAccount(ctx context.Context, a *trunkline.Account, c *trunkline.Credential) error
	CreateAccountWithOwner(ctx context.Context, a *trunkline.Account, c *trunkline.Credential, u *trunkline.User) error
	Account(ctx context.Context, id string) (*trunkline.Account, error)
	Credentials(ctx context.Context, accountID string, now time.Time) ([]*trunkline.Credential, error)
	RotateCredential(ctx context.Context, c *trunkline.Credential, overlapEnd *time.Time) ([]string, error)
	RevokeCredentials(ctx context.Context, accountID, keepID string) ([]string, error)
}

// ErrBadCredentials is the one answer for an unknown Auth ID, a wrong token, a revoked or
// expired token and a disabled account: callers cannot tell them apart.
var ErrBadCredentials = errors.New("authentication failed")

// DefaultOverlap is how long a replaced token keeps working after a rotation.
const DefaultOverlap = 24 * time.Hour

// TokenLength is the length of a generated Auth Token (about 238 bits of entropy).
const TokenLength = 40

// Service implements the account operations.
type Service struct {
	st      Store
	ring    *keys.Ring
	now     func() time.Time
	overlap time.Duration
	cache   *authCache
	bus     Bus
}

// Options configure a Service.
type Options struct {
	Overlap time.Duration    // default DefaultOverlap
	Now     func() time.Time // default time.Now
	// CacheTTL is how long authentication data may be served from memory; 0 means the
	// default (1 s), negative disables the cache.
	CacheTTL time.Duration
	// Bus, when set, carries invalidations to other nodes (see Invalidate).
	Bus Bus
}

// New returns a Service.
func New(st Store, ring *keys.Ring, o Options) *Service {
	if o.Overlap == 0 {
		o.Overlap = DefaultOverlap
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.CacheTTL == 0 {
		o.CacheTTL = time.Second
	}
	return &Service{st: st, ring: ring, now: o.Now, overlap: o.Overlap, bus: o.Bus,
		cache: &authCache{ttl: o.CacheTTL, max: 100_000, entries: map[string]*authEntry{}}}
}

// Overlap is the configured default rotation overlap.
func (s *Service) Overlap() time.Duration { return s.overlap }

const (
	upperDigits  = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	alphanumeric = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	digits       = "0123456789"
)

// RandomString returns n characters drawn uniformly from alphabet with crypto/rand.
func RandomString(alphabet string, n int) string {
	b := make([]byte, n)
	max := big.NewInt(int64(len(alphabet)))
	for i := range b {
		v, err := rand.Int(rand.Reader, max)
		if err != nil {
			panic("crypto/rand failed: " + err.Error()) // the platform cannot run without randomness
		}
		b[i] = alphabet[v.Int64()]
	}
	return string(b)
}

// NewID returns an identifier of the given two-letter prefix and 18 upper-case
// alphanumerics, the form of Plivo Auth IDs (MA…, SA…) that SDKs validate.
func NewID(prefix string) string { return prefix + RandomString(upperDigits, 18) }

// NewNumericID returns a random decimal id of n digits with no leading zero (Plivo app ids).
func NewNumericID(n int) string { return RandomString(digits[1:], 1) + RandomString(digits, n-1) }

// ValidAuthID reports whether s has the form of an Auth ID.
func ValidAuthID(s string) bool {
	if len(s) != 20 || (s[:2] != "MA" && s[:2] != "SA") {
		return false
	}
	for i := 2; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func (s *Service) newCredential(accountID string) (*trunkline.Credential, string, error) {
	token := RandomString(alphanumeric, TokenLength)
	c := &trunkline.Credential{ID: NewID("CR"), AccountID: accountID, TokenMAC: s.ring.MAC([]byte(token))}
	enc, err := s.ring.Seal([]byte(token), CredentialAAD(c.ID))
	if err != nil {
		return nil, "", err
	}
	c.TokenEnc = enc
	return c, token, nil
}

func CredentialAAD(id string) []byte { return []byte("credential:" + id) }

// Created is the result of creating an account: the account, its first credential id and
// the token, which is never retrievable again.
type Created struct {
	Account      *trunkline.Account
	CredentialID string
	Token        string
}

// CreateMain creates a main account.
func (s *Service) CreateMain(ctx context.Context, name string) (*Created, error) {
	return s.create(ctx, &trunkline.Account{ID: NewID("MA"), Name: name, Enabled: true})
}

// CreateSub creates a subaccount of parent.
func (s *Service) CreateSub(ctx context.Context, parent *trunkline.Account, name string, enabled bool) (*Created, error) {
	if parent.IsSub() {
		return nil, errors.New("a subaccount cannot have subaccounts")
	}
	return s.create(ctx, &trunkline.Account{ID: NewID("SA"), ParentID: parent.ID, Name: name, Enabled: enabled})
}

// CreateMainWithOwner creates a main account together with its first console user (the
// owner), in one transaction: a signup makes both or neither. A taken email is
// trunkline.ErrConflict.
func (s *Service) CreateMainWithOwner(ctx context.Context, name string, owner *trunkline.User) (*Created, error) {
	return s.createWith(ctx, &trunkline.Account{ID: NewID("MA"), Name: name, Enabled: true}, owner)
}

func (s *Service) create(ctx context.Context, a *trunkline.Account) (*Created, error) {
	return s.createWith(ctx, a, nil)
}

func (s *Service) createWith(ctx context.Context, a *trunkline.Account, owner *trunkline.User) (*Created, error) {
	for attempt := 0; ; attempt++ {
		c, token, err := s.newCredential(a.ID)
		if err != nil {
			return nil, err
		}
		if owner != nil {
			err = s.st.CreateAccountWithOwner(ctx, a, c, owner)
			if errors.Is(err, trunkline.ErrConflict) {
				// The owner's email is the likelier conflict; an id collision is
				// astronomically rare, so do not retry.
				return nil, err
			}
		} else {
			err = s.st.CreateAccount(ctx, a, c)
		}
		if errors.Is(err, trunkline.ErrConflict) && attempt < 3 { // an id collision: astronomically rare
			a.ID = a.ID[:2] + RandomString(upperDigits, 18)
			continue
		}
		if err != nil {
			return nil, err
		}
		return &Created{Account: a, CredentialID: c.ID, Token: token}, nil
	}
}

// Authenticate checks an Auth ID and token. Every failure is ErrBadCredentials. The
// presented token is hashed before any look-up so unknown and known IDs cost the same.
func (s *Service) Authenticate(ctx context.Context, authID, token string) (*trunkline.Account, string, error) {
	mac := s.ring.MAC([]byte(token))
	if !ValidAuthID(authID) {
		return nil, "", ErrBadCredentials
	}
	e, err := s.load(ctx, authID)
	if errors.Is(err, trunkline.ErrNotFound) {
		return nil, "", ErrBadCredentials
	}
	if err != nil {
		return nil, "", err
	}
	now := s.now()
	match := ""
	for _, c := range e.creds {
		// Compare against every credential, not stopping early.
		if hmac.Equal(mac, c.TokenMAC) && c.LiveAt(now) && match == "" {
			match = c.ID
		}
	}
	// A disabled main account disables its subaccounts too.
	if match == "" || !e.acct.Enabled || !e.parentEnabled {
		return nil, "", ErrBadCredentials
	}
	a := *e.acct // callers may keep it; the cached one stays untouched
	return &a, match, nil
}

// Rotated is the result of a rotation.
type Rotated struct {
	CredentialID string
	Token        string     // shown once
	Retired      []string   // credential ids that now expire (or were revoked)
	OldValidTill *time.Time // nil when the old tokens were revoked at once
}

// Rotate issues a new token for the account. The old tokens keep working for overlap
// (the service default when overlap < 0) or stop at once when revokeOld is set.
func (s *Service) Rotate(ctx context.Context, accountID string, overlap time.Duration, revokeOld bool) (*Rotated, error) {
	if overlap < 0 {
		overlap = s.overlap
	}
	c, token, err := s.newCredential(accountID)
	if err != nil {
		return nil, err
	}
	var end *time.Time
	if !revokeOld {
		t := s.now().Add(overlap).UTC().Truncate(time.Microsecond)
		end = &t
	}
	retired, err := s.st.RotateCredential(ctx, c, end)
	if err != nil {
		return nil, err
	}
	s.Invalidate(accountID)
	return &Rotated{CredentialID: c.ID, Token: token, Retired: retired, OldValidTill: end}, nil
}

// RevokeOthers revokes at once every token of the account except the newest one (used to
// cut a rotation's overlap short). It returns the revoked credential ids.
func (s *Service) RevokeOthers(ctx context.Context, accountID string) ([]string, error) {
	creds, err := s.st.Credentials(ctx, accountID, s.now())
	if err != nil {
		return nil, err
	}
	if len(creds) == 0 {
		return nil, nil
	}
	ids, err := s.st.RevokeCredentials(ctx, accountID, creds[0].ID)
	s.Invalidate(accountID)
	return ids, err
}

// Token returns the account's current token in clear, for signing webhooks. It reads
// through the authentication cache: callbacks come two per message.
func (s *Service) Token(ctx context.Context, accountID string) (string, error) {
	e, err := s.load(ctx, accountID)
	if err != nil {
		return "", err
	}
	now := s.now()
	for _, c := range e.creds { // the current credential first
		if !c.LiveAt(now) {
			continue
		}
		pt, err := s.ring.Open(c.TokenEnc, CredentialAAD(c.ID))
		if err != nil {
			return "", err
		}
		return string(pt), nil
	}
	return "", errors.New("account has no live credential")
}

// SigningTokens returns the tokens that sign a callback of accountID: its own, and its
// main account's (the same for a main account), as Plivo's X-Plivo-Signature-Ma-V3 needs.
func (s *Service) SigningTokens(ctx context.Context, accountID string) (own, main string, err error) {
	e, err := s.load(ctx, accountID)
	if err != nil {
		return "", "", err
	}
	if own, err = s.Token(ctx, accountID); err != nil {
		return "", "", err
	}
	if e.acct.ParentID == "" {
		return own, own, nil
	}
	main, err = s.Token(ctx, e.acct.ParentID)
	return own, main, err
}

// CurrentCredential returns the id of the account's newest live credential. It reads
// through the authentication cache, as authentication itself does: a rotation or
// revocation made through this service drops the entry at once, here and on other
// nodes through the bus (Invalidate), and one made by another process without a bus
// (the operator CLI) is seen within the cache's TTL. It was a query per request
// before: 28% of the server's CPU in a run of POST Application/ (bench/api.sh).
func (s *Service) CurrentCredential(ctx context.Context, accountID string) (string, error) {
	e, err := s.load(ctx, accountID)
	if err != nil {
		return "", err
	}
	now := s.now()
	for _, c := range e.creds { // the newest first
		if c.LiveAt(now) {
			return c.ID, nil
		}
	}
	return "", errors.New("account has no live credential")
}
