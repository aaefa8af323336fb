package store

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"time"

	"github.com/trunkline/trunkline"
)

func (db *DB) holders(ctx context.Context, q string, arg string) ([]trunkline.Holder, error) {
	rows, err := db.query(ctx, q, arg)
	return collect(rows, err, func(row interface{ Scan(...any) error }) (trunkline.Holder, error) {
		var h trunkline.Holder
		err := row.Scan(&h.AccountID, &h.ParentID)
		return h, err
	})
}

// numberHoldersTTL bounds how long a cached number holder is used: changes this process
// makes drop the cache at once, but another node's (or a CLI command's) are only seen
// when the entry runs out.
const numberHoldersTTL = time.Second

// holderCache keeps who rents a number (every message's source is checked against it).
type holderCache struct {
	mu  sync.Mutex
	gen uint64 // moved by every invalidation: a look-up begun before it is not cached
	m   map[string]holderEntry
	ttl time.Duration // numberHoldersTTL; tests shorten it
}

type holderEntry struct {
	hs []trunkline.Holder
	at time.Time
}

// invalidateNumbers drops the cached number holders (after a write that may change who
// rents a number).
func (db *DB) invalidateNumbers() {
	db.numbers.mu.Lock()
	db.numbers.gen++
	db.numbers.m = nil
	db.numbers.mu.Unlock()
}

// NumberHolders returns the account renting number (none or one), from a short-lived
// cache.
func (db *DB) NumberHolders(ctx context.Context, number string) ([]trunkline.Holder, error) {
	c := &db.numbers
	c.mu.Lock()
	e, ok := c.m[number]
	gen, ttl := c.gen, c.ttl
	c.mu.Unlock()
	if ttl == 0 {
		ttl = numberHoldersTTL
	}
	if ok && time.Since(e.at) < ttl {
		return append([]trunkline.Holder(nil), e.hs...), nil
	}
	start := time.Now()
	hs, err := db.holders(ctx, `SELECT a.id, COALESCE(a.parent_id, '') FROM numbers n JOIN accounts a ON a.id = n.account_id
		WHERE n.number = ?`, number)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.gen == gen {
		if c.m == nil || len(c.m) >= 10000 {
			c.m = map[string]holderEntry{}
		}
		c.m[number] = holderEntry{hs: append([]trunkline.Holder(nil), hs...), at: start}
	}
	c.mu.Unlock()
	return hs, nil
}

// SenderIDHolders returns the accounts the operator allowed sender for.
func (db *DB) SenderIDHolders(ctx context.Context, sender string) ([]trunkline.Holder, error) {
	return db.holders(ctx, `SELECT a.id, COALESCE(a.parent_id, '') FROM sender_ids s JOIN accounts a ON a.id = s.account_id
		WHERE s.sender = ?`, sender)
}

// VerifiedCallerIDHolders returns the accounts that verified number as a caller ID.
func (db *DB) VerifiedCallerIDHolders(ctx context.Context, number string) ([]trunkline.Holder, error) {
	return db.holders(ctx, `SELECT a.id, COALESCE(a.parent_id, '') FROM verified_caller_ids v JOIN accounts a ON a.id = v.account_id
		WHERE v.phone_number = ?`, number)
}

// AllowSenderID allows sender for an account; allowing it again changes nothing.
func (db *DB) AllowSenderID(ctx context.Context, accountID, sender, by string) error {
	if _, err := db.Account(ctx, accountID); err != nil {
		return err
	}
	_, err := db.exec(ctx, `INSERT INTO sender_ids (account_id, sender, created_by, created_at) VALUES (?, ?, ?, ?)`,
		accountID, sender, by, micros(db.now()))
	if isUniqueViolation(err) {
		return nil
	}
	return err
}

// RevokeSenderID takes an allowed sender ID back; trunkline.ErrNotFound when it was not allowed.
func (db *DB) RevokeSenderID(ctx context.Context, accountID, sender string) error {
	res, err := db.exec(ctx, `DELETE FROM sender_ids WHERE account_id = ? AND sender = ?`, accountID, sender)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return trunkline.ErrNotFound
	}
	return nil
}

// SenderIDs lists the sender IDs allowed for an account.
func (db *DB) SenderIDs(ctx context.Context, accountID string) ([]*trunkline.SenderID, error) {
	rows, err := db.query(ctx, `SELECT account_id, sender, created_by, created_at FROM sender_ids WHERE account_id = ? ORDER BY sender`, accountID)
	return collect(rows, err, func(row interface{ Scan(...any) error }) (*trunkline.SenderID, error) {
		var s trunkline.SenderID
		var at int64
		if err := row.Scan(&s.AccountID, &s.Sender, &s.CreatedBy, &at); err != nil {
			return nil, err
		}
		s.CreatedAt = fromMicros(at)
		return &s, nil
	})
}

