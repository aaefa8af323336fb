package backup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/trunkline/trunkline/store"
)

// The keyring object, one per destination, holds the keys a backup must not keep in
// itself: the per-account data keys (wrapped by the KEK) and the key of each recording
// blob the newest backup holds. Every backup overwrites it; it is never versioned. A
// restore of any backup takes its keys from the current keyring, so whatever was deleted
// since — an account, a recording — cannot be read back from an older backup.

// Keyring is the content of a keyring object.
type Keyring struct {
	Written    time.Time            `json:"written"`
	Accounts   []store.KeyringEntry `json:"accounts"`
	Recordings map[string][]byte    `json:"recordings"` // blob id → key
}

// keyringFile is the stored keyring.
type keyringFile struct {
	Format  string    `json:"format"`
	Written time.Time `json:"written"`
	KeyID   string    `json:"backup_key_id"`
	Sealed  []byte    `json:"sealed"`
}

const keyringAAD = "trunkline backup keyring v1"

func (r *run) putKeyring(ctx context.Context) (int, error) {
	entries, err := r.o.DB.Keyring(ctx)
	if err != nil {
		return 0, fmt.Errorf("backup: read keyring: %w", err)
	}
	kr := &Keyring{Accounts: entries, Recordings: r.usedKeys}
	if err := writeKeyring(r.o.Key, kr, r.tmp, func(path string) { r.upload(ctx, "keyring", path, r.live()) }); err != nil {
		return 0, err
	}
	if len(r.live()) == 0 {
		return 0, r.allFailed()
	}
	return len(entries), nil
}

// writeKeyring seals kr into a keyring file under dir and hands its path to put.
func writeKeyring(k *Key, kr *Keyring, dir string, put func(path string)) error {
	kr.Written = time.Now().UTC()
	body, err := json.Marshal(kr)
	if err != nil {
		return err
	}
	kf := keyringFile{Format: Format, Written: kr.Written, KeyID: k.ID, Sealed: sealRandom(k.keyringKey(), body, []byte(keyringAAD))}
	b, err := json.Marshal(kf)
	if err != nil {
		return err
	}
	p := filepath.Join(dir, "keyring")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		return err
	}
	defer os.Remove(p)
	put(p)
	return nil
}

// recordingKeys gathers the recording blob keys of every destination's keyring (the
// newest keyring wins where two disagree); destinations without one add nothing.
func recordingKeys(ctx context.Context, dests []Destination, k *Key) map[string][]byte {
	out := map[string][]byte{}
	var rings []*Keyring
	for _, d := range dests {
		if kr, err := ReadKeyring(ctx, d, k); err == nil {
			rings = append(rings, kr)
		}
	}
	// Oldest first, so the newest overwrites.
	for i := 0; i < len(rings); i++ {
		for j := i + 1; j < len(rings); j++ {
			if rings[j].Written.Before(rings[i].Written) {
				rings[i], rings[j] = rings[j], rings[i]
			}
		}
	}
	for _, kr := range rings {
		for id, key := range kr.Recordings {
			out[id] = key
		}
	}
	return out
}

// RefreshKeyring replaces the account keys in every destination's keyring with the
// store's current ones, e.g. right after an account was deleted, so its keys leave the
// destinations at once. The recording keys stay as they are.
func RefreshKeyring(ctx context.Context, db *store.DB, k *Key, dests []Destination) error {
	entries, err := db.Keyring(ctx)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "trunkline-keyring-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	var errs []error
	for _, d := range dests {
		kr, err := ReadKeyring(ctx, d, k)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		kr.Accounts = entries
		if err := writeKeyring(k, kr, tmp, func(p string) {
			if err := d.Put(ctx, "keyring", p); err != nil {
				errs = append(errs, err)
			}
		}); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ReadKeyring fetches and opens the current keyring from a destination.
func ReadKeyring(ctx context.Context, d Destination, k *Key) (*Keyring, error) {
	rc, err := d.Get(ctx, "keyring")
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	defer rc.Close()
	var kf keyringFile
	if err := json.NewDecoder(io.LimitReader(rc, 1<<30)).Decode(&kf); err != nil {
		return nil, fmt.Errorf("keyring at %s is malformed: %w", d.Name(), err)
	}
	if kf.KeyID != k.ID {
		return nil, fmt.Errorf("wrong backup key: the keyring at %s was written with backup key %s, this key is %s", d.Name(), kf.KeyID, k.ID)
	}
	body, err := openRandom(k.keyringKey(), kf.Sealed, []byte(keyringAAD))
	if err != nil {
		return nil, fmt.Errorf("the keyring at %s failed authentication (corrupted or tampered with)", d.Name())
	}
	var kr Keyring
	if err := json.Unmarshal(body, &kr); err != nil {
		return nil, err
	}
	if kr.Recordings == nil {
		kr.Recordings = map[string][]byte{}
	}
	return &kr, nil
}
