package backup

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/account"
	"github.com/trunkline/trunkline/audit"
	"github.com/trunkline/trunkline/keys"
	"github.com/trunkline/trunkline/recording"
	"github.com/trunkline/trunkline/store"
)

// DrillOptions configure a restore drill.
type DrillOptions struct {
	Source Destination
	Key    *Key
	ID     string     // "" = latest
	KEK    *keys.Ring // the live KEK: the drill runs where the server runs
	// PostgresDSN is where a PostgreSQL backup is restored for the drill: a scratch
	// schema is made in that database and dropped afterwards.
	PostgresDSN string
	// Verifier checks the audit checkpoints; nil uses the verifier key in the backup.
	Verifier note.Verifier
	// WitnessFiles are audit witness files among the backup's files (relative to the
	// data dir, as in Options.Files): the restored log is checked against the newest
	// checkpoint they hold, as trunkline audit verify on the restored data dir does.
	WitnessFiles []string
	Samples      int // recordings, messages and tokens to check (default 5 each)
	Progress     Progress
}

// DrillReport is what a drill found.
type DrillReport struct {
	OK         bool          `json:"ok"`
	ID         string        `json:"id"`
	Duration   time.Duration `json:"duration_ns"`
	Bytes      int64         `json:"bytes"`
	Tables     int           `json:"tables"`
	Rows       int64         `json:"rows"`
	Audit      *audit.Report `json:"audit,omitempty"`
	Recordings int           `json:"recordings_checked"`
	Messages   int           `json:"messages_checked"`
	Tokens     int           `json:"tokens_checked"`
	Shredded   int           `json:"shredded"` // content of deleted accounts, unreadable as it must be
	Problems   []string      `json:"problems,omitempty"`
}

