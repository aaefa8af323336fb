package audit

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

// fuzzKeys is a fixed key pair, so the committed seed corpus holds notes that verify.
func fuzzKeys(t testing.TB) (note.Signer, note.Verifier) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{42}, 64)), KeyName)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return s, v
}

// FuzzWitnessFile feeds arbitrary witness files to FileWitness.Latest: it must never
// panic, and whatever it returns must be a checkpoint that verifies.
func FuzzWitnessFile(f *testing.F) {
	f.Add([]byte(""))
	f.Add([]byte("\n\n"))
	f.Add([]byte("not*base64\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, v := fuzzKeys(t)
		path := filepath.Join(t.TempDir(), "witness")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		cp, err := FileWitness{Path: path}.Latest(context.Background(), v)
		if err != nil || cp == nil {
			return
		}
		if again, err := ParseCheckpoint(cp.Note, v); err != nil || again.Size != cp.Size || again.Root != cp.Root {
			t.Fatalf("Latest returned a checkpoint that does not verify: %v", err)
		}
	})
}
