package plivoxml

import (
	"regexp"
	"strings"
)

// SSML inside Speak, as the Node SDK allows it (utils/plivoxml.js): which
// tags may nest in which, and their attributes. Plivo passes SSML to Amazon
// Polly, so the few enumerated values are Polly's.
var ssmlNestables = map[string][]string{
	"Speak":    {"break", "emphasis", "lang", "p", "phoneme", "prosody", "s", "say-as", "sub", "w"},
	"break":    nil,
	"emphasis": {"break", "emphasis", "lang", "phoneme", "prosody", "say-as", "sub", "w"},
	"lang":     {"break", "emphasis", "lang", "p", "phoneme", "prosody", "s", "say-as", "sub", "w"},
	"p":        {"break", "emphasis", "lang", "prosody", "s", "say-as", "sub", "w"},
	"phoneme":  nil,
	"prosody":  {"break", "emphasis", "lang", "p", "phoneme", "prosody", "s", "say-as", "sub", "w"},
	"s":        {"break", "emphasis", "lang", "phoneme", "prosody", "say-as", "sub", "w"},
	"say-as":   nil,
	"sub":      nil,
	"w":        {"break", "emphasis", "phoneme", "prosody", "say-as", "sub"},
}

var ssmlAttrs = map[string][]string{
	"break":    {"strength", "time"},
	"emphasis": {"level"},
	"lang":     {"xml:lang"},
	"p":        {},
	"phoneme":  {"alphabet", "ph"},
	"prosody":  {"pitch", "rate", "volume"},
	"s":        {},
	"say-as":   {"interpret-as", "format"},
	"sub":      {"alias"},
	"w":        {"role"},
}

var ssmlTime = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?(ms|s)$`)

// checkSSML validates the elements inside a Speak (or inside an SSML
// element), recursively.
func checkSSML(n *node) *Error {
	for _, k := range n.kids() {
		if err := checkChild(n, k, ssmlNestables[n.name]); err != nil {
			return err
		}
		a, err := newAttrs(k, ssmlAttrs[k.name])
		if err != nil {
			return err
		}
		switch k.name {
		case "break":
			a.enum("strength", "", "none", "x-weak", "weak", "medium", "strong", "x-strong")
			if t := a.str("time", ""); a.has("time") && !ssmlTime.MatchString(t) {
				a.fail("time", t, `must be a duration such as "500ms" or "2s"`)
			}
			for _, p := range k.parts {
				if p.kid == nil && strings.TrimSpace(p.text) != "" {
					return k.errorf("break takes no text")
				}
			}
		case "emphasis":
			a.enum("level", "", "strong", "moderate", "reduced")
		case "lang":
			if l := a.str("xml:lang", ""); !languageTag.MatchString(l) {
				a.fail("xml:lang", l, `must be a language code such as "fr-FR"`)
			}
		case "phoneme":
			a.enum("alphabet", "", "ipa", "x-sampa")
			if a.str("ph", "") == "" {
				return k.errorf("phoneme needs a ph attribute")
			}
		case "say-as":
			if a.str("interpret-as", "") == "" {
				return k.errorf("say-as needs an interpret-as attribute")
			}
			a.str("format", "")
		case "sub":
			if a.str("alias", "") == "" {
				return k.errorf("sub needs an alias attribute")
			}
		case "prosody":
			a.str("pitch", "")
			a.str("rate", "")
			a.str("volume", "")
		case "w":
			a.str("role", "")
		}
		if e := a.err(); e != nil {
			return e
		}
		if err := checkSSML(k); err != nil {
			return err
		}
	}
	return nil
}