// Drill restores a backup into a temporary place and checks its invariants: every
// object decrypts and matches the manifest, row counts match, the audit chain and
// checkpoints verify and cover the checkpoint the manifest names, a sample of recordings
// and message bodies decrypt with the live KEK, and a sample of accounts' API tokens
// (opened from the restored store with the KEK) authenticate against the restored store.
func Drill(ctx context.Context, o DrillOptions) (*DrillReport, error) {
	start := time.Now()
	if o.Samples <= 0 {
		o.Samples = 5
	}
	tmp, err := os.MkdirTemp("", "trunkline-drill-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	dir := filepath.Join(tmp, "data")
	rep := &DrillReport{}
	m, _, err := LoadManifest(ctx, o.Source, o.Key, o.ID)
	if err != nil {
		return nil, err
	}
	rep.ID = m.ID
	dsn := ""
	if m.Dialect == string(store.Postgres) {
		if o.PostgresDSN == "" {
			return nil, errors.New("drill of a PostgreSQL backup needs a PostgreSQL database for its scratch schema")
		}
		admin, err := sql.Open("pgx", o.PostgresDSN)
		if err != nil {
			return nil, err
		}
		defer admin.Close()
		var b [6]byte
		rand.Read(b[:])
		schema := "trunkline_drill_" + hex.EncodeToString(b[:])
		if _, err := admin.ExecContext(ctx, `CREATE SCHEMA `+schema); err != nil {
			return nil, fmt.Errorf("drill: create scratch schema: %w", err)
		}
		defer admin.ExecContext(context.Background(), `DROP SCHEMA `+schema+` CASCADE`)
		if dsn, err = withSearchPath(o.PostgresDSN, schema); err != nil {
			return nil, err
		}
	}
	restored, err := Restore(ctx, RestoreOptions{Source: o.Source, Key: o.Key, ID: m.ID, DataDir: dir, DSN: dsn, Progress: o.Progress})
	if err != nil {
		rep.Problems = append(rep.Problems, "restore: "+err.Error())
		rep.Duration = time.Since(start)
		return rep, nil
	}
	rep.Shredded += restored.Shredded
	rep.Bytes = m.Bytes()
	rep.Tables = len(m.Tables)
	for _, n := range m.Tables {
		rep.Rows += n
	}
	if dsn == "" {
		dsn = filepath.Join(dir, "trunkline.db")
	}
	db, err := store.Open(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	bodies := keys.NewBodies(o.KEK, db, isNotFound)
	db.SetBodyCipher(bodies)
	problem := func(f string, a ...any) { rep.Problems = append(rep.Problems, fmt.Sprintf(f, a...)) }

	// Audit chain and checkpoints.
	v := o.Verifier
	if v == nil {
		if b, err := os.ReadFile(filepath.Join(dir, "keys", audit.VerifierKeyFile)); err == nil {
			v, err = note.NewVerifier(strings.TrimSpace(string(b)))
			if err != nil {
				problem("audit verifier key in the backup: %v", err)
			}
		}
	}
	if v != nil {
		var ws []audit.Witness
		for _, rel := range o.WitnessFiles {
			ws = append(ws, audit.FileWitness{Path: filepath.Join(dir, rel)})
		}
		ar, err := audit.Verify(ctx, db, v, ws...)
		if err != nil {
			problem("audit verify: %v", err)
		} else {
			rep.Audit = ar
			if !ar.OK {
				problem("audit log: %s", ar.Problem)
			} else if ar.Covered < m.Audit.Size {
				problem("audit log: checkpoints cover %d entries, the manifest names a checkpoint of %d", ar.Covered, m.Audit.Size)
			}
		}
	} else if m.Audit.Size > 0 {
		problem("audit log: no verifier key to check its checkpoints")
	}

	// Accounts with keys (those not deleted since) must read; the others are shredded.
	hasKey := func(acct, purpose string) bool {
		_, err := db.AccountDataKey(ctx, acct, purpose)
		return err == nil
	}

	// Recordings.
	recs, err := recording.New(filepath.Join(dir, "recordings"), o.KEK, db)
	if err != nil {
		return nil, err
	}
	files, _ := listFiles(filepath.Join(dir, "recordings"))
	for _, f := range files {
		if rep.Recordings >= o.Samples {
			break
		}
		acct, name, ok := strings.Cut(f.rel, "/")
		if !ok || !strings.HasSuffix(name, ".rec") {
			continue
		}
		if !hasKey(acct, recording.Purpose) {
			rep.Shredded++
			continue
		}
		rc, err := recs.Open(ctx, acct, strings.TrimSuffix(name, ".rec"))
		if err == nil {
			_, err = io.Copy(io.Discard, rc)
			rc.Close()
		}
		if err != nil {
			problem("recording %s does not decrypt: %v", f.rel, err)
		}
		rep.Recordings++
	}

	// Message bodies sealed under account keys.
	rows, err := db.SQL().QueryContext(ctx, db.Rebind(`SELECT uuid, account_id FROM messages WHERE body_enc IS NOT NULL ORDER BY created_at DESC LIMIT ?`), o.Samples*4)
	if err == nil {
		type mref struct{ uuid, acct string }
		var refs []mref
		for rows.Next() {
			var r mref
			if rows.Scan(&r.uuid, &r.acct) == nil {
				refs = append(refs, r)
			}
		}
		rows.Close()
		for _, r := range refs {
			if rep.Messages >= o.Samples {
				break
			}
			if !hasKey(r.acct, keys.MessagePurpose) {
				rep.Shredded++
				continue
			}
			msg, err := db.MessageByUUID(ctx, r.uuid)
			if err != nil || msg.BodyUnreadable {
				problem("message %s: its body does not decrypt", r.uuid)
			}
			rep.Messages++
		}
	} else {
		problem("messages: %v", err)
	}

	// API tokens: open each sampled account's token with the KEK and authenticate.
	accts := account.New(db, o.KEK, account.Options{CacheTTL: -1})
	rows, err = db.SQL().QueryContext(ctx, db.Rebind(`SELECT id FROM accounts WHERE enabled = ? ORDER BY created_at LIMIT ?`), true, o.Samples)
	if err == nil {
		var ids []string
		for rows.Next() {
			var id string
			if rows.Scan(&id) == nil {
				ids = append(ids, id)
			}
		}
		rows.Close()
		for _, id := range ids {
			tok, err := accts.Token(ctx, id)
			if err != nil {
				problem("account %s: its token does not open with the KEK: %v", id, err)
				continue
			}
			if _, _, err := accts.Authenticate(ctx, id, tok); err != nil {
				problem("account %s: its token does not authenticate against the restored store: %v", id, err)
				continue
			}
			rep.Tokens++
		}
	} else {
		problem("accounts: %v", err)
	}
	rep.OK = len(rep.Problems) == 0
	rep.Duration = time.Since(start)
	return rep, nil
}

func isNotFound(err error) bool { return errors.Is(err, trunkline.ErrNotFound) }

// withSearchPath points a PostgreSQL URL at schema, replacing any search_path it had.
func withSearchPath(dsn, schema string) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return "", errors.New("the PostgreSQL DSN is not a URL")
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), nil
}
