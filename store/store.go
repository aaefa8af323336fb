// Package store keeps Trunkline's records in SQL: SQLite (embedded, the default) or
// PostgreSQL (the scale-out store). One implementation serves both: queries are written
// with "?" placeholders and rebound for PostgreSQL, and each dialect has its own
// versioned migrations under migrations/. The database is the source of truth for every
// record and every queued piece of work.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trunkline/trunkline"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
)

//go:embed migrations
var migrations embed.FS

// Dialect names the SQL flavour behind a DB.
type Dialect string

const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// DB is an open store.
type DB struct {
	sql     *sql.DB
	dialect Dialect
	now     func() time.Time

	// Prepared statements by query text: parsing and planning a query cost more than
	// running it on the hot paths (authentication). Bounded by maxStmts; queries beyond it
	// run unprepared.
	stmtMu sync.RWMutex
	stmts  map[string]*sql.Stmt
	// prep counts background prepares (Tx.prepared): Close waits for them, or one could
	// still hold a connection (and SQLite's files) after Close returned.
	prep sync.WaitGroup

	batch   batcher     // group commit of hot writes (batch.go)
	numbers holderCache // who rents which number (sources.go)
	tree    treeCache   // committed audit tree hashes (audit.go)

	// stopStats ends statsLoop (PostgreSQL; nil on SQLite), and stats waits for it.
	stopStats context.CancelFunc
	stats     sync.WaitGroup

	bodies BodyCipher // seals message bodies at rest (messages.go); nil = plain

	// node names this process in the live calls it inserts; see SetNode. (Leases name
	// their owner themselves: trunkline.NodeOwner.)
	node string

	hand atomic.Pointer[handoff] // who takes new callbacks in memory (HandCallbacks)
}

// SetNode names the node this store works for: the live calls it inserts are marked
// with it, so that when it dies another node finds them. Call it before use.
func (db *DB) SetNode(name string) { db.node = name }

const maxStmts = 512

// Open opens the store named by dsn: "postgres://..." or "postgresql://..." selects
// PostgreSQL; anything else is a SQLite file path (or "file:" URI). Migrations are
// applied before Open returns.
func Open(ctx context.Context, dsn string) (*DB, error) {
	db := &DB{now: time.Now, stmts: map[string]*sql.Stmt{}}
	var err error
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		db.dialect = Postgres
		// Statements are planned by PostgreSQL's default (plan_cache_mode auto): a
		// prepared statement may settle on a generic plan. One made while a new
		// database's tables were nearly empty scanned them, and was kept while they
		// grew until autovacuum analyzed them, a minute or more under load; the store
		// now analyzes its hot tables each time they double (RefreshStatistics), which
		// makes the cached plans anew. Forcing a plan per execution instead
		// (force_custom_plan, before) cost PostgreSQL 14% more CPU per message, a
		// third of it the foreign-key checks' own queries. An operator's setting in the
		// DSN applies as given.
		db.sql, err = sql.Open("pgx", dsn)
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		db.sql.SetMaxOpenConns(32)
		db.sql.SetMaxIdleConns(32)
	} else {
		db.dialect = SQLite
		path := strings.TrimPrefix(dsn, "file:")
		if i := strings.IndexByte(path, '?'); i >= 0 {
			path = path[:i]
		}
		// WAL lets readers run beside the single writer; IMMEDIATE transactions take the
		// write lock up front so two writers never deadlock upgrading a read lock.
		// synchronous=NORMAL in WAL mode survives a process crash (kill -9); only an OS
		// crash may lose the last commits.
		if err := ownerOnly(path); err != nil {
			return nil, err
		}
		db.sql, err = openSQLite(filepath.ToSlash(path), true,
			"busy_timeout=10000", "journal_mode=WAL", "foreign_keys=1", "synchronous=NORMAL", "temp_store=MEMORY")
		if err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		db.sql.SetMaxOpenConns(8)
		db.sql.SetMaxIdleConns(8)
	}
	if err := db.sql.PingContext(ctx); err != nil {
		db.sql.Close()
		return nil, fmt.Errorf("connect to %s store: %w", db.dialect, err)
	}
	if err := db.migrate(ctx); err != nil {
		db.sql.Close()
		return nil, err
	}
	if db.dialect == Postgres {
		var statsCtx context.Context
		statsCtx, db.stopStats = context.WithCancel(context.Background())
		db.stats.Go(func() { db.statsLoop(statsCtx) })
	}
	return db, nil
}

