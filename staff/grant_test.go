package staff

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/account"
	"github.com/trunkline/trunkline/audit"
	"github.com/trunkline/trunkline/identity"
	"github.com/trunkline/trunkline/keys"
	"github.com/trunkline/trunkline/store"
	"github.com/trunkline/trunkline/store/storetest"
)

// clock is the fake clock the grants run on.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// memAudit keeps the entries the service appends (the audit log's own tests cover the
// signed log; here what matters is which entries are written, on which account).
type memAudit struct {
	mu sync.Mutex
	e  []audit.Entry
}

func (m *memAudit) Append(_ context.Context, e audit.Entry) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.e = append(m.e, e)
	return int64(len(m.e)), nil
}

func (m *memAudit) actions(account string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, e := range m.e {
		if e.AccountID == account {
			out = append(out, e.Action)
		}
	}
	return out
}

func (m *memAudit) last() audit.Entry {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.e[len(m.e)-1]
}

type pages struct {
	mu    sync.Mutex
	got   []string
	count map[string]int
}

func (p *pages) Page(_ context.Context, g *trunkline.AccessGrant, opener, cosigner *trunkline.Staff) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.got = append(p.got, g.ID+" "+opener.Email+" "+cosigner.Email)
	return nil
}

func (p *pages) StaffEvent(kind string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.count == nil {
		p.count = map[string]int{}
	}
	p.count[kind]++
}

type fixture struct {
	db    *store.DB
	clk   *clock
	audit *memAudit
	pages *pages
	s     *Service
	acct  string
	owner *trunkline.User
	// staff by role name, and a second support person
	support, support2, eng, sec, mgr, mgr2 *trunkline.Staff
}

var testParams = identity.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

const pass = "correct horse battery staple"

func newFixture(t *testing.T, db *store.DB) *fixture {
	t.Helper()
	ctx := context.Background()
	clk := &clock{t: time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)}
	db.SetClock(clk.now)
	ring, _ := keys.NewRing(bytes.Repeat([]byte{9}, 32))
	f := &fixture{db: db, clk: clk, audit: &memAudit{}, pages: &pages{}}
	f.s = New(Options{Store: db, Ring: ring, Audit: f.audit, Hasher: identity.NewHasher(testParams, 2), Pager: f.pages,
		Metrics: f.pages, Now: clk.now})
	accts := account.New(db, ring, account.Options{Now: clk.now, CacheTTL: -1})
	cr, err := accts.CreateMain(ctx, "Customer Ltd")
	if err != nil {
		t.Fatal(err)
	}
	f.acct = cr.Account.ID
	f.owner = &trunkline.User{ID: "U-owner", AccountID: f.acct, Email: "owner@customer.test", Role: trunkline.RoleOwner}
	mk := func(email, role string) *trunkline.Staff {
		c, err := f.s.Create(ctx, email, "", role, pass)
		if err != nil {
			t.Fatalf("create %s: %v", email, err)
		}
		return c.Staff
	}
	f.support, f.support2 = mk("sam@op.test", trunkline.StaffSupport), mk("sue@op.test", trunkline.StaffSupport)
	f.eng, f.sec = mk("eve@op.test", trunkline.StaffEngineering), mk("sid@op.test", trunkline.StaffSecurity)
	f.mgr, f.mgr2 = mk("max@op.test", trunkline.StaffManagement), mk("mia@op.test", trunkline.StaffManagement)
	return f
}

func forEachDB(t *testing.T, fn func(t *testing.T, f *fixture)) {
	for _, db := range storetest.Open(t) {
		t.Run(string(db.Dialect()), func(t *testing.T) { fn(t, newFixture(t, db)) })
	}
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var te *trunkline.Error
	if !errors.As(err, &te) || te.Code != code {
		t.Fatalf("got %v, want a %s error", err, code)
	}
}

func sess(st *trunkline.Staff) *Session {
	return &Session{Staff: st, Rec: &trunkline.StaffSession{}, Source: "192.0.2.9"}
}

