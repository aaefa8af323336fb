package main

// End-to-end test of the web console in a real browser: headless Chromium (Debian
// `chromium`, driven by internal/browser over the DevTools protocol) against a real
// `trunkline serve` child process on its embedded defaults, where the sandbox carrier and
// the sandbox phone stand in for real phones. Screenshots of every page are saved as test
// artifacts ($TRUNKLINE_ARTIFACTS/<test>/, else /tmp/trunkline-artifacts/<test>/).

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/trunkline/trunkline/identity"
	"github.com/trunkline/trunkline/internal/browser"
	"github.com/trunkline/trunkline/internal/peer"
)

const e2ePassphrase = "violet tractor sings at dawn"

var sixDigits = regexp.MustCompile(`\b\d{6}\b`)

// consoleBase is the server's console on "localhost" (WebAuthn needs a host name; the
// self-signed certificate covers it).
func consoleBase(t *testing.T, s *e2eServer) string {
	u, err := url.Parse(s.base)
	if err != nil {
		t.Fatal(err)
	}
	return "https://localhost:" + u.Port()
}

// checkLabels fails when a visible form control of the current page has no label.
func checkLabels(t *testing.T, b *browser.Browser) {
	t.Helper()
	var unlabeled []string
	b.Eval(`Array.from(document.querySelectorAll('input:not([type=hidden]),select,textarea'))
		.filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
		.map(e => e.name || e.id)`, &unlabeled)
	if len(unlabeled) > 0 {
		t.Errorf("%s: form controls without a label: %v", b.URL(), unlabeled)
	}
}

// sandboxCode reads the newest verification code for the number from the sandbox page:
// a text message (channel sms) or what the sandbox phone was told (channel voice). The
// page's ?wait= holds the answer until something has reached the number (the sandbox's
// own signal, no polling).
func sandboxCode(t *testing.T, b *browser.Browser, base, phone, channel string) string {
	t.Helper()
	if st := b.GoStatus(base + "/console/sandbox?wait=" + phone); st != 200 {
		t.Fatalf("nothing reached %s in the sandbox (status %d)", phone, st)
	}
	var got struct{ Text string }
	if channel == "sms" {
		b.Eval(`(() => { const r = Array.from(document.querySelectorAll('#sandbox-messages tbody tr'))
			.find(r => (r.querySelector('.to')||{}).textContent === '`+phone+`');
			return {text: r ? r.querySelector('.text').textContent : ''}; })()`, &got)
		b.Screenshot("sandbox-sms")
		if m := sixDigits.FindString(got.Text); m != "" {
			return m
		}
	} else {
		b.Eval(`(() => { const r = Array.from(document.querySelectorAll('#sandbox-calls tbody tr'))
			.find(r => (r.querySelector('.to')||{}).textContent === '`+phone+`');
			return {text: r ? r.querySelector('.spoken').textContent : ''}; })()`, &got)
		b.Screenshot("sandbox-call")
		digits := strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, strings.SplitN(got.Text, "Again", 2)[0])
		if len(digits) == 6 {
			return digits
		}
	}
	t.Fatalf("no %s code for %s in the sandbox: %q", channel, phone, got.Text)
	return ""
}

