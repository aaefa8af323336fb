// Package input holds the rules every client-supplied text value follows, wherever it
// enters (API parameters, console forms), so one check decides what is refused.
package input

import (
	"strconv"
	"strings"
	"unicode"
)

// Control reports the characters no client value may hold: NUL (PostgreSQL text cannot
// store it, so it would fail as a server error there, and C code downstream would cut the
// string at it) and the other C0 controls and DEL, which no name, address or message
// needs and which corrupt logs and terminals. Tab, line feed and carriage return are
// allowed: message texts, speech and multi-line fields carry them.
func Control(r rune) bool {
	return (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || r == 0x7f
}

// HasControl reports whether s holds a Control character.
func HasControl(s string) bool { return strings.IndexFunc(s, Control) >= 0 }

// Scrub replaces every Control character in s with U+FFFD, for text that arrives from
// a network peer rather than a client that can be told no (an inbound SMS): refusing it
// would lose the message, storing a NUL fails on PostgreSQL.
func Scrub(s string) string {
	if !HasControl(s) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if Control(r) {
			return '\uFFFD'
		}
		return r
	}, s)
}

// IsLine reports whether s fits a one-line field (a name, an alias, a city): no control
// character at all, not even tab or a line break, and no line or paragraph separator.
// Such fields show up in lists, logs and CSV exports, where a line break would forge a row.
func IsLine(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool {
		return unicode.IsControl(r) || r == '\u2028' || r == '\u2029'
	}) < 0
}

// Quote shows a client's value in an error message: quoted, valid UTF-8, at most 64
// bytes and an ellipsis.
func Quote(k string) string {
	if len(k) > 64 {
		k = k[:64] + "…"
	}
	return strconv.Quote(strings.ToValidUTF8(k, "?"))
}
