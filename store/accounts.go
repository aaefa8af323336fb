package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/trunkline/trunkline"
)

const accountCols = `id, COALESCE(parent_id, ''), name, enabled, city, address, state, timezone, created_at, modified_at, secure_voice, api_allow`

func scanAccount(row interface{ Scan(...any) error }) (*trunkline.Account, error) {
	var a trunkline.Account
	var created, modified int64
	if err := row.Scan(&a.ID, &a.ParentID, &a.Name, &a.Enabled, &a.City, &a.Address, &a.State, &a.Timezone, &created, &modified, &a.SecureVoice, &a.APIAllow); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, trunkline.ErrNotFound
		}
		return nil, err
	}
	a.CreatedAt, a.ModifiedAt = fromMicros(created), fromMicros(modified)
	return &a, nil
}

// CreateAccount inserts an account together with its first credential.
func (db *DB) CreateAccount(ctx context.Context, a *trunkline.Account, c *trunkline.Credential) error {
	now := db.now()
	a.CreatedAt, a.ModifiedAt = now.UTC().Truncate(time.Microsecond), now.UTC().Truncate(time.Microsecond)
	if a.Timezone == "" {
		a.Timezone = "UTC"
	}
	return db.InTx(ctx, func(tx *Tx) error {
		if err := insertAccount(ctx, tx, a, now); err != nil {
			return err
		}
		c.AccountID = a.ID
		return insertCredential(ctx, tx, c, now)
	})
}

