package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/trunkline/trunkline"
)

const userCols = `id, account_id, email, role, pass_hash, phone, phone_verified_at, totp_enc, totp_last_step, created_at, modified_at`

func scanUser(row interface{ Scan(...any) error }) (*trunkline.User, error) {
	var u trunkline.User
	var verified sql.NullInt64
	var created, modified int64
	err := row.Scan(&u.ID, &u.AccountID, &u.Email, &u.Role, &u.PassHash, &u.Phone, &verified, &u.TOTPEnc,
		&u.TOTPLastStep, &created, &modified)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, trunkline.ErrNotFound
		}
		return nil, err
	}
	u.PhoneVerifiedAt = nullMicros(verified)
	u.CreatedAt, u.ModifiedAt = fromMicros(created), fromMicros(modified)
	return &u, nil
}

func insertUser(ctx context.Context, tx *Tx, u *trunkline.User, now time.Time) error {
	u.CreatedAt, u.ModifiedAt = now.UTC().Truncate(time.Microsecond), now.UTC().Truncate(time.Microsecond)
	_, err := tx.Exec(ctx, `INSERT INTO users (id, account_id, email, role, pass_hash, phone, phone_verified_at,
		totp_enc, totp_last_step, created_at, modified_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.AccountID, u.Email, u.Role, u.PassHash, u.Phone, toNullMicros(u.PhoneVerifiedAt), u.TOTPEnc,
		u.TOTPLastStep, micros(now), micros(now))
	if isUniqueViolation(err) {
		return trunkline.ErrConflict
	}
	return err
}

// CreateAccountWithOwner creates a main account, its first credential and its owner in
// one transaction: a signup either makes all three or nothing. A taken email (or id) is
// trunkline.ErrConflict.
func (db *DB) CreateAccountWithOwner(ctx context.Context, a *trunkline.Account, c *trunkline.Credential, u *trunkline.User) error {
	now := db.now()
	a.CreatedAt, a.ModifiedAt = now.UTC().Truncate(time.Microsecond), now.UTC().Truncate(time.Microsecond)
	if a.Timezone == "" {
		a.Timezone = "UTC"
	}
	return db.InTx(ctx, func(tx *Tx) error {
		if err := insertAccount(ctx, tx, a, now); err != nil {
			return err
		}
		c.AccountID, u.AccountID = a.ID, a.ID
		if err := insertCredential(ctx, tx, c, now); err != nil {
			return err
		}
		return insertUser(ctx, tx, u, now)
	})
}

// CreateUser adds a user to an existing account.
func (db *DB) CreateUser(ctx context.Context, u *trunkline.User) error {
	return db.InTx(ctx, func(tx *Tx) error { return insertUser(ctx, tx, u, db.now()) })
}

// UserByEmail finds a user by (lower-cased) email.
func (db *DB) UserByEmail(ctx context.Context, email string) (*trunkline.User, error) {
	return scanUser(db.queryRow(ctx, `SELECT `+userCols+` FROM users WHERE email = ?`, email))
}

// User returns one user.
func (db *DB) User(ctx context.Context, id string) (*trunkline.User, error) {
	return scanUser(db.queryRow(ctx, `SELECT `+userCols+` FROM users WHERE id = ?`, id))
}

// AccountUsers lists an account's users, oldest first.
func (db *DB) AccountUsers(ctx context.Context, accountID string) ([]*trunkline.User, error) {
	rows, err := db.query(ctx, `SELECT `+userCols+` FROM users WHERE account_id = ? ORDER BY created_at, id`, accountID)
	return collect(rows, err, scanUser)
}

// collect scans every row of a query's result with scan.
func collect[T any](rows *sql.Rows, err error, scan func(interface{ Scan(...any) error }) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func (db *DB) updateUser(ctx context.Context, q string, args ...any) error {
	res, err := db.exec(ctx, q, args...)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return trunkline.ErrNotFound
	}
	return nil
}

// SetUserPassHash replaces a user's passphrase hash.
func (db *DB) SetUserPassHash(ctx context.Context, id, hash string) error {
	return db.updateUser(ctx, `UPDATE users SET pass_hash = ?, modified_at = ? WHERE id = ?`, hash, micros(db.now()), id)
}

// SetUserPhone records a verified phone number.
func (db *DB) SetUserPhone(ctx context.Context, id, phone string, verifiedAt time.Time) error {
	return db.updateUser(ctx, `UPDATE users SET phone = ?, phone_verified_at = ?, modified_at = ? WHERE id = ?`,
		phone, micros(verifiedAt), micros(db.now()), id)
}

// SetUserRole changes the role of a user of accountID. Taking the owner role from the
// account's last owner is trunkline.ErrLastOwner; a user of another account is trunkline.ErrNotFound.
func (db *DB) SetUserRole(ctx context.Context, accountID, id, role string) error {
	return db.changeMember(ctx, accountID, id, role != trunkline.RoleOwner, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `UPDATE users SET role = ?, modified_at = ? WHERE id = ?`, role, micros(db.now()), id)
		return err
	})
}

// DeleteUser removes a user of accountID; their sessions, factors and recovery codes go
// with them (ON DELETE CASCADE), so a session they still hold ends at its next request.
// Removing the account's last owner is trunkline.ErrLastOwner; a user of another account is
// trunkline.ErrNotFound.
func (db *DB) DeleteUser(ctx context.Context, accountID, id string) error {
	return db.changeMember(ctx, accountID, id, true, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM users WHERE id = ?`, id)
		return err
	})
}

