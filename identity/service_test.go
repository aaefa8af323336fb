package identity

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/account"
	"github.com/trunkline/trunkline/audit"
	"github.com/trunkline/trunkline/keys"
	"github.com/trunkline/trunkline/store"
	"github.com/trunkline/trunkline/store/storetest"
)

// codeBox stands in for the phone network in these unit tests (the end-to-end tests in
// cmd/trunkline send real codes through the sandbox carrier and phone). It keeps the
// last code per phone.
type codeBox struct {
	mu    sync.Mutex
	codes map[string]string
	sends int
	fail  bool
}

func (c *codeBox) SendCode(_ context.Context, channel, phone, code string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail {
		return errors.New("carrier down")
	}
	c.codes[phone] = code
	c.sends++
	return nil
}

func (c *codeBox) last(phone string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.codes[phone]
}

// auditBox records audit entries so tests can check no secret reached them.
type auditBox struct {
	mu      sync.Mutex
	entries []audit.Entry
}

func (a *auditBox) Append(_ context.Context, e audit.Entry) (int64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.entries = append(a.entries, e)
	return int64(len(a.entries)), nil
}

func (a *auditBox) text() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return fmt.Sprint(a.entries)
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type fixture struct {
	s     *Service
	db    *store.DB
	clk   *clock
	codes *codeBox
	audit *auditBox
	ring  *keys.Ring
	accts *account.Service
}

func newFixture(t testing.TB, db *store.DB) *fixture {
	// The send budgets are wide here: the tests that need them set their own.
	return newFixtureWith(t, db, func(o *Options) {
		o.Budgets = Budgets{PerHour: 1000, PerDay: 1000, PerPrefixHour: 1000, PerNetworkHour: 1000}
	})
}

