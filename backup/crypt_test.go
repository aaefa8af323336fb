package backup

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every way of damaging a multi-chunk object is caught and names the chunk.
func TestStreamTampering(t *testing.T) {
	key := make([]byte, 32)
	rand.Read(key)
	pt := make([]byte, 2*ChunkSize+1000) // three chunks
	rand.Read(pt)
	var sealed bytes.Buffer
	size, sum, chunks, err := sealStream(&sealed, bytes.NewReader(pt), key, "B1/db")
	if err != nil || size != int64(len(pt)) || chunks != 3 {
		t.Fatalf("seal: %d %d %v", size, chunks, err)
	}
	want := ObjectInfo{Size: size, SHA256: hex.EncodeToString(sum), Chunks: chunks}
	frame := ChunkSize + tagSize
	ct := sealed.Bytes()
	open := func(b []byte, ctxName string) error {
		h := sha256.New()
		return openStream(h, bytes.NewReader(b), key, ctxName, "db", want)
	}
	if err := open(ct, "B1/db"); err != nil {
		t.Fatalf("intact: %v", err)
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	c0, c1, c2 := ct[:frame], ct[frame:2*frame], ct[2*frame:]
	flipped := append([]byte(nil), ct...)
	flipped[frame+7] ^= 0x80
	for _, tc := range []struct {
		name string
		b    []byte
		ctx  string
		want string
	}{
		{"changed byte in chunk 1", flipped, "B1/db", "chunk 1: failed authentication"},
		{"missing middle chunk", cat(c0, c2), "B1/db", "chunk 1: failed authentication"},
		{"swapped chunks", cat(c1, c0, c2), "B1/db", "chunk 0: failed authentication"},
		{"missing last chunk", cat(c0, c1), "B1/db", "chunk 2: missing"},
		{"appended data", cat(ct, c2), "B1/db", "chunk 2"},
		{"object of another backup", ct, "B2/db", "chunk 0: failed authentication"},
		{"empty", nil, "B1/db", "chunk 0: missing"},
	} {
		err := open(tc.b, tc.ctx)
		var ce *ChunkError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
}

// The backup key must be kept apart from the KEK: not in the keys directory, not equal.
func TestLoadKeyRefusesTheKEK(t *testing.T) {
	dir := t.TempDir()
	kekPath := filepath.Join(dir, "data", "keys", "kek")
	inKeys := filepath.Join(dir, "data", "keys", "backup.key")
	if _, err := GenerateKeyFile(inKeys); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKey(inKeys, kekPath, nil); err == nil || !strings.Contains(err.Error(), "apart from the KEK") {
		t.Fatalf("key in the keys dir: %v", err)
	}
	apart := filepath.Join(dir, "secret", "backup.key")
	k, err := GenerateKeyFile(apart)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(apart)
	raw, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if _, err := LoadKey(apart, kekPath, raw); err == nil || !strings.Contains(err.Error(), "equals the KEK") {
		t.Fatalf("key equal to the KEK: %v", err)
	}
	got, err := LoadKey(apart, kekPath, []byte("another key"))
	if err != nil || got.ID != k.ID {
		t.Fatalf("a good key: %v", err)
	}
	os.Chmod(apart, 0o644)
	if _, err := LoadKey(apart, kekPath, nil); err == nil || !strings.Contains(err.Error(), "readable by others") {
		t.Fatalf("world-readable key: %v", err)
	}
	if _, err := GenerateKeyFile(apart); err == nil {
		t.Fatal("keygen overwrote an existing key")
	}
}

// Content-defined parts survive an insertion: only the parts around it change, so an
// incremental backup uploads little of a database that grew in the middle.
func TestChunkerSharesUnchangedParts(t *testing.T) {
	k := testKey(t)
	data := make([]byte, 16<<20)
	rand.Read(data)
	edited := append(append(append([]byte(nil), data[:5<<20]...), []byte("a new row in the middle")...), data[5<<20:]...)
	parts := func(b []byte) map[string]int {
		out := map[string]int{}
		c := newChunker(bytes.NewReader(b), k)
		total := 0
		for {
			p, err := c.next()
			if err != nil {
				break
			}
			if len(p) > cdcMax || (len(p) < cdcMin && total+len(p) != len(b)) {
				t.Fatalf("part of %d bytes", len(p))
			}
			total += len(p)
			sum := sha256.Sum256(p)
			out[hex.EncodeToString(sum[:])] = len(p)
		}
		if total != len(b) {
			t.Fatalf("parts cover %d of %d bytes", total, len(b))
		}
		return out
	}
	a, b := parts(data), parts(edited)
	changed := 0
	for h, n := range b {
		if _, ok := a[h]; !ok {
			changed += n
		}
	}
	if changed > 3*cdcMax {
		t.Fatalf("%d of %d bytes in new parts after a 23-byte insertion (%d parts before)", changed, len(edited), len(a))
	}
}

func TestWithSearchPath(t *testing.T) {
	got, err := withSearchPath("postgres://u@h:5432/db?sslmode=disable&search_path=live", "drill_1")
	if err != nil || !strings.Contains(got, "search_path=drill_1") || strings.Contains(got, "live") || !strings.Contains(got, "sslmode=disable") {
		t.Fatalf("%q %v", got, err)
	}
}
