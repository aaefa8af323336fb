package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// The checkpoints in the database cannot vouch for the database: whoever can delete the
// newest entries can delete the checkpoints that cover them too, and once no checkpoint
// covers an entry its hashes can be recomputed. So every signed checkpoint is also
// handed to witnesses outside the database before it is stored, and Verify checks the
// log against the newest checkpoint any witness holds. A witness on the same disk
// defeats an attacker who has the database (a PostgreSQL login, a copied SQLite file)
// but not the data dir; a witness on another host also defeats one who has the disk.

// Witness keeps copies of signed checkpoints outside the database.
type Witness interface {
	// Witness stores a signed checkpoint durably; it returns only once it is kept.
	Witness(ctx context.Context, signed []byte) error
	// Name says where the copies are, for messages.
	Name() string
}

// WitnessReader is a witness whose copies can be read back to check the log against.
type WitnessReader interface {
	Witness
	// Latest returns the checkpoint of largest size the witness holds (nil when it holds
	// none), after checking every copy's signature with v (nil v: not checked). A copy
	// that does not verify is an error: it was forged or damaged, and skipping it would
	// let a damaged newest copy hide a rollback.
	Latest(ctx context.Context, v note.Verifier) (*Checkpoint, error)
}

// FileWitness keeps checkpoints in an append-only file, one signed note per line
// (base64, so a note's own newlines cannot split a record), synced after each write.
// The file and its directory are created 0600 and 0700.
type FileWitness struct{ Path string }

func (w FileWitness) Name() string { return w.Path }

// Witness appends signed to the file.
func (w FileWitness) Witness(_ context.Context, signed []byte) error {
	if err := os.MkdirAll(filepath.Dir(w.Path), 0o700); err != nil {
		return fmt.Errorf("audit witness: %w", err)
	}
	f, err := os.OpenFile(w.Path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("audit witness: %w", err)
	}
	defer f.Close()
	line := base64.StdEncoding.AppendEncode(nil, signed)
	line = append(line, '\n')
	// A write cut short by a crash leaves a line without its newline: end it first, so
	// the damage stays on one line (Latest reports it) instead of merging into this one.
	if fi, err := f.Stat(); err == nil && fi.Size() > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, fi.Size()-1); err == nil && last[0] != '\n' {
			line = append([]byte{'\n'}, line...)
		}
	}
	if _, err := f.Write(line); err != nil {
		return fmt.Errorf("audit witness %s: %w", w.Path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("audit witness %s: %w", w.Path, err)
	}
	return f.Close()
}

// Latest reads every copy in the file; a missing file holds none.
func (w FileWitness) Latest(_ context.Context, v note.Verifier) (*Checkpoint, error) {
	f, err := os.Open(w.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("audit witness: %w", err)
	}
	defer f.Close()
	var newest *Checkpoint
	r := bufio.NewReader(f)
	for n := 1; ; n++ {
		line, err := r.ReadBytes('\n')
		if len(line) == 0 && errors.Is(err, io.EOF) {
			return newest, nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("audit witness %s: %w", w.Path, err)
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		signed, derr := base64.StdEncoding.AppendDecode(nil, line)
		if derr != nil {
			return nil, fmt.Errorf("audit witness %s line %d is damaged (not base64)", w.Path, n)
		}
		cp, perr := ParseCheckpoint(signed, v)
		if perr != nil {
			name := "the verifier key"
			if v != nil {
				name = "key " + v.Name()
			}
			return nil, fmt.Errorf("audit witness %s line %d does not verify with %s: it was forged or damaged (%v)", w.Path, n, name, perr)
		}
		if newest == nil || cp.Size > newest.Size {
			newest = cp
		}
	}
}

// latestWitnessed returns the newest checkpoint any of ws holds (nil if none holds one)
// and the witness holding it.
func latestWitnessed(ctx context.Context, ws []Witness, v note.Verifier) (*Checkpoint, string, error) {
	var newest *Checkpoint
	var where string
	for _, w := range ws {
		wr, ok := w.(WitnessReader)
		if !ok {
			continue
		}
		cp, err := wr.Latest(ctx, v)
		if err != nil {
			return nil, "", err
		}
		if cp != nil && (newest == nil || cp.Size > newest.Size) {
			newest, where = cp, w.Name()
		}
	}
	return newest, where, nil
}

// HTTPWitness hands checkpoints to a service on another host: each signed note is
// POSTed to URL (Content-Type text/plain) and counts as kept on a 2xx answer. If a GET
// of URL answers 200 with a signed note, that is taken as the newest checkpoint the
// service holds, and Verify checks the log against it too; any other answer to GET
// means the service does not tell (its copies are then checked by hand).
type HTTPWitness struct {
	URL    string
	Client *http.Client // http.DefaultClient when nil
}

func (w HTTPWitness) Name() string { return w.URL }

// httpWitnessTimeout bounds one exchange with a witness service.
const httpWitnessTimeout = 10 * time.Second

func (w HTTPWitness) client() *http.Client {
	if w.Client != nil {
		return w.Client
	}
	return http.DefaultClient
}

func (w HTTPWitness) Witness(ctx context.Context, signed []byte) error {
	ctx, cancel := context.WithTimeout(ctx, httpWitnessTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(signed))
	if err != nil {
		return fmt.Errorf("audit witness %s: %w", w.URL, err)
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	resp, err := w.client().Do(req)
	if err != nil {
		return fmt.Errorf("audit witness: %w", err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("audit witness %s answered %s", w.URL, resp.Status)
	}
	return nil
}

// maxNote bounds a checkpoint note read back from a witness service.
const maxNote = 16 << 10

func (w HTTPWitness) Latest(ctx context.Context, v note.Verifier) (*Checkpoint, error) {
	ctx, cancel := context.WithTimeout(ctx, httpWitnessTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("audit witness %s: %w", w.URL, err)
	}
	resp, err := w.client().Do(req)
	if err != nil {
		return nil, fmt.Errorf("audit witness: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, nil
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxNote+1))
	if err != nil {
		return nil, fmt.Errorf("audit witness %s: %w", w.URL, err)
	}
	if len(b) > maxNote {
		return nil, fmt.Errorf("audit witness %s answered more than a checkpoint", w.URL)
	}
	cp, err := ParseCheckpoint(b, v)
	if err != nil {
		return nil, fmt.Errorf("audit witness %s holds a checkpoint that does not verify: it was forged or damaged (%v)", w.URL, err)
	}
	return cp, nil
}
