package identity

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCheckPassphrase(t *testing.T) {
	// A 256-rune passphrase with plenty of distinct characters.
	long256 := []rune(strings.Repeat("mauve kettle drums at dawn ", 20))[:MaxPassphrase]

	tests := []struct {
		name    string
		p       string
		related []string
		want    string // substring of the refusal; "" means accepted
	}{
		{name: "good passphrase", p: "correct horse battery staple"},
		{name: "14 runes is too short", p: "mauve kettle 4", want: "too short"},
		{name: "15 runes is enough", p: "mauve kettle 42"},
		{name: "15 multibyte runes is enough", p: "гусь в пальто 42"},
		{name: "256 runes is allowed", p: string(long256)},
		{name: "257 runes is too long", p: string(long256) + "x", want: "too long"},
		// NFKC: the ligature "ﬁ" is one rune that normalises to two, so 14
		// typed runes count as 15.
		{name: "length counted after NFKC expansion", p: "ﬁne kettle dru"},
		// And "e" + combining acute composes to one rune: 15 typed runes
		// count as 14.
		{name: "length counted after NFKC composition", p: "cafe\u0301 kettle 42", want: "too short"},
		{name: "fullwidth common password", p: "ｐａｓｓｗｏｒｄｐａｓｓｗｏｒｄ", want: "common or breached"},
		{name: "derived repetition is listed", p: "passwordpassword", want: "common or breached"},
		{name: "list hit is case-insensitive", p: "PassWordPassWord", want: "common or breached"},
		{name: "list hit ignores whitespace", p: "password password", want: "common or breached"},
		{name: "spaced short common password", p: "p a s s w o r d 1", want: "common or breached"},
		{name: "long entry from zxcvbn source", p: "1qaz2wsx3edc4rfv", want: "common or breached"},
		{name: "keyboard walk", p: "qwertyuiopasdfgh", want: "common or breached"},
		{name: "digit cycle", p: "123456789012345", want: "common or breached"},
		{name: "word plus digit run", p: "iloveyou12345678", want: "common or breached"},
		{name: "one character repeated", p: "aaaaaaaaaaaaaaaaaaaa", want: "one character repeated"},
		{name: "one character repeated with spaces", p: "zz zz zz zz zz zz zz", want: "one character repeated"},
		{name: "three distinct characters", p: "abcabcabcabcabcabc", want: "fewer than 4 different"},
		{name: "three distinct plus spaces", p: "xyz xyz xyz xyz xyz", want: "fewer than 4 different"},
		{name: "contains email local part", p: "jsmith loves the seaside", related: []string{"jsmith@example.com"}, want: "account details"},
		{name: "contains email local part any case", p: "JSmith loves the seaside", related: []string{"jsmith@example.com"}, want: "account details"},
		{name: "contains whole email", p: "my login is jsmith@example.com", related: []string{"jsmith@example.com"}, want: "account details"},
		{name: "contains spaced name", p: "johnsmith rules the world", related: []string{"John Smith"}, want: "account details"},
		{name: "short related values are skipped", p: "al is a great pal forever", related: []string{"al@x.io", "al"}},
		{name: "unrelated account details pass", p: "correct horse battery staple", related: []string{"jsmith@example.com", "John Smith"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckPassphrase(tc.p, tc.related...)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("CheckPassphrase(%q) = %v, want nil", tc.p, err)
				}
				return
			}
			var pe *PassphraseError
			if !errors.As(err, &pe) {
				t.Fatalf("CheckPassphrase(%q) = %v (%T), want *PassphraseError", tc.p, err, err)
			}
			if !strings.Contains(pe.Reason, tc.want) {
				t.Errorf("reason %q does not mention %q", pe.Reason, tc.want)
			}
			if pe.Error() != pe.Reason {
				t.Errorf("Error() = %q, want Reason %q", pe.Error(), pe.Reason)
			}
			for _, form := range []string{tc.p, NormalizePassphrase(tc.p), strings.ToLower(NormalizePassphrase(tc.p))} {
				if strings.Contains(err.Error(), form) {
					t.Errorf("error %q contains the passphrase", err)
				}
			}
			if r := pe.Reason; !strings.HasSuffix(r, ".") || strings.ToUpper(r[:1]) != r[:1] {
				t.Errorf("reason %q is not a sentence", r)
			}
		})
	}
}

func TestNormalizePassphrase(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"ascii unchanged", "correct horse", "correct horse"},
		{"fullwidth", "ｐａｓｓ", "pass"},
		{"ligature", "ﬁne", "fine"},
		{"decomposed accent composes", "cafe\u0301", "café"},
		{"case kept", "PaSS", "PaSS"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := NormalizePassphrase(tc.in); got != tc.want {
				t.Errorf("NormalizePassphrase(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// TestBlocklistFailsClosed checks that a list that cannot be read refuses
// every passphrase, good ones included, with ErrCheckUnavailable.
func TestBlocklistFailsClosed(t *testing.T) {
	tests := []struct {
		name string
		load func() ([]byte, error)
	}{
		{"load error", func() ([]byte, error) { return nil, errors.New("embed missing") }},
		{"not gzip", func() ([]byte, error) { return []byte("passwordpassword\n"), nil }},
		{"truncated gzip", func() ([]byte, error) { return commonPasswordsGz[:len(commonPasswordsGz)/2], nil }},
		{"empty", func() ([]byte, error) { return nil, nil }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			list := &blocklist{load: tc.load}
			for range 2 { // the failure is remembered, not retried into success
				err := checkPassphrase(list, "correct horse battery staple", nil)
				if !errors.Is(err, ErrCheckUnavailable) {
					t.Fatalf("err = %v, want ErrCheckUnavailable", err)
				}
				var pe *PassphraseError
				if errors.As(err, &pe) {
					t.Fatalf("unavailability reported as a policy refusal: %v", err)
				}
			}
		})
	}
}

func TestEmbeddedBlocklist(t *testing.T) {
	set, err := commonList.get()
	if err != nil {
		t.Fatal(err)
	}
	if len(set) < 35000 {
		t.Errorf("blocklist has %d entries, want the ~40k built by mklist", len(set))
	}
	if !slices.IsSorted(set) {
		t.Error("blocklist not sorted")
	}
	var long int
	for _, s := range set {
		if s != strings.ToLower(NormalizePassphrase(s)) {
			t.Errorf("entry %q is not in NFKC lower-case form, so it can never match", s)
		}
		if utf8.RuneCountInString(s) >= MinPassphrase {
			long++
		}
	}
	if long < 5000 {
		t.Errorf("only %d entries of >= %d runes; the derived long entries are missing", long, MinPassphrase)
	}
	for _, s := range []string{"123456", "password", "qwerty", "passwordpassword", "p@ssw0rdp@ssw0rd", "qwertyuiopasdfgh", "123456789012345"} {
		if !set.has(s) {
			t.Errorf("blocklist lacks %q", s)
		}
	}
}
