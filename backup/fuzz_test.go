package backup

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"testing"
)

// FuzzOpenStream: whatever bytes a destination returns, opening them never panics and
// never releases data that was not sealed under the key (only the one sealed stream
// opens, to its plaintext).
func FuzzOpenStream(f *testing.F) {
	key := bytes.Repeat([]byte{7}, 32)
	pt := []byte("recording bytes")
	var sealed bytes.Buffer
	size, sum, chunks, _ := sealStream(&sealed, bytes.NewReader(pt), key, "B/obj")
	want := ObjectInfo{Size: size, SHA256: hexString(sum), Chunks: chunks}
	f.Add(sealed.Bytes())
	f.Add(sealed.Bytes()[:10])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var out bytes.Buffer
		err := openStream(&out, bytes.NewReader(b), key, "B/obj", "obj", want)
		if err == nil && !bytes.Equal(out.Bytes(), pt) {
			t.Fatalf("opened to %q", out.Bytes())
		}
	})
}

// FuzzManifestFile: a stored manifest of any shape is refused cleanly by LoadManifest.
func FuzzManifestFile(f *testing.F) {
	k, _ := NewKey(bytes.Repeat([]byte{9}, 32))
	dk := bytes.Repeat([]byte{1}, 32)
	body, _ := json.Marshal(Manifest{Format: Format, ID: "B1"})
	good, _ := json.Marshal(manifestFile{Format: Format, ID: "B1", KeyID: k.ID, WrappedKey: k.wrap(dk, "B1"), Sealed: sealRandom(dk, body, manifestAAD("B1"))})
	f.Add(good)
	f.Add([]byte(`{"format":"trunkline-backup-1","id":"B1"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d := &memDest{objs: map[string][]byte{"backups/B1/manifest": b}}
		m, _, err := LoadManifest(t.Context(), d, k, "B1")
		if err == nil && m.ID != "B1" {
			t.Fatalf("opened a manifest of %s", m.ID)
		}
	})
}

// memDest is an in-memory Destination for the fuzzers.
type memDest struct{ objs map[string][]byte }

func (m *memDest) Name() string                                   { return "mem" }
func (m *memDest) Put(context.Context, string, string) error      { return nil }
func (m *memDest) Delete(context.Context, string) error           { return nil }
func (m *memDest) List(context.Context, string) ([]string, error) { return nil, nil }
func (m *memDest) Exists(_ context.Context, key string) (bool, error) {
	_, ok := m.objs[key]
	return ok, nil
}
func (m *memDest) Get(_ context.Context, key string) (io.ReadCloser, error) {
	b, ok := m.objs[key]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func hexString(b []byte) string { return hex.EncodeToString(b) }
