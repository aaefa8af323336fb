// Package recording stores call recordings encrypted at rest: each file is sealed in
// 64 KiB chunks with AES-256-GCM under a key derived from its account's data key, so a
// copy of the recordings directory (or of a backup of it) reveals nothing without the KEK,
// and deleting an account's data key shreds all of its recordings at once.
//
// # Keys
//
// Each account has one data key for the purpose "recording": 32 random bytes made by
// keys.Ring.NewDataKey, stored only wrapped by the KEK (aad "datakey:<account>:recording")
// through a KeyStore, unwrapped on first use and then cached in memory. The first creator
// wins: concurrent writers (on one node or several) all unwrap the value the store kept.
// Rotating the KEK needs no rewrite of recordings: a ring that still holds the old KEK
// unwraps the old data key.
//
// Each file gets its own AES-256 key, HKDF-SHA-256(data key, salt, "trunkline recording
// file key v1") with a random 16-byte salt from the header. Per-file keys keep the GCM
// nonce space fresh for every file, however many recordings an account accumulates
// (under one shared key, random 8-byte nonce prefixes would risk a repeated nonce once
// an account holds millions of recordings).
//
// # File format (version 1)
//
// Path: <dir>/<account id>/<recording id>.rec, ids of ASCII letters, digits and '-'.
// All integers are big-endian.
//
//	header:
//	  6  magic "TLREC1"
//	  1  version (1)
//	  1  length n of the key purpose
//	  n  key purpose ("recording"): which of the account's data keys sealed the file
//	  8  data key id: SHA-256("trunkline data key id\x00" || data key)[:8]
//	 16  salt for the per-file key
//	  8  nonce prefix (random)
//	chunks, one or more, back to back:
//	  AES-256-GCM(file key, nonce, plaintext, aad) = ciphertext || 16-byte tag
//
// Every chunk but the last holds exactly 64 KiB of plaintext; the last holds 0 to 64 KiB
// (an empty recording is one empty final chunk). Chunk i's nonce is the nonce prefix
// followed by i as 4 bytes. Its additional data is
//
//	header bytes || u16 len(account id) || account id || u16 len(recording id) ||
//	recording id || u32 i || u8 final (1 for the last chunk, else 0)
//
// so a chunk opens only in its own file, account, position and role: reordering, swapping
// chunks between files or accounts, editing the header, truncating at a chunk boundary or
// appending anything all fail authentication. A reader releases a chunk's plaintext only
// after its tag checks, and reports io.EOF only after the final chunk did.
package recording

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/keys"
)

// Purpose names the account data key that seals recordings.
const Purpose = "recording"

var (
	// ErrNotFound: no such recording (or its account's data key is gone, see ErrKeyNotFound).
	ErrNotFound = fmt.Errorf("recording: not found: %w", fs.ErrNotExist)
	// ErrCorrupt: the file failed authentication, was truncated or extended, or belongs to
	// another account or recording. It carries no detail on purpose (no oracle).
	ErrCorrupt = errors.New("recording: corrupt file")
	// ErrInvalidID: an account or recording id is empty, too long or has characters other
	// than ASCII letters, digits and '-'.
	ErrInvalidID = errors.New("recording: invalid id")
	// ErrKeyNotFound may be returned (wrapped) by a KeyStore for an absent data key; so may
	// trunkline.ErrNotFound. Open wraps it, with ErrNotFound, when an account's key is gone.
	ErrKeyNotFound = errors.New("recording: data key not found")
)

// KeyStore keeps wrapped per-account data keys (implemented by *store.DB).
type KeyStore interface {
	// AccountDataKey returns the wrapped key, or an error wrapping trunkline.ErrNotFound (or
	// ErrKeyNotFound) when there is none.
	AccountDataKey(ctx context.Context, accountID, purpose string) ([]byte, error)
	// PutAccountDataKey stores wrapped unless a key is already there, and returns the
	// value stored in the end (the existing one if another writer won).
	PutAccountDataKey(ctx context.Context, accountID, purpose string, wrapped []byte) ([]byte, error)
}

// Files is a directory of encrypted recordings. It is safe for concurrent use.
type Files struct {
	dir  string
	kek  *keys.Ring
	ks   KeyStore
	rand io.Reader // salts and nonce prefixes; tests make it deterministic

	dataKeys sync.Map // account id → *dataKey
}

// New returns the recordings under dir, creating dir (0700) if needed.
func New(dir string, kek *keys.Ring, ks KeyStore) (*Files, error) {
	if dir == "" || kek == nil || ks == nil {
		return nil, errors.New("recording: New needs a directory, a KEK ring and a key store")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("recording: %w", err)
	}
	return &Files{dir: dir, kek: kek, ks: ks, rand: rand.Reader}, nil
}

