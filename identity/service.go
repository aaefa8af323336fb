package identity

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"time"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/account"
	"github.com/trunkline/trunkline/audit"
	"github.com/trunkline/trunkline/keys"
	"github.com/trunkline/trunkline/ratelimit"
)

// Store is what the identity service needs from storage.
type Store interface {
	UserByEmail(ctx context.Context, email string) (*trunkline.User, error)
	User(ctx context.Context, id string) (*trunkline.User, error)
	CreateUser(ctx context.Context, u *trunkline.User) error
	SetUserPassHash(ctx context.Context, id, hash string) error
	SetUserPhone(ctx context.Context, id, phone string, verifiedAt time.Time) error
	SetUserTOTP(ctx context.Context, id string, enc []byte, step int64) error
	AdvanceTOTPStep(ctx context.Context, id string, step int64) (bool, error)
	ReplaceRecoveryCodes(ctx context.Context, userID string, macs [][]byte) error
	UseRecoveryCode(ctx context.Context, userID string, mac []byte) (bool, error)
	RecoveryCodesLeft(ctx context.Context, userID string) (int, error)
	WebAuthnCredentials(ctx context.Context, userID string) ([]*trunkline.WebAuthnCredential, error)
	AddWebAuthn(ctx context.Context, c *trunkline.WebAuthnCredential) error
	UseWebAuthn(ctx context.Context, userID, id string, data []byte) error
	DeleteWebAuthn(ctx context.Context, userID, id string) error
	CreateSession(ctx context.Context, s *trunkline.Session) error
	Session(ctx context.Context, id string) (*trunkline.Session, error)
	TouchSession(ctx context.Context, id string, at time.Time) error
	SetSessionMFA(ctx context.Context, id string, at time.Time) error
	DeleteSession(ctx context.Context, userID, id string) error
	DeleteUserSessions(ctx context.Context, userID, keepID string) (int, error)
	UserSessions(ctx context.Context, userID string) ([]*trunkline.Session, error)
	CreateVerification(ctx context.Context, v *trunkline.Verification) error
	VerificationByFlow(ctx context.Context, flowMAC []byte) (*trunkline.Verification, error)
	ResendVerification(ctx context.Context, id string, codeMAC []byte, channel string, sentAt, expiresAt time.Time, maxSends int) error
	CountVerificationCheck(ctx context.Context, id string, maxChecks int) error
	UseVerification(ctx context.Context, id string, at time.Time) (bool, error)
	DeleteVerification(ctx context.Context, id string) error
	TakeSendBudgets(ctx context.Context, now time.Time, budgets []trunkline.SendBudget) (int, error)
	SetUserRole(ctx context.Context, accountID, id, role string) error
	DeleteUser(ctx context.Context, accountID, id string) error
	SaveVerifiedCallerID(ctx context.Context, v *trunkline.VerifiedCallerID) error
	CreateInvite(ctx context.Context, i *trunkline.Invite) error
	InviteByToken(ctx context.Context, mac []byte) (*trunkline.Invite, error)
	Invite(ctx context.Context, id string) (*trunkline.Invite, error)
	AcceptInvite(ctx context.Context, inviteID string, u *trunkline.User) (bool, error)
	DeleteInvite(ctx context.Context, accountID, id string) error
}

// Accounts creates the account a signup makes.
type Accounts interface {
	CreateMainWithOwner(ctx context.Context, name string, owner *trunkline.User) (*account.Created, error)
}

// CodeSender delivers a verification code to a phone by "sms" or "voice", through the
// platform's own messaging and voice. The code must not be logged.
type CodeSender interface {
	SendCode(ctx context.Context, channel, phone, code string) error
}

// Auditor records audit entries.
type Auditor interface {
	Append(ctx context.Context, e audit.Entry) (int64, error)
}