func (f *fixture) request(t *testing.T, by *trunkline.Staff, scope, mode string, d time.Duration) *trunkline.AccessGrant {
	t.Helper()
	g, err := f.s.Request(context.Background(), by, RequestInput{AccountID: f.acct, Scope: scope, Mode: mode,
		Reason: "customer reports missing texts", Ticket: "SUP-1234", Duration: d})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestGrantLifecycle: request → approve → use → expire, on the fake clock.
func TestGrantLifecycle(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		g := f.request(t, f.support, trunkline.ScopeContent, trunkline.ModeRead, time.Hour)
		if g.State != trunkline.GrantPending {
			t.Fatalf("new request is %s", g.State)
		}
		// Pending: nothing is usable yet.
		if _, err := f.s.Use(ctx, sess(f.support), f.acct, trunkline.ScopeMetadata, trunkline.ModeRead, "messages", "account", f.acct); !errors.Is(err, ErrNoGrant) {
			t.Fatalf("use before approval: %v", err)
		}
		f.clk.add(10 * time.Minute) // the hour starts at approval, not at the request
		g, err := f.s.Approve(ctx, f.mgr, g.ID)
		if err != nil {
			t.Fatal(err)
		}
		if g.State != trunkline.GrantActive || !g.ExpiresAt.Equal(f.clk.now().Add(time.Hour)) {
			t.Fatalf("approved: %s until %v", g.State, g.ExpiresAt)
		}
		got, err := f.s.Use(ctx, sess(f.support), f.acct, trunkline.ScopeContent, trunkline.ModeRead, "message", "message", "MSG-1")
		if err != nil || got.ID != g.ID {
			t.Fatalf("use: %v", err)
		}
		e := f.audit.last()
		if e.Action != "staff.read" || e.AccountID != f.acct || e.Actor != "staff:sam@op.test" || e.ObjectID != "MSG-1" ||
			e.Detail["reason"] != "customer reports missing texts" || e.Detail["ticket"] != "SUP-1234" || e.Detail["grant"] != g.ID {
			t.Fatalf("access entry %+v", e)
		}
		// Content read covers metadata read, not acting; and nobody else's access.
		if _, err := f.s.Use(ctx, sess(f.support), f.acct, trunkline.ScopeMetadata, trunkline.ModeRead, "calls", "account", f.acct); err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.Use(ctx, sess(f.support), f.acct, trunkline.ScopeMetadata, trunkline.ModeAct, "allowlist", "account", f.acct); !errors.Is(err, ErrNoGrant) {
			t.Fatalf("act under a read grant: %v", err)
		}
		if _, err := f.s.Use(ctx, sess(f.support2), f.acct, trunkline.ScopeMetadata, trunkline.ModeRead, "calls", "account", f.acct); !errors.Is(err, ErrNoGrant) {
			t.Fatalf("another staff member used the grant: %v", err)
		}
		if _, err := f.s.Use(ctx, sess(f.support), "SAnotherAccount", trunkline.ScopeMetadata, trunkline.ModeRead, "calls", "account", "x"); !errors.Is(err, ErrNoGrant) {
			t.Fatalf("grant used on another account: %v", err)
		}
		// One second before the end it works; at the end it is expired.
		f.clk.add(time.Hour - time.Second)
		if _, err := f.s.Authorize(ctx, f.support, f.acct, trunkline.ScopeContent, trunkline.ModeRead); err != nil {
			t.Fatalf("just before expiry: %v", err)
		}
		f.clk.add(time.Second)
		if _, err := f.s.Use(ctx, sess(f.support), f.acct, trunkline.ScopeContent, trunkline.ModeRead, "message", "message", "MSG-1"); !errors.Is(err, ErrNoGrant) {
			t.Fatalf("use after expiry: %v", err)
		}
		g, _ = f.s.Grant(ctx, g.ID)
		if State(g, f.clk.now()) != trunkline.GrantExpired {
			t.Fatalf("state after expiry %s", State(g, f.clk.now()))
		}
		// An expired grant cannot be revoked or denied back to life.
		if _, err := f.s.Deny(ctx, f.mgr2, g.ID); err == nil {
			t.Fatal("an expired grant was denied")
		}
		want := []string{"staff.grant.request", "staff.grant.approve", "staff.read", "staff.read"}
		if got := f.audit.actions(f.acct); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("customer's audit actions %v, want %v", got, want)
		}
	})
}

