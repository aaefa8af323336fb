package console

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/trunkline/trunkline/account"
	"github.com/trunkline/trunkline/audit"
	"github.com/trunkline/trunkline/identity"
	"github.com/trunkline/trunkline/keys"
	"github.com/trunkline/trunkline/store"
)

// codes stands in for the phone network (the end-to-end browser tests in cmd/trunkline
// use the real sandbox carrier).
type codes struct {
	mu   sync.Mutex
	last string
}

func (c *codes) SendCode(_ context.Context, _, _, code string) error {
	c.mu.Lock()
	c.last = code
	c.mu.Unlock()
	return nil
}

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

func (m *memAudit) List(_ context.Context, f audit.Filter) ([]audit.Entry, int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]audit.Entry(nil), m.e...), len(m.e), nil
}

type env struct {
	srv   *httptest.Server
	codes *codes
	c     *http.Client
}

func newEnv(t *testing.T) *env {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ring, _ := keys.NewRing(bytes.Repeat([]byte{9}, 32))
	accts := account.New(db, ring, account.Options{})
	cs := &codes{}
	au := &memAudit{}
	id := identity.New(identity.Options{Store: db, Ring: ring, Accounts: accts, Sender: cs, Audit: au,
		Hasher: identity.NewHasher(identity.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 2)})
	h, err := New(Options{Identity: id, DB: db, Accounts: accts, Audit: au})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	jar, _ := cookiejar.New(nil)
	c := srv.Client()
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &env{srv: srv, codes: cs, c: c}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (e *env) get(t *testing.T, path string) (*http.Response, string) {
	t.Helper()
	resp, err := e.c.Get(e.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func (e *env) post(t *testing.T, path string, form url.Values, origin string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", e.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := e.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no csrf field in page:\n%s", page)
	}
	return m[1]
}

func checkCookie(t *testing.T, resp *http.Response, name string) {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == name {
			if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Domain != "" {
				t.Errorf("cookie %s: HttpOnly=%v Secure=%v SameSite=%v Path=%q Domain=%q", name, c.HttpOnly, c.Secure, c.SameSite, c.Path, c.Domain)
			}
			return
		}
	}
	t.Errorf("no %s cookie set (got %v)", name, resp.Cookies())
}

// signup runs signup and verification and returns the logged-in session's CSRF token.
func (e *env) signup(t *testing.T, email string) string {
	t.Helper()
	_, page := e.get(t, "/console/signup")
	resp, _ := e.post(t, "/console/signup", url.Values{"csrf": {csrfOf(t, page)}, "email": {email},
		"passphrase": {"correct horse battery staple"}, "phone": {"+14155550100"}, "channel": {"sms"}}, e.srv.URL)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("signup: %d", resp.StatusCode)
	}
	checkCookie(t, resp, cookieFlow)
	_, page = e.get(t, "/console/verify")
	e.codes.mu.Lock()
	code := e.codes.last
	e.codes.mu.Unlock()
	resp, _ = e.post(t, "/console/verify", url.Values{"csrf": {csrfOf(t, page)}, "code": {code}}, e.srv.URL)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/console/") {
		t.Fatalf("verify: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	checkCookie(t, resp, cookieSession)
	_, page = e.get(t, "/console/security")
	return csrfOf(t, page)
}

func TestCookiesAndHeaders(t *testing.T) {
	e := newEnv(t)
	resp, _ := e.get(t, "/console/signup")
	checkCookie(t, resp, cookiePre)
	for h, want := range map[string]string{
		"Content-Security-Policy": "script-src 'self'",
		"X-Frame-Options":         "DENY",
		"X-Content-Type-Options":  "nosniff",
		"Cache-Control":           "no-store",
	} {
		if got := resp.Header.Get(h); !strings.Contains(got, want) {
			t.Errorf("%s = %q, want %q in it", h, got, want)
		}
	}
	e.signup(t, "cookie@example.com")

	// Plain HTTP gets no console at all.
	plain := httptest.NewServer(e.srv.Config.Handler)
	defer plain.Close()
	r, err := http.Get(plain.URL + "/console/login")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusForbidden {
		t.Errorf("plain HTTP: %d", r.StatusCode)
	}
}