// changeMember runs change on a user of accountID in a transaction that holds the
// account's row, so two owners demoting or removing each other at the same moment cannot
// both succeed and leave the account without an owner. dropsOwner says whether change
// takes the user's owner role away.
func (db *DB) changeMember(ctx context.Context, accountID, id string, dropsOwner bool, change func(*Tx) error) error {
	return db.InTx(ctx, func(tx *Tx) error {
		// A no-op write: it locks the account's row on PostgreSQL (SQLite's immediate
		// transactions are serialized anyway).
		if _, err := tx.Exec(ctx, `UPDATE accounts SET modified_at = modified_at WHERE id = ?`, accountID); err != nil {
			return err
		}
		var role string
		err := tx.QueryRow(ctx, `SELECT role FROM users WHERE id = ? AND account_id = ?`, id, accountID).Scan(&role)
		if errors.Is(err, sql.ErrNoRows) {
			return trunkline.ErrNotFound
		}
		if err != nil {
			return err
		}
		if role == trunkline.RoleOwner && dropsOwner {
			var owners int
			if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM users WHERE account_id = ? AND role = ?`, accountID, trunkline.RoleOwner).Scan(&owners); err != nil {
				return err
			}
			if owners < 2 {
				return trunkline.ErrLastOwner
			}
		}
		return change(tx)
	})
}

// SetUserTOTP stores a sealed TOTP secret (nil removes TOTP) and resets the replay guard
// to step, the step of the code that proved the enrolment.
func (db *DB) SetUserTOTP(ctx context.Context, id string, enc []byte, step int64) error {
	return db.updateUser(ctx, `UPDATE users SET totp_enc = ?, totp_last_step = ?, modified_at = ? WHERE id = ?`,
		enc, step, micros(db.now()), id)
}

// AdvanceTOTPStep is the TOTP replay guard: it records step as the last accepted one
// only when it is newer than the stored one, atomically, so a code can be used once even
// when two nodes see it at the same moment. It reports whether the step was accepted.
func (db *DB) AdvanceTOTPStep(ctx context.Context, id string, step int64) (bool, error) {
	res, err := db.exec(ctx, `UPDATE users SET totp_last_step = ? WHERE id = ? AND totp_last_step < ?`, step, id, step)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// ReplaceRecoveryCodes replaces a user's recovery codes by the given keyed hashes.
func (db *DB) ReplaceRecoveryCodes(ctx context.Context, userID string, macs [][]byte) error {
	return db.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM recovery_codes WHERE user_id = ?`, userID); err != nil {
			return err
		}
		for _, m := range macs {
			if _, err := tx.Exec(ctx, `INSERT INTO recovery_codes (user_id, code_mac) VALUES (?, ?)`, userID, m); err != nil {
				return err
			}
		}
		return nil
	})
}

