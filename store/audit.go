package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/trunkline/trunkline"
)

// The audit tables hold package audit's tamper-evident log, as the core's audit records
// (trunkline.AuditRecord, AuditHead, AuditAppend, AuditCheckpoint). The store only
// persists what audit computes (canonical encoding, hashes and tree layout belong to
// audit), so the rules about what makes the log valid live in one place.

// auditAppendAttempts bounds the compare-and-swap retries of one append. Conflicts are
// rare (SQLite serialises writers; PostgreSQL locks the head row), so hitting the
// bound means something is wrong and the append fails closed.
const auditAppendAttempts = 50

// maxInsertParams bounds the bound parameters of one multi-row INSERT, well inside
// both dialects' limits (SQLite 32766, PostgreSQL 65535).
const maxInsertParams = 4000

// AppendAudit appends one audit entry atomically; it is AppendAuditBatch for a batch of
// one. It returns the new seq.
func (db *DB) AppendAudit(ctx context.Context, build func(head trunkline.AuditHead, tree trunkline.AuditHashReader) (*trunkline.AuditAppend, error)) (int64, error) {
	return db.AppendAuditBatch(ctx, func(head trunkline.AuditHead, tree trunkline.AuditHashReader) ([]*trunkline.AuditAppend, error) {
		a, err := build(head, tree)
		if err != nil || a == nil {
			return nil, err
		}
		return []*trunkline.AuditAppend{a}, nil
	})
}

// AppendAuditBatch appends audit entries atomically, all or none. In its transaction it
// reads the head, calls build with it and with a reader of the tree hashes (those
// stored, and those added by appends before it in the same transaction; build must
// supply the hashes of its own batch itself), inserts the records and their tree hashes
// and moves the head to the last record by a compare-and-swap on its size. The records'
// seqs must run on from the head (head.Size+1, head.Size+2, ...). If another writer
// moved the head first the transaction is rolled back and build is called again with
// the new head, so build must not keep state between calls. It returns the first new seq.
//
// Appends go through the group-commit writer as a set-based write: the appends of one
// batch, like the entries stored with messages (InsertMessagesAudited), read and move
// the head once and insert their rows in one statement per table; on SQLite no second
// writer sleeps in the busy handler.
func (db *DB) AppendAuditBatch(ctx context.Context, build trunkline.AuditBuild) (int64, error) {
	for attempt := 1; ; attempt++ {
		a := &auditReq{build: build}
		err := db.writeSet(ctx, auditAppends, a, func(ctx context.Context, tx *Tx) error {
			return appendAudit(ctx, tx, []*auditReq{a})
		})
		if err == nil {
			return a.first, nil
		}
		if !errors.Is(err, trunkline.ErrConflict) || attempt >= auditAppendAttempts {
			return 0, err
		}
		// Jittered backoff so retrying writers do not collide in lockstep.
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(time.Duration(rand.IntN(2000*attempt)) * time.Microsecond):
		}
	}
}

// auditReq is one append of a transaction: its build, and the first seq it got.
type auditReq struct {
	build trunkline.AuditBuild
	first int64 // set by appendAudit, afresh on each run
}

// auditAppends is AppendAuditBatch's set-based write.
var auditAppends = &setWrite{apply: typed(appendAudit)}

