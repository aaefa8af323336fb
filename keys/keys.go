// Package keys holds Trunkline's key-encryption key (KEK) and the envelope encryption
// built on it. The KEK lives outside the database (a 0600 file in the data dir, or an
// environment variable), so a copy of the database alone reveals no secret.
//
// Ciphertexts are self-describing: version byte, 8-byte key id, 12-byte random nonce,
// AES-256-GCM sealed data. The key id lets keys rotate: a ring can hold old keys to open
// old ciphertexts while sealing with the newest, and Reseal moves a ciphertext to the
// newest key.
//
// The MAC key (tokens, sessions, recovery codes, SIP nonces are checked by keyed hash,
// which cannot be re-keyed without the secret) must outlive any KEK, so it is not
// derived from whichever KEK is newest: a ring starts with the key derived from its
// first KEK, and UseMACKey replaces it with the platform's MAC key, which is kept sealed
// under the KEK (WrapMACKey) and so only needs resealing when the KEK rotates.
package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/hkdf"
)

const (
	keySize   = 32 // AES-256
	version1  = 1
	idSize    = 8
	nonceSize = 12
)

// ErrDecrypt is returned for any ciphertext that cannot be opened; it carries no detail
// on purpose (no oracle for an attacker).
var ErrDecrypt = errors.New("keys: cannot decrypt")

// Ring is a set of AES-256 keys: the newest seals, any opens.
type Ring struct {
	current key
	all     map[[idSize]byte]key
	macKey  []byte
}

type key struct {
	id   [idSize]byte
	aead cipher.AEAD
}

func newKey(raw []byte) (key, error) {
	if len(raw) != keySize {
		return key{}, fmt.Errorf("keys: key must be %d bytes, got %d", keySize, len(raw))
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return key{}, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return key{}, err
	}
	sum := sha256.Sum256(append([]byte("trunkline key id\x00"), raw...))
	var k key
	copy(k.id[:], sum[:idSize])
	k.aead = aead
	return k, nil
}

// NewRing builds a ring from raw 32-byte keys, newest first.
func NewRing(raw ...[]byte) (*Ring, error) {
	if len(raw) == 0 {
		return nil, errors.New("keys: no key")
	}
	r := &Ring{all: map[[idSize]byte]key{}}
	for i, b := range raw {
		k, err := newKey(b)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			r.current = k
			// A separate MAC key, derived so that MACs and ciphertexts never share a key.
			r.macKey = make([]byte, 32)
			if _, err := io.ReadFull(hkdf.New(sha256.New, b, nil, []byte("trunkline mac v1")), r.macKey); err != nil {
				return nil, err
			}
		}
		r.all[k.id] = k
	}
	return r, nil
}

// Seal encrypts plaintext; aad binds the ciphertext to its context (e.g. "credential:CR…")
// so a ciphertext copied to another row does not open.
func (r *Ring) Seal(plaintext, aad []byte) ([]byte, error) {
	out := make([]byte, 1+idSize+nonceSize, 1+idSize+nonceSize+len(plaintext)+r.current.aead.Overhead())
	out[0] = version1
	copy(out[1:], r.current.id[:])
	if _, err := rand.Read(out[1+idSize:]); err != nil {
		return nil, err
	}
	return r.current.aead.Seal(out, out[1+idSize:1+idSize+nonceSize], plaintext, aad), nil
}

