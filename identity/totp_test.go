package identity

import (
	"encoding/base32"
	"errors"
	"net/url"
	"testing"
	"time"
)

// rfc6238Secret is the SHA1 seed of RFC 6238 Appendix B, "12345678901234567890".
var rfc6238Secret = base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString([]byte("12345678901234567890"))

func TestTOTPCodeRFC6238(t *testing.T) {
	// RFC 6238 Appendix B lists 8-digit codes; a 6-digit code is the same
	// truncated value mod 10^6, i.e. its last six digits.
	tests := []struct {
		name string
		unix int64
		want string
	}{
		{"T=59", 59, "287082"},
		{"T=1111111109", 1111111109, "081804"},
		{"T=1111111111", 1111111111, "050471"},
		{"T=1234567890", 1234567890, "005924"},
		{"T=2000000000", 2000000000, "279037"},
		{"T=20000000000", 20000000000, "353130"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := TOTPCode(rfc6238Secret, time.Unix(tc.unix, 0))
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("TOTPCode = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestCheckTOTP(t *testing.T) {
	now := time.Unix(1_700_000_012, 0) // 12 s into its step
	step := now.Unix() / 30
	code := func(d time.Duration) string {
		c, err := TOTPCode(rfc6238Secret, now.Add(d))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// A code no step in the window produces.
	wrong := "000000"
	for _, c := range []string{code(-30 * time.Second), code(0), code(30 * time.Second)} {
		if c == wrong {
			t.Fatal("pick another wrong code")
		}
	}

	tests := []struct {
		name     string
		secret   string
		code     string
		lastStep int64
		wantStep int64
		wantOK   bool
	}{
		{name: "current step", code: code(0), wantStep: step, wantOK: true},
		{name: "previous step", code: code(-30 * time.Second), wantStep: step - 1, wantOK: true},
		{name: "next step", code: code(30 * time.Second), wantStep: step + 1, wantOK: true},
		{name: "same step at its last second", code: code(17 * time.Second), wantStep: step, wantOK: true},
		{name: "two steps back refused", code: code(-60 * time.Second)},
		{name: "two steps ahead refused", code: code(60 * time.Second)},
		{name: "wrong code", code: wrong},
		{name: "replay of the same step", code: code(0), lastStep: step},
		{name: "earlier step after a later one", code: code(0), lastStep: step + 1},
		{name: "previous step after current", code: code(-30 * time.Second), lastStep: step},
		{name: "next step after current", code: code(30 * time.Second), lastStep: step, wantStep: step + 1, wantOK: true},
		{name: "five digits", code: code(0)[:5]},
		{name: "seven digits", code: code(0) + "0"},
		{name: "not digits", code: "abcdef"},
		{name: "empty", code: ""},
		{name: "bad secret", secret: "not base32!", code: code(0)},
		{name: "empty secret", secret: "-", code: code(0)},
		{name: "short secret", secret: "GEZDGNBV", code: code(0)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			secret := rfc6238Secret
			if tc.secret == "-" {
				secret = ""
			} else if tc.secret != "" {
				secret = tc.secret
			}
			gotStep, ok := CheckTOTP(secret, tc.code, tc.lastStep, now)
			if ok != tc.wantOK || gotStep != tc.wantStep {
				t.Errorf("CheckTOTP(%q, last %d) = %d, %v; want %d, %v", tc.code, tc.lastStep, gotStep, ok, tc.wantStep, tc.wantOK)
			}
		})
	}

	// The caller's sequence: use a code, store the step, try it again.
	t.Run("replay sequence", func(t *testing.T) {
		var last int64
		s, ok := CheckTOTP(rfc6238Secret, code(0), last, now)
		if !ok {
			t.Fatal("first use refused")
		}
		last = s
		if _, ok := CheckTOTP(rfc6238Secret, code(0), last, now.Add(5*time.Second)); ok {
			t.Error("replayed code accepted")
		}
		if s, ok := CheckTOTP(rfc6238Secret, code(30*time.Second), last, now.Add(30*time.Second)); !ok || s != step+1 {
			t.Errorf("next step's code = %d, %v; want %d, true", s, ok, step+1)
		}
	})
}

func TestCheckTOTPCaseAndPadding(t *testing.T) {
	// Authenticator apps and users may present the secret in lower case or
	// padded; the check must not depend on that.
	now := time.Unix(1_700_000_000, 0)
	c, err := TOTPCode(rfc6238Secret, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{rfc6238Secret, "gezdgnbvgy3tqojqgezdgnbvgy3tqojq", rfc6238Secret + "======"} {
		if _, ok := CheckTOTP(s, c, 0, now); !ok {
			t.Errorf("secret form %q refused", s)
		}
	}
}

func TestTOTPCodeBadSecret(t *testing.T) {
	for _, s := range []string{"", "!!!!", "GEZDGNBV"} {
		if _, err := TOTPCode(s, time.Unix(0, 0)); !errors.Is(err, ErrTOTPSecret) {
			t.Errorf("TOTPCode(%q) err = %v, want ErrTOTPSecret", s, err)
		}
	}
}

func TestNewTOTP(t *testing.T) {
	k, err := NewTOTP("Trunkline", "ops@example.com")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(k.Secret)
	if err != nil {
		t.Fatalf("secret %q is not unpadded base32: %v", k.Secret, err)
	}
	if len(raw) != 20 {
		t.Errorf("secret is %d bytes, want 20", len(raw))
	}
	u, err := url.Parse(k.URL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	checks := []struct{ name, got, want string }{
		{"scheme", u.Scheme, "otpauth"},
		{"type", u.Host, "totp"},
		{"label", u.Path, "/Trunkline:ops@example.com"},
		{"secret", q.Get("secret"), k.Secret},
		{"issuer", q.Get("issuer"), "Trunkline"},
		{"algorithm", q.Get("algorithm"), "SHA1"},
		{"digits", q.Get("digits"), "6"},
		{"period", q.Get("period"), "30"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("URL %s = %q, want %q (%s)", c.name, c.got, c.want, k.URL)
		}
	}

	now := time.Unix(1_700_000_000, 0)
	c, err := TOTPCode(k.Secret, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := CheckTOTP(k.Secret, c, 0, now); !ok {
		t.Error("code for a fresh key refused")
	}

	k2, _ := NewTOTP("Trunkline", "ops@example.com")
	if k2.Secret == k.Secret {
		t.Error("two enrolments got the same secret")
	}
	if _, err := NewTOTP("", "ops@example.com"); err == nil {
		t.Error("empty issuer accepted")
	}
	if _, err := NewTOTP("Trunkline", ""); err == nil {
		t.Error("empty account name accepted")
	}
}
