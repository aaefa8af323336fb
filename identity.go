package trunkline

import "time"

// Console user roles.
const (
	RoleOwner     = "owner"
	RoleDeveloper = "developer"
	RoleReadOnly  = "read-only"
)

// SendBudget is one limit a verification send spends from: Bucket names the counter
// ("global:hour", "prefix:1415555", "net:198.51.100.0/24", ...), Window is the length
// of its fixed windows and Limit the sends a window allows.
type SendBudget struct {
	Bucket string
	Window time.Duration
	Limit  int
}

// User is a person who logs in to the console for an account.
type User struct {
	ID              string
	AccountID       string
	Email           string // lower-cased
	Role            string
	PassHash        string // argon2id PHC string
	Phone           string
	PhoneVerifiedAt *time.Time
	TOTPEnc         []byte // sealed TOTP secret; nil when TOTP is not enrolled
	TOTPLastStep    int64
	CreatedAt       time.Time
	ModifiedAt      time.Time
}

// WebAuthnCredential is a passkey or security key of a user: its id (base64url) and the
// library's credential record (public key, sign count, flags) as JSON.
type WebAuthnCredential struct {
	ID         string
	UserID     string
	Name       string
	Data       []byte
	CreatedAt  time.Time
	LastUsedAt *time.Time
}

// Session is a console login. ID is the keyed hash of the cookie's token.
type Session struct {
	ID         string
	UserID     string
	Level      int // 1: second factor pending; 2: logged in
	CSRF       string
	Source     string
	UserAgent  string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time // absolute lifetime
	MFAAt      *time.Time
}

// Verification is a phone verification in progress.
type Verification struct {
	ID          string
	FlowMAC     []byte
	Purpose     string // "signup" or "phone"
	UserID      string // for "phone": the user changing their number
	Email       string // for "signup"
	PassHash    string // for "signup"
	AccountName string // for "signup"
	InviteID    string // for "invite"
	AccountID   string // for "caller_id": the account verifying a caller ID
	Alias       string // for "caller_id": the caller ID's alias
	Phone       string
	Channel     string // "sms" or "voice"
	CodeMAC     []byte
	Sends       int
	Checks      int
	Source      string
	CreatedAt   time.Time
	SentAt      time.Time
	ExpiresAt   time.Time
	UsedAt      *time.Time
}

// Invite is an invitation of a new member to an account's console.
type Invite struct {
	ID        string
	AccountID string
	Email     string
	Role      string
	TokenMAC  []byte
	CreatedBy string // the inviting user's id
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
}
