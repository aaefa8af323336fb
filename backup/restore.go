package backup

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/trunkline/trunkline/store"
)

// List returns the ids of the backups at a destination that have a manifest, oldest first.
func List(ctx context.Context, d Destination) ([]string, error) {
	keys, err := d.List(ctx, "backups/")
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, k := range keys {
		if rest, ok := strings.CutSuffix(strings.TrimPrefix(k, "backups/"), "/manifest"); ok && !strings.Contains(rest, "/") {
			ids = append(ids, rest)
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// ErrWrongKey: the backup key does not open the backup.
var ErrWrongKey = errors.New("wrong backup key")

// LoadManifest reads and opens a backup's manifest; id "" or "latest" picks the newest.
// It returns the manifest and the backup's data key.
func LoadManifest(ctx context.Context, d Destination, k *Key, id string) (*Manifest, []byte, error) {
	if id == "" || id == "latest" {
		ids, err := List(ctx, d)
		if err != nil {
			return nil, nil, err
		}
		if len(ids) == 0 {
			return nil, nil, fmt.Errorf("destination %s holds no backup", d.Name())
		}
		id = ids[len(ids)-1]
	}
	rc, err := d.Get(ctx, "backups/"+id+"/manifest")
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, fmt.Errorf("destination %s has no backup %s", d.Name(), id)
		}
		return nil, nil, err
	}
	defer rc.Close()
	var mf manifestFile
	if err := json.NewDecoder(io.LimitReader(rc, 256<<20)).Decode(&mf); err != nil || mf.Format != Format {
		return nil, nil, fmt.Errorf("backup %s: the manifest is malformed", id)
	}
	if mf.ID != id {
		return nil, nil, fmt.Errorf("backup %s: the manifest belongs to backup %s (moved or swapped): refused", id, mf.ID)
	}
	if mf.KeyID != k.ID {
		return nil, nil, fmt.Errorf("%w: backup %s was made with backup key %s, this key is %s", ErrWrongKey, id, mf.KeyID, k.ID)
	}
	dk, err := k.unwrap(mf.WrappedKey, id)
	if err != nil {
		return nil, nil, fmt.Errorf("backup %s: the manifest's data key failed authentication (manifest tampered with, or from another backup)", id)
	}
	body, err := openRandom(dk, mf.Sealed, manifestAAD(id))
	if err != nil {
		return nil, nil, fmt.Errorf("backup %s: the manifest failed authentication (corrupted or tampered with)", id)
	}
	var m Manifest
	if err := json.Unmarshal(body, &m); err != nil || m.ID != id {
		return nil, nil, fmt.Errorf("backup %s: the sealed manifest is malformed", id)
	}
	return &m, dk, nil
}

// RestoreOptions configure a restore.
type RestoreOptions struct {
	Source  Destination
	Key     *Key
	ID      string // "" = latest
	DataDir string // target data dir: absent or empty
	// DSN is the target PostgreSQL database (its current schema must be empty or
	// unmigrated); empty restores into SQLite in DataDir.
	DSN      string
	Progress Progress
}

// Restored describes a finished restore.
type Restored struct {
	Manifest *Manifest `json:"manifest"`
	Keys     int       `json:"keys_restored"` // account data keys taken from the current keyring
	// Shredded counts the recordings deleted since the backup: the current keyring no
	// longer has their keys, so they are not restored.
	Shredded int `json:"shredded_recordings"`
}

// Restore restores a backup. Everything is fetched, decrypted and checked against the
// manifest in a staging directory beside the target first; the database is loaded in one
// transaction whose row counts must match the manifest; only then does the staging
// directory become the data dir. On any failure nothing is left behind.
func Restore(ctx context.Context, o RestoreOptions) (*Restored, error) {
	if o.Progress == nil {
		o.Progress = nopProgress{}
	}
	if err := checkEmptyDir(o.DataDir); err != nil {
		return nil, err
	}
	m, dk, err := LoadManifest(ctx, o.Source, o.Key, o.ID)
	if err != nil {
		return nil, err
	}
	keyring, err := ReadKeyring(ctx, o.Source, o.Key)
	if err != nil {
		return nil, err
	}
	parent := filepath.Dir(filepath.Clean(o.DataDir))
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return nil, err
	}
	var rb [4]byte
	rand.Read(rb[:])
	stage := filepath.Join(parent, "."+filepath.Base(o.DataDir)+".restoring-"+hex.EncodeToString(rb[:]))
	if err := os.Mkdir(stage, 0o700); err != nil {
		return nil, err
	}
	done := false
	defer func() {
		if !done {
			os.RemoveAll(stage)
		}
	}()
	var pg *store.DB
	if o.DSN != "" {
		// Refuse a non-empty database before moving any byte.
		if pg, err = store.Open(ctx, o.DSN); err != nil {
			return nil, err
		}
		defer pg.Close()
		counts, err := pg.CountRows(ctx)
		if err != nil {
			return nil, err
		}
		if t, ok := store.IsEmpty(counts); !ok {
			return nil, fmt.Errorf("%w: table %s has %d rows; restore only into an empty database", store.ErrNotEmpty, t, counts[t])
		}
	}
	o.Progress.Start("restore", m.Bytes())
	exportPath := ""
	res := &Restored{Manifest: m}
	for _, obj := range m.Objects {
		var bkey []byte
		if obj.Kind == "blob" {
			if bkey = keyring.Recordings[obj.Blob]; bkey == nil {
				res.Shredded++
				continue
			}
		}
		var target string
		switch obj.Kind {
		case "db-sqlite":
			target = filepath.Join(stage, "trunkline.db")
		case "db-export":
			exportPath = filepath.Join(stage, ".export.jsonl")
			target = exportPath
		default:
			if obj.Path == "" || strings.Contains(obj.Path, "..") || filepath.IsAbs(obj.Path) {
				return nil, fmt.Errorf("backup %s: object %s has a bad path", m.ID, obj.Name)
			}
			target = filepath.Join(stage, filepath.FromSlash(obj.Path))
		}
		if err := fetchObject(ctx, o.Source, o.Key, m.ID, dk, bkey, obj, target, o.Progress); err != nil {
			return nil, fmt.Errorf("backup %s: %w (nothing was restored)", m.ID, err)
		}
	}
	check := func(counts map[string]int64) error {
		for t, want := range m.Tables {
			if got := counts[t]; got != want {
				return fmt.Errorf("table %s has %d rows after the restore, the manifest says %d", t, got, want)
			}
		}
		return nil
	}
	sqlitePath := filepath.Join(stage, "trunkline.db")
	fail := func(err error) (*Restored, error) {
		return nil, fmt.Errorf("backup %s: %w (nothing was restored)", m.ID, err)
	}
	switch {
	case o.DSN == "" && exportPath == "":
		// SQLite to SQLite: the snapshot file is the database.
		db, err := store.Open(ctx, sqlitePath)
		if err != nil {
			return fail(fmt.Errorf("restored database: %w", err))
		}
		counts, err := db.CountRows(ctx)
		if err == nil {
			err = check(counts)
		}
		if err == nil {
			res.Keys, err = db.ImportKeys(ctx, keyring.Accounts)
		}
		db.Close()
		if err != nil {
			return fail(err)
		}
	case o.DSN == "":
		// PostgreSQL to SQLite: load the export into a new SQLite store.
		db, err := store.Open(ctx, sqlitePath)
		if err != nil {
			return fail(err)
		}
		err = importFile(ctx, db, exportPath, keyring.Accounts, check)
		db.Close()
		if err != nil {
			return fail(err)
		}
		res.Keys = len(keyring.Accounts)
	default:
		if exportPath == "" {
			// SQLite to PostgreSQL: export the restored SQLite file, then load that.
			exportPath = filepath.Join(stage, ".export.jsonl")
			if err := exportSQLite(ctx, sqlitePath, exportPath); err != nil {
				return fail(err)
			}
		}
		if err := importFile(ctx, pg, exportPath, keyring.Accounts, check); err != nil {
			return fail(err)
		}
		res.Keys = len(keyring.Accounts)
	}
	os.Remove(exportPath)
	os.Remove(o.DataDir) // empty (checked above) or absent
	if err := os.Rename(stage, o.DataDir); err != nil {
		return nil, fmt.Errorf("move the restored data into %s: %w", o.DataDir, err)
	}
	done = true
	return res, nil
}