func TestConsoleE2E(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	bin := e2eBuild(t)
	dataDir := t.TempDir()
	srv := e2eStartServer(t, bin, e2eEnv(nil), dataDir)
	base := consoleBase(t, srv)
	b := browser.Start(t, browser.Options{})
	const email, phone = "dev@example.com", "14155550101"

	// Signup: bad input first. Each mistake is named on the page and nothing is made.
	b.Go(base + "/console/signup")
	checkLabels(t, b)
	b.Screenshot("signup")
	for _, bad := range []struct{ email, pass, phone, field, want string }{
		{"not-an-email", e2ePassphrase, "+" + phone, "#email-error", "email address"},
		{email, "tiny pw", "+" + phone, "#passphrase-error", "at least 15"},
		{email, "passwordpassword", "+" + phone, "#passphrase-error", ""},
		{email, e2ePassphrase, "12", "#phone-error", "international"},
	} {
		b.Fill("#email", bad.email)
		b.Fill("#passphrase", bad.pass)
		b.Fill("#phone", bad.phone)
		b.ClickNav("#signup")
		if !b.Exists(bad.field) {
			b.Screenshot("signup-bad")
			t.Fatalf("signup with %q/%q/%q: no %s on the page", bad.email, bad.pass, bad.phone, bad.field)
		}
		if msg := b.Text(bad.field); !strings.Contains(msg, bad.want) || strings.Contains(msg, bad.pass) && bad.pass != e2ePassphrase {
			t.Errorf("signup error %q: want it to mention %q and not echo the passphrase", msg, bad.want)
		}
	}
	b.Screenshot("signup-errors")

	// Good signup → code by SMS, read from the sandbox carrier.
	b.Fill("#email", email)
	b.Fill("#passphrase", e2ePassphrase)
	b.Fill("#account_name", "Console E2E")
	b.Fill("#phone", "+"+phone)
	b.ClickNav("#signup")
	if !strings.HasSuffix(b.URL(), "/console/verify") {
		t.Fatalf("after signup at %s, want /console/verify", b.URL())
	}
	b.Screenshot("verify")
	code := sandboxCode(t, b, base, phone, "sms")
	b.Go(base + "/console/verify")
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	b.Fill("#code", wrong)
	b.ClickNav("#verify")
	if msg := b.Text("#code-error"); !strings.Contains(msg, "not right") {
		t.Fatalf("wrong code: %q", msg)
	}
	// Not activated by a wrong code: logging in is refused.
	b.Fill("#code", code)
	b.ClickNav("#verify")
	if !b.Exists("#welcome") {
		b.Screenshot("after-verify")
		t.Fatalf("after the right code at %s: no welcome banner", b.URL())
	}
	if !b.Exists("#urge-mfa") {
		t.Error("the console does not urge second-factor enrolment")
	}
	b.Screenshot("dashboard-new")

	// Enrol TOTP.
	b.Go(base + "/console/security")
	checkLabels(t, b)
	b.ClickNav("#totp-setup")
	b.Screenshot("totp-setup")
	secret := b.Text("#totp-secret")
	enrolCode, err := identity.TOTPCode(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b.Fill("#code", enrolCode)
	b.ClickNav("#totp-confirm")
	recovery := strings.Fields(b.Text("#recovery-codes"))
	if len(recovery) != 10 {
		t.Fatalf("recovery codes shown: %q, want 10", recovery)
	}
	b.Screenshot("recovery-codes")
	b.ClickNav("#codes-done")
	if got := b.Text("#totp-state"); got != "set up" {
		t.Fatalf("TOTP state %q", got)
	}

	// Log out, log in with the passphrase and TOTP. The enrolment's code is refused (a
	// code works once); the next step's code is accepted.
	b.ClickNav("#logout")
	if !strings.Contains(b.URL(), "/console/login") {
		t.Fatalf("after logout at %s", b.URL())
	}
	b.Go(base + "/console/")
	if !strings.Contains(b.URL(), "/console/login") {
		t.Fatalf("the dashboard is reachable after logout (%s)", b.URL())
	}
	b.Fill("#email", email)
	b.Fill("#passphrase", "wrong "+e2ePassphrase)
	b.ClickNav("#login")
	wrongPass := b.Text("#form-error")
	b.Fill("#email", "nobody@example.com")
	b.Fill("#passphrase", e2ePassphrase)
	b.ClickNav("#login")
	if unknown := b.Text("#form-error"); unknown != wrongPass {
		t.Errorf("unknown user answer %q differs from wrong passphrase answer %q", unknown, wrongPass)
	}
	b.Fill("#email", email)
	b.Fill("#passphrase", e2ePassphrase)
	b.ClickNav("#login")
	if !strings.Contains(b.URL(), "/console/login/2fa") {
		t.Fatalf("with TOTP enrolled, login went to %s", b.URL())
	}
	b.Screenshot("login-2fa")
	b.Fill("#code", enrolCode)
	b.ClickNav("#verify")
	if !b.Exists("#form-error") {
		t.Fatal("a TOTP code was accepted twice")
	}
	next, _ := identity.TOTPCode(secret, time.Now().Add(30*time.Second))
	b.Fill("#code", next)
	b.ClickNav("#verify")
	if strings.Contains(b.URL(), "/login") {
		b.Screenshot("login-2fa-failed")
		t.Fatalf("login with the next TOTP code failed: %s", b.URL())
	}
	if b.Exists("#urge-mfa") {
		t.Error("still urging enrolment with TOTP enrolled")
	}

	// Rotate the Auth Token; the new one is shown once.
	b.Go(base + "/console/credentials")
	checkLabels(t, b)
	b.Screenshot("credentials")
	authID := strings.TrimSpace(b.Text("#auth-id"))
	b.ClickNav(`form[action="/console/credentials/rotate"] button[type=submit]`)
	token := strings.TrimSpace(b.Text("#new-token"))
	if len(token) != 40 {
		t.Fatalf("new token %q", token)
	}
	b.Screenshot("credentials-rotated")
	b.Go(base + "/console/credentials")
	if strings.Contains(b.Text("body"), token) {
		t.Fatal("the token is shown again after the rotation page")
	}

	// Send a message through the API with the new token, as "Trunkline": a sender ID
	// the operator allows for the new account first (package callerid).
	e2eCLI(t, bin, e2eEnv(nil), "account", "sender-id", "allow", "--id", authID, "--sender", "Trunkline", "--data-dir", dataDir)
	pool := e2eCAPool(t, filepath.Join(dataDir, "tls", "ca.crt"))
	cl := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequest("POST", srv.base+"/v1/Account/"+authID+"/Message/",
		strings.NewReader(`{"src":"Trunkline","dst":"14155550199","text":"hello from the console test"}`))
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(authID, token)
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 202 {
		t.Fatalf("send with the new token: %d %s", resp.StatusCode, body)
	}
	var sent struct {
		MessageUUID []string `json:"message_uuid"`
	}
	json.Unmarshal(body, &sent)
	if len(sent.MessageUUID) != 1 {
		t.Fatalf("send answer %s", body)
	}

	// The message is in the message log, and the rotation in the audit log.
	b.Go(base + "/console/messages")
	checkLabels(t, b)
	if !strings.Contains(b.Text("#messages"), sent.MessageUUID[0]) {
		t.Errorf("message %s not in the message log", sent.MessageUUID[0])
	}
	b.Screenshot("messages")
	b.Go(base + "/console/messages/" + sent.MessageUUID[0])
	if txt := b.Text("#message-text"); txt != "hello from the console test" {
		t.Errorf("message detail shows %q", txt)
	}
	b.Screenshot("message")
	b.Go(base + "/console/audit")
	if txt := b.Text("#audit"); !strings.Contains(txt, "credential.rotate") || !strings.Contains(txt, "user.login") ||
		!strings.Contains(txt, "message.read") {
		t.Errorf("audit log lacks the rotation, the login or the read of the message:\n%s", txt)
	}
	if strings.Contains(b.Text("body"), token) {
		t.Error("the audit log shows the token")
	}
	b.Screenshot("audit")

	// The dashboard: its weight and time to first render, for the closing note.
	// The first load fetches the stylesheet and script; the next ones come from the
	// browser cache, as for a user moving around the console.
	for i := 0; i < 5; i++ {
		b.Go(base + "/console/")
		t.Logf("console dashboard timing (load %d): %s", i+1, b.Timing())
	}
	b.Screenshot("dashboard")
	// Keyboard use: the first Tab reaches the skip link, Enter moves to the content,
	// and the next Tabs walk the navigation.
	b.Run(chromedp.KeyEvent(kb.Tab))
	var focus string
	b.Eval(`document.activeElement.className`, &focus)
	if focus != "skip" {
		t.Errorf("first Tab focuses %q, want the skip link", focus)
	}
	b.Run(chromedp.KeyEvent(kb.Enter))
	b.Eval(`document.activeElement.id`, &focus)
	if focus != "main" {
		t.Errorf("the skip link moves focus to %q, want main", focus)
	}
	if errs := b.ConsoleErrors(); len(errs) > 0 {
		t.Errorf("JavaScript errors: %v", errs)
	}

	// The other pages render for this user without errors.
	for _, p := range []string{"calls", "recordings", "numbers", "applications", "endpoints", "subaccounts", "members", "security"} {
		if st := b.GoStatus(base + "/console/" + p); st != 200 {
			t.Errorf("/console/%s: status %d", p, st)
		}
		checkLabels(t, b)
		b.Screenshot(p)
	}

	// A phone-sized screen: no sideways scrolling on the dashboard.
	m := browser.Start(t, browser.Options{Mobile: true})
	m.Go(base + "/console/login")
	m.Fill("#email", email)
	m.Fill("#passphrase", e2ePassphrase)
	m.ClickNav("#login")
	// The TOTP steps in reach are used up: a recovery code does instead.
	m.Fill("#code", recovery[0])
	m.ClickNav("#verify")
	m.Go(base + "/console/")
	if !strings.HasSuffix(m.URL(), "/console/") {
		m.Screenshot("mobile-login-failed")
		t.Fatalf("login with a recovery code on the phone-sized screen failed: %s", m.URL())
	}
	var overflow bool
	m.Eval(`document.documentElement.scrollWidth > window.innerWidth + 1`, &overflow)
	if overflow {
		t.Error("the dashboard scrolls sideways on a phone-sized screen")
	}
	m.Screenshot("dashboard-mobile")
}

// TestConsoleVoiceVerification signs up with the code by voice call: the sandbox phone
// answers, hears the code spoken (TTS) and its call record holds what was spoken.
func TestConsoleVoiceVerification(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	if _, err := exec.LookPath("espeak-ng"); err != nil {
		peer.Missing(t, "espeak-ng (text to speech) is not installed")
	}
	bin := e2eBuild(t)
	srv := e2eStartServer(t, bin, e2eEnv(nil), t.TempDir())
	base := consoleBase(t, srv)
	b := browser.Start(t, browser.Options{})
	consoleSignup(t, b, base, "voice@example.com", "14155550102", "voice")
	b.Screenshot("voice-dashboard")
	// The call was heard as speech by the sandbox phone.
	b.Go(base + "/console/sandbox")
	var speech string
	b.Eval(`document.querySelector('#sandbox-calls tbody tr').cells[3].textContent`, &speech)
	if strings.HasPrefix(speech, "0.0") {
		t.Errorf("the sandbox phone heard no speech (%s)", speech)
	}
}

// consoleSignup signs up through the browser with the code by channel ("sms" or
// "voice") from the sandbox.
func consoleSignup(t *testing.T, b *browser.Browser, base, email, phone, channel string) {
	t.Helper()
	b.Go(base + "/console/signup")
	b.Fill("#email", email)
	b.Fill("#passphrase", e2ePassphrase)
	b.Fill("#phone", "+"+phone)
	b.Click("#channel-" + channel)
	b.ClickNav("#signup")
	if sentBy := map[string]string{"sms": "text message", "voice": "voice call"}[channel]; !strings.Contains(b.Text("#sent-to"), sentBy) {
		t.Fatalf("verify page: %q, want the code sent by %s", b.Text("#sent-to"), sentBy)
	}
	code := sandboxCode(t, b, base, phone, channel)
	b.Go(base + "/console/verify")
	b.Fill("#code", code)
	b.ClickNav("#verify")
	if !b.Exists("#welcome") {
		b.Screenshot("signup-failed")
		t.Fatalf("signup of %s with the %s code %s did not finish (%s)", email, channel, code, b.URL())
	}
}

// TestConsolePasskey enrols a passkey (Chromium's virtual authenticator, a real WebAuthn
// ceremony through navigator.credentials) and logs in with it.
func TestConsolePasskey(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	bin := e2eBuild(t)
	srv := e2eStartServer(t, bin, e2eEnv(nil), t.TempDir())
	base := consoleBase(t, srv)
	b := browser.Start(t, browser.Options{})
	const email = "passkey@example.com"
	consoleSignup(t, b, base, email, "14155550103", "sms")
	b.Go(base + "/console/security")
	auth := b.AddVirtualAuthenticator()
	b.Fill("#passkey-name", "Test laptop")
	b.ClickNav("#passkey-add")
	if !b.Exists("#recovery-codes") {
		b.Screenshot("passkey-add-failed")
		t.Fatalf("no recovery codes after the first passkey (%s): %s", b.URL(), b.Text("main"))
	}
	if n := b.Credentials(auth); n != 1 {
		t.Fatalf("the authenticator holds %d credentials", n)
	}
	b.Screenshot("passkey-added")
	b.ClickNav("#codes-done")
	if !strings.Contains(b.Text("#passkeys"), "Test laptop") {
		t.Fatalf("passkey not listed: %s", b.Text("#passkeys"))
	}
	b.ClickNav("#logout")
	b.Fill("#email", email)
	b.Fill("#passphrase", e2ePassphrase)
	b.ClickNav("#login")
	if !b.Exists("#use-passkey") {
		t.Fatalf("no passkey option at the second step (%s)", b.URL())
	}
	b.Screenshot("login-passkey")
	b.ClickNav("#use-passkey")
	if strings.Contains(b.URL(), "/login") || b.Exists("#urge-mfa") {
		b.Screenshot("login-passkey-failed")
		t.Fatalf("passkey login failed: %s %s", b.URL(), b.Text("main"))
	}
	if errs := b.ConsoleErrors(); len(errs) > 0 {
		t.Errorf("JavaScript errors: %v", errs)
	}
}
