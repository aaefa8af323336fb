// Package staff holds the rules by which the operator's own people reach customer data.
//
// Staff are not console users: the operator creates them with the CLI (`trunkline staff
// add`), each with a role (support, engineering, security, management), a passphrase and
// a TOTP second factor that every login needs. They log in at /staff/, with their own
// sessions and their own login throttle.
//
// A staff member sees nothing of an account without a grant. To get one they file a
// request (account, scope metadata or content, mode read or act, reason, ticket,
// duration up to a cap); a management-role staff member who is not the requester
// approves or denies it, and any deny wins, even after an approval. An account may
// require its owner's consent for content access; then the owner approves in their
// console too. A grant expires on its own and can be revoked at any time. In an incident
// two staff members, one of them in security, open a short break-glass grant without
// management: it pages (audit entry, metric, the operator's callback) and stays flagged
// until a manager reviews it.
//
// Every step of a grant, and every read or action under one, is an audit entry on the
// customer's account (the customer sees it in their console and in GET AuditLog/) and a
// line in the operator's log. Access appends its entry before the data is shown: when
// the entry cannot be recorded, nothing is shown.
package staff

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/audit"
	"github.com/trunkline/trunkline/identity"
	"github.com/trunkline/trunkline/keys"
	"github.com/trunkline/trunkline/ratelimit"
)

// Store is what the rules need from storage.
type Store interface {
	trunkline.StaffStore
	Account(ctx context.Context, id string) (*trunkline.Account, error)
}

// Auditor records audit entries.
type Auditor interface {
	Append(ctx context.Context, e audit.Entry) (int64, error)
}

// Pager is told when a break-glass grant opens (the operator's configured callback).
type Pager interface {
	Page(ctx context.Context, g *trunkline.AccessGrant, opener, cosigner *trunkline.Staff) error
}

// Metrics counts staff access events: "request", "approve", "deny", "revoke",
// "consent", "breakglass", "review", "read", "act", "refused".
type Metrics interface {
	StaffEvent(kind string)
}

// Options configure the Service.
type Options struct {
	Store   Store
	Ring    *keys.Ring
	Audit   Auditor
	Hasher  *identity.Hasher // default identity.NewHasher(identity.DefaultParams, 2)
	Pager   Pager            // nil: break-glass pages only through audit, log and metrics
	Metrics Metrics
	Logger  *slog.Logger
	Now     func() time.Time

	MaxGrant        time.Duration // longest grant; default 8 h
	MaxBreakGlass   time.Duration // longest break-glass grant; default 1 h
	IdleTimeout     time.Duration // default 15 min
	SessionLifetime time.Duration // default 8 h
	// LoginFails failures of one email from one address within LoginWindow lock that
	// pair out (doubling, at most LoginMaxLockout); 4× that locks the address.
	LoginFails      int
	LoginWindow     time.Duration
	LoginMaxLockout time.Duration
}

func (o *Options) defaults() {
	if o.Hasher == nil {
		o.Hasher = identity.NewHasher(identity.DefaultParams, 2)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	for _, d := range []struct {
		p *time.Duration
		v time.Duration
	}{{&o.MaxGrant, 8 * time.Hour}, {&o.MaxBreakGlass, time.Hour}, {&o.IdleTimeout, 15 * time.Minute},
		{&o.SessionLifetime, 8 * time.Hour}, {&o.LoginWindow, 2 * time.Minute}, {&o.LoginMaxLockout, 30 * time.Minute}} {
		if *d.p <= 0 {
			*d.p = d.v
		}
	}
	if o.LoginFails <= 0 {
		o.LoginFails = 5
	}
}

// Service runs staff logins and the grant rules.
type Service struct {
	o     Options
	st    Store
	guard *ratelimit.Guard
}

// New returns a Service.
func New(o Options) *Service {
	o.defaults()
	return &Service{o: o, st: o.Store, guard: ratelimit.NewGuard(ratelimit.GuardOptions{PerAddress: 4 * o.LoginFails,
		PerPair: o.LoginFails, Window: o.LoginWindow, MaxLockout: o.LoginMaxLockout, Now: o.Now})}
}

// Options returns the effective options.
func (s *Service) Options() Options { return s.o }

// Error is a refusal the staff member (or customer) can act on; its text is shown as is.
type Error = trunkline.Error

func refuse(code, format string, a ...any) error {
	return &trunkline.Error{Code: code, Message: fmt.Sprintf(format, a...)}
}

// ErrLogin is the one answer to a failed staff login.
var ErrLogin = &trunkline.Error{Code: trunkline.EUNAUTHORIZED, Message: "The email, passphrase or code is not right."}

// ErrSession: no valid staff session.
var ErrSession = errors.New("no valid staff session")

// Roles lists the staff roles.
var Roles = []string{trunkline.StaffSupport, trunkline.StaffEngineering, trunkline.StaffSecurity, trunkline.StaffManagement}

// ValidRole reports whether role is a staff role.
func ValidRole(role string) bool {
	for _, r := range Roles {
		if r == role {
			return true
		}
	}
	return false
}

func newID(prefix string) string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return prefix + hex.EncodeToString(b)
}

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func totpAAD(id string) []byte { return []byte("staff-totp:" + id) }

