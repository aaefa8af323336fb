package trunkline

import (
	"context"
	"time"
)

// Staff roles: the operator's own people, who are not users of any account.
const (
	StaffSupport     = "support"
	StaffEngineering = "engineering"
	StaffSecurity    = "security"
	StaffManagement  = "management"
)

// Staff is one of the operator's people. They log in at /staff/ with a passphrase and a
// second factor (TOTP); they reach a customer's data only under an AccessGrant.
type Staff struct {
	ID           string
	Email        string // lower-cased
	Name         string
	Role         string
	PassHash     string // argon2id PHC string
	TOTPEnc      []byte // sealed TOTP secret (aad "staff-totp:" + id); never nil for a usable staff member
	TOTPLastStep int64
	Disabled     bool
	CreatedAt    time.Time
}

// StaffSession is a staff console login. ID is the keyed hash of the cookie's token.
type StaffSession struct {
	ID         string
	StaffID    string
	CSRF       string
	Source     string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
}

// Grant scopes and modes: what a grant lets its holder see and do.
const (
	ScopeMetadata = "metadata" // who, when, how long, settings: not what was said
	ScopeContent  = "content"  // message text, recordings' audio
	ModeRead      = "read"
	ModeAct       = "act"
)

// Grant states. A grant is Pending until every approval it needs is in, Active until it
// expires (ExpiresAt) or is revoked, and Denied when anyone entitled to decide said no.
const (
	GrantPending = "pending"
	GrantActive  = "active"
	GrantDenied  = "denied"
	GrantRevoked = "revoked"
	GrantExpired = "expired" // reported, never stored: an active grant past ExpiresAt
)

// AccessGrant is a staff member's request to reach one account's data and, once
// approved, the grant itself.
type AccessGrant struct {
	ID         string
	AccountID  string
	StaffID    string // the requester, who holds the grant
	Scope      string // ScopeMetadata or ScopeContent
	Mode       string // ModeRead or ModeAct
	Reason     string
	Ticket     string
	Duration   time.Duration // how long the grant lasts once active
	BreakGlass bool
	// NeedsConsent: the account requires its owner's consent for content access.
	NeedsConsent bool
	State        string
	RequestedAt  time.Time
	ApprovedBy   string // management staff id, or the break-glass co-signer
	ApprovedAt   *time.Time
	ConsentBy    string // the account owner (a console user id) who consented
	ConsentAt    *time.Time
	DeniedBy     string // "staff:ID" or "user:ID"
	DeniedAt     *time.Time
	RevokedBy    string
	RevokedAt    *time.Time
	ActiveAt     *time.Time
	ExpiresAt    *time.Time
	ReviewedBy   string // break-glass: the manager who reviewed it afterwards
	ReviewedAt   *time.Time
	ReviewNote   string
}

// GrantFilter selects grants. Zero fields match everything.
type GrantFilter struct {
	AccountID string
	StaffID   string
	States    []string
	Limit     int
}

// StaffStore keeps staff, their sessions, access grants and accounts' consent settings.
// UpdateGrant runs fn on the current grant under a lock and stores it unless fn fails,
// so two decisions on one grant never both apply to the state the other saw.
type StaffStore interface {
	CreateStaff(ctx context.Context, s *Staff) error
	Staff(ctx context.Context, id string) (*Staff, error)
	StaffByEmail(ctx context.Context, email string) (*Staff, error)
	ListStaff(ctx context.Context) ([]*Staff, error)
	SetStaffDisabled(ctx context.Context, id string, disabled bool) error
	AdvanceStaffTOTP(ctx context.Context, id string, step int64) (bool, error)
	CreateStaffSession(ctx context.Context, s *StaffSession) error
	StaffSession(ctx context.Context, id string) (*StaffSession, error)
	TouchStaffSession(ctx context.Context, id string, at time.Time) error
	DeleteStaffSession(ctx context.Context, id string) error
	DeleteStaffSessions(ctx context.Context, staffID string) error

	CreateGrant(ctx context.Context, g *AccessGrant) error
	Grant(ctx context.Context, id string) (*AccessGrant, error)
	ListGrants(ctx context.Context, f GrantFilter) ([]*AccessGrant, error)
	UpdateGrant(ctx context.Context, id string, fn func(*AccessGrant) error) (*AccessGrant, error)

	// StaffConsent reports whether the account requires its owner's consent for
	// staff access to content (false when never set).
	StaffConsent(ctx context.Context, accountID string) (bool, error)
	SetStaffConsent(ctx context.Context, accountID string, required bool) error
}
