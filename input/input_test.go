package input

import "testing"

func TestHasControl(t *testing.T) {
	for s, want := range map[string]bool{
		"":                      false,
		"Acme Ltd":              false,
		"line one\r\nline\ttwo": false,
		"héllo wörld ☎":         false,
		"a\x00b":                true,
		"\x00":                  true,
		"esc\x1b[2J":            true,
		"bell\x07":              true,
		"del\x7f":               true,
		"form\x0cfeed":          true,
	} {
		if got := HasControl(s); got != want {
			t.Errorf("HasControl(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestScrub(t *testing.T) {
	if got := Scrub("hi\x00there\x1b!\r\n\tok"); got != "hi\uFFFDthere\uFFFD!\r\n\tok" {
		t.Errorf("Scrub = %q", got)
	}
	if got := Scrub("plain"); got != "plain" {
		t.Errorf("Scrub(plain) = %q", got)
	}
}

func TestIsLine(t *testing.T) {
	for s, want := range map[string]bool{
		"Acme Ltd, 1 Main St": true,
		"Zürich ☎":            true,
		"a\tb":                false,
		"a\nb":                false,
		"a\rb":                false,
		"a\u0085b":            false,
		"a\u2028b":            false,
		"a\x00b":              false,
	} {
		if got := IsLine(s); got != want {
			t.Errorf("IsLine(%q) = %v, want %v", s, got, want)
		}
	}
}
