package charset

import (
	"bytes"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// The seed corpora live in testdata/fuzz/<FuzzName>/.

func FuzzDecodeGSM7(f *testing.F) {
	f.Fuzz(func(t *testing.T, septets []byte) {
		s := DecodeGSM7(septets)
		if !utf8.ValidString(s) {
			t.Fatalf("DecodeGSM7(%X) is not UTF-8", septets)
		}
		if again, ok := EncodeGSM7(s); ok && DecodeGSM7(again) != s {
			t.Fatalf("%q re-encodes to %X, which decodes to %q", s, again, DecodeGSM7(again))
		}
		// Packing keeps the low seven bits of every septet.
		masked := bytes.Clone(septets)
		for i := range masked {
			masked[i] &= 0x7F
		}
		if got := UnpackSeptets(PackSeptets(septets), len(septets)); !bytes.Equal(got, masked) {
			t.Fatalf("pack/unpack of %X gave %X", septets, got)
		}
		udh := ConcatUDH8(1, 2, 1)
		if h, got, ok := UnpackUserData(PackUserData(udh, septets), len(septets)); !ok || !bytes.Equal(h, udh) || !bytes.Equal(got, masked) {
			t.Fatalf("user data pack/unpack of %X gave %X", septets, got)
		}
	})
}

func FuzzDecodeUCS2(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		s := DecodeUCS2(b)
		if !utf8.ValidString(s) {
			t.Fatalf("DecodeUCS2(%X) is not UTF-8", b)
		}
		again := EncodeUCS2(s)
		if DecodeUCS2(again) != s {
			t.Fatalf("%q re-encodes to %X, which decodes differently", s, again)
		}
		if len(b)%2 == 0 && !strings.ContainsRune(s, utf8.RuneError) && !bytes.Equal(again, b) {
			t.Fatalf("clean UTF-16 %X re-encodes as %X", b, again)
		}
	})
}

func FuzzParseUDH(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		ref, total, seq, body, ok := ParseUDH(b)
		if !ok {
			return
		}
		if total < 1 || total > MaxParts || seq < 1 || seq > total || ref < 0 || ref > 0xFFFF {
			t.Fatalf("ParseUDH(%X) = ref %d total %d seq %d", b, ref, total, seq)
		}
		if !bytes.HasSuffix(b, body) || len(body) >= len(b) {
			t.Fatalf("body %X is not what follows the header in %X", body, b)
		}
	})
}

// FuzzJoiner drives a Joiner with a stream of segments, five octets each
// (key, ref, total, seq, clock step), and checks that its bounds hold and
// that every message it completes is the right one. A segment's body is
// a function of its identity, so the right message is known.
func FuzzJoiner(f *testing.F) {
	body := func(key string, ref, total, seq int) []byte {
		return bytes.Repeat([]byte{key[0], byte(seq)}, max(ref+total+seq, 0)%5)
	}
	f.Fuzz(func(t *testing.T, ops []byte) {
		c := newClock()
		const maxPending, maxBytes = 4, 40
		j := NewJoiner(JoinerOptions{MaxPending: maxPending, MaxBytes: maxBytes, Expiry: time.Minute, Now: c.now})
		for ; len(ops) >= 5; ops = ops[5:] {
			key := string(rune('a' + ops[0]%3))
			ref := int(ops[1] % 4)
			total := int(ops[2]%6) - 1 // -1 and 0 are invalid on purpose
			seq := int(ops[3]%8) - 1
			c.advance(time.Duration(ops[4]) * time.Second)
			msg, done := j.Add(key, ref, total, seq, body(key, ref, total, seq))
			if done {
				var want []byte
				for s := 1; s <= total; s++ {
					want = append(want, body(key, ref, total, s)...)
				}
				if !bytes.Equal(msg, want) {
					t.Fatalf("completed %X, want %X", msg, want)
				}
			}
			if n := j.Len(); n > maxPending {
				t.Fatalf("%d pending, bound %d", n, maxPending)
			}
			if j.bytes > maxBytes || j.bytes < 0 {
				t.Fatalf("%d octets held, bound %d", j.bytes, maxBytes)
			}
			if len(j.pending) != j.order.Len() {
				t.Fatalf("index of %d, list of %d", len(j.pending), j.order.Len())
			}
		}
	})
}

func FuzzSplit(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		coding, parts, err := Split(s)
		if err != nil {
			return
		}
		if len(parts) != Units(s) {
			t.Fatalf("Split gave %d parts, Units says %d", len(parts), Units(s))
		}
		var joined []byte
		for _, p := range parts {
			n := len(p)
			limit := GSM7Part
			if coding == UCS2 {
				n /= 2
				limit = UCS2Part
			}
			if len(parts) == 1 {
				limit = map[byte]int{GSM7: GSM7Single, UCS2: UCS2Single}[coding]
			}
			if n > limit {
				t.Fatalf("part of %d units, limit %d", n, limit)
			}
			joined = append(joined, p...)
		}
		got, _ := Decode(coding, joined)
		if want := string([]rune(s)); got != want {
			t.Fatalf("joined parts decode to %q, want %q", got, want)
		}
	})
}