// ownerOnly creates the SQLite file 0600 if it is missing and tightens an existing one
// and its -wal and -shm to 0600. SQLite gives the -wal and -shm it creates the mode of
// the database file, so they follow; left to itself it would create all three 0644
// (less the umask), readable by every local user.
func ownerOnly(path string) error {
	if path == "" || path == ":memory:" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open sqlite: %w", err)
	}
	f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Lstat(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("open sqlite: %w", err)
		}
		if fi.Mode().IsRegular() && fi.Mode().Perm() != 0o600 {
			if err := os.Chmod(p, 0o600); err != nil {
				return fmt.Errorf("open sqlite: tighten %s: %w", p, err)
			}
		}
	}
	return nil
}

// Close closes the database.
func (db *DB) Close() error {
	if db.stopStats != nil {
		db.stopStats()
	}
	db.stats.Wait()
	db.prep.Wait()
	db.stmtMu.Lock()
	for _, st := range db.stmts {
		st.Close()
	}
	db.stmts = map[string]*sql.Stmt{}
	db.stmtMu.Unlock()
	return db.sql.Close()
}

// Dialect reports which SQL flavour is in use.
func (db *DB) Dialect() Dialect { return db.dialect }

// SQL exposes the underlying handle for tests that tamper with rows on purpose.
func (db *DB) SQL() *sql.DB { return db.sql }

// SetClock replaces the clock used for created/modified times (tests).
func (db *DB) SetClock(now func() time.Time) { db.now = now }

