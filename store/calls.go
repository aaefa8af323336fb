package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/trunkline/trunkline"
)

const callCols = `uuid, account_id, direction, from_number, to_number, parent_uuid, request_uuid, state, trunk, app_id,
	initiated_at, answered_at, ended_at, duration_s, bill_duration_s, hangup_cause_code, hangup_cause_name,
	hangup_source, hangup_reason, attempts`

func scanCall(row interface{ Scan(...any) error }) (*trunkline.Call, error) {
	var c trunkline.Call
	var initiated int64
	var answered, ended sql.NullInt64
	err := row.Scan(&c.UUID, &c.AccountID, &c.Direction, &c.From, &c.To, &c.ParentUUID, &c.RequestUUID, &c.State,
		&c.Trunk, &c.AppID, &initiated, &answered, &ended, &c.Duration, &c.BillDuration, &c.HangupCauseCode,
		&c.HangupCauseName, &c.HangupSource, &c.HangupReason, &c.Attempts)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, trunkline.ErrNotFound
		}
		return nil, err
	}
	c.InitiatedAt = fromMicros(initiated)
	c.AnsweredAt, c.EndedAt = nullMicros(answered), nullMicros(ended)
	return &c, nil
}

func truncTime(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := t.UTC().Truncate(time.Microsecond)
	return &v
}

// InsertCall stores a new call leg. State defaults to ringing and InitiatedAt to now; a
// leg that failed before it rang may be inserted completed, with its end fields. A
// second leg with the same UUID gets trunkline.ErrConflict.
func (db *DB) InsertCall(ctx context.Context, c *trunkline.Call) error {
	if c.State == "" {
		c.State = trunkline.CallRinging
	}
	switch c.State {
	case trunkline.CallRinging, trunkline.CallInProgress, trunkline.CallCompleted:
	default:
		return fmt.Errorf("store: unknown call state %q", c.State)
	}
	if c.InitiatedAt.IsZero() {
		c.InitiatedAt = db.now()
	}
	c.InitiatedAt = c.InitiatedAt.UTC().Truncate(time.Microsecond)
	if c.State == trunkline.CallCompleted && c.EndedAt == nil {
		// A CDR without an end time would fall outside every listing window.
		end := c.InitiatedAt
		c.EndedAt = &end
	}
	c.AnsweredAt, c.EndedAt = truncTime(c.AnsweredAt), truncTime(c.EndedAt)
	node := c.Node
	if node == "" {
		node = db.node
	}
	return db.write(ctx, func(ctx context.Context, tx *Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO calls (`+callCols+`, node, hangup_url, hangup_method)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			c.UUID, c.AccountID, c.Direction, c.From, c.To, c.ParentUUID, c.RequestUUID, c.State, c.Trunk, c.AppID,
			micros(c.InitiatedAt), toNullMicros(c.AnsweredAt), toNullMicros(c.EndedAt), c.Duration, c.BillDuration,
			c.HangupCauseCode, c.HangupCauseName, c.HangupSource, c.HangupReason, c.Attempts, node, c.HangupURL, c.HangupMethod)
		if isUniqueViolation(err) {
			return trunkline.ErrConflict
		}
		return err
	})
}

// MarkCallAnswered moves a ringing call to in-progress, answered at at. It has no effect
// on a call already answered or completed (a late answer changes nothing); trunkline.ErrNotFound
// when there is no such call.
func (db *DB) MarkCallAnswered(ctx context.Context, uuid string, at time.Time) error {
	return db.write(ctx, func(ctx context.Context, tx *Tx) error {
		res, err := tx.Exec(ctx, `UPDATE calls SET state = ?, answered_at = ? WHERE uuid = ? AND state = ?`,
			trunkline.CallInProgress, micros(at), uuid, trunkline.CallRinging)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n > 0 {
			return err
		}
		return callExists(ctx, tx, uuid)
	})
}

func callExists(ctx context.Context, tx *Tx, uuid string) error {
	var one int
	if err := tx.QueryRow(ctx, `SELECT 1 FROM calls WHERE uuid = ?`, uuid).Scan(&one); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return trunkline.ErrNotFound
		}
		return err
	}
	return nil
}