// appendAudit appends what each of reqs builds, in order, after the head it reads in
// tx (on PostgreSQL locked, so concurrent appenders queue rather than spin on the
// compare-and-swap): one read and one move of the head, one INSERT per table.
func appendAudit(ctx context.Context, tx *Tx, reqs []*auditReq) error {
	q := `SELECT size, chain_hash FROM audit_head WHERE id = 1`
	if tx.db.dialect == Postgres {
		q += ` FOR UPDATE`
	}
	var h trunkline.AuditHead
	if err := tx.QueryRow(ctx, q).Scan(&h.Size, &h.ChainHash); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return errors.New("store: audit head row is missing")
		}
		return err
	}
	start := h.Size
	// A build reads the tree hashes the builds before it added, which are not stored
	// yet, from here; and those this append read, or found in the cache.
	added := map[int64][32]byte{}
	tree := func(idx []int64) ([][32]byte, error) {
		var missing []int64
		for _, i := range idx {
			if _, ok := added[i]; !ok {
				missing = append(missing, i)
			}
		}
		missing = tx.db.tree.get(missing, added)
		if len(missing) > 0 {
			stored, err := readTreeHashes(ctx, tx.Query, missing)
			if err != nil {
				return nil, err
			}
			// Cached with the rest once the transaction commits, not now: a hash read
			// here may be one this transaction wrote (an earlier append of the batch),
			// and the batch may yet be rolled back and built anew with other hashes.
			for j, i := range missing {
				added[i] = stored[j]
			}
		}
		out := make([][32]byte, len(idx))
		for j, i := range idx {
			out[j] = added[i]
		}
		return out, nil
	}
	var entries, hashes []any
	for _, r := range reqs {
		batch, err := r.build(h, tree)
		if err != nil {
			return err
		}
		if len(batch) == 0 {
			return errors.New("store: audit append built nothing")
		}
		for i, a := range batch {
			if a == nil {
				return errors.New("store: audit append built nothing")
			}
			rec := a.Record
			if rec.Seq != h.Size+1+int64(i) {
				return fmt.Errorf("store: audit append seq %d does not follow head %d", rec.Seq, h.Size+int64(i))
			}
			entries = append(entries, rec.Seq, micros(rec.At), rec.AccountID, rec.Actor, rec.CredentialID, rec.Action, rec.ObjectType,
				rec.ObjectID, rec.Source, rec.Node, rec.Outcome, rec.Detail, rec.RecordHash, rec.ChainHash)
			for j, th := range a.TreeHashes {
				added[a.TreeIndex+int64(j)] = th
				hashes = append(hashes, a.TreeIndex+int64(j), th[:])
			}
		}
		r.first = h.Size + 1
		last := batch[len(batch)-1].Record
		h = trunkline.AuditHead{Size: last.Seq, ChainHash: last.ChainHash}
	}
	tx.afterCommit = append(tx.afterCommit, func() { tx.db.tree.putMap(added) })
	res, err := tx.Exec(ctx, `UPDATE audit_head SET size = ?, chain_hash = ? WHERE id = 1 AND size = ?`, h.Size, h.ChainHash, start)
	if err != nil {
		return conflictOr(err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n != 1 {
		return trunkline.ErrConflict
	}
	if err := insertRows(ctx, tx, `INSERT INTO audit_entries(`+auditCols+`) VALUES `, 14, entries); err != nil {
		return err
	}
	return insertRows(ctx, tx, `INSERT INTO audit_tree(idx, hash) VALUES `, 2, hashes)
}

// insertRows runs insert (ending in "VALUES ") for the rows in args, cols values each,
// as few multi-row statements as maxInsertParams allows; suffix (e.g. an ON CONFLICT
// clause) follows the rows.
func insertRows(ctx context.Context, tx *Tx, insert string, cols int, args []any, suffix ...string) error {
	return insertRowsScan(ctx, tx, insert, cols, args, strings.Join(suffix, ""), nil)
}

// insertRowsScan is insertRows with a suffix that may be a RETURNING clause: scan, when
// not nil, is called for each row it returns.
func insertRowsScan(ctx context.Context, tx *Tx, insert string, cols int, args []any, suffix string, scan func(*sql.Rows) error) error {
	row := "(?" + strings.Repeat(", ?", cols-1) + ")"
	per := max(1, maxInsertParams/cols) * cols
	for len(args) > 0 {
		n := min(per, len(args))
		q, a := insert+row+strings.Repeat(", "+row, n/cols-1)+suffix, args[:n]
		if tx.db.dialect == SQLite {
			// A multi-row INSERT has a text of its own for each row count, so it would
			// be prepared anew each time (in SQLite's process that costs more than
			// running it). Padded to a power of two with rows of NULLs that the
			// SELECT drops (the first column of every table written so is NOT NULL),
			// it has a few texts, which stay prepared.
			var rows int
			a, rows = pad(append([]any(nil), a...), make([]any, cols)...)
			q = bucketed + strings.TrimSuffix(strings.TrimSpace(insert), "VALUES") + "SELECT * FROM (VALUES " + rowsOf(row, rows) +
				") WHERE column1 IS NOT NULL" + suffix
		}
		if scan == nil {
			if _, err := tx.Exec(ctx, q, a...); err != nil {
				return conflictOr(err)
			}
		} else if err := scanAll(tx.Query(ctx, q, a...))(scan); err != nil {
			return conflictOr(err)
		}
		args = args[n:]
	}
	return nil
}

// scanAll calls scan for each row of a query's result and closes it.
func scanAll(rows *sql.Rows, err error) func(scan func(*sql.Rows) error) error {
	return func(scan func(*sql.Rows) error) error {
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows); err != nil {
				return err
			}
		}
		return rows.Err()
	}
}

// conflictOr maps errors that mean "another writer got there first" to trunkline.ErrConflict.
func conflictOr(err error) error {
	if isUniqueViolation(err) || strings.Contains(err.Error(), "SQLSTATE 40001") || strings.Contains(err.Error(), "SQLSTATE 40P01") {
		return fmt.Errorf("%w: %v", trunkline.ErrConflict, err)
	}
	return err
}

