package charset

import "errors"

// Segment limits of GSM 03.40. A concatenated segment loses six octets to
// its user data header (05 00 03 ref total seq): 7 septets in GSM 7-bit,
// 3 code units in UCS-2.
const (
	GSM7Single = 160 // septets in a single-segment GSM 7-bit message
	GSM7Part   = 153 // septets in each segment of a concatenated one
	UCS2Single = 70  // UTF-16 code units in a single-segment UCS-2 message
	UCS2Part   = 67  // code units in each segment of a concatenated one
	MaxParts   = 255 // segments a concatenation header can number
)

// ErrTooLong is returned by Split for text that needs more than MaxParts
// segments.
var ErrTooLong = errors.New("charset: message needs more than 255 segments")

// Split encodes s as Choose does and cuts it into SMS segments. A message
// that fits one segment (160 septets or 70 UCS-2 code units) comes back
// whole, as one part. A longer one is cut into parts of at most 153
// septets or 67 code units, never between an escape and its extension
// character nor between the two halves of a surrogate pair, so every part
// decodes on its own.
//
// Parts carry no header: prepend ConcatUDH8 and set esm_class UDHI, or
// send sar_* TLVs. The sizes assume the 6-octet header of ConcatUDH8;
// ConcatUDH16's header is an octet longer and may not fit.
func Split(s string) (coding byte, parts [][]byte, err error) {
	gsm := IsGSM7(s)
	n := countParts(s, gsm)
	if n > MaxParts {
		return 0, nil, ErrTooLong
	}
	coding, data := Choose(s)
	if n == 1 {
		return coding, [][]byte{data}, nil
	}
	parts = make([][]byte, 0, n)
	limit := UCS2Part
	if gsm {
		limit = GSM7Part
	}
	var part []byte
	used := 0
	for _, r := range s {
		units := ucs2Units(r)
		if gsm {
			units = gsmSeptets(r)
		}
		if used+units > limit {
			parts = append(parts, part)
			part, used = nil, 0
		}
		if gsm {
			part, _ = appendGSM7(part, r)
		} else {
			part = appendUCS2(part, r)
		}
		used += units
	}
	return coding, append(parts, part), nil
}

// Units returns the number of SMS segments s needs, as Split would cut
// it: what Plivo reports and bills as a message's units. Empty text is
// one unit.
func Units(s string) int { return countParts(s, IsGSM7(s)) }

// countParts is Split's cutting without the encoding.
func countParts(s string, gsm bool) int {
	single, limit := UCS2Single, UCS2Part
	if gsm {
		single, limit = GSM7Single, GSM7Part
	}
	total := 0
	for _, r := range s {
		if gsm {
			total += gsmSeptets(r)
		} else {
			total += ucs2Units(r)
		}
	}
	if total <= single {
		return 1
	}
	parts, used := 1, 0
	for _, r := range s {
		units := ucs2Units(r)
		if gsm {
			units = gsmSeptets(r)
		}
		if used+units > limit {
			parts++
			used = 0
		}
		used += units
	}
	return parts
}

// Length returns the size of s in its chosen encoding, in septets for
// GSM 7-bit or UTF-16 code units for UCS-2 — the figure the segment
// limits count.
func Length(s string) (coding byte, n int) {
	if IsGSM7(s) {
		for _, r := range s {
			n += gsmSeptets(r)
		}
		return GSM7, n
	}
	for _, r := range s {
		n += ucs2Units(r)
	}
	return UCS2, n
}
