package keys

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"sync"

	"golang.org/x/crypto/hkdf"
)

// DataKeyStore keeps wrapped per-account data keys (implemented by *store.DB).
type DataKeyStore interface {
	AccountDataKey(ctx context.Context, accountID, purpose string) ([]byte, error)
	PutAccountDataKey(ctx context.Context, accountID, purpose string, wrapped []byte) ([]byte, error)
}

// ErrNoDataKey: the account has no data key for the purpose (never made, or destroyed
// with the account, which crypto-shreds what it sealed).
var ErrNoDataKey = errors.New("keys: account data key not found")

// AccountKeys unwraps an account's data key for one purpose on first use and caches it
// in memory, so hot paths (every message) pay for the KEK only once per account.
type AccountKeys struct {
	kek      *Ring
	ks       DataKeyStore
	purpose  string
	notFound func(error) bool
	cache    sync.Map // account id → []byte
}

// NewAccountKeys returns the cache for purpose; notFound tells the store's "no such row"
// error apart from failures.
func NewAccountKeys(kek *Ring, ks DataKeyStore, purpose string, notFound func(error) bool) *AccountKeys {
	return &AccountKeys{kek: kek, ks: ks, purpose: purpose, notFound: notFound}
}

// AAD binds a wrapped data key to its account and purpose (the same form recordings use).
func DataKeyAAD(accountID, purpose string) []byte {
	return []byte("datakey:" + accountID + ":" + purpose)
}

// Get returns the account's raw data key; with create it makes one when there is none
// (the first writer wins; everyone uses the stored key).
func (a *AccountKeys) Get(ctx context.Context, accountID string, create bool) ([]byte, error) {
	if v, ok := a.cache.Load(accountID); ok {
		return v.([]byte), nil
	}
	aad := DataKeyAAD(accountID, a.purpose)
	wrapped, err := a.ks.AccountDataKey(ctx, accountID, a.purpose)
	switch {
	case err == nil:
	case !a.notFound(err):
		return nil, fmt.Errorf("keys: load %s data key: %w", a.purpose, err)
	case !create:
		return nil, ErrNoDataKey
	default:
		_, fresh, err := a.kek.NewDataKey(aad)
		if err != nil {
			return nil, err
		}
		if wrapped, err = a.ks.PutAccountDataKey(ctx, accountID, a.purpose, fresh); err != nil {
			return nil, fmt.Errorf("keys: store %s data key: %w", a.purpose, err)
		}
	}
	raw, err := a.kek.Open(wrapped, aad)
	if err != nil {
		return nil, fmt.Errorf("keys: unwrap %s data key of account %s: %w", a.purpose, accountID, err)
	}
	v, _ := a.cache.LoadOrStore(accountID, raw)
	return v.([]byte), nil
}

// Forget drops an account's key from memory (after the account's keys were destroyed).
func (a *AccountKeys) Forget(accountID string) { a.cache.Delete(accountID) }

// MessagePurpose names the account data key that seals stored message bodies.
const MessagePurpose = "message"

// Bodies seals message bodies at rest under their account's "message" data key, so
// destroying that key (deleting the account) shreds the bodies, in old backups too.
//
// Format: version 1 || 16-byte salt || 12-byte nonce || AES-256-GCM(body, aad
// "message:<uuid>"), under HKDF-SHA-256(data key, salt, "trunkline message body v1"):
// a fresh key per body keeps random nonces safe however many messages an account sends.
type Bodies struct{ keys *AccountKeys }

// NewBodies returns the message body sealer.
func NewBodies(kek *Ring, ks DataKeyStore, notFound func(error) bool) *Bodies {
	return &Bodies{keys: NewAccountKeys(kek, ks, MessagePurpose, notFound)}
}

// Forget drops an account's cached key.
func (b *Bodies) Forget(accountID string) { b.keys.Forget(accountID) }

func bodyAEAD(dk, salt []byte) (cipher.AEAD, error) {
	k := make([]byte, keySize)
	if _, err := io.ReadFull(hkdf.New(sha256.New, dk, salt, []byte("trunkline message body v1")), k); err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// SealBody encrypts a message body.
func (b *Bodies) SealBody(ctx context.Context, accountID, uuid, body string) ([]byte, error) {
	dk, err := b.keys.Get(ctx, accountID, true)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 1+16+nonceSize, 1+16+nonceSize+len(body)+16)
	out[0] = version1
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, err
	}
	aead, err := bodyAEAD(dk, out[1:17])
	if err != nil {
		return nil, err
	}
	return aead.Seal(out, out[17:17+nonceSize], []byte(body), []byte("message:"+uuid)), nil
}

// OpenBody decrypts a body sealed by SealBody; ErrNoDataKey when the account's key is
// gone (shredded), ErrDecrypt when the ciphertext does not open.
func (b *Bodies) OpenBody(ctx context.Context, accountID, uuid string, enc []byte) (string, error) {
	if len(enc) < 1+16+nonceSize || enc[0] != version1 {
		return "", ErrDecrypt
	}
	dk, err := b.keys.Get(ctx, accountID, false)
	if err != nil {
		return "", err
	}
	aead, err := bodyAEAD(dk, enc[1:17])
	if err != nil {
		return "", err
	}
	pt, err := aead.Open(nil, enc[17:17+nonceSize], enc[17+nonceSize:], []byte("message:"+uuid))
	if err != nil {
		return "", ErrDecrypt
	}
	return string(pt), nil
}