func TestGrantRules(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		// No self-approval, even by a manager; only management approves.
		own := f.request(t, f.mgr, trunkline.ScopeMetadata, trunkline.ModeRead, time.Hour)
		_, err := f.s.Approve(ctx, f.mgr, own.ID)
		wantCode(t, err, trunkline.EFORBIDDEN)
		g := f.request(t, f.support, trunkline.ScopeMetadata, trunkline.ModeRead, time.Hour)
		for _, st := range []*trunkline.Staff{f.support2, f.eng, f.sec} {
			_, err := f.s.Approve(ctx, st, g.ID)
			wantCode(t, err, trunkline.EFORBIDDEN)
		}
		// The manager's own request is approved by another manager.
		if g, err := f.s.Approve(ctx, f.mgr2, own.ID); err != nil || g.State != trunkline.GrantActive {
			t.Fatalf("another manager's approval: %v", err)
		}

		// Deny wins: before approval, and after (an active grant ends).
		if g, err := f.s.Deny(ctx, f.mgr2, g.ID); err != nil || g.State != trunkline.GrantDenied {
			t.Fatalf("deny: %v", err)
		}
		_, err = f.s.Approve(ctx, f.mgr, g.ID)
		wantCode(t, err, trunkline.ECONFLICT)
		g2 := f.request(t, f.support, trunkline.ScopeMetadata, trunkline.ModeRead, time.Hour)
		f.s.Approve(ctx, f.mgr, g2.ID)
		if _, err := f.s.Deny(ctx, f.mgr2, g2.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.Authorize(ctx, f.support, f.acct, trunkline.ScopeMetadata, trunkline.ModeRead); !errors.Is(err, ErrNoGrant) {
			t.Fatalf("a denied grant still works: %v", err)
		}

		// Revoke: the requester, management or security; not another support person.
		g3 := f.request(t, f.support, trunkline.ScopeMetadata, trunkline.ModeAct, time.Hour)
		f.s.Approve(ctx, f.mgr, g3.ID)
		_, err = f.s.Revoke(ctx, f.support2, g3.ID)
		wantCode(t, err, trunkline.EFORBIDDEN)
		if g, err := f.s.Revoke(ctx, f.sec, g3.ID); err != nil || g.State != trunkline.GrantRevoked {
			t.Fatalf("revoke: %v", err)
		}
		if _, err := f.s.Authorize(ctx, f.support, f.acct, trunkline.ScopeMetadata, trunkline.ModeRead); !errors.Is(err, ErrNoGrant) {
			t.Fatalf("a revoked grant still works: %v", err)
		}
		_, err = f.s.Revoke(ctx, f.support, g3.ID)
		wantCode(t, err, trunkline.ECONFLICT)

		// Bad requests: duration over the cap, missing ticket, unknown account, bad scope.
		for _, in := range []RequestInput{
			{AccountID: f.acct, Scope: trunkline.ScopeContent, Mode: trunkline.ModeRead, Reason: "r", Ticket: "T", Duration: 9 * time.Hour},
			{AccountID: f.acct, Scope: trunkline.ScopeContent, Mode: trunkline.ModeRead, Reason: "r", Duration: time.Hour},
			{AccountID: f.acct, Scope: trunkline.ScopeContent, Mode: trunkline.ModeRead, Ticket: "T", Duration: time.Hour},
			{AccountID: "SNOSUCHACCOUNT", Scope: trunkline.ScopeContent, Mode: trunkline.ModeRead, Reason: "r", Ticket: "T", Duration: time.Hour},
			{AccountID: f.acct, Scope: "everything", Mode: trunkline.ModeRead, Reason: "r", Ticket: "T", Duration: time.Hour},
			{AccountID: f.acct, Scope: trunkline.ScopeContent, Mode: "write", Reason: "r", Ticket: "T", Duration: time.Hour},
			{AccountID: f.acct, Scope: trunkline.ScopeContent, Mode: trunkline.ModeRead, Reason: "r", Ticket: "T", Duration: 2 * time.Hour, BreakGlass: true},
		} {
			_, err := f.s.Request(ctx, f.support, in)
			wantCode(t, err, trunkline.EINVALID)
		}

		// A disabled staff member's grants stop working at once.
		g4 := f.request(t, f.support2, trunkline.ScopeMetadata, trunkline.ModeRead, time.Hour)
		f.s.Approve(ctx, f.mgr, g4.ID)
		if _, err := f.s.Authorize(ctx, f.support2, f.acct, trunkline.ScopeMetadata, trunkline.ModeRead); err != nil {
			t.Fatal(err)
		}
		st, _ := f.s.SetDisabled(ctx, f.support2.Email, true)
		if _, err := f.s.Authorize(ctx, st, f.acct, trunkline.ScopeMetadata, trunkline.ModeRead); !errors.Is(err, ErrNoGrant) {
			t.Fatalf("disabled staff: %v", err)
		}
	})
}