// Rebind turns "?" placeholders into the dialect's form.
func (db *DB) Rebind(q string) string {
	if db.dialect != Postgres {
		return q
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// stmt returns the prepared statement for q, preparing it on first use; nil when the
// cache is full or preparing failed (the caller then runs q unprepared and gets the
// error, if any, from there).
func (db *DB) stmt(ctx context.Context, q string) *sql.Stmt {
	db.stmtMu.RLock()
	st := db.stmts[q]
	n := len(db.stmts)
	db.stmtMu.RUnlock()
	if st != nil || n >= maxStmts || (strings.Count(q, "?") > 64 && !strings.HasPrefix(q, bucketed)) {
		// Multi-row inserts vary with their row count: not worth a cache slot each
		// (unless bucketed to a few row counts).
		return st
	}
	st, err := db.sql.PrepareContext(ctx, db.Rebind(q))
	if err != nil {
		return nil
	}
	db.stmtMu.Lock()
	defer db.stmtMu.Unlock()
	if prev := db.stmts[q]; prev != nil {
		st.Close()
		return prev
	}
	db.stmts[q] = st
	return st
}

func (db *DB) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if st := db.stmt(ctx, q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return db.sql.ExecContext(ctx, db.Rebind(q), args...)
}

func (db *DB) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st := db.stmt(ctx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return db.sql.QueryContext(ctx, db.Rebind(q), args...)
}

func (db *DB) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	if st := db.stmt(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return db.sql.QueryRowContext(ctx, db.Rebind(q), args...)
}

// Tx is a transaction with the store's placeholder rebinding.
type Tx struct {
	tx *sql.Tx
	db *DB

	// In the group-commit writer only: hand is the callback deliverer of the batch, if
	// any; handed the callbacks stored for it, to hand over once committed.
	hand   *handoff
	handed []*trunkline.Callback

	// leaseClock is the database's clock as first read in this transaction (leaseNow),
	// and leaseRead when (by this process's monotonic clock) it was read.
	leaseClock, leaseRead time.Time

	// locked holds the SMSC ids (carrier|key) this transaction locked (lockBatchKeys):
	// lockKeys takes only the others.
	locked map[string]bool

	// afterCommit runs, in the group-commit writer, once the transaction committed
	// (dropped with a write rolled back to its savepoint).
	afterCommit []func()
}

// Statements in transactions use the DB's prepared statements too (database/sql reuses
// the one prepared on the transaction's connection), so hot writes are not re-parsed.
// Savepoint and other dynamic statements are not worth caching.
func (t *Tx) prepared(ctx context.Context, q string) *sql.Stmt {
	if strings.HasPrefix(q, "SAVEPOINT") || strings.HasPrefix(q, "RELEASE") || strings.HasPrefix(q, "ROLLBACK") {
		return nil
	}
	t.db.stmtMu.RLock()
	st := t.db.stmts[q]
	t.db.stmtMu.RUnlock()
	if st == nil {
		// Never prepare on the pool from inside a transaction: with every pooled
		// connection held by transactions waiting for SQLite's write lock, the one
		// holding it would wait for a connection forever. Prepare in the background;
		// later transactions find it.
		t.db.prep.Add(1)
		go func() {
			defer t.db.prep.Done()
			t.db.stmt(context.Background(), q)
		}()
		return nil
	}
	// Re-prepared on the transaction's own connection when needed: no pool connection.
	return t.tx.StmtContext(ctx, st)
}

// Exec runs a statement in the transaction.
func (t *Tx) Exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if st := t.prepared(ctx, q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return t.tx.ExecContext(ctx, t.db.Rebind(q), args...)
}

// QueryRow runs a single-row query in the transaction.
func (t *Tx) QueryRow(ctx context.Context, q string, args ...any) *sql.Row {
	if st := t.prepared(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, t.db.Rebind(q), args...)
}

// Query runs a query in the transaction.
func (t *Tx) Query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st := t.prepared(ctx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return t.tx.QueryContext(ctx, t.db.Rebind(q), args...)
}

// InTx runs fn in a transaction, committing if it returns nil.
func (db *DB) InTx(ctx context.Context, fn func(*Tx) error) error {
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(&Tx{tx: tx, db: db}); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// micros converts a time to the stored form (Unix microseconds, UTC).
func micros(t time.Time) int64 { return t.UTC().UnixMicro() }

// fromMicros converts the stored form back to a time.
func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func nullMicros(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

func toNullMicros(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: micros(*t), Valid: true}
}

// migrate applies the embedded migrations that are newer than the recorded version.
// Each migration runs in its own transaction together with its version row, so a crash
// leaves either the old or the new schema.
func (db *DB) migrate(ctx context.Context) error {
	if _, err := db.sql.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	dir := "migrations/" + string(db.dialect)
	entries, err := fs.ReadDir(migrations, dir)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".sql") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	for _, name := range names {
		v, err := strconv.Atoi(strings.SplitN(name, "_", 2)[0])
		if err != nil {
			return fmt.Errorf("migration %s: name must start with a number", name)
		}
		var n int
		if err := db.queryRow(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, v).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			continue
		}
		body, err := migrations.ReadFile(dir + "/" + name)
		if err != nil {
			return err
		}
		err = db.InTx(ctx, func(tx *Tx) error {
			for _, stmt := range splitStatements(string(body)) {
				if _, err := tx.tx.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("migration %s: %w", name, err)
				}
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations(version, applied_at) VALUES (?, ?)`, v, micros(db.now()))
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// SchemaVersion reports the newest applied migration.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	var v sql.NullInt64
	err := db.queryRow(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&v)
	return int(v.Int64), err
}

// splitStatements splits a migration file on semicolons at line ends, dropping comments.
// Migrations are ours, so this simple rule (no semicolons inside literals) is enough.
func splitStatements(body string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(body, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "--") || t == "" {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(t, ";") {
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}

// isUniqueViolation reports whether err is a uniqueness/primary-key violation in either dialect.
func isUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "UNIQUE constraint failed") || strings.Contains(s, "SQLSTATE 23505") ||
		strings.Contains(s, "constraint failed: PRIMARY KEY")
}
