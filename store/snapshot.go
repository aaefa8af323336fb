package store

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"time"
)

// Snapshots for backups. A backup never holds account data keys: they live in a separate
// keyring (see KeyringTable) so that deleting an account's keys shreds its content in old
// backups too. The tables below are therefore left out of every snapshot.

// KeyringTable holds the wrapped per-account data keys; backups keep it apart.
const KeyringTable = "account_data_keys"

// skipped are tables a snapshot leaves out: the keyring, and the migration record (a
// restore target is migrated by the binary that restores).
var skipped = map[string]bool{KeyringTable: true, "schema_migrations": true}

// seeded are tables a migration fills with an initial row: a fresh store is "empty" with
// that row in place, and a restore replaces it.
var seeded = map[string]bool{"audit_head": true}

// IsEmpty reports whether the store holds no data beyond what migrations seed.
func IsEmpty(counts map[string]int64) (string, bool) {
	for t, n := range counts {
		if n > 0 && !seeded[t] {
			return t, false
		}
	}
	return "", true
}

// Tables lists the store's tables that a snapshot holds, sorted.
func (db *DB) Tables(ctx context.Context) ([]string, error) {
	return tables(ctx, db.sql, db.dialect)
}

type querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

func tables(ctx context.Context, q querier, d Dialect) ([]string, error) {
	query := `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`
	if d == Postgres {
		query = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`
	}
	rows, err := q.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		if !skipped[n] {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out, rows.Err()
}

// SnapshotSQLite writes a consistent copy of a SQLite store to path with VACUUM INTO
// (consistent while writers run: it reads inside one transaction), then removes the
// keyring from the copy with secure_delete on, so the freed pages are overwritten with
// zeros and keep no key. It returns the row count of every table in the copy.
func (db *DB) SnapshotSQLite(ctx context.Context, path string) (map[string]int64, error) {
	if db.dialect != SQLite {
		return nil, errors.New("store: SnapshotSQLite on a PostgreSQL store")
	}
	if _, err := db.sql.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		return nil, fmt.Errorf("snapshot (VACUUM INTO): %w", err)
	}
	cp, err := openSQLite(path, false, "secure_delete=1")
	if err != nil {
		return nil, err
	}
	defer cp.Close()
	if _, err := cp.ExecContext(ctx, `DELETE FROM `+KeyringTable); err != nil {
		return nil, fmt.Errorf("snapshot: drop keyring from copy: %w", err)
	}
	return countRows(ctx, cp, SQLite)
}

// CountRows counts the rows of every snapshot table.
func (db *DB) CountRows(ctx context.Context) (map[string]int64, error) {
	return countRows(ctx, db.sql, db.dialect)
}

func countRows(ctx context.Context, q querier, d Dialect) (map[string]int64, error) {
	names, err := tables(ctx, q, d)
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, n := range names {
		rows, err := q.QueryContext(ctx, `SELECT COUNT(*) FROM `+quoteIdent(n))
		if err != nil {
			return nil, err
		}
		var c int64
		if rows.Next() {
			err = rows.Scan(&c)
		}
		rows.Close()
		if err != nil {
			return nil, err
		}
		out[n] = c
	}
	return out, nil
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// Export format: JSON lines, dialect-neutral. A table starts with
//
//	{"table":"messages","columns":["uuid",...]}
//
// followed by one line per row, a JSON array of values: numbers for integers, strings for
// text, {"b":"<base64>"} for bytes, true/false, null.

type exportHeader struct {
	Table   string   `json:"table"`
	Columns []string `json:"columns"`
}

type bytesValue struct {
	B string `json:"b"`
}

// Export streams every snapshot table to w from one REPEATABLE READ, read-only
// transaction, so the rows form one consistent state while writers go on. It returns the
// row count of every table.
func (db *DB) Export(ctx context.Context, w io.Writer) (map[string]int64, error) {
	opts := &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}
	if db.dialect == SQLite {
		// A SQLite read transaction is a snapshot already; it has no isolation levels.
		opts = &sql.TxOptions{ReadOnly: true}
	}
	tx, err := db.sql.BeginTx(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("export: begin snapshot: %w", err)
	}
	defer tx.Rollback()
	names, err := tables(ctx, tx, db.dialect)
	if err != nil {
		return nil, err
	}
	// Parents before children: PostgreSQL checks foreign keys per statement on load.
	names, selfRef, err := orderByForeignKeys(ctx, tx, db.dialect, names)
	if err != nil {
		return nil, err
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	enc := json.NewEncoder(bw)
	counts := map[string]int64{}
	for _, n := range names {
		q := `SELECT * FROM ` + quoteIdent(n)
		if selfRef[n] {
			// A row that refers to its own table (a subaccount to its parent) comes after
			// the row it names: both carry their creation time.
			q += ` ORDER BY created_at`
		}
		rows, err := tx.QueryContext(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("export %s: %w", n, err)
		}
		cols, err := rows.Columns()
		if err != nil {
			rows.Close()
			return nil, err
		}
		if err := enc.Encode(exportHeader{Table: n, Columns: cols}); err != nil {
			rows.Close()
			return nil, err
		}
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		var c int64
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return nil, err
			}
			out := make([]any, len(vals))
			for i, v := range vals {
				switch x := v.(type) {
				case []byte:
					out[i] = bytesValue{B: base64.StdEncoding.EncodeToString(x)}
				case time.Time:
					out[i] = x.UTC().Format(time.RFC3339Nano)
				default:
					out[i] = x
				}
			}
			if err := enc.Encode(out); err != nil {
				rows.Close()
				return nil, err
			}
			c++
		}
		if err := rows.Err(); err != nil {
			rows.Close()
			return nil, fmt.Errorf("export %s: %w", n, err)
		}
		rows.Close()
		counts[n] = c
	}
	if err := bw.Flush(); err != nil {
		return nil, err
	}
	return counts, tx.Commit()
}

// orderByForeignKeys sorts tables so that every table comes after those it refers to
// (ties by name), and reports the tables that refer to themselves.
func orderByForeignKeys(ctx context.Context, tx *sql.Tx, d Dialect, names []string) ([]string, map[string]bool, error) {
	deps := map[string]map[string]bool{}
	self := map[string]bool{}
	add := func(child, parent string) {
		if child == parent {
			self[child] = true
			return
		}
		if deps[child] == nil {
			deps[child] = map[string]bool{}
		}
		deps[child][parent] = true
	}
	if d == Postgres {
		rows, err := tx.QueryContext(ctx, `SELECT c.relname, p.relname FROM pg_constraint k
			JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class p ON p.oid = k.confrelid
			WHERE k.contype = 'f' AND k.connamespace = current_schema()::regnamespace`)
		if err != nil {
			return nil, nil, err
		}
		for rows.Next() {
			var c, p string
			if err := rows.Scan(&c, &p); err != nil {
				rows.Close()
				return nil, nil, err
			}
			add(c, p)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, nil, err
		}
	} else {
		for _, n := range names {
			rows, err := tx.QueryContext(ctx, `SELECT "table" FROM pragma_foreign_key_list(?)`, n)
			if err != nil {
				return nil, nil, err
			}
			for rows.Next() {
				var p string
				if err := rows.Scan(&p); err != nil {
					rows.Close()
					return nil, nil, err
				}
				add(n, p)
			}
			rows.Close()
		}
	}
	var out []string
	placed := map[string]bool{}
	for len(out) < len(names) {
		progress := false
		for _, n := range names {
			if placed[n] {
				continue
			}
			ready := true
			for p := range deps[n] {
				if !placed[p] && slices.Contains(names, p) {
					ready = false
				}
			}
			if ready {
				out, placed[n], progress = append(out, n), true, true
			}
		}
		if !progress {
			return nil, nil, errors.New("export: foreign keys form a cycle")
		}
	}
	return out, self, nil
}

// ErrNotEmpty is returned when a restore target already holds data.
var ErrNotEmpty = errors.New("store: the target database is not empty")

// KeyringEntry is one wrapped account data key.
type KeyringEntry struct {
	AccountID string `json:"account_id"`
	Purpose   string `json:"purpose"`
	Wrapped   []byte `json:"wrapped"`
	CreatedAt int64  `json:"created_at"`
}

// Keyring returns every wrapped account data key.
func (db *DB) Keyring(ctx context.Context) ([]KeyringEntry, error) {
	rows, err := db.query(ctx, `SELECT account_id, purpose, wrapped, created_at FROM account_data_keys ORDER BY account_id, purpose`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []KeyringEntry
	for rows.Next() {
		var e KeyringEntry
		if err := rows.Scan(&e.AccountID, &e.Purpose, &e.Wrapped, &e.CreatedAt); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// importKeys inserts the keyring entries whose account exists in the store.
func importKeys(ctx context.Context, tx *Tx, keys []KeyringEntry) (int, error) {
	n := 0
	for _, k := range keys {
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM accounts WHERE id = ?`, k.AccountID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			continue // a deleted account: its key stays shredded
		}
		if err != nil {
			return n, err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO account_data_keys (account_id, purpose, wrapped, created_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (account_id, purpose) DO NOTHING`, k.AccountID, k.Purpose, k.Wrapped, k.CreatedAt); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// ImportKeys inserts the keyring entries whose account exists in the store (restores).
func (db *DB) ImportKeys(ctx context.Context, keys []KeyringEntry) (n int, err error) {
	err = db.InTx(ctx, func(tx *Tx) error {
		n, err = importKeys(ctx, tx, keys)
		return err
	})
	return n, err
}

// Import loads an export made by Export into this store, which must be empty, together
// with the keyring, in one transaction: check (after loading, inside the transaction) may
// refuse the result — e.g. row counts that differ from a manifest — and then nothing
// stays. Integer id sequences (PostgreSQL) are moved past the loaded ids.
func (db *DB) Import(ctx context.Context, r io.Reader, keys []KeyringEntry, check func(counts map[string]int64) error) error {
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	t := &Tx{tx: tx, db: db}
	names, err := tables(ctx, tx, db.dialect)
	if err != nil {
		return err
	}
	known := map[string]bool{}
	for _, n := range names {
		known[n] = true
		var c int64
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+quoteIdent(n)).Scan(&c); err != nil {
			return err
		}
		if c > 0 && !seeded[n] {
			return fmt.Errorf("%w: table %s has %d rows", ErrNotEmpty, n, c)
		}
		if seeded[n] {
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+quoteIdent(n)); err != nil {
				return err
			}
		}
	}
	if db.dialect == Postgres {
		// Foreign keys are checked at commit, once every table is in.
		if _, err := tx.ExecContext(ctx, `SET CONSTRAINTS ALL DEFERRED`); err != nil {
			return err
		}
	} else if _, err := tx.ExecContext(ctx, `PRAGMA defer_foreign_keys = ON`); err != nil {
		return err
	}
	dec := json.NewDecoder(bufio.NewReaderSize(r, 1<<20))
	dec.UseNumber()
	counts := map[string]int64{}
	withID := map[string]bool{} // tables with an id column: their sequences move on
	var boolCols []bool         // of the current table: a SQLite export gives 0/1
	var table string
	var cols []string
	var batch [][]any
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		var b strings.Builder
		b.WriteString("INSERT INTO " + quoteIdent(table) + " (")
		for i, c := range cols {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(quoteIdent(c))
		}
		b.WriteString(") VALUES ")
		args := make([]any, 0, len(batch)*len(cols))
		for i, row := range batch {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")")
			args = append(args, row...)
		}
		batch = batch[:0]
		_, err := tx.ExecContext(ctx, db.Rebind(b.String()), args...)
		if err != nil {
			return fmt.Errorf("restore table %s: %w", table, err)
		}
		return nil
	}
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return fmt.Errorf("restore: malformed export: %w", err)
		}
		if len(raw) > 0 && raw[0] == '{' {
			if err := flush(); err != nil {
				return err
			}
			var h exportHeader
			if err := json.Unmarshal(raw, &h); err != nil || h.Table == "" || len(h.Columns) == 0 {
				return errors.New("restore: malformed table header in export")
			}
			if !known[h.Table] {
				return fmt.Errorf("restore: the backup has a table %s this version does not know", h.Table)
			}
			table, cols = h.Table, h.Columns
			counts[table] = 0
			if boolCols, err = booleanColumns(ctx, tx, db.dialect, table, cols); err != nil {
				return err
			}
			for _, c := range cols {
				if c == "id" {
					withID[table] = true
				}
			}
			continue
		}
		if table == "" {
			return errors.New("restore: export row before any table header")
		}
		var vals []json.RawMessage
		if err := json.Unmarshal(raw, &vals); err != nil || len(vals) != len(cols) {
			return fmt.Errorf("restore: malformed row in table %s", table)
		}
		row := make([]any, len(vals))
		for i, v := range vals {
			x, err := decodeValue(v)
			if err != nil {
				return fmt.Errorf("restore: table %s column %s: %w", table, cols[i], err)
			}
			if n, ok := x.(int64); ok && boolCols != nil && boolCols[i] {
				x = n != 0
			}
			row[i] = x
		}
		batch = append(batch, row)
		counts[table]++
		if len(batch)*len(cols) >= 8000 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	if db.dialect == Postgres {
		for t := range withID {
			var seq sql.NullString
			if err := tx.QueryRowContext(ctx, `SELECT pg_get_serial_sequence($1, 'id')`, t).Scan(&seq); err != nil || !seq.Valid {
				continue
			}
			if _, err := tx.ExecContext(ctx, `SELECT setval($1, COALESCE((SELECT MAX(id) FROM `+quoteIdent(t)+`), 0) + 1, false)`, seq.String); err != nil {
				return err
			}
		}
	}
	if _, err := importKeys(ctx, t, keys); err != nil {
		return fmt.Errorf("restore keyring: %w", err)
	}
	if check != nil {
		all, err := countRows(ctx, tx, db.dialect)
		if err != nil {
			return err
		}
		if err := check(all); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// booleanColumns marks the BOOLEAN columns of a PostgreSQL table (nil on SQLite, which
// stores booleans as integers anyway).
func booleanColumns(ctx context.Context, tx *sql.Tx, d Dialect, table string, cols []string) ([]bool, error) {
	if d != Postgres {
		return nil, nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT column_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = $1 AND data_type = 'boolean'`, table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	isBool := map[string]bool{}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, err
		}
		isBool[c] = true
	}
	out := make([]bool, len(cols))
	for i, c := range cols {
		out[i] = isBool[c]
	}
	return out, rows.Err()
}

func decodeValue(v json.RawMessage) (any, error) {
	s := strings.TrimSpace(string(v))
	switch {
	case s == "null":
		return nil, nil
	case s == "true":
		return true, nil
	case s == "false":
		return false, nil
	case strings.HasPrefix(s, `"`):
		var str string
		err := json.Unmarshal(v, &str)
		return str, err
	case strings.HasPrefix(s, "{"):
		var b bytesValue
		if err := json.Unmarshal(v, &b); err != nil {
			return nil, err
		}
		return base64.StdEncoding.DecodeString(b.B)
	default:
		n := json.Number(s)
		if i, err := n.Int64(); err == nil {
			return i, nil
		}
		return n.Float64()
	}
}

// RemoveFile removes a SQLite file and its WAL companions (failed restores).
func RemoveFile(path string) {
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		os.Remove(p)
	}
}