func checkEmptyDir(dir string) error {
	if dir == "" {
		return errors.New("restore needs a target data dir")
	}
	es, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(es) > 0 {
		return fmt.Errorf("the target data dir %s is not empty: restore only into an empty or new directory", dir)
	}
	return nil
}

// fetchObject downloads, decrypts and checks one object into target.
func fetchObject(ctx context.Context, d Destination, k *Key, id string, dk, blobKey []byte, obj ObjectInfo, target string, p Progress) error {
	if len(obj.Parts) > 0 {
		return fetchParts(ctx, d, k, obj, target, p)
	}
	key, ckey, ctxName := "backups/"+id+"/"+obj.Name, objectKey(dk, id, obj.Name), id+"/"+obj.Name
	if obj.Kind == "blob" {
		key, ckey, ctxName = "blobs/"+obj.Blob, blobKey, "blob/"+obj.Blob
	}
	rc, err := d.Get(ctx, key)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("object %s is missing at %s", obj.Name, d.Name())
		}
		return err
	}
	defer rc.Close()
	if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	err = openStream(f, &countingReader{rc, p}, ckey, ctxName, obj.Name, obj)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// fetchParts reassembles an object stored as content-defined parts, checking every part
// and then the whole against the manifest.
func fetchParts(ctx context.Context, d Destination, k *Key, obj ObjectInfo, target string, p Progress) error {
	if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	whole := sha256.New()
	var size int64
	for i, part := range obj.Parts {
		rc, err := d.Get(ctx, "blobs/"+part.Blob)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("object %s, part %d is missing at %s", obj.Name, i, d.Name())
			}
			return err
		}
		want := ObjectInfo{Size: part.Size, SHA256: part.SHA256, Chunks: part.Size/ChunkSize + 1}
		err = openStream(io.MultiWriter(f, whole), &countingReader{rc, p}, k.blobKey(part.Blob), "blob/"+part.Blob,
			fmt.Sprintf("%s part %d", obj.Name, i), want)
		rc.Close()
		if err != nil {
			return err
		}
		size += part.Size
	}
	if size != obj.Size || hex.EncodeToString(whole.Sum(nil)) != obj.SHA256 {
		return fmt.Errorf("object %s does not match the manifest once reassembled", obj.Name)
	}
	return f.Close()
}

func importFile(ctx context.Context, db *store.DB, path string, keyring []store.KeyringEntry, check func(map[string]int64) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return db.Import(ctx, f, keyring, check)
}

// exportSQLite turns a restored SQLite file into an export (for a PostgreSQL target) and
// removes the file.
func exportSQLite(ctx context.Context, sqlitePath, exportPath string) error {
	db, err := store.Open(ctx, sqlitePath)
	if err != nil {
		return err
	}
	f, err := os.Create(exportPath)
	if err == nil {
		_, err = db.Export(ctx, f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	db.Close()
	store.RemoveFile(sqlitePath)
	return err
}