// FinishCall completes the call c.UUID with c's end fields: EndedAt (now when nil),
// AnsweredAt (kept as stored when nil), Duration, BillDuration and the hangup fields.
// On success c holds the whole stored record (account, numbers, times), as the hangup
// callback needs it. The first end recorded wins: a call already completed gets
// trunkline.ErrConflict, an unknown one trunkline.ErrNotFound.
func (db *DB) FinishCall(ctx context.Context, c *trunkline.Call) error {
	ended := c.EndedAt
	if ended == nil {
		now := db.now()
		ended = &now
	}
	ended, answered := truncTime(ended), truncTime(c.AnsweredAt)
	return db.write(ctx, func(ctx context.Context, tx *Tx) error {
		// The trunk is known only once an outbound call has found one that
		// answered (or the last one tried).
		res, err := tx.Exec(ctx, `UPDATE calls SET state = ?, answered_at = COALESCE(?, answered_at), ended_at = ?,
			duration_s = ?, bill_duration_s = ?, hangup_cause_code = ?, hangup_cause_name = ?, hangup_source = ?,
			hangup_reason = ?, trunk = CASE WHEN ? = '' THEN trunk ELSE ? END, attempts = ? WHERE uuid = ? AND state <> ?`,
			trunkline.CallCompleted, toNullMicros(answered), micros(*ended), c.Duration, c.BillDuration, c.HangupCauseCode,
			c.HangupCauseName, c.HangupSource, c.HangupReason, c.Trunk, c.Trunk, c.Attempts, c.UUID, trunkline.CallCompleted)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 0 {
			if err := callExists(ctx, tx, c.UUID); err != nil {
				return err
			}
			return trunkline.ErrConflict
		}
		got, err := scanCall(tx.QueryRow(ctx, `SELECT `+callCols+` FROM calls WHERE uuid = ?`, c.UUID))
		if err != nil {
			return err
		}
		*c = *got
		return nil
	})
}

// GetCall returns one call visible in scope, whatever its state.
func (db *DB) GetCall(ctx context.Context, sc trunkline.Scope, uuid string) (*trunkline.Call, error) {
	w, args := scopeWhere(sc, "account_id")
	return scanCall(db.queryRow(ctx, `SELECT `+callCols+` FROM calls WHERE uuid = ? AND `+w, append([]any{uuid}, args...)...))
}

// prefixCond matches col against a prefix with substr rather than LIKE, so "%" and "_"
// in a client's filter are plain characters. Both dialects count characters.
func prefixCond(col string, prefix string) (string, []any) {
	return `substr(` + col + `, 1, ?) = ?`, []any{utf8.RuneCountInString(prefix), prefix}
}

// ListCalls lists completed calls in scope, newest end first, with the total count.
func (db *DB) ListCalls(ctx context.Context, sc trunkline.Scope, f trunkline.CallFilter) ([]*trunkline.Call, int, error) {
	w, args := scopeWhere(sc, "account_id")
	w += ` AND state = ?`
	args = append(args, trunkline.CallCompleted)
	add := func(cond string, vs ...any) {
		w += " AND " + cond
		args = append(args, vs...)
	}
	if f.Subaccount != "" {
		add("account_id = ?", f.Subaccount)
	}
	if f.Direction != "" {
		add("direction = ?", f.Direction)
	}
	if f.From != "" {
		c, a := prefixCond("from_number", f.From)
		add(c, a...)
	}
	if f.To != "" {
		c, a := prefixCond("to_number", f.To)
		add(c, a...)
	}
	if f.ParentUUID != "" {
		add("parent_uuid = ?", f.ParentUUID)
	}
	if f.HangupSource != "" {
		add("hangup_source = ?", f.HangupSource)
	}
	if f.HangupCauseCode != nil {
		add("hangup_cause_code = ?", *f.HangupCauseCode)
	}
	if f.BillDurationMin != nil {
		add("bill_duration_s >= ?", *f.BillDurationMin)
	}
	if f.BillDurationMax != nil {
		add("bill_duration_s <= ?", *f.BillDurationMax)
	}
	if !f.EndFrom.IsZero() {
		add("ended_at >= ?", micros(f.EndFrom))
	}
	if !f.EndTo.IsZero() {
		add("ended_at < ?", micros(f.EndTo))
	}
	var total int
	if err := db.queryRow(ctx, `SELECT COUNT(*) FROM calls WHERE `+w, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := db.query(ctx, `SELECT `+callCols+` FROM calls WHERE `+w+` ORDER BY ended_at DESC, uuid LIMIT ? OFFSET ?`,
		append(args, f.Limit, f.Offset)...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []*trunkline.Call
	for rows.Next() {
		c, err := scanCall(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, c)
	}
	return out, total, rows.Err()
}
