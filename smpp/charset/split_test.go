package charset

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestUnits(t *testing.T) {
	r := strings.Repeat
	tests := []struct {
		name    string
		in      string
		coding  byte
		length  int // septets or code units
		units   int
		partLen []int // septets or code units of each part
	}{
		{"empty", "", GSM7, 0, 1, []int{0}},
		{"160 GSM characters", r("a", 160), GSM7, 160, 1, []int{160}},
		{"161 GSM characters", r("a", 161), GSM7, 161, 2, []int{153, 8}},
		{"306 GSM characters", r("a", 306), GSM7, 306, 2, []int{153, 153}},
		{"307 GSM characters", r("a", 307), GSM7, 307, 3, []int{153, 153, 1}},
		{"euro counts 2 septets", "€", GSM7, 2, 1, []int{2}},
		{"80 euros fill one segment", r("€", 80), GSM7, 160, 1, []int{160}},
		{"81 euros need two", r("€", 81), GSM7, 162, 2, []int{152, 10}},
		{"159 characters and a euro", r("a", 159) + "€", GSM7, 161, 2, []int{153, 8}},
		{"escape pair not split at 153", r("a", 152) + "€" + r("a", 10), GSM7, 164, 2, []int{152, 12}},
		{"escape pair pushes a third part", r("a", 152) + "€" + r("a", 152), GSM7, 306, 3, []int{152, 153, 1}},
		{"70 UCS-2 characters", r("Ж", 70), UCS2, 70, 1, []int{70}},
		{"71 UCS-2 characters", r("Ж", 71), UCS2, 71, 2, []int{67, 4}},
		{"134 UCS-2 characters", r("Ж", 134), UCS2, 134, 2, []int{67, 67}},
		{"135 UCS-2 characters", r("Ж", 135), UCS2, 135, 3, []int{67, 67, 1}},
		{"one emoji forces UCS-2", r("a", 69) + "😀", UCS2, 71, 2, []int{67, 4}},
		{"35 emoji fill one segment", r("😀", 35), UCS2, 70, 1, []int{70}},
		{"36 emoji need two", r("😀", 36), UCS2, 72, 2, []int{66, 6}},
		{"surrogate pair not split at 67", r("Ж", 66) + "😀" + r("Ж", 10), UCS2, 78, 2, []int{66, 12}},
		{"1600 GSM characters", r("a", 1600), GSM7, 1600, 11, append(repeatInt(153, 10), 70)},
		{"1600 UCS-2 characters", r("Ж", 1600), UCS2, 1600, 24, append(repeatInt(67, 23), 59)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			coding, n := Length(tt.in)
			if coding != tt.coding || n != tt.length {
				t.Errorf("Length = %d %d, want %d %d", coding, n, tt.coding, tt.length)
			}
			if got := Units(tt.in); got != tt.units {
				t.Errorf("Units = %d, want %d", got, tt.units)
			}
			coding, parts, err := Split(tt.in)
			if err != nil || coding != tt.coding {
				t.Fatalf("Split = %d, %v", coding, err)
			}
			var lens []int
			var joined []byte
			for _, p := range parts {
				if coding == UCS2 {
					lens = append(lens, len(p)/2)
				} else {
					lens = append(lens, len(p))
				}
				joined = append(joined, p...)
				// Every part decodes on its own, without a broken
				// escape or surrogate.
				if s, _ := Decode(coding, p); strings.ContainsRune(s, '\uFFFD') || (coding == GSM7 && len(p) > 0 && p[len(p)-1] == escape) {
					t.Errorf("part %X does not stand alone", p)
				}
			}
			if !equalInts(lens, tt.partLen) {
				t.Errorf("part lengths %v, want %v", lens, tt.partLen)
			}
			if s, _ := Decode(coding, joined); s != tt.in {
				t.Errorf("joined parts decode to %q", s)
			}
		})
	}
}

func repeatInt(v, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestSplitTooLong(t *testing.T) {
	max := strings.Repeat("a", MaxParts*GSM7Part)
	if _, parts, err := Split(max); err != nil || len(parts) != MaxParts {
		t.Errorf("Split of %d characters: %d parts, %v", len(max), len(parts), err)
	}
	if _, _, err := Split(max + "a"); !errors.Is(err, ErrTooLong) {
		t.Errorf("Split of %d characters: %v, want ErrTooLong", len(max)+1, err)
	}
}

func TestSplitSingleIsChoose(t *testing.T) {
	for _, s := range []string{"Hello", "😀", strings.Repeat("€", 80)} {
		c1, d := Choose(s)
		c2, parts, err := Split(s)
		if err != nil || c1 != c2 || len(parts) != 1 || !bytes.Equal(parts[0], d) {
			t.Errorf("Split(%q) differs from Choose", s)
		}
	}
}

func TestParseUDH(t *testing.T) {
	tests := []struct {
		name            string
		in              string // hex
		ref, total, seq int
		body            string // hex
		ok              bool
	}{
		{"8-bit reference", "050003CC0302" + "4142", 0xCC, 3, 2, "4142", true},
		{"16-bit reference", "06080401020201" + "41", 0x0102, 2, 1, "41", true},
		{"empty body", "0500030A0202", 10, 2, 2, "", true},
		{"ports then concatenation", "0B05040B840B8400030A0201" + "41", 10, 2, 1, "41", true},
		{"only ports: a whole message", "0605040B840B84" + "41", 0, 1, 1, "41", true},
		{"empty header", "00" + "41", 0, 1, 1, "41", true},
		{"header longer than data", "050003CC03", 0, 0, 0, "", false},
		{"element longer than header", "03000301", 0, 0, 0, "", false},
		{"element header cut", "0100", 0, 0, 0, "", false},
		{"concatenation element of 2 octets", "0400020102", 0, 0, 0, "", false},
		{"16-bit element of 3 octets", "050803010201", 0, 0, 0, "", false},
		{"total 0", "050003CC0000", 0, 0, 0, "", false},
		{"seq 0", "050003CC0200", 0, 0, 0, "", false},
		{"seq beyond total", "050003CC0203", 0, 0, 0, "", false},
		{"nothing", "", 0, 0, 0, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ref, total, seq, body, ok := ParseUDH(unhex(tt.in))
			if ok != tt.ok || ref != tt.ref || total != tt.total || seq != tt.seq || !bytes.Equal(body, unhex(tt.body)) {
				t.Errorf("ParseUDH = %d %d %d %X %v; want %d %d %d %s %v",
					ref, total, seq, body, ok, tt.ref, tt.total, tt.seq, tt.body, tt.ok)
			}
		})
	}
	if got := ConcatUDH8(0xCC, 3, 2); !bytes.Equal(got, unhex("050003CC0302")) {
		t.Errorf("ConcatUDH8 = %X", got)
	}
	if got := ConcatUDH16(0x0102, 2, 1); !bytes.Equal(got, unhex("06080401020201")) {
		t.Errorf("ConcatUDH16 = %X", got)
	}
}
