package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/trunkline/trunkline"
)

// The account's enabled flag and its parent's come along, so the registrar learns in one
// query whether the endpoint may register at all.
const endpointCols = `e.id, e.account_id, e.username, e.alias, COALESCE(e.app_id, ''), e.realm, e.ha1_enc,
	e.password_md5_enc, e.created_at, e.modified_at, e.sip_contact, e.sip_user_agent, e.sip_expires_at,
	e.registered_at, a.enabled AND COALESCE(p.enabled, TRUE)`

const endpointFrom = ` FROM endpoints e JOIN accounts a ON a.id = e.account_id LEFT JOIN accounts p ON p.id = a.parent_id`

func scanEndpoint(row interface{ Scan(...any) error }) (*trunkline.Endpoint, error) {
	var e trunkline.Endpoint
	var created, modified int64
	var expires, registered sql.NullInt64
	err := row.Scan(&e.ID, &e.AccountID, &e.Username, &e.Alias, &e.AppID, &e.Realm, &e.HA1Enc, &e.PasswordMD5Enc,
		&created, &modified, &e.SIPContact, &e.SIPUserAgent, &expires, &registered, &e.AccountEnabled)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, trunkline.ErrNotFound
		}
		return nil, err
	}
	e.CreatedAt, e.ModifiedAt = fromMicros(created), fromMicros(modified)
	e.SIPExpiresAt, e.RegisteredAt = nullMicros(expires), nullMicros(registered)
	return &e, nil
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// CreateEndpoint stores a new endpoint. A username or id already taken is trunkline.ErrConflict.
func (db *DB) CreateEndpoint(ctx context.Context, e *trunkline.Endpoint) error {
	now := db.now().UTC().Truncate(time.Microsecond)
	e.CreatedAt, e.ModifiedAt = now, now
	return db.write(ctx, func(ctx context.Context, tx *Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO endpoints (id, account_id, username, alias, app_id, realm, ha1_enc,
			password_md5_enc, created_at, modified_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			e.ID, e.AccountID, e.Username, e.Alias, nullString(e.AppID), e.Realm, e.HA1Enc, e.PasswordMD5Enc,
			micros(now), micros(now))
		if isUniqueViolation(err) {
			return trunkline.ErrConflict
		}
		return err
	})
}

// Endpoint returns one endpoint visible in scope.
func (db *DB) Endpoint(ctx context.Context, s trunkline.Scope, id string) (*trunkline.Endpoint, error) {
	w, args := scopeWhere(s, "e.account_id")
	return scanEndpoint(db.queryRow(ctx, `SELECT `+endpointCols+endpointFrom+` WHERE e.id = ? AND `+w,
		append([]any{id}, args...)...))
}

// EndpointByUsername returns the endpoint with that SIP user name, whatever its account:
// the registrar's look-up (a SIP request names no account).
func (db *DB) EndpointByUsername(ctx context.Context, username string) (*trunkline.Endpoint, error) {
	return scanEndpoint(db.queryRow(ctx, `SELECT `+endpointCols+endpointFrom+` WHERE e.username = ?`, username))
}

// ListEndpoints lists endpoints in scope, oldest first, with the total count.
func (db *DB) ListEndpoints(ctx context.Context, s trunkline.Scope, f trunkline.EndpointFilter) ([]*trunkline.Endpoint, int, error) {
	w, args := scopeWhere(s, "e.account_id")
	var total int
	if err := db.queryRow(ctx, `SELECT COUNT(*) FROM endpoints e WHERE `+w, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := db.query(ctx, `SELECT `+endpointCols+endpointFrom+` WHERE `+w+` ORDER BY e.created_at, e.id LIMIT ? OFFSET ?`,
		append(args, f.Limit, f.Offset)...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []*trunkline.Endpoint
	for rows.Next() {
		e, err := scanEndpoint(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, e)
	}
	return out, total, rows.Err()
}

// UpdateEndpoint applies fn to the endpoint and saves what an owner may change (alias,
// application, secrets), atomically. The registration is left alone: the registrar may
// write it at the same time.
func (db *DB) UpdateEndpoint(ctx context.Context, s trunkline.Scope, id string, fn func(*trunkline.Endpoint) error) (*trunkline.Endpoint, error) {
	var e *trunkline.Endpoint
	err := db.write(ctx, func(ctx context.Context, tx *Tx) error {
		w, args := scopeWhere(s, "e.account_id")
		var err error
		e, err = scanEndpoint(tx.QueryRow(ctx, `SELECT `+endpointCols+endpointFrom+` WHERE e.id = ? AND `+w,
			append([]any{id}, args...)...))
		if err != nil {
			return err
		}
		if err := fn(e); err != nil {
			return err
		}
		e.ModifiedAt = db.now().UTC().Truncate(time.Microsecond)
		_, err = tx.Exec(ctx, `UPDATE endpoints SET alias = ?, app_id = ?, realm = ?, ha1_enc = ?, password_md5_enc = ?,
			modified_at = ? WHERE id = ?`, e.Alias, nullString(e.AppID), e.Realm, e.HA1Enc, e.PasswordMD5Enc,
			micros(e.ModifiedAt), id)
		return err
	})
	return e, err
}

// DeleteEndpoint removes an endpoint (and so its registration).
func (db *DB) DeleteEndpoint(ctx context.Context, s trunkline.Scope, id string) error {
	return db.write(ctx, func(ctx context.Context, tx *Tx) error {
		w, args := scopeWhere(s, "account_id")
		res, err := tx.Exec(ctx, `DELETE FROM endpoints WHERE id = ? AND `+w, append([]any{id}, args...)...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return trunkline.ErrNotFound
		}
		return nil
	})
}

// SetRegistration records where the endpoint named username is registered, until
// expires. trunkline.ErrNotFound when there is no such endpoint (deleted meanwhile).
func (db *DB) SetRegistration(ctx context.Context, username, contact, userAgent string, expires time.Time) error {
	now := db.now()
	return db.setRegistration(ctx, `UPDATE endpoints SET sip_contact = ?, sip_user_agent = ?, sip_expires_at = ?,
		registered_at = ? WHERE username = ?`, contact, userAgent, micros(expires), micros(now), username)
}

// ClearRegistration forgets the endpoint's registration (unregister).
func (db *DB) ClearRegistration(ctx context.Context, username string) error {
	return db.setRegistration(ctx, `UPDATE endpoints SET sip_contact = '', sip_user_agent = '', sip_expires_at = NULL,
		registered_at = NULL WHERE username = ?`, username)
}

func (db *DB) setRegistration(ctx context.Context, q string, args ...any) error {
	return db.write(ctx, func(ctx context.Context, tx *Tx) error {
		res, err := tx.Exec(ctx, q, args...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return trunkline.ErrNotFound
		}
		return nil
	})
}
