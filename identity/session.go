package identity

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/audit"
)

// Session is an authenticated console request's view of its login.
type Session struct {
	Rec    *trunkline.Session
	User   *trunkline.User
	Source string // the current request's address
}

// Pending reports whether the session still waits for its second factor.
func (s *Session) Pending() bool { return s.Rec.Level < 2 }

func (s *Service) userEntry(sess *Session, action string, detail map[string]string) audit.Entry {
	return audit.Entry{AccountID: sess.User.AccountID, Actor: "console:" + sess.User.Email, Action: action,
		ObjectType: "user", ObjectID: sess.User.ID, Source: sess.Source, Outcome: "success", Detail: detail}
}

func (s *Service) newSession(ctx context.Context, u *trunkline.User, level int, mfa bool, source, userAgent string) (*Session, string, error) {
	now := s.o.Now().UTC().Truncate(time.Microsecond)
	token := randomToken()
	rec := &trunkline.Session{ID: s.sessionID(token), UserID: u.ID, Level: level, CSRF: randomToken(),
		Source: source, UserAgent: truncateUA(userAgent), CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(s.o.SessionLifetime)}
	if level < 2 {
		rec.ExpiresAt = now.Add(s.o.PendingLifetime)
	}
	if mfa {
		rec.MFAAt = &now
	}
	if err := s.st.CreateSession(ctx, rec); err != nil {
		return nil, "", err
	}
	return &Session{Rec: rec, User: u, Source: source}, token, nil
}

func truncateUA(ua string) string {
	if len(ua) > 200 {
		return strings.ToValidUTF8(ua[:200], "")
	}
	return ua
}

// Authenticate finds the session of a cookie token: absent, ended, past its lifetime or
// idle longer than IdleTimeout is ErrSession (an expired one is removed). A session still
// waiting for its second factor is returned too; callers check Pending.
func (s *Service) Authenticate(ctx context.Context, token, source string) (*Session, error) {
	if token == "" || len(token) > 100 {
		return nil, ErrSession
	}
	rec, err := s.st.Session(ctx, s.sessionID(token))
	if errors.Is(err, trunkline.ErrNotFound) {
		return nil, ErrSession
	}
	if err != nil {
		return nil, err
	}
	now := s.o.Now()
	if !now.Before(rec.ExpiresAt) || now.Sub(rec.LastSeenAt) >= s.o.IdleTimeout {
		s.st.DeleteSession(ctx, rec.UserID, rec.ID)
		return nil, ErrSession
	}
	u, err := s.st.User(ctx, rec.UserID)
	if errors.Is(err, trunkline.ErrNotFound) {
		return nil, ErrSession
	}
	if err != nil {
		return nil, err
	}
	// Activity moves the idle clock; writing it at most every 15 s keeps busy pages from
	// writing on every request, at the cost of up to 15 s of idle-timeout precision.
	if now.Sub(rec.LastSeenAt) > 15*time.Second {
		if err := s.st.TouchSession(ctx, rec.ID, now); err == nil {
			rec.LastSeenAt = now
		}
	}
	return &Session{Rec: rec, User: u, Source: source}, nil
}

// Login checks an email and passphrase. With a second factor enrolled the session it
// returns is pending (it only lets the user present the factor); without one it is a full
// session. Every failure is ErrLogin (or a throttling error), whether the email exists or
// not, and costs the same passphrase hashing.
func (s *Service) Login(ctx context.Context, email, passphrase, source, userAgent string) (*Session, string, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	// Only an email of a valid form is counted as an identity: no account has another,
	// and junk must not fill the throttle's memory.
	ident := ""
	if e, err := NormalizeEmail(email); err == nil {
		ident = e
	}
	v := s.loginFail.Check(source, ident)
	if !v.Allowed {
		return nil, "", throttled("failed logins from your address", v.RetryAfter)
	}
	if err := v.Wait(ctx); err != nil {
		return nil, "", err
	}
	if len(passphrase) > 4*MaxPassphrase {
		passphrase = passphrase[:4*MaxPassphrase] // still hashed: no shortcut for odd input
	}
	u, err := s.st.UserByEmail(ctx, email)
	if err != nil && !errors.Is(err, trunkline.ErrNotFound) {
		return nil, "", err
	}
	ok := false
	if u == nil {
		s.o.Hasher.VerifyDummy(ctx, passphrase)
	} else {
		ok, err = s.o.Hasher.Verify(ctx, u.PassHash, passphrase)
		if err != nil && ctx.Err() != nil {
			return nil, "", err
		}
	}
	if !ok {
		s.loginFail.Fail(source, ident)
		e := audit.Entry{Actor: "console", Action: "user.login", Source: source, Outcome: "failure"}
		if u != nil {
			// The account owner sees attempts on their users; the email is not recorded
			// for unknown users (it may be a mistyped passphrase).
			e.AccountID, e.ObjectType, e.ObjectID = u.AccountID, "user", u.ID
		}
		s.audit(ctx, e)
		return nil, "", ErrLogin
	}
	s.loginFail.Succeed(source, ident)
	has, err := s.HasSecondFactor(ctx, u)
	if err != nil {
		return nil, "", err
	}
	level := 2
	if has {
		level = 1
	}
	sess, token, err := s.newSession(ctx, u, level, false, source, userAgent)
	if err != nil {
		return nil, "", err
	}
	detail := map[string]string{"second_factor": "pending"}
	if !has {
		detail["second_factor"] = "none enrolled"
	}
	s.audit(ctx, s.userEntry(sess, "user.login", detail))
	return sess, token, nil
}

