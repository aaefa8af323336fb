package console

import (
	"bytes"
	"context"
	"html"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/account"
	"github.com/trunkline/trunkline/identity"
	"github.com/trunkline/trunkline/keys"
	"github.com/trunkline/trunkline/store"
	"github.com/trunkline/trunkline/store/storetest"
)

// membersEnv is a console over a store of each dialect, with the owner's browser (env)
// and a second browser for a member.
type membersEnv struct {
	*env
	member *env
	db     *store.DB
	au     *memAudit
	accts  *account.Service
}

func forEachStore(t *testing.T, opt func(*identity.Options), fn func(t *testing.T, me *membersEnv)) {
	for _, db := range storetest.Open(t) {
		t.Run(string(db.Dialect()), func(t *testing.T) {
			ring, _ := keys.NewRing(bytes.Repeat([]byte{5}, 32))
			accts := account.New(db, ring, account.Options{CacheTTL: -1})
			cs := &codes{}
			au := &memAudit{}
			o := identity.Options{Store: db, Ring: ring, Accounts: accts, Sender: cs, Audit: au,
				Hasher: identity.NewHasher(identity.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 2)}
			if opt != nil {
				opt(&o)
			}
			h, err := New(Options{Identity: identity.New(o), DB: db, Accounts: accts, Audit: au})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewTLSServer(h)
			t.Cleanup(srv.Close)
			browser := func() *env {
				// srv.Client() is one client: each browser gets its own, with its own jar.
				jar, _ := cookiejar.New(nil)
				c := &http.Client{Transport: srv.Client().Transport, Jar: jar,
					CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
				return &env{srv: srv, codes: cs, c: c}
			}
			fn(t, &membersEnv{env: browser(), member: browser(), db: db, au: au, accts: accts})
		})
	}
}

var inviteLinkRE = regexp.MustCompile(`id="invite-link">([^<]+)<`)

// invite makes an invitation on the members page and returns the status and the link
// ("" when none was shown).
func (me *membersEnv) invite(t *testing.T, csrf, email, role string) (int, string) {
	t.Helper()
	resp, body := me.post(t, "/console/members", url.Values{"csrf": {csrf}, "email": {email}, "role": {role}}, me.srv.URL)
	m := inviteLinkRE.FindStringSubmatch(body)
	if m == nil {
		return resp.StatusCode, ""
	}
	return resp.StatusCode, html.UnescapeString(m[1])
}

// join accepts an invitation link in the member's browser and returns their CSRF token.
func (me *membersEnv) join(t *testing.T, link, phone string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	m := me.member
	_, page := m.get(t, u.RequestURI())
	resp, _ := m.post(t, "/console/invite", url.Values{"csrf": {csrfOf(t, page)}, "token": {u.Query().Get("token")},
		"passphrase": {"correct horse battery staple"}, "phone": {phone}, "channel": {"voice"}}, m.srv.URL)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("invite start: %d", resp.StatusCode)
	}
	_, page = m.get(t, "/console/verify")
	m.codes.mu.Lock()
	code := m.codes.last
	m.codes.mu.Unlock()
	resp, _ = m.post(t, "/console/verify", url.Values{"csrf": {csrfOf(t, page)}, "code": {code}}, m.srv.URL)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("invite verify: %d", resp.StatusCode)
	}
	_, page = m.get(t, "/console/security")
	return csrfOf(t, page)
}

func (me *membersEnv) audited(action string) int {
	me.au.mu.Lock()
	defer me.au.mu.Unlock()
	n := 0
	for _, e := range me.au.e {
		if e.Action == action {
			n++
		}
	}
	return n
}

