package main

// End-to-end test of staff access in real browsers: headless Chromium (internal/browser)
// against a real `trunkline serve`. Staff members are made with `trunkline staff add`;
// the customer's account with `account create --owner`, its owner joining through the
// printed link (phone verified through the sandbox carrier), and a message sent through
// the API to the sandbox SMSC. Three browsers stand for three people: the support
// person, the manager, the customer.

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trunkline/trunkline/identity"
	"github.com/trunkline/trunkline/internal/browser"
)

// e2eStaffAdd runs `trunkline staff add`, the passphrase on stdin, and returns the TOTP
// secret it prints once.
func e2eStaffAdd(t *testing.T, bin string, env []string, dataDir, email, role string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), e2eCLITimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "staff", "add", "--email", email, "--role", role, "--json", "--data-dir", dataDir)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(e2ePassphrase + "\n")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("staff add %s: %v\n%s", email, err, stderr.Bytes())
	}
	var out struct {
		Secret string `json:"totp_secret"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil || out.Secret == "" {
		t.Fatalf("staff add printed %s", stdout.Bytes())
	}
	if strings.Contains(stdout.String()+stderr.String(), e2ePassphrase) {
		t.Fatal("staff add echoed the passphrase")
	}
	return out.Secret
}

// staffLogin logs a browser in at /staff/login with the passphrase and a TOTP code.
func staffLogin(t *testing.T, b *browser.Browser, base, email, secret string) {
	t.Helper()
	b.Go(base + "/staff/login")
	checkLabels(t, b)
	code, err := identity.TOTPCode(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b.Fill("#email", email)
	b.Fill("#passphrase", e2ePassphrase)
	b.Fill("#code", code)
	b.ClickNav("#login")
	if !strings.HasSuffix(b.URL(), "/staff/") {
		b.Screenshot("staff-login-failed")
		t.Fatalf("staff login %s ended at %s", email, b.URL())
	}
}

func TestStaffAccessE2E(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	bin := e2eBuild(t)
	dataDir := t.TempDir()
	env := e2eEnv(nil)
	srv := e2eStartServer(t, bin, env, dataDir)
	base := consoleBase(t, srv)
	caPath := filepath.Join(dataDir, "tls", "ca.crt")
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e2eCAPool(t, caPath)}}

	samSecret := e2eStaffAdd(t, bin, env, dataDir, "sam@op.test", "support")
	maxSecret := e2eStaffAdd(t, bin, env, dataDir, "max@op.test", "management")

	// The customer: an account with an owner who joined by the invitation link, and one
	// message sent through the API.
	var created struct {
		AuthID    string `json:"auth_id"`
		AuthToken string `json:"auth_token"`
		Link      string `json:"owner_invite_link"`
	}
	out := e2eCLI(t, bin, env, "account", "create", "--name", "Acme Clinic", "--owner", "boss@acme.test", "--url", base,
		"--data-dir", dataDir, "--json")
	if err := json.Unmarshal(out, &created); err != nil || created.Link == "" {
		t.Fatalf("account create printed %s", out)
	}
	newConsoleClient(t, base, tr).accept(created.Link, "14155550180")
	e2eCLI(t, bin, env, "number", "add", "--number", "14155550181", "--country", "US", "--data-dir", dataDir)
	acct := e2eAcct{AuthID: created.AuthID, AuthToken: created.AuthToken}
	e2eRent(t, srv.base, caPath, acct, "14155550181")
	api := &http.Client{Timeout: 30 * time.Second, Transport: tr}
	const text = "Appointment moved to Tuesday 10:00"
	body, _ := json.Marshal(map[string]string{"src": "14155550181", "dst": "14155550182", "text": text})
	req, _ := http.NewRequest("POST", srv.base+"/v1/Account/"+acct.AuthID+"/Message/", bytes.NewReader(body))
	req.SetBasicAuth(acct.AuthID, acct.AuthToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := api.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var sent struct {
		UUIDs []string `json:"message_uuid"`
	}
	json.NewDecoder(resp.Body).Decode(&sent)
	resp.Body.Close()
	if resp.StatusCode != 202 || len(sent.UUIDs) != 1 {
		t.Fatalf("send: %d %v", resp.StatusCode, sent)
	}
	msgID := sent.UUIDs[0]

	// The support person: without a grant the account's pages show nothing.
	sam := browser.Start(t, browser.Options{})
	staffLogin(t, sam, base, "sam@op.test", samSecret)
	if st := sam.GoStatus(base + "/staff/accounts/" + acct.AuthID + "/messages/" + msgID); st != http.StatusForbidden {
		t.Fatalf("message page without a grant: %d", st)
	}
	if sam.Exists("#message-text") {
		t.Fatal("the message shows without a grant")
	}
	// The request.
	sam.Go(base + "/staff/")
	checkLabels(t, sam)
	sam.Fill("#account", acct.AuthID)
	var set string
	sam.Eval(`(() => { const s = document.querySelector('#scope'); s.value = 'content'; return s.value; })()`, &set)
	if set != "content" {
		t.Fatalf("scope select: %q", set)
	}
	sam.Fill("#reason", "Customer asks why a reminder text was not delivered")
	sam.Fill("#ticket", "SUP-4242")
	sam.Fill("#duration", "30")
	sam.ClickNav("#request")
	if !sam.Exists("#notice") {
		sam.Screenshot("request-failed")
		t.Fatalf("no notice after filing the request: %s", sam.Text("main"))
	}
	if st := sam.Text("#grants-mine tbody tr .state"); st != "pending" {
		t.Fatalf("own request is %q", st)
	}
	if sam.Exists("#grants-mine button.approve") {
		t.Fatal("the requester is offered to approve their own request")
	}
	sam.Screenshot("requested")

	// The manager approves in their own browser.
	max := browser.Start(t, browser.Options{})
	staffLogin(t, max, base, "max@op.test", maxSecret)
	max.Screenshot("manager-home")
	max.ClickNav("#grants-others button.approve")
	if !max.Exists("#notice") || max.Text("#grants-others tbody tr .state") != "active" {
		max.Screenshot("approve-failed")
		t.Fatalf("after approval: %s", max.Text("main"))
	}

	// The support person reads the one message.
	sam.Go(base + "/staff/")
	sam.ClickNav("a.open-account")
	sam.Go(base + "/staff/accounts/" + acct.AuthID + "/messages")
	if !strings.Contains(sam.Text("#messages"), msgID) || strings.Contains(sam.Text("#messages"), text) {
		t.Fatalf("messages list: %q", sam.Text("#messages"))
	}
	sam.ClickNav("#messages a")
	if got := sam.Text("#message-text"); got != text {
		t.Fatalf("message text %q", got)
	}
	sam.Screenshot("message-read")

	// The customer sees that read in their audit log, with reason and ticket.
	boss := browser.Start(t, browser.Options{})
	boss.Go(base + "/console/login")
	boss.Fill("#email", "boss@acme.test")
	boss.Fill("#passphrase", e2ePassphrase)
	boss.ClickNav("#login")
	boss.Go(base + "/console/audit?action=staff.read")
	boss.Screenshot("customer-audit")
	var rows []string
	boss.Eval(`Array.from(document.querySelectorAll('#audit tbody tr')).map(r => r.textContent)`, &rows)
	found := false
	for _, r := range rows {
		if strings.Contains(r, "staff:sam@op.test") && strings.Contains(r, msgID) && strings.Contains(r, "reason=Customer asks why a reminder text was not delivered") &&
			strings.Contains(r, "ticket=SUP-4242") && strings.Contains(r, "scope=content") {
			found = true
		}
	}
	if !found {
		t.Fatalf("the customer's audit log has no staff read of %s with reason and ticket: %q", msgID, rows)
	}
	// And the staff access page lists the grant.
	boss.Go(base + "/console/staff-access")
	if !strings.Contains(boss.Text("#staff-grants"), "SUP-4242") {
		t.Fatalf("staff access page: %q", boss.Text("#staff-grants"))
	}

	// The same entry through the API's GET AuditLog/.
	u := srv.base + "/v1/Account/" + acct.AuthID + "/AuditLog/?" + url.Values{"action": {"staff.read"}}.Encode()
	req, _ = http.NewRequest("GET", u, nil)
	req.SetBasicAuth(acct.AuthID, acct.AuthToken)
	resp, err = api.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var log struct {
		Objects []struct {
			Actor    string            `json:"actor"`
			ObjectID string            `json:"object_id"`
			Detail   map[string]string `json:"detail"`
		} `json:"objects"`
	}
	json.NewDecoder(resp.Body).Decode(&log)
	resp.Body.Close()
	ok := false
	for _, o := range log.Objects {
		ok = ok || (o.Actor == "staff:sam@op.test" && o.ObjectID == msgID && o.Detail["ticket"] == "SUP-4242" && o.Detail["reason"] != "")
	}
	if resp.StatusCode != 200 || !ok {
		t.Fatalf("GET AuditLog/: %d %+v", resp.StatusCode, log.Objects)
	}
	// The compliance export from the CLI holds the access; the log still verifies.
	csv := e2eCLI(t, bin, env, "compliance", "export", "--account", acct.AuthID, "--from", time.Now().UTC().AddDate(0, 0, -1).Format("2006-01-02"),
		"--to", time.Now().UTC().Format("2006-01-02"), "--data-dir", dataDir)
	if !strings.Contains(string(csv), "staff_access,"+acct.AuthID+",staff.read,staff:sam@op.test") || !strings.Contains(string(csv), "login,") {
		t.Fatalf("compliance export:\n%s", csv)
	}
	if out := e2eCLI(t, bin, env, "audit", "verify", "--data-dir", dataDir); !strings.Contains(string(out), "OK") {
		t.Fatalf("audit verify: %s", out)
	}
}
