// Package charset converts message text to and from the encodings SMS
// uses — GSM 03.38 7-bit with its extension table, Latin-1 and UCS-2 —
// and cuts long messages into segments with concatenation headers and
// joins them again on receipt.
//
// Encodings are named by their SMPP data_coding value (GSM7, Latin1,
// UCS2). Segment counts follow the GSM limits (160/153 septets, 70/67
// UCS-2 code units), which are also what Plivo bills as "units".
package charset

import (
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// SMPP data_coding values of the encodings this package handles.
const (
	GSM7   byte = 0x00 // SMSC default alphabet, GSM 03.38 in practice
	ASCII  byte = 0x01 // IA5 / ASCII
	Latin1 byte = 0x03 // ISO-8859-1
	UCS2   byte = 0x08 // UCS-2, sent as UTF-16BE
)

// EncodeLatin1 encodes s in ISO-8859-1. A rune beyond U+00FF is written
// as '?' and ok is false.
func EncodeLatin1(s string) (b []byte, ok bool) {
	b = make([]byte, 0, len(s))
	ok = true
	for _, r := range s {
		if r > 0xFF || r == utf8.RuneError {
			b = append(b, '?')
			ok = false
			continue
		}
		b = append(b, byte(r))
	}
	return b, ok
}

// DecodeLatin1 decodes ISO-8859-1.
func DecodeLatin1(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b))
	for _, c := range b {
		sb.WriteRune(rune(c))
	}
	return sb.String()
}

// EncodeUCS2 encodes s as UTF-16BE, which is what handsets and SMSCs
// accept for data_coding 8: characters beyond the BMP (emoji) become
// surrogate pairs of two code units. Invalid UTF-8 becomes U+FFFD.
func EncodeUCS2(s string) []byte {
	b := make([]byte, 0, 2*len(s))
	for _, r := range s {
		b = appendUCS2(b, r)
	}
	return b
}

func appendUCS2(b []byte, r rune) []byte {
	if r >= 0x10000 {
		hi, lo := utf16.EncodeRune(r)
		return append(b, byte(hi>>8), byte(hi), byte(lo>>8), byte(lo))
	}
	if utf16.IsSurrogate(r) {
		r = utf8.RuneError
	}
	return append(b, byte(r>>8), byte(r))
}

// ucs2Units is the number of UTF-16 code units of r.
func ucs2Units(r rune) int {
	if r >= 0x10000 {
		return 2
	}
	return 1
}

// DecodeUCS2 decodes UTF-16BE. An unpaired surrogate or a trailing odd
// octet becomes U+FFFD.
func DecodeUCS2(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b))
	for i := 0; i+1 < len(b); i += 2 {
		u := rune(b[i])<<8 | rune(b[i+1])
		if utf16.IsSurrogate(u) && u < 0xDC00 && i+3 < len(b) {
			lo := rune(b[i+2])<<8 | rune(b[i+3])
			if r := utf16.DecodeRune(u, lo); r != utf8.RuneError {
				sb.WriteRune(r)
				i += 2
				continue
			}
		}
		if utf16.IsSurrogate(u) {
			u = utf8.RuneError
		}
		sb.WriteRune(u)
	}
	if len(b)%2 == 1 {
		sb.WriteRune(utf8.RuneError)
	}
	return sb.String()
}

// Choose picks the encoding for s — GSM 7-bit if every character has a
// septet, else UCS-2 — and returns s in it. Latin-1 is never chosen: it
// holds fewer characters per segment than GSM 7-bit and handsets handle
// it poorly.
func Choose(s string) (coding byte, data []byte) {
	if septets, ok := EncodeGSM7(s); ok {
		return GSM7, septets
	}
	return UCS2, EncodeUCS2(s)
}

// Decode decodes message octets by their SMPP data_coding. ok is false
// for codings that are not text (binary) or that this package does not
// know; the caller decides what to do with those octets.
func Decode(coding byte, b []byte) (s string, ok bool) {
	switch {
	case coding == GSM7:
		return DecodeGSM7(b), true
	case coding == ASCII:
		for _, c := range b {
			if c >= 0x80 {
				return DecodeLatin1(b), true // not ASCII after all; Latin-1 is the usual culprit
			}
		}
		return string(b), true
	case coding == Latin1:
		return DecodeLatin1(b), true
	case coding == UCS2:
		return DecodeUCS2(b), true
	case coding&0xF4 == 0xF0:
		// GSM 03.38 data coding group 1111, default alphabet with a
		// message class.
		return DecodeGSM7(b), true
	}
	return "", false
}