// Options configure the Service.
type Options struct {
	// Throttles, when set, makes the throttles cluster-wide (failures and spent tokens
	// on one node count on all); nil keeps them to this node.
	Throttles *ratelimit.Exchange
	Store     Store
	Ring      *keys.Ring
	Accounts  Accounts
	Sender    CodeSender
	Audit     Auditor
	Hasher    *Hasher // default NewHasher(DefaultParams, 2)
	Logger    *slog.Logger
	Now       func() time.Time

	IdleTimeout     time.Duration // default 15 min (HIPAA automatic logoff)
	SessionLifetime time.Duration // default 12 h, however active
	PendingLifetime time.Duration // a login waiting for its second factor; default 5 min
	FreshMFA        time.Duration // how recent a second factor must be for sensitive changes; default 10 min
	CodeTTL         time.Duration // default 10 min
	MaxChecks       int           // per verification; default 5
	MaxSends        int           // per verification; default 5

	// Throttles. Login failures (a ratelimit.Guard): LoginFails failures of one email
	// from one address within LoginWindow lock that address out for that email, and
	// 4×LoginFails failures lock the address (16× its IPv4 /24 or IPv6 /48) out for every email, for
	// a while (doubling, at most LoginMaxLockout). An email is never locked: past
	// LoginFails failures from all addresses its attempts are slowed down, and the right
	// passphrase from an address that has not been failing still logs in.
	LoginFails      int
	LoginWindow     time.Duration
	LoginMaxLockout time.Duration
	// Code sends per phone number and per source address per hour.
	SendsPerNumber, SendsPerAddress int
	// Budgets bound the sends per source network, per destination prefix and for the
	// whole installation (see admitSend).
	Budgets Budgets
	// VerifyPrefixes are the calling codes (E.164 digits, e.g. "1", "44") whose numbers
	// may be sent codes; empty allows every country.
	VerifyPrefixes []string
	// Signup is SignupOpen (anyone may sign up on the console) or SignupInvite (new
	// accounts come from the operator, with an owner invitation); default SignupOpen.
	Signup  string
	Metrics Metrics // counts refused sends; nil counts nothing

	Issuer string // TOTP issuer shown in authenticator apps; default "Trunkline"

	// Sweeper is what Run sweeps every SweepEvery (default 10 min): ended sessions,
	// stale verifications, past send budgets.
	Sweeper    Sweeper
	SweepEvery time.Duration
}

func (o *Options) defaults() {
	if o.Hasher == nil {
		o.Hasher = NewHasher(DefaultParams, 2)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&o.IdleTimeout, 15*time.Minute)
	def(&o.SessionLifetime, 12*time.Hour)
	def(&o.PendingLifetime, 5*time.Minute)
	def(&o.FreshMFA, 10*time.Minute)
	def(&o.CodeTTL, 10*time.Minute)
	def(&o.LoginWindow, 2*time.Minute)
	def(&o.LoginMaxLockout, 30*time.Minute)
	def(&o.SweepEvery, 10*time.Minute)
	defInt := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	defInt(&o.MaxChecks, 5)
	defInt(&o.MaxSends, 5)
	defInt(&o.LoginFails, 5)
	defInt(&o.SendsPerNumber, 5)
	defInt(&o.SendsPerAddress, 20)
	o.Budgets.defaults()
	if o.Signup == "" {
		o.Signup = SignupOpen
	}
	if o.Issuer == "" {
		o.Issuer = "Trunkline"
	}
}

// Signup modes.
const (
	SignupOpen   = "open"
	SignupInvite = "invite"
)

// Service runs signup, phone verification, login with second factors, and sessions.
type Service struct {
	o          Options
	st         Store
	ring       *keys.Ring
	loginFail  *ratelimit.Guard
	failMFA    *ratelimit.Failures
	sendNumber *ratelimit.Bucket
	sendAddr   *ratelimit.Bucket
	// refusalAudit keeps refused sends from writing more than one audit entry a
	// minute per limit and key.
	refusalAudit *ratelimit.Bucket
}

// New returns a Service.
func New(o Options) *Service {
	o.defaults()
	s := &Service{o: o, st: o.Store, ring: o.Ring,
		loginFail: ratelimit.NewGuard(ratelimit.GuardOptions{PerAddress: 4 * o.LoginFails, PerPair: o.LoginFails,
			Window: o.LoginWindow, MaxLockout: o.LoginMaxLockout, Now: o.Now}),
		failMFA:      ratelimit.NewFailures(o.LoginFails, o.LoginWindow, o.LoginMaxLockout, o.Now),
		sendNumber:   ratelimit.NewBucket(o.SendsPerNumber, time.Hour, o.Now),
		sendAddr:     ratelimit.NewBucket(o.SendsPerAddress, time.Hour, o.Now),
		refusalAudit: ratelimit.NewBucket(1, time.Minute, o.Now),
	}
	s.loginFail.Share(o.Throttles, "identity.login")
	s.failMFA.Share(o.Throttles, "identity.mfa")
	s.sendNumber.Share(o.Throttles, "identity.send.number")
	s.sendAddr.Share(o.Throttles, "identity.send.addr")
	return s
}

