package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"sort"
	"strings"
)

// Plivo request-signing headers. The non-"Ma" headers are signed with the
// owning (sub)account's token, the "Ma" headers always with the main
// account's token, so a parent account can validate its subaccounts' traffic.
const (
	HeaderSignatureV3   = "X-Plivo-Signature-V3"
	HeaderSignatureMaV3 = "X-Plivo-Signature-Ma-V3"
	HeaderNonceV3       = "X-Plivo-Signature-V3-Nonce"
	HeaderSignatureV2   = "X-Plivo-Signature-V2"
	HeaderSignatureMaV2 = "X-Plivo-Signature-Ma-V2"
	HeaderNonceV2       = "X-Plivo-Signature-V2-Nonce"
)

// SignV3 returns Plivo's V3 signature of a callback: the base64 HMAC-SHA256,
// keyed with authToken, of the canonical string described in
// shared/reference/plivo-api.md §2 followed by "." and the nonce.
//
// uri is the full URL the receiver sees, including any query string. For
// GET, params are merged with the URL's query; for any other method they
// are the form body (Plivo only sends GET and POST). params is not modified.
func SignV3(method, uri string, params url.Values, nonce, authToken string) string {
	return hmacBase64(authToken, canonicalV3(method, uri, params)+"."+nonce)
}

// ValidateV3 reports whether sigHeader, an X-Plivo-Signature-V3 (or -Ma-V3)
// header value, holds a valid signature. Like the SDK validators it accepts
// several comma-separated signatures (one per valid token during a token
// rotation) and succeeds if any matches. Comparison is constant time.
func ValidateV3(method, uri, nonce, authToken, sigHeader string, params url.Values) bool {
	want := []byte(SignV3(method, uri, params, nonce, authToken))
	ok := false
	for sig := range strings.SplitSeq(sigHeader, ",") {
		// Keep looping after a match so the time taken does not say which
		// of the signatures matched.
		if hmac.Equal([]byte(sig), want) {
			ok = true
		}
	}
	return ok
}

// SignV2 returns Plivo's older V2 signature: base64 HMAC-SHA256 of
// scheme://host[:port]/path (query dropped) followed directly by the nonce.
func SignV2(uri, nonce, authToken string) string {
	base, _ := splitURI(uri)
	return hmacBase64(authToken, base+nonce)
}

// ValidateV2 reports whether sig is the V2 signature of uri and nonce. The
// SDKs accept a single signature here, so this does too.
func ValidateV2(uri, nonce, authToken, sig string) bool {
	return hmac.Equal([]byte(sig), []byte(SignV2(uri, nonce, authToken)))
}

func hmacBase64(key, msg string) string {
	a, _ := hmacBase64Pair(key, []byte(msg), nil)
	return a
}

// hmacBase64Pair returns the base64 HMAC-SHA256 under key of a and, unless b is nil,
// of b: every callback signs two texts with one token, and the key's pads are hashed
// once for both.
func hmacBase64Pair(key string, a, b []byte) (string, string) {
	m := hmac.New(sha256.New, []byte(key))
	var sum [sha256.Size]byte
	m.Write(a)
	sa := base64.StdEncoding.EncodeToString(m.Sum(sum[:0]))
	if b == nil {
		return sa, ""
	}
	m.Reset()
	m.Write(b)
	return sa, base64.StdEncoding.EncodeToString(m.Sum(sum[:0]))
}

// canonicalV3 builds the string V3 signs (without the nonce):
//
//	GET:  base ["?" Q]
//	POST: base ["?" Q]              when there are no body params
//	      base "?" [Q "."] P        otherwise
//
// where Q is the URL query (plus GET params) as sorted, decoded "k=v" pairs
// joined by "&", and P the body params as sorted "kv" with no separators.
func canonicalV3(method, uri string, params url.Values) string {
	return string(appendCanonicalV3(nil, method, uri, params))
}

