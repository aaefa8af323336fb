package console

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/account"
	"github.com/trunkline/trunkline/identity"
	"github.com/trunkline/trunkline/keys"
	"github.com/trunkline/trunkline/staff"
	"github.com/trunkline/trunkline/store"
	"github.com/trunkline/trunkline/store/storetest"
)

type staffClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *staffClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *staffClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type staffEnv struct {
	srv   *httptest.Server
	con   *Server
	db    *store.DB
	staff *staff.Service
	audit *memAudit
	clk   *staffClock
}

// newStaffEnv is a console with the staff area on db, on a fake clock (TOTP codes are
// computed at the clock's time).
func newStaffEnv(t *testing.T, db *store.DB) *staffEnv {
	t.Helper()
	clk := &staffClock{t: time.Now().UTC().Truncate(time.Second)}
	ring, _ := keys.NewRing(bytes.Repeat([]byte{9}, 32))
	accts := account.New(db, ring, account.Options{CacheTTL: -1})
	au := &memAudit{}
	hasher := identity.NewHasher(identity.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 2)
	id := identity.New(identity.Options{Store: db, Ring: ring, Accounts: accts, Sender: &codes{}, Audit: au, Hasher: hasher})
	st := staff.New(staff.Options{Store: db, Ring: ring, Audit: au, Hasher: hasher, Now: clk.now})
	rec := func(_ context.Context, r *trunkline.Recording, _ string) (io.ReadCloser, string, error) {
		return io.NopCloser(strings.NewReader("audio of " + r.AccountID)), "audio/wav", nil
	}
	con, err := New(Options{Identity: id, DB: db, Accounts: accts, Audit: au, Staff: st, Recordings: rec, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(con)
	t.Cleanup(srv.Close)
	return &staffEnv{srv: srv, con: con, db: db, staff: st, audit: au, clk: clk}
}

// staffClient is a browser of one staff member (or of nobody).
type staffClient struct {
	e *staffEnv
	c *http.Client
}

func (e *staffEnv) client() *staffClient {
	jar, _ := cookiejar.New(nil)
	c := e.srv.Client()
	c = &http.Client{Transport: c.Transport, Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &staffClient{e: e, c: c}
}

func (sc *staffClient) do(t *testing.T, method, path string, form url.Values) (int, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, sc.e.srv.URL+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", sc.e.srv.URL)
	}
	resp, err := sc.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(b)
}

// login creates a staff member and logs this client in as them.
func (sc *staffClient) login(t *testing.T, email, role string) *trunkline.Staff {
	t.Helper()
	ctx := context.Background()
	c, err := sc.e.staff.Create(ctx, email, "", role, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	_, page := sc.do(t, "GET", "/staff/login", nil)
	code, _ := identity.TOTPCode(c.TOTP.Secret, sc.e.clk.now())
	st, _ := sc.do(t, "POST", "/staff/login", url.Values{"csrf": {csrfOf(t, page)}, "email": {email},
		"passphrase": {"correct horse battery staple"}, "code": {code}})
	if st != http.StatusSeeOther {
		t.Fatalf("staff login %s: %d", email, st)
	}
	return c.Staff
}

// seed gives an account a message, a call and a recording, each carrying marker text,
// and returns the path variables naming them.
func seed(t *testing.T, db *store.DB, acct *trunkline.Account, number string) map[string]string {
	t.Helper()
	ctx := context.Background()
	msg := &trunkline.Message{UUID: "msg-" + acct.ID, AccountID: acct.ID, Direction: "outbound", Type: "sms", LogMode: "true",
		From: number, To: "447700900123", Body: "secret text of " + acct.ID, State: trunkline.MsgDelivered, Units: 1}
	if err := db.InsertMessages(ctx, []*trunkline.Message{msg}, nil); err != nil {
		t.Fatal(err)
	}
	end := time.Now().Add(-time.Minute)
	call := &trunkline.Call{UUID: "call-" + acct.ID, RequestUUID: "req-" + acct.ID, AccountID: acct.ID, Direction: "inbound",
		From: "447700900123", To: number, State: trunkline.CallCompleted, EndedAt: &end, HangupCauseName: "Normal Hangup"}
	if err := db.InsertCall(ctx, call); err != nil {
		t.Fatal(err)
	}
	rec := &trunkline.Recording{ID: "rec-" + acct.ID, AccountID: acct.ID, CallUUID: call.UUID, Format: "wav", From: call.From, To: number}
	if err := db.InsertRecording(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if err := db.SetAPIAllow(ctx, acct.ID, "198.51.100.7"); err != nil {
		t.Fatal(err)
	}
	return map[string]string{"{account}": acct.ID, "{uuid}": msg.UUID, "{id}": rec.ID}
}

// TestStaffConsoleWithoutGrant walks every customer-data route of the staff console
// (staffDataRoutes) on every account, with every way of not holding a covering grant:
// none at all, pending, denied, revoked, expired, another staff member's, another
// account's, a narrower scope or mode, and no staff login (a customer's session
// included). Each answer carries none of the account's data and changes nothing; the
// same routes with the right grant show it, so the matrix can fail.
func TestStaffConsoleWithoutGrant(t *testing.T) {
	for _, db := range storetest.Open(t) {
		t.Run(string(db.Dialect()), func(t *testing.T) {
			ctx := context.Background()
			e := newStaffEnv(t, db)
			accts := account.New(db, nil, account.Options{CacheTTL: -1})
			_ = accts
			mk := func(name string) *trunkline.Account {
				ring, _ := keys.NewRing(bytes.Repeat([]byte{9}, 32))
				cr, err := account.New(db, ring, account.Options{CacheTTL: -1}).CreateMain(ctx, name)
				if err != nil {
					t.Fatal(err)
				}
				return cr.Account
			}
			a, b := mk("Alpha Customer"), mk("Beta Customer")
			vars := map[string]map[string]string{a.ID: seed(t, db, a, "14155550100"), b.ID: seed(t, db, b, "14155550101")}
			// Everything of an account that must not show without a grant.
			secrets := func(acct *trunkline.Account) []string {
				return []string{acct.Name, "secret text of " + acct.ID, "audio of " + acct.ID, "msg-" + acct.ID, "call-" + acct.ID,
					"rec-" + acct.ID, "198.51.100.7", "447700900123"}
			}

			me := e.client()
			sam := me.login(t, "sam@op.test", trunkline.StaffSupport)
			other := e.client()
			sue := other.login(t, "sue@op.test", trunkline.StaffSupport)
			mgr := &trunkline.Staff{ID: "mgr", Email: "max@op.test", Role: trunkline.StaffManagement}
			if c, err := e.staff.Create(ctx, mgr.Email, "", mgr.Role, "correct horse battery staple"); err != nil {
				t.Fatal(err)
			} else {
				mgr = c.Staff
			}
			grant := func(by *trunkline.Staff, acct, scope, mode string, approve bool) *trunkline.AccessGrant {
				g, err := e.staff.Request(ctx, by, staff.RequestInput{AccountID: acct, Scope: scope, Mode: mode, Reason: "matrix",
					Ticket: "T-1", Duration: time.Hour})
				if err != nil {
					t.Fatal(err)
				}
				if approve {
					if g, err = e.staff.Approve(ctx, mgr, g.ID); err != nil {
						t.Fatal(err)
					}
				}
				return g
			}
			routes := e.con.staffDataRoutes()
			if len(routes) < 8 {
				t.Fatalf("only %d staff data routes", len(routes))
			}
			path := func(rt staffDataRoute, acct string) string {
				p := strings.TrimSuffix(rt.Pattern, "{$}")
				for k, v := range vars[acct] {
					p = strings.ReplaceAll(p, k, v)
				}
				return p
			}
			call := func(c *staffClient, rt staffDataRoute, acct string) (int, string) {
				var form url.Values
				if rt.Method == "POST" {
					_, home := c.do(t, "GET", "/staff/", nil)
					form = url.Values{"csrf": {""}}
					if m := csrfRE.FindStringSubmatch(home); m != nil {
						form.Set("csrf", m[1])
					}
				}
				return c.do(t, rt.Method, path(rt, acct), form)
			}
			accessEntries := func() int {
				n := 0
				for _, en := range e.audit.e {
					if strings.HasPrefix(en.Action, "staff.read") || strings.HasPrefix(en.Action, "staff.act") {
						n++
					}
				}
				return n
			}
			refused := func(label string, c *staffClient, acct string, only func(staffDataRoute) bool) {
				t.Helper()
				before := accessEntries()
				for _, rt := range routes {
					if only != nil && !only(rt) {
						continue
					}
					code, body := call(c, rt, acct)
					if code != http.StatusForbidden && code != http.StatusSeeOther {
						t.Errorf("%s: %s %s answered %d", label, rt.Method, rt.Pattern, code)
					}
					for _, s := range secrets(map[string]*trunkline.Account{a.ID: a, b.ID: b}[acct]) {
						if strings.Contains(body, s) {
							t.Errorf("%s: %s %s shows %q", label, rt.Method, rt.Pattern, s)
						}
					}
				}
				if accessEntries() != before {
					t.Errorf("%s: a refused request was recorded as an access", label)
				}
				if got, _ := db.Account(ctx, acct); got.APIAllow != "198.51.100.7" {
					t.Fatalf("%s: the allowlist changed without a grant", label)
				}
			}

			// Nobody logged in, and a customer-looking browser with no staff session.
			refused("no staff session", e.client(), a.ID, nil)
			// Logged in, no grant at all, on both accounts.
			refused("no grant", me, a.ID, nil)
			refused("no grant", me, b.ID, nil)
			// Pending, and denied.
			p := grant(sam, a.ID, trunkline.ScopeContent, trunkline.ModeAct, false)
			refused("pending grant", me, a.ID, nil)
			e.staff.Deny(ctx, mgr, p.ID)
			refused("denied grant", me, a.ID, nil)
			// Someone else's grant; a grant on another account.
			grant(sue, a.ID, trunkline.ScopeContent, trunkline.ModeAct, true)
			refused("another staff member's grant", me, a.ID, nil)
			gb := grant(sam, b.ID, trunkline.ScopeContent, trunkline.ModeAct, true)
			refused("a grant on another account", me, a.ID, nil)
			// Narrower than the route: metadata read does not open content or act routes.
			ga := grant(sam, a.ID, trunkline.ScopeMetadata, trunkline.ModeRead, true)
			refused("metadata read grant", me, a.ID, func(rt staffDataRoute) bool {
				return rt.Scope == trunkline.ScopeContent || rt.Mode == trunkline.ModeAct
			})
			// The positive control: the metadata routes answer under it, content of
			// the message does not appear on the metadata pages.
			if code, body := me.do(t, "GET", "/staff/accounts/"+a.ID+"/messages", nil); code != 200 || !strings.Contains(body, "msg-"+a.ID) ||
				strings.Contains(body, "secret text of") {
				t.Fatalf("messages under a metadata grant: %d", code)
			}
			// Revoked, and expired.
			e.staff.Revoke(ctx, sam, ga.ID)
			refused("revoked grant", me, a.ID, nil)
			full := grant(sam, a.ID, trunkline.ScopeContent, trunkline.ModeAct, true)
			for _, rt := range routes {
				code, body := call(me, rt, a.ID)
				want := http.StatusOK
				if rt.Method == "POST" {
					want = http.StatusSeeOther
				}
				if code != want {
					t.Errorf("with a grant: %s %s answered %d\n%s", rt.Method, rt.Pattern, code, body)
				}
			}
			if _, body := me.do(t, "GET", "/staff/accounts/"+a.ID+"/messages/msg-"+a.ID, nil); !strings.Contains(body, "secret text of "+a.ID) {
				t.Fatal("the message page under a content grant does not show the text")
			}
			if got, _ := db.Account(ctx, a.ID); got.APIAllow != "" {
				t.Fatal("the act route did not clear the allowlist")
			}
			db.SetAPIAllow(ctx, a.ID, "198.51.100.7")
			e.clk.add(time.Hour)
			refused("expired grant", me, a.ID, nil)
			_, _ = full, gb
			// Every access that was shown is on the customer's audit log with the ticket.
			for _, en := range e.audit.e {
				if strings.HasPrefix(en.Action, "staff.read") || strings.HasPrefix(en.Action, "staff.act") {
					if en.AccountID == "" || en.Detail["ticket"] != "T-1" || en.Detail["reason"] != "matrix" || en.Actor != "staff:sam@op.test" {
						t.Errorf("access entry %+v", en)
					}
				}
			}
		})
	}
}
