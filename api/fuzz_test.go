package api

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"unicode/utf8"

	"github.com/trunkline/trunkline/input"
)

// FuzzDecodeParams feeds arbitrary bodies, content types and query strings to the
// request decoder: it must never panic, must answer every failure with a user-facing
// *Error of status 4xx, and must only ever return valid UTF-8 without control characters
// (NUL, ESC, ...).
func FuzzDecodeParams(f *testing.F) {
	f.Add("application/json", `{"app_name":"x","public_uri":false,"n":1.5,"l":["a","b"]}`, "limit=1")
	f.Add("application/x-www-form-urlencoded", "a=1&b=%20&c", "")
	f.Add("", `{"nested":{"a":1}}`, "x=%zz")
	f.Add("text/plain", "\xff\xfe", "")
	f.Add("application/json", `{"app_name":"a\u0000b","text":"x\u001b"}`, "q=%00")
	f.Add("application/x-www-form-urlencoded", "text=a%00b&n%00=1", "")
	f.Fuzz(func(t *testing.T, ct, body, query string) {
		r := httptest.NewRequest("POST", "/v1/Account/MA/Application/", bytes.NewReader([]byte(body)))
		r.URL.RawQuery = query
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		p, err := decodeParams(httptest.NewRecorder(), r, 4096)
		if err != nil {
			var ue *Error
			if !errors.As(err, &ue) || ue.Status < 400 || ue.Status >= 500 {
				t.Fatalf("error %v is not a 4xx *Error", err)
			}
			return
		}
		for k, vs := range p {
			if !utf8.ValidString(k) {
				t.Fatalf("invalid UTF-8 key %q", k)
			}
			for _, v := range vs {
				if !utf8.ValidString(v) || len(v) > maxValueLen || input.HasControl(v) || input.HasControl(k) {
					t.Fatalf("bad value for %q", k)
				}
			}
		}
		_ = http.StatusOK
	})
}
