package registrar

import (
	"strings"
	"testing"
)

func TestParseAuthorization(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want *credentials // nil: refused
	}{
		{"sipp", `Digest username="alice123456789012",realm="sip.test",cnonce="6b8b4567",nc=00000001,qop=auth,uri="sip:127.0.0.1:5060",nonce="abc",response="0123456789abcdef0123456789abcdef",algorithm=MD5`,
			&credentials{Username: "alice123456789012", Realm: "sip.test", CNonce: "6b8b4567", NC: "00000001", QOP: "auth", URI: "sip:127.0.0.1:5060",
				Nonce: "abc", Response: "0123456789abcdef0123456789abcdef", Algorithm: "MD5"}},
		{"spaces and case", "  digest   USERNAME = \"bob\" ,\tRealm=\"r\" , nonce=\"n\", uri=\"sip:x\", response=\"0123456789abcdef0123456789abcdef\"",
			&credentials{Username: "bob", Realm: "r", Nonce: "n", URI: "sip:x", Response: "0123456789abcdef0123456789abcdef"}},
		{"quoted qop and nc", `Digest username="u", qop="auth", nc="00000002"`, &credentials{Username: "u", QOP: "auth", NC: "00000002"}},
		{"escapes", `Digest username="a\"b\\c", realm="x"`, &credentials{Username: `a"b\c`, Realm: "x"}},
		{"unknown params skipped", `Digest foo=bar, username="u", baz="q,\"x", foo=again`, &credentials{Username: "u"}},
		{"empty quoted", `Digest username="", realm="r"`, &credentials{Realm: "r"}},
		{"basic", `Basic dXNlcjpwYXNz`, nil},
		{"no params", `Digest`, nil},
		{"no space after scheme", `Digestusername="u"`, nil},
		{"trailing comma", `Digest username="u",`, nil},
		{"double comma", `Digest username="u",, realm="r"`, nil},
		{"missing comma", `Digest username="u" realm="r"`, nil},
		{"unterminated", `Digest username="u`, nil},
		{"no value", `Digest username=`, nil},
		{"no equals", `Digest username "u"`, nil},
		{"duplicate", `Digest username="a", username="b"`, nil},
		{"duplicate other case", `Digest realm="a", REALM="b"`, nil},
		{"newline in value", "Digest username=\"a\r\nVia: x\"", nil},
		{"nul in value", "Digest username=\"a\x00\"", nil},
		{"escaped control", "Digest username=\"a\\\x01\"", nil},
		{"backslash at end", `Digest username="a\`, nil},
		{"too long", `Digest username="` + strings.Repeat("a", maxAuthHeader) + `"`, nil},
		{"too many params", "Digest " + strings.Repeat("x=y, ", maxAuthParams) + "z=w", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseAuthorization(c.in)
			if c.want == nil {
				if err == nil {
					t.Fatalf("accepted: %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if *got != *c.want {
				t.Fatalf("got  %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func TestCheckCredentials(t *testing.T) {
	good := credentials{Username: "u", Realm: "r", Nonce: "n", URI: "sip:x", Response: "0123456789abcdef0123456789ABCDEF",
		QOP: "auth", NC: "0000000a", CNonce: "c"}
	if err := good.check(); err != nil {
		t.Fatal(err)
	}
	noQOP := good
	noQOP.QOP, noQOP.NC, noQOP.CNonce = "", "", ""
	if err := noQOP.check(); err != nil {
		t.Fatalf("RFC 2069 credentials refused: %v", err)
	}
	for name, mod := range map[string]func(c *credentials){
		"no username":     func(c *credentials) { c.Username = "" },
		"no nonce":        func(c *credentials) { c.Nonce = "" },
		"no uri":          func(c *credentials) { c.URI = "" },
		"short response":  func(c *credentials) { c.Response = "abc" },
		"non-hex resp":    func(c *credentials) { c.Response = strings.Repeat("g", 32) },
		"auth-int":        func(c *credentials) { c.QOP = "auth-int" },
		"qop without nc":  func(c *credentials) { c.NC = "" },
		"bad nc":          func(c *credentials) { c.NC = "1" },
		"no cnonce":       func(c *credentials) { c.CNonce = "" },
		"nc without qop":  func(c *credentials) { c.QOP = "" },
		"unknown qop":     func(c *credentials) { c.QOP = "token" },
		"cnonce, no qop ": func(c *credentials) { c.QOP, c.NC = "", "" },
	} {
		c := good
		mod(&c)
		if err := c.check(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestDigestResponse: RFC 2617 §3.5's worked example (qop=auth), and the RFC 2069 form.
func TestDigestResponse(t *testing.T) {
	c := &credentials{Username: "Mufasa", Realm: "testrealm@host.com", Nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
		URI: "/dir/index.html", QOP: "auth", NC: "00000001", CNonce: "0a4f113b"}
	ha1 := []byte(md5hex("Mufasa:testrealm@host.com:Circle Of Life"))
	if got := string(digestResponse(ha1, c, "GET")); got != "6629fae49393a05397450978507c4ef1" {
		t.Fatalf("qop=auth response %s", got)
	}
	c.QOP, c.NC, c.CNonce = "", "", ""
	want := md5hex(string(ha1) + ":" + c.Nonce + ":" + md5hex("GET:/dir/index.html"))
	if got := string(digestResponse(ha1, c, "GET")); got != want {
		t.Fatalf("no-qop response %s, want %s", got, want)
	}
}

// FuzzParseAuthorization: the parser never panics, and whatever it accepts formats back
// to a header that parses to the same credentials.
func FuzzParseAuthorization(f *testing.F) {
	for _, s := range []string{
		`Digest username="a", realm="r", nonce="n", uri="sip:r", response="0123456789abcdef0123456789abcdef"`,
		`Digest username="a\"b", qop="auth", nc=00000001`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseAuthorization(s)
		if err != nil {
			return
		}
		c.check() // must not panic either
		if *c == (credentials{}) {
			return // only parameters we skip: nothing to format
		}
		back := c.String()
		c2, err := parseAuthorization(back)
		if err != nil {
			t.Fatalf("%q parsed, but its formatted form %q does not: %v", s, back, err)
		}
		if *c2 != *c {
			t.Fatalf("round trip of %q via %q:\n got %+v\nwant %+v", s, back, c2, c)
		}
	})
}