// UseRecoveryCode spends a recovery code: true only the first time.
func (db *DB) UseRecoveryCode(ctx context.Context, userID string, mac []byte) (bool, error) {
	res, err := db.exec(ctx, `UPDATE recovery_codes SET used_at = ? WHERE user_id = ? AND code_mac = ? AND used_at IS NULL`,
		micros(db.now()), userID, mac)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// RecoveryCodesLeft counts a user's unused recovery codes.
func (db *DB) RecoveryCodesLeft(ctx context.Context, userID string) (int, error) {
	var n int
	err := db.queryRow(ctx, `SELECT COUNT(*) FROM recovery_codes WHERE user_id = ? AND used_at IS NULL`, userID).Scan(&n)
	return n, err
}

// AddWebAuthn stores a new credential.
func (db *DB) AddWebAuthn(ctx context.Context, c *trunkline.WebAuthnCredential) error {
	c.CreatedAt = db.now().UTC().Truncate(time.Microsecond)
	_, err := db.exec(ctx, `INSERT INTO webauthn_credentials (id, user_id, name, data, created_at) VALUES (?, ?, ?, ?, ?)`,
		c.ID, c.UserID, c.Name, c.Data, micros(c.CreatedAt))
	if isUniqueViolation(err) {
		return trunkline.ErrConflict
	}
	return err
}

// WebAuthnCredentials lists a user's credentials, oldest first.
func (db *DB) WebAuthnCredentials(ctx context.Context, userID string) ([]*trunkline.WebAuthnCredential, error) {
	rows, err := db.query(ctx, `SELECT id, user_id, name, data, created_at, last_used_at FROM webauthn_credentials
		WHERE user_id = ? ORDER BY created_at, id`, userID)
	return collect(rows, err, func(row interface{ Scan(...any) error }) (*trunkline.WebAuthnCredential, error) {
		var c trunkline.WebAuthnCredential
		var created int64
		var used sql.NullInt64
		if err := row.Scan(&c.ID, &c.UserID, &c.Name, &c.Data, &created, &used); err != nil {
			return nil, err
		}
		c.CreatedAt, c.LastUsedAt = fromMicros(created), nullMicros(used)
		return &c, nil
	})
}

// UseWebAuthn updates a credential after a login (its sign counter moves).
func (db *DB) UseWebAuthn(ctx context.Context, userID, id string, data []byte) error {
	return db.updateUser(ctx, `UPDATE webauthn_credentials SET data = ?, last_used_at = ? WHERE id = ? AND user_id = ?`,
		data, micros(db.now()), id, userID)
}

// DeleteWebAuthn removes one of a user's credentials.
func (db *DB) DeleteWebAuthn(ctx context.Context, userID, id string) error {
	return db.updateUser(ctx, `DELETE FROM webauthn_credentials WHERE id = ? AND user_id = ?`, id, userID)
}

const sessionCols = `id, user_id, level, csrf, source, user_agent, created_at, last_seen_at, expires_at, mfa_at`

func scanSession(row interface{ Scan(...any) error }) (*trunkline.Session, error) {
	var s trunkline.Session
	var created, seen, expires int64
	var mfa sql.NullInt64
	if err := row.Scan(&s.ID, &s.UserID, &s.Level, &s.CSRF, &s.Source, &s.UserAgent, &created, &seen, &expires, &mfa); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, trunkline.ErrNotFound
		}
		return nil, err
	}
	s.CreatedAt, s.LastSeenAt, s.ExpiresAt, s.MFAAt = fromMicros(created), fromMicros(seen), fromMicros(expires), nullMicros(mfa)
	return &s, nil
}

// CreateSession stores a session.
func (db *DB) CreateSession(ctx context.Context, s *trunkline.Session) error {
	_, err := db.exec(ctx, `INSERT INTO console_sessions (`+sessionCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.ID, s.UserID, s.Level, s.CSRF, s.Source, s.UserAgent, micros(s.CreatedAt), micros(s.LastSeenAt),
		micros(s.ExpiresAt), toNullMicros(s.MFAAt))
	return err
}

// Session returns one session.
func (db *DB) Session(ctx context.Context, id string) (*trunkline.Session, error) {
	return scanSession(db.queryRow(ctx, `SELECT `+sessionCols+` FROM console_sessions WHERE id = ?`, id))
}

// TouchSession records activity (the idle timeout counts from it).
func (db *DB) TouchSession(ctx context.Context, id string, at time.Time) error {
	return db.updateUser(ctx, `UPDATE console_sessions SET last_seen_at = ? WHERE id = ?`, micros(at), id)
}

// SetSessionMFA records that a second factor was just presented in the session.
func (db *DB) SetSessionMFA(ctx context.Context, id string, at time.Time) error {
	return db.updateUser(ctx, `UPDATE console_sessions SET mfa_at = ? WHERE id = ?`, micros(at), id)
}

// DeleteSession ends one session of a user.
func (db *DB) DeleteSession(ctx context.Context, userID, id string) error {
	return db.updateUser(ctx, `DELETE FROM console_sessions WHERE id = ? AND user_id = ?`, id, userID)
}

