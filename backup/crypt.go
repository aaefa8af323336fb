package backup

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/hkdf"
)

// ChunkSize is the plaintext size of every chunk but the last of an object.
const ChunkSize = 4 << 20

const tagSize = 16

// Key is the backup key: 32 bytes kept apart from the KEK (its own file or environment
// variable). It wraps each backup's data key, keys the database parts and the keyring.
type Key struct {
	raw []byte
	ID  string // hex, safe to print and to store in manifests
}

// EnvKey may carry the backup key (base64), winning over the key file.
const EnvKey = "TRUNKLINE_BACKUP_KEY"

// NewKey wraps raw key bytes.
func NewKey(raw []byte) (*Key, error) {
	if len(raw) != 32 {
		return nil, fmt.Errorf("backup key must be 32 bytes, got %d", len(raw))
	}
	sum := sha256.Sum256(append([]byte("trunkline backup key id\x00"), raw...))
	return &Key{raw: raw, ID: hex.EncodeToString(sum[:8])}, nil
}

// GenerateKeyFile writes a new random backup key (base64, mode 0600) to path; an
// existing file is never overwritten.
func GenerateKeyFile(path string) (*Key, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("backup key file: %w", err)
	}
	if _, err := f.WriteString(base64.StdEncoding.EncodeToString(raw) + "\n"); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	return NewKey(raw)
}

// LoadKey reads the backup key from $TRUNKLINE_BACKUP_KEY or path. kekPath is the data
// dir's KEK file: a backup key inside the keys directory, or equal to the KEK, is refused
// (whoever holds the data dir must not hold the backup key).
func LoadKey(path, kekPath string, kek []byte) (*Key, error) {
	var text string
	if v := os.Getenv(EnvKey); v != "" {
		text = v
	} else {
		if path == "" {
			return nil, errors.New("no backup key: set [backup] key_file, --backup-key-file or $" + EnvKey + " (make one with: trunkline backup keygen --out FILE)")
		}
		if kekPath != "" {
			if inside(path, filepath.Dir(kekPath)) {
				return nil, fmt.Errorf("backup key %s lies in the data dir's keys directory: keep it apart from the KEK", path)
			}
		}
		fi, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("backup key file: %w", err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			return nil, fmt.Errorf("backup key file %s is readable by others (mode %o): chmod 600 it", path, fi.Mode().Perm())
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("backup key file: %w", err)
		}
		text = string(b)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(text))
	if err != nil {
		return nil, errors.New("backup key is not valid base64")
	}
	if kek != nil && hmac.Equal(raw, kek) {
		return nil, errors.New("the backup key equals the KEK: make a separate one (trunkline backup keygen)")
	}
	return NewKey(raw)
}

