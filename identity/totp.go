package identity

import (
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"
)

// TOTP settings. They are the authenticator-app defaults (Google
// Authenticator, Authy, 1Password, ...): several apps ignore the period,
// digits and algorithm fields of the otpauth URI, so anything else would
// silently produce wrong codes on some phones.
const (
	TOTPPeriod     = 30 * time.Second
	totpPeriodSecs = 30
	totpSecretSize = 20 // bytes: 160 bits, the RFC 4226 recommendation for HMAC-SHA1
	// minTOTPSecret is RFC 4226's minimum shared-secret length (128 bits);
	// shorter secrets are refused rather than used.
	minTOTPSecret = 16
)

// ErrTOTPSecret is returned by TOTPCode for a secret that is not base32 or is
// shorter than 128 bits.
var ErrTOTPSecret = errors.New("identity: invalid TOTP secret")

// TOTPKey is a freshly generated TOTP enrolment: the secret to store
// (encrypted at rest) and the otpauth:// URI to show as a QR code.
type TOTPKey struct {
	Secret string // base32, upper case, no padding
	URL    string // otpauth://totp/Issuer:account?secret=...&issuer=...
}

// NewTOTP generates a TOTP key for accountName at issuer: HMAC-SHA1, 6
// digits, 30 s steps, 20-byte random secret (RFC 6238 with the
// authenticator-app defaults).
func NewTOTP(issuer, accountName string) (*TOTPKey, error) {
	k, err := totp.Generate(totp.GenerateOpts{
		Issuer:      issuer,
		AccountName: accountName,
		Period:      totpPeriodSecs,
		SecretSize:  totpSecretSize,
		Digits:      otp.DigitsSix,
		Algorithm:   otp.AlgorithmSHA1,
	})
	if err != nil {
		return nil, err
	}
	return &TOTPKey{Secret: k.Secret(), URL: k.URL()}, nil
}

// CheckTOTP verifies code against secret at time now. It accepts the code of
// the current 30 s step or of one step either side (clock drift between
// server and phone, and the seconds the user needs to type), but only a step
// greater than lastStep: once a code has been used, it and every earlier code
// are dead, so a code seen over a shoulder or in a phishing proxy cannot be
// replayed. On success it returns the matched step, which the caller must
// store as the new lastStep (0 for a fresh enrolment); otherwise 0 and false.
func CheckTOTP(secret, code string, lastStep int64, now time.Time) (int64, bool) {
	if !ValidCodeForm(code) {
		return 0, false
	}
	secret, err := canonicalTOTPSecret(secret)
	if err != nil {
		return 0, false
	}
	step := totpStep(now)
	var matched int64
	// All three candidates are computed and compared, and the compare is
	// constant-time, so timing tells nothing about which digits were right
	// or which window matched.
	for s := step - 1; s <= step+1; s++ {
		if s < 0 {
			continue
		}
		want, err := totpCodeAtStep(secret, s)
		if err != nil {
			return 0, false
		}
		eq := subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1
		if eq && s > lastStep && s > matched {
			matched = s
		}
	}
	if matched == 0 {
		return 0, false
	}
	return matched, true
}

// TOTPCode returns the 6-digit code for secret at time t, as an
// authenticator app would show it. It exists for tests (including the
// browser test) that must log in with a second factor.
func TOTPCode(secret string, t time.Time) (string, error) {
	secret, err := canonicalTOTPSecret(secret)
	if err != nil {
		return "", err
	}
	return totpCodeAtStep(secret, totpStep(t))
}

// totpStep is the RFC 6238 time step: floor(unix seconds / 30).
func totpStep(t time.Time) int64 {
	u := t.Unix()
	s := u / totpPeriodSecs
	if u < 0 && u%totpPeriodSecs != 0 {
		s-- // floor, not truncation, for times before 1970
	}
	return s
}

func totpCodeAtStep(secret string, step int64) (string, error) {
	return hotp.GenerateCodeCustom(secret, uint64(step), hotp.ValidateOpts{
		Digits:    otp.DigitsSix,
		Algorithm: otp.AlgorithmSHA1,
	})
}

// canonicalTOTPSecret accepts a secret in the forms people and apps write it
// (either case, padded or not, surrounding space) and returns the one form
// (upper case, unpadded) handed to the otp library, whose own padding repair
// mishandles an already padded secret. It enforces RFC 4226's minimum
// length, because the library would happily use an empty key.
func canonicalTOTPSecret(secret string) (string, error) {
	s := strings.ToUpper(strings.TrimRight(strings.TrimSpace(secret), "="))
	b, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s)
	if err != nil || len(b) < minTOTPSecret {
		return "", ErrTOTPSecret
	}
	return s, nil
}