// DeleteUserSessions ends every session of a user except keepID ("" keeps none) and
// reports how many ended.
func (db *DB) DeleteUserSessions(ctx context.Context, userID, keepID string) (int, error) {
	res, err := db.exec(ctx, `DELETE FROM console_sessions WHERE user_id = ? AND id <> ?`, userID, keepID)
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// UserSessions lists a user's sessions, newest activity first.
func (db *DB) UserSessions(ctx context.Context, userID string) ([]*trunkline.Session, error) {
	rows, err := db.query(ctx, `SELECT `+sessionCols+` FROM console_sessions WHERE user_id = ? ORDER BY last_seen_at DESC`, userID)
	return collect(rows, err, scanSession)
}

// DeleteExpiredSessions removes sessions past their lifetime or idle longer than idle.
func (db *DB) DeleteExpiredSessions(ctx context.Context, now time.Time, idle time.Duration) (int, error) {
	res, err := db.exec(ctx, `DELETE FROM console_sessions WHERE expires_at <= ? OR last_seen_at <= ?`,
		micros(now), micros(now.Add(-idle)))
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

const verificationCols = `id, flow_mac, purpose, user_id, email, pass_hash, account_name, invite_id, phone, channel,
	code_mac, sends, checks, source, created_at, sent_at, expires_at, used_at, account_id, alias`

// CreateVerification stores a new verification.
func (db *DB) CreateVerification(ctx context.Context, v *trunkline.Verification) error {
	_, err := db.exec(ctx, `INSERT INTO verifications (`+verificationCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		v.ID, v.FlowMAC, v.Purpose, v.UserID, v.Email, v.PassHash, v.AccountName, v.InviteID, v.Phone, v.Channel, v.CodeMAC,
		v.Sends, v.Checks, v.Source, micros(v.CreatedAt), micros(v.SentAt), micros(v.ExpiresAt), toNullMicros(v.UsedAt),
		v.AccountID, v.Alias)
	return err
}

// VerificationByFlow finds the verification bound to a flow.
func (db *DB) VerificationByFlow(ctx context.Context, flowMAC []byte) (*trunkline.Verification, error) {
	var v trunkline.Verification
	var created, sent, expires int64
	var used sql.NullInt64
	err := db.queryRow(ctx, `SELECT `+verificationCols+` FROM verifications WHERE flow_mac = ?`, flowMAC).Scan(
		&v.ID, &v.FlowMAC, &v.Purpose, &v.UserID, &v.Email, &v.PassHash, &v.AccountName, &v.InviteID, &v.Phone, &v.Channel,
		&v.CodeMAC, &v.Sends, &v.Checks, &v.Source, &created, &sent, &expires, &used, &v.AccountID, &v.Alias)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, trunkline.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	v.CreatedAt, v.SentAt, v.ExpiresAt, v.UsedAt = fromMicros(created), fromMicros(sent), fromMicros(expires), nullMicros(used)
	return &v, nil
}

// ResendVerification stores a new code, counting the send; it fails with trunkline.ErrConflict
// when maxSends were already made or the verification was used.
func (db *DB) ResendVerification(ctx context.Context, id string, codeMAC []byte, channel string, sentAt, expiresAt time.Time, maxSends int) error {
	res, err := db.exec(ctx, `UPDATE verifications SET code_mac = ?, channel = ?, sends = sends + 1, sent_at = ?, expires_at = ?
		WHERE id = ? AND sends < ? AND used_at IS NULL`, codeMAC, channel, micros(sentAt), micros(expiresAt), id, maxSends)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return trunkline.ErrConflict
	}
	return nil
}

// CountVerificationCheck counts one check of a code, atomically; it fails with
// trunkline.ErrConflict when maxChecks were already made or the verification was used.
func (db *DB) CountVerificationCheck(ctx context.Context, id string, maxChecks int) error {
	res, err := db.exec(ctx, `UPDATE verifications SET checks = checks + 1 WHERE id = ? AND checks < ? AND used_at IS NULL`, id, maxChecks)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return trunkline.ErrConflict
	}
	return nil
}