// AuditHead reads the head of the audit chain.
func (db *DB) AuditHead(ctx context.Context) (trunkline.AuditHead, error) {
	var h trunkline.AuditHead
	err := db.queryRow(ctx, `SELECT size, chain_hash FROM audit_head WHERE id = 1`).Scan(&h.Size, &h.ChainHash)
	if errors.Is(err, sql.ErrNoRows) {
		return h, trunkline.ErrNotFound
	}
	return h, err
}

const auditCols = `seq, at, account_id, actor, credential_id, action, object_type, object_id, source, node, outcome, detail, record_hash, chain_hash`

func scanAuditRecords(rows *sql.Rows) ([]trunkline.AuditRecord, error) {
	defer rows.Close()
	var out []trunkline.AuditRecord
	for rows.Next() {
		var r trunkline.AuditRecord
		var at int64
		if err := rows.Scan(&r.Seq, &at, &r.AccountID, &r.Actor, &r.CredentialID, &r.Action, &r.ObjectType, &r.ObjectID,
			&r.Source, &r.Node, &r.Outcome, &r.Detail, &r.RecordHash, &r.ChainHash); err != nil {
			return nil, err
		}
		r.At = fromMicros(at)
		out = append(out, r)
	}
	return out, rows.Err()
}

// AuditRecords returns up to limit entries with seq > afterSeq in seq order, for
// reading the whole log in batches (verification, export).
func (db *DB) AuditRecords(ctx context.Context, afterSeq int64, limit int) ([]trunkline.AuditRecord, error) {
	rows, err := db.query(ctx, `SELECT `+auditCols+` FROM audit_entries WHERE seq > ? ORDER BY seq LIMIT ?`, afterSeq, limit)
	if err != nil {
		return nil, err
	}
	return scanAuditRecords(rows)
}

// ListAudit returns the entries matching f, newest first, and how many match in all.
func (db *DB) ListAudit(ctx context.Context, f trunkline.AuditFilter) ([]trunkline.AuditRecord, int, error) {
	var where []string
	var args []any
	if len(f.AccountIDs) > 0 {
		where = append(where, `account_id IN (?`+strings.Repeat(", ?", len(f.AccountIDs)-1)+`)`)
		for _, id := range f.AccountIDs {
			args = append(args, id)
		}
	}
	if !f.From.IsZero() {
		where = append(where, `at >= ?`)
		args = append(args, micros(f.From))
	}
	if !f.To.IsZero() {
		where = append(where, `at < ?`)
		args = append(args, micros(f.To))
	}
	if f.Action != "" {
		where = append(where, `action = ?`)
		args = append(args, f.Action)
	}
	cond := ""
	if len(where) > 0 {
		cond = ` WHERE ` + strings.Join(where, ` AND `)
	}
	var total int
	if err := db.queryRow(ctx, `SELECT COUNT(*) FROM audit_entries`+cond, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	q := `SELECT ` + auditCols + ` FROM audit_entries` + cond + ` ORDER BY seq DESC`
	switch {
	case f.Limit > 0:
		q += ` LIMIT ? OFFSET ?`
		args = append(args, f.Limit, max(f.Offset, 0))
	case f.Offset > 0 && db.dialect == SQLite:
		q += ` LIMIT -1 OFFSET ?` // SQLite allows OFFSET only after a LIMIT
		args = append(args, f.Offset)
	case f.Offset > 0:
		q += ` OFFSET ?`
		args = append(args, f.Offset)
	}
	rows, err := db.query(ctx, q, args...)
	if err != nil {
		return nil, 0, err
	}
	recs, err := scanAuditRecords(rows)
	return recs, total, err
}

// AuditTreeHashes returns the stored Merkle tree hashes at the given indexes, in the
// same order; an element is nil where no hash is stored. Checking lengths and absence is
// left to the caller, which reports them as tampering rather than failing.
func (db *DB) AuditTreeHashes(ctx context.Context, indexes []int64) ([][]byte, error) {
	m, err := queryTreeHashes(ctx, db.query, indexes)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(indexes))
	for i, idx := range indexes {
		out[i] = m[idx]
	}
	return out, nil
}

type queryFunc func(ctx context.Context, q string, args ...any) (*sql.Rows, error)

