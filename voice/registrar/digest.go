package registrar

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"strings"
)

// credentials is a parsed "Authorization: Digest ..." header (RFC 3261 §25.1 and
// RFC 2617 §3.2.2): the named fields, and nothing of the others (auth-params we do not
// use are skipped).
type credentials struct {
	Username  string
	Realm     string
	Nonce     string
	URI       string
	Response  string
	Algorithm string
	CNonce    string
	Opaque    string
	QOP       string
	NC        string
}

// Limits on what the parser reads: a real header is a few hundred bytes.
const (
	maxAuthHeader = 4096
	maxAuthParams = 32
)

var errMalformed = errors.New("malformed Digest credentials")

// parseAuthorization parses the value of an Authorization header. It accepts what
// phones send: any case for the scheme and parameter names, linear white space around
// "=" and ",", quoted or token values for every parameter (qop and nc are tokens in the
// grammar but some clients quote them), backslash escapes in quoted strings. It refuses
// a repeated known parameter, control characters, an unterminated quote, and more than
// maxAuthHeader bytes or maxAuthParams parameters. Whether the fields make sense
// together is check's job.
func parseAuthorization(v string) (*credentials, error) {
	if len(v) > maxAuthHeader {
		return nil, errMalformed
	}
	p := &authParser{s: v}
	p.skipLWS()
	scheme := p.token()
	if !strings.EqualFold(scheme, "Digest") {
		return nil, errMalformed
	}
	if p.i < len(p.s) && !isLWS(p.s[p.i]) {
		return nil, errMalformed
	}
	c := &credentials{}
	seen := map[string]bool{}
	for n := 0; ; n++ {
		p.skipLWS()
		if p.i == len(p.s) {
			if n == 0 {
				return nil, errMalformed
			}
			return c, nil
		}
		if n > 0 {
			if p.s[p.i] != ',' {
				return nil, errMalformed
			}
			p.i++
			p.skipLWS()
		}
		if n >= maxAuthParams {
			return nil, errMalformed
		}
		name := strings.ToLower(p.token())
		if name == "" {
			return nil, errMalformed
		}
		p.skipLWS()
		if p.i == len(p.s) || p.s[p.i] != '=' {
			return nil, errMalformed
		}
		p.i++
		p.skipLWS()
		var val string
		var ok bool
		if p.i < len(p.s) && p.s[p.i] == '"' {
			val, ok = p.quoted()
		} else {
			val = p.token()
			ok = val != ""
		}
		if !ok {
			return nil, errMalformed
		}
		dst := c.field(name)
		if dst == nil {
			continue // an auth-param we do not use
		}
		if seen[name] {
			return nil, errMalformed
		}
		seen[name] = true
		*dst = val
	}
}

func (c *credentials) field(name string) *string {
	switch name {
	case "username":
		return &c.Username
	case "realm":
		return &c.Realm
	case "nonce":
		return &c.Nonce
	case "uri":
		return &c.URI
	case "response":
		return &c.Response
	case "algorithm":
		return &c.Algorithm
	case "cnonce":
		return &c.CNonce
	case "opaque":
		return &c.Opaque
	case "qop":
		return &c.QOP
	case "nc":
		return &c.NC
	}
	return nil
}

type authParser struct {
	s string
	i int
}

func isLWS(b byte) bool { return b == ' ' || b == '\t' }

// skipLWS skips spaces and tabs. (sipgo has already unfolded header lines.)
func (p *authParser) skipLWS() {
	for p.i < len(p.s) && isLWS(p.s[p.i]) {
		p.i++
	}
}

// isTokenChar is RFC 3261's token alphabet.
func isTokenChar(b byte) bool {
	switch {
	case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9':
		return true
	}
	return strings.IndexByte("-.!%*_+`'~", b) >= 0
}

func (p *authParser) token() string {
	start := p.i
	for p.i < len(p.s) && isTokenChar(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i]
}

// quoted reads a quoted-string starting at '"', undoing quoted-pairs. Control characters
// (CR, LF, NUL ...) are refused: they have no place in any field we use.
func (p *authParser) quoted() (string, bool) {
	p.i++ // opening quote
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			p.i++
			return b.String(), true
		case c == '\\':
			if p.i+1 >= len(p.s) || isCtl(p.s[p.i+1]) {
				return "", false
			}
			b.WriteByte(p.s[p.i+1])
			p.i += 2
		case isCtl(c):
			return "", false
		default:
			b.WriteByte(c)
			p.i++
		}
	}
	return "", false
}

func isCtl(b byte) bool { return b < 0x20 && b != '\t' || b == 0x7f }

// String formats c as an Authorization header value that parses back to c: every field
// present, quoted (escaping '"' and '\'), except algorithm, qop and nc when they are
// tokens, as clients send them.
func (c *credentials) String() string {
	var b strings.Builder
	b.WriteString("Digest ")
	n := 0
	add := func(name, v string, token bool) {
		if v == "" {
			return
		}
		if n > 0 {
			b.WriteString(", ")
		}
		n++
		b.WriteString(name)
		b.WriteByte('=')
		if token && isToken(v) {
			b.WriteString(v)
			return
		}
		b.WriteByte('"')
		for i := 0; i < len(v); i++ {
			if v[i] == '"' || v[i] == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(v[i])
		}
		b.WriteByte('"')
	}
	add("username", c.Username, false)
	add("realm", c.Realm, false)
	add("nonce", c.Nonce, false)
	add("uri", c.URI, false)
	add("response", c.Response, false)
	add("algorithm", c.Algorithm, true)
	add("cnonce", c.CNonce, false)
	add("opaque", c.Opaque, false)
	add("qop", c.QOP, true)
	add("nc", c.NC, true)
	return b.String()
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			return false
		}
	}
	return true
}

// check reports whether the fields make a digest response we can verify: the required
// ones present, response and nc in their hex forms, qop "auth" with its nc and cnonce, or
// no qop at all (RFC 2069 clients).
func (c *credentials) check() error {
	if c.Username == "" || c.Nonce == "" || c.URI == "" || !isHex(c.Response, 32) {
		return errMalformed
	}
	switch {
	case c.QOP == "":
		if c.NC != "" || c.CNonce != "" {
			return errMalformed
		}
	case strings.EqualFold(c.QOP, "auth"):
		if !isHex(c.NC, 8) || c.CNonce == "" {
			return errMalformed
		}
	default:
		return errMalformed // auth-int or unknown: we offer only auth
	}
	return nil
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// digestResponse computes the expected response (lower-case hex) for credentials c of a
// request with this method, given HA1 in hex (RFC 2617 §3.2.2.1; qop=auth or none).
func digestResponse(ha1 []byte, c *credentials, method string) []byte {
	ha2 := md5hex(method + ":" + c.URI)
	var in string
	if c.QOP != "" {
		// The qop value as the client sent it is what it hashed.
		in = string(ha1) + ":" + c.Nonce + ":" + c.NC + ":" + c.CNonce + ":" + c.QOP + ":" + ha2
	} else {
		in = string(ha1) + ":" + c.Nonce + ":" + ha2
	}
	return []byte(md5hex(in))
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}
