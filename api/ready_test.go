package api

import (
	"io"
	"net/http"
	"testing"

	"github.com/trunkline/trunkline/store/storetest"
)

// TestReadyAndDrain: ReadyPath answers 200 "ready" without credentials; after Drain it
// answers 503 "draining" while API requests are still served (a load balancer's grace),
// with Connection: close so pooled connections end. (Shutdown letting requests in flight
// finish is shown end to end by TestNodeSDK's stopDuringRequest.)
func TestReadyAndDrain(t *testing.T) {
	db := storetest.Open(t)[0]
	e := newEnv(t, db, Options{})
	c := e.mainAccount("drain")
	get := func(method string) (int, string, http.Header) {
		t.Helper()
		req, _ := http.NewRequest(method, e.base+ReadyPath, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b), res.Header
	}
	if code, body, _ := get(http.MethodGet); code != 200 || body != "{\"status\":\"ready\"}\n" {
		t.Fatalf("GET %s before a drain: %d %q, want 200 {\"status\":\"ready\"}", ReadyPath, code, body)
	}
	if code, _, h := get(http.MethodPost); code != http.StatusMethodNotAllowed || h.Get("Allow") != "GET, HEAD" {
		t.Fatalf("POST %s: %d (Allow %q), want 405 with Allow: GET, HEAD", ReadyPath, code, h.Get("Allow"))
	}
	if e.srv.Draining() {
		t.Fatal("Draining before Drain")
	}
	e.srv.Drain()
	if code, body, _ := get(http.MethodGet); code != http.StatusServiceUnavailable || body != "{\"status\":\"draining\"}\n" {
		t.Fatalf("GET %s while draining: %d %q, want 503 {\"status\":\"draining\"}", ReadyPath, code, body)
	}
	if code, _, _ := get(http.MethodHead); code != http.StatusServiceUnavailable {
		t.Fatalf("HEAD %s while draining: %d, want 503", ReadyPath, code)
	}
	// The API still serves during the grace, and tells clients to close (Go's client
	// reports Connection: close as Response.Close, having removed the header).
	req, _ := http.NewRequest(http.MethodGet, e.base+acctPath(c, ""), nil)
	req.SetBasicAuth(c.id, c.token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET Account while draining: %d, want 200 (the API serves during the grace)", res.StatusCode)
	}
	if !res.Close {
		t.Errorf("an API reply while draining did not close its connection (Connection: close)")
	}
}
