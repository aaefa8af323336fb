package store

import (
	"context"
	"database/sql"
	"errors"
	"sort"
	"strings"
	"time"

	"github.com/trunkline/trunkline"
)

// Message states, named here while callers move over.
const (
	MsgQueued      = trunkline.MsgQueued
	MsgSent        = trunkline.MsgSent
	MsgFailed      = trunkline.MsgFailed
	MsgDelivered   = trunkline.MsgDelivered
	MsgUndelivered = trunkline.MsgUndelivered
	MsgReceived    = trunkline.MsgReceived
)

// Records of the domain core (package trunkline), named here while callers move over.
type Message = trunkline.Message
type Callback = trunkline.Callback
type MessageFilter = trunkline.MessageFilter
type Part = trunkline.Part
type Attempt = trunkline.Attempt
type SendOutcome = trunkline.SendOutcome
type ReceiptOutcome = trunkline.ReceiptOutcome

const messageCols = `uuid, account_id, direction, message_type, log_mode, from_number, to_number, body_text, payload_enc,
	coding, units, state, error_code, carrier, callback_url, callback_method, requester_ip, created_at, sent_at,
	updated_at, expires_at, next_attempt_at, attempts`

func scanMessage(row interface{ Scan(...any) error }) (*Message, error) {
	var m Message
	var created, updated, expires, next int64
	var sent sql.NullInt64
	err := row.Scan(&m.UUID, &m.AccountID, &m.Direction, &m.Type, &m.LogMode, &m.From, &m.To, &m.Body, &m.PayloadEnc,
		&m.Coding, &m.Units, &m.State, &m.ErrorCode, &m.Carrier, &m.CallbackURL, &m.CallbackMethod, &m.RequesterIP,
		&created, &sent, &updated, &expires, &next, &m.Attempts)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	m.CreatedAt, m.UpdatedAt, m.ExpiresAt, m.NextAttemptAt = fromMicros(created), fromMicros(updated), fromMicros(expires), fromMicros(next)
	m.SentAt = nullMicros(sent)
	return &m, nil
}

func insertCallback(ctx context.Context, tx *Tx, c *Callback, now time.Time) error {
	return insertCallbacks(ctx, tx, []*Callback{c}, now)
}

// insertCallbacks queues callbacks (nil ones and ones without a URL are skipped) with
// one multi-row INSERT.
func insertCallbacks(ctx context.Context, tx *Tx, cbs []*Callback, now time.Time) error {
	var args []any
	for _, c := range cbs {
		if c == nil || c.URL == "" {
			continue
		}
		args = append(args, c.AccountID, c.Kind, c.ObjectID, c.URL, c.Method, c.ParamsEnc, micros(now), micros(now))
	}
	return insertRows(ctx, tx, `INSERT INTO callbacks (account_id, kind, object_id, url, method, params_enc, created_at, next_attempt_at) VALUES `, 8, args)
}

// insertMessageRows inserts messages with one multi-row INSERT (the one place that
// writes a new message row).
func insertMessageRows(ctx context.Context, tx *Tx, ms []*Message) error {
	args := make([]any, 0, len(ms)*24)
	for _, m := range ms {
		args = append(args, m.UUID, m.AccountID, m.Direction, m.Type, m.LogMode, m.From, m.To, m.Body, m.PayloadEnc, m.Coding, m.Units,
			m.State, m.ErrorCode, m.Carrier, m.CallbackURL, m.CallbackMethod, m.RequesterIP, micros(m.CreatedAt), micros(m.UpdatedAt),
			micros(m.ExpiresAt), micros(m.NextAttemptAt), m.LeaseOwner, leaseMicros(m.LeaseUntil), m.Attempts)
	}
	return insertRows(ctx, tx, `INSERT INTO messages (uuid, account_id, direction, message_type, log_mode, from_number, to_number,
		body_text, payload_enc, coding, units, state, error_code, carrier, callback_url, callback_method, requester_ip,
		created_at, updated_at, expires_at, next_attempt_at, lease_owner, lease_until, attempts) VALUES `, 24, args)
}

// accepted is one InsertMessages call's rows.
type accepted struct {
	ms  []*Message
	cbs []*Callback
	now time.Time
}

// insertAccepted is InsertMessages' set-based write: every call's messages of a batch
// in one multi-row INSERT, and their callbacks in another.
var insertAccepted = &setWrite{apply: func(ctx context.Context, tx *Tx, args []any) error {
	var ms []*Message
	var cbs []*Callback
	var now time.Time
	for _, a := range args {
		a := a.(*accepted)
		ms, cbs, now = append(ms, a.ms...), append(cbs, a.cbs...), a.now
	}
	if err := insertMessageRows(ctx, tx, ms); err != nil {
		return err
	}
	return insertCallbacks(ctx, tx, cbs, now)
}}

