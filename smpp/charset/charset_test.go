package charset

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
)

func unhex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// defaultTable and extensionTable restate GSM 03.38 independently of the
// tables in gsm7.go, as septet → character.
var defaultTable = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
	"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"

var extensionTable = []struct {
	septet byte
	r      rune
}{
	{0x0A, '\f'}, {0x14, '^'}, {0x28, '{'}, {0x29, '}'}, {0x2F, '\\'},
	{0x3C, '['}, {0x3D, '~'}, {0x3E, ']'}, {0x40, '|'}, {0x65, '€'},
}

func TestGSM7DefaultTableRoundTrips(t *testing.T) {
	runes := []rune(defaultTable)
	if len(runes) != 128 {
		t.Fatalf("table restated with %d characters", len(runes))
	}
	for septet, r := range runes {
		if septet == escape {
			continue
		}
		got, ok := EncodeGSM7(string(r))
		if !ok || !bytes.Equal(got, []byte{byte(septet)}) {
			t.Errorf("EncodeGSM7(%q) = %X, %v; want %02X", r, got, ok, septet)
		}
		if s := DecodeGSM7([]byte{byte(septet)}); s != string(r) {
			t.Errorf("DecodeGSM7(%02X) = %q, want %q", septet, s, r)
		}
	}
}

func TestGSM7ExtensionTableRoundTrips(t *testing.T) {
	if len(extensionTable) != len(gsmExtension) {
		t.Errorf("%d extension characters, want %d", len(gsmExtension), len(extensionTable))
	}
	for _, c := range extensionTable {
		got, ok := EncodeGSM7(string(c.r))
		if want := []byte{escape, c.septet}; !ok || !bytes.Equal(got, want) {
			t.Errorf("EncodeGSM7(%q) = %X, %v; want %X", c.r, got, ok, want)
		}
		if s := DecodeGSM7([]byte{escape, c.septet}); s != string(c.r) {
			t.Errorf("DecodeGSM7(1B%02X) = %q, want %q", c.septet, s, c.r)
		}
	}
	all := strings.ReplaceAll(defaultTable, "\x1b", "") + "\f^{}\\[~]|€"
	septets, ok := EncodeGSM7(all)
	if !ok || DecodeGSM7(septets) != all {
		t.Errorf("the whole alphabet does not round-trip")
	}
}

