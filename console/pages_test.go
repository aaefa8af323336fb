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
	"testing"
	"time"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/account"
	"github.com/trunkline/trunkline/identity"
	"github.com/trunkline/trunkline/keys"
	"github.com/trunkline/trunkline/store"
)

// pagesEnv is a console over a real SQLite store with data in two accounts: the
// signed-up user's ("mine") and another main account ("other").
type pagesEnv struct {
	*env
	db     *store.DB
	au     *memAudit
	accts  *account.Service
	mine   string // the user's Auth ID
	other  string
	csrf   string
	audioN int
}

func newPagesEnv(t *testing.T) *pagesEnv {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return newPagesEnvOn(t, db)
}

// newPagesEnvOn is newPagesEnv over a given store (e.g. one of storetest.Open's).
func newPagesEnvOn(t *testing.T, db *store.DB) *pagesEnv {
	t.Helper()
	ctx := context.Background()
	ring, _ := keys.NewRing(bytes.Repeat([]byte{7}, 32))
	accts := account.New(db, ring, account.Options{CacheTTL: -1})
	cs := &codes{}
	au := &memAudit{}
	id := identity.New(identity.Options{Store: db, Ring: ring, Accounts: accts, Sender: cs, Audit: au,
		Hasher: identity.NewHasher(identity.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 2)})
	pe := &pagesEnv{db: db, au: au, accts: accts}
	opener := func(_ context.Context, rec *trunkline.Recording, format string) (io.ReadCloser, string, error) {
		pe.audioN++
		return io.NopCloser(strings.NewReader("RIFF" + rec.ID)), "audio/wav", nil
	}
	h, err := New(Options{Identity: id, DB: db, Accounts: accts, Audit: au, Recordings: opener,
		PublicURL: func() string { return testPublicURL }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	jar, _ := cookiejar.New(nil)
	c := srv.Client()
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	pe.env = &env{srv: srv, codes: cs, c: c}

	pe.csrf = pe.signup(t, "owner@example.com")
	u, err := db.UserByEmail(ctx, "owner@example.com")
	if err != nil {
		t.Fatal(err)
	}
	pe.mine = u.AccountID
	o, err := accts.CreateMain(ctx, "Other")
	if err != nil {
		t.Fatal(err)
	}
	pe.other = o.Account.ID
	return pe
}

func (pe *pagesEnv) seed(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	msg := func(id, acct, state, code string) *trunkline.Message {
		return &trunkline.Message{UUID: id, AccountID: acct, Direction: "outbound", Type: "sms", LogMode: "true",
			From: "14155550100", To: "14155550101", Body: "hello <b>" + id, Units: 1, State: state, ErrorCode: code,
			ExpiresAt: now.Add(time.Hour)}
	}
	if err := pe.db.InsertMessages(ctx, []*trunkline.Message{
		msg("m-mine-ok", pe.mine, trunkline.MsgDelivered, "000"),
		msg("m-mine-bad", pe.mine, trunkline.MsgFailed, "50"),
		msg("m-other", pe.other, trunkline.MsgDelivered, ""),
	}, nil); err != nil {
		t.Fatal(err)
	}
	ans := now.Add(-time.Minute)
	for _, c := range []*trunkline.Call{
		{UUID: "c-mine", AccountID: pe.mine, Direction: "outbound", From: "14155550100", To: "14155550102", State: trunkline.CallCompleted,
			AnsweredAt: &ans, EndedAt: &now, Duration: 60, BillDuration: 60, HangupCauseName: "Normal Hangup", HangupSource: "Callee",
			Attempts: `[{"trunk":"t1","status":503,"outcome":"failover","ms":120},{"trunk":"t2","status":200,"outcome":"answered","ms":900}]`},
		{UUID: "c-mine-failed", AccountID: pe.mine, Direction: "outbound", From: "14155550100", To: "14155550103", State: trunkline.CallCompleted,
			EndedAt: &now, HangupCauseName: "Invalid Answer XML", HangupReason: "answer_url returned invalid XML"},
		{UUID: "c-other", AccountID: pe.other, Direction: "inbound", From: "14155550104", To: "14155550105", State: trunkline.CallCompleted, EndedAt: &now},
	} {
		if err := pe.db.InsertCall(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range []*trunkline.Recording{
		{ID: "r-mine", AccountID: pe.mine, CallUUID: "c-mine", Format: "wav", DurationMs: 65000},
		{ID: "r-other", AccountID: pe.other, CallUUID: "c-other", Format: "wav"},
	} {
		if err := pe.db.InsertRecording(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pe.db.ImportNumbers(ctx, []*trunkline.Number{
		{Number: "14155550199", CountryISO: "US", Type: "local", VoiceEnabled: true, SMSEnabled: true},
		{Number: "14155550198", CountryISO: "US", Type: "local", VoiceEnabled: true},
	}); err != nil {
		t.Fatal(err)
	}
}

func (pe *pagesEnv) form(kv ...string) url.Values {
	v := url.Values{"csrf": {pe.csrf}}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

func (pe *pagesEnv) audited(action string) int {
	pe.au.mu.Lock()
	defer pe.au.mu.Unlock()
	n := 0
	for _, e := range pe.au.e {
		if e.Action == action {
			n++
		}
	}
	return n
}

func TestPagesShowOnlyTheAccountsData(t *testing.T) {
	pe := newPagesEnv(t)
	pe.seed(t)
	for _, c := range []struct {
		path      string
		want      []string
		forbidden []string
	}{
		{"/console/?welcome=1", []string{`id="welcome"`, `role="img"`, `class="legend"`, "Balance: not metered", `id="failures"`, "m-mine-bad", "c-mine-failed"}, []string{"m-other", "c-other"}},
		{"/console/messages", []string{`id="messages"`, "m-mine-ok", "m-mine-bad", `<th scope="col">`}, []string{"m-other"}},
		{"/console/messages?state=failed", []string{"m-mine-bad"}, []string{"m-mine-ok"}},
		{"/console/messages/m-mine-bad", []string{"Invalid destination number", "hello &lt;b&gt;m-mine-bad"}, nil},
		{"/console/calls", []string{`id="calls"`, "c-mine", "c-mine-failed"}, []string{"c-other"}},
		{"/console/calls/c-mine", []string{`id="trunk-attempts"`, "failover", "Normal Hangup", `src="/console/recordings/r-mine/audio"`, "1:05"}, nil},
		{"/console/calls/c-mine-failed", []string{"answer_url returned invalid XML"}, nil},
		{"/console/recordings", []string{`<audio controls preload="none" src="/console/recordings/r-mine/audio"`}, []string{"r-other"}},
		{"/console/numbers?country_iso=US&type=local", []string{`id="available"`, "+14155550199", "+14155550198"}, nil},
		{"/console/numbers?country_iso=USA", []string{`id="country_iso-error"`}, nil},
		{"/console/messages?direction=sideways", []string{`id="direction-error"`}, nil},
		{"/console/endpoints", []string{`id="endpoints"`, "/v1/Account/" + pe.mine + "/Endpoint/"}, nil},
		{"/console/credentials", []string{`id="credentials"`, "current", pe.mine}, nil},
		{"/console/subaccounts", []string{`id="subaccounts"`}, nil},
		{"/console/audit", []string{`id="audit"`}, nil},
		{"/console/members", []string{`id="members"`, "owner@example.com"}, nil},
		{"/console/applications", []string{`id="applications"`}, nil},
	} {
		resp, body := pe.get(t, c.path)
		if resp.StatusCode != 200 && resp.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("%s: %d", c.path, resp.StatusCode)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s: page lacks %q", c.path, w)
			}
		}
		for _, f := range c.forbidden {
			if strings.Contains(body, f) {
				t.Errorf("%s: page shows another account's %q", c.path, f)
			}
		}
	}
	// Another account's objects are not found, whatever the path.
	for _, p := range []string{"/console/messages/m-other", "/console/calls/c-other", "/console/recordings/r-other/audio",
		"/console/messages/..%2f..", "/console/calls/nope"} {
		if resp, _ := pe.get(t, p); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", p, resp.StatusCode)
		}
	}
}

func TestRecordingAudioIsAudited(t *testing.T) {
	pe := newPagesEnv(t)
	pe.seed(t)
	resp, body := pe.get(t, "/console/recordings/r-mine/audio")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "audio/wav" || body != "RIFFr-mine" {
		t.Fatalf("audio: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	if pe.audited("recording.audio") != 1 {
		t.Error("the fetch was not audited")
	}
	pe.get(t, "/console/recordings/r-other/audio")
	if pe.audioN != 1 || pe.audited("recording.audio") != 1 {
		t.Error("another account's recording was opened or audited")
	}
}

var tokenRE = regexp.MustCompile(`<code class="secret" id="new-token"[^>]*>([A-Za-z0-9]{40})</code>`)

func TestRotateShowsTheTokenOnce(t *testing.T) {
	pe := newPagesEnv(t)
	ctx := context.Background()
	resp, body := pe.post(t, "/console/credentials/rotate", pe.form("overlap", "12"), "")
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, `id="overlap-error"`) {
		t.Fatalf("bad overlap: %d", resp.StatusCode)
	}
	if creds, _ := pe.db.Credentials(ctx, pe.mine, time.Now()); len(creds) != 1 {
		t.Fatalf("a refused rotation changed the credentials: %d", len(creds))
	}
	resp, body = pe.post(t, "/console/credentials/rotate", pe.form("overlap", "3600"), "")
	m := tokenRE.FindStringSubmatch(body)
	if resp.StatusCode != 200 || m == nil || !strings.Contains(body, `id="old-until"`) {
		t.Fatalf("rotate: %d\n%s", resp.StatusCode, body)
	}
	if _, _, err := pe.accts.Authenticate(ctx, pe.mine, m[1]); err != nil {
		t.Fatalf("the shown token does not work: %v", err)
	}
	if pe.audited("credential.rotate") != 1 {
		t.Error("rotation not audited")
	}
	_, page := pe.get(t, "/console/credentials")
	if strings.Contains(page, m[1]) {
		t.Fatal("the token is shown again")
	}
	if !strings.Contains(page, "retiring") {
		t.Error("the old token is not shown as retiring")
	}
	resp, _ = pe.post(t, "/console/credentials/revoke-old", pe.form(), "")
	if resp.StatusCode != http.StatusSeeOther || pe.audited("credential.revoke_old") != 1 {
		t.Fatalf("revoke-old: %d", resp.StatusCode)
	}
	if creds, _ := pe.db.Credentials(ctx, pe.mine, time.Now()); len(creds) != 1 {
		t.Errorf("%d live credentials after revoke-old", len(creds))
	}
}

func TestFormsRefuseBadInput(t *testing.T) {
	pe := newPagesEnv(t)
	pe.seed(t)
	ctx := context.Background()
	for _, c := range []struct {
		path  string
		form  url.Values
		field string
	}{
		{"/console/applications", pe.form("app_name", "bad name!", "answer_url", "https://example.com/a"), "app_name-error"},
		{"/console/applications", pe.form("app_name", "ok", "answer_url", "ftp://example.com/a"), "answer_url-error"},
		{"/console/applications", pe.form("app_name", "ok", "answer_url", "https://u:p@example.com/a"), "answer_url-error"},
		{"/console/applications", pe.form("app_name", "ok"), "answer_url-error"},
		{"/console/applications", pe.form("app_name", "ok", "answer_url", "https://example.com/a", "answer_method", "PUT"), "answer_method-error"},
		{"/console/numbers/rent", pe.form("number", "12ab"), "rent-error"},
		{"/console/numbers/rent", pe.form("number", "19995550100"), "rent-error"},
		{"/console/subaccounts", pe.form("name", "  "), "name-error"},
		{"/console/members", pe.form("email", "not-an-email", "role", "developer"), "email-error"},
		{"/console/members", pe.form("email", "dev@example.com", "role", "boss"), "role-error"},
	} {
		resp, body := pe.post(t, c.path, c.form, "")
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, `id="`+c.field+`"`) {
			t.Errorf("%s %v: %d, page lacks %s", c.path, c.form, resp.StatusCode, c.field)
		}
		if strings.Contains(body, "correct horse") || strings.Contains(body, `value="short"`) {
			t.Errorf("%s: the page echoes a passphrase", c.path)
		}
	}
	sc := trunkline.Scope{AccountID: pe.mine, IncludeSubs: true}
	if _, n, _ := pe.db.ListApplications(ctx, sc, trunkline.ApplicationFilter{Limit: 20}); n != 0 {
		t.Errorf("%d applications made by bad forms", n)
	}
	if _, n, _ := pe.db.ListRented(ctx, sc, trunkline.RentedFilter{Limit: 20}); n != 0 {
		t.Errorf("%d numbers rented by bad forms", n)
	}
	if subs, _ := pe.db.SubaccountIDs(ctx, pe.mine); len(subs) != 0 {
		t.Errorf("%d subaccounts made by bad forms", len(subs))
	}
	if users, _ := pe.db.AccountUsers(ctx, pe.mine); len(users) != 1 {
		t.Errorf("%d users after bad member forms", len(users))
	}
	if invites, _ := pe.db.AccountInvites(ctx, pe.mine); len(invites) != 0 {
		t.Errorf("%d invitations made by bad member forms", len(invites))
	}
}

func TestCreateAndRent(t *testing.T) {
	pe := newPagesEnv(t)
	pe.seed(t)
	ctx := context.Background()
	resp, _ := pe.post(t, "/console/applications", pe.form("app_name", "my-app", "answer_url", "https://example.com/answer",
		"answer_method", "GET", "message_url", "https://example.com/sms"), "")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create application: %d", resp.StatusCode)
	}
	apps, _, _ := pe.db.ListApplications(ctx, trunkline.ScopeOf(&trunkline.Account{ID: pe.mine}), trunkline.ApplicationFilter{Limit: 20})
	if len(apps) != 1 || apps[0].AnswerMethod != "GET" || apps[0].HangupURL != "https://example.com/answer" {
		t.Fatalf("applications %+v", apps)
	}
	if pe.audited("application.create") != 1 {
		t.Error("application.create not audited")
	}

	resp, _ = pe.post(t, "/console/numbers/rent", pe.form("number", "+14155550199", "country_iso", "US"), "")
	if resp.StatusCode != http.StatusSeeOther || pe.audited("number.rent") != 1 {
		t.Fatalf("rent: %d", resp.StatusCode)
	}
	_, page := pe.get(t, resp.Header.Get("Location"))
	if !strings.Contains(page, `id="notice"`) || !strings.Contains(page, "+14155550199") {
		t.Error("the rented number is not shown")
	}
	// Renting it again: no longer available, the search is shown again.
	resp, page = pe.post(t, "/console/numbers/rent", pe.form("number", "14155550199", "country_iso", "US"), "")
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "no longer available") || !strings.Contains(page, "+14155550198") {
		t.Errorf("rent twice: %d", resp.StatusCode)
	}
	if strings.Contains(page, `href="/console/numbers/rent`) {
		t.Error("pager links point at the POST route")
	}

	resp, body := pe.post(t, "/console/subaccounts", pe.form("name", "Team A", "enabled", "on"), "")
	m := tokenRE.FindStringSubmatch(body)
	if resp.StatusCode != 200 || m == nil {
		t.Fatalf("create subaccount: %d", resp.StatusCode)
	}
	subs, _ := pe.db.SubaccountIDs(ctx, pe.mine)
	if len(subs) != 1 || !strings.Contains(body, subs[0]) || pe.audited("subaccount.create") != 1 {
		t.Fatalf("subaccount %v not shown or audited", subs)
	}
	if _, _, err := pe.accts.Authenticate(ctx, subs[0], m[1]); err != nil {
		t.Errorf("the subaccount token does not work: %v", err)
	}

	// Invite a read-only member; they join through the link with their own passphrase
	// and a verified phone.
	resp, body = pe.post(t, "/console/members", pe.form("email", "ro@example.com", "role", "read-only"), "")
	link := regexp.MustCompile(`id="invite-link">https://[^/]+(/console/invite\?token=[^<"]+)<`).FindStringSubmatch(body)
	if resp.StatusCode != 200 || link == nil || pe.audited("user.invite") != 1 {
		t.Fatalf("invite member: %d %v", resp.StatusCode, link)
	}
	invitePath := strings.ReplaceAll(link[1], "&amp;", "&")
	jar, _ := cookiejar.New(nil)
	ro := *pe.env
	ro.c = &http.Client{Transport: pe.c.Transport, Jar: jar, CheckRedirect: pe.c.CheckRedirect}
	_, page = ro.get(t, invitePath)
	if !strings.Contains(page, "ro@example.com") {
		t.Fatalf("invitation page: %s", page)
	}
	token := regexp.MustCompile(`name="token" value="([^"]+)"`).FindStringSubmatch(page)[1]
	resp, _ = ro.post(t, "/console/invite", url.Values{"csrf": {csrfOf(t, page)}, "token": {token},
		"passphrase": {"purple elephant dances quietly"}, "phone": {"+14155550177"}, "channel": {"sms"}}, "")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("accept invitation: %d", resp.StatusCode)
	}
	if users, _ := pe.db.AccountUsers(ctx, pe.mine); len(users) != 1 {
		t.Fatalf("the member exists before verifying their phone (%d users)", len(users))
	}
	_, page = ro.get(t, "/console/verify")
	pe.codes.mu.Lock()
	code := pe.codes.last
	pe.codes.mu.Unlock()
	resp, _ = ro.post(t, "/console/verify", url.Values{"csrf": {csrfOf(t, page)}, "code": {code}}, "")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("member verification: %d", resp.StatusCode)
	}
	if users, _ := pe.db.AccountUsers(ctx, pe.mine); len(users) != 2 || users[1].Role != trunkline.RoleReadOnly || users[1].PhoneVerifiedAt == nil {
		t.Fatalf("members after joining: %+v", users)
	}
	// The link works once.
	if resp, _ := ro.get(t, invitePath); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a used invitation link still works: %d", resp.StatusCode)
	}

	// The read-only member sees the pages but cannot change anything.
	_, page = ro.get(t, "/console/applications")
	if !strings.Contains(page, "my-app") || strings.Contains(page, `id="create-app"`) {
		t.Error("read-only: applications page wrong")
	}
	roCSRF := csrfOf(t, page)
	for _, p := range []string{"/console/applications", "/console/numbers/rent", "/console/credentials/rotate", "/console/subaccounts", "/console/members"} {
		resp, _ := ro.post(t, p, url.Values{"csrf": {roCSRF}, "app_name": {"x"}, "answer_url": {"https://example.com/"},
			"number": {"14155550198"}, "overlap": {"0"}, "name": {"x"}}, "")
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("read-only POST %s: %d", p, resp.StatusCode)
		}
	}
	if resp, _ := ro.get(t, "/console/members"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("read-only members page: %d", resp.StatusCode)
	}
	if n := pe.audited("credential.rotate") + pe.audited("number.rent"); n != 1 {
		t.Errorf("read-only POSTs changed something: %d audit entries", n)
	}
}

// TestDisabledAccount: when the operator disables an account, its users lose the
// console at their next request.
func TestDisabledAccount(t *testing.T) {
	pe := newPagesEnv(t)
	off := false
	if _, err := pe.db.UpdateAccount(context.Background(), pe.mine, trunkline.AccountUpdate{Enabled: &off}); err != nil {
		t.Fatal(err)
	}
	resp, body := pe.get(t, "/console/")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "disabled") {
		t.Fatalf("disabled account: %d", resp.StatusCode)
	}
	// The session cookie is gone: the login page works again.
	if resp, _ := pe.get(t, "/console/login"); resp.StatusCode != 200 {
		t.Fatalf("login page after refusal: %d", resp.StatusCode)
	}
}