// newFixtureWith is newFixture with options adjusted by opt.
func newFixtureWith(t testing.TB, db *store.DB, opt func(*Options)) *fixture {
	t.Helper()
	clk := &clock{t: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
	db.SetClock(clk.now)
	ring, _ := keys.NewRing(bytes.Repeat([]byte{7}, 32))
	f := &fixture{db: db, clk: clk, codes: &codeBox{codes: map[string]string{}}, audit: &auditBox{}, ring: ring}
	accts := account.New(db, ring, account.Options{Now: clk.now, CacheTTL: -1})
	f.accts = accts
	o := Options{Store: db, Ring: ring, Accounts: accts, Sender: f.codes, Audit: f.audit,
		Hasher: NewHasher(testParams, 2), Now: clk.now}
	opt(&o)
	f.s = New(o)
	return f
}

const goodPass = "correct horse battery staple"

func (f *fixture) signup(t *testing.T, email, phone string) (*Session, string) {
	t.Helper()
	ctx := context.Background()
	flow, err := f.s.StartSignup(ctx, SignupRequest{Email: email, Passphrase: goodPass, Phone: phone, Channel: "sms", Source: "192.0.2.1"})
	if err != nil {
		t.Fatalf("StartSignup: %v", err)
	}
	sess, token, err := f.s.CompleteSignup(ctx, flow.Token, f.codes.last(strings.TrimPrefix(phone, "+")), "192.0.2.1", "test")
	if err != nil {
		t.Fatalf("CompleteSignup: %v", err)
	}
	return sess, token
}

func forEachDB(t *testing.T, fn func(t *testing.T, f *fixture)) {
	for _, db := range storetest.Open(t) {
		t.Run(string(db.Dialect()), func(t *testing.T) { fn(t, newFixture(t, db)) })
	}
}

func userMsg(err error) string {
	var ie *Error
	if errors.As(err, &ie) {
		return ie.Msg
	}
	return ""
}

func TestSignupVerification(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		req := func(email, phone string) SignupRequest {
			return SignupRequest{Email: email, Passphrase: goodPass, Phone: phone, Channel: "sms", Source: "192.0.2.10"}
		}
		// Bad input: a user error naming the field, nothing stored, nothing sent.
		for _, c := range []struct {
			name  string
			r     SignupRequest
			field string
		}{
			{"bad email", req("nope", "+14155550100"), "email"},
			{"short passphrase", SignupRequest{Email: "a@example.com", Passphrase: "short", Phone: "+14155550100", Channel: "sms"}, "passphrase"},
			{"common passphrase", SignupRequest{Email: "a@example.com", Passphrase: "passwordpassword", Phone: "+14155550100", Channel: "sms"}, "passphrase"},
			{"bad phone", req("a@example.com", "555"), "phone"},
			{"bad channel", SignupRequest{Email: "a@example.com", Passphrase: goodPass, Phone: "+14155550100", Channel: "fax"}, "channel"},
		} {
			_, err := f.s.StartSignup(ctx, c.r)
			var ie *Error
			if !errors.As(err, &ie) || ie.Field != c.field {
				t.Errorf("%s: got %v, want a user error on %s", c.name, err, c.field)
			}
		}
		if f.codes.sends != 0 {
			t.Fatalf("codes sent for bad input: %d", f.codes.sends)
		}

		t.Run("expiry", func(t *testing.T) {
			flow, err := f.s.StartSignup(ctx, req("exp@example.com", "+14155550111"))
			if err != nil {
				t.Fatal(err)
			}
			code := f.codes.last("14155550111")
			f.clk.add(10*time.Minute + time.Second)
			if _, _, err := f.s.CompleteSignup(ctx, flow.Token, code, "192.0.2.10", ""); !strings.Contains(userMsg(err), "expired") {
				t.Fatalf("expired code: %v", err)
			}
			// A new code works again, and the old one does not.
			if _, err := f.s.Resend(ctx, flow.Token, "voice", "192.0.2.10"); err != nil {
				t.Fatal(err)
			}
			if _, _, err := f.s.CompleteSignup(ctx, flow.Token, code, "192.0.2.10", ""); err == nil || code == f.codes.last("14155550111") {
				t.Fatalf("the replaced code still works: %v", err)
			}
			if _, _, err := f.s.CompleteSignup(ctx, flow.Token, f.codes.last("14155550111"), "192.0.2.10", ""); err != nil {
				t.Fatalf("the new code: %v", err)
			}
		})

		t.Run("five checks", func(t *testing.T) {
			flow, err := f.s.StartSignup(ctx, req("chk@example.com", "+14155550112"))
			if err != nil {
				t.Fatal(err)
			}
			code := f.codes.last("14155550112")
			wrong := "000000"
			if code == wrong {
				wrong = "000001"
			}
			for i := 0; i < 5; i++ {
				if _, _, err := f.s.CompleteSignup(ctx, flow.Token, wrong, "192.0.2.10", ""); err == nil {
					t.Fatal("a wrong code was accepted")
				}
			}
			// The sixth check fails even with the right code.
			if _, _, err := f.s.CompleteSignup(ctx, flow.Token, code, "192.0.2.10", ""); !strings.Contains(userMsg(err), "Too many") {
				t.Fatalf("6th check: %v", err)
			}
			if _, err := f.db.UserByEmail(ctx, "chk@example.com"); !errors.Is(err, trunkline.ErrNotFound) {
				t.Fatalf("a user exists after failed verification: %v", err)
			}
		})

		t.Run("five sends", func(t *testing.T) {
			flow, err := f.s.StartSignup(ctx, req("snd@example.com", "+14155550113"))
			if err != nil {
				t.Fatal(err)
			}
			for i := 2; i <= 5; i++ {
				if _, err := f.s.Resend(ctx, flow.Token, "sms", "192.0.2.10"); err != nil {
					t.Fatalf("send %d: %v", i, err)
				}
			}
			if _, err := f.s.Resend(ctx, flow.Token, "sms", "192.0.2.10"); err == nil {
				t.Fatal("a 6th send was made")
			}
		})

		t.Run("single use and bound to the flow", func(t *testing.T) {
			flow, err := f.s.StartSignup(ctx, req("one@example.com", "+14155550114"))
			if err != nil {
				t.Fatal(err)
			}
			code := f.codes.last("14155550114")
			other, err := f.s.StartSignup(ctx, req("two@example.com", "+14155550115"))
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := f.s.CompleteSignup(ctx, other.Token, code, "192.0.2.10", ""); err == nil {
				t.Fatal("a code was accepted by another signup")
			}
			if _, _, err := f.s.CompleteSignup(ctx, flow.Token, code, "192.0.2.10", ""); err != nil {
				t.Fatal(err)
			}
			if _, _, err := f.s.CompleteSignup(ctx, flow.Token, code, "192.0.2.10", ""); err == nil {
				t.Fatal("a code was used twice")
			}
			u, err := f.db.UserByEmail(ctx, "one@example.com")
			if err != nil || u.Role != trunkline.RoleOwner || u.PhoneVerifiedAt == nil {
				t.Fatalf("user %+v, %v", u, err)
			}
		})

		t.Run("send throttle per number", func(t *testing.T) {
			var err error
			for i := 0; i < 6 && err == nil; i++ {
				_, err = f.s.StartSignup(ctx, SignupRequest{Email: fmt.Sprintf("t%d@example.com", i), Passphrase: goodPass,
					Phone: "+14155550116", Channel: "sms", Source: fmt.Sprintf("198.51.100.%d", i)})
			}
			if !strings.Contains(userMsg(err), "Too many codes sent to this number") {
				t.Fatalf("6th signup to one number: %v", err)
			}
		})

		t.Run("failed send leaves nothing", func(t *testing.T) {
			f.codes.fail = true
			defer func() { f.codes.fail = false }()
			if _, err := f.s.StartSignup(ctx, req("down@example.com", "+14155550117")); userMsg(err) == "" {
				t.Fatalf("send failure: %v", err)
			}
		})

		for _, secret := range []string{goodPass} {
			if strings.Contains(f.audit.text(), secret) {
				t.Fatal("a passphrase reached the audit log")
			}
		}
		for _, code := range f.codes.codes {
			if strings.Contains(f.audit.text(), code) {
				t.Fatalf("a code reached the audit log: %s", f.audit.text())
			}
		}
	})
}

