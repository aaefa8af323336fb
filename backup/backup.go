// Package backup makes encrypted backups of a Trunkline installation to several
// destinations at once, restores them, and runs restore drills that prove them.
//
// A backup holds a consistent snapshot of the database (SQLite through VACUUM INTO,
// PostgreSQL through one repeatable-read transaction streamed out as dialect-neutral JSON
// lines), the recordings, the audit verifier key and any audit witness file, and the
// configuration file. It never holds the KEK, the audit signing key, the backup key — nor
// the per-account data keys: those go to a keyring object kept once per destination and
// overwritten by every backup (see Keyring), so that deleting an account shreds its
// messages and recordings in old backups too.
//
// Every object is sealed in 4 MiB chunks with AES-256-GCM (see crypt.go) under a key
// derived from a fresh random data key per backup, wrapped by the backup key. The
// manifest (sizes, SHA-256 of each object's plaintext, chunk counts, row counts per
// table, the audit checkpoint the snapshot contains) is sealed under the same data key
// and written last: a backup without its manifest does not exist.
//
// Layout at each destination:
//
//	backups/<id>/manifest
//	backups/<id>/files/<name>  config file, audit verifier key, witness
//	blobs/<keyed hash>         recordings, and the database (SQLite file or JSON-lines
//	                           export) in content-defined parts; shared by every backup
//	                           that has them
//	keyring                    the current account data keys (not versioned)
package backup

import (
	"bytes"
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
	"sync"
	"time"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/store"
)

// Format names the manifest format.
const Format = "trunkline-backup-1"

// ObjectInfo describes one object of a backup.
type ObjectInfo struct {
	Name   string `json:"name"`           // key under backups/<id>/ (or blobs/ for blobs)
	Kind   string `json:"kind"`           // db-sqlite, db-export, file, blob
	Path   string `json:"path,omitempty"` // where a restore puts it, relative to the data dir
	Blob   string `json:"blob,omitempty"` // blob id (kind blob)
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"` // of the plaintext
	Chunks int64  `json:"chunks"`
	// Parts, for the database: its content-defined parts, each a blob (shared with
	// earlier backups when unchanged), in order.
	Parts []Part `json:"parts,omitempty"`
}