// TestBreakGlass: two staff, one of them security, open a short grant without
// management; it pages and is flagged until a manager reviews it.
func TestBreakGlass(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		bg := func(by *trunkline.Staff) *trunkline.AccessGrant {
			g, err := f.s.Request(ctx, by, RequestInput{AccountID: f.acct, Scope: trunkline.ScopeContent, Mode: trunkline.ModeAct,
				Reason: "outage: calls dropping", Ticket: "INC-77", Duration: 30 * time.Minute, BreakGlass: true})
			if err != nil {
				t.Fatal(err)
			}
			return g
		}
		// One person alone: nothing. Two without security: refused. A manager's
		// approval is not how break-glass opens.
		g := bg(f.support)
		_, err := f.s.Cosign(ctx, f.support, g.ID)
		wantCode(t, err, trunkline.EFORBIDDEN)
		_, err = f.s.Cosign(ctx, f.eng, g.ID)
		wantCode(t, err, trunkline.EFORBIDDEN)
		_, err = f.s.Approve(ctx, f.mgr, g.ID)
		wantCode(t, err, trunkline.EINVALID)
		if len(f.pages.got) != 0 {
			t.Fatalf("paged before the grant opened: %v", f.pages.got)
		}
		// Security co-signs: open at once, for the short time asked.
		g, err = f.s.Cosign(ctx, f.sec, g.ID)
		if err != nil || g.State != trunkline.GrantActive || !g.ExpiresAt.Equal(f.clk.now().Add(30*time.Minute)) || !NeedsReview(g) {
			t.Fatalf("co-signed: %v %+v", err, g)
		}
		if len(f.pages.got) != 1 || !strings.Contains(f.pages.got[0], "sam@op.test sid@op.test") || f.pages.count["breakglass"] != 1 {
			t.Fatalf("pages %v, metrics %v", f.pages.got, f.pages.count)
		}
		if e := f.audit.last(); e.Action != "staff.breakglass" || e.AccountID != f.acct || e.Detail["review"] != "required" {
			t.Fatalf("break-glass entry %+v", e)
		}
		if _, err := f.s.Use(ctx, sess(f.support), f.acct, trunkline.ScopeContent, trunkline.ModeAct, "recording.delete", "recording", "R1"); err != nil {
			t.Fatal(err)
		}
		if e := f.audit.last(); e.Action != "staff.act" || e.Detail["break_glass"] != "true" {
			t.Fatalf("act entry %+v", e)
		}
		// Review: not by the two who opened it, not by non-managers; once.
		_, err = f.s.Review(ctx, f.sec, g.ID, "ok")
		wantCode(t, err, trunkline.EFORBIDDEN)
		f.clk.add(31 * time.Minute)
		if _, err := f.s.Authorize(ctx, f.support, f.acct, trunkline.ScopeContent, trunkline.ModeRead); !errors.Is(err, ErrNoGrant) {
			t.Fatal("break-glass outlived its half hour")
		}
		g, err = f.s.Review(ctx, f.mgr, g.ID, "incident INC-77 confirmed; access proportionate")
		if err != nil || NeedsReview(g) {
			t.Fatalf("review: %v", err)
		}
		_, err = f.s.Review(ctx, f.mgr2, g.ID, "again")
		wantCode(t, err, trunkline.ECONFLICT)
		// A security person opening, anyone else co-signing, works too.
		if _, err := f.s.Cosign(ctx, f.eng, bg(f.sec).ID); err != nil {
			t.Fatal(err)
		}
	})
}

