package webhook

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/trunkline/trunkline/internal/peer"
)

// nodeCase is one signature for test/node/validate-signature.js to check
// with Plivo's official Node SDK.
type nodeCase struct {
	Name      string         `json:"name"`
	Kind      string         `json:"kind"` // "v3" or "v2"
	Method    string         `json:"method,omitempty"`
	URI       string         `json:"uri"`
	Nonce     string         `json:"nonce"`
	Token     string         `json:"token"`
	Signature string         `json:"signature"`
	Params    map[string]any `json:"params,omitempty"`
	Expect    bool           `json:"-"`
}

// nodeParams shapes url.Values as a Node body parser hands them to the
// validator: a string for one value, an array for several.
func nodeParams(v url.Values) map[string]any {
	m := map[string]any{}
	for k, vs := range v {
		if len(vs) == 1 {
			m[k] = vs[0]
		} else {
			m[k] = append([]string{}, vs...)
		}
	}
	return m
}

// nodePeer finds node and the installed SDK, skipping the test when they
// are missing unless TRUNKLINE_REQUIRE_PEERS asks for the real peers.
func nodePeer(t *testing.T) (node, dir string) {
	t.Helper()
	node, dir = peer.Node(t, "plivo")
	var pkg struct{ Version string }
	if b, err := os.ReadFile(filepath.Join(dir, "node_modules", "plivo", "package.json")); err == nil && json.Unmarshal(b, &pkg) == nil {
		t.Logf("plivo (Node SDK) %s", pkg.Version)
	}
	return node, dir
}

