package charset

import (
	"strings"
	"unicode/utf8"
)

// escape is the GSM 03.38 septet that switches to the extension table
// for the next septet.
const escape = 0x1B

// gsmDefault is the GSM 03.38 default alphabet, indexed by septet. 0x1B
// is the escape and has no character of its own.
var gsmDefault = [128]rune{
	'@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å',
	'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', 0, 'Æ', 'æ', 'ß', 'É',
	' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/',
	'0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?',
	'¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O',
	'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§',
	'¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o',
	'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à',
}

// gsmExtension is the GSM 03.38 extension table: the septet after an
// escape, and its character.
var gsmExtension = map[byte]rune{
	0x0A: '\f',
	0x14: '^',
	0x28: '{',
	0x29: '}',
	0x2F: '\\',
	0x3C: '[',
	0x3D: '~',
	0x3E: ']',
	0x40: '|',
	0x65: '€',
}

// gsmEncode maps a character to its septet; extension characters have
// the escape in the high byte (0x1Bxx).
var gsmEncode = func() map[rune]uint16 {
	m := make(map[rune]uint16, 128+len(gsmExtension))
	for septet, r := range gsmDefault {
		if septet != escape {
			m[r] = uint16(septet)
		}
	}
	for septet, r := range gsmExtension {
		m[r] = escape<<8 | uint16(septet)
	}
	return m
}()

// gsmSeptets returns the septets of r: 1 for the default alphabet, 2 for
// the extension table, 0 if GSM 03.38 cannot represent r.
func gsmSeptets(r rune) int {
	v, ok := gsmEncode[r]
	switch {
	case !ok:
		return 0
	case v>>8 == escape:
		return 2
	}
	return 1
}

func appendGSM7(dst []byte, r rune) ([]byte, bool) {
	v, ok := gsmEncode[r]
	if !ok {
		return append(dst, '?'), false
	}
	if v>>8 == escape {
		return append(dst, escape, byte(v)), true
	}
	return append(dst, byte(v)), true
}

// EncodeGSM7 encodes s in the GSM 03.38 default alphabet with its
// extension table, one septet per byte (unpacked), as SMPP carries
// data_coding 0. Extension characters take two septets (escape and
// code). A rune GSM 03.38 lacks is written as '?' and ok is false.
func EncodeGSM7(s string) (septets []byte, ok bool) {
	septets = make([]byte, 0, len(s))
	ok = true
	for _, r := range s {
		var good bool
		septets, good = appendGSM7(septets, r)
		ok = ok && good
	}
	return septets, ok
}

// IsGSM7 reports whether every rune of s is in the GSM 03.38 default
// alphabet or its extension table.
func IsGSM7(s string) bool {
	for _, r := range s {
		if gsmSeptets(r) == 0 {
			return false
		}
	}
	return true
}

// DecodeGSM7 decodes unpacked septets. As GSM 03.38 asks of receivers,
// an escape followed by a septet the extension table lacks shows that
// septet's default character, and a trailing escape shows a space. A byte
// with the high bit set is no septet and becomes U+FFFD.
func DecodeGSM7(septets []byte) string {
	var sb strings.Builder
	sb.Grow(len(septets))
	for i := 0; i < len(septets); i++ {
		c := septets[i]
		switch {
		case c >= 0x80:
			sb.WriteRune(utf8.RuneError)
		case c != escape:
			sb.WriteRune(gsmDefault[c])
		case i+1 == len(septets):
			sb.WriteByte(' ')
		default:
			i++
			next := septets[i]
			if r, ok := gsmExtension[next]; ok {
				sb.WriteRune(r)
			} else if next < 0x80 && next != escape {
				sb.WriteRune(gsmDefault[next])
			} else if next == escape {
				// Two escapes: reserved; show a space and reread the
				// second one as the start of a new escape.
				sb.WriteByte(' ')
				i--
			} else {
				sb.WriteRune(utf8.RuneError)
			}
		}
	}
	return sb.String()
}

// PackSeptets packs septets (low 7 bits of each byte) eight to seven
// octets, least significant bit first, as GSM 03.40 sends them over the
// air and some carriers expect them in short_message.
func PackSeptets(septets []byte) []byte { return packSeptetsAt(septets, 0) }

// UnpackSeptets unpacks n septets from packed. n is needed because the
// last octet may hold padding bits that look like an '@'. It stops early
// if packed is too short.
func UnpackSeptets(packed []byte, n int) []byte { return unpackSeptetsAt(packed, 0, n) }

// packSeptetsAt packs septets starting fill bits into the first octet.
func packSeptetsAt(septets []byte, fill int) []byte {
	out := make([]byte, (fill+7*len(septets)+7)/8)
	bit := fill
	for _, s := range septets {
		v := uint16(s&0x7F) << (bit % 8)
		out[bit/8] |= byte(v)
		if v>>8 != 0 {
			out[bit/8+1] |= byte(v >> 8)
		}
		bit += 7
	}
	return out
}

func unpackSeptetsAt(packed []byte, fill, n int) []byte {
	if n < 0 {
		n = 0
	}
	if most := (8*len(packed) - fill) / 7; n > most {
		n = max(most, 0)
	}
	out := make([]byte, n)
	bit := fill
	for i := range out {
		v := uint16(packed[bit/8])
		if bit/8+1 < len(packed) {
			v |= uint16(packed[bit/8+1]) << 8
		}
		out[i] = byte(v>>(bit%8)) & 0x7F
		bit += 7
	}
	return out
}

// fillBits is the padding after a user data header of udhLen octets
// that makes the first septet start on a septet boundary.
func fillBits(udhLen int) int { return (7 - (8*udhLen)%7) % 7 }

// PackUserData packs septets behind a user data header (UDHL octet
// included), with the fill bits GSM 03.40 puts between them so that
// the text starts on a septet boundary.
func PackUserData(udh, septets []byte) []byte {
	packed := packSeptetsAt(septets, fillBits(len(udh)))
	return append(append(make([]byte, 0, len(udh)+len(packed)), udh...), packed...)
}

// UnpackUserData is the inverse of PackUserData: it splits user data
// that starts with a header (UDHL octet first) and unpacks n septets of
// text after it. ok is false if the header overruns ud.
func UnpackUserData(ud []byte, n int) (udh, septets []byte, ok bool) {
	if len(ud) == 0 || int(ud[0])+1 > len(ud) {
		return nil, nil, false
	}
	hl := int(ud[0]) + 1
	rest := ud[hl:]
	return ud[:hl], unpackSeptetsAt(rest, fillBits(hl), n), true
}
