package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/trunkline/trunkline/input"
)

// Params are a request's parameters: query string and body merged, every value a string
// (SDKs send JSON with typed values — booleans, numbers, arrays — or form bodies).
type Params url.Values

// maxValueLen caps any single parameter value; fields with tighter limits check their own.
const maxValueLen = 4096

// decodeParams reads the query string and the body (JSON or form-encoded) of r. Body
// values win over query values of the same name. It returns a user-facing *Error.
func decodeParams(w http.ResponseWriter, r *http.Request, maxBody int64) (Params, error) {
	p := Params{}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, badRequest("the query string is malformed")
	}
	for k, vs := range q {
		p[k] = vs
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &Error{Status: http.StatusRequestEntityTooLarge, Msg: fmt.Sprintf("request body is larger than %d bytes", maxBody)}
		}
		return nil, badRequest("could not read the request body")
	}
	body = bytes.TrimSpace(body)
	if len(body) > 0 {
		ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		var bp Params
		switch {
		case ct == "application/json" || (ct != "application/x-www-form-urlencoded" && (body[0] == '{' || body[0] == '[')):
			bp, err = decodeJSONParams(body)
		case ct == "application/x-www-form-urlencoded" || ct == "":
			var v url.Values
			v, err = url.ParseQuery(string(body))
			if err != nil {
				err = badRequest("the form body is malformed")
			}
			bp = Params(v)
		default:
			err = &Error{Status: http.StatusUnsupportedMediaType, Msg: "unsupported content type " + strconv.Quote(ct) + ": send application/json"}
		}
		if err != nil {
			return nil, err
		}
		for k, vs := range bp {
			p[k] = vs
		}
	}
	for k, vs := range p {
		if !utf8.ValidString(k) {
			return nil, badRequest("a parameter name is not valid UTF-8")
		}
		if input.HasControl(k) {
			return nil, badRequest("a parameter name contains a control character")
		}
		for _, v := range vs {
			if !utf8.ValidString(v) {
				return nil, badRequest(fmt.Sprintf("parameter %s is not valid UTF-8", safeName(k)))
			}
			if input.HasControl(v) {
				return nil, badRequest(fmt.Sprintf("parameter %s contains a control character (only tab, line feed and carriage return are allowed)", safeName(k)))
			}
			if len(v) > maxValueLen {
				return nil, badRequest(fmt.Sprintf("parameter %s is too long (at most %d bytes)", safeName(k), maxValueLen))
			}
		}
	}
	return p, nil
}

// decodeJSONParams flattens a JSON object of scalars (or arrays of scalars) to strings.
func decodeJSONParams(body []byte) (Params, error) {
	// Plivo's Node SDK sends the JSON string "" as the body of every call without
	// parameters (axios data: params || ''); null is the same idea from other clients.
	if string(body) == `""` || string(body) == "null" {
		return Params{}, nil
	}
	if !utf8.Valid(body) {
		// encoding/json would silently replace bad bytes; refuse instead.
		return nil, badRequest("the request body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil {
		return nil, badRequest("the request body is not a valid JSON object")
	}
	if dec.More() {
		return nil, badRequest("the request body holds more than one JSON value")
	}
	p := Params{}
	for k, v := range raw {
		switch t := v.(type) {
		case nil:
			// JSON null: treat as absent, as SDKs send null for unset optional fields.
		case []any:
			for _, e := range t {
				s, ok := scalar(e)
				if !ok {
					return nil, badRequest(fmt.Sprintf("parameter %s must be a list of plain values", safeName(k)))
				}
				p[k] = append(p[k], s)
			}
		default:
			s, ok := scalar(v)
			if !ok {
				return nil, badRequest(fmt.Sprintf("parameter %s must not be an object", safeName(k)))
			}
			p[k] = []string{s}
		}
	}
	return p, nil
}

func scalar(v any) (string, bool) {
	switch t := v.(type) {
	case string:
		return t, true
	case json.Number:
		return t.String(), true
	case bool:
		return strconv.FormatBool(t), true
	}
	return "", false
}

// safeName quotes a client-supplied parameter name for an error message, shortened.
func safeName(k string) string { return input.Quote(k) }

// Get returns the first value of k.
func (p Params) Get(k string) string {
	if vs := p[k]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// Has reports whether k was sent.
func (p Params) Has(k string) bool { _, ok := p[k]; return ok }

// onlyKnown refuses parameters outside allowed, naming them.
func (p Params) onlyKnown(allowed map[string]bool) error {
	var unknown []string
	for k := range p {
		if !allowed[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	names := make([]string, 0, len(unknown))
	for i, k := range unknown {
		if i == 5 {
			names = append(names, "…")
			break
		}
		names = append(names, safeName(k))
	}
	return badRequest("unknown parameter " + strings.Join(names, ", "))
}

// Bool parses a boolean parameter; absent gives def.
func (p Params) Bool(k string, def bool) (bool, error) {
	if !p.Has(k) {
		return def, nil
	}
	switch strings.ToLower(p.Get(k)) {
	case "true", "1", "yes":
		return true, nil
	case "false", "0", "no", "":
		return false, nil
	}
	return false, badRequest(fmt.Sprintf("parameter %s must be true or false", k))
}

// BoolPtr is Bool for optional updates: nil when absent.
func (p Params) BoolPtr(k string) (*bool, error) {
	if !p.Has(k) {
		return nil, nil
	}
	b, err := p.Bool(k, false)
	return &b, err
}

// Int parses an integer parameter within [min, max]; absent gives def.
func (p Params) Int(k string, def, min, max int) (int, error) {
	if !p.Has(k) || p.Get(k) == "" {
		return def, nil
	}
	n, err := strconv.Atoi(p.Get(k))
	if err != nil || n < min || n > max {
		return 0, badRequest(fmt.Sprintf("parameter %s must be a whole number from %d to %d", k, min, max))
	}
	return n, nil
}

// StrPtr returns a pointer to the value of k, or nil when absent, checking its length
// and that it is one line (it serves names, aliases and address fields).
func (p Params) StrPtr(k string, maxLen int) (*string, error) {
	if !p.Has(k) {
		return nil, nil
	}
	v := p.Get(k)
	if utf8.RuneCountInString(v) > maxLen {
		return nil, badRequest(fmt.Sprintf("parameter %s is too long (at most %d characters)", k, maxLen))
	}
	if !input.IsLine(v) {
		return nil, badRequest(fmt.Sprintf("parameter %s must be one line, without tabs or line breaks", k))
	}
	return &v, nil
}