// TestNodeSDKValidatesSignatures has Plivo's Node SDK
// (validateV3Signature, validateSignature) judge signatures made by SignV3,
// SignV2 and by Do on real requests, the way a customer's server sees them.
func TestNodeSDKValidatesSignatures(t *testing.T) {
	node, dir := nodePeer(t)
	var cases []nodeCase

	// Signatures computed directly: the reference vectors and the edge
	// cases of TestCanonicalV3.
	direct := []struct {
		name   string
		method string
		uri    string
		params url.Values
	}{
		{"vector POST", "POST", "https://example.com/answer/", url.Values{"CallUUID": {"abc"}, "From": {"14155550100"}, "To": {"14155550101"}, "Direction": {"inbound"}}},
		{"vector POST query", "POST", "https://example.com/answer?b=2&a=1", url.Values{"Digits": {"12"}}},
		{"vector GET", "GET", "https://example.com/answer?z=1", url.Values{"CallUUID": {"abc"}, "a": {"x y"}}},
		{"POST no params", "POST", "https://example.com/a?b=1", nil},
		{"POST key without values", "POST", "https://example.com/a", url.Values{"k": {}}},
		{"multi values", "POST", "https://example.com/a", url.Values{"m": {"b", "a", "c"}}},
		{"GET multi merged", "GET", "https://example.com/a?m=z&m=b", url.Values{"m": {"a"}}},
		{"byte order keys", "POST", "https://example.com/a", url.Values{"b": {"1"}, "B": {"2"}, "a": {"3"}}},
		{"decoded query", "GET", "https://example.com/a?x=%C3%A9+%2B", nil},
		{"malformed escape", "GET", "https://example.com/a?x=%zz%4", nil},
		{"semicolon", "GET", "https://example.com/a?x=1;y=2", nil},
		{"empty pieces", "GET", "https://example.com/a?&&k&=v", nil},
		{"fragment", "GET", "https://example.com/a?x=1#frag?y=2", nil},
		{"port and encoded path", "POST", "https://example.com:8443/a%20b/c.php", url.Values{"k": {"v"}}},
		{"userinfo", "POST", "https://u:p@example.com/a", nil},
		{"no path", "POST", "https://example.com", url.Values{"k": {"v"}}},
		{"unicode POST values", "POST", "https://example.com/in", url.Values{"Text": {"héllo wörld 日本 😀"}, "Media": {"b", "a"}}},
	}
	for _, d := range direct {
		sig := SignV3(d.method, d.uri, d.params, vecNonce, vecToken)
		cases = append(cases, nodeCase{Name: "direct V3 " + d.name, Kind: "v3", Method: d.method, URI: d.uri,
			Nonce: vecNonce, Token: vecToken, Signature: sig, Params: nodeParams(d.params), Expect: true})
		cases = append(cases, nodeCase{Name: "direct V2 " + d.name, Kind: "v2", URI: d.uri,
			Nonce: vecNonce, Token: vecToken, Signature: SignV2(d.uri, vecNonce, vecToken), Expect: true})
	}

	// Signatures sent by Do, checked against the request as received.
	srv, got := capture(t, nil)
	c := newTestClient(Options{})
	deliveries := []struct {
		name   string
		method string
		path   string
		params url.Values
	}{
		{"POST with params", "POST", "/status/", url.Values{"MessageUUID": {"m-1"}, "Status": {"delivered"}, "To": {"14155550101"}}},
		{"GET with query", "GET", "/answer", url.Values{"CallUUID": {"c-1"}, "From": {"sip:alice@example.com"}, "Direction": {"inbound"}}},
		{"GET with URL query and params", "GET", "/answer?app=7&x=a+b", url.Values{"CallUUID": {"c-1"}}},
		{"URL query and POST params", "POST", "/in?tenant=42&z=%C3%A9", url.Values{"Digits": {"12"}, "CallUUID": {"c-1"}}},
		{"unicode and space values", "POST", "/in", url.Values{"Text": {"héllo wörld 日本 😀 & = + %"}, "From": {"+1 415 555 0100"}}},
		{"multiple values per key", "POST", "/mms", url.Values{"Media": {"https://m/2", "https://m/1", "https://m/3"}, "MediaCount": {"3"}}},
		{"GET multiple values per key", "GET", "/mms?Media=z", url.Values{"Media": {"b", "a"}}},
		{"raw @ in URL query", "GET", "/cb?owner=ops@example.com", url.Values{"A": {"1"}}},
		{"POST without params", "POST", "/hangup?x=1", nil},
		{"root path", "POST", "", url.Values{"A": {"1"}}},
	}
	for _, d := range deliveries {
		if _, err := c.Do(t.Context(), Request{URL: srv.URL + d.path, Method: d.method, Params: d.params,
			AuthToken: testToken, MainAuthToken: testMainToken}); err != nil {
			t.Fatalf("%s: %v", d.name, err)
		}
	}
	reqs := got()
	if len(reqs) != len(deliveries) {
		t.Fatalf("server saw %d requests, want %d", len(reqs), len(deliveries))
	}
	for i, r := range reqs {
		name := deliveries[i].name
		var params map[string]any // a GET validator passes no params: they are in the URL
		if r.method == http.MethodPost {
			params = nodeParams(r.form)
		}
		h := r.header
		n3, n2 := h.Get(HeaderNonceV3), h.Get(HeaderNonceV2)
		cases = append(cases,
			nodeCase{Name: "Do V3 " + name, Kind: "v3", Method: r.method, URI: r.url, Nonce: n3, Token: testToken,
				Signature: h.Get(HeaderSignatureV3), Params: params, Expect: true},
			nodeCase{Name: "Do Ma-V3 " + name, Kind: "v3", Method: r.method, URI: r.url, Nonce: n3, Token: testMainToken,
				Signature: h.Get(HeaderSignatureMaV3), Params: params, Expect: true},
			nodeCase{Name: "Do V2 " + name, Kind: "v2", URI: r.url, Nonce: n2, Token: testToken,
				Signature: h.Get(HeaderSignatureV2), Expect: true},
			nodeCase{Name: "Do Ma-V2 " + name, Kind: "v2", URI: r.url, Nonce: n2, Token: testMainToken,
				Signature: h.Get(HeaderSignatureMaV2), Expect: true},
			// Tampered: the SDK must reject these.
			nodeCase{Name: "Do V3 wrong token " + name, Kind: "v3", Method: r.method, URI: r.url, Nonce: n3, Token: testMainToken,
				Signature: h.Get(HeaderSignatureV3), Params: params},
			nodeCase{Name: "Do V3 other nonce " + name, Kind: "v3", Method: r.method, URI: r.url, Nonce: n2, Token: testToken,
				Signature: h.Get(HeaderSignatureV3), Params: params},
			nodeCase{Name: "Do V3 tampered URL " + name, Kind: "v3", Method: r.method, URI: r.url + "&evil=1", Nonce: n3, Token: testToken,
				Signature: h.Get(HeaderSignatureV3), Params: params},
			nodeCase{Name: "Do V2 tampered path " + name, Kind: "v2", URI: srv.URL + "/evil", Nonce: n2, Token: testToken,
				Signature: h.Get(HeaderSignatureV2)},
		)
		if r.method == http.MethodPost && len(r.form) > 0 {
			tampered := nodeParams(r.form)
			for k := range tampered {
				tampered[k] = "tampered"
				break
			}
			cases = append(cases, nodeCase{Name: "Do V3 tampered param " + name, Kind: "v3", Method: r.method, URI: r.url,
				Nonce: n3, Token: testToken, Signature: h.Get(HeaderSignatureV3), Params: tampered})
		}
	}
	// A V3 header carrying several signatures (token rotation).
	cases = append(cases, nodeCase{Name: "several signatures", Kind: "v3", Method: "POST", URI: "https://example.com/answer?b=2&a=1",
		Nonce: vecNonce, Token: vecToken, Params: map[string]any{"Digits": "12"}, Expect: true,
		Signature: "bm90IGl0," + SignV3("POST", "https://example.com/answer?b=2&a=1", url.Values{"Digits": {"12"}}, vecNonce, vecToken)})

	in := filepath.Join(t.TempDir(), "cases.json")
	b, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(in, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), node, filepath.Join(dir, "validate-signature.js"), in)
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	var results []struct {
		Name    string `json:"name"`
		Valid   bool   `json:"valid"`
		Error   string `json:"error"`
		Skipped bool   `json:"skipped"`
	}
	if err := json.Unmarshal(out, &results); err != nil {
		t.Fatalf("node output %q: %v", out, err)
	}
	if len(results) != len(cases) {
		t.Fatalf("node judged %d cases, want %d", len(results), len(cases))
	}
	for i, res := range results {
		tc := cases[i]
		switch {
		case res.Name != tc.Name:
			t.Errorf("result %d is for %q, want %q", i, res.Name, tc.Name)
		case res.Error != "":
			t.Errorf("%s: SDK threw %s", tc.Name, res.Error)
		case res.Skipped:
			t.Logf("%s: skipped, this SDK has no validateSignature", tc.Name)
		case res.Valid != tc.Expect:
			t.Errorf("%s: SDK says valid=%v, want %v (method %s uri %q)", tc.Name, res.Valid, tc.Expect, tc.Method, tc.URI)
		}
	}
	t.Logf("the Node SDK judged %d signatures", len(results))
}