func TestCSRF(t *testing.T) {
	e := newEnv(t)
	_, page := e.get(t, "/console/login")
	token := csrfOf(t, page)
	form := func(csrf string) url.Values {
		return url.Values{"csrf": {csrf}, "email": {"x@example.com"}, "passphrase": {"whatever whatever"}}
	}
	for _, c := range []struct {
		name   string
		csrf   string
		origin string
		want   int
	}{
		{"no token", "", "", http.StatusForbidden},
		{"wrong token", token + "x", "", http.StatusForbidden},
		{"other origin", token, "https://evil.example", http.StatusForbidden},
		{"right token", token, "", http.StatusUnprocessableEntity}, // reaches the login: wrong user
	} {
		resp, _ := e.post(t, "/console/login", form(c.csrf), c.origin)
		if resp.StatusCode != c.want {
			t.Errorf("%s: %d, want %d", c.name, resp.StatusCode, c.want)
		}
	}

	// Logged in: forms need the session's token, and a refused POST changes nothing.
	sessCSRF := e.signup(t, "csrf@example.com")
	resp, _ := e.post(t, "/console/logout", url.Values{"csrf": {token}}, "")
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("logout with the pre-login token: %d", resp.StatusCode)
	}
	if resp, _ := e.get(t, "/console/security"); resp.StatusCode != 200 {
		t.Fatalf("session ended by a refused POST: %d", resp.StatusCode)
	}
	resp, _ = e.post(t, "/console/logout", url.Values{"csrf": {sessCSRF}}, e.srv.URL)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	if resp, _ := e.get(t, "/console/security"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("still logged in after logout: %d", resp.StatusCode)
	}
}

func TestBadFormsCreateNothing(t *testing.T) {
	e := newEnv(t)
	_, page := e.get(t, "/console/signup")
	token := csrfOf(t, page)
	for _, c := range []struct {
		name string
		form url.Values
		want string
	}{
		{"short passphrase", url.Values{"email": {"a@example.com"}, "passphrase": {"short one"}, "phone": {"+14155550100"}, "channel": {"sms"}}, "at least 15"},
		{"bad email", url.Values{"email": {"a@"}, "passphrase": {"correct horse battery staple"}, "phone": {"+14155550100"}, "channel": {"sms"}}, "email address"},
		{"bad phone", url.Values{"email": {"a@example.com"}, "passphrase": {"correct horse battery staple"}, "phone": {"abc"}, "channel": {"sms"}}, "international form"},
		{"huge body field", url.Values{"email": {strings.Repeat("a", 300) + "@example.com"}, "passphrase": {"correct horse battery staple"}, "phone": {"+14155550100"}, "channel": {"sms"}}, "too long"},
	} {
		c.form.Set("csrf", token)
		resp, body := e.post(t, "/console/signup", c.form, "")
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, c.want) {
			t.Errorf("%s: %d, page lacks %q", c.name, resp.StatusCode, c.want)
		}
		if strings.Contains(body, "short one") {
			t.Errorf("%s: the page echoes the passphrase", c.name)
		}
	}
	e.codes.mu.Lock()
	defer e.codes.mu.Unlock()
	if e.codes.last != "" {
		t.Error("a code was sent for a bad form")
	}
}

func TestSandboxPageLoopbackOnly(t *testing.T) {
	for _, c := range []struct {
		host string
		want bool
	}{
		{"localhost:8443", true}, {"127.0.0.1:8443", true}, {"[::1]:8443", true}, {"LOCALHOST", true},
		{"console.example.com", false}, {"10.0.0.1:8443", false}, {"localhost.example.com", false},
	} {
		if got := loopbackHost(c.host); got != c.want {
			t.Errorf("loopbackHost(%q) = %v", c.host, got)
		}
	}
}