func inside(path, dir string) bool {
	p, err1 := filepath.Abs(path)
	d, err2 := filepath.Abs(dir)
	if err1 != nil || err2 != nil {
		return false
	}
	rel, err := filepath.Rel(d, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

func derive(secret []byte, info string) []byte {
	k := make([]byte, 32)
	io.ReadFull(hkdf.New(sha256.New, secret, nil, []byte(info)), k)
	return k
}

func gcm(key []byte) cipher.AEAD {
	b, err := aes.NewCipher(key)
	if err != nil {
		panic(err) // 32-byte keys only
	}
	a, err := cipher.NewGCM(b)
	if err != nil {
		panic(err)
	}
	return a
}

// sealRandom and openRandom seal small values (wrapped keys, manifests, the keyring)
// with a random nonce: nonce || ciphertext.
func sealRandom(key, pt, aad []byte) []byte {
	a := gcm(key)
	out := make([]byte, 12, 12+len(pt)+tagSize)
	rand.Read(out)
	return a.Seal(out, out[:12], pt, aad)
}

func openRandom(key, ct, aad []byte) ([]byte, error) {
	if len(ct) < 12+tagSize {
		return nil, errors.New("too short")
	}
	return gcm(key).Open(nil, ct[:12], ct[12:], aad)
}

// wrapKey seals a backup's data key under the backup key, bound to the backup id.
func (k *Key) wrap(dataKey []byte, backupID string) []byte {
	return sealRandom(derive(k.raw, "trunkline backup wrap v1"), dataKey, []byte("data key\x00"+backupID))
}

func (k *Key) unwrap(wrapped []byte, backupID string) ([]byte, error) {
	return openRandom(derive(k.raw, "trunkline backup wrap v1"), wrapped, []byte("data key\x00"+backupID))
}

// blobID names a recording blob by a keyed hash of its content: equal files share one
// blob across backups (deduplication) while the name reveals nothing without the key.
func (k *Key) blobHasher() hash.Hash {
	return hmac.New(sha256.New, derive(k.raw, "trunkline backup blob id v1"))
}

// blobKey is the key of one part of a database copy. Parts are content-addressed, so one
// key per content (derived from the backup key and the blob id) makes the deterministic
// chunk nonces safe. Recording blobs get random keys kept in the keyring instead.
func (k *Key) blobKey(id string) []byte {
	return derive(k.raw, "trunkline backup blob key v1\x00"+id)
}

func (k *Key) keyringKey() []byte { return derive(k.raw, "trunkline backup keyring v1") }

// objectKey is the key of one object of one backup; a fresh data key per backup and the
// object's name in the derivation make every (backup, object) key distinct.
func objectKey(dataKey []byte, backupID, name string) []byte {
	return derive(dataKey, "trunkline backup object v1\x00"+backupID+"\x00"+name)
}

// Object stream format: chunks back to back. Every chunk but the last holds ChunkSize
// bytes of plaintext; the last holds fewer (possibly none), so a full-size frame is never
// last. Chunk i is AES-256-GCM(object key, nonce = u64 i || 0000, aad) with aad =
// "tlbk1" || u16 len(context) || context || u64 i || u8 final, where context names the
// backup and object (or the blob). Reordering, dropping, truncating, swapping chunks
// between objects or backups all fail authentication.

func chunkAAD(ctxName string, i uint64, final bool) []byte {
	b := make([]byte, 0, 5+2+len(ctxName)+9)
	b = append(b, "tlbk1"...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(ctxName)))
	b = append(b, ctxName...)
	b = binary.BigEndian.AppendUint64(b, i)
	if final {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	return b
}

func chunkNonce(i uint64) []byte {
	n := make([]byte, 12)
	binary.BigEndian.PutUint64(n, i)
	return n
}

// sealStream encrypts src to dst and returns the plaintext's size, SHA-256 and chunk count.
func sealStream(dst io.Writer, src io.Reader, key []byte, ctxName string) (size int64, sum []byte, chunks int64, err error) {
	a := gcm(key)
	h := sha256.New()
	buf := make([]byte, ChunkSize)
	out := make([]byte, 0, ChunkSize+tagSize)
	for i := uint64(0); ; i++ {
		n, rerr := io.ReadFull(src, buf)
		if rerr != nil && rerr != io.EOF && rerr != io.ErrUnexpectedEOF {
			return 0, nil, 0, rerr
		}
		final := n < ChunkSize
		h.Write(buf[:n])
		size += int64(n)
		out = a.Seal(out[:0], chunkNonce(i), buf[:n], chunkAAD(ctxName, i, final))
		if _, err := dst.Write(out); err != nil {
			return 0, nil, 0, err
		}
		chunks++
		if final {
			return size, h.Sum(nil), chunks, nil
		}
	}
}

// ChunkError says which chunk of which object failed.
type ChunkError struct {
	Object string
	Chunk  int64
	Reason string
}

func (e *ChunkError) Error() string {
	return fmt.Sprintf("object %s, chunk %d: %s", e.Object, e.Chunk, e.Reason)
}

// openStream decrypts src to dst, checking every chunk, the end, and the plaintext's
// size, hash and chunk count against the manifest.
func openStream(dst io.Writer, src io.Reader, key []byte, ctxName, object string, want ObjectInfo) error {
	a := gcm(key)
	h := sha256.New()
	frame := make([]byte, ChunkSize+tagSize)
	var size int64
	var i uint64
	for ; ; i++ {
		n, rerr := io.ReadFull(src, frame)
		if rerr != nil && rerr != io.EOF && rerr != io.ErrUnexpectedEOF {
			return fmt.Errorf("object %s, chunk %d: read: %w", object, i, rerr)
		}
		final := n < len(frame)
		if n < tagSize {
			return &ChunkError{object, int64(i), "missing (the object ends early: a chunk was removed or the upload was cut)"}
		}
		pt, err := a.Open(frame[:0], chunkNonce(i), frame[:n], chunkAAD(ctxName, i, final))
		if err != nil {
			if !final && int64(i)+1 >= want.Chunks {
				return &ChunkError{object, int64(i), "data follows the last chunk (appended or reordered data)"}
			}
			return &ChunkError{object, int64(i), "failed authentication (corrupted, tampered with, missing or reordered chunks, or from another backup)"}
		}
		h.Write(pt)
		size += int64(len(pt))
		if _, err := dst.Write(pt); err != nil {
			return err
		}
		if final {
			break
		}
	}
	if int64(i)+1 != want.Chunks || size != want.Size || hex.EncodeToString(h.Sum(nil)) != want.SHA256 {
		return &ChunkError{object, int64(i), fmt.Sprintf("does not match the manifest (%d chunks, %d bytes; the manifest says %d chunks, %d bytes)", i+1, size, want.Chunks, want.Size)}
	}
	return nil
}