func insertAccount(ctx context.Context, tx *Tx, a *trunkline.Account, now time.Time) error {
	var parent any
	if a.ParentID != "" {
		parent = a.ParentID
	}
	_, err := tx.Exec(ctx, `INSERT INTO accounts (id, parent_id, name, enabled, city, address, state, timezone, created_at, modified_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, a.ID, parent, a.Name, a.Enabled, a.City, a.Address, a.State, a.Timezone, micros(now), micros(now))
	if isUniqueViolation(err) {
		return trunkline.ErrConflict
	}
	return err
}

func insertCredential(ctx context.Context, tx *Tx, c *trunkline.Credential, now time.Time) error {
	c.CreatedAt = now.UTC().Truncate(time.Microsecond)
	_, err := tx.Exec(ctx, `INSERT INTO credentials (id, account_id, token_mac, token_enc, created_at) VALUES (?, ?, ?, ?, ?)`,
		c.ID, c.AccountID, c.TokenMAC, c.TokenEnc, micros(now))
	return err
}

// Account returns one account.
func (db *DB) Account(ctx context.Context, id string) (*trunkline.Account, error) {
	return scanAccount(db.queryRow(ctx, `SELECT `+accountCols+` FROM accounts WHERE id = ?`, id))
}

// UpdateAccount changes an account's descriptive fields.
func (db *DB) UpdateAccount(ctx context.Context, id string, u trunkline.AccountUpdate) (*trunkline.Account, error) {
	var a *trunkline.Account
	err := db.write(ctx, func(ctx context.Context, tx *Tx) error {
		var err error
		a, err = scanAccount(tx.QueryRow(ctx, `SELECT `+accountCols+` FROM accounts WHERE id = ?`, id))
		if err != nil {
			return err
		}
		set(&a.Name, u.Name)
		set(&a.City, u.City)
		set(&a.Address, u.Address)
		set(&a.State, u.State)
		set(&a.Timezone, u.Timezone)
		if u.Enabled != nil {
			a.Enabled = *u.Enabled
		}
		set(&a.SecureVoice, u.SecureVoice)
		a.ModifiedAt = db.now().UTC().Truncate(time.Microsecond)
		_, err = tx.Exec(ctx, `UPDATE accounts SET name = ?, city = ?, address = ?, state = ?, timezone = ?, enabled = ?, secure_voice = ?, modified_at = ? WHERE id = ?`,
			a.Name, a.City, a.Address, a.State, a.Timezone, a.Enabled, a.SecureVoice, micros(a.ModifiedAt), id)
		return err
	})
	return a, err
}

func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// ListAccounts lists main accounts (parentID == "") or the subaccounts of parentID,
// oldest first, with the total count for pagination.
func (db *DB) ListAccounts(ctx context.Context, parentID string, limit, offset int) ([]*trunkline.Account, int, error) {
	where, args := `parent_id IS NULL`, []any{}
	if parentID != "" {
		where, args = `parent_id = ?`, []any{parentID}
	}
	var total int
	if err := db.queryRow(ctx, `SELECT COUNT(*) FROM accounts WHERE `+where, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := db.query(ctx, `SELECT `+accountCols+` FROM accounts WHERE `+where+` ORDER BY created_at, id LIMIT ? OFFSET ?`, append(args, limit, offset)...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []*trunkline.Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, a)
	}
	return out, total, rows.Err()
}

// DeleteSubaccount removes a subaccount. With cascade its applications and endpoints go
// too; without it they move to the parent (Plivo's behaviour). Its rented numbers return to the parent.
func (db *DB) DeleteSubaccount(ctx context.Context, parentID, id string, cascade bool) error {
	defer db.invalidateNumbers() // its numbers go to the parent
	err := db.InTx(ctx, func(tx *Tx) error {
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM accounts WHERE id = ? AND parent_id = ?`, id, parentID).Scan(&one); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return trunkline.ErrNotFound
			}
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE numbers SET account_id = ? WHERE account_id = ?`, parentID, id); err != nil {
			return err
		}
		if cascade {
			if _, err := tx.Exec(ctx, `UPDATE numbers SET app_id = NULL WHERE app_id IN (SELECT id FROM applications WHERE account_id = ?)`, id); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `DELETE FROM applications WHERE account_id = ?`, id); err != nil {
				return err
			}
		} else {
			if _, err := tx.Exec(ctx, `UPDATE applications SET account_id = ? WHERE account_id = ?`, parentID, id); err != nil {
				return err
			}
			// Its SIP endpoints too (with cascade they go with the account row).
			if _, err := tx.Exec(ctx, `UPDATE endpoints SET account_id = ? WHERE account_id = ?`, parentID, id); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM credentials WHERE account_id = ?`, id); err != nil {
			return err
		}
		// Destroying the account's data keys crypto-shreds its message bodies and
		// recordings, here and in every backup (backups keep no data keys).
		if _, err := tx.Exec(ctx, `DELETE FROM account_data_keys WHERE account_id = ?`, id); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM accounts WHERE id = ?`, id)
		return err
	})
	if err == nil {
		if f, ok := db.bodies.(interface{ Forget(string) }); ok {
			f.Forget(id)
		}
	}
	return err
}

const credentialCols = `id, account_id, token_mac, token_enc, created_at, expires_at, revoked_at`

func scanCredential(row interface{ Scan(...any) error }) (*trunkline.Credential, error) {
	var c trunkline.Credential
	var created int64
	var expires, revoked sql.NullInt64
	if err := row.Scan(&c.ID, &c.AccountID, &c.TokenMAC, &c.TokenEnc, &created, &expires, &revoked); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, trunkline.ErrNotFound
		}
		return nil, err
	}
	c.CreatedAt = fromMicros(created)
	c.ExpiresAt, c.RevokedAt = nullMicros(expires), nullMicros(revoked)
	return &c, nil
}

// Credentials lists an account's credentials that are not revoked and not expired at now,
// the current one (no expiry set) first, then newest first.
func (db *DB) Credentials(ctx context.Context, accountID string, now time.Time) ([]*trunkline.Credential, error) {
	rows, err := db.query(ctx, `SELECT `+credentialCols+` FROM credentials
		WHERE account_id = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)
		ORDER BY CASE WHEN expires_at IS NULL THEN 0 ELSE 1 END, created_at DESC, id`, accountID, micros(now))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*trunkline.Credential
	for rows.Next() {
		c, err := scanCredential(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// RotateCredential adds c as the account's current credential. Credentials that were live
// stop working at overlapEnd (or at once, revoking them, when overlapEnd is nil). It
// returns the ids of the credentials it retired.
func (db *DB) RotateCredential(ctx context.Context, c *trunkline.Credential, overlapEnd *time.Time) ([]string, error) {
	now := db.now()
	var retired []string
	err := db.InTx(ctx, func(tx *Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, expires_at FROM credentials
			WHERE account_id = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)`, c.AccountID, micros(now))
		if err != nil {
			return err
		}
		type live struct {
			id  string
			exp sql.NullInt64
		}
		var lives []live
		for rows.Next() {
			var l live
			if err := rows.Scan(&l.id, &l.exp); err != nil {
				rows.Close()
				return err
			}
			lives = append(lives, l)
		}
		rows.Close()
		for _, l := range lives {
			if overlapEnd == nil {
				if _, err := tx.Exec(ctx, `UPDATE credentials SET revoked_at = ? WHERE id = ?`, micros(now), l.id); err != nil {
					return err
				}
			} else if !l.exp.Valid || l.exp.Int64 > micros(*overlapEnd) {
				// A token already on its way out keeps its earlier end.
				if _, err := tx.Exec(ctx, `UPDATE credentials SET expires_at = ? WHERE id = ?`, micros(*overlapEnd), l.id); err != nil {
					return err
				}
			}
			retired = append(retired, l.id)
		}
		return insertCredential(ctx, tx, c, now)
	})
	return retired, err
}

// RevokeCredentials revokes at once every credential of the account except keepID.
func (db *DB) RevokeCredentials(ctx context.Context, accountID, keepID string) ([]string, error) {
	now := db.now()
	var ids []string
	err := db.InTx(ctx, func(tx *Tx) error {
		rows, err := tx.Query(ctx, `SELECT id FROM credentials WHERE account_id = ? AND id <> ? AND revoked_at IS NULL
			AND (expires_at IS NULL OR expires_at > ?)`, accountID, keepID, micros(now))
		if err != nil {
			return err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		rows.Close()
		_, err = tx.Exec(ctx, `UPDATE credentials SET revoked_at = ? WHERE account_id = ? AND id <> ? AND revoked_at IS NULL`, micros(now), accountID, keepID)
		return err
	})
	return ids, err
}

// SubaccountIDs lists the ids of parentID's subaccounts.
func (db *DB) SubaccountIDs(ctx context.Context, parentID string) ([]string, error) {
	rows, err := db.query(ctx, `SELECT id FROM accounts WHERE parent_id = ? ORDER BY id`, parentID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
