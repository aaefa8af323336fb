package voice

import (
	"strings"
	"testing"
)

// FuzzParseINFODigit: SIP INFO bodies give one valid key or nothing.
func FuzzParseINFODigit(f *testing.F) {
	f.Add("application/dtmf-relay", []byte("Signal=5\r\nDuration=160\r\n"))
	f.Add("application/dtmf-relay", []byte("Signal=11\r\n"))
	f.Add("application/dtmf", []byte("#"))
	f.Add("application/dtmf", []byte("xx"))
	f.Fuzz(func(t *testing.T, kind string, b []byte) {
		d, ok := ParseINFODigit(kind, b)
		if ok && !strings.ContainsRune("0123456789*#ABCD", d) {
			t.Fatalf("key %q from %q", d, b)
		}
	})
}