func (s *Service) sessionID(token string) string {
	return hex.EncodeToString(s.o.Ring.MAC([]byte("staff-session:" + token)))
}

func (s *Service) now() time.Time { return s.o.Now().UTC().Truncate(time.Microsecond) }

func (s *Service) audit(ctx context.Context, e audit.Entry) error {
	if _, err := s.o.Audit.Append(ctx, e); err != nil {
		s.o.Logger.Error("audit append failed", "action", e.Action, "err", err)
		return err
	}
	return nil
}

func (s *Service) count(kind string) {
	if s.o.Metrics != nil {
		s.o.Metrics.StaffEvent(kind)
	}
}

// Actor is how audit entries name a staff member.
func Actor(st *trunkline.Staff) string { return "staff:" + st.Email }

// Created is a new staff member with the TOTP secret to put in their authenticator app,
// shown once.
type Created struct {
	Staff *trunkline.Staff
	TOTP  *identity.TOTPKey
}

// Create adds a staff member (the operator CLI): the passphrase follows the console's
// policy, and a TOTP secret is made, because no staff login works without a second factor.
func (s *Service) Create(ctx context.Context, email, name, role, passphrase string) (*Created, error) {
	email, err := identity.NormalizeEmail(email)
	if err != nil {
		return nil, err
	}
	if !ValidRole(role) {
		return nil, refuse(trunkline.EINVALID, "role must be one of %s", strings.Join(Roles, ", "))
	}
	if err := identity.CheckPassphrase(passphrase, email); err != nil {
		return nil, err
	}
	hash, err := s.o.Hasher.Hash(ctx, passphrase)
	if err != nil {
		return nil, err
	}
	key, err := identity.NewTOTP("Trunkline staff", email)
	if err != nil {
		return nil, err
	}
	st := &trunkline.Staff{ID: newID("ST"), Email: email, Name: strings.TrimSpace(name), Role: role, PassHash: hash, CreatedAt: s.now()}
	if st.TOTPEnc, err = s.o.Ring.Seal([]byte(key.Secret), totpAAD(st.ID)); err != nil {
		return nil, err
	}
	if err := s.st.CreateStaff(ctx, st); err != nil {
		if errors.Is(err, trunkline.ErrConflict) {
			return nil, refuse(trunkline.ECONFLICT, "a staff member with email %s exists", email)
		}
		return nil, err
	}
	return &Created{Staff: st, TOTP: key}, nil
}

// Session is an authenticated staff request's view of its login.
type Session struct {
	Rec    *trunkline.StaffSession
	Staff  *trunkline.Staff
	Source string
}