func TestLoginAndSecondFactor(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		sess, _ := f.signup(t, "owner@example.com", "+14155550120")

		// Identical answers for an unknown user and a wrong passphrase.
		_, _, errUnknown := f.s.Login(ctx, "nobody@example.com", goodPass, "192.0.2.20", "")
		_, _, errWrong := f.s.Login(ctx, "owner@example.com", goodPass+"x", "192.0.2.21", "")
		if errUnknown == nil || errUnknown.Error() != errWrong.Error() {
			t.Fatalf("unknown %v vs wrong %v", errUnknown, errWrong)
		}

		// Without a factor, the login is complete at once.
		s1, _, err := f.s.Login(ctx, "OWNER@example.com", goodPass, "192.0.2.22", "")
		if err != nil || s1.Pending() {
			t.Fatalf("login: %v pending=%v", err, s1 != nil && s1.Pending())
		}

		// Enrol TOTP.
		enr, err := f.s.BeginTOTP(ctx, sess)
		if err != nil {
			t.Fatal(err)
		}
		code, _ := TOTPCode(enr.Key.Secret, f.clk.now())
		codes, err := f.s.ConfirmTOTP(ctx, sess, enr.Sealed, code)
		if err != nil || len(codes) != 10 {
			t.Fatalf("ConfirmTOTP: %v, %d codes", err, len(codes))
		}
		// A sealed enrolment from another session does not open.
		if _, err := f.s.ConfirmTOTP(ctx, s1, enr.Sealed, code); err == nil {
			t.Fatal("enrolment sealed to one session confirmed in another")
		}

		pending, ptoken, err := f.s.Login(ctx, "owner@example.com", goodPass, "192.0.2.22", "")
		if err != nil || !pending.Pending() {
			t.Fatalf("login with TOTP: %v", err)
		}
		// The pending session is not a login.
		if got, err := f.s.Authenticate(ctx, ptoken, "192.0.2.22"); err != nil || !got.Pending() {
			t.Fatalf("pending session: %v", err)
		}
		// TOTP replay: the enrolment's code (same step) is refused.
		if _, _, err := f.s.SecondFactor(ctx, pending, code, ""); err == nil {
			t.Fatal("TOTP code replayed")
		}
		// Next step's code works once; a new session id is issued.
		f.clk.add(30 * time.Second)
		next, _ := TOTPCode(enr.Key.Secret, f.clk.now())
		full, ftoken, err := f.s.SecondFactor(ctx, pending, next, "")
		if err != nil || full.Pending() || ftoken == ptoken || full.Rec.ID == pending.Rec.ID {
			t.Fatalf("second factor: %v", err)
		}
		if _, err := f.s.Authenticate(ctx, ptoken, ""); !errors.Is(err, ErrSession) {
			t.Fatal("the pending session survived the login")
		}
		pending2, _, _ := f.s.Login(ctx, "owner@example.com", goodPass, "192.0.2.22", "")
		if _, _, err := f.s.SecondFactor(ctx, pending2, next, ""); err == nil {
			t.Fatal("the same TOTP code logged in twice")
		}
		// A recovery code works once.
		if _, _, err := f.s.SecondFactor(ctx, pending2, strings.ToUpper(codes[0]), ""); err != nil {
			t.Fatalf("recovery code: %v", err)
		}
		pending3, _, _ := f.s.Login(ctx, "owner@example.com", goodPass, "192.0.2.22", "")
		if _, _, err := f.s.SecondFactor(ctx, pending3, codes[0], ""); err == nil {
			t.Fatal("a recovery code worked twice")
		}
		if left, _ := f.s.RecoveryCodesLeft(ctx, sess.User); left != 9 {
			t.Fatalf("recovery codes left %d", left)
		}

		// Sensitive changes need a fresh second factor.
		f.clk.add(11 * time.Minute)
		full, err = f.s.Authenticate(ctx, ftoken, "")
		if err != nil {
			t.Fatal(err)
		}
		if err := f.s.ChangePassphrase(ctx, full, goodPass, "a whole new passphrase here"); !errors.Is(err, ErrNeedFreshMFA) {
			t.Fatalf("stale change: %v", err)
		}
		if err := f.s.RemoveTOTP(ctx, full); !errors.Is(err, ErrNeedFreshMFA) {
			t.Fatalf("stale TOTP removal: %v", err)
		}
		if _, err := f.s.StartPhoneChange(ctx, full, "+14155550199", "sms"); !errors.Is(err, ErrNeedFreshMFA) {
			t.Fatalf("stale phone change: %v", err)
		}
		later, _ := TOTPCode(enr.Key.Secret, f.clk.now())
		if err := f.s.Reauthenticate(ctx, full, later); err != nil {
			t.Fatal(err)
		}
		if err := f.s.ChangePassphrase(ctx, full, goodPass, "a whole new passphrase here"); err != nil {
			t.Fatalf("fresh change: %v", err)
		}
		if strings.Contains(f.audit.text(), goodPass) || strings.Contains(f.audit.text(), enr.Key.Secret) || strings.Contains(f.audit.text(), codes[1]) {
			t.Fatal("a secret reached the audit log")
		}
	})
}