// appendCanonicalV3 appends canonicalV3's text to dst: the signer builds it in one
// buffer with the nonce after it (this runs for every callback sent).
func appendCanonicalV3(dst []byte, method, uri string, params url.Values) []byte {
	base, rawQuery := splitURI(uri)
	query := parseQuery(rawQuery)
	isGet := strings.EqualFold(method, "GET")
	if isGet {
		for k, vs := range params {
			query[k] = append(query[k], vs...)
		}
	}
	dst = append(dst, base...)
	// The Node SDK tests "no body params" by the number of keys, so a key
	// with no values still counts as a parameter; keep that.
	if isGet || len(params) == 0 {
		if len(query) > 0 {
			dst = append(dst, '?')
			dst = appendSortedPairs(dst, query, "=", "&")
		}
		return dst
	}
	dst = append(dst, '?')
	if len(query) > 0 {
		dst = appendSortedPairs(dst, query, "=", "&")
		dst = append(dst, '.')
	}
	return appendSortedPairs(dst, params, "", "")
}

// appendSortedPairs appends every key/value pair, keys and each key's values sorted
// by byte order, as key+kvSep+value separated by pairSep. It copies the value slices
// so callers' url.Values are left alone.
func appendSortedPairs(dst []byte, v url.Values, kvSep, pairSep string) []byte {
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	first := true
	for _, k := range keys {
		vs := v[k]
		if len(vs) > 1 {
			vs = append([]string(nil), vs...)
			sort.Strings(vs)
		}
		for _, val := range vs {
			if !first {
				dst = append(dst, pairSep...)
			}
			first = false
			dst = append(dst, k...)
			dst = append(dst, kvSep...)
			dst = append(dst, val...)
		}
	}
	return dst
}

// splitURI splits uri the way the SDK validators do (Node's uri-parser plus
// build-url): base is scheme://host[:port]/path with the path left exactly
// as written (still percent-encoded), userinfo and fragment dropped, and a
// missing scheme read as http. rawQuery is the text between "?" and "#".
//
// It deliberately does not use net/url: url.Parse rejects or rewrites some
// strings, and the receiver validates against the raw text it was sent.
func splitURI(uri string) (base, rawQuery string) {
	if i := strings.IndexByte(uri, '#'); i >= 0 {
		uri = uri[:i]
	}
	scheme := "http"
	rest := uri
	if i := strings.Index(uri, "://"); i > 0 && !strings.ContainsAny(uri[:i], "/?.@") {
		scheme, rest = uri[:i], uri[i+3:]
	} else {
		rest = strings.TrimPrefix(rest, "//")
	}
	authority, pathQuery := rest, ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		authority, pathQuery = rest[:i], rest[i:]
	}
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		authority = authority[i+1:]
	}
	// "host:" with an empty port is rebuilt without the colon.
	authority = strings.TrimSuffix(authority, ":")
	path := pathQuery
	if i := strings.IndexByte(pathQuery, '?'); i >= 0 {
		path, rawQuery = pathQuery[:i], pathQuery[i+1:]
	}
	return scheme + "://" + authority + path, rawQuery
}

// parseQuery decodes a query string the way Node's querystring.parse does,
// which is what the SDK validator uses: split on "&", skip empty pieces,
// split each at its first "=", turn "+" into a space and decode valid %XX
// escapes, leaving malformed ones as they are. Unlike url.ParseQuery it never
// fails and does not treat ";" as a separator.
func parseQuery(raw string) url.Values {
	v := url.Values{}
	for piece := range strings.SplitSeq(raw, "&") {
		if piece == "" {
			continue
		}
		key, val, _ := strings.Cut(piece, "=")
		k := unescapeLenient(key)
		v[k] = append(v[k], unescapeLenient(val))
	}
	return v
}

func unescapeLenient(s string) string {
	if !strings.ContainsAny(s, "+%") {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '+':
			b = append(b, ' ')
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		default:
			b = append(b, c)
		}
	}
	return string(b)
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	default:
		return c - 'a' + 10
	}
}