// queryTreeHashes reads the hashes at indexes in chunks that stay well inside both
// dialects' limits on bound parameters.
func queryTreeHashes(ctx context.Context, query queryFunc, indexes []int64) (map[int64][]byte, error) {
	uniq := append([]int64(nil), indexes...)
	sort.Slice(uniq, func(i, j int) bool { return uniq[i] < uniq[j] })
	m := make(map[int64][]byte, len(uniq))
	const chunk = 500
	for len(uniq) > 0 {
		n := min(chunk, len(uniq))
		part := uniq[:n]
		uniq = uniq[n:]
		args := make([]any, len(part))
		for i, v := range part {
			args[i] = v
		}
		rows, err := query(ctx, `SELECT idx, hash FROM audit_tree WHERE idx IN (?`+strings.Repeat(", ?", len(part)-1)+`)`, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var idx int64
			var h []byte
			if err := rows.Scan(&idx, &h); err != nil {
				rows.Close()
				return nil, err
			}
			if h == nil {
				h = []byte{} // present but empty: distinguish from missing
			}
			m[idx] = h
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, err
		}
	}
	return m, nil
}

// readTreeHashes is the strict form used while appending: every hash must be present.
func readTreeHashes(ctx context.Context, query queryFunc, indexes []int64) ([][32]byte, error) {
	m, err := queryTreeHashes(ctx, query, indexes)
	if err != nil {
		return nil, err
	}
	out := make([][32]byte, len(indexes))
	for i, idx := range indexes {
		h, ok := m[idx]
		if !ok || len(h) != len(out[i]) {
			return nil, fmt.Errorf("store: audit tree hash %d is missing or malformed", idx)
		}
		copy(out[i][:], h)
	}
	return out, nil
}

// AddAuditCheckpoint stores a signed checkpoint. It returns trunkline.ErrConflict if a checkpoint
// of that size exists (another node signed the same head first).
func (db *DB) AddAuditCheckpoint(ctx context.Context, c trunkline.AuditCheckpoint) error {
	_, err := db.exec(ctx, `INSERT INTO audit_checkpoints(size, created_at, note) VALUES (?, ?, ?)`, c.Size, micros(c.CreatedAt), c.Note)
	if isUniqueViolation(err) {
		return fmt.Errorf("%w: audit checkpoint %d exists", trunkline.ErrConflict, c.Size)
	}
	return err
}

// AuditCheckpoints returns up to limit checkpoints with size > afterSize, smallest first.
func (db *DB) AuditCheckpoints(ctx context.Context, afterSize int64, limit int) ([]trunkline.AuditCheckpoint, error) {
	rows, err := db.query(ctx, `SELECT size, created_at, note FROM audit_checkpoints WHERE size > ? ORDER BY size LIMIT ?`, afterSize, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []trunkline.AuditCheckpoint
	for rows.Next() {
		var c trunkline.AuditCheckpoint
		var at int64
		if err := rows.Scan(&c.Size, &at, &c.Note); err != nil {
			return nil, err
		}
		c.CreatedAt = fromMicros(at)
		out = append(out, c)
	}
	return out, rows.Err()
}

// LatestAuditCheckpoint returns the checkpoint with the largest size, or trunkline.ErrNotFound.
func (db *DB) LatestAuditCheckpoint(ctx context.Context) (trunkline.AuditCheckpoint, error) {
	var c trunkline.AuditCheckpoint
	var at int64
	err := db.queryRow(ctx, `SELECT size, created_at, note FROM audit_checkpoints ORDER BY size DESC LIMIT 1`).Scan(&c.Size, &at, &c.Note)
	if errors.Is(err, sql.ErrNoRows) {
		return c, trunkline.ErrNotFound
	}
	c.CreatedAt = fromMicros(at)
	return c, err
}

// treeCache keeps audit tree hashes known to be committed: those an append read or
// wrote, once its transaction committed. A tree hash never changes once
// stored (the tree only grows), so an entry is never stale, and the next append finds
// the hashes it builds on here instead of reading them (one to three round trips per
// append on PostgreSQL). Hashes other nodes added are read, then kept.
type treeCache struct {
	mu sync.Mutex
	m  map[int64][32]byte
}

// treeCacheMax bounds the cache: when it is full it starts again empty. An append
// needs about log2(size) hashes, most of them recent.
const treeCacheMax = 1 << 14

// get returns those of idx that are neither in have nor in the cache, and puts the
// cached ones in have.
func (c *treeCache) get(idx []int64, have map[int64][32]byte) []int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var missing []int64
	for _, i := range idx {
		if h, ok := c.m[i]; ok {
			have[i] = h
		} else {
			missing = append(missing, i)
		}
	}
	return missing
}

func (c *treeCache) putMap(hs map[int64][32]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, h := range hs {
		c.add(i, h)
	}
}

func (c *treeCache) add(i int64, h [32]byte) {
	if c.m == nil || len(c.m) >= treeCacheMax {
		c.m = make(map[int64][32]byte)
	}
	c.m[i] = h
}
