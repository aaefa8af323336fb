// Package identity is who console users are and how they prove it: the
// passphrase policy (NIST SP 800-63B-4 style: length and a blocklist, no
// composition rules), argon2id passphrase hashing, one-time codes, recovery
// codes and TOTP second factors, and the user service built on them.
//
// The primitives (passphrase.go, hash.go, codes.go, totp.go) are kept pure:
// no storage, no HTTP, no reading of the clock (callers pass the time in),
// and no state beyond the embedded blocklist. The rules that decide whether
// an account is safe thus live in one small place that can be reviewed,
// tested and fuzzed without a database.
package identity

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// MinPassphrase is the minimum passphrase length in runes, counted after NFKC
// normalisation. NIST SP 800-63B-4 requires 15 for a password that is the
// only factor; the console allows a password-only login, so 15 it is.
const MinPassphrase = 15

// MaxPassphrase is the maximum passphrase length in runes. NIST asks for at
// least 64; 256 leaves room for long sentences while bounding the work an
// attacker can push through normalisation and hashing per request.
const MaxPassphrase = 256

// PassphraseError is a passphrase refused by policy. Reason is a complete
// sentence meant for the user; it never contains the passphrase itself, so it
// is safe to show, log and return in an API response.
type PassphraseError struct{ Reason string }

// Error returns Reason.
func (e *PassphraseError) Error() string { return e.Reason }

// ErrCheckUnavailable is returned (wrapped) by CheckPassphrase when the
// blocklist cannot be loaded. The check fails closed: accepting passphrases
// unchecked would silently drop the most effective rule we have. Callers can
// tell it from a *PassphraseError with errors.Is and answer with a server
// error rather than blaming the user's choice.
var ErrCheckUnavailable = errors.New("the passphrase check is unavailable right now; please try again later")

// NormalizePassphrase returns p in Unicode NFKC form. Hashing and checking a
// normalised form means the same passphrase typed on different keyboards or
// IMEs (fullwidth letters, ligatures, composed vs decomposed accents) is the
// same passphrase, as NIST SP 800-63B-4 recommends.
func NormalizePassphrase(p string) string { return norm.NFKC.String(p) }

// CheckPassphrase applies the passphrase policy to p and returns nil, a
// *PassphraseError explaining the refusal, or an error wrapping
// ErrCheckUnavailable. related lists values the passphrase must neither equal
// nor contain, such as the account's email address and name; a value with an
// "@" also contributes its local part, and values shorter than 4 runes are
// ignored because they would match too much by accident.
func CheckPassphrase(p string, related ...string) error {
	return checkPassphrase(commonList, p, related)
}

func checkPassphrase(list *blocklist, p string, related []string) error {
	n := NormalizePassphrase(p)
	runes := utf8.RuneCountInString(n)
	switch {
	case runes < MinPassphrase:
		return &PassphraseError{Reason: fmt.Sprintf(
			"Your passphrase is too short (%d characters); use at least %d. A few unrelated words make a long passphrase that is easy to remember.",
			runes, MinPassphrase)}
	case runes > MaxPassphrase:
		return &PassphraseError{Reason: fmt.Sprintf(
			"Your passphrase is too long (%d characters); use at most %d.", runes, MaxPassphrase)}
	}

	lower := strings.ToLower(n)
	// Whitespace is free padding: "p a s s w o r d 1 2 3" is as guessable as
	// "password123", so the repetition and blocklist rules also look at the
	// passphrase with whitespace removed.
	compact := stripSpace(lower)

	switch d := distinctRunes(compact); {
	case d <= 1:
		return &PassphraseError{Reason: "Your passphrase is one character repeated; choose something less predictable."}
	case d < 4:
		return &PassphraseError{Reason: "Your passphrase uses fewer than 4 different characters; choose something less predictable."}
	}

	for _, r := range expandRelatedValues(related) {
		if strings.Contains(lower, r) || strings.Contains(compact, r) {
			return &PassphraseError{Reason: "Your passphrase must not contain your email address, name or other account details."}
		}
	}

	set, err := list.get()
	if err != nil {
		return fmt.Errorf("%w (%v)", ErrCheckUnavailable, err)
	}
	if set.has(lower) || set.has(compact) {
		return &PassphraseError{Reason: "Your passphrase appears in lists of common or breached passwords, which attackers try first; choose another."}
	}
	return nil
}

// expandRelatedValues normalises the related values the same way as the
// passphrase, drops those too short to be meaningful, and adds the local
// part of email addresses (people reuse "jsmith" from jsmith@example.com)
// and the whitespace-free form of names ("johnsmith" from "John Smith").
func expandRelatedValues(related []string) []string {
	var out []string
	add := func(s string) {
		s = strings.ToLower(NormalizePassphrase(strings.TrimSpace(s)))
		if utf8.RuneCountInString(s) >= 4 {
			out = append(out, s)
		}
		if c := stripSpace(s); c != s && utf8.RuneCountInString(c) >= 4 {
			out = append(out, c)
		}
	}
	for _, r := range related {
		add(r)
		if at := strings.LastIndexByte(r, '@'); at > 0 {
			add(r[:at])
		}
	}
	return out
}

func stripSpace(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
}

func distinctRunes(s string) int {
	seen := make(map[rune]struct{}, 8)
	for _, r := range s {
		seen[r] = struct{}{}
	}
	return len(seen)
}

// commonPasswordsGz is the blocklist: one NFKC, lower-cased entry per line,
// sorted, gzipped. It is built by identity/internal/mklist from zxcvbn's
// frequency list (MIT) and John the Ripper's password.lst (public domain),
// plus long variants derived from their top entries; see that program for
// the sources and how to rebuild it. Gzip keeps ~40k entries to ~130 KB of
// binary.
//
//go:embed commonpasswords.txt.gz
var commonPasswordsGz []byte

// commonList is decompressed on first use rather than at init, so binaries
// that never check a passphrase (workers, CLI tools) pay nothing.
var commonList = &blocklist{load: func() ([]byte, error) { return commonPasswordsGz, nil }}

// blocklist loads a gzipped word list once. The loader is a field so tests
// can exercise the fail-closed path with a corrupt list.
type blocklist struct {
	load func() ([]byte, error)
	once sync.Once
	set  sortedSet
	err  error
}

// blocklistMinEntries guards against a truncated or wrong file being embedded: a list
// that small would make the check pass almost everything.
const blocklistMinEntries = 1000

func (b *blocklist) get() (sortedSet, error) {
	b.once.Do(func() {
		b.set, b.err = b.parse()
	})
	return b.set, b.err
}

func (b *blocklist) parse() (sortedSet, error) {
	gz, err := b.load()
	if err != nil {
		return nil, err
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, fmt.Errorf("common password list: %w", err)
	}
	var set sortedSet
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		if line := sc.Text(); line != "" {
			set = append(set, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("common password list: %w", err)
	}
	if len(set) < blocklistMinEntries {
		return nil, fmt.Errorf("common password list: only %d entries", len(set))
	}
	// The generator sorts, but sorting again here means a hand-edited list
	// cannot silently break the binary search.
	slices.Sort(set)
	return slices.Compact(set), nil
}

// sortedSet is a sorted slice searched by bisection: for ~40k short strings
// it is a fraction of the memory of a map and plenty fast for one lookup per
// passphrase change.
type sortedSet []string

func (s sortedSet) has(x string) bool {
	_, ok := slices.BinarySearch(s, x)
	return ok
}
