package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// End-to-end test of the operator's offboarding and invitation commands against a real
// `trunkline serve`: an account made with `account create --owner` gets its owner through
// the printed link (phone verified through the sandbox carrier); `account disable` then
// refuses its API credentials and its console, `account enable` gives both back; `user
// remove` ends the owner's open console session. Plain HTTP clients stand in for the
// browser (the console's browser tests are in e2e_console_test.go).

var csrfFieldRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

type consoleClient struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newConsoleClient(t *testing.T, base string, tr http.RoundTripper) *consoleClient {
	jar, _ := cookiejar.New(nil)
	return &consoleClient{t: t, base: base, c: &http.Client{Timeout: 30 * time.Second, Transport: tr, Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (cc *consoleClient) do(method, path string, form url.Values) (*http.Response, string) {
	cc.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, cc.base+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", cc.base)
	}
	resp, err := cc.c.Do(req)
	if err != nil {
		cc.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func (cc *consoleClient) csrf(path string) string {
	cc.t.Helper()
	_, page := cc.do("GET", path, nil)
	m := csrfFieldRE.FindStringSubmatch(page)
	if m == nil {
		cc.t.Fatalf("no csrf field on %s:\n%s", path, page)
	}
	return m[1]
}

// accept takes an invitation link: passphrase and phone, then the code the sandbox
// carrier received (the sandbox page's ?wait= holds until it has arrived).
func (cc *consoleClient) accept(link, phone string) {
	cc.t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		cc.t.Fatal(err)
	}
	resp, _ := cc.do("POST", "/console/invite", url.Values{"csrf": {cc.csrf(u.RequestURI())}, "token": {u.Query().Get("token")},
		"passphrase": {e2ePassphrase}, "phone": {"+" + phone}, "channel": {"sms"}})
	if resp.StatusCode != http.StatusSeeOther {
		cc.t.Fatalf("invitation: %d", resp.StatusCode)
	}
	_, page := cc.do("GET", "/console/sandbox?wait="+phone, nil)
	// The newest text to this phone.
	all := regexp.MustCompile(`class="to">`+phone+`</td><td>[^<]*</td><td class="text">Your Trunkline verification code is (\d{6})`).FindAllStringSubmatch(page, -1)
	var m []string
	if len(all) > 0 {
		m = all[len(all)-1]
	}
	if m == nil {
		cc.t.Fatalf("no code reached %s", phone)
	}
	resp, body := cc.do("POST", "/console/verify", url.Values{"csrf": {cc.csrf("/console/verify")}, "code": {m[1]}})
	if resp.StatusCode != http.StatusSeeOther {
		cc.t.Fatalf("verify: %d\n%s", resp.StatusCode, body)
	}
}

// e2eCLIFails runs an operator command that must fail, and returns its stderr.
func e2eCLIFails(t *testing.T, bin string, env []string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), e2eCLITimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err == nil {
		t.Fatalf("trunkline %s succeeded; want a refusal", strings.Join(args, " "))
	}
	return stderr.String()
}

func TestOperatorOffboardingE2E(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	bin := e2eBuild(t)
	dataDir := t.TempDir()
	env := e2eEnv(nil)
	srv := e2eStartServer(t, bin, env, dataDir)
	base := consoleBase(t, srv)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e2eCAPool(t, filepath.Join(dataDir, "tls", "ca.crt"))}}

	var created struct {
		AuthID    string `json:"auth_id"`
		AuthToken string `json:"auth_token"`
		Link      string `json:"owner_invite_link"`
	}
	out := e2eCLI(t, bin, env, "account", "create", "--name", "Offboard Ltd", "--owner", "boss@example.com", "--url", base,
		"--data-dir", dataDir, "--json")
	if err := json.Unmarshal(out, &created); err != nil || created.Link == "" || !strings.HasPrefix(created.Link, base+"/console/invite?token=") {
		t.Fatalf("account create --owner printed %s (%v)", out, err)
	}
	boss := newConsoleClient(t, base, tr)
	boss.accept(created.Link, "14155550170")
	consoleOK := func(cc *consoleClient) bool {
		resp, _ := cc.do("GET", "/console/credentials", nil)
		return resp.StatusCode == http.StatusOK
	}
	if !consoleOK(boss) {
		t.Fatal("the invited owner has no console")
	}
	api := func() int {
		req, _ := http.NewRequest("GET", srv.base+"/v1/Account/"+created.AuthID+"/", nil)
		req.SetBasicAuth(created.AuthID, created.AuthToken)
		resp, err := (&http.Client{Timeout: 30 * time.Second, Transport: tr}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// Disabled: the API refuses the credentials (this is the first API request, so no
	// cached authentication answers it) and the console refuses the owner's session.
	e2eCLI(t, bin, env, "account", "disable", "--id", created.AuthID, "--data-dir", dataDir)
	if code := api(); code != http.StatusUnauthorized {
		t.Fatalf("API of a disabled account: %d, want 401", code)
	}
	if resp, body := boss.do("GET", "/console/credentials", nil); resp.StatusCode == http.StatusOK || strings.Contains(body, created.AuthID) {
		t.Fatalf("console of a disabled account: %d", resp.StatusCode)
	}
	login := func(cc *consoleClient) int {
		resp, _ := cc.do("POST", "/console/login", url.Values{"csrf": {cc.csrf("/console/login")}, "email": {"boss@example.com"},
			"passphrase": {e2ePassphrase}})
		return resp.StatusCode
	}
	login(boss)
	if consoleOK(boss) {
		t.Fatal("a new login reached the console of a disabled account")
	}

	// Enabled again: the console at once; the API once the server's authentication
	// cache (1 s, documented: the CLI is another process) has let go of the refusal.
	e2eCLI(t, bin, env, "account", "enable", "--id", created.AuthID, "--data-dir", dataDir)
	if code := login(boss); code != http.StatusSeeOther || !consoleOK(boss) {
		t.Fatalf("login after enable: %d", code)
	}
	deadline := time.Now().Add(5 * time.Second)
	code := api()
	for i := 0; code != http.StatusOK && i < 50 && time.Now().Before(deadline); i++ {
		<-time.After(100 * time.Millisecond)
		code = api()
	}
	if code != http.StatusOK {
		t.Fatalf("API after enable: %d", code)
	}

	// A second owner, then the operator removes the first: their open session ends.
	out = e2eCLI(t, bin, env, "account", "invite", "--id", created.AuthID, "--email", "heir@example.com", "--role", "owner",
		"--url", base, "--data-dir", dataDir, "--json")
	var inv struct {
		Link string `json:"invite_link"`
	}
	if err := json.Unmarshal(out, &inv); err != nil || inv.Link == "" {
		t.Fatalf("account invite printed %s", out)
	}
	heir := newConsoleClient(t, base, tr)
	heir.accept(inv.Link, "14155550171")
	out = e2eCLI(t, bin, env, "user", "list", "--account", created.AuthID, "--data-dir", dataDir)
	if !strings.Contains(string(out), "boss@example.com") || !strings.Contains(string(out), "heir@example.com") {
		t.Fatalf("user list: %s", out)
	}
	e2eCLI(t, bin, env, "user", "role", "--email", "heir@example.com", "--role", "read-only", "--data-dir", dataDir)
	if resp, _ := heir.do("GET", "/console/members", nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("members page of a member made read-only: %d", resp.StatusCode)
	}
	// boss is now the only owner: the operator is told, and nothing changes.
	if msg := e2eCLIFails(t, bin, env, "user", "remove", "--email", "boss@example.com", "--data-dir", dataDir); !strings.Contains(msg, "last owner") || !consoleOK(boss) {
		t.Fatalf("removing the last owner: %s", msg)
	}
	e2eCLI(t, bin, env, "user", "role", "--email", "heir@example.com", "--role", "owner", "--data-dir", dataDir)
	e2eCLI(t, bin, env, "user", "remove", "--email", "boss@example.com", "--data-dir", dataDir)
	if resp, _ := boss.do("GET", "/console/credentials", nil); resp.StatusCode != http.StatusSeeOther ||
		!strings.HasPrefix(resp.Header.Get("Location"), "/console/login") {
		t.Fatalf("removed owner's session: %d", resp.StatusCode)
	}
	if !consoleOK(heir) {
		t.Fatal("the remaining owner lost the console")
	}
	// Every operator action is in the audit log, which verifies.
	if out := e2eCLI(t, bin, env, "audit", "verify", "--data-dir", dataDir); !strings.Contains(string(out), "OK") {
		t.Fatalf("audit verify: %s", out)
	}
}
