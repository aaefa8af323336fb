package identity

import (
	"regexp"
	"strings"
	"testing"
)

func TestNewCode(t *testing.T) {
	firstDigits := map[byte]int{}
	for range 2000 {
		c := NewCode()
		if !ValidCodeForm(c) {
			t.Fatalf("NewCode() = %q, not 6 digits", c)
		}
		firstDigits[c[0]]++
	}
	// Leading zeros must be kept and no digit may be unreachable in any
	// position; with 2000 uniform codes the chance a digit is missing from
	// the first position is about 10 x 0.9^2000, i.e. never.
	for d := byte('0'); d <= '9'; d++ {
		if firstDigits[d] == 0 {
			t.Errorf("digit %c never appeared first in 2000 codes: %v", d, firstDigits)
		}
	}
}

func TestValidCodeForm(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{"six digits", "123456", true},
		{"leading zeros", "000042", true},
		{"empty", "", false},
		{"five digits", "12345", false},
		{"seven digits", "1234567", false},
		{"letter", "12345a", false},
		{"space", "123 45", false},
		{"surrounding space", " 123456", false},
		{"sign", "-12345", false},
		{"fullwidth digits", "１２３４５６", false},
		{"arabic-indic digits", "١٢٣٤٥٦", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ValidCodeForm(tc.in); got != tc.want {
				t.Errorf("ValidCodeForm(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func TestRecoveryAlphabet(t *testing.T) {
	if strings.ContainsAny(RecoveryAlphabet, "0o1li") {
		t.Errorf("alphabet %q contains an ambiguous character", RecoveryAlphabet)
	}
	seen := map[rune]bool{}
	for _, r := range RecoveryAlphabet {
		if seen[r] {
			t.Errorf("alphabet repeats %q", r)
		}
		seen[r] = true
		if !(r >= 'a' && r <= 'z' || r >= '2' && r <= '9') {
			t.Errorf("alphabet has %q outside [a-z2-9]", r)
		}
	}
	// Every unambiguous lower-case letter and digit is used: dropping more
	// would only cost entropy.
	if len(seen) != 31 {
		t.Errorf("alphabet has %d characters, want 31", len(seen))
	}
}

func TestNewRecoveryCodes(t *testing.T) {
	form := regexp.MustCompile(`^[` + RecoveryAlphabet + `]{4}-[` + RecoveryAlphabet + `]{4}-[` + RecoveryAlphabet + `]{4}$`)
	tests := []struct {
		name string
		n    int
		want int
	}{
		{"zero", 0, 0},
		{"negative", -3, 0},
		{"one", 1, 1},
		{"typical batch", 10, 10},
		{"large batch", 1000, 1000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			codes := NewRecoveryCodes(tc.n)
			if len(codes) != tc.want {
				t.Fatalf("got %d codes, want %d", len(codes), tc.want)
			}
			seen := map[string]bool{}
			for _, c := range codes {
				if !form.MatchString(c) {
					t.Errorf("code %q has the wrong form", c)
				}
				if seen[c] {
					t.Errorf("duplicate code %q", c)
				}
				seen[c] = true
			}
		})
	}

	// Every alphabet character shows up: 1000 codes x 12 characters.
	used := map[rune]bool{}
	for _, c := range NewRecoveryCodes(1000) {
		for _, r := range NormalizeRecoveryCode(c) {
			used[r] = true
		}
	}
	for _, r := range RecoveryAlphabet {
		if !used[r] {
			t.Errorf("character %q never used in 12000 draws", r)
		}
	}
}

func TestNormalizeRecoveryCode(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"as issued", "k7m2-x9qp-4rtw", "k7m2x9qp4rtw"},
		{"upper case", "K7M2-X9QP-4RTW", "k7m2x9qp4rtw"},
		{"spaces instead of dashes", "k7m2 x9qp 4rtw", "k7m2x9qp4rtw"},
		{"surrounding whitespace", "  k7m2-x9qp-4rtw\n", "k7m2x9qp4rtw"},
		{"no separators", "k7m2x9qp4rtw", "k7m2x9qp4rtw"},
		{"mixed", "K7m2 - x9QP\t-4rtw", "k7m2x9qp4rtw"},
		{"empty", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := NormalizeRecoveryCode(tc.in); got != tc.want {
				t.Errorf("NormalizeRecoveryCode(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
	for _, c := range NewRecoveryCodes(5) {
		if NormalizeRecoveryCode(strings.ToUpper(c)) != NormalizeRecoveryCode(c) {
			t.Errorf("normalisation of %q depends on case", c)
		}
	}
}