func TestSessionExpiry(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		_, token := f.signup(t, "idle@example.com", "+14155550130")
		for _, c := range []struct {
			name string
			step time.Duration
			ok   bool
		}{
			{"active after 14 min", 14 * time.Minute, true},
			{"activity moved the idle clock", 14 * time.Minute, true},
			{"idle 15 min", 15 * time.Minute, false},
		} {
			f.clk.add(c.step)
			_, err := f.s.Authenticate(ctx, token, "")
			if (err == nil) != c.ok {
				t.Fatalf("%s: err %v", c.name, err)
			}
		}
		// Absolute lifetime: active every 10 min, still ends after 12 h.
		_, token = f.signup(t, "long@example.com", "+14155550131")
		var err error
		for i := 0; i < 80 && err == nil; i++ {
			f.clk.add(10 * time.Minute)
			_, err = f.s.Authenticate(ctx, token, "")
		}
		if !errors.Is(err, ErrSession) {
			t.Fatalf("session outlived its lifetime: %v", err)
		}

		// Logout everywhere ends every session.
		s1, t1 := f.signup(t, "all@example.com", "+14155550132")
		_, t2, _ := f.s.Login(ctx, "all@example.com", goodPass, "", "")
		if n, err := f.s.LogoutEverywhere(ctx, s1); err != nil || n != 2 {
			t.Fatalf("logout everywhere: %d, %v", n, err)
		}
		for _, tok := range []string{t1, t2} {
			if _, err := f.s.Authenticate(ctx, tok, ""); !errors.Is(err, ErrSession) {
				t.Fatal("a session survived logout everywhere")
			}
		}
	})
}

