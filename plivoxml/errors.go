package plivoxml

import (
	"fmt"
	"unicode/utf8"
)

// Error is a problem found in a call-control document: what is wrong (Msg)
// and where (Path, Line). Its text is written for the application's
// developer, because it is recorded on the call as the reason it ended;
// it never carries internal detail.
type Error struct {
	// Path locates the element, XPath-like: "Response/GetDigits[1]/Speak[2]"
	// (the index counts same-name siblings from 1). It is empty when the
	// document as a whole is at fault (too large, not XML).
	Path string
	// Line is the 1-based line of the element's start tag, or of a syntax
	// error; 0 when unknown.
	Line int
	// Msg says what is wrong, e.g. "Speak cannot be nested in Dial".
	Msg string
}

// show clips a name or value from the document for use in a message, so
// that a hostile document cannot make the recorded reason huge.
func show(s string) string { return clip(s, 64) }

func clip(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	return string([]rune(s)[:max]) + "…"
}

func (e *Error) Error() string {
	switch {
	case e.Path != "" && e.Line > 0:
		return fmt.Sprintf("%s (at %s, line %d)", e.Msg, e.Path, e.Line)
	case e.Path != "":
		return fmt.Sprintf("%s (at %s)", e.Msg, e.Path)
	case e.Line > 0:
		return fmt.Sprintf("%s (line %d)", e.Msg, e.Line)
	}
	return e.Msg
}