func TestEncodeGSM7(t *testing.T) {
	tests := []struct {
		in     string
		want   string // hex
		wantOK bool
	}{
		{"", "", true},
		{"Hello", "48656C6C6F", true},
		{"@", "00", true},
		{"€5", "1B6535", true},
		{"{x}", "1B28781B29", true},
		{"ç", "3F", false}, // GSM has Ç only
		{"a😀b", "613F62", false},
		{"Жук", "3F3F3F", false},
		{"\x1b", "3F", false}, // the escape is no character
		{"\xff", "3F", false}, // invalid UTF-8
	}
	for _, tt := range tests {
		got, ok := EncodeGSM7(tt.in)
		if !bytes.Equal(got, unhex(tt.want)) || ok != tt.wantOK {
			t.Errorf("EncodeGSM7(%q) = %X, %v; want %s, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
		if IsGSM7(tt.in) != tt.wantOK {
			t.Errorf("IsGSM7(%q) = %v", tt.in, !tt.wantOK)
		}
	}
}

func TestDecodeGSM7Oddities(t *testing.T) {
	tests := []struct {
		name string
		in   string // hex
		want string
	}{
		{"escape before a septet without extension", "1B41", "A"},
		{"trailing escape", "411B", "A "},
		{"double escape", "1B1B65", " €"},
		{"high bit set", "41C142", "A\uFFFDB"},
		{"escape before high bit", "1B80", "\uFFFD"},
	}
	for _, tt := range tests {
		if got := DecodeGSM7(unhex(tt.in)); got != tt.want {
			t.Errorf("%s: DecodeGSM7(%s) = %q, want %q", tt.name, tt.in, got, tt.want)
		}
	}
}

func TestPackSeptets(t *testing.T) {
	// Vectors from GSM 03.40 examples, checked with an independent
	// bit-string packer.
	tests := []struct {
		text   string
		packed string
	}{
		{"hellohello", "E8329BFD4697D9EC37"},
		{"ABCDEFGH", "41E19058341E91"}, // eight septets fill seven octets
		{"Hi", "C834"},
		{"€", "9B32"},
		{"", ""},
	}
	for _, tt := range tests {
		septets, _ := EncodeGSM7(tt.text)
		got := PackSeptets(septets)
		if !bytes.Equal(got, unhex(tt.packed)) {
			t.Errorf("PackSeptets(%q) = %X, want %s", tt.text, got, tt.packed)
		}
		if back := UnpackSeptets(got, len(septets)); !bytes.Equal(back, septets) {
			t.Errorf("UnpackSeptets(%X) = %X, want %X", got, back, septets)
		}
	}
	if got := UnpackSeptets(unhex("C834"), 10); !bytes.Equal(got, []byte("Hi")) {
		t.Errorf("UnpackSeptets asked for too many = %q, want the 2 there are", got)
	}
	if got := UnpackSeptets(nil, -1); len(got) != 0 {
		t.Errorf("UnpackSeptets(nil, -1) = %X", got)
	}
}

func TestPackUserData(t *testing.T) {
	udh := ConcatUDH8(0xCC, 2, 1)
	tests := []struct {
		text string
		want string
	}{
		// A 6-octet header is 48 bits; one fill bit puts the text on
		// the septet boundary at bit 49.
		{"A", "050003CC0201" + "82"},
		{"AB", "050003CC0201" + "8242"},
		{"hellohello", "050003CC0201" + "D06536FB8D2EB3D96F"},
	}
	for _, tt := range tests {
		septets, _ := EncodeGSM7(tt.text)
		got := PackUserData(udh, septets)
		if !bytes.Equal(got, unhex(tt.want)) {
			t.Errorf("PackUserData(%q) = %X, want %s", tt.text, got, tt.want)
		}
		h, back, ok := UnpackUserData(got, len(septets))
		if !ok || !bytes.Equal(h, udh) || !bytes.Equal(back, septets) {
			t.Errorf("UnpackUserData(%X) = %X %q %v", got, h, back, ok)
		}
	}
	// A 7-octet header (16-bit reference) is 56 bits, already a septet
	// boundary: no fill.
	got := PackUserData(ConcatUDH16(0x0102, 2, 1), []byte("A"))
	if want := unhex("06080401020201" + "41"); !bytes.Equal(got, want) {
		t.Errorf("PackUserData with 16-bit header = %X, want %X", got, want)
	}
	for _, bad := range []string{"", "05000300"} {
		if _, _, ok := UnpackUserData(unhex(bad), 1); ok {
			t.Errorf("UnpackUserData(%s) accepted", bad)
		}
	}
}

func TestLatin1(t *testing.T) {
	tests := []struct {
		in     string
		want   string
		wantOK bool
	}{
		{"Grüße, ¿qué?", "4772FC DF652C20BF 7175E93F", true},
		{"ÿ", "FF", true},
		{"€", "3F", false}, // not in ISO-8859-1
		{"a😀", "613F", false},
	}
	for _, tt := range tests {
		want := unhex(strings.ReplaceAll(tt.want, " ", ""))
		got, ok := EncodeLatin1(tt.in)
		if !bytes.Equal(got, want) || ok != tt.wantOK {
			t.Errorf("EncodeLatin1(%q) = %X, %v; want %X, %v", tt.in, got, ok, want, tt.wantOK)
		}
		if tt.wantOK && DecodeLatin1(got) != tt.in {
			t.Errorf("DecodeLatin1(%X) = %q", got, DecodeLatin1(got))
		}
	}
	var all []byte
	for i := range 256 {
		all = append(all, byte(i))
	}
	if back, ok := EncodeLatin1(DecodeLatin1(all)); !ok || !bytes.Equal(back, all) {
		t.Error("the 256 Latin-1 octets do not round-trip")
	}
}

func TestUCS2(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"Hé😀", "004800E9D83DDE00"},
		{"Привет", "041F04400438043204350442"},
		{"\U0010FFFF", "DBFFDFFF"},
		{"\xff", "FFFD"},
		{"", ""},
	}
	for _, tt := range tests {
		got := EncodeUCS2(tt.in)
		if !bytes.Equal(got, unhex(tt.want)) {
			t.Errorf("EncodeUCS2(%q) = %X, want %s", tt.in, got, tt.want)
		}
		if tt.in != "\xff" && DecodeUCS2(got) != tt.in {
			t.Errorf("DecodeUCS2(%X) = %q, want %q", got, DecodeUCS2(got), tt.in)
		}
	}
	bad := []struct {
		in   string
		want string
	}{
		{"D83D", "\uFFFD"},          // high surrogate at the end
		{"D83D0041", "\uFFFDA"},     // high surrogate then a letter
		{"DE000041", "\uFFFDA"},     // low surrogate first
		{"D83DD83DDE00", "\uFFFD😀"}, // two highs, then a low
		{"004100", "A\uFFFD"},       // odd length
		{"00", "\uFFFD"},            // a single octet
	}
	for _, tt := range bad {
		if got := DecodeUCS2(unhex(tt.in)); got != tt.want {
			t.Errorf("DecodeUCS2(%s) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestChoose(t *testing.T) {
	tests := []struct {
		in     string
		coding byte
		data   string
	}{
		{"Hello", GSM7, "48656C6C6F"},
		{"[€]", GSM7, "1B3C1B651B3E"},
		{"Olá ç", UCS2, "004F006C00E1002000E7"},
		{"😀", UCS2, "D83DDE00"},
		{"", GSM7, ""},
	}
	for _, tt := range tests {
		coding, data := Choose(tt.in)
		if coding != tt.coding || !bytes.Equal(data, unhex(tt.data)) {
			t.Errorf("Choose(%q) = %d %X, want %d %s", tt.in, coding, data, tt.coding, tt.data)
		}
	}
}

func TestDecode(t *testing.T) {
	tests := []struct {
		coding byte
		in     string
		want   string
		ok     bool
	}{
		{GSM7, "1B65", "€", true},
		{ASCII, "48692E", "Hi.", true},
		{ASCII, "E9", "é", true}, // mislabelled Latin-1
		{Latin1, "E9", "é", true},
		{UCS2, "D83DDE00", "😀", true},
		{0xF0, "1B65", "€", true}, // GSM 7-bit with message class 0
		{0xF1, "41", "A", true},
		{0xF4, "41", "", false}, // 8-bit data with a message class
		{0x04, "41", "", false}, // binary
		{0x02, "41", "", false},
	}
	for _, tt := range tests {
		got, ok := Decode(tt.coding, unhex(tt.in))
		if got != tt.want || ok != tt.ok {
			t.Errorf("Decode(%#x, %s) = %q, %v; want %q, %v", tt.coding, tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