// UseVerification marks a verification used: true only the first time (single use).
func (db *DB) UseVerification(ctx context.Context, id string, at time.Time) (bool, error) {
	res, err := db.exec(ctx, `UPDATE verifications SET used_at = ? WHERE id = ? AND used_at IS NULL`, micros(at), id)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// DeleteVerification removes a verification (after its flow finished, or failed).
func (db *DB) DeleteVerification(ctx context.Context, id string) error {
	_, err := db.exec(ctx, `DELETE FROM verifications WHERE id = ?`, id)
	return err
}

// DeleteStaleVerifications removes verifications created before cutoff.
func (db *DB) DeleteStaleVerifications(ctx context.Context, cutoff time.Time) error {
	_, err := db.exec(ctx, `DELETE FROM verifications WHERE created_at < ?`, micros(cutoff))
	return err
}

// Setting reads a platform setting; trunkline.ErrNotFound when unset.
func (db *DB) Setting(ctx context.Context, name string) (string, error) {
	var v string
	err := db.queryRow(ctx, `SELECT value FROM platform_settings WHERE name = ?`, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", trunkline.ErrNotFound
	}
	return v, err
}

// SetSetting writes a platform setting.
func (db *DB) SetSetting(ctx context.Context, name, value string) error {
	return db.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM platform_settings WHERE name = ?`, name); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO platform_settings (name, value) VALUES (?, ?)`, name, value)
		return err
	})
}

// SetAPIAllow sets an account's API allowlist (comma-separated addresses and CIDR
// ranges; "" allows every address).
func (db *DB) SetAPIAllow(ctx context.Context, accountID, allow string) error {
	return db.updateUser(ctx, `UPDATE accounts SET api_allow = ?, modified_at = ? WHERE id = ?`, allow, micros(db.now()), accountID)
}

const inviteCols = `id, account_id, email, role, token_mac, created_by, created_at, expires_at, used_at`

func scanInvite(row interface{ Scan(...any) error }) (*trunkline.Invite, error) {
	var i trunkline.Invite
	var created, expires int64
	var used sql.NullInt64
	if err := row.Scan(&i.ID, &i.AccountID, &i.Email, &i.Role, &i.TokenMAC, &i.CreatedBy, &created, &expires, &used); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, trunkline.ErrNotFound
		}
		return nil, err
	}
	i.CreatedAt, i.ExpiresAt, i.UsedAt = fromMicros(created), fromMicros(expires), nullMicros(used)
	return &i, nil
}

// CreateInvite stores an invitation.
func (db *DB) CreateInvite(ctx context.Context, i *trunkline.Invite) error {
	_, err := db.exec(ctx, `INSERT INTO invites (`+inviteCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		i.ID, i.AccountID, i.Email, i.Role, i.TokenMAC, i.CreatedBy, micros(i.CreatedAt), micros(i.ExpiresAt), toNullMicros(i.UsedAt))
	return err
}

// InviteByToken finds an invitation by its token's keyed hash.
func (db *DB) InviteByToken(ctx context.Context, mac []byte) (*trunkline.Invite, error) {
	return scanInvite(db.queryRow(ctx, `SELECT `+inviteCols+` FROM invites WHERE token_mac = ?`, mac))
}

// Invite returns one invitation.
func (db *DB) Invite(ctx context.Context, id string) (*trunkline.Invite, error) {
	return scanInvite(db.queryRow(ctx, `SELECT `+inviteCols+` FROM invites WHERE id = ?`, id))
}

// AccountInvites lists an account's unused invitations, newest first.
func (db *DB) AccountInvites(ctx context.Context, accountID string) ([]*trunkline.Invite, error) {
	rows, err := db.query(ctx, `SELECT `+inviteCols+` FROM invites WHERE account_id = ? AND used_at IS NULL ORDER BY created_at DESC`, accountID)
	return collect(rows, err, scanInvite)
}

// AcceptInvite marks the invitation used and creates its user, in one transaction: true
// only the first time.
func (db *DB) AcceptInvite(ctx context.Context, inviteID string, u *trunkline.User) (bool, error) {
	ok := false
	err := db.InTx(ctx, func(tx *Tx) error {
		now := db.now()
		res, err := tx.Exec(ctx, `UPDATE invites SET used_at = ? WHERE id = ? AND used_at IS NULL AND expires_at > ?`,
			micros(now), inviteID, micros(now))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return nil
		}
		ok = true
		return insertUser(ctx, tx, u, now)
	})
	return ok, err
}

// DeleteInvite withdraws an account's unused invitation.
func (db *DB) DeleteInvite(ctx context.Context, accountID, id string) error {
	return db.updateUser(ctx, `DELETE FROM invites WHERE id = ? AND account_id = ? AND used_at IS NULL`, id, accountID)
}

// DeleteAccountSessions ends every console session of an account's users (the account
// was disabled) and reports how many ended.
func (db *DB) DeleteAccountSessions(ctx context.Context, accountID string) (int, error) {
	res, err := db.exec(ctx, `DELETE FROM console_sessions WHERE user_id IN (SELECT id FROM users WHERE account_id = ?)`, accountID)
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}