// Part is one content-defined part of an object, stored as a blob.
type Part struct {
	Blob   string `json:"blob"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// AuditInfo is the newest signed audit checkpoint the snapshot contains.
type AuditInfo struct {
	Size       int64  `json:"size"`
	Checkpoint string `json:"checkpoint,omitempty"` // the signed note
}

// Manifest describes a backup; it is sealed in the manifest object.
type Manifest struct {
	Format        string           `json:"format"`
	ID            string           `json:"id"`
	Created       time.Time        `json:"created"`
	Dialect       string           `json:"dialect"`
	SchemaVersion int              `json:"schema_version"`
	Objects       []ObjectInfo     `json:"objects"`
	Tables        map[string]int64 `json:"tables"`
	Audit         AuditInfo        `json:"audit"`
}

// Bytes is the plaintext size of all objects.
func (m *Manifest) Bytes() int64 {
	var n int64
	for _, o := range m.Objects {
		n += o.Size
	}
	return n
}

// manifestFile is the stored manifest: the wrapped data key in clear (it is useless
// without the backup key) and the sealed manifest.
type manifestFile struct {
	Format     string    `json:"format"`
	ID         string    `json:"id"`
	Created    time.Time `json:"created"`
	KeyID      string    `json:"backup_key_id"`
	WrappedKey []byte    `json:"wrapped_key"`
	Sealed     []byte    `json:"sealed"`
}

func manifestAAD(id string) []byte { return []byte("trunkline backup manifest v1\x00" + id) }

// Progress receives what a backup or restore is doing (a progress bar, JSON lines).
type Progress interface {
	// Start announces a phase with the bytes it will move (0 if unknown).
	Start(phase string, total int64)
	Add(n int64)
	// Event reports something worth a line: a retry, a destination that failed.
	Event(kind string, fields map[string]any)
}

type nopProgress struct{}

func (nopProgress) Start(string, int64)          {}
func (nopProgress) Add(int64)                    {}
func (nopProgress) Event(string, map[string]any) {}

// Options configure a backup.
type Options struct {
	DB         *store.DB
	DataDir    string
	ConfigFile string   // copied into the backup when set
	Files      []string // further files, relative to DataDir (the audit verifier key, witness files)
	Key        *Key
	Dests      []Destination
	Progress   Progress
	// Attempts bounds the tries per object and destination (default 3), with a doubling
	// pause from RetryPause (default 500 ms).
	Attempts   int
	RetryPause time.Duration
	Now        func() time.Time
	// CacheFile, when set, remembers the blobs of unchanged recordings between backups
	// (see cache.go), so they are not read again.
	CacheFile string
}

// Result is the outcome of a backup.
type Result struct {
	ID         string            `json:"id"`
	Bytes      int64             `json:"bytes"`
	Objects    int               `json:"objects"`
	Reused     int               `json:"reused_blobs"` // recordings already at every destination
	Confirmed  []string          `json:"confirmed"`
	Failed     map[string]string `json:"failed,omitempty"`
	Duration   time.Duration     `json:"duration_ns"`
	Tables     map[string]int64  `json:"tables"`
	AuditSize  int64             `json:"audit_size"`
	KeyringLen int               `json:"keyring_keys"`
}

// DestinationError is a destination that did not take the backup.
type DestinationError struct {
	Failed    map[string]string
	Confirmed []string
}

func (e *DestinationError) Error() string {
	names := make([]string, 0, len(e.Failed))
	for n := range e.Failed {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("backup incomplete: ")
	for i, n := range names {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "destination %s failed: %s", n, e.Failed[n])
	}
	if len(e.Confirmed) > 0 {
		fmt.Fprintf(&b, " (complete copy kept at: %s)", strings.Join(e.Confirmed, ", "))
	}
	return b.String()
}

// NewID makes a backup id: the UTC time (sortable; retention reads it) and random bits.
func NewID(t time.Time) string {
	var b [4]byte
	rand.Read(b[:])
	return t.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// idTime reads the time from a backup id.
func idTime(id string) (time.Time, bool) {
	if len(id) < 16 {
		return time.Time{}, false
	}
	t, err := time.Parse("20060102T150405Z", id[:16])
	return t, err == nil
}

type run struct {
	o       Options
	id      string
	dataKey []byte
	tmp     string
	prog    Progress

	mu     sync.Mutex
	failed map[string]string // destination → first error

	blobKeys map[string][]byte // recording blob keys known from the destinations' keyrings
	usedKeys map[string][]byte // those this backup's recordings use: the next keyring
}

// Run makes one backup. It returns the result and, when any destination failed, a
// *DestinationError (the others keep a complete copy, manifest included).
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.DB == nil || o.Key == nil || len(o.Dests) == 0 {
		return nil, errors.New("backup: needs a store, a backup key and at least one destination")
	}
	if o.Progress == nil {
		o.Progress = nopProgress{}
	}
	if o.Attempts <= 0 {
		o.Attempts = 3
	}
	if o.RetryPause <= 0 {
		o.RetryPause = 500 * time.Millisecond
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	start := time.Now()
	r := &run{o: o, prog: o.Progress, failed: map[string]string{}, usedKeys: map[string][]byte{}}
	r.blobKeys = recordingKeys(ctx, o.Dests, o.Key)
	r.id = NewID(o.Now())
	r.dataKey = make([]byte, 32)
	if _, err := rand.Read(r.dataKey); err != nil {
		return nil, err
	}
	var err error
	if r.tmp, err = os.MkdirTemp("", "trunkline-backup-"); err != nil {
		return nil, err
	}
	defer os.RemoveAll(r.tmp)

	m := &Manifest{Format: Format, ID: r.id, Created: o.Now().UTC(), Dialect: string(o.DB.Dialect())}
	if m.SchemaVersion, err = o.DB.SchemaVersion(ctx); err != nil {
		return nil, err
	}
	// The newest checkpoint before the snapshot: the snapshot certainly contains it.
	if cp, err := o.DB.LatestAuditCheckpoint(ctx); err == nil {
		m.Audit = AuditInfo{Size: cp.Size, Checkpoint: cp.Note}
	} else if !errors.Is(err, trunkline.ErrNotFound) {
		return nil, fmt.Errorf("backup: read audit checkpoint: %w", err)
	}

	// 1. Files: configuration, audit verifier key, witness files. Before the database:
	// a witness copied after the snapshot could hold a checkpoint newer than the entries
	// the snapshot has, and the restored log would look rolled back.
	if o.ConfigFile != "" {
		info, err := r.putObject(ctx, "files/config/"+filepath.Base(o.ConfigFile), "file", "restored-config/"+filepath.Base(o.ConfigFile), o.ConfigFile)
		if err != nil {
			return nil, fmt.Errorf("backup: config file: %w", err)
		}
		m.Objects = append(m.Objects, info)
	}
	for _, rel := range o.Files {
		p := filepath.Join(o.DataDir, rel)
		if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		info, err := r.putObject(ctx, "files/"+filepath.ToSlash(rel), "file", filepath.ToSlash(rel), p)
		if err != nil {
			return nil, err
		}
		m.Objects = append(m.Objects, info)
	}

	// 2. Database snapshot.
	r.prog.Start("snapshot database", 0)
	dbPlain := filepath.Join(r.tmp, "db")
	kind := "db-sqlite"
	if o.DB.Dialect() == store.SQLite {
		m.Tables, err = o.DB.SnapshotSQLite(ctx, dbPlain)
	} else {
		kind = "db-export"
		var f *os.File
		if f, err = os.Create(dbPlain); err == nil {
			m.Tables, err = o.DB.Export(ctx, f)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("backup: snapshot: %w", err)
	}
	info, err := r.putParts(ctx, "db", kind, dbPlain)
	if err != nil {
		return nil, err
	}
	os.Remove(dbPlain)
	m.Objects = append(m.Objects, info)

	// 3. Recordings, deduplicated by keyed content hash.
	recs, err := listFiles(filepath.Join(o.DataDir, "recordings"))
	if err != nil {
		return nil, fmt.Errorf("backup: list recordings: %w", err)
	}
	var total int64
	for _, f := range recs {
		total += f.size
	}
	r.prog.Start("recordings", total)
	reused := 0
	cache := loadCache(o.CacheFile, o.Key.ID)
	seen := map[string]cacheEntry{}
	for _, f := range recs {
		info, skipped, err := r.putBlob(ctx, filepath.Join(o.DataDir, "recordings", f.rel), "recordings/"+f.rel, cache, seen)
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted while we ran
		}
		if err != nil {
			return nil, err
		}
		if skipped {
			reused++
		}
		m.Objects = append(m.Objects, info)
	}

	// 4. The keyring (current copy, replaced at every destination).
	if len(r.failed) == 0 {
		saveCache(o.CacheFile, cache, seen)
	}
	nkeys, err := r.putKeyring(ctx)
	if err != nil {
		return nil, err
	}

	// 5. The manifest, last: it makes the backup exist.
	body, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	mf := manifestFile{Format: Format, ID: r.id, Created: m.Created, KeyID: o.Key.ID,
		WrappedKey: o.Key.wrap(r.dataKey, r.id), Sealed: sealRandom(r.dataKey, body, manifestAAD(r.id))}
	mb, err := json.Marshal(mf)
	if err != nil {
		return nil, err
	}
	mpath := filepath.Join(r.tmp, "manifest")
	if err := os.WriteFile(mpath, mb, 0o600); err != nil {
		return nil, err
	}
	r.upload(ctx, "backups/"+r.id+"/manifest", mpath, r.live())

	res := &Result{ID: r.id, Bytes: m.Bytes(), Objects: len(m.Objects), Reused: reused, Tables: m.Tables,
		AuditSize: m.Audit.Size, KeyringLen: nkeys, Duration: time.Since(start)}
	for _, d := range o.Dests {
		if _, bad := r.failed[d.Name()]; !bad {
			res.Confirmed = append(res.Confirmed, d.Name())
		}
	}
	if len(r.failed) > 0 {
		res.Failed = r.failed
		return res, &DestinationError{Failed: r.failed, Confirmed: res.Confirmed}
	}
	return res, nil
}

type fileInfo struct {
	rel  string
	size int64
}

func listFiles(root string) ([]fileInfo, error) {
	var out []fileInfo
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if e.IsDir() || !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") {
			return nil
		}
		fi, err := e.Info()
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		out = append(out, fileInfo{filepath.ToSlash(rel), fi.Size()})
		return nil
	})
	return out, err
}

// live reports the destinations not yet failed.
func (r *run) live() []Destination {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Destination
	for _, d := range r.o.Dests {
		if _, bad := r.failed[d.Name()]; !bad {
			out = append(out, d)
		}
	}
	return out
}

// upload puts the file at the given destinations in parallel, retrying each a bounded
// number of times; a destination that still fails is marked failed and skipped from
// then on (the backup goes on for the others).
func (r *run) upload(ctx context.Context, key, path string, dests []Destination) {
	var wg sync.WaitGroup
	for _, d := range dests {
		wg.Add(1)
		go func(d Destination) {
			defer wg.Done()
			var err error
			pause := r.o.RetryPause
			for attempt := 1; attempt <= r.o.Attempts; attempt++ {
				if err = d.Put(ctx, key, path); err == nil {
					return
				}
				if ctx.Err() != nil || attempt == r.o.Attempts {
					break
				}
				r.prog.Event("retry", map[string]any{"destination": d.Name(), "object": key, "attempt": attempt, "error": err.Error()})
				select {
				case <-time.After(pause):
				case <-ctx.Done():
				}
				pause *= 2
			}
			r.mu.Lock()
			if _, ok := r.failed[d.Name()]; !ok {
				r.failed[d.Name()] = err.Error()
			}
			r.mu.Unlock()
			r.prog.Event("destination_failed", map[string]any{"destination": d.Name(), "object": key, "error": err.Error()})
		}(d)
	}
	wg.Wait()
}

// seal encrypts src into a spool file and returns it with the object's description.
func (r *run) seal(key []byte, ctxName, srcPath string) (string, ObjectInfo, error) {
	in, err := os.Open(srcPath)
	if err != nil {
		return "", ObjectInfo{}, err
	}
	defer in.Close()
	out, err := os.CreateTemp(r.tmp, "sealed-*")
	if err != nil {
		return "", ObjectInfo{}, err
	}
	size, sum, chunks, err := sealStream(out, &countingReader{in, r.prog}, key, ctxName)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(out.Name())
		return "", ObjectInfo{}, err
	}
	return out.Name(), ObjectInfo{Size: size, SHA256: hex.EncodeToString(sum), Chunks: chunks}, nil
}

func (r *run) putObject(ctx context.Context, name, kind, restorePath, src string) (ObjectInfo, error) {
	if fi, err := os.Stat(src); err == nil {
		r.prog.Start(name, fi.Size())
	}
	spool, info, err := r.seal(objectKey(r.dataKey, r.id, name), r.id+"/"+name, src)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("backup: %s: %w", name, err)
	}
	defer os.Remove(spool)
	info.Name, info.Kind, info.Path = name, kind, restorePath
	r.upload(ctx, "backups/"+r.id+"/"+name, spool, r.live())
	if len(r.live()) == 0 {
		return info, r.allFailed()
	}
	return info, nil
}

func (r *run) allFailed() error {
	return &DestinationError{Failed: r.failed}
}

// putBlob stores a recording as a content-addressed blob, unless every live destination
// has it already.
func (r *run) putBlob(ctx context.Context, src, restorePath string, cache *fileCache, seen map[string]cacheEntry) (ObjectInfo, bool, error) {
	fi, err := os.Stat(src)
	if err != nil {
		return ObjectInfo{}, false, err
	}
	var id, sum string
	var size int64
	if e, ok := cache.lookup(restorePath, fi); ok {
		id, sum, size = e.Blob, e.SHA256, e.Size
	} else {
		f, err := os.Open(src)
		if err != nil {
			return ObjectInfo{}, false, err
		}
		// One pass for the blob's name (keyed hash) and the manifest's SHA-256 and size.
		h, plain := r.o.Key.blobHasher(), sha256.New()
		size, err = io.Copy(io.MultiWriter(h, plain), f)
		f.Close()
		if err != nil {
			return ObjectInfo{}, false, err
		}
		id, sum = hex.EncodeToString(h.Sum(nil)), hex.EncodeToString(plain.Sum(nil))
	}
	e := statEntry(fi)
	e.Blob, e.SHA256 = id, sum
	seen[restorePath] = e
	key := "blobs/" + id
	// Each recording blob has its own random key, kept only in the keyring: a recording
	// deleted since drops out of the next keyring, and its copies in older backups can
	// no longer be opened (crypto-shredding of single recordings).
	bkey, known := r.blobKeys[id]
	missing := r.live() // a blob whose key is unknown is sealed again everywhere
	if known {
		missing = r.lacking(ctx, key)
	} else {
		bkey = make([]byte, 32)
		if _, err := rand.Read(bkey); err != nil {
			return ObjectInfo{}, false, err
		}
		r.blobKeys[id] = bkey
	}
	r.usedKeys[id] = bkey
	if len(missing) == 0 {
		// Already stored by an earlier backup.
		r.prog.Add(size)
		return ObjectInfo{Name: key, Kind: "blob", Path: restorePath, Blob: id, Size: size,
			SHA256: sum, Chunks: size/ChunkSize + 1}, true, nil
	}
	spool, info, err := r.seal(bkey, "blob/"+id, src)
	if err != nil {
		return ObjectInfo{}, false, err
	}
	defer os.Remove(spool)
	info.Name, info.Kind, info.Path, info.Blob = key, "blob", restorePath, id
	r.upload(ctx, key, spool, missing)
	if len(r.live()) == 0 {
		return info, false, r.allFailed()
	}
	return info, false, nil
}

// lacking returns the live destinations that do not have key yet.
func (r *run) lacking(ctx context.Context, key string) []Destination {
	var out []Destination
	for _, d := range r.live() {
		if ok, err := d.Exists(ctx, key); err != nil || !ok {
			out = append(out, d)
		}
	}
	return out
}

// putParts stores a file as content-defined parts, each a blob: parts an earlier backup
// stored already are not uploaded again.
func (r *run) putParts(ctx context.Context, name, kind, src string) (ObjectInfo, error) {
	f, err := os.Open(src)
	if err != nil {
		return ObjectInfo{}, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil {
		r.prog.Start(name, fi.Size())
	}
	info := ObjectInfo{Name: name, Kind: kind}
	whole := sha256.New()
	ch := newChunker(f, r.o.Key)
	for {
		part, err := ch.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return ObjectInfo{}, fmt.Errorf("backup: %s: %w", name, err)
		}
		whole.Write(part)
		h := r.o.Key.blobHasher()
		h.Write(part)
		id := hex.EncodeToString(h.Sum(nil))
		sum := sha256.Sum256(part)
		if err := r.putBlobData(ctx, id, part); err != nil {
			return ObjectInfo{}, err
		}
		r.prog.Add(int64(len(part)))
		info.Parts = append(info.Parts, Part{Blob: id, Size: int64(len(part)), SHA256: hex.EncodeToString(sum[:])})
		info.Size += int64(len(part))
	}
	info.SHA256 = hex.EncodeToString(whole.Sum(nil))
	info.Chunks = int64(len(info.Parts))
	return info, nil
}

// putBlobData stores data as blob id at every live destination that lacks it.
func (r *run) putBlobData(ctx context.Context, id string, data []byte) error {
	key := "blobs/" + id
	missing := r.lacking(ctx, key)
	if len(missing) == 0 {
		return nil
	}
	out, err := os.CreateTemp(r.tmp, "sealed-*")
	if err != nil {
		return err
	}
	defer os.Remove(out.Name())
	_, _, _, err = sealStream(out, bytes.NewReader(data), r.o.Key.blobKey(id), "blob/"+id)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	r.upload(ctx, key, out.Name(), missing)
	if len(r.live()) == 0 {
		return r.allFailed()
	}
	return nil
}

type countingReader struct {
	r io.Reader
	p Progress
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.p.Add(int64(n))
	return n, err
}