// Create starts a new recording. Write the plaintext to the Writer, then Close it to
// commit the file (replacing any recording with the same id) or Abort to discard it.
// Create makes the account's data key on first use.
func (f *Files) Create(ctx context.Context, accountID, recordingID string) (*Writer, error) {
	path, err := f.path(accountID, recordingID)
	if err != nil {
		return nil, err
	}
	dk, err := f.dataKey(ctx, accountID, true)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("recording: %w", err)
	}
	return newWriter(path, dk, accountID, recordingID, f.rand)
}

// Open returns a reader of the recording's plaintext. It checks the header and the first
// chunk before returning, so a file of another account fails here with ErrCorrupt; later
// chunks are checked as they are read (a Read error of ErrCorrupt means the data returned
// so far was authentic but the file does not end where it was written to end).
func (f *Files) Open(ctx context.Context, accountID, recordingID string) (io.ReadCloser, error) {
	path, err := f.path(accountID, recordingID)
	if err != nil {
		return nil, err
	}
	file, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("recording: %w", err)
	}
	r, err := f.openReader(ctx, file, accountID, recordingID)
	if err != nil {
		file.Close()
		return nil, err
	}
	return r, nil
}

func (f *Files) openReader(ctx context.Context, src io.ReadCloser, accountID, recordingID string) (*reader, error) {
	h, err := readHeader(src)
	if err != nil {
		return nil, err
	}
	if h.purpose != Purpose {
		return nil, ErrCorrupt
	}
	dk, err := f.dataKey(ctx, accountID, false)
	if err != nil {
		return nil, err
	}
	return newReader(src, h, dk, accountID, recordingID)
}

// Remove deletes a recording; a recording that does not exist is not an error.
func (f *Files) Remove(ctx context.Context, accountID, recordingID string) error {
	path, err := f.path(accountID, recordingID)
	if err != nil {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("recording: %w", err)
	}
	return nil
}

// Forget drops the account's data key from memory, e.g. after the key was deleted from
// the store to shred the account's recordings; the next use reads the store again.
func (f *Files) Forget(accountID string) {
	f.dataKeys.Delete(accountID)
}

const maxIDLen = 128

// validID admits only what cannot escape the directory or mean anything to a file system.
func validID(s string) bool {
	if s == "" || len(s) > maxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func (f *Files) path(accountID, recordingID string) (string, error) {
	if !validID(accountID) || !validID(recordingID) {
		return "", ErrInvalidID
	}
	return filepath.Join(f.dir, accountID, recordingID+".rec"), nil
}

type dataKey struct {
	raw []byte
	id  [keyIDSize]byte
}

// DataKeyAAD binds an account's sealed recording data key to the account.
func DataKeyAAD(accountID string) []byte {
	return []byte("datakey:" + accountID + ":" + Purpose)
}

func isKeyNotFound(err error) bool {
	return errors.Is(err, ErrKeyNotFound) || errors.Is(err, trunkline.ErrNotFound)
}

// dataKey returns the account's raw data key, from memory or the store; with create it
// makes one when the store has none.
func (f *Files) dataKey(ctx context.Context, accountID string, create bool) (*dataKey, error) {
	if v, ok := f.dataKeys.Load(accountID); ok {
		return v.(*dataKey), nil
	}
	wrapped, err := f.ks.AccountDataKey(ctx, accountID, Purpose)
	switch {
	case err == nil:
	case !isKeyNotFound(err):
		return nil, fmt.Errorf("recording: load data key: %w", err)
	case !create:
		return nil, fmt.Errorf("%w: %w", ErrNotFound, ErrKeyNotFound)
	default:
		_, fresh, err := f.kek.NewDataKey(DataKeyAAD(accountID))
		if err != nil {
			return nil, fmt.Errorf("recording: new data key: %w", err)
		}
		// Insert-if-absent: whoever stored first wins, and everyone uses the winner.
		wrapped, err = f.ks.PutAccountDataKey(ctx, accountID, Purpose, fresh)
		if err != nil {
			return nil, fmt.Errorf("recording: store data key: %w", err)
		}
	}
	// Always unwrap what the store holds, so a key that cannot be read back is found
	// before any recording is sealed with it.
	raw, err := f.kek.Open(wrapped, DataKeyAAD(accountID))
	if err != nil {
		return nil, fmt.Errorf("recording: unwrap data key of account %s: %w", accountID, err)
	}
	if len(raw) != 32 {
		return nil, fmt.Errorf("recording: data key of account %s has %d bytes", accountID, len(raw))
	}
	dk := &dataKey{raw: raw}
	sum := sha256.Sum256(append([]byte("trunkline data key id\x00"), raw...))
	copy(dk.id[:], sum[:])
	v, _ := f.dataKeys.LoadOrStore(accountID, dk)
	return v.(*dataKey), nil
}
