package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/trunkline/trunkline"
)

const recordingCols = `id, account_id, call_uuid, format, recording_type, duration_ms, start_ms, end_ms, size_bytes,
	from_number, to_number, created_at`

func scanRecording(row interface{ Scan(...any) error }) (*trunkline.Recording, error) {
	var r trunkline.Recording
	var created int64
	err := row.Scan(&r.ID, &r.AccountID, &r.CallUUID, &r.Format, &r.Type, &r.DurationMs, &r.StartMs, &r.EndMs, &r.Size,
		&r.From, &r.To, &created)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, trunkline.ErrNotFound
		}
		return nil, err
	}
	r.CreatedAt = fromMicros(created)
	return &r, nil
}

// InsertRecording stores a recording's metadata (once its file is safely written).
// Type defaults to "call" and CreatedAt to now; a duplicate ID gets trunkline.ErrConflict.
func (db *DB) InsertRecording(ctx context.Context, r *trunkline.Recording) error {
	if r.Type == "" {
		r.Type = "call"
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = db.now()
	}
	r.CreatedAt = r.CreatedAt.UTC().Truncate(time.Microsecond)
	return db.write(ctx, func(ctx context.Context, tx *Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO recordings (`+recordingCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.ID, r.AccountID, r.CallUUID, r.Format, r.Type, r.DurationMs, r.StartMs, r.EndMs, r.Size, r.From, r.To,
			micros(r.CreatedAt))
		if isUniqueViolation(err) {
			return trunkline.ErrConflict
		}
		return err
	})
}

// GetRecording returns one recording visible in scope.
func (db *DB) GetRecording(ctx context.Context, sc trunkline.Scope, id string) (*trunkline.Recording, error) {
	w, args := scopeWhere(sc, "account_id")
	return scanRecording(db.queryRow(ctx, `SELECT `+recordingCols+` FROM recordings WHERE id = ? AND `+w,
		append([]any{id}, args...)...))
}

// ListRecordings lists recordings in scope, newest first, with the total count.
func (db *DB) ListRecordings(ctx context.Context, sc trunkline.Scope, f trunkline.RecordingFilter) ([]*trunkline.Recording, int, error) {
	w, args := scopeWhere(sc, "account_id")
	add := func(cond string, v any) {
		w += " AND " + cond
		args = append(args, v)
	}
	if f.Subaccount != "" {
		add("account_id = ?", f.Subaccount)
	}
	if f.CallUUID != "" {
		add("call_uuid = ?", f.CallUUID)
	}
	if f.From != "" {
		add("from_number = ?", f.From)
	}
	if f.To != "" {
		add("to_number = ?", f.To)
	}
	if !f.AddFrom.IsZero() {
		add("created_at >= ?", micros(f.AddFrom))
	}
	if !f.AddTo.IsZero() {
		add("created_at < ?", micros(f.AddTo))
	}
	var total int
	if err := db.queryRow(ctx, `SELECT COUNT(*) FROM recordings WHERE `+w, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := db.query(ctx, `SELECT `+recordingCols+` FROM recordings WHERE `+w+` ORDER BY created_at DESC, id LIMIT ? OFFSET ?`,
		append(args, f.Limit, f.Offset)...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []*trunkline.Recording
	for rows.Next() {
		r, err := scanRecording(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, r)
	}
	return out, total, rows.Err()
}

// DeleteRecording deletes a recording visible in scope and returns it, so the caller can
// remove its file (named by account and id). trunkline.ErrNotFound when it is not there (or not
// the caller's).
func (db *DB) DeleteRecording(ctx context.Context, sc trunkline.Scope, id string) (*trunkline.Recording, error) {
	var r *trunkline.Recording
	err := db.write(ctx, func(ctx context.Context, tx *Tx) error {
		w, args := scopeWhere(sc, "account_id")
		var err error
		r, err = scanRecording(tx.QueryRow(ctx, `SELECT `+recordingCols+` FROM recordings WHERE id = ? AND `+w,
			append([]any{id}, args...)...))
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM recordings WHERE id = ?`, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// AccountDataKey returns the wrapped data key an account holds for purpose; trunkline.ErrNotFound
// when it has none yet.
func (db *DB) AccountDataKey(ctx context.Context, accountID, purpose string) ([]byte, error) {
	var wrapped []byte
	err := db.queryRow(ctx, `SELECT wrapped FROM account_data_keys WHERE account_id = ? AND purpose = ?`, accountID, purpose).Scan(&wrapped)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, trunkline.ErrNotFound
	}
	return wrapped, err
}

// PutAccountDataKey stores wrapped as the account's data key for purpose unless one is
// already there, and returns the stored one. Two nodes creating the first key at once
// thus agree on a single key (the loser's is discarded before anything is encrypted
// with it, as long as callers encrypt with the returned key).
func (db *DB) PutAccountDataKey(ctx context.Context, accountID, purpose string, wrapped []byte) ([]byte, error) {
	var stored []byte
	err := db.write(ctx, func(ctx context.Context, tx *Tx) error {
		// ON CONFLICT DO NOTHING waits, on PostgreSQL, for a concurrent inserter of the
		// same key to commit; the SELECT (a new statement, so a fresh snapshot under READ
		// COMMITTED) then sees the winner's row.
		if _, err := tx.Exec(ctx, `INSERT INTO account_data_keys (account_id, purpose, wrapped, created_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (account_id, purpose) DO NOTHING`, accountID, purpose, wrapped, micros(db.now())); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT wrapped FROM account_data_keys WHERE account_id = ? AND purpose = ?`, accountID, purpose).Scan(&stored)
	})
	if err != nil {
		return nil, err
	}
	return stored, nil
}