// TestCustomerConsent: when the account requires it, a content grant needs the owner
// too; either side's deny wins; metadata requests and break-glass do not wait.
func TestCustomerConsent(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		if err := f.s.SetConsent(ctx, f.owner, "192.0.2.1", true); err != nil {
			t.Fatal(err)
		}
		dev := &trunkline.User{ID: "U-dev", AccountID: f.acct, Email: "dev@customer.test", Role: trunkline.RoleDeveloper}
		if err := f.s.SetConsent(ctx, dev, "192.0.2.1", false); err == nil {
			t.Fatal("a developer changed the consent setting")
		}
		g := f.request(t, f.support, trunkline.ScopeContent, trunkline.ModeRead, time.Hour)
		if !g.NeedsConsent {
			t.Fatal("content request does not need consent")
		}
		g, _ = f.s.Approve(ctx, f.mgr, g.ID)
		if g.State != trunkline.GrantPending {
			t.Fatalf("approved without consent: %s", g.State)
		}
		if _, err := f.s.Consent(ctx, dev, g.ID); err == nil {
			t.Fatal("a developer consented")
		}
		other := &trunkline.User{ID: "U-x", AccountID: "SOTHER", Email: "x@other.test", Role: trunkline.RoleOwner}
		if _, err := f.s.Consent(ctx, other, g.ID); err == nil {
			t.Fatal("another account's owner consented")
		}
		f.clk.add(5 * time.Minute)
		g, err := f.s.Consent(ctx, f.owner, g.ID)
		if err != nil || g.State != trunkline.GrantActive || !g.ExpiresAt.Equal(f.clk.now().Add(time.Hour)) {
			t.Fatalf("consent: %v %+v", err, g)
		}
		// The owner withdraws: deny wins over both approvals.
		if g, err = f.s.CustomerDeny(ctx, f.owner, g.ID); err != nil || g.State != trunkline.GrantDenied {
			t.Fatalf("customer deny: %v", err)
		}
		// Consent first, then the manager denies: denied.
		g = f.request(t, f.support, trunkline.ScopeContent, trunkline.ModeRead, time.Hour)
		f.s.Consent(ctx, f.owner, g.ID)
		if g, _ = f.s.Deny(ctx, f.mgr, g.ID); g.State != trunkline.GrantDenied {
			t.Fatalf("manager deny after consent: %s", g.State)
		}
		// Metadata does not wait for the customer, and the customer cannot deny it.
		m := f.request(t, f.support, trunkline.ScopeMetadata, trunkline.ModeRead, time.Hour)
		if m.NeedsConsent {
			t.Fatal("metadata request needs consent")
		}
		_, err = f.s.CustomerDeny(ctx, f.owner, m.ID)
		wantCode(t, err, trunkline.EINVALID)
		if m, _ = f.s.Approve(ctx, f.mgr, m.ID); m.State != trunkline.GrantActive {
			t.Fatalf("metadata grant %s", m.State)
		}
		// Setting off: content requests no longer wait.
		f.s.SetConsent(ctx, f.owner, "192.0.2.1", false)
		if c := f.request(t, f.support2, trunkline.ScopeContent, trunkline.ModeRead, time.Hour); c.NeedsConsent {
			t.Fatal("consent needed after the setting was turned off")
		}
		acts := strings.Join(f.audit.actions(f.acct), " ")
		for _, want := range []string{"account.staff_consent", "staff.grant.consent", "staff.grant.customer_deny"} {
			if !strings.Contains(acts, want) {
				t.Errorf("customer's audit log lacks %s: %s", want, acts)
			}
		}
	})
}

// TestStaffLogin: passphrase and TOTP both required, a code works once, failures are
// throttled, sessions idle out.
func TestStaffLogin(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		c, err := f.s.Create(ctx, "new@op.test", "New Person", trunkline.StaffSupport, pass)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.Create(ctx, "NEW@op.test", "", trunkline.StaffSupport, pass); err == nil {
			t.Fatal("duplicate email accepted")
		}
		if _, err := f.s.Create(ctx, "x@op.test", "", "janitor", pass); err == nil {
			t.Fatal("unknown role accepted")
		}
		if _, err := f.s.Create(ctx, "y@op.test", "", trunkline.StaffSupport, "short"); err == nil {
			t.Fatal("weak passphrase accepted")
		}
		code, _ := identity.TOTPCode(c.TOTP.Secret, f.clk.now())
		if _, _, err := f.s.Login(ctx, "new@op.test", pass, "", "192.0.2.5"); !errors.Is(err, ErrLogin) {
			t.Fatalf("login without a code: %v", err)
		}
		if _, _, err := f.s.Login(ctx, "new@op.test", "wrong "+pass, code, "192.0.2.5"); !errors.Is(err, ErrLogin) {
			t.Fatalf("wrong passphrase: %v", err)
		}
		sess, token, err := f.s.Login(ctx, "New@op.test", pass, code, "192.0.2.5")
		if err != nil || sess.Staff.ID != c.Staff.ID {
			t.Fatalf("login: %v", err)
		}
		// The same code again: refused (replay).
		if _, _, err := f.s.Login(ctx, "new@op.test", pass, code, "192.0.2.5"); !errors.Is(err, ErrLogin) {
			t.Fatalf("replayed code: %v", err)
		}
		if _, err := f.s.Authenticate(ctx, token, "192.0.2.5"); err != nil {
			t.Fatal(err)
		}
		f.clk.add(16 * time.Minute)
		if _, err := f.s.Authenticate(ctx, token, "192.0.2.5"); !errors.Is(err, ErrSession) {
			t.Fatalf("idle session: %v", err)
		}
		// Throttle: after LoginFails failures the pair is locked even with the right secrets.
		for i := 0; i < 5; i++ {
			f.s.Login(ctx, "new@op.test", "wrong", "000000", "192.0.2.6")
		}
		f.clk.add(30 * time.Second)
		code, _ = identity.TOTPCode(c.TOTP.Secret, f.clk.now())
		if _, _, err := f.s.Login(ctx, "new@op.test", pass, code, "192.0.2.6"); err == nil || errors.Is(err, ErrLogin) {
			t.Fatalf("login during lockout: %v", err)
		}
		// Disabled: no login.
		f.s.SetDisabled(ctx, "new@op.test", true)
		if _, _, err := f.s.Login(ctx, "new@op.test", pass, code, "192.0.2.7"); !errors.Is(err, ErrLogin) {
			t.Fatalf("disabled login: %v", err)
		}
		for _, e := range f.audit.e {
			for _, v := range e.Detail {
				if strings.Contains(v, pass) || strings.Contains(v, code) {
					t.Fatalf("a secret reached the audit log: %+v", e)
				}
			}
		}
	})
}

