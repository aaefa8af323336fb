package trunkline

import "time"

// Account is a main account (ParentID empty) or a subaccount.
type Account struct {
	ID         string // the Auth ID: MA... or SA...
	ParentID   string
	Name       string
	Enabled    bool
	City       string
	Address    string
	State      string
	Timezone   string
	CreatedAt  time.Time
	ModifiedAt time.Time
	// SecureVoice requires SIP over TLS with SRTP for the account's calls.
	SecureVoice bool
	// APIAllow, when not empty, is the comma-separated addresses and CIDR ranges the
	// account's API credentials are accepted from (set in the console).
	APIAllow string
}

// IsSub reports whether the account is a subaccount.
func (a *Account) IsSub() bool { return a.ParentID != "" }

// MainID is the main account this account belongs to (itself for a main account).
func (a *Account) MainID() string {
	if a.ParentID != "" {
		return a.ParentID
	}
	return a.ID
}

// Credential is one Auth Token of an account. Several may be live during a rotation
// overlap; TokenMAC is a keyed hash used to check a presented token and TokenEnc the
// encrypted token, needed in clear only to sign webhooks.
type Credential struct {
	ID        string
	AccountID string
	TokenMAC  []byte
	TokenEnc  []byte
	CreatedAt time.Time
	ExpiresAt *time.Time // set when a newer token replaced it; nil while current
	RevokedAt *time.Time
}

// LiveAt reports whether the credential is accepted at time t.
func (c *Credential) LiveAt(t time.Time) bool {
	if c.RevokedAt != nil {
		return false
	}
	return c.ExpiresAt == nil || t.Before(*c.ExpiresAt)
}

// AccountUpdate names the fields to change; nil leaves a field alone.
type AccountUpdate struct {
	Name, City, Address, State, Timezone *string
	Enabled, SecureVoice                 *bool
}