// TestOwnerOffboardsMember: the owner changes a member's role and then removes them;
// each takes effect at the member's very next request in the session they have open.
func TestOwnerOffboardsMember(t *testing.T) {
	forEachStore(t, nil, func(t *testing.T, me *membersEnv) {
		ctx := context.Background()
		csrf := me.signup(t, "boss@example.com")
		_, link := me.invite(t, csrf, "dev@example.com", trunkline.RoleDeveloper)
		if link == "" {
			t.Fatal("no invitation link")
		}
		mcsrf := me.join(t, link, "+14155550777")
		dev, err := me.db.UserByEmail(ctx, "dev@example.com")
		if err != nil {
			t.Fatal(err)
		}
		// As a developer, the member may create an application (a writer's action).
		app := func() int {
			resp, _ := me.member.post(t, "/console/applications", url.Values{"csrf": {mcsrf}, "app_name": {"a" + time.Now().Format("150405.000000")},
				"answer_url": {"https://example.com/answer"}}, me.srv.URL)
			return resp.StatusCode
		}
		if code := app(); code == http.StatusForbidden {
			t.Fatalf("developer refused: %d", code)
		}

		// The owner makes them read-only: their next write is refused.
		resp, _ := me.post(t, "/console/members/role", url.Values{"csrf": {csrf}, "user": {dev.ID}, "role": {trunkline.RoleReadOnly}}, me.srv.URL)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("role change: %d", resp.StatusCode)
		}
		if code := app(); code != http.StatusForbidden {
			t.Fatalf("read-only member's write after the role change: %d, want 403", code)
		}
		if resp, _ := me.member.get(t, "/console/credentials"); resp.StatusCode != 200 {
			t.Fatalf("read-only member cannot look: %d", resp.StatusCode)
		}
		// The last owner keeps the role.
		boss, _ := me.db.UserByEmail(ctx, "boss@example.com")
		resp, body := me.post(t, "/console/members/role", url.Values{"csrf": {csrf}, "user": {boss.ID}, "role": {trunkline.RoleDeveloper}}, me.srv.URL)
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "must keep an owner") {
			t.Fatalf("demoting the last owner: %d", resp.StatusCode)
		}
		// A member of another account cannot be touched.
		other, err := me.accts.CreateMain(ctx, "Other")
		if err != nil {
			t.Fatal(err)
		}
		stranger := &trunkline.User{ID: "USSTRANGER0000000000", AccountID: other.Account.ID, Email: "stranger@example.com", Role: trunkline.RoleOwner, PassHash: "x"}
		if err := me.db.CreateUser(ctx, stranger); err != nil {
			t.Fatal(err)
		}
		resp, _ = me.post(t, "/console/members/remove", url.Values{"csrf": {csrf}, "user": {stranger.ID}}, me.srv.URL)
		if resp.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("removing another account's user: %d", resp.StatusCode)
		}
		if _, err := me.db.User(ctx, stranger.ID); err != nil {
			t.Fatalf("another account's user is gone: %v", err)
		}

		// Removed: the member's open session is logged out at its next request.
		resp, _ = me.post(t, "/console/members/remove", url.Values{"csrf": {csrf}, "user": {dev.ID}}, me.srv.URL)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("remove: %d", resp.StatusCode)
		}
		resp, _ = me.member.get(t, "/console/credentials")
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/console/login") {
			t.Fatalf("removed member's session: %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
		if _, page := me.get(t, "/console/members"); strings.Contains(page, "dev@example.com") {
			t.Fatal("the removed member is still listed")
		}
		if me.audited("user.role_change") != 1 || me.audited("user.remove") != 1 {
			t.Fatalf("audit: %d role changes, %d removals", me.audited("user.role_change"), me.audited("user.remove"))
		}
	})
}

// TestInviteFormSameForAnyEmail: the owner gets an invitation link whether or not the
// email has a user in another account.
func TestInviteFormSameForAnyEmail(t *testing.T) {
	forEachStore(t, nil, func(t *testing.T, me *membersEnv) {
		ctx := context.Background()
		csrf := me.signup(t, "boss@example.com")
		other, err := me.accts.CreateMain(ctx, "Other")
		if err != nil {
			t.Fatal(err)
		}
		if err := me.db.CreateUser(ctx, &trunkline.User{ID: "USELSEWHERE000000000", AccountID: other.Account.ID,
			Email: "elsewhere@example.com", Role: trunkline.RoleOwner, PassHash: "x"}); err != nil {
			t.Fatal(err)
		}
		codeNew, linkNew := me.invite(t, csrf, "nobody@example.com", trunkline.RoleDeveloper)
		codeOld, linkOld := me.invite(t, csrf, "elsewhere@example.com", trunkline.RoleDeveloper)
		if codeNew != codeOld || linkNew == "" || linkOld == "" {
			t.Fatalf("new email: %d (link %v); another account's user: %d (link %v)", codeNew, linkNew != "", codeOld, linkOld != "")
		}
	})
}

// TestInviteOnlySignup: on an invite-only installation the signup form is not offered
// and a posted signup is refused without sending anything.
func TestInviteOnlySignup(t *testing.T) {
	forEachStore(t, func(o *identity.Options) { o.Signup = identity.SignupInvite }, func(t *testing.T, me *membersEnv) {
		_, page := me.get(t, "/console/signup")
		if !strings.Contains(page, `id="invite-only"`) || strings.Contains(page, `id="signup"`) {
			t.Fatal("the signup page offers a signup on an invite-only installation")
		}
		_, login := me.get(t, "/console/login")
		if strings.Contains(login, `href="/console/signup"`) {
			t.Fatal("the login page links to signup")
		}
		// A signup posted anyway (the form's token is the pre-login one of any page).
		resp, body := me.post(t, "/console/signup", url.Values{"csrf": {csrfOf(t, login)}, "email": {"walkin@example.com"},
			"passphrase": {"correct horse battery staple"}, "phone": {"+14155550100"}, "channel": {"sms"}}, me.srv.URL)
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "invitation only") {
			t.Fatalf("signup posted on an invite-only installation: %d", resp.StatusCode)
		}
		me.codes.mu.Lock()
		defer me.codes.mu.Unlock()
		if me.codes.last != "" {
			t.Fatal("a code was sent")
		}
	})
}
