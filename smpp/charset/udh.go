package charset

// Information element identifiers of the concatenation headers
// (3GPP TS 23.040 9.2.3.24).
const (
	ieiConcat8  = 0x00 // 8-bit reference: ref, total, seq
	ieiConcat16 = 0x08 // 16-bit reference: ref (2 octets), total, seq
)

// ConcatUDH8 returns the 6-octet user data header (UDHL included) that
// marks segment seq of total of the message with reference ref:
// 05 00 03 ref total seq.
func ConcatUDH8(ref, total, seq byte) []byte {
	return []byte{5, ieiConcat8, 3, ref, total, seq}
}

// ConcatUDH16 is ConcatUDH8 with a 16-bit reference, 7 octets:
// 06 08 04 ref-hi ref-lo total seq.
func ConcatUDH16(ref uint16, total, seq byte) []byte {
	return []byte{6, ieiConcat16, 4, byte(ref >> 8), byte(ref), total, seq}
}

// ParseUDH reads the user data header at the start of b (the message
// octets of a PDU whose esm_class has UDHI set) and returns the
// concatenation information and the text after the header.
//
// ok is false if the header is malformed: its length or an element's
// length overruns b, or a concatenation element is invalid (wrong
// length, zero total, seq outside 1..total). A well-formed header without
// a concatenation element (port addressing, say) gives total 1 and seq 1:
// a whole message. When a header has several concatenation elements the
// last one counts, as GSM 03.40 says of repeated elements.
func ParseUDH(b []byte) (ref, total, seq int, body []byte, ok bool) {
	if len(b) == 0 {
		return 0, 0, 0, nil, false
	}
	hl := int(b[0])
	if 1+hl > len(b) {
		return 0, 0, 0, nil, false
	}
	h, body := b[1:1+hl], b[1+hl:]
	ref, total, seq = 0, 1, 1
	for len(h) > 0 {
		if len(h) < 2 || 2+int(h[1]) > len(h) {
			return 0, 0, 0, nil, false
		}
		iei, data := h[0], h[2:2+int(h[1])]
		h = h[2+len(data):]
		switch iei {
		case ieiConcat8:
			if len(data) != 3 {
				return 0, 0, 0, nil, false
			}
			ref, total, seq = int(data[0]), int(data[1]), int(data[2])
		case ieiConcat16:
			if len(data) != 4 {
				return 0, 0, 0, nil, false
			}
			ref, total, seq = int(data[0])<<8|int(data[1]), int(data[2]), int(data[3])
		default:
			continue
		}
		if total == 0 || seq == 0 || seq > total {
			return 0, 0, 0, nil, false
		}
	}
	return ref, total, seq, body, true
}
