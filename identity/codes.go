package identity

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"strings"
	"unicode"
)

// CodeDigits is the length of codes from NewCode.
const CodeDigits = 6

// NewCode returns a uniformly random 6-digit decimal code, leading zeros
// kept ("004211"), for email or SMS confirmation. It uses crypto/rand with
// rejection sampling, because a plain modulo of a random uint32 would make
// low codes slightly more likely than high ones.
func NewCode() string {
	const n = 1_000_000
	// Largest multiple of n that fits in 2^32; values at or above it are
	// redrawn so every code has exactly the same number of preimages.
	const limit = (1 << 32) / n * n
	var b [4]byte
	for {
		rand.Read(b[:])
		if v := binary.BigEndian.Uint32(b[:]); v < limit {
			return fmt.Sprintf("%06d", v%n)
		}
	}
}

// ValidCodeForm reports whether s is exactly 6 ASCII digits. Check it before
// comparing a submitted code, so junk input is refused early and the
// constant-time compare always sees equal lengths.
func ValidCodeForm(s string) bool {
	if len(s) != CodeDigits {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// RecoveryAlphabet holds the characters of recovery codes: lower-case
// letters and digits without 0, o, 1, l and i, which people misread when
// copying a code from paper. Only 31 characters survive that rule, so a
// 12-character code carries 12 x log2(31) = 59.4 bits: far beyond online
// guessing (codes are single-use and rate-limited) and, hashed, costly to
// brute-force offline.
const RecoveryAlphabet = "23456789abcdefghjkmnpqrstuvwxyz"

// recoveryGroupCount x recoveryGroupLen characters make one code, shown as
// dash-separated groups of four ("k7m2-x9qp-4rtw") so it is easy to read out.
const (
	recoveryGroupCount = 3
	recoveryGroupLen   = 4
)

// NewRecoveryCodes returns n distinct random recovery codes such as
// "k7m2-x9qp-4rtw". Store them hashed, under NormalizeRecoveryCode form, and
// show them to the user once. n <= 0 returns nil.
func NewRecoveryCodes(n int) []string {
	if n <= 0 {
		return nil
	}
	codes := make([]string, 0, n)
	seen := make(map[string]struct{}, n)
	for len(codes) < n {
		c := newRecoveryCode()
		// A collision is astronomically unlikely, but a duplicate would
		// silently give the user one code fewer than shown.
		if _, dup := seen[c]; dup {
			continue
		}
		seen[c] = struct{}{}
		codes = append(codes, c)
	}
	return codes
}

func newRecoveryCode() string {
	const n = len(RecoveryAlphabet)
	// Rejection sampling over bytes: 248 = 8*31 is the largest multiple of
	// 31 that fits in a byte, so every character is equally likely.
	const limit = 256 / n * n
	var sb strings.Builder
	var buf [32]byte
	for written := 0; written < recoveryGroupCount*recoveryGroupLen; {
		rand.Read(buf[:])
		for _, b := range buf {
			if int(b) >= limit {
				continue
			}
			if written > 0 && written%recoveryGroupLen == 0 {
				sb.WriteByte('-')
			}
			sb.WriteByte(RecoveryAlphabet[int(b)%n])
			written++
			if written == recoveryGroupCount*recoveryGroupLen {
				break
			}
		}
	}
	return sb.String()
}

// NormalizeRecoveryCode returns the lookup form of a recovery code as the
// user typed it: lower case, with spaces and dashes removed, so
// "K7M2 X9QP-4RTW" finds the code issued as "k7m2-x9qp-4rtw".
func NormalizeRecoveryCode(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || unicode.IsSpace(r) {
			return -1
		}
		return unicode.ToLower(r)
	}, s)
}