// Options returns the effective options (timeouts the console shows).
func (s *Service) Options() Options { return s.o }

// Hasher is the passphrase hasher.
func (s *Service) Hasher() *Hasher { return s.o.Hasher }

// Error is a problem the user can act on; its Error() is shown on the page as is. Field
// names the form field it concerns ("" for the whole form).
type Error struct {
	Field string
	Msg   string
	// RetryAfter is set for throttling.
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Msg }

func userErr(field, format string, a ...any) error {
	return &Error{Field: field, Msg: fmt.Sprintf(format, a...)}
}

// ErrLogin is the one answer to a failed login: unknown email and wrong passphrase look
// the same.
var ErrLogin = &Error{Msg: "The email or passphrase is not right."}

// ErrSession: no valid session (none, expired, idle too long, or ended).
var ErrSession = errors.New("no valid session")

// ErrNeedFreshMFA: the change needs a second factor presented in the last few minutes.
var ErrNeedFreshMFA = &Error{Msg: "Confirm it is you: enter a code from your authenticator first."}

func (s *Service) audit(ctx context.Context, e audit.Entry) {
	if _, err := s.o.Audit.Append(ctx, e); err != nil {
		s.o.Logger.Error("audit append failed", "action", e.Action, "err", err)
	}
}

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *Service) tokenMAC(kind, token string) []byte {
	return s.ring.MAC([]byte(kind + ":" + token))
}

func (s *Service) sessionID(token string) string {
	return hex.EncodeToString(s.tokenMAC("session", token))
}

func (s *Service) codeMAC(verificationID, code string) []byte {
	return s.ring.MAC([]byte("verify:" + verificationID + ":" + code))
}

// NormalizeEmail lower-cases and checks an email address.
func NormalizeEmail(email string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(email))
	if len(e) > 254 {
		return "", userErr("email", "The email address is too long.")
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || !strings.Contains(e[strings.LastIndexByte(e, '@')+1:], ".") {
		return "", userErr("email", "Enter an email address such as name@example.com.")
	}
	return e, nil
}

// NormalizePhone checks an E.164 number, with or without the leading +, and returns its
// digits.
func NormalizePhone(p string) (string, error) {
	p = strings.NewReplacer(" ", "", "-", "", "(", "", ")", "", ".", "").Replace(strings.TrimSpace(p))
	p = strings.TrimPrefix(p, "+")
	if len(p) < 8 || len(p) > 15 || p[0] == '0' {
		return "", userErr("phone", "Enter the phone number in international form, e.g. +14155550100.")
	}
	for _, c := range p {
		if c < '0' || c > '9' {
			return "", userErr("phone", "Enter the phone number in international form, e.g. +14155550100.")
		}
	}
	return p, nil
}

// checkNewPassphrase applies the passphrase policy to a user's new passphrase (the
// email, and so its local part, may not be in it); a refusal is the user's error on
// the passphrase field.
func checkNewPassphrase(p, email string) error {
	err := CheckPassphrase(p, email)
	var pe *PassphraseError
	if errors.As(err, &pe) {
		return &Error{Field: "passphrase", Msg: pe.Error()}
	}
	return err
}

func checkChannel(ch string) error {
	if ch != "sms" && ch != "voice" {
		return userErr("channel", "Choose how to receive the code: text message or voice call.")
	}
	return nil
}

func throttled(what string, wait time.Duration) error {
	return &Error{Msg: fmt.Sprintf("Too many %s. Try again in %s.", what, roundWait(wait)), RetryAfter: wait}
}

func roundWait(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%d seconds", int(d.Seconds()+0.5))
	}
	return fmt.Sprintf("%d minutes", int(d.Minutes()+0.5))
}
