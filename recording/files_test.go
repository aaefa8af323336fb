package recording

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/iotest"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/keys"
	"github.com/trunkline/trunkline/store"
	"github.com/trunkline/trunkline/store/storetest"
)

var updateSeeds = flag.Bool("update", false, "rewrite the seed corpus under testdata/fuzz/FuzzOpen")

// memKeyStore is a KeyStore in memory with the store's insert-if-absent semantics.
type memKeyStore struct {
	mu       sync.Mutex
	keys     map[string][]byte
	puts     int
	notFound error           // wrapped when a key is absent; ErrKeyNotFound if nil
	fail     error           // when set, every call fails with it
	barrier  *sync.WaitGroup // when set, each AccountDataKey answer waits for all the others
}

func newMemKeyStore() *memKeyStore { return &memKeyStore{keys: map[string][]byte{}} }

func (s *memKeyStore) AccountDataKey(ctx context.Context, accountID, purpose string) ([]byte, error) {
	v, err := s.lookup(accountID, purpose)
	if s.barrier != nil {
		s.barrier.Done()
		s.barrier.Wait()
	}
	return v, err
}

func (s *memKeyStore) lookup(accountID, purpose string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return nil, s.fail
	}
	v, ok := s.keys[accountID+"/"+purpose]
	if !ok {
		nf := s.notFound
		if nf == nil {
			nf = ErrKeyNotFound
		}
		return nil, fmt.Errorf("memkeys %s/%s: %w", accountID, purpose, nf)
	}
	return bytes.Clone(v), nil
}

func (s *memKeyStore) PutAccountDataKey(ctx context.Context, accountID, purpose string, wrapped []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return nil, s.fail
	}
	s.puts++
	k := accountID + "/" + purpose
	if v, ok := s.keys[k]; ok {
		return bytes.Clone(v), nil
	}
	s.keys[k] = bytes.Clone(wrapped)
	return bytes.Clone(wrapped), nil
}

func (s *memKeyStore) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.keys)
}