// InsertMessages stores accepted messages (and any callbacks already due, e.g. for
// messages that failed at once) in one transaction: when it returns nil they are durable.
// Concurrent calls share one multi-row INSERT (insertAccepted).
func (db *DB) InsertMessages(ctx context.Context, ms []*Message, cbs []*Callback) error {
	now := db.now()
	for _, m := range ms {
		m.CreatedAt = now.UTC().Truncate(time.Microsecond)
		m.UpdatedAt = m.CreatedAt
		if m.NextAttemptAt.IsZero() {
			m.NextAttemptAt = m.CreatedAt
		}
	}
	a := &accepted{ms: ms, cbs: cbs, now: now}
	return db.writeSet(ctx, insertAccepted, a, func(ctx context.Context, tx *Tx) error {
		return insertAccepted.apply(ctx, tx, []any{a})
	})
}

func leaseMicros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return micros(t)
}

// ReleaseLease frees a message's lease (a hand-off to workers that did not happen).
func (db *DB) ReleaseLease(ctx context.Context, uuid string) error {
	return db.write(ctx, func(ctx context.Context, tx *Tx) error {
		_, err := tx.Exec(ctx, `UPDATE messages SET lease_until = 0 WHERE uuid = ? AND state = 'queued'`, uuid)
		return err
	})
}

// Message returns one message visible in scope.
func (db *DB) Message(ctx context.Context, s Scope, uuid string) (*Message, error) {
	w, args := scopeWhere(s, "account_id")
	return scanMessage(db.queryRow(ctx, `SELECT `+messageCols+` FROM messages WHERE uuid = ? AND `+w, append([]any{uuid}, args...)...))
}

// MessageByUUID returns a message whoever owns it (workers).
func (db *DB) MessageByUUID(ctx context.Context, uuid string) (*Message, error) {
	return scanMessage(db.queryRow(ctx, `SELECT `+messageCols+` FROM messages WHERE uuid = ?`, uuid))
}

// ListMessages lists messages in scope, newest first, with the total count.
func (db *DB) ListMessages(ctx context.Context, s Scope, f MessageFilter) ([]*Message, int, error) {
	w, args := scopeWhere(s, "account_id")
	add := func(cond string, v any) {
		w += " AND " + cond
		args = append(args, v)
	}
	if f.Subaccount != "" {
		add("account_id = ?", f.Subaccount)
	}
	if f.Direction != "" {
		add("direction = ?", f.Direction)
	}
	if f.State != "" {
		add("state = ?", f.State)
	}
	if f.Type != "" {
		add("message_type = ?", f.Type)
	}
	if f.ErrorCode != "" {
		add("error_code = ?", f.ErrorCode)
	}
	if f.From != "" {
		add("from_number = ?", f.From)
	}
	if f.To != "" {
		add("to_number = ?", f.To)
	}
	if !f.Since.IsZero() {
		add("created_at >= ?", micros(f.Since))
	}
	if !f.Until.IsZero() {
		add("created_at < ?", micros(f.Until))
	}
	var total int
	if err := db.queryRow(ctx, `SELECT COUNT(*) FROM messages WHERE `+w, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := db.query(ctx, `SELECT `+messageCols+` FROM messages WHERE `+w+` ORDER BY created_at DESC, uuid LIMIT ? OFFSET ?`,
		append(args, f.Limit, f.Offset)...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []*Message
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, m)
	}
	return out, total, rows.Err()
}