// HasSecondFactor reports whether the user has TOTP or a passkey.
func (s *Service) HasSecondFactor(ctx context.Context, u *trunkline.User) (bool, error) {
	if u.TOTPEnc != nil {
		return true, nil
	}
	creds, err := s.st.WebAuthnCredentials(ctx, u.ID)
	return len(creds) > 0, err
}

// SecondFactor completes a pending login with a TOTP code or a recovery code. The pending
// session ends and a new one (a new id) begins: the session id changes at login.
func (s *Service) SecondFactor(ctx context.Context, pending *Session, code, userAgent string) (*Session, string, error) {
	if !pending.Pending() {
		return nil, "", ErrSession
	}
	method, err := s.checkFactorCode(ctx, pending, code)
	if err != nil {
		return nil, "", err
	}
	return s.finishLogin(ctx, pending, method, userAgent)
}

func (s *Service) finishLogin(ctx context.Context, pending *Session, method, userAgent string) (*Session, string, error) {
	if err := s.st.DeleteSession(ctx, pending.User.ID, pending.Rec.ID); err != nil {
		return nil, "", ErrSession // a second use of the same pending session
	}
	sess, token, err := s.newSession(ctx, pending.User, 2, true, pending.Source, userAgent)
	if err != nil {
		return nil, "", err
	}
	s.audit(ctx, s.userEntry(sess, "user.login", map[string]string{"second_factor": method}))
	return sess, token, nil
}

// checkFactorCode checks a TOTP code (6 digits) or a recovery code, throttled per user.
// It returns the method used.
func (s *Service) checkFactorCode(ctx context.Context, sess *Session, code string) (string, error) {
	if blocked, wait := s.failMFA.Blocked(sess.User.ID); blocked {
		return "", throttled("wrong codes", wait)
	}
	code = strings.TrimSpace(code)
	method := ""
	if ValidCodeForm(code) && sess.User.TOTPEnc != nil {
		secret, err := s.ring.Open(sess.User.TOTPEnc, TOTPAAD(sess.User.ID))
		if err != nil {
			return "", err
		}
		if step, ok := CheckTOTP(string(secret), code, sess.User.TOTPLastStep, s.o.Now()); ok {
			// The stored guard decides, atomically: the same code on two nodes at once
			// is accepted once.
			if ok, err := s.st.AdvanceTOTPStep(ctx, sess.User.ID, step); err != nil {
				return "", err
			} else if ok {
				sess.User.TOTPLastStep = step
				method = "totp"
			}
		}
	} else if rc := NormalizeRecoveryCode(code); len(rc) >= 10 {
		ok, err := s.st.UseRecoveryCode(ctx, sess.User.ID, s.ring.MAC([]byte("recovery:"+sess.User.ID+":"+rc)))
		if err != nil {
			return "", err
		}
		if ok {
			method = "recovery code"
		}
	}
	if method == "" {
		s.failMFA.Fail(sess.User.ID)
		e := s.userEntry(sess, "user.second_factor", nil)
		e.Outcome = "failure"
		s.audit(ctx, e)
		return "", &Error{Field: "code", Msg: "That code is not right (a code works once; wait for the next one)."}
	}
	s.failMFA.Succeed(sess.User.ID)
	return method, nil
}

