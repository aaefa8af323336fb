package plivoxml

import (
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// anyPositive is the upper bound used where Plivo documents "any positive
// integer": large enough for every real use, small enough that seconds fit
// a time.Duration.
const anyPositive = math.MaxInt32

// attrs reads an element's attributes. newAttrs rejects unknown and repeated
// names first; the typed getters then check values and apply defaults,
// keeping the first error, which the caller collects with err().
type attrs struct {
	n    *node
	vals map[string]string
	e    *Error
}

func newAttrs(n *node, valid []string) (*attrs, *Error) {
	a := &attrs{n: n, vals: make(map[string]string, len(n.attrs))}
	for _, at := range n.attrs {
		name := qualified(at.Name)
		if !contains(valid, name) {
			msg := fmt.Sprintf("not a valid attribute: %q for %q", show(name), n.displayName())
			if hint := caseHint(name, valid); hint != "" {
				msg += fmt.Sprintf("; names are case-sensitive: did you mean %q?", hint)
			}
			return nil, n.errorf("%s", msg)
		}
		if _, dup := a.vals[name]; dup {
			return nil, n.errorf("attribute %q is repeated on %s", show(name), n.displayName())
		}
		a.vals[name] = at.Value
	}
	return a, nil
}

func (a *attrs) err() *Error { return a.e }

func (a *attrs) fail(name, value, want string) {
	if a.e == nil {
		a.e = a.n.errorf("invalid value %q for attribute %q of %s: %s", show(value), name, a.n.displayName(), want)
	}
}

func (a *attrs) has(name string) bool { _, ok := a.vals[name]; return ok }

// str returns the value as written, or def when absent. Control characters
// are refused: a value ends up in URLs, SIP headers and logs.
func (a *attrs) str(name, def string) string {
	v, ok := a.vals[name]
	if !ok {
		return def
	}
	if strings.ContainsFunc(v, isControl) {
		a.fail(name, v, "control characters are not allowed")
	}
	return v
}

// maxLen is str with a limit in characters.
func (a *attrs) maxLen(name string, limit int) string {
	v := a.str(name, "")
	if utf8.RuneCountInString(v) > limit {
		a.fail(name, v, fmt.Sprintf("at most %d characters", limit))
	}
	return v
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// url returns an absolute http(s) URL, or "" when absent or empty.
func (a *attrs) url(name string) string {
	v, ok := a.vals[name]
	if !ok || v == "" {
		return ""
	}
	if msg := checkURL(v, "http", "https"); msg != "" {
		a.fail(name, v, msg)
	}
	return v
}

// urlOr is url, also accepting one of the given keywords (case-insensitive,
// returned in the case given here).
func (a *attrs) urlOr(name string, keywords ...string) string {
	v := a.vals[name]
	for _, k := range keywords {
		if strings.EqualFold(v, k) {
			return k
		}
	}
	if v != "" && checkURL(v, "http", "https") != "" {
		a.fail(name, v, "must be "+strings.Join(quoteAll(keywords), ", ")+" or an absolute http(s) URL")
	}
	return v
}

// checkURL returns "" if v is an absolute URL with one of the schemes and a
// host, else what is wrong.
func checkURL(v string, schemes ...string) string {
	want := "must be an absolute " + strings.Join(schemes, " or ") + " URL"
	if strings.ContainsFunc(v, func(r rune) bool { return isControl(r) || r == ' ' }) {
		return want
	}
	u, err := url.Parse(v)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return want
	}
	for _, s := range schemes {
		if strings.EqualFold(u.Scheme, s) {
			return ""
		}
	}
	return want
}

// method returns GET or POST (accepted in any case), or def.
func (a *attrs) method(name, def string) string {
	v, ok := a.vals[name]
	if !ok {
		return def
	}
	m := strings.ToUpper(v)
	if m != "GET" && m != "POST" {
		a.fail(name, v, "must be GET or POST")
		return def
	}
	return m
}

// boolean accepts true and false (in any case).
func (a *attrs) boolean(name string, def bool) bool {
	v, ok := a.vals[name]
	if !ok {
		return def
	}
	switch strings.ToLower(v) {
	case "true":
		return true
	case "false":
		return false
	}
	a.fail(name, v, "must be true or false")
	return def
}

// integer accepts a decimal integer from lo to hi.
func (a *attrs) integer(name string, def, lo, hi int) int {
	v, ok := a.vals[name]
	if !ok {
		return def
	}
	i, err := strconv.Atoi(v)
	if err != nil || i < lo || i > hi || strings.HasPrefix(v, "+") {
		switch {
		case hi == anyPositive && lo == 0:
			a.fail(name, v, "must be an integer, 0 or more")
		case hi == anyPositive:
			a.fail(name, v, fmt.Sprintf("must be an integer, %d or more", lo))
		default:
			a.fail(name, v, fmt.Sprintf("must be an integer from %d to %d", lo, hi))
		}
		return def
	}
	return i
}

// seconds is integer, as a duration in seconds.
func (a *attrs) seconds(name string, def, lo, hi int) time.Duration {
	return time.Duration(a.integer(name, def, lo, hi)) * time.Second
}

// enum accepts one of the values (in any case) and returns it as listed.
func (a *attrs) enum(name, def string, values ...string) string {
	v, ok := a.vals[name]
	if !ok {
		return def
	}
	for _, x := range values {
		if strings.EqualFold(v, x) {
			return x
		}
	}
	a.fail(name, v, "must be one of "+strings.Join(quoteAll(values), ", "))
	return def
}

const dtmfKeys = "0123456789*#"

// finishKey accepts one key of 0-9 * #, or "" / "none" to disable (returned
// as ""). With several, any number of distinct keys is accepted.
func (a *attrs) finishKey(name, def string, several bool) string {
	v, ok := a.vals[name]
	if !ok {
		return def
	}
	if v == "" || strings.EqualFold(v, "none") {
		return ""
	}
	if !onlyChars(v, dtmfKeys) || (!several && len(v) != 1) {
		if several {
			a.fail(name, v, `must be keys from 0-9, * and #, or "" or none to disable`)
		} else {
			a.fail(name, v, `must be one key: 0-9, * or #, or "" or none to disable`)
		}
		return def
	}
	return v
}

// keys accepts a non-empty set of characters from allowed.
func (a *attrs) keys(name, def, allowed, want string) string {
	v, ok := a.vals[name]
	if !ok {
		return def
	}
	if v == "" || !onlyChars(v, allowed) {
		a.fail(name, v, want)
		return def
	}
	return v
}

// patterns reads a comma-separated list of DTMF patterns (digitsMatch).
func (a *attrs) patterns(name string) []string {
	v, ok := a.vals[name]
	if !ok || v == "" {
		return nil
	}
	var out []string
	for _, p := range strings.Split(v, ",") {
		p = strings.TrimSpace(p)
		if p == "" || !onlyChars(p, dtmfKeys) {
			a.fail(name, v, "must be a comma-separated list of digit patterns (0-9, * and #)")
			return nil
		}
		out = append(out, p)
	}
	return out
}

var sipHeaderToken = regexp.MustCompile(`^[A-Za-z0-9]+$`)

// sipHeaders reads "name=value,name2=value2"; Plivo allows only letters and
// digits in names and values (they are sent as X-PH-name).
func (a *attrs) sipHeaders(name string) []SIPHeader {
	v, ok := a.vals[name]
	if !ok || v == "" {
		return nil
	}
	var out []SIPHeader
	for _, kv := range strings.Split(v, ",") {
		k, val, found := strings.Cut(kv, "=")
		if !found || !sipHeaderToken.MatchString(k) || !sipHeaderToken.MatchString(val) {
			a.fail(name, v, "must be name=value pairs separated by commas, with only letters and digits in names and values")
			return nil
		}
		out = append(out, SIPHeader{Name: k, Value: val})
	}
	return out
}

func onlyChars(s, allowed string) bool {
	for _, r := range s {
		if !strings.ContainsRune(allowed, r) {
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func caseHint(s string, list []string) string {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return x
		}
	}
	return ""
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strconv.Quote(s)
	}
	return out
}
