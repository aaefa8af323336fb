package console

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// testPublicURL is the console's configured public URL in the pages tests.
const testPublicURL = "https://console.example.test:8443"

// TestLinksIgnoreHostHeader: the invitation link (which an owner passes on to a new
// member) and the API examples are built on the configured public URL. Built from the
// Host header, a request through a misrouting proxy or a crafted Host would hand out
// a link to another site carrying a live invitation token.
func TestLinksIgnoreHostHeader(t *testing.T) {
	pe := newPagesEnv(t)
	send := func(method, path string, form url.Values) (int, string) {
		t.Helper()
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, _ := http.NewRequest(method, pe.srv.URL+path, body)
		req.Host = "evil.example"
		// The client's jar would look cookies up by the Host header: add the session's.
		for _, c := range pe.c.Jar.Cookies(req.URL) {
			req.AddCookie(c)
		}
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := (&http.Client{Transport: pe.c.Transport, CheckRedirect: pe.c.CheckRedirect}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if loc := resp.Header.Get("Location"); loc != "" {
			return resp.StatusCode, "redirect to " + loc
		}
		return resp.StatusCode, string(b)
	}
	status, page := send("POST", "/console/members", pe.form("email", "new@example.com", "role", "read-only"))
	want := `id="invite-link">` + testPublicURL + `/console/invite?token=`
	if status != 200 || !strings.Contains(page, want) || strings.Contains(page, "evil.example") {
		t.Fatalf("invite: %d, link not on %s:\n%s", status, testPublicURL, page)
	}
	for _, p := range []string{"/console/credentials", "/console/endpoints"} {
		status, page = send("GET", p, nil)
		if status != 200 || !strings.Contains(page, testPublicURL+"/v1/Account/"+pe.mine+"/") || strings.Contains(page, "evil.example") {
			t.Fatalf("GET %s: %d, API example not on %s", p, status, testPublicURL)
		}
	}
}