func TestLoginThrottling(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.signup(t, "thr@example.com", "+14155550140")
		// Five wrong passphrases from one address lock that address out for the email:
		// even the right passphrase is refused there, with a throttling message.
		for i := 0; i < 5; i++ {
			if _, _, err := f.s.Login(ctx, "thr@example.com", "wrong passphrase "+fmt.Sprint(i), "203.0.113.1", ""); err != ErrLogin {
				t.Fatalf("attempt %d: %v", i, err)
			}
		}
		_, _, err := f.s.Login(ctx, "thr@example.com", goodPass, "203.0.113.1", "")
		var ie *Error
		if !errors.As(err, &ie) || ie.RetryAfter <= 0 {
			t.Fatalf("locked login: %v", err)
		}
		// The lockout of an unknown email looks the same as a known one's.
		for i := 0; i < 5; i++ {
			f.s.Login(ctx, "ghost@example.com", "x", "203.0.114.1", "")
		}
		_, _, err2 := f.s.Login(ctx, "ghost@example.com", goodPass, "203.0.114.1", "")
		if err2 == nil || err2.Error() != err.Error() {
			t.Fatalf("unknown-user lockout %v differs from known-user lockout %v", err2, err)
		}
		f.clk.add(31 * time.Minute)
		if _, _, err := f.s.Login(ctx, "thr@example.com", goodPass, "203.0.113.1", ""); err != nil {
			t.Fatalf("after the lockout: %v", err)
		}
		// Per address: many emails from one address.
		var last error
		for i := 0; i < 25; i++ {
			_, _, last = f.s.Login(ctx, fmt.Sprintf("u%d@example.com", i), "x", "198.51.100.7", "")
		}
		if !strings.Contains(userMsg(last), "your address") {
			t.Fatalf("per-address throttle: %v", last)
		}
	})
}

