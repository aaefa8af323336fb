package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/trunkline/trunkline"
)

const messageCols = `uuid, account_id, direction, message_type, log_mode, from_number, to_number, body_text, payload_enc,
	coding, units, state, error_code, carrier, callback_url, callback_method, requester_ip, created_at, sent_at,
	updated_at, expires_at, next_attempt_at, attempts, body_enc`

// statusCols is messageCols without the message's text and sealed payload (read as
// empty), for scanMessage: what the submit results and receipts return, which their
// status callbacks and callers use, need neither. Opening the sealed text of every
// message they returned was 1.6% of the server's CPU in bench/sms.sh.
const statusCols = `uuid, account_id, direction, message_type, log_mode, from_number, to_number, '', NULL,
	coding, units, state, error_code, carrier, callback_url, callback_method, requester_ip, created_at, sent_at,
	updated_at, expires_at, next_attempt_at, attempts, NULL`

// BodyCipher seals message bodies at rest under their account's data key (keys.Bodies).
type BodyCipher interface {
	SealBody(ctx context.Context, accountID, uuid, body string) ([]byte, error)
	OpenBody(ctx context.Context, accountID, uuid string, enc []byte) (string, error)
}

// SetBodyCipher makes the store seal new message bodies and open sealed ones. Without
// one, bodies are stored as given (tests of other parts).
func (db *DB) SetBodyCipher(c BodyCipher) { db.bodies = c }