// Login checks email, passphrase and TOTP code together. Every failure is ErrLogin (or a
// throttling error), whatever was wrong, and costs the same passphrase hashing.
func (s *Service) Login(ctx context.Context, email, passphrase, code, source string) (*Session, string, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	v := s.guard.Check(source, email)
	if !v.Allowed {
		return nil, "", refuse(trunkline.EBUSY, "Too many failed logins from your address. Try again in %d seconds.", int(v.RetryAfter.Seconds()+0.5))
	}
	if err := v.Wait(ctx); err != nil {
		return nil, "", err
	}
	if len(passphrase) > 4*identity.MaxPassphrase {
		passphrase = passphrase[:4*identity.MaxPassphrase]
	}
	st, err := s.st.StaffByEmail(ctx, email)
	if err != nil && !errors.Is(err, trunkline.ErrNotFound) {
		return nil, "", err
	}
	ok := false
	if st == nil {
		s.o.Hasher.VerifyDummy(ctx, passphrase)
	} else if ok, err = s.o.Hasher.Verify(ctx, st.PassHash, passphrase); err != nil && ctx.Err() != nil {
		return nil, "", err
	}
	if ok {
		ok = !st.Disabled && s.checkTOTP(ctx, st, strings.TrimSpace(code))
	}
	if !ok {
		s.guard.Fail(source, email)
		e := audit.Entry{Actor: "staff", Action: "staff.login", Source: source, Outcome: audit.Failure}
		if st != nil {
			e.ObjectType, e.ObjectID = "staff", st.ID
		}
		s.audit(ctx, e)
		s.o.Logger.Warn("staff login failed", "source", source)
		return nil, "", ErrLogin
	}
	s.guard.Succeed(source, email)
	now := s.now()
	token := randomToken()
	rec := &trunkline.StaffSession{ID: s.sessionID(token), StaffID: st.ID, CSRF: randomToken(), Source: source,
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(s.o.SessionLifetime)}
	if err := s.st.CreateStaffSession(ctx, rec); err != nil {
		return nil, "", err
	}
	s.audit(ctx, audit.Entry{Actor: Actor(st), Action: "staff.login", ObjectType: "staff", ObjectID: st.ID, Source: source,
		Outcome: audit.Success, Detail: map[string]string{"role": st.Role, "second_factor": "totp"}})
	s.o.Logger.Info("staff login", "staff", st.Email, "role", st.Role, "source", source)
	return &Session{Rec: rec, Staff: st, Source: source}, token, nil
}

// checkTOTP checks a code against the staff member's secret and burns its step, so a
// code works once.
func (s *Service) checkTOTP(ctx context.Context, st *trunkline.Staff, code string) bool {
	if !identity.ValidCodeForm(code) || st.TOTPEnc == nil {
		return false
	}
	secret, err := s.o.Ring.Open(st.TOTPEnc, totpAAD(st.ID))
	if err != nil {
		s.o.Logger.Error("staff TOTP secret does not open", "staff", st.ID)
		return false
	}
	step, ok := identity.CheckTOTP(string(secret), code, st.TOTPLastStep, s.o.Now())
	if !ok {
		return false
	}
	advanced, err := s.st.AdvanceStaffTOTP(ctx, st.ID, step)
	return err == nil && advanced
}

// Authenticate finds the staff session of a cookie token; an ended, expired or idle one,
// or one of a disabled staff member, is ErrSession.
func (s *Service) Authenticate(ctx context.Context, token, source string) (*Session, error) {
	if token == "" || len(token) > 100 {
		return nil, ErrSession
	}
	rec, err := s.st.StaffSession(ctx, s.sessionID(token))
	if errors.Is(err, trunkline.ErrNotFound) {
		return nil, ErrSession
	}
	if err != nil {
		return nil, err
	}
	now := s.o.Now()
	if !now.Before(rec.ExpiresAt) || now.Sub(rec.LastSeenAt) >= s.o.IdleTimeout {
		s.st.DeleteStaffSession(ctx, rec.ID)
		return nil, ErrSession
	}
	st, err := s.st.Staff(ctx, rec.StaffID)
	if errors.Is(err, trunkline.ErrNotFound) || err == nil && st.Disabled {
		return nil, ErrSession
	}
	if err != nil {
		return nil, err
	}
	if now.Sub(rec.LastSeenAt) > 15*time.Second {
		if err := s.st.TouchStaffSession(ctx, rec.ID, now); err == nil {
			rec.LastSeenAt = now
		}
	}
	return &Session{Rec: rec, Staff: st, Source: source}, nil
}

// Logout ends a staff session.
func (s *Service) Logout(ctx context.Context, sess *Session) error {
	return s.st.DeleteStaffSession(ctx, sess.Rec.ID)
}

// SetDisabled disables (ending every session) or enables a staff member (the CLI).
func (s *Service) SetDisabled(ctx context.Context, email string, disabled bool) (*trunkline.Staff, error) {
	st, err := s.st.StaffByEmail(ctx, strings.ToLower(strings.TrimSpace(email)))
	if err != nil {
		return nil, err
	}
	if err := s.st.SetStaffDisabled(ctx, st.ID, disabled); err != nil {
		return nil, err
	}
	if disabled {
		if err := s.st.DeleteStaffSessions(ctx, st.ID); err != nil {
			return nil, err
		}
	}
	st.Disabled = disabled
	return st, nil
}