func ring(t testing.TB, fill ...byte) *keys.Ring {
	t.Helper()
	var raws [][]byte
	for _, b := range fill {
		raws = append(raws, bytes.Repeat([]byte{b}, 32))
	}
	r, err := keys.NewRing(raws...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func newFiles(t testing.TB) (*Files, *memKeyStore) {
	t.Helper()
	ks := newMemKeyStore()
	f, err := New(filepath.Join(t.TempDir(), "recordings"), ring(t, 1), ks)
	if err != nil {
		t.Fatal(err)
	}
	return f, ks
}

// pattern is recognisable plaintext that looks like a WAV file.
func pattern(n int) []byte {
	b := make([]byte, 0, n+64)
	b = append(b, "RIFF\x00\x00\x00\x00WAVEfmt "...)
	for i := 0; len(b) < n; i++ {
		b = fmt.Appendf(b, "trunkline-secret-audio-%08d|", i)
	}
	return b[:n]
}

func write(t testing.TB, f *Files, accountID, recordingID string, data []byte) {
	t.Helper()
	w, err := f.Create(context.Background(), accountID, recordingID)
	if err != nil {
		t.Fatal(err)
	}
	// Uneven pieces, so chunk boundaries fall inside Writes.
	rnd := rand.New(rand.NewPCG(uint64(len(data)), 7))
	for p := data; len(p) > 0; {
		k := min(len(p), 1+rnd.IntN(100_000))
		if n, err := w.Write(p[:k]); n != k || err != nil {
			t.Fatalf("write: %d %v", n, err)
		}
		p = p[k:]
	}
	if w.Size() != int64(len(data)) {
		t.Fatalf("Size = %d, want %d", w.Size(), len(data))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func read(f *Files, accountID, recordingID string) ([]byte, error) {
	r, err := f.Open(context.Background(), accountID, recordingID)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

func (f *Files) filePath(t testing.TB, accountID, recordingID string) string {
	t.Helper()
	p, err := f.path(accountID, recordingID)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRoundTrip(t *testing.T) {
	f, _ := newFiles(t)
	for _, tc := range []struct {
		name string
		size int
	}{
		{"empty", 0},
		{"one byte", 1},
		{"chunk minus one", chunkSize - 1},
		{"one chunk", chunkSize},
		{"chunk plus one", chunkSize + 1},
		{"two chunks", 2 * chunkSize},
		{"1 MiB plus 7", 1<<20 + 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := pattern(tc.size)
			id := fmt.Sprintf("rec-%d", tc.size)
			write(t, f, "MA1", id, want)
			got, err := read(f, "MA1", id)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("read %d bytes, want %d (equal prefix: %v)", len(got), len(want), bytes.HasPrefix(want, got))
			}
			// The on-disk size follows the format: header, then one tag per chunk.
			fi, err := os.Stat(f.filePath(t, "MA1", id))
			if err != nil {
				t.Fatal(err)
			}
			chunks := max(1, (tc.size+chunkSize-1)/chunkSize)
			if wantSize := int64(len(magic) + 2 + len(Purpose) + keyIDSize + saltSize + prefixSize + tc.size + chunks*tagSize); fi.Size() != wantSize {
				t.Fatalf("file is %d bytes, want %d", fi.Size(), wantSize)
			}
		})
	}
	t.Run("iotest", func(t *testing.T) {
		want := pattern(3*chunkSize + 11)
		write(t, f, "MA1", "iotest", want)
		r, err := f.Open(context.Background(), "MA1", "iotest")
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if err := iotest.TestReader(r, want); err != nil {
			t.Fatal(err)
		}
	})
}

func TestCiphertextOnDisk(t *testing.T) {
	f, _ := newFiles(t)
	plain := pattern(200_000)
	write(t, f, "MA1", "rec1", plain)
	path := f.filePath(t, "MA1", "rec1")
	disk, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"RIFF", "WAVE", "trunkline-secret", "audio-0000"} {
		if bytes.Contains(disk, []byte(s)) {
			t.Errorf("file contains %q", s)
		}
	}
	if bytes.HasPrefix(disk, []byte("RIFF")) || bytes.HasPrefix(disk, []byte("ID3")) ||
		disk[0] == 0xFF && disk[1]&0xE0 == 0xE0 {
		t.Errorf("file starts like audio: % x", disk[:4])
	}
	if !bytes.HasPrefix(disk, []byte(magic)) {
		t.Errorf("file does not start with %q", magic)
	}
	for _, c := range []struct {
		path string
		mode os.FileMode
	}{{f.dir, 0o700}, {filepath.Dir(path), 0o700}, {path, 0o600}} {
		fi, err := os.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != c.mode {
			t.Errorf("%s: mode %v, want %v", c.path, fi.Mode().Perm(), c.mode)
		}
	}
	// Two recordings of the same audio share no ciphertext.
	write(t, f, "MA1", "rec2", plain)
	disk2, _ := os.ReadFile(f.filePath(t, "MA1", "rec2"))
	hdr := len(magic) + 2 + len(Purpose) + keyIDSize
	if bytes.Equal(disk[hdr:hdr+64], disk2[hdr:hdr+64]) || bytes.Equal(disk[len(disk)-64:], disk2[len(disk2)-64:]) {
		t.Error("two files of the same plaintext share bytes")
	}
}

func TestFileOfAnotherAccountOrRecording(t *testing.T) {
	f, ks := newFiles(t)
	write(t, f, "MA1", "rec1", pattern(1000))
	write(t, f, "MA2", "other", pattern(10))
	src, err := os.ReadFile(f.filePath(t, "MA1", "rec1"))
	if err != nil {
		t.Fatal(err)
	}
	put := func(accountID, recordingID string) {
		p := f.filePath(t, accountID, recordingID)
		os.MkdirAll(filepath.Dir(p), 0o700)
		if err := os.WriteFile(p, src, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("other account", func(t *testing.T) {
		put("MA2", "rec1")
		if _, err := read(f, "MA2", "rec1"); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("err = %v, want ErrCorrupt", err)
		}
	})
	t.Run("other recording id", func(t *testing.T) {
		put("MA1", "rec2")
		if _, err := read(f, "MA1", "rec2"); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("err = %v, want ErrCorrupt", err)
		}
	})
	t.Run("other account with the same key id", func(t *testing.T) {
		// Even if the key id matched (as if both accounts shared a key), the ids in the
		// additional data stop the file from opening elsewhere.
		dk, err := f.dataKey(context.Background(), "MA1", false)
		if err != nil {
			t.Fatal(err)
		}
		f.dataKeys.Store("MA3", dk)
		defer f.Forget("MA3")
		put("MA3", "rec1")
		if _, err := read(f, "MA3", "rec1"); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("err = %v, want ErrCorrupt", err)
		}
	})
	t.Run("account without a key", func(t *testing.T) {
		put("MA4", "rec1")
		_, err := read(f, "MA4", "rec1")
		if !errors.Is(err, ErrNotFound) || !errors.Is(err, ErrKeyNotFound) {
			t.Fatalf("err = %v, want ErrNotFound and ErrKeyNotFound", err)
		}
		if ks.count() != 2 {
			t.Fatalf("Open made a data key: %d keys", ks.count())
		}
	})
}

// tampered lists modified copies of a sealed file with at least three chunks.
func tampered(t *testing.T, disk []byte) map[string][]byte {
	hdr := len(magic) + 2 + len(Purpose) + keyIDSize + saltSize + prefixSize
	chunk := func(i int) []byte { return disk[hdr+i*sealedSize : min(len(disk), hdr+(i+1)*sealedSize)] }
	if len(disk) <= hdr+2*sealedSize {
		t.Fatal("need three chunks")
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	m := map[string][]byte{
		"swap chunks 0 and 1":   cat(disk[:hdr], chunk(1), chunk(0), chunk(2)),
		"chunk 0 twice":         cat(disk[:hdr], chunk(0), chunk(0), chunk(2)),
		"drop chunk 1":          cat(disk[:hdr], chunk(0), chunk(2)),
		"drop the last chunk":   cat(disk[:hdr], chunk(0), chunk(1)),
		"last chunk repeated":   cat(disk, chunk(2)),
		"append a byte":         cat(disk, []byte{0}),
		"append a tag's worth":  cat(disk, make([]byte, tagSize)),
		"append a full chunk":   cat(disk, chunk(0)),
		"header only":           disk[:hdr],
		"empty file":            {},
		"other purpose":         cat(disk[:7], []byte{9}, []byte("recordinx"), disk[hdr-keyIDSize-saltSize-prefixSize:]),
		"longer purpose length": cat(disk[:7], []byte{10}, disk[8:]),
		"version 2":             cat(disk[:6], []byte{2}, disk[7:]),
	}
	for _, n := range []int{1, 6, hdr - 1, hdr + 1, hdr + tagSize, hdr + sealedSize - 1, hdr + sealedSize, hdr + sealedSize + 1, hdr + 2*sealedSize, len(disk) - 1, len(disk) - tagSize} {
		m[fmt.Sprintf("truncate to %d", n)] = disk[:n]
	}
	positions := []int{0, 5, 6, 7, 8, hdr - 1, hdr, hdr + sealedSize - 1, hdr + sealedSize, len(disk) - 1}
	for i := range hdr {
		positions = append(positions, i)
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	for range 100 {
		positions = append(positions, rnd.IntN(len(disk)))
	}
	for _, p := range positions {
		c := bytes.Clone(disk)
		c[p] ^= byte(1 << rnd.IntN(8))
		m[fmt.Sprintf("flip byte %d", p)] = c
	}
	return m
}

func TestTamperingDetected(t *testing.T) {
	f, _ := newFiles(t)
	plain := pattern(2*chunkSize + 100)
	write(t, f, "MA1", "rec1", plain)
	path := f.filePath(t, "MA1", "rec1")
	disk, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range tampered(t, disk) {
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(path, c, 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := read(f, "MA1", "rec1")
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("err = %v (read %d bytes), want ErrCorrupt", err, len(got))
			}
			if err.Error() != ErrCorrupt.Error() {
				t.Fatalf("error carries detail: %v", err)
			}
			if !bytes.HasPrefix(plain, got) {
				t.Fatal("released plaintext that is not the recording's")
			}
		})
	}
	// A clean copy opens again: the failures above came from the edits.
	os.WriteFile(path, disk, 0o600)
	if got, err := read(f, "MA1", "rec1"); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("restored file: %v", err)
	}
}

// Every single-byte change anywhere in a small file is detected.
func TestEveryByteFlipDetected(t *testing.T) {
	f, _ := newFiles(t)
	write(t, f, "MA1", "small", pattern(300))
	disk, _ := os.ReadFile(f.filePath(t, "MA1", "small"))
	for i := range disk {
		c := bytes.Clone(disk)
		c[i] ^= 0x80
		r, err := f.openReader(context.Background(), io.NopCloser(bytes.NewReader(c)), "MA1", "small")
		if err == nil {
			_, err = io.ReadAll(r)
		}
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("flip at %d: err = %v", i, err)
		}
	}
}