// TestLoginThrottleSparesOwner: wrong passphrases for an email, from one address or from
// many, do not lock its owner out: the right passphrase from another address logs in.
func TestLoginThrottleSparesOwner(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.signup(t, "owner@example.com", "+14155550141")
		for i := 0; i < 10; i++ {
			f.s.Login(ctx, "owner@example.com", "wrong passphrase", "203.0.113.5", "")
		}
		if _, _, err := f.s.Login(ctx, "owner@example.com", goodPass, "198.51.100.20", ""); err != nil {
			t.Fatalf("the owner from another address: %v", err)
		}
		if _, _, err := f.s.Login(ctx, "owner@example.com", goodPass, "203.0.113.5", ""); !strings.Contains(userMsg(err), "your address") {
			t.Fatalf("the attacker's address is not throttled: %v", err)
		}
		// From many addresses, a few guesses each: slowed down, never locked.
		for i := 0; i < 4; i++ {
			for j := 0; j < 2; j++ {
				if _, _, err := f.s.Login(ctx, "owner@example.com", "wrong passphrase", fmt.Sprintf("192.0.%d.9", i), ""); err != ErrLogin {
					t.Fatalf("guess from address %d: %v", i, err)
				}
			}
		}
		if _, _, err := f.s.Login(ctx, "owner@example.com", goodPass, "198.51.100.21", ""); err != nil {
			t.Fatalf("the owner while attacked from many addresses: %v", err)
		}
	})
}

func TestSweep(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		sess, _ := f.signup(t, "sweep@example.com", "+14155550150")
		f.clk.add(16 * time.Minute)
		if err := f.s.Sweep(ctx, f.db); err != nil {
			t.Fatal(err)
		}
		if _, err := f.db.Session(ctx, sess.Rec.ID); !errors.Is(err, trunkline.ErrNotFound) {
			t.Fatalf("idle session not swept: %v", err)
		}
	})
}

func TestInvites(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		owner, _ := f.signup(t, "boss@example.com", "+14155550160")
		for _, c := range []struct {
			name, email, role, field string
		}{
			{"bad email", "nope", trunkline.RoleDeveloper, "email"},
			{"bad role", "x@example.com", "admin", "role"},
			{"existing user", "boss@example.com", trunkline.RoleDeveloper, "email"},
		} {
			if _, _, err := f.s.Invite(ctx, owner, c.email, c.role); err == nil {
				t.Errorf("%s: invited", c.name)
			} else if ie := (*Error)(nil); !errors.As(err, &ie) || ie.Field != c.field {
				t.Errorf("%s: %v, want an error on %s", c.name, err, c.field)
			}
		}
		token, inv, err := f.s.Invite(ctx, owner, "Dev@Example.com", trunkline.RoleDeveloper)
		if err != nil || inv.Email != "dev@example.com" {
			t.Fatalf("invite: %v", err)
		}
		// Only a verified phone makes the user; the link then stops working.
		flow, err := f.s.StartInvite(ctx, token, goodPass, "+14155550161", "sms", "192.0.2.30")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.db.UserByEmail(ctx, "dev@example.com"); !errors.Is(err, trunkline.ErrNotFound) {
			t.Fatal("the member exists before verification")
		}
		dev, _, err := f.s.CompleteSignup(ctx, flow.Token, f.codes.last("14155550161"), "192.0.2.30", "")
		if err != nil || dev.User.AccountID != owner.User.AccountID || dev.User.Role != trunkline.RoleDeveloper {
			t.Fatalf("accept: %v", err)
		}
		if _, err := f.s.InviteByToken(ctx, token); err == nil {
			t.Fatal("a used invitation still works")
		}
		// A developer cannot invite; a withdrawn or expired invitation does not work.
		if _, _, err := f.s.Invite(ctx, dev, "y@example.com", trunkline.RoleOwner); err == nil {
			t.Fatal("a developer invited a member")
		}
		t2, inv2, _ := f.s.Invite(ctx, owner, "w@example.com", trunkline.RoleReadOnly)
		if err := f.s.WithdrawInvite(ctx, owner, inv2.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.StartInvite(ctx, t2, goodPass, "+14155550162", "sms", ""); err == nil {
			t.Fatal("a withdrawn invitation works")
		}
		t3, _, _ := f.s.Invite(ctx, owner, "late@example.com", trunkline.RoleReadOnly)
		f.clk.add(InviteTTL + time.Minute)
		if _, err := f.s.StartInvite(ctx, t3, goodPass, "+14155550163", "sms", ""); err == nil {
			t.Fatal("an expired invitation works")
		}
	})
}