// Reauthenticate records a fresh second factor in a full session (for sensitive changes).
func (s *Service) Reauthenticate(ctx context.Context, sess *Session, code string) error {
	method, err := s.checkFactorCode(ctx, sess, code)
	if err != nil {
		return err
	}
	return s.markFresh(ctx, sess, method)
}

func (s *Service) markFresh(ctx context.Context, sess *Session, method string) error {
	now := s.o.Now().UTC().Truncate(time.Microsecond)
	if err := s.st.SetSessionMFA(ctx, sess.Rec.ID, now); err != nil {
		return err
	}
	sess.Rec.MFAAt = &now
	s.audit(ctx, s.userEntry(sess, "user.reauthenticate", map[string]string{"second_factor": method}))
	return nil
}

// Fresh reports whether the session presented a second factor recently enough for
// sensitive changes (always true for a user without one).
func (s *Service) Fresh(ctx context.Context, sess *Session) bool {
	return s.requireFresh(ctx, sess) == nil
}

func (s *Service) requireFresh(ctx context.Context, sess *Session) error {
	has, err := s.HasSecondFactor(ctx, sess.User)
	if err != nil {
		return err
	}
	if !has {
		return nil
	}
	if sess.Rec.MFAAt != nil && s.o.Now().Sub(*sess.Rec.MFAAt) < s.o.FreshMFA {
		return nil
	}
	return ErrNeedFreshMFA
}

// Logout ends the session.
func (s *Service) Logout(ctx context.Context, sess *Session) error {
	err := s.st.DeleteSession(ctx, sess.User.ID, sess.Rec.ID)
	s.audit(ctx, s.userEntry(sess, "user.logout", nil))
	return err
}

// LogoutEverywhere ends every session of the user, this one included.
func (s *Service) LogoutEverywhere(ctx context.Context, sess *Session) (int, error) {
	n, err := s.st.DeleteUserSessions(ctx, sess.User.ID, "")
	s.audit(ctx, s.userEntry(sess, "user.logout_all", map[string]string{"sessions": strconv.Itoa(n)}))
	return n, err
}

// EndSession ends one of the user's other sessions (by its listed id).
func (s *Service) EndSession(ctx context.Context, sess *Session, id string) error {
	if err := s.st.DeleteSession(ctx, sess.User.ID, id); err != nil {
		return &Error{Msg: "That session has already ended."}
	}
	s.audit(ctx, s.userEntry(sess, "user.session_end", map[string]string{"session": shortID(id)}))
	return nil
}

// Sessions lists the user's live sessions.
func (s *Service) Sessions(ctx context.Context, sess *Session) ([]*trunkline.Session, error) {
	all, err := s.st.UserSessions(ctx, sess.User.ID)
	if err != nil {
		return nil, err
	}
	now := s.o.Now()
	var out []*trunkline.Session
	for _, r := range all {
		if now.Before(r.ExpiresAt) && now.Sub(r.LastSeenAt) < s.o.IdleTimeout && r.Level == 2 {
			out = append(out, r)
		}
	}
	return out, nil
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// Sweeper is what Run needs to remove stale rows.
type Sweeper interface {
	DeleteExpiredSessions(ctx context.Context, now time.Time, idle time.Duration) (int, error)
	DeleteStaleVerifications(ctx context.Context, cutoff time.Time) error
	DeleteOldSendBudgets(ctx context.Context, cutoff time.Time) error
}

// Run sweeps Options.Sweeper (see Sweep) every Options.SweepEvery until ctx ends; it
// returns nil then.
func (s *Service) Run(ctx context.Context) error {
	if s.o.Sweeper == nil {
		return errors.New("identity: Run needs Options.Sweeper")
	}
	t := time.NewTicker(s.o.SweepEvery)
	defer t.Stop()
	for {
		if err := s.Sweep(ctx, s.o.Sweeper); err != nil && ctx.Err() == nil {
			s.o.Logger.Warn("sweeping console sessions and verifications", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Sweep removes ended sessions, day-old verifications and past send budgets. Expired rows are refused
// anyway; this keeps the tables small.
func (s *Service) Sweep(ctx context.Context, sw Sweeper) error {
	now := s.o.Now()
	if _, err := sw.DeleteExpiredSessions(ctx, now, s.o.IdleTimeout); err != nil {
		return err
	}
	if err := sw.DeleteStaleVerifications(ctx, now.Add(-24*time.Hour)); err != nil {
		return err
	}
	// The longest budget window is a day.
	return sw.DeleteOldSendBudgets(ctx, now.Add(-48*time.Hour))
}