// SealPlainBodies seals, in batches, the message bodies stored in plain text before
// migration 14, so that crypto-shredding covers them too; it returns how many it sealed.
// Safe to run while the server works and on several nodes at once: a row is only
// rewritten while it still holds its plain body.
func (db *DB) SealPlainBodies(ctx context.Context, batch int) (int, error) {
	if db.bodies == nil {
		return 0, errors.New("store: no body cipher")
	}
	total := 0
	for {
		rows, err := db.query(ctx, `SELECT uuid, account_id, body_text FROM messages WHERE body_enc IS NULL AND body_text <> '' LIMIT ?`, batch)
		if err != nil {
			return total, err
		}
		type plain struct{ uuid, acct, body string }
		var ps []plain
		for rows.Next() {
			var p plain
			if err := rows.Scan(&p.uuid, &p.acct, &p.body); err != nil {
				rows.Close()
				return total, err
			}
			ps = append(ps, p)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return total, err
		}
		if len(ps) == 0 {
			return total, nil
		}
		encs := make([][]byte, len(ps))
		for i, p := range ps {
			if encs[i], err = db.bodies.SealBody(ctx, p.acct, p.uuid, p.body); err != nil {
				return total, fmt.Errorf("seal message body: %w", err)
			}
		}
		err = db.write(ctx, func(ctx context.Context, tx *Tx) error {
			for i, p := range ps {
				if _, err := tx.Exec(ctx, `UPDATE messages SET body_enc = ?, body_text = '' WHERE uuid = ? AND body_enc IS NULL AND body_text = ?`,
					encs[i], p.uuid, p.body); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		total += len(ps)
	}
}

func (db *DB) scanMessage(ctx context.Context, row interface{ Scan(...any) error }) (*trunkline.Message, error) {
	var m trunkline.Message
	var created, updated, expires, next int64
	var sent sql.NullInt64
	var enc []byte
	err := row.Scan(&m.UUID, &m.AccountID, &m.Direction, &m.Type, &m.LogMode, &m.From, &m.To, &m.Body, &m.PayloadEnc,
		&m.Coding, &m.Units, &m.State, &m.ErrorCode, &m.Carrier, &m.CallbackURL, &m.CallbackMethod, &m.RequesterIP,
		&created, &sent, &updated, &expires, &next, &m.Attempts, &enc)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, trunkline.ErrNotFound
		}
		return nil, err
	}
	// Rows from before migration 14 hold a plain body_text and no body_enc.
	if len(enc) > 0 {
		if db.bodies == nil {
			m.BodyUnreadable = true
		} else if body, err := db.bodies.OpenBody(ctx, m.AccountID, m.UUID, enc); err != nil {
			// The account's key is gone (crypto-shredded) or the row was tampered with:
			// the message stays listed, its text does not come back.
			m.BodyUnreadable = true
		} else {
			m.Body = body
		}
	}
	m.CreatedAt, m.UpdatedAt, m.ExpiresAt, m.NextAttemptAt = fromMicros(created), fromMicros(updated), fromMicros(expires), fromMicros(next)
	m.SentAt = nullMicros(sent)
	return &m, nil
}

// insertCallbacks queues callbacks (nil ones and ones without a URL are skipped) with
// one multi-row INSERT. In a write of the group-commit writer while a deliverer takes
// callbacks in memory (HandCallbacks), they are stored already leased to it, given
// their ids, and handed to it once the batch has committed (batchTx).
func insertCallbacks(ctx context.Context, tx *Tx, cbs []*trunkline.Callback, now time.Time) error {
	var args []any
	var hand []*trunkline.Callback
	var lease int64
	attempts, owner := 0, ""
	if !slices.ContainsFunc(cbs, func(c *trunkline.Callback) bool { return c != nil && c.URL != "" }) {
		return nil // nothing to store (and, on PostgreSQL, no clock to ask)
	}
	if tx.hand != nil {
		// Leased to this node's owner like a claim (ClaimCallbacks), so that a survivor
		// frees them at once if this node dies (TakeOverNode), and this node, given up
		// for dead meanwhile, no longer acts on them (the fence).
		// The lease by the database's clock, as claims are (leaseNow).
		ln, err := tx.db.leaseNow(ctx, tx)
		if err != nil {
			return err
		}
		lease, attempts, owner = micros(ln.Add(tx.hand.lease)), 1, tx.hand.owner()
	}
	for _, c := range cbs {
		if c == nil || c.URL == "" {
			continue
		}
		args = append(args, c.AccountID, c.Kind, c.ObjectID, c.URL, c.Method, c.ParamsEnc, micros(now), micros(now), lease, attempts, owner)
		hand = append(hand, c)
	}
	const insert = `INSERT INTO callbacks (account_id, kind, object_id, url, method, params_enc, created_at, next_attempt_at,
		lease_until, attempts, lease_owner) VALUES `
	if tx.hand == nil {
		return insertRows(ctx, tx, insert, 11, args)
	}
	// The ids come back in no promised order: each is matched to its callback by its
	// object and its sealed parameters (sealed with a random nonce, so two callbacks
	// alike in these are alike in all, and interchangeable).
	key := func(object string, params []byte) string {
		return object + "\x00" + string(params)
	}
	byKey := make(map[string][]*trunkline.Callback, len(hand))
	for _, c := range hand {
		k := key(c.ObjectID, c.ParamsEnc)
		byKey[k] = append(byKey[k], c)
	}
	var params sql.RawBytes
	err := insertRowsScan(ctx, tx, insert, 11, args, ` RETURNING id, object_id, params_enc`, func(rows *sql.Rows) error {
		var id int64
		var object string
		if err := rows.Scan(&id, &object, &params); err != nil {
			return err
		}
		k := key(object, params)
		if cs := byKey[k]; len(cs) > 0 {
			cs[0].ID, cs[0].Attempts, cs[0].NextAttemptAt, cs[0].LeaseOwner = id, attempts, fromMicros(micros(now)), owner
			byKey[k] = cs[1:]
		}
		return nil
	})
	if err != nil {
		return err
	}
	tx.handed = append(tx.handed, hand...)
	return nil
}

// handoff is a deliverer that takes new callbacks in memory (HandCallbacks).
type handoff struct {
	owner func() string // the lease owner (name/incarnation in a cluster) now
	lease time.Duration
	take  func([]*trunkline.Callback)
}

// HandCallbacks makes the store hand every callback it queues from now on to take,
// right after the commit that stored it, leased for lease to owner() as a claim would
// be: the deliverer needs no claim query for them, and if it dies with them a survivor
// frees them (TakeOverNode) or the lease runs out and any node claims them
// (ClaimCallbacks). take runs on the writer's goroutine: it must not block or write.
// take nil stops the hand-off (new callbacks are stored unleased, for the claim query).
func (db *DB) HandCallbacks(owner func() string, lease time.Duration, take func([]*trunkline.Callback)) {
	if take == nil {
		db.hand.Store(nil)
		return
	}
	if owner == nil {
		owner = func() string { return "" }
	}
	db.hand.Store(&handoff{owner: owner, lease: lease, take: take})
}

// insertMessageRows inserts messages with one multi-row INSERT (the one place that
// writes a new message row).
// A message whose body was sealed (encs[i] not nil) keeps it only in body_enc.
func insertMessageRows(ctx context.Context, tx *Tx, ms []*trunkline.Message, encs [][]byte) error {
	args := make([]any, 0, len(ms)*25)
	// A message stored leased (handed straight to its node's workers) has its lease
	// moved onto the database's clock, which every node judges leases by.
	var shift time.Duration
	for _, m := range ms {
		if !m.LeaseUntil.IsZero() {
			now, err := tx.db.leaseNow(ctx, tx)
			if err != nil {
				return err
			}
			shift = now.Sub(tx.db.now())
			break
		}
	}
	for i, m := range ms {
		body := m.Body
		if encs[i] != nil {
			body = ""
		}
		args = append(args, m.UUID, m.AccountID, m.Direction, m.Type, m.LogMode, m.From, m.To, body, m.PayloadEnc, m.Coding, m.Units,
			m.State, m.ErrorCode, m.Carrier, m.CallbackURL, m.CallbackMethod, m.RequesterIP, micros(m.CreatedAt), micros(m.UpdatedAt),
			micros(m.ExpiresAt), micros(m.NextAttemptAt), m.LeaseOwner, leaseMicros(m.LeaseUntil, shift), m.Attempts, encs[i])
	}
	return insertRows(ctx, tx, `INSERT INTO messages (uuid, account_id, direction, message_type, log_mode, from_number, to_number,
		body_text, payload_enc, coding, units, state, error_code, carrier, callback_url, callback_method, requester_ip,
		created_at, updated_at, expires_at, next_attempt_at, lease_owner, lease_until, attempts, body_enc) VALUES `, 25, args)
}

// accepted is one InsertMessages call's rows.
type accepted struct {
	ms    []*trunkline.Message
	encs  [][]byte // sealed bodies, by index of ms (nil: stored as given)
	cbs   []*trunkline.Callback
	audit *auditReq // nil: none
	now   time.Time
}

// insertAccepted is InsertMessages' set-based write: every call's messages of a batch
// in one multi-row INSERT, and their callbacks in another.
var insertAccepted = &setWrite{apply: func(ctx context.Context, tx *Tx, args []any) error {
	var ms []*trunkline.Message
	var encs [][]byte
	var cbs []*trunkline.Callback
	var audits []*auditReq
	var now time.Time
	for _, a := range args {
		a := a.(*accepted)
		ms, encs, cbs, now = append(ms, a.ms...), append(encs, a.encs...), append(cbs, a.cbs...), a.now
		if a.audit != nil {
			audits = append(audits, a.audit)
		}
	}
	if err := insertMessageRows(ctx, tx, ms, encs); err != nil {
		return err
	}
	if err := insertCallbacks(ctx, tx, cbs, now); err != nil {
		return err
	}
	if len(audits) == 0 {
		return nil
	}
	return appendAudit(ctx, tx, audits)
}}

// InsertMessages stores accepted messages (and any callbacks already due, e.g. for
// messages that failed at once) in one transaction: when it returns nil they are durable.
// Concurrent calls share one multi-row INSERT (insertAccepted).
func (db *DB) InsertMessages(ctx context.Context, ms []*trunkline.Message, cbs []*trunkline.Callback) error {
	return db.InsertMessagesAudited(ctx, ms, cbs, nil)
}

// InsertMessagesAudited is InsertMessages that also appends the audit entries audit
// builds (when not nil) in the same transaction: the messages and the record of their
// acceptance are stored together or not at all, and the caller waits for one commit,
// not two.
func (db *DB) InsertMessagesAudited(ctx context.Context, ms []*trunkline.Message, cbs []*trunkline.Callback, audit trunkline.AuditBuild) error {
	now := db.now()
	// Bodies are sealed before the write transaction: the first message of an account
	// may create its data key, a write of its own.
	encs := make([][]byte, len(ms))
	for i, m := range ms {
		if db.bodies != nil && m.Body != "" {
			enc, err := db.bodies.SealBody(ctx, m.AccountID, m.UUID, m.Body)
			if err != nil {
				return fmt.Errorf("seal message body: %w", err)
			}
			encs[i] = enc
		}
	}
	for _, m := range ms {
		m.CreatedAt = now.UTC().Truncate(time.Microsecond)
		m.UpdatedAt = m.CreatedAt
		if m.NextAttemptAt.IsZero() {
			m.NextAttemptAt = m.CreatedAt
		}
	}
	a := &accepted{ms: ms, encs: encs, cbs: cbs, now: now}
	if audit != nil {
		a.audit = &auditReq{build: audit}
	}
	return db.writeSet(ctx, insertAccepted, a, func(ctx context.Context, tx *Tx) error {
		return insertAccepted.apply(ctx, tx, []any{a})
	})
}

func leaseMicros(t time.Time, shift time.Duration) int64 {
	if t.IsZero() {
		return 0
	}
	return micros(t.Add(shift))
}

// leaseNow is the time message and callback leases are given and judged by: the
// database's clock on PostgreSQL (clusterNow), so that a node whose clock is off by
// more than a lease neither takes a lease still held nor holds one past its end.
//
// On PostgreSQL the clock is a round trip, and a batch's writes would each ask it: it
// is read once per transaction, and later asks add the time passed since by this
// process's monotonic clock (a transaction lasts milliseconds; leases, seconds).
func (db *DB) leaseNow(ctx context.Context, tx *Tx) (time.Time, error) {
	if db.dialect != Postgres {
		return db.now(), nil
	}
	if !tx.leaseRead.IsZero() {
		return tx.leaseClock.Add(time.Since(tx.leaseRead)), nil
	}
	now, err := db.clusterNow(ctx, tx.QueryRow)
	if err != nil {
		return time.Time{}, err
	}
	tx.leaseClock, tx.leaseRead = now, time.Now()
	return now, nil
}

// held is the condition that owner (a parameter; "" for anyone) still holds a row's
// lease: nobody claimed it since, and it was not freed for others to claim (a
// takeover of a node given up for dead frees its leases). A lease that merely ran out
// and was claimed by nobody is still held: no other node acted on the work.
func held(table, owner string) string {
	return `(` + owner + ` = '' OR (` + table + `.lease_owner = ` + owner + ` AND ` + table + `.lease_until > 0))`
}

// claimable is the condition under which owner (its name and incarnation as two
// parameters) may claim work: its node's row, if there is one, is of that
// incarnation and not given up for dead. A node that was (frozen, cut off) claims
// nothing until it has rejoined as a new incarnation.
const claimable = ` AND NOT EXISTS (SELECT 1 FROM cluster_nodes WHERE name = ? AND (incarnation <> ? OR state = 'dead'))`

// claimFence returns claimable and its arguments for owner; nothing for an owner
// without an incarnation (one node, no cluster).
func claimFence(owner string) (string, []any) {
	name, inc := trunkline.SplitNodeOwner(owner)
	if inc == "" {
		return "", nil
	}
	return claimable, []any{name, inc}
}

// ReleaseLease frees a message's lease if owner ("" anyone) holds it: a hand-off to
// workers that did not happen, or a claim a node let go of (fenced).
func (db *DB) ReleaseLease(ctx context.Context, uuid, owner string) error {
	return db.write(ctx, func(ctx context.Context, tx *Tx) error {
		_, err := tx.Exec(ctx, `UPDATE messages SET lease_until = 0 WHERE uuid = ? AND state = 'queued' AND `+held("messages", "?"),
			uuid, owner, owner)
		return err
	})
}

// Message returns one message visible in scope.
func (db *DB) Message(ctx context.Context, s trunkline.Scope, uuid string) (*trunkline.Message, error) {
	w, args := scopeWhere(s, "account_id")
	return db.scanMessage(ctx, db.queryRow(ctx, `SELECT `+messageCols+` FROM messages WHERE uuid = ? AND `+w, append([]any{uuid}, args...)...))
}

// MessageByUUID returns a message whoever owns it (workers).
func (db *DB) MessageByUUID(ctx context.Context, uuid string) (*trunkline.Message, error) {
	return db.scanMessage(ctx, db.queryRow(ctx, `SELECT `+messageCols+` FROM messages WHERE uuid = ?`, uuid))
}

// ListMessages lists messages in scope, newest first, with the total count.
func (db *DB) ListMessages(ctx context.Context, s trunkline.Scope, f trunkline.MessageFilter) ([]*trunkline.Message, int, error) {
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
	var out []*trunkline.Message
	for rows.Next() {
		m, err := db.scanMessage(ctx, rows)
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
func (db *DB) ClaimMessages(ctx context.Context, owner string, lease time.Duration, limit int) ([]*trunkline.Message, error) {
	fence, fenceArgs := claimFence(owner)
	lock := ""
	if db.dialect == Postgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	var out []*trunkline.Message
	// Through the writer, like every write: on SQLite a second writer would only sleep
	// in the busy handler.
	err := db.write(ctx, func(ctx context.Context, tx *Tx) error {
		out = nil
		// Due by this node's clock (which scheduled it); leases by the shared one.
		now := tx.db.now()
		leaseNow, err := tx.db.leaseNow(ctx, tx)
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `UPDATE messages SET lease_until = ?, lease_owner = ?, attempts = attempts + 1
		WHERE uuid IN (SELECT uuid FROM messages WHERE state = 'queued' AND next_attempt_at <= ? AND lease_until <= ?
			ORDER BY next_attempt_at LIMIT ?`+lock+`) AND lease_until <= ?`+fence+`
		RETURNING `+messageCols, append([]any{micros(leaseNow.Add(lease)), owner, micros(now), micros(leaseNow), limit, micros(leaseNow)}, fenceArgs...)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			m, err := tx.db.scanMessage(ctx, rows)
			if err != nil {
				return err
			}
			m.LeaseOwner = owner
			out = append(out, m)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ReleaseLeases frees the leases node (a name) held on messages and callbacks under
// any incarnation but keep's: called when a node starts, since whatever its previous
// run claimed died with it (a crash); a survivor taking a dead node over does the same
// in its takeover (TakeOverNode). Waiting for the leases to run out would only delay
// that work. It returns the number of messages freed.
func (db *DB) ReleaseLeases(ctx context.Context, node, keep string) (int64, error) {
	var n int64
	err := db.write(ctx, func(ctx context.Context, tx *Tx) (err error) {
		n, err = releaseLeases(ctx, tx, node, keep)
		return err
	})
	return n, err
}

// ownedBy is the condition that a row's lease_owner is node's, under any incarnation
// or none (a node of a release before fencing), and not keep; ownedByArgs gives its
// parameters.
const ownedBy = `(lease_owner = ? OR substr(lease_owner, 1, ?) = ?) AND lease_owner <> ?`

func ownedByArgs(node, keep string) []any {
	prefix := node + "/"
	return []any{node, utf8.RuneCountInString(prefix), prefix, keep}
}

func releaseLeases(ctx context.Context, tx *Tx, node, keep string) (int64, error) {
	args := ownedByArgs(node, keep)
	res, err := tx.Exec(ctx, `UPDATE messages SET lease_until = 0 WHERE state = 'queued' AND lease_until > 0 AND `+ownedBy, args...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	_, err = tx.Exec(ctx, `UPDATE callbacks SET lease_until = 0 WHERE lease_until > 0 AND `+ownedBy, args...)
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

// sendRec is one RecordSend call: its outcome and, once applied, the message.
type sendRec struct {
	uuid string
	o    trunkline.SendOutcome
	now  time.Time
	m    *trunkline.Message
	lost bool // refused: o.Lease no longer holds the message
	// rcpt is the receipt of the batch for the message's one segment, written with the
	// submit result (meetReceipts); nil when there is none.
	rcpt *receiptRec
}

// okAtOnce: sent by the first carrier tried, whose latency the message row keeps.
func (r *sendRec) okAtOnce() bool {
	as := r.o.Attempts
	return r.o.State == trunkline.MsgSent && len(as) == 1 && as[0].Status == "ok" && as[0].Carrier == r.o.Carrier
}

// recordSends is RecordSend's set-based write: the attempts, message updates, parts and
// callbacks of a batch's submit results each in one statement, and one look-up of the
// receipts that overtook them.
var recordSends = &setWrite{apply: func(ctx context.Context, tx *Tx, args []any) error {
	var recs []*sendRec
	var rcpts []*receiptRec
	for _, a := range args {
		switch a := a.(type) {
		case *sendRec:
			recs = append(recs, a)
		case *receiptRec:
			rcpts = append(rcpts, a)
		}
	}
	return applySendsWith(ctx, tx, recs, rcpts)
}, keys: func(arg any) (string, []string) {
	r := arg.(*sendRec)
	var keys []string
	for _, p := range r.o.Parts {
		keys = append(keys, p.Keys...)
	}
	return r.o.Carrier, keys
}, joins: applyReceipts}

// RecordSend applies a worker's outcome to a message it leased. Receipts that arrived
// before this (early_receipts) are applied in the same transaction. It returns the
// message as it now stands, without its text (statusCols); trunkline.ErrLeaseLost,
// and nothing written, when o.Lease no longer holds the message (its node was given
// up for dead and the message went to another, whose outcome stands).
func (db *DB) RecordSend(ctx context.Context, uuid string, o trunkline.SendOutcome) (*trunkline.Message, error) {
	r := &sendRec{uuid: uuid, o: o, now: db.now()}
	err := db.writeSet(ctx, recordSends, r, func(ctx context.Context, tx *Tx) error {
		return applySendsWith(ctx, tx, []*sendRec{r}, nil)
	})
	if err == nil && r.lost {
		return nil, trunkline.ErrLeaseLost
	}
	return r.m, err
}

// errSameRow makes a set-based write fall back to one write at a time: two requests of
// the batch change the same row, and one statement would apply only one of them.
var errSameRow = errors.New("store: two writes of a batch change one row")

// rowsOf returns n rows of the form row, comma-separated, for a multi-row VALUES list.
func rowsOf(row string, n int) string {
	return strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
}

// bucketed marks a statement whose list of rows (or IN values) was padded by pad to a
// power of two: such statements have few distinct texts, so they stay prepared (the
// statement cache takes them however many parameters they have).
const bucketed = "/* bucketed */ "

// pad appends copies of filler (one row's values, matching nothing) to args, rows of
// len(filler) values, until their number is a power of two; it returns the rows.
func pad(args []any, filler ...any) ([]any, int) {
	n := len(args) / len(filler)
	b := 1
	for b < n {
		b *= 2
	}
	for ; n < b; n++ {
		args = append(args, filler...)
	}
	return args, b
}

// eraseSQL is the assignment that drops a final message's sealed content when erase
// (a 0/1 value) says so.
func eraseSQL(erase string) string {
	return `payload_enc = CASE WHEN ` + erase + ` = 1 THEN NULL ELSE payload_enc END`
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// meetReceipts pairs the one-segment messages sent in recs with the receipt of rcpts
// for their segment, when the batch holds exactly one final receipt for it: such a
// message goes from queued to final in one write. The SMSC of a carrier that answers at
// once sends its receipt right behind its submit_sm_resp, so this is most messages at
// load. It returns the receipts left to apply as usual, after the submit results.
func meetReceipts(recs []*sendRec, rcpts []*receiptRec) (rest []*receiptRec) {
	bySeg := map[string]*sendRec{} // carrier|key of a one-segment message sent
	for _, r := range recs {
		r.rcpt = nil
		if r.o.State == trunkline.MsgSent && len(r.o.Parts) == 1 {
			for _, k := range r.o.Parts[0].Keys {
				bySeg[r.o.Carrier+"|"+k] = r
			}
		}
	}
	if len(bySeg) == 0 {
		return rcpts
	}
	meets := map[*sendRec]int{}
	match := make([]*sendRec, len(rcpts))
	for i, rc := range rcpts {
		rc.out, rc.found = trunkline.ReceiptOutcome{}, false
		for j, k := range rc.keys {
			if r := bySeg[rc.carrier+"|"+k]; r != nil {
				match[i], rc.out.Exact = r, j == 0
				meets[r]++
				break
			}
		}
	}
	for i, rc := range rcpts {
		// Two receipts for one segment, or one that is not final: as before, in order.
		if r := match[i]; r != nil && meets[r] == 1 && rc.state != trunkline.MsgSent {
			r.rcpt = rc
			continue
		}
		rest = append(rest, rc)
	}
	return rest
}

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if a.Before(b) {
		return b
	}
	return a
}

// finalState is what a one-segment message becomes with its receipt rc (as finalize
// makes it): delivered, or undelivered with the receipt's error code.
func finalState(rc *receiptRec) (state, code string) {
	if rc.state == trunkline.MsgDelivered {
		return trunkline.MsgDelivered, "000"
	}
	return trunkline.MsgUndelivered, rc.code
}

// applySendsWith applies the submit results recs and the receipts rcpts of one batch:
// a receipt that meets its one-segment message's submit result (meetReceipts) is
// written with it; the others are applied after the submit results.
func applySendsWith(ctx context.Context, tx *Tx, recs []*sendRec, rcpts []*receiptRec) error {
	rest := meetReceipts(recs, rcpts)
	byUUID := make(map[string]*sendRec, len(recs))
	allKeys := map[string][]string{}
	var upd []any
	for _, r := range recs {
		if byUUID[r.uuid] != nil {
			return errSameRow
		}
		byUUID[r.uuid], r.m, r.lost = r, nil, false
		var okLatency any // NULL: the attempts have rows of their own
		if r.okAtOnce() {
			okLatency = r.o.Attempts[0].Latency.Microseconds() // the common case: no attempt row (MessageAttempts)
		}
		for _, p := range r.o.Parts {
			allKeys[r.o.Carrier] = append(allKeys[r.o.Carrier], p.Keys...)
		}
		var sent any
		if r.o.State == trunkline.MsgSent {
			sent = micros(r.now)
		}
		state, code, updated, erase := r.o.State, r.o.ErrorCode, r.now, r.o.Erase
		if rc := r.rcpt; rc != nil {
			state, code = finalState(rc)
			// Final no earlier than sent, whichever call read the clock first (a
			// receipt may overtake its submit result).
			updated, erase = later(rc.now, r.now), erase || rc.erase
		}
		upd = append(upd, r.uuid, state, code, r.o.Carrier, sent, micros(updated), micros(r.o.RetryAt), boolInt(erase), okLatency, r.o.Lease)
	}
	if err := lockKeys(ctx, tx, allKeys); err != nil {
		return err
	}
	// One UPDATE for all, its RETURNING instead of a re-read. VALUES columns are
	// column1... in both dialects; the casts type the parameters for PostgreSQL. An
	// outcome whose lease went to another owner (column10) changes nothing.
	upd, n := pad(upd, "", "", "", "", nil, 0, 0, 0, nil, "")
	rows, err := tx.Query(ctx, bucketed+`UPDATE messages SET state = v.column2, error_code = v.column3, carrier = v.column4,
		sent_at = COALESCE(sent_at, v.column5), updated_at = v.column6, next_attempt_at = v.column7, lease_until = 0, `+eraseSQL("v.column8")+`,
		ok_latency_us = COALESCE(v.column9, ok_latency_us)
		FROM (VALUES `+rowsOf(`(?, ?, ?, ?, CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS INTEGER), CAST(? AS BIGINT), CAST(? AS TEXT))`, n)+`) AS v
		WHERE messages.uuid = v.column1 AND messages.state = 'queued' AND `+held("messages", "v.column10")+`
		RETURNING `+statusCols, upd...)
	if err != nil {
		return err
	}
	for rows.Next() {
		m, err := tx.db.scanMessage(ctx, rows)
		if err != nil {
			rows.Close()
			return err
		}
		byUUID[m.UUID].m = m
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	// What was recorded gets its attempts, parts, callback and early receipts; an
	// outcome refused for a lost lease gets none of them: the new owner's stand.
	var kept []*sendRec
	byCarrier := map[string][]string{}
	var attempts, parts []any
	for _, r := range recs {
		if r.m == nil && r.rcpt != nil {
			// Nothing written: the receipt goes its usual way (its part, if any, is
			// another submit's).
			rest, r.rcpt = append(rest, r.rcpt), nil
		}
		if r.m == nil && r.o.Lease != "" {
			r.lost = true
			continue
		}
		if r.m == nil { // no longer queued (recorded already): as it stands
			if r.m, err = tx.db.scanMessage(ctx, tx.QueryRow(ctx, `SELECT `+statusCols+` FROM messages WHERE uuid = ?`, r.uuid)); err != nil {
				return err
			}
		}
		kept = append(kept, r)
		if !r.okAtOnce() {
			for _, a := range r.o.Attempts {
				attempts = append(attempts, r.uuid, a.Carrier, a.Status, a.Latency.Microseconds(), micros(a.At))
			}
		}
		pstate, pcode := trunkline.MsgSent, ""
		if rc := r.rcpt; rc != nil {
			pstate, pcode = rc.state, rc.code
		}
		for _, p := range r.o.Parts {
			for _, k := range p.Keys {
				parts = append(parts, r.uuid, p.Seq, r.o.Carrier, k, pstate, pcode)
				byCarrier[r.o.Carrier] = append(byCarrier[r.o.Carrier], k)
			}
		}
	}
	if len(kept) > 0 {
		if err := insertRows(ctx, tx, `INSERT INTO message_attempts (message_uuid, carrier, status, latency_us, at) VALUES `, 5, attempts); err != nil {
			return err
		}
		if err := insertRows(ctx, tx, `INSERT INTO message_parts (message_uuid, seq, carrier, smsc_key, state, error_code) VALUES `, 6, parts,
			` ON CONFLICT DO NOTHING`); err != nil {
			return err
		}
		var cbs []*trunkline.Callback
		for _, r := range kept {
			rc := r.rcpt
			if r.o.Callback != nil {
				m := r.m
				if rc != nil {
					// The message as it stood once sent, for the "sent" callback that
					// comes before the final one.
					sent := *m
					sent.State, sent.ErrorCode, sent.UpdatedAt = r.o.State, r.o.ErrorCode, fromMicros(micros(r.now))
					m = &sent
				}
				cbs = append(cbs, r.o.Callback(m))
			}
			if rc != nil {
				rc.found, rc.uuid, rc.seq = true, r.uuid, r.o.Parts[0].Seq
				rc.out.Message, rc.out.Final = r.m, true
				if rc.callback != nil {
					cbs = append(cbs, rc.callback(r.m))
				}
			}
		}
		if err := insertCallbacks(ctx, tx, cbs, kept[0].now); err != nil {
			return err
		}
		if err := applyEarlyReceipts(ctx, tx, kept, byCarrier); err != nil {
			return err
		}
	}
	if len(rest) == 0 {
		return nil
	}
	return applyReceiptRecs(ctx, tx, rest)
}

// applyEarlyReceipts applies the receipts that overtook the submit results of recs:
// one look-up per carrier for all their keys; the rare hits are moved onto the parts.
func applyEarlyReceipts(ctx context.Context, tx *Tx, recs []*sendRec, byCarrier map[string][]string) error {
	type hit struct{ carrier, key, state, code string }
	var hits []hit
	for carrier, keys := range byCarrier {
		args, n := pad(append([]any{carrier}, anys(keys)...), "") // "": no key is empty
		rows, err := tx.Query(ctx, bucketed+`SELECT smsc_key, state, error_code FROM early_receipts WHERE carrier = ? AND smsc_key IN (?`+
			strings.Repeat(", ?", n-2)+`)`, args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			h := hit{carrier: carrier}
			if err := rows.Scan(&h.key, &h.state, &h.code); err != nil {
				rows.Close()
				return err
			}
			hits = append(hits, h)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	if len(hits) == 0 {
		return nil
	}
	type part struct {
		carrier, key string
	}
	owner := map[part]*sendRec{}
	seqOf := map[part]int{}
	for _, r := range recs {
		for _, p := range r.o.Parts {
			for _, k := range p.Keys {
				owner[part{r.o.Carrier, k}], seqOf[part{r.o.Carrier, k}] = r, p.Seq
			}
		}
	}
	// The hits are deleted in one statement per carrier: when the SMSC answers at once,
	// most receipts overtake the submit result they follow, so this is no rare path.
	hitKeys := map[string][]string{}
	for _, h := range hits {
		hitKeys[h.carrier] = append(hitKeys[h.carrier], h.key)
	}
	for carrier, keys := range hitKeys {
		args, n := pad(append([]any{carrier}, anys(keys)...), "")
		if _, err := tx.Exec(ctx, bucketed+`DELETE FROM early_receipts WHERE carrier = ? AND smsc_key IN (?`+
			strings.Repeat(", ?", n-2)+`)`, args...); err != nil {
			return err
		}
	}
	var ps []partState
	var fins []fin
	for _, h := range hits {
		r := owner[part{h.carrier, h.key}]
		if r.rcpt != nil {
			continue // the receipt of the batch came later, and stands
		}
		ps = append(ps, partState{uuid: r.uuid, seq: seqOf[part{h.carrier, h.key}], state: h.state, code: h.code})
		if r.m.State == trunkline.MsgSent {
			fins = append(fins, fin{uuid: r.uuid, code: h.code, erase: r.o.Erase})
		}
	}
	if err := updateParts(ctx, tx, ps); err != nil {
		return err
	}
	final, err := finalize(ctx, tx, fins, recs[0].now)
	if err != nil {
		return err
	}
	var cbs []*trunkline.Callback
	for _, r := range recs {
		if m := final[r.uuid]; m != nil {
			r.m = m
			if r.o.Callback != nil {
				cbs = append(cbs, r.o.Callback(m))
			}
		}
	}
	return insertCallbacks(ctx, tx, cbs, recs[0].now)
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// lockKeys serialises, on PostgreSQL, the transactions that record a submit and apply a
// receipt for the same SMSC id, so a receipt racing its own submit_sm_resp is either seen
// by the submit's transaction or finds the submit's parts — never neither. SQLite already
// runs one writer at a time. Keys are locked in sorted order (one statement), so no two
// transactions can wait on each other in a cycle; the group-commit writer locks those of
// its whole batch first (lockBatchKeys), and keys already held are skipped here.
func lockKeys(ctx context.Context, tx *Tx, byCarrier map[string][]string) error {
	if tx.db.dialect != Postgres || len(byCarrier) == 0 {
		return nil
	}
	var sorted []string
	for carrier, keys := range byCarrier {
		for _, k := range keys {
			if k := carrier + "|" + k; !tx.locked[k] {
				sorted = append(sorted, k)
			}
		}
	}
	if len(sorted) == 0 {
		return nil
	}
	sort.Strings(sorted)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext(k)) FROM unnest(CAST(? AS text[])) AS k`, sorted); err != nil {
		return err
	}
	if tx.locked == nil {
		tx.locked = make(map[string]bool, len(sorted))
	}
	for _, k := range sorted {
		tx.locked[k] = true
	}
	return nil
}

// receiptRec is one ApplyReceipt call and, once applied, its outcome.
type receiptRec struct {
	carrier     string
	keys        []string
	state, code string
	erase       bool
	callback    func(*trunkline.Message) *trunkline.Callback
	now         time.Time
	out         trunkline.ReceiptOutcome
	uuid        string
	seq         int
	found       bool
}

// applyReceipts is ApplyReceipt's set-based write: one look-up per carrier, one upsert
// of the early receipts, one update of the parts, one finalizing update of the
// messages and one insert of their callbacks for a whole batch of receipts.
var applyReceipts = &setWrite{apply: typed(applyReceiptRecs), keys: func(arg any) (string, []string) {
	r := arg.(*receiptRec)
	return r.carrier, r.keys
}}

// ApplyReceipt records a delivery receipt for the segment a carrier knows by one of keys.
// When every segment of the message has a final receipt the message becomes delivered
// (all delivered) or undelivered, and callback(m) is queued in the same transaction. A
// receipt that matches nothing yet is kept until its submit is recorded. The outcome's
// message is read without its text (statusCols).
func (db *DB) ApplyReceipt(ctx context.Context, carrier string, keys []string, state, errorCode string, erase bool,
	callback func(m *trunkline.Message) *trunkline.Callback) (trunkline.ReceiptOutcome, error) {
	r := &receiptRec{carrier: carrier, keys: keys, state: state, code: errorCode, erase: erase, callback: callback, now: db.now()}
	err := db.writeSet(ctx, applyReceipts, r, func(ctx context.Context, tx *Tx) error {
		return applyReceiptRecs(ctx, tx, []*receiptRec{r})
	})
	return r.out, err
}

func applyReceiptRecs(ctx context.Context, tx *Tx, recs []*receiptRec) error {
	byCarrier := map[string][]string{}
	for _, r := range recs {
		r.out, r.found = trunkline.ReceiptOutcome{}, false
		byCarrier[r.carrier] = append(byCarrier[r.carrier], r.keys...)
	}
	if err := lockKeys(ctx, tx, byCarrier); err != nil {
		return err
	}
	type loc struct {
		uuid string
		seq  int
	}
	found := map[string]loc{} // carrier|key
	for carrier, keys := range byCarrier {
		if len(keys) == 0 {
			continue
		}
		args, n := pad(append([]any{carrier}, anys(keys)...), "") // "": no key is empty
		rows, err := tx.Query(ctx, bucketed+`SELECT smsc_key, message_uuid, seq FROM message_parts WHERE carrier = ? AND smsc_key IN (?`+
			strings.Repeat(", ?", n-2)+`)`, args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var k string
			var l loc
			if err := rows.Scan(&k, &l.uuid, &l.seq); err != nil {
				rows.Close()
				return err
			}
			found[carrier+"|"+k] = l
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	var early []any
	earlySeen := map[string]int{} // carrier|key -> index in early; a later receipt wins
	var ps []partState
	var fins []fin
	for _, r := range recs {
		for i, k := range r.keys {
			if l, ok := found[r.carrier+"|"+k]; ok {
				r.found, r.uuid, r.seq, r.out.Exact = true, l.uuid, l.seq, i == 0
				break
			}
		}
		if !r.found {
			for _, k := range r.keys {
				if j, ok := earlySeen[r.carrier+"|"+k]; ok {
					early[j+2], early[j+3] = r.state, r.code
					continue
				}
				earlySeen[r.carrier+"|"+k] = len(early)
				early = append(early, r.carrier, k, r.state, r.code, micros(r.now))
			}
			continue
		}
		ps = append(ps, partState{uuid: r.uuid, seq: r.seq, state: r.state, code: r.code})
		fins = append(fins, fin{uuid: r.uuid, code: r.code, erase: r.erase})
	}
	if err := insertRows(ctx, tx, `INSERT INTO early_receipts (carrier, smsc_key, state, error_code, received_at) VALUES `, 5, early,
		` ON CONFLICT (carrier, smsc_key) DO UPDATE SET state = excluded.state, error_code = excluded.error_code`); err != nil {
		return err
	}
	if err := updateParts(ctx, tx, ps); err != nil {
		return err
	}
	final, err := finalize(ctx, tx, fins, recs[0].now)
	if err != nil {
		return err
	}
	var cbs []*trunkline.Callback
	for _, r := range recs {
		if !r.found {
			continue
		}
		if m := final[r.uuid]; m != nil {
			// The first receipt of the batch for the message makes it final.
			delete(final, r.uuid)
			r.out.Message, r.out.Final = m, true
			if r.callback != nil {
				cbs = append(cbs, r.callback(m))
			}
			continue
		}
		// Not final yet (a segment is pending), already final (a duplicate receipt), or
		// failed: the message as it stands.
		if r.out.Message, err = tx.db.scanMessage(ctx, tx.QueryRow(ctx, `SELECT `+statusCols+` FROM messages WHERE uuid = ?`, r.uuid)); err != nil {
			return err
		}
	}
	return insertCallbacks(ctx, tx, cbs, recs[0].now)
}

// partState is a receipt's state for one segment of a message.
type partState struct {
	uuid        string
	seq         int
	state, code string
}

// updateParts sets segments' receipt states, all in one UPDATE (every key row of a
// segment gets the state). A later state for the same segment wins.
func updateParts(ctx context.Context, tx *Tx, ps []partState) error {
	if len(ps) == 0 {
		return nil
	}
	type seg struct {
		uuid string
		seq  int
	}
	last := map[seg]int{}
	for i, p := range ps {
		last[seg{p.uuid, p.seq}] = i
	}
	var args []any
	for i, p := range ps {
		if last[seg{p.uuid, p.seq}] == i {
			args = append(args, p.uuid, p.seq, p.state, p.code)
		}
	}
	args, n := pad(args, "", 0, "", "")
	q := bucketed + `UPDATE message_parts SET state = v.column3, error_code = v.column4
		FROM (VALUES ` + rowsOf(`(?, CAST(? AS INTEGER), ?, ?)`, n) + `) AS v
		WHERE message_parts.message_uuid = v.column1 AND message_parts.seq = v.column2`
	if tx.db.dialect == Postgres {
		// As for finished callbacks: the ids as an array make the primary key the way
		// in, with or without statistics.
		q, args = q+` AND message_parts.message_uuid = ANY(CAST(? AS TEXT[]))`, append(args, uuidsOf(ps))
	}
	_, err := tx.Exec(ctx, q, args...)
	return err
}

// uuidsOf returns the messages of ps.
func uuidsOf(ps []partState) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.uuid
	}
	return out
}

// fin asks finalize to look at a message: code is the error code it gets if it ends
// undelivered, erase whether its sealed content goes.
type fin struct {
	uuid, code string
	erase      bool
}

// finalize makes sent messages delivered (every segment delivered) or undelivered once
// every segment has a final receipt, in one UPDATE whose RETURNING gives the messages
// it made final, by uuid. An undelivered message gets the error code of a segment that
// was not delivered (whichever receipt of a batch completed it), else fin's code.
func finalize(ctx context.Context, tx *Tx, fins []fin, now time.Time) (map[string]*trunkline.Message, error) {
	if len(fins) == 0 {
		return nil, nil
	}
	last := map[string]int{}
	for i, f := range fins {
		last[f.uuid] = i
	}
	var args []any
	for i, f := range fins {
		if last[f.uuid] == i {
			args = append(args, f.uuid, f.code, boolInt(f.erase))
		}
	}
	const notDelivered = `EXISTS (SELECT 1 FROM message_parts p WHERE p.message_uuid = messages.uuid AND p.state <> 'delivered')`
	args, n := pad(args, "", "", 0)
	rows, err := tx.Query(ctx, bucketed+`UPDATE messages SET
			state = CASE WHEN `+notDelivered+` THEN 'undelivered' ELSE 'delivered' END,
			error_code = CASE WHEN `+notDelivered+` THEN COALESCE((SELECT MIN(p.error_code) FROM message_parts p
				WHERE p.message_uuid = messages.uuid AND p.state <> 'delivered' AND p.error_code <> ''), v.column2) ELSE '000' END,
			updated_at = ?, `+eraseSQL("v.column3")+`
		FROM (VALUES `+rowsOf(`(?, ?, CAST(? AS INTEGER))`, n)+`) AS v
		WHERE messages.uuid = v.column1 AND messages.state = 'sent'
			AND NOT EXISTS (SELECT 1 FROM message_parts p WHERE p.message_uuid = messages.uuid AND p.state = 'sent')
			AND (SELECT COUNT(DISTINCT p.seq) FROM message_parts p WHERE p.message_uuid = messages.uuid) >= messages.units
		RETURNING `+statusCols, append([]any{micros(now)}, args...)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]*trunkline.Message{}
	for rows.Next() {
		m, err := tx.db.scanMessage(ctx, rows)
		if err != nil {
			return nil, err
		}
		out[m.UUID] = m
	}
	return out, rows.Err()
}

// PruneEarlyReceipts deletes the early receipts received before before: a receipt
// stored under all the spellings its id may have (pdu.MessageIDKeys) is taken back
// under the one its submit used, and the others, like receipts for messages never
// sent from here, would stay for ever.
func (db *DB) PruneEarlyReceipts(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := db.write(ctx, func(ctx context.Context, tx *Tx) error {
		res, err := tx.Exec(ctx, `DELETE FROM early_receipts WHERE received_at < ?`, micros(before))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

// MessageAttempts lists a message's carrier attempts, oldest first. A send that went
// through at its first try has no row of its own: it is read from the message (its
// carrier, ok_latency_us, and sent_at less the latency for when it started).
func (db *DB) MessageAttempts(ctx context.Context, uuid string) ([]trunkline.Attempt, error) {
	rows, err := db.query(ctx, `SELECT carrier, status, latency_us, at, id FROM message_attempts WHERE message_uuid = ?
		UNION ALL SELECT carrier, 'ok', ok_latency_us, sent_at - ok_latency_us, 9223372036854775807 FROM messages
		WHERE uuid = ? AND ok_latency_us IS NOT NULL AND sent_at IS NOT NULL
		ORDER BY 5`, uuid, uuid)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []trunkline.Attempt
	for rows.Next() {
		var a trunkline.Attempt
		var lat, at int64
		var id int64 // the order: the row-less attempt last
		if err := rows.Scan(&a.Carrier, &a.Status, &lat, &at, &id); err != nil {
			return nil, err
		}
		a.Latency, a.At = time.Duration(lat)*time.Microsecond, fromMicros(at)
		out = append(out, a)
	}
	return out, rows.Err()
}

// ClaimCallbacks leases up to limit due callbacks to owner (see ClaimMessages).
func (db *DB) ClaimCallbacks(ctx context.Context, owner string, lease time.Duration, limit int) ([]*trunkline.Callback, error) {
	fence, fenceArgs := claimFence(owner)
	lock := ""
	if db.dialect == Postgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	var out []*trunkline.Callback
	err := db.write(ctx, func(ctx context.Context, tx *Tx) error {
		out = nil
		now := tx.db.now()
		leaseNow, err := tx.db.leaseNow(ctx, tx)
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `UPDATE callbacks SET lease_until = ?, lease_owner = ?, attempts = attempts + 1
		WHERE id IN (SELECT id FROM callbacks WHERE next_attempt_at <= ? AND lease_until <= ? ORDER BY next_attempt_at LIMIT ?`+lock+`)
		AND lease_until <= ?`+fence+`
		RETURNING id, account_id, kind, object_id, url, method, params_enc, attempts, next_attempt_at`,
			append([]any{micros(leaseNow.Add(lease)), owner, micros(now), micros(leaseNow), limit, micros(leaseNow)}, fenceArgs...)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var c trunkline.Callback
			var next int64
			if err := rows.Scan(&c.ID, &c.AccountID, &c.Kind, &c.ObjectID, &c.URL, &c.Method, &c.ParamsEnc, &c.Attempts, &next); err != nil {
				return err
			}
			c.NextAttemptAt, c.LeaseOwner = fromMicros(next), owner
			out = append(out, &c)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// finishCallbacks is FinishCallback's set-based write: one DELETE for a batch's
// callbacks, each only while its claimer holds it (args: callbackLease).
var finishCallbacks = &setWrite{apply: func(ctx context.Context, tx *Tx, args []any) error {
	var vals []any
	for _, a := range args {
		l := a.(callbackLease)
		vals = append(vals, l.id, l.owner)
	}
	ids := make([]int64, 0, len(args))
	for _, a := range args {
		ids = append(ids, a.(callbackLease).id)
	}
	vals, n := pad(vals, int64(0), "") // ids start at 1
	q := bucketed + `DELETE FROM callbacks WHERE EXISTS (SELECT 1 FROM (VALUES ` +
		rowsOf(`(CAST(? AS BIGINT), CAST(? AS TEXT))`, n) + `) AS v WHERE v.column1 = callbacks.id AND ` + held("callbacks", "v.column2") + `)`
	// The ids once more, as a list the planner looks up in the primary key: without it
	// both databases read every row of the table and test it against the VALUES list,
	// a cost that grows with the outbox (every callback pending, or on PostgreSQL every
	// row a callback ever had until vacuum) times the batch.
	if tx.db.dialect == Postgres {
		// As an array: PostgreSQL without statistics (a new database) hashed an IN
		// list and scanned the table: the costliest statement of a 60,000-message run
		// (TestPostgresHotQueriesUseIndexes).
		q, vals = q+` AND callbacks.id = ANY(CAST(? AS BIGINT[]))`, append(vals, ids)
	} else {
		// SQLite: with 20,000 callbacks waiting for a retry, a finish cost 54.6 µs
		// without it and 22.5 µs with it (BenchmarkFinishCallbacksBacklog;
		// TestHotQueriesUseIndexes checks the plan).
		q = q + ` AND callbacks.id IN (?` + strings.Repeat(", ?", n-1) + `)`
		for i := range n {
			var id int64 // 0 pads the list, as it pads the VALUES
			if i < len(ids) {
				id = ids[i]
			}
			vals = append(vals, id)
		}
	}
	_, err := tx.Exec(ctx, q, vals...)
	return err
}}

// callbackLease is a callback and the owner that claimed it.
type callbackLease struct {
	id    int64
	owner string
}

// FinishCallback removes a delivered (or abandoned) callback; RetryCallback reschedules
// it. Both leave alone a callback owner ("" anyone) no longer holds.
func (db *DB) FinishCallback(ctx context.Context, id int64, owner string) error {
	l := callbackLease{id, owner}
	return db.writeSet(ctx, finishCallbacks, l, func(ctx context.Context, tx *Tx) error {
		return finishCallbacks.apply(ctx, tx, []any{l})
	})
}

// RetryCallback makes a callback due again at t.
func (db *DB) RetryCallback(ctx context.Context, id int64, owner string, t time.Time) error {
	return db.write(ctx, func(ctx context.Context, tx *Tx) error {
		_, err := tx.Exec(ctx, `UPDATE callbacks SET next_attempt_at = ?, lease_until = 0 WHERE id = ? AND `+held("callbacks", "?"),
			micros(t), id, owner, owner)
		return err
	})
}

// ReleaseCallback frees the lease of a callback handed over (HandCallbacks) that its
// deliverer could not take, for the claim query; its handing over does not count as a
// delivery round. It does nothing when owner ("" any) no longer holds it.
func (db *DB) ReleaseCallback(ctx context.Context, id int64, owner string) error {
	return db.write(ctx, func(ctx context.Context, tx *Tx) error {
		_, err := tx.Exec(ctx, `UPDATE callbacks SET lease_until = 0, attempts = attempts - 1 WHERE id = ? AND attempts > 0 AND `+
			held("callbacks", "?"), id, owner, owner)
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
