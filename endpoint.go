package trunkline

import "time"

// Endpoint is a SIP user of an account (Plivo's Endpoint), with its registration.
type Endpoint struct {
	ID        string
	AccountID string
	Username  string // globally unique: the registrar finds endpoints by it alone
	Alias     string
	AppID     string // "" when none
	// The secrets, sealed under the KEK by package account (never the password itself):
	// the digest HA1 for Realm, and Plivo's MD5(password).
	Realm          string
	HA1Enc         []byte
	PasswordMD5Enc []byte
	CreatedAt      time.Time
	ModifiedAt     time.Time

	// Registration, written by the registrar.
	SIPContact   string
	SIPUserAgent string
	SIPExpiresAt *time.Time // nil: never registered, or unregistered
	RegisteredAt *time.Time

	// AccountEnabled is read from the accounts table: false when the endpoint's account,
	// or the main account above it, is disabled. Not stored with the endpoint.
	AccountEnabled bool
}

// Registered reports whether the endpoint has a live registration at t.
func (e *Endpoint) Registered(t time.Time) bool {
	return e.SIPContact != "" && e.SIPExpiresAt != nil && e.SIPExpiresAt.After(t)
}

// EndpointFilter narrows a listing.
type EndpointFilter struct {
	Limit  int
	Offset int
}