const callerIDCols = `account_id, phone_number, alias, channel, verification_uuid, verified_at, modified_at`

func scanCallerID(row interface{ Scan(...any) error }) (*trunkline.VerifiedCallerID, error) {
	var v trunkline.VerifiedCallerID
	var at, mod int64
	err := row.Scan(&v.AccountID, &v.PhoneNumber, &v.Alias, &v.Channel, &v.VerificationUUID, &at, &mod)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, trunkline.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	v.VerifiedAt, v.ModifiedAt = fromMicros(at), fromMicros(mod)
	return &v, nil
}

// SaveVerifiedCallerID records a verified caller ID (a new verification of the same
// number by the same account replaces the old record).
func (db *DB) SaveVerifiedCallerID(ctx context.Context, v *trunkline.VerifiedCallerID) error {
	return db.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM verified_caller_ids WHERE account_id = ? AND phone_number = ?`, v.AccountID, v.PhoneNumber); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO verified_caller_ids (`+callerIDCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			v.AccountID, v.PhoneNumber, v.Alias, v.Channel, v.VerificationUUID, micros(v.VerifiedAt), micros(v.ModifiedAt))
		return err
	})
}

// VerifiedCallerIDs lists the verified caller IDs of the accounts in scope.
func (db *DB) VerifiedCallerIDs(ctx context.Context, s trunkline.Scope, f trunkline.CallerIDFilter) ([]*trunkline.VerifiedCallerID, int, error) {
	w, args := scopeWhere(s, "account_id")
	if f.Subaccount != "" {
		w += ` AND account_id = ?`
		args = append(args, f.Subaccount)
	}
	if f.Alias != "" {
		w += ` AND alias = ?`
		args = append(args, f.Alias)
	}
	limit, offset := f.Limit, f.Offset
	var total int
	if err := db.queryRow(ctx, `SELECT COUNT(*) FROM verified_caller_ids WHERE `+w, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := db.query(ctx, `SELECT `+callerIDCols+` FROM verified_caller_ids WHERE `+w+` ORDER BY phone_number, account_id LIMIT ? OFFSET ?`,
		append(args, limit, offset)...)
	out, err := collect(rows, err, scanCallerID)
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// VerifiedCallerIDOf returns one verified caller ID of the accounts in scope.
func (db *DB) VerifiedCallerIDOf(ctx context.Context, s trunkline.Scope, number string) (*trunkline.VerifiedCallerID, error) {
	w, args := scopeWhere(s, "account_id")
	return scanCallerID(db.queryRow(ctx, `SELECT `+callerIDCols+` FROM verified_caller_ids WHERE phone_number = ? AND `+w+
		` ORDER BY account_id LIMIT 1`, append([]any{number}, args...)...))
}

// UpdateVerifiedCallerID changes a verified caller ID's alias (and, when sub is set,
// the subaccount it belongs to).
func (db *DB) UpdateVerifiedCallerID(ctx context.Context, s trunkline.Scope, number string, alias *string, sub string) (*trunkline.VerifiedCallerID, error) {
	var out *trunkline.VerifiedCallerID
	err := db.InTx(ctx, func(tx *Tx) error {
		w, args := scopeWhere(s, "account_id")
		v, err := scanCallerID(tx.QueryRow(ctx, `SELECT `+callerIDCols+` FROM verified_caller_ids WHERE phone_number = ? AND `+w+
			` ORDER BY account_id LIMIT 1`, append([]any{number}, args...)...))
		if err != nil {
			return err
		}
		owner := v.AccountID
		if alias != nil {
			v.Alias = *alias
		}
		if sub != "" {
			v.AccountID = sub
		}
		v.ModifiedAt = db.now()
		if v.AccountID != owner {
			if _, err := tx.Exec(ctx, `DELETE FROM verified_caller_ids WHERE account_id = ? AND phone_number = ?`, v.AccountID, number); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `UPDATE verified_caller_ids SET account_id = ?, alias = ?, modified_at = ? WHERE account_id = ? AND phone_number = ?`,
			v.AccountID, v.Alias, micros(v.ModifiedAt), owner, number)
		out = v
		return err
	})
	return out, err
}

// DeleteVerifiedCallerID removes a verified caller ID of the accounts in scope.
func (db *DB) DeleteVerifiedCallerID(ctx context.Context, s trunkline.Scope, number string) error {
	w, args := scopeWhere(s, "account_id")
	res, err := db.exec(ctx, `DELETE FROM verified_caller_ids WHERE phone_number = ? AND `+w, append([]any{number}, args...)...)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return trunkline.ErrNotFound
	}
	return nil
}