// ClaimMessages leases up to limit queued messages that are due, for lease. A message
// whose lease runs out (its worker died) is claimed again: at-least-once, which is why
// duplicates at the SMSC are limited to messages in flight at a crash.
func (db *DB) ClaimMessages(ctx context.Context, owner string, lease time.Duration, limit int) ([]*Message, error) {
	now := db.now()
	lock := ""
	if db.dialect == Postgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	var out []*Message
	// Through the writer, like every write: on SQLite a second writer would only sleep
	// in the busy handler.
	err := db.write(ctx, func(ctx context.Context, tx *Tx) error {
		out = nil
		rows, err := tx.Query(ctx, `UPDATE messages SET lease_until = ?, lease_owner = ?, attempts = attempts + 1
		WHERE uuid IN (SELECT uuid FROM messages WHERE state = 'queued' AND next_attempt_at <= ? AND lease_until <= ?
			ORDER BY next_attempt_at LIMIT ?`+lock+`) AND lease_until <= ?
		RETURNING `+messageCols, micros(now.Add(lease)), owner, micros(now), micros(now), limit, micros(now))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			m, err := scanMessage(rows)
			if err != nil {
				return err
			}
			out = append(out, m)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ReleaseLeases frees the leases owner held: called when a node starts, since whatever
// its previous run claimed died with it (a crash), and waiting for the leases to run out
// would only delay those messages.
func (db *DB) ReleaseLeases(ctx context.Context, owner string) (int64, error) {
	var n int64
	err := db.write(ctx, func(ctx context.Context, tx *Tx) error {
		res, err := tx.Exec(ctx, `UPDATE messages SET lease_until = 0 WHERE state = 'queued' AND lease_owner = ? AND lease_until > 0`, owner)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

// NextMessageDue reports when the earliest queued message is due (zero when none).
func (db *DB) NextMessageDue(ctx context.Context) (time.Time, error) {
	var v sql.NullInt64
	err := db.queryRow(ctx, `SELECT MIN(CASE WHEN lease_until > next_attempt_at THEN lease_until ELSE next_attempt_at END)
		FROM messages WHERE state = 'queued'`).Scan(&v)
	if err != nil || !v.Valid {
		return time.Time{}, err
	}
	return fromMicros(v.Int64), nil
}

// RecordSend applies a worker's outcome to a message it leased. Receipts that arrived
// before this (early_receipts) are applied in the same transaction. It returns the
// message as it now stands.
func (db *DB) RecordSend(ctx context.Context, uuid string, o SendOutcome) (*Message, error) {
	now := db.now()
	var m *Message
	err := db.write(ctx, func(ctx context.Context, tx *Tx) error {
		var all []string
		for _, p := range o.Parts {
			all = append(all, p.Keys...)
		}
		if err := lockKeys(ctx, tx, o.Carrier, all); err != nil {
			return err
		}
		for _, a := range o.Attempts {
			if _, err := tx.Exec(ctx, `INSERT INTO message_attempts (message_uuid, carrier, status, latency_us, at) VALUES (?, ?, ?, ?, ?)`,
				uuid, a.Carrier, a.Status, a.Latency.Microseconds(), micros(a.At)); err != nil {
				return err
			}
		}
		var sent any
		if o.State == MsgSent {
			sent = micros(now)
		}
		erase := ""
		if o.Erase {
			erase = ", payload_enc = NULL"
		}
		_, err := tx.Exec(ctx, `UPDATE messages SET state = ?, error_code = ?, carrier = ?, sent_at = COALESCE(sent_at, ?),
			updated_at = ?, next_attempt_at = ?, lease_until = 0`+erase+` WHERE uuid = ? AND state = 'queued'`,
			o.State, o.ErrorCode, o.Carrier, sent, micros(now), micros(o.RetryAt), uuid)
		if err != nil {
			return err
		}
		for _, p := range o.Parts {
			for _, k := range p.Keys {
				if _, err := tx.Exec(ctx, `INSERT INTO message_parts (message_uuid, seq, carrier, smsc_key) VALUES (?, ?, ?, ?)
					ON CONFLICT DO NOTHING`, uuid, p.Seq, o.Carrier, k); err != nil {
					return err
				}
			}
		}
		if m, err = scanMessage(tx.QueryRow(ctx, `SELECT `+messageCols+` FROM messages WHERE uuid = ?`, uuid)); err != nil {
			return err
		}
		if o.Callback != nil {
			if err := insertCallback(ctx, tx, o.Callback(m), now); err != nil {
				return err
			}
		}
		// Receipts that overtook the submit_sm_resp: one look-up for all keys.
		early := ""
		if len(all) > 0 {
			keyPart := map[string]int{}
			args := []any{o.Carrier}
			for _, p := range o.Parts {
				for _, k := range p.Keys {
					keyPart[k] = p.Seq
					args = append(args, k)
				}
			}
			rows, err := tx.Query(ctx, `SELECT smsc_key, state, error_code FROM early_receipts WHERE carrier = ? AND smsc_key IN (?`+
				strings.Repeat(", ?", len(args)-2)+`)`, args...)
			if err != nil {
				return err
			}
			type hit struct{ key, state, code string }
			var hits []hit
			for rows.Next() {
				var h hit
				if err := rows.Scan(&h.key, &h.state, &h.code); err != nil {
					rows.Close()
					return err
				}
				hits = append(hits, h)
			}
			rows.Close()
			for _, h := range hits {
				if _, err := tx.Exec(ctx, `DELETE FROM early_receipts WHERE carrier = ? AND smsc_key = ?`, o.Carrier, h.key); err != nil {
					return err
				}
				if _, err := tx.Exec(ctx, `UPDATE message_parts SET state = ?, error_code = ? WHERE message_uuid = ? AND seq = ?`, h.state, h.code, uuid, keyPart[h.key]); err != nil {
					return err
				}
				early = h.code
			}
		}
		if early != "" && m.State == MsgSent {
			_, err := finalize(ctx, tx, m, early, o.Erase, o.Callback, now)
			return err
		}
		return nil
	})
	return m, err
}

// lockKeys serialises, on PostgreSQL, the transactions that record a submit and apply a
// receipt for the same SMSC id, so a receipt racing its own submit_sm_resp is either seen
// by the submit's transaction or finds the submit's parts — never neither. SQLite already
// runs one writer at a time. Keys are locked in sorted order, so no two transactions can
// wait on each other in a cycle.
func lockKeys(ctx context.Context, tx *Tx, carrier string, keys []string) error {
	if tx.db.dialect != Postgres || len(keys) == 0 {
		return nil
	}
	sorted := append([]string(nil), keys...)
	sort.Strings(sorted)
	for _, k := range sorted {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext(?))`, carrier+"|"+k); err != nil {
			return err
		}
	}
	return nil
}

// ApplyReceipt records a delivery receipt for the segment a carrier knows by one of keys.
// When every segment of the message has a final receipt the message becomes delivered
// (all delivered) or undelivered, and callback(m) is queued in the same transaction. A
// receipt that matches nothing yet is kept until its submit is recorded.
func (db *DB) ApplyReceipt(ctx context.Context, carrier string, keys []string, state, errorCode string, erase bool,
	callback func(m *Message) *Callback) (ReceiptOutcome, error) {
	now := db.now()
	var out ReceiptOutcome
	err := db.write(ctx, func(ctx context.Context, tx *Tx) error {
		out = ReceiptOutcome{}
		if err := lockKeys(ctx, tx, carrier, keys); err != nil {
			return err
		}
		var uuid string
		var seq int
		var found bool
		for i, k := range keys {
			err := tx.QueryRow(ctx, `SELECT message_uuid, seq FROM message_parts WHERE carrier = ? AND smsc_key = ? LIMIT 1`, carrier, k).Scan(&uuid, &seq)
			if err == nil {
				found, out.Exact = true, i == 0
				break
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		if !found {
			if len(keys) == 0 {
				return nil
			}
			_, err := tx.Exec(ctx, `INSERT INTO early_receipts (carrier, smsc_key, state, error_code, received_at) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (carrier, smsc_key) DO UPDATE SET state = excluded.state, error_code = excluded.error_code`,
				carrier, keys[0], state, errorCode, micros(now))
			if err != nil {
				return err
			}
			for _, k := range keys[1:] {
				if _, err := tx.Exec(ctx, `INSERT INTO early_receipts (carrier, smsc_key, state, error_code, received_at) VALUES (?, ?, ?, ?, ?)
					ON CONFLICT (carrier, smsc_key) DO UPDATE SET state = excluded.state, error_code = excluded.error_code`,
					carrier, k, state, errorCode, micros(now)); err != nil {
					return err
				}
			}
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE message_parts SET state = ?, error_code = ? WHERE message_uuid = ? AND seq = ?`, state, errorCode, uuid, seq); err != nil {
			return err
		}
		m, err := scanMessage(tx.QueryRow(ctx, `SELECT `+messageCols+` FROM messages WHERE uuid = ?`, uuid))
		if err != nil {
			return err
		}
		out.Message = m
		if m.State != MsgSent {
			return nil // already final (a duplicate receipt), or failed
		}
		out.Final, err = finalize(ctx, tx, m, errorCode, erase, callback, now)
		return err
	})
	return out, err
}

// finalize makes a sent message delivered or undelivered once every segment has a final
// receipt, queuing callback(m) in the same transaction. It reports whether it did.
func finalize(ctx context.Context, tx *Tx, m *Message, errorCode string, erase bool, callback func(*Message) *Callback, now time.Time) (bool, error) {
	uuid := m.UUID
	// Final when every segment has a final state.
	var total, delivered, pending int
	rows, err := tx.Query(ctx, `SELECT seq, MIN(state), MAX(state) FROM message_parts WHERE message_uuid = ? GROUP BY seq`, uuid)
	if err != nil {
		return false, err
	}
	for rows.Next() {
		var s int
		var lo, hi string
		if err := rows.Scan(&s, &lo, &hi); err != nil {
			rows.Close()
			return false, err
		}
		total++
		// All key rows of a segment carry the same state; sent = not yet final.
		switch {
		case lo == MsgSent && hi == MsgSent:
			pending++
		case lo == MsgDelivered && hi == MsgDelivered:
			delivered++
		}
	}
	rows.Close()
	if pending > 0 || total < m.Units {
		return false, nil
	}
	final, code := MsgUndelivered, errorCode
	if delivered == total {
		final, code = MsgDelivered, "000"
	}
	eraseSQL := ""
	if erase {
		eraseSQL = ", payload_enc = NULL"
	}
	if _, err := tx.Exec(ctx, `UPDATE messages SET state = ?, error_code = ?, updated_at = ?`+eraseSQL+` WHERE uuid = ?`, final, code, micros(now), uuid); err != nil {
		return false, err
	}
	m.State, m.ErrorCode, m.UpdatedAt = final, code, now.UTC().Truncate(time.Microsecond)
	if callback != nil {
		return true, insertCallback(ctx, tx, callback(m), now)
	}
	return true, nil
}

// MessageAttempts lists a message's carrier attempts, oldest first.
func (db *DB) MessageAttempts(ctx context.Context, uuid string) ([]Attempt, error) {
	rows, err := db.query(ctx, `SELECT carrier, status, latency_us, at FROM message_attempts WHERE message_uuid = ? ORDER BY id`, uuid)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Attempt
	for rows.Next() {
		var a Attempt
		var lat, at int64
		if err := rows.Scan(&a.Carrier, &a.Status, &lat, &at); err != nil {
			return nil, err
		}
		a.Latency, a.At = time.Duration(lat)*time.Microsecond, fromMicros(at)
		out = append(out, a)
	}
	return out, rows.Err()
}

// ClaimCallbacks leases up to limit due callbacks.
func (db *DB) ClaimCallbacks(ctx context.Context, lease time.Duration, limit int) ([]*Callback, error) {
	now := db.now()
	lock := ""
	if db.dialect == Postgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	var out []*Callback
	err := db.write(ctx, func(ctx context.Context, tx *Tx) error {
		out = nil
		rows, err := tx.Query(ctx, `UPDATE callbacks SET lease_until = ?, attempts = attempts + 1
		WHERE id IN (SELECT id FROM callbacks WHERE next_attempt_at <= ? AND lease_until <= ? ORDER BY next_attempt_at LIMIT ?`+lock+`)
		AND lease_until <= ?
		RETURNING id, account_id, kind, object_id, url, method, params_enc, attempts, next_attempt_at`,
			micros(now.Add(lease)), micros(now), micros(now), limit, micros(now))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var c Callback
			var next int64
			if err := rows.Scan(&c.ID, &c.AccountID, &c.Kind, &c.ObjectID, &c.URL, &c.Method, &c.ParamsEnc, &c.Attempts, &next); err != nil {
				return err
			}
			c.NextAttemptAt = fromMicros(next)
			out = append(out, &c)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// finishCallbacks is FinishCallback's set-based write: one DELETE for a batch's ids.
var finishCallbacks = &setWrite{apply: func(ctx context.Context, tx *Tx, args []any) error {
	_, err := tx.Exec(ctx, `DELETE FROM callbacks WHERE id IN (?`+strings.Repeat(", ?", len(args)-1)+`)`, args...)
	return err
}}

// FinishCallback removes a delivered (or abandoned) callback; RetryCallback reschedules it.
func (db *DB) FinishCallback(ctx context.Context, id int64) error {
	return db.writeSet(ctx, finishCallbacks, id, func(ctx context.Context, tx *Tx) error {
		return finishCallbacks.apply(ctx, tx, []any{id})
	})
}

// RetryCallback makes a callback due again at t.
func (db *DB) RetryCallback(ctx context.Context, id int64, t time.Time) error {
	return db.write(ctx, func(ctx context.Context, tx *Tx) error {
		_, err := tx.Exec(ctx, `UPDATE callbacks SET next_attempt_at = ?, lease_until = 0 WHERE id = ?`, micros(t), id)
		return err
	})
}

// PendingCallbacks counts callbacks not yet delivered (tests, metrics).
func (db *DB) PendingCallbacks(ctx context.Context) (int, error) {
	var n int
	err := db.queryRow(ctx, `SELECT COUNT(*) FROM callbacks`).Scan(&n)
	return n, err
}

// MessageCounts counts messages by state (tests, metrics, the crash test).
func (db *DB) MessageCounts(ctx context.Context) (map[string]int, error) {
	rows, err := db.query(ctx, `SELECT state, COUNT(*) FROM messages GROUP BY state`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			return nil, err
		}
		out[strings.ToLower(s)] = n
	}
	return out, rows.Err()
}