func TestAbort(t *testing.T) {
	f, _ := newFiles(t)
	ctx := context.Background()
	w, err := f.Create(ctx, "MA1", "rec1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(pattern(3 * chunkSize)); err != nil {
		t.Fatal(err)
	}
	w.Abort()
	w.Abort()
	if _, err := w.Write([]byte("x")); err == nil {
		t.Error("Write after Abort succeeded")
	}
	if err := w.Close(); err == nil {
		t.Error("Close after Abort succeeded")
	}
	entries, err := os.ReadDir(filepath.Join(f.dir, "MA1"))
	if err != nil || len(entries) != 0 {
		t.Fatalf("files left after Abort: %v %v", entries, err)
	}
	if _, err := f.Open(ctx, "MA1", "rec1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Open after Abort: %v", err)
	}

	// Abort after Close keeps the file (so Abort can be deferred); Close is not repeatable.
	w, _ = f.Create(ctx, "MA1", "rec2")
	w.Write([]byte("kept"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w.Abort()
	if err := w.Close(); err == nil {
		t.Error("second Close succeeded")
	}
	if got, err := read(f, "MA1", "rec2"); err != nil || string(got) != "kept" {
		t.Fatalf("after Close+Abort: %q %v", got, err)
	}
	entries, _ = os.ReadDir(filepath.Join(f.dir, "MA1"))
	if len(entries) != 1 {
		t.Fatalf("want only rec2.rec, got %v", entries)
	}
}

func TestConcurrentCreateMakesOneKey(t *testing.T) {
	const nodes, perNode = 4, 8
	dir := t.TempDir()
	ks := newMemKeyStore()
	ks.barrier = new(sync.WaitGroup)
	ks.barrier.Add(nodes * perNode) // every writer looks the key up before any stores one
	var wg sync.WaitGroup
	errs := make(chan error, nodes*perNode)
	for n := range nodes {
		f, err := New(dir, ring(t, 1), ks) // one Files per node, sharing the store
		if err != nil {
			t.Fatal(err)
		}
		for i := range perNode {
			wg.Go(func() {
				w, err := f.Create(context.Background(), "MA1", fmt.Sprintf("rec-%d-%d", n, i))
				if err != nil {
					errs <- err
					return
				}
				w.Write(pattern(1000 + i))
				errs <- w.Close()
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if ks.count() != 1 || ks.puts != nodes*perNode {
		t.Fatalf("%d keys stored after %d puts, want 1 after %d", ks.count(), ks.puts, nodes*perNode)
	}
	// A fresh Files (empty cache) reads the stored key and opens every file.
	ks.barrier = nil
	f, _ := New(dir, ring(t, 1), ks)
	for n := range nodes {
		for i := range perNode {
			got, err := read(f, "MA1", fmt.Sprintf("rec-%d-%d", n, i))
			if err != nil || !bytes.Equal(got, pattern(1000+i)) {
				t.Fatalf("rec-%d-%d: %v", n, i, err)
			}
		}
	}
}

var _ KeyStore = (*store.DB)(nil)

// The real store: concurrent first writers on several nodes agree on one data key.
func TestWithStore(t *testing.T) {
	for _, db := range storetest.Open(t) {
		t.Run(string(db.Dialect()), func(t *testing.T) {
			ctx := context.Background()
			err := db.CreateAccount(ctx, &trunkline.Account{ID: "MA1", Name: "one", Enabled: true},
				&trunkline.Credential{ID: "CR1", TokenMAC: []byte{1}, TokenEnc: []byte{1}})
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			var wg sync.WaitGroup
			errs := make(chan error, 8)
			for n := range 8 {
				f, err := New(dir, ring(t, 1), db)
				if err != nil {
					t.Fatal(err)
				}
				wg.Go(func() {
					w, err := f.Create(ctx, "MA1", fmt.Sprintf("rec-%d", n))
					if err == nil {
						w.Write(pattern(100 + n))
						err = w.Close()
					}
					errs <- err
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			f, _ := New(dir, ring(t, 1), db)
			for n := range 8 {
				if got, err := read(f, "MA1", fmt.Sprintf("rec-%d", n)); err != nil || !bytes.Equal(got, pattern(100+n)) {
					t.Fatalf("rec-%d: %v", n, err)
				}
			}
			if _, err := read(f, "MA2", "rec-0"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("unknown account: %v", err)
			}
		})
	}
}

func TestKEKRotation(t *testing.T) {
	dir := t.TempDir()
	ks := newMemKeyStore()
	old, _ := New(dir, ring(t, 1), ks)
	write(t, old, "MA1", "before", pattern(5000))

	rotated, err := New(dir, ring(t, 2, 1), ks) // new KEK first, old one kept to unwrap
	if err != nil {
		t.Fatal(err)
	}
	if got, err := read(rotated, "MA1", "before"); err != nil || !bytes.Equal(got, pattern(5000)) {
		t.Fatalf("old file after rotation: %v", err)
	}
	write(t, rotated, "MA1", "after", pattern(10))
	write(t, rotated, "MA2", "new-account", pattern(10))
	if got, err := read(rotated, "MA2", "new-account"); err != nil || !bytes.Equal(got, pattern(10)) {
		t.Fatalf("new account after rotation: %v", err)
	}
	// Without the old KEK the data key cannot be unwrapped.
	newOnly, _ := New(dir, ring(t, 2), ks)
	if _, err := read(newOnly, "MA1", "before"); !errors.Is(err, keys.ErrDecrypt) {
		t.Fatalf("opened without the old KEK: %v", err)
	}
}

func TestRemove(t *testing.T) {
	f, _ := newFiles(t)
	ctx := context.Background()
	write(t, f, "MA1", "rec1", pattern(100))
	if err := f.Remove(ctx, "MA1", "rec1"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Open(ctx, "MA1", "rec1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Open after Remove: %v", err)
	}
	if err := f.Remove(ctx, "MA1", "rec1"); err != nil {
		t.Fatalf("Remove of a removed recording: %v", err)
	}
	if err := f.Remove(ctx, "MA9", "never"); err != nil {
		t.Fatalf("Remove in an unknown account: %v", err)
	}
}

// Deleting an account's data key shreds its recordings.
func TestShredding(t *testing.T) {
	f, ks := newFiles(t)
	write(t, f, "MA1", "rec1", pattern(100))
	ks.mu.Lock()
	clear(ks.keys)
	ks.mu.Unlock()
	f.Forget("MA1")
	if _, err := read(f, "MA1", "rec1"); !errors.Is(err, ErrNotFound) || !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("after shredding: %v", err)
	}
	write(t, f, "MA1", "rec2", pattern(100)) // a new key
	if _, err := read(f, "MA1", "rec1"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("old file under the new key: %v", err)
	}
}

func TestKeyStoreErrors(t *testing.T) {
	t.Run("trunkline.ErrNotFound means absent", func(t *testing.T) {
		f, ks := newFiles(t)
		ks.notFound = trunkline.ErrNotFound
		write(t, f, "MA1", "rec1", pattern(10))
		if ks.count() != 1 {
			t.Fatal("no key stored")
		}
		f.Forget("MA1")
		if got, err := read(f, "MA1", "rec1"); err != nil || !bytes.Equal(got, pattern(10)) {
			t.Fatal(err)
		}
	})
	t.Run("other errors fail", func(t *testing.T) {
		f, ks := newFiles(t)
		boom := errors.New("database is down")
		ks.fail = boom
		if _, err := f.Create(context.Background(), "MA1", "rec1"); !errors.Is(err, boom) {
			t.Fatalf("Create: %v", err)
		}
		if ks.puts != 0 {
			t.Fatal("made a key although the store failed")
		}
	})
	t.Run("unreadable stored key", func(t *testing.T) {
		f, ks := newFiles(t)
		ks.keys["MA1/"+Purpose] = []byte("garbage")
		if _, err := f.Create(context.Background(), "MA1", "rec1"); !errors.Is(err, keys.ErrDecrypt) {
			t.Fatalf("Create: %v", err)
		}
	})
}

func TestInvalidIDs(t *testing.T) {
	f, _ := newFiles(t)
	ctx := context.Background()
	for _, id := range []string{"", "..", "../x", "a/b", `a\b`, "a.b", "a b", "a\x00b", "é", ".hidden", strings.Repeat("a", maxIDLen+1)} {
		t.Run(strconv.Quote(id), func(t *testing.T) {
			if _, err := f.Create(ctx, id, "rec"); !errors.Is(err, ErrInvalidID) {
				t.Errorf("Create account %q: %v", id, err)
			}
			if _, err := f.Create(ctx, "MA1", id); !errors.Is(err, ErrInvalidID) {
				t.Errorf("Create recording %q: %v", id, err)
			}
			if _, err := f.Open(ctx, "MA1", id); !errors.Is(err, ErrInvalidID) {
				t.Errorf("Open %q: %v", id, err)
			}
			if err := f.Remove(ctx, id, "rec"); !errors.Is(err, ErrInvalidID) {
				t.Errorf("Remove %q: %v", id, err)
			}
		})
	}
	write(t, f, strings.Repeat("A", maxIDLen), strings.Repeat("r", maxIDLen), []byte("longest ids"))
}

// Fixed keys and randomness make the seed corpus reproducible, so the committed seeds are
// also golden files of the format.
const (
	fuzzAccount   = "MA-FUZZ"
	fuzzRecording = "rec-fuzz"
)

func fuzzFiles(t testing.TB, seedName string) *Files {
	t.Helper()
	kek := ring(t, 0x4b)
	ks := newMemKeyStore()
	wrapped, err := kek.Seal(bytes.Repeat([]byte{0x44}, 32), DataKeyAAD(fuzzAccount))
	if err != nil {
		t.Fatal(err)
	}
	ks.keys[fuzzAccount+"/"+Purpose] = wrapped
	f, err := New(t.TempDir(), kek, ks)
	if err != nil {
		t.Fatal(err)
	}
	seed := sha256.Sum256([]byte(seedName))
	f.rand = rand.NewChaCha8(seed)
	return f
}

var fuzzSeeds = []struct {
	name      string
	plaintext []byte
}{
	{"empty", nil},
	{"one-byte", []byte{0}},
	{"short", []byte("RIFF\x24\x00\x00\x00WAVEfmt hello recording")},
	{"two-chunks", pattern(chunkSize + 1)},
}

func sealSeed(t testing.TB, name string, plaintext []byte) []byte {
	f := fuzzFiles(t, name)
	write(t, f, fuzzAccount, fuzzRecording, plaintext)
	b, err := os.ReadFile(f.filePath(t, fuzzAccount, fuzzRecording))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func corpusFile(name string) string { return filepath.Join("testdata", "fuzz", "FuzzOpen", name) }

// TestSeedCorpus checks that the committed seeds are what the writer produces today and
// that they decrypt, so any change of the format shows up here. Run with -update to
// regenerate them.
func TestSeedCorpus(t *testing.T) {
	for _, s := range fuzzSeeds {
		t.Run(s.name, func(t *testing.T) {
			sealed := sealSeed(t, s.name, s.plaintext)
			if *updateSeeds {
				os.MkdirAll(filepath.Dir(corpusFile(s.name)), 0o755)
				body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", sealed)
				if err := os.WriteFile(corpusFile(s.name), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			raw, err := os.ReadFile(corpusFile(s.name))
			if err != nil {
				t.Fatal(err)
			}
			lit, ok := strings.CutPrefix(string(raw), "go test fuzz v1\n[]byte(")
			lit, ok2 := strings.CutSuffix(lit, ")\n")
			if !ok || !ok2 {
				t.Fatal("not a corpus file of one []byte")
			}
			committed, err := strconv.Unquote(lit)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal([]byte(committed), sealed) {
				t.Fatal("the writer's output changed; if the format changed on purpose, bump the version and run with -update")
			}
			f := fuzzFiles(t, s.name)
			r, err := f.openReader(context.Background(), io.NopCloser(strings.NewReader(committed)), fuzzAccount, fuzzRecording)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(got, s.plaintext) {
				t.Fatalf("decrypted %q, %v", got, err)
			}
		})
	}
}

func FuzzOpen(f *testing.F) {
	files := fuzzFiles(f, "fuzz")
	for _, s := range fuzzSeeds[:3] { // the committed corpus holds them all
		f.Add(sealSeed(f, "add-"+s.name, s.plaintext))
	}
	hdr := len(magic) + 2 + len(Purpose) + keyIDSize + saltSize + prefixSize
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := files.openReader(context.Background(), io.NopCloser(bytes.NewReader(data)), fuzzAccount, fuzzRecording)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open: %v, want ErrCorrupt", err)
			}
			return
		}
		defer r.Close()
		got, err := io.ReadAll(r)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Read: %v, want ErrCorrupt", err)
			}
			return
		}
		// Anything accepted has exactly the shape the writer makes.
		chunks := max(1, (len(got)+chunkSize-1)/chunkSize)
		if len(data) != hdr+len(got)+chunks*tagSize {
			t.Fatalf("accepted %d bytes holding %d bytes of plaintext", len(data), len(got))
		}
	})
}

func BenchmarkWrite(b *testing.B) {
	f, _ := newFiles(b)
	const size = 8 << 20
	data := pattern(size)
	const piece = 32 << 10 // a stream of moderate writes, as from a media pipeline
	b.SetBytes(size)
	b.ReportAllocs()
	ctx := context.Background()
	i := 0
	for b.Loop() {
		w, err := f.Create(ctx, "MA1", fmt.Sprintf("bench-%d", i%4))
		if err != nil {
			b.Fatal(err)
		}
		for p := data; len(p) > 0; p = p[min(piece, len(p)):] {
			if _, err := w.Write(p[:min(piece, len(p))]); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkOpen(b *testing.B) {
	f, _ := newFiles(b)
	const size = 8 << 20
	write(b, f, "MA1", "bench", pattern(size))
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		r, err := f.Open(context.Background(), "MA1", "bench")
		if err != nil {
			b.Fatal(err)
		}
		if n, err := io.Copy(io.Discard, r); n != size || err != nil {
			b.Fatal(n, err)
		}
		r.Close()
	}
}