// TestConsentRequiredWhilePending: an owner who turns on consent while a
// content request waits for its manager is asked too; the request does not
// open on the manager's approval alone.
func TestConsentRequiredWhilePending(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		g := f.request(t, f.support, trunkline.ScopeContent, trunkline.ModeRead, time.Hour)
		if g.NeedsConsent {
			t.Fatal("consent needed before the setting was on")
		}
		if err := f.s.SetConsent(ctx, f.owner, "192.0.2.1", true); err != nil {
			t.Fatal(err)
		}
		g, err := f.s.Approve(ctx, f.mgr, g.ID)
		if err != nil {
			t.Fatal(err)
		}
		if g.State != trunkline.GrantPending || !g.NeedsConsent {
			t.Fatalf("approved after the owner required consent: %s, needs consent %v", g.State, g.NeedsConsent)
		}
		if _, err := f.s.Authorize(ctx, f.support, f.acct, trunkline.ScopeContent, trunkline.ModeRead); !errors.Is(err, ErrNoGrant) {
			t.Fatalf("content reachable without the owner's consent: %v", err)
		}
		if g, _ = f.s.Grant(ctx, g.ID); !g.NeedsConsent {
			t.Fatal("the stored grant does not need consent")
		}
		if g, err = f.s.Consent(ctx, f.owner, g.ID); err != nil || g.State != trunkline.GrantActive {
			t.Fatalf("consent: %v", err)
		}
	})
}

// TestApproveDenyRace: a manager's approval and another's refusal at the
// same moment always end denied (whichever the store applies first), and two
// co-signers of one break-glass request open it once. One process: its
// writes are serialised by the store's writer; the row lock (FOR UPDATE)
// that serialises two nodes on PostgreSQL is not exercised here.
func TestApproveDenyRace(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		for range 10 {
			g := f.request(t, f.support, trunkline.ScopeMetadata, trunkline.ModeRead, time.Hour)
			var wg sync.WaitGroup
			wg.Add(2)
			go func() { defer wg.Done(); f.s.Approve(ctx, f.mgr, g.ID) }()
			go func() { defer wg.Done(); f.s.Deny(ctx, f.mgr2, g.ID) }()
			wg.Wait()
			if g, _ = f.s.Grant(ctx, g.ID); g.State != trunkline.GrantDenied {
				t.Fatalf("approve and deny at once left the grant %s", g.State)
			}
			if _, err := f.s.Authorize(ctx, f.support, f.acct, trunkline.ScopeMetadata, trunkline.ModeRead); !errors.Is(err, ErrNoGrant) {
				t.Fatalf("a denied grant works: %v", err)
			}
		}
		bg, err := f.s.Request(ctx, f.sec, RequestInput{AccountID: f.acct, Scope: trunkline.ScopeMetadata, Mode: trunkline.ModeRead,
			Reason: "incident", Ticket: "INC-1", Duration: 10 * time.Minute, BreakGlass: true})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		opened := 0
		for _, by := range []*trunkline.Staff{f.support, f.support2, f.eng} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := f.s.Cosign(ctx, by, bg.ID); err == nil {
					mu.Lock()
					opened++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if opened != 1 || len(f.pages.got) != 1 {
			t.Fatalf("%d co-signatures opened the grant, %d pages", opened, len(f.pages.got))
		}
	})
}
