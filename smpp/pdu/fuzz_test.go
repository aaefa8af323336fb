package pdu

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
)

// The seed corpora live in testdata/fuzz/<FuzzName>/: real PDUs of every
// common kind (the golden files) plus malformed ones.

func FuzzUnmarshal(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Unmarshal(b)
		if err != nil {
			var se *StatusError
			if !errors.As(err, &se) || p != nil {
				t.Fatalf("Unmarshal = %#v, %v; want nil and a *StatusError", p, err)
			}
			return
		}
		// Whatever decodes must encode, and decode again to the same
		// value: a relaying SMSC must not change what it passes on.
		out, err := Marshal(p)
		if err != nil {
			t.Fatalf("decoded %#v does not encode: %v", p, err)
		}
		q, err := Unmarshal(out)
		if err != nil {
			t.Fatalf("re-encoded %X does not decode: %v", out, err)
		}
		p.Header().Length, q.Header().Length = 0, 0
		if !reflect.DeepEqual(p, q) {
			t.Fatalf("round trip changed the PDU:\n got  %#v\n want %#v", q, p)
		}
		again, err := Marshal(q)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("encoding not stable: %X then %X (%v)", out, again, err)
		}
	})
}

func FuzzReadPDU(f *testing.F) {
	const maxLen = 512
	f.Fuzz(func(t *testing.T, stream []byte) {
		r := bytes.NewReader(stream)
		for {
			b, err := ReadPDU(r, maxLen)
			if err != nil {
				var se *StatusError
				if err != io.EOF && err != io.ErrUnexpectedEOF && (!errors.As(err, &se) || se.Status != ESME_RINVCMDLEN) {
					t.Fatalf("ReadPDU error %v", err)
				}
				return
			}
			if len(b) < HeaderLen || len(b) > maxLen {
				t.Fatalf("ReadPDU returned %d octets", len(b))
			}
			if h, _ := ParseHeader(b); int(h.Length) != len(b) {
				t.Fatalf("command_length %d for %d octets", h.Length, len(b))
			}
			_, _ = Unmarshal(b)
		}
	})
}

func FuzzParseReceipt(f *testing.F) {
	f.Fuzz(func(t *testing.T, text []byte) {
		r, err := ParseReceipt(text)
		if err != nil {
			return
		}
		// Formatting what was parsed and parsing it again must settle:
		// the SMSC side writes receipts that the ESME side reads back.
		out := FormatReceipt(r)
		r2, err := ParseReceipt(out)
		if err != nil {
			t.Fatalf("formatted receipt %q does not parse: %v", out, err)
		}
		if r2.ID != r.ID || r2.Stat != r.Stat || r2.Text != r.Text || r2.Sub != r.Sub || r2.Dlvrd != r.Dlvrd {
			t.Fatalf("round trip changed the receipt:\n got  %+v\n want %+v", r2, r)
		}
		if out2 := FormatReceipt(r2); !bytes.Equal(out, out2) {
			t.Fatalf("format not stable:\n%q\n%q", out, out2)
		}
	})
}