// Open decrypts a ciphertext made by Seal with the same aad.
func (r *Ring) Open(ciphertext, aad []byte) ([]byte, error) {
	if len(ciphertext) < 1+idSize+nonceSize || ciphertext[0] != version1 {
		return nil, ErrDecrypt
	}
	var id [idSize]byte
	copy(id[:], ciphertext[1:])
	k, ok := r.all[id]
	if !ok {
		return nil, ErrDecrypt
	}
	nonce := ciphertext[1+idSize : 1+idSize+nonceSize]
	pt, err := k.aead.Open(nil, nonce, ciphertext[1+idSize+nonceSize:], aad)
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// Reseal returns ciphertext sealed under the ring's current key: ct itself (changed
// false) when it already is, else ct opened with the older key and sealed anew. The
// aad must be the one ct was sealed with.
func (r *Ring) Reseal(ct, aad []byte) (out []byte, changed bool, err error) {
	if r.Sealed(ct) {
		return ct, false, nil
	}
	pt, err := r.Open(ct, aad)
	if err != nil {
		return nil, false, err
	}
	out, err = r.Seal(pt, aad)
	return out, err == nil, err
}

// Sealed reports whether ct was sealed under the ring's current key.
func (r *Ring) Sealed(ct []byte) bool {
	return len(ct) >= 1+idSize && ct[0] == version1 && [idSize]byte(ct[1:1+idSize]) == r.current.id
}

// macKeyAAD binds the sealed MAC key to its purpose.
var macKeyAAD = []byte("trunkline mac key v1")

// WrapMACKey returns the ring's MAC key sealed under its current key, for storing.
func (r *Ring) WrapMACKey() ([]byte, error) { return r.Seal(r.macKey, macKeyAAD) }

// UseMACKey makes the ring MAC under the key that WrapMACKey sealed (by this ring or by
// one with a key this ring still holds).
func (r *Ring) UseMACKey(wrapped []byte) error {
	k, err := r.Open(wrapped, macKeyAAD)
	if err != nil {
		return fmt.Errorf("keys: the stored MAC key does not open with the KEK: %w", err)
	}
	if len(k) != keySize {
		return errors.New("keys: the stored MAC key is malformed")
	}
	r.macKey = k
	return nil
}

// MAC returns a keyed hash of data, for secrets that only need checking and for
// look-ups that must not reveal the value (HMAC-SHA-256 under the MAC key; see the
// package comment).
func (r *Ring) MAC(data []byte) []byte {
	m := hmac.New(sha256.New, r.macKey)
	m.Write(data)
	return m.Sum(nil)
}

// NewDataKey makes a fresh random data key and returns it with its wrapped (sealed) form,
// for per-account envelope encryption.
func (r *Ring) NewDataKey(aad []byte) (raw, wrapped []byte, err error) {
	raw = make([]byte, keySize)
	if _, err := rand.Read(raw); err != nil {
		return nil, nil, err
	}
	wrapped, err = r.Seal(raw, aad)
	return raw, wrapped, err
}

// EnvKEK is the environment variable that may carry the KEK (base64, 32 bytes). When set
// it wins over the file, so operators can keep the key out of the data dir entirely.
// During a rotation it holds the new key and then the old ones, separated by spaces,
// commas or newlines.
const EnvKEK = "TRUNKLINE_KEK"

// LoadOrCreateKEK returns the KEK ring: from $TRUNKLINE_KEK if set, else from path,
// creating the file (0600) with a new random key on first use. Older keys may follow the
// current one in the file, one base64 key per line, to open data sealed before a rotation.
func LoadOrCreateKEK(path string) (*Ring, error) {
	if v := os.Getenv(EnvKEK); v != "" {
		var raws [][]byte
		for _, f := range strings.FieldsFunc(v, func(c rune) bool { return c == ',' || c == ' ' || c == '\n' || c == '\t' || c == '\r' }) {
			raw, err := base64.StdEncoding.DecodeString(f)
			if err != nil {
				return nil, fmt.Errorf("%s is not valid base64", EnvKEK)
			}
			raws = append(raws, raw)
		}
		return NewRing(raws...)
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		raw := make([]byte, keySize)
		if _, err := rand.Read(raw); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, err
		}
		enc := base64.StdEncoding.EncodeToString(raw) + "\n"
		// O_EXCL: two processes starting at once must not each write a different key.
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			return LoadOrCreateKEK(path)
		}
		if err != nil {
			return nil, err
		}
		if _, err := f.WriteString(enc); err != nil {
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
		return NewRing(raw)
	}
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("key file %s is readable by others (mode %o): chmod 600 it", path, fi.Mode().Perm())
	}
	raws, err := parseKEKFile(path, b)
	if err != nil {
		return nil, err
	}
	return NewRing(raws...)
}

func parseKEKFile(path string, b []byte) ([][]byte, error) {
	var raws [][]byte
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(line)
		if err != nil {
			return nil, fmt.Errorf("key file %s: a line is not valid base64", path)
		}
		raws = append(raws, raw)
	}
	return raws, nil
}

// AddKEK puts a new random key first in the KEK file at path, keeping the older keys
// after it so what they sealed still opens. The file is replaced atomically (0600).
func AddKEK(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	old, err := parseKEKFile(path, b)
	if err != nil {
		return err
	}
	raw := make([]byte, keySize)
	if _, err := rand.Read(raw); err != nil {
		return err
	}
	return writeKEKFile(path, append([][]byte{raw}, old...))
}

// RetireOldKEKs leaves only the newest key in the KEK file at path. Call it once
// nothing is sealed under the older keys any more.
func RetireOldKEKs(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	raws, err := parseKEKFile(path, b)
	if err != nil {
		return err
	}
	if len(raws) == 0 {
		return fmt.Errorf("key file %s holds no key", path)
	}
	return writeKEKFile(path, raws[:1])
}

// writeKEKFile writes keys, newest first, through a temporary file and a rename, so a
// crash leaves the old file or the new one, never half of either.
func writeKEKFile(path string, raws [][]byte) error {
	var b strings.Builder
	for _, raw := range raws {
		b.WriteString(base64.StdEncoding.EncodeToString(raw) + "\n")
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(b.String()); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

// Size reports how many keys the ring holds.
func (r *Ring) Size() int { return len(r.all) }
