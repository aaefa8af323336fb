package audio

// G.711 as in the ITU-T G.191 reference code: μ-law on the top 14 bits
// with a bias of 33, A-law on the top 13 bits with even-bit inversion
// (0x55). Negative inputs take the one's complement before truncation, as
// G.191 does (Sun's widely copied g711.c differs by one step on some
// negative μ-law inputs).

const (
	// MulawSilence and AlawSilence are the code words for a zero sample.
	MulawSilence byte = 0xFF
	AlawSilence  byte = 0xD5
)

var (
	mulawToLinear [256]int16
	alawToLinear  [256]int16
)

func init() {
	for i := range 256 {
		mulawToLinear[i] = mulawDecode(byte(i))
		alawToLinear[i] = alawDecode(byte(i))
	}
}

func mulawDecode(u byte) int16 {
	u = ^u
	t := (int(u&0x0F) << 3) + 0x84
	t <<= (u & 0x70) >> 4
	if u&0x80 != 0 {
		return int16(0x84 - t)
	}
	return int16(t - 0x84)
}

func alawDecode(a byte) int16 {
	a ^= 0x55
	t := int(a&0x0F) << 4
	seg := (a & 0x70) >> 4
	switch seg {
	case 0:
		t += 8
	case 1:
		t += 0x108
	default:
		t += 0x108
		t <<= seg - 1
	}
	if a&0x80 != 0 {
		return int16(t)
	}
	return int16(-t)
}

// MulawToLinear decodes one μ-law code word.
func MulawToLinear(u byte) int16 { return mulawToLinear[u] }

// AlawToLinear decodes one A-law code word.
func AlawToLinear(a byte) int16 { return alawToLinear[a] }

// segment returns the G.711 segment (0-7) of a magnitude: the number of
// bits above the 4-bit mantissa, with ends the upper bounds of segments.
func segment(v int, ends *[8]int) int {
	for i, e := range ends {
		if v <= e {
			return i
		}
	}
	return 8
}

var (
	mulawSegEnd = [8]int{0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF}
	alawSegEnd  = [8]int{0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF}
)

// MulawFromLinear encodes one sample as μ-law.
func MulawFromLinear(s int16) byte {
	v := int(s)
	mask := byte(0xFF)
	if v < 0 {
		v = ^v
		mask = 0x7F
	}
	v >>= 2 // 14-bit
	const clip = 8159
	if v > clip {
		v = clip
	}
	v += 0x84 >> 2
	seg := segment(v, &mulawSegEnd)
	if seg >= 8 {
		return 0x7F ^ mask
	}
	return byte(seg<<4|(v>>(seg+1))&0x0F) ^ mask
}

// AlawFromLinear encodes one sample as A-law.
func AlawFromLinear(s int16) byte {
	v := int(s) >> 3 // 13-bit
	mask := byte(0xD5)
	if v < 0 {
		v = -v - 1
		mask = 0x55
	}
	seg := segment(v, &alawSegEnd)
	if seg >= 8 {
		return 0x7F ^ mask
	}
	a := byte(seg << 4)
	if seg < 2 {
		a |= byte(v>>1) & 0x0F
	} else {
		a |= byte(v>>seg) & 0x0F
	}
	return a ^ mask
}

// EncodeMulaw appends the μ-law encoding of pcm to dst.
func EncodeMulaw(dst []byte, pcm []int16) []byte {
	for _, s := range pcm {
		dst = append(dst, MulawFromLinear(s))
	}
	return dst
}

// EncodeAlaw appends the A-law encoding of pcm to dst.
func EncodeAlaw(dst []byte, pcm []int16) []byte {
	for _, s := range pcm {
		dst = append(dst, AlawFromLinear(s))
	}
	return dst
}

// DecodeMulaw appends the linear samples of μ-law data to dst.
func DecodeMulaw(dst []int16, data []byte) []int16 {
	for _, b := range data {
		dst = append(dst, mulawToLinear[b])
	}
	return dst
}

// DecodeAlaw appends the linear samples of A-law data to dst.
func DecodeAlaw(dst []int16, data []byte) []int16 {
	for _, b := range data {
		dst = append(dst, alawToLinear[b])
	}
	return dst
}
