package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/trunkline/trunkline"
)

var _ trunkline.StaffStore = (*DB)(nil)

const staffCols = `id, email, name, role, pass_hash, totp_enc, totp_last_step, disabled, created_at`

func scanStaff(row interface{ Scan(...any) error }) (*trunkline.Staff, error) {
	var s trunkline.Staff
	var created int64
	err := row.Scan(&s.ID, &s.Email, &s.Name, &s.Role, &s.PassHash, &s.TOTPEnc, &s.TOTPLastStep, &s.Disabled, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, trunkline.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	s.CreatedAt = fromMicros(created)
	return &s, nil
}

// CreateStaff stores a new staff member; ErrConflict when the email is taken.
func (db *DB) CreateStaff(ctx context.Context, s *trunkline.Staff) error {
	if s.CreatedAt.IsZero() {
		s.CreatedAt = db.now().UTC().Truncate(time.Microsecond)
	}
	_, err := db.exec(ctx, `INSERT INTO staff (`+staffCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.ID, s.Email, s.Name, s.Role, s.PassHash, s.TOTPEnc, s.TOTPLastStep, s.Disabled, micros(s.CreatedAt))
	if isUniqueViolation(err) {
		return trunkline.ErrConflict
	}
	return err
}

// Staff reads a staff member by id.
func (db *DB) Staff(ctx context.Context, id string) (*trunkline.Staff, error) {
	return scanStaff(db.queryRow(ctx, `SELECT `+staffCols+` FROM staff WHERE id = ?`, id))
}

// StaffByEmail reads a staff member by (lower-cased) email.
func (db *DB) StaffByEmail(ctx context.Context, email string) (*trunkline.Staff, error) {
	return scanStaff(db.queryRow(ctx, `SELECT `+staffCols+` FROM staff WHERE email = ?`, email))
}

// ListStaff lists every staff member by email.
func (db *DB) ListStaff(ctx context.Context) ([]*trunkline.Staff, error) {
	rows, err := db.query(ctx, `SELECT `+staffCols+` FROM staff ORDER BY email`)
	return collect(rows, err, scanStaff)
}

// SetStaffDisabled disables or enables a staff member.
func (db *DB) SetStaffDisabled(ctx context.Context, id string, disabled bool) error {
	return db.updateUser(ctx, `UPDATE staff SET disabled = ? WHERE id = ?`, disabled, id)
}

// AdvanceStaffTOTP moves the staff member's TOTP replay guard to step, if it is newer.
func (db *DB) AdvanceStaffTOTP(ctx context.Context, id string, step int64) (bool, error) {
	res, err := db.exec(ctx, `UPDATE staff SET totp_last_step = ? WHERE id = ? AND totp_last_step < ?`, step, id, step)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// CreateStaffSession stores a staff login.
func (db *DB) CreateStaffSession(ctx context.Context, s *trunkline.StaffSession) error {
	_, err := db.exec(ctx, `INSERT INTO staff_sessions (id, staff_id, csrf, source, created_at, last_seen_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, s.ID, s.StaffID, s.CSRF, s.Source, micros(s.CreatedAt), micros(s.LastSeenAt), micros(s.ExpiresAt))
	return err
}

// StaffSession reads a staff login by id.
func (db *DB) StaffSession(ctx context.Context, id string) (*trunkline.StaffSession, error) {
	var s trunkline.StaffSession
	var created, seen, expires int64
	err := db.queryRow(ctx, `SELECT id, staff_id, csrf, source, created_at, last_seen_at, expires_at FROM staff_sessions WHERE id = ?`, id).
		Scan(&s.ID, &s.StaffID, &s.CSRF, &s.Source, &created, &seen, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, trunkline.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	s.CreatedAt, s.LastSeenAt, s.ExpiresAt = fromMicros(created), fromMicros(seen), fromMicros(expires)
	return &s, nil
}

// TouchStaffSession records activity on a staff login.
func (db *DB) TouchStaffSession(ctx context.Context, id string, at time.Time) error {
	_, err := db.exec(ctx, `UPDATE staff_sessions SET last_seen_at = ? WHERE id = ?`, micros(at), id)
	return err
}

// DeleteStaffSession ends a staff login.
func (db *DB) DeleteStaffSession(ctx context.Context, id string) error {
	_, err := db.exec(ctx, `DELETE FROM staff_sessions WHERE id = ?`, id)
	return err
}

// DeleteStaffSessions ends every login of a staff member.
func (db *DB) DeleteStaffSessions(ctx context.Context, staffID string) error {
	_, err := db.exec(ctx, `DELETE FROM staff_sessions WHERE staff_id = ?`, staffID)
	return err
}

const grantCols = `id, account_id, staff_id, scope, mode, reason, ticket, duration_s, break_glass, needs_consent, state,
	requested_at, approved_by, approved_at, consent_by, consent_at, denied_by, denied_at, revoked_by, revoked_at,
	active_at, expires_at, reviewed_by, reviewed_at, review_note`

func scanGrant(row interface{ Scan(...any) error }) (*trunkline.AccessGrant, error) {
	var g trunkline.AccessGrant
	var dur, requested int64
	var approved, consent, denied, revoked, active, expires, reviewed sql.NullInt64
	err := row.Scan(&g.ID, &g.AccountID, &g.StaffID, &g.Scope, &g.Mode, &g.Reason, &g.Ticket, &dur, &g.BreakGlass, &g.NeedsConsent,
		&g.State, &requested, &g.ApprovedBy, &approved, &g.ConsentBy, &consent, &g.DeniedBy, &denied, &g.RevokedBy, &revoked,
		&active, &expires, &g.ReviewedBy, &reviewed, &g.ReviewNote)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, trunkline.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	g.Duration = time.Duration(dur) * time.Second
	g.RequestedAt = fromMicros(requested)
	g.ApprovedAt, g.ConsentAt, g.DeniedAt, g.RevokedAt = nullMicros(approved), nullMicros(consent), nullMicros(denied), nullMicros(revoked)
	g.ActiveAt, g.ExpiresAt, g.ReviewedAt = nullMicros(active), nullMicros(expires), nullMicros(reviewed)
	return &g, nil
}

func grantArgs(g *trunkline.AccessGrant) []any {
	return []any{g.ID, g.AccountID, g.StaffID, g.Scope, g.Mode, g.Reason, g.Ticket, int64(g.Duration / time.Second), g.BreakGlass,
		g.NeedsConsent, g.State, micros(g.RequestedAt), g.ApprovedBy, toNullMicros(g.ApprovedAt), g.ConsentBy, toNullMicros(g.ConsentAt),
		g.DeniedBy, toNullMicros(g.DeniedAt), g.RevokedBy, toNullMicros(g.RevokedAt), toNullMicros(g.ActiveAt),
		toNullMicros(g.ExpiresAt), g.ReviewedBy, toNullMicros(g.ReviewedAt), g.ReviewNote}
}

// CreateGrant stores a new access request.
func (db *DB) CreateGrant(ctx context.Context, g *trunkline.AccessGrant) error {
	_, err := db.exec(ctx, `INSERT INTO access_grants (`+grantCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		grantArgs(g)...)
	return err
}

// Grant reads one grant.
func (db *DB) Grant(ctx context.Context, id string) (*trunkline.AccessGrant, error) {
	return scanGrant(db.queryRow(ctx, `SELECT `+grantCols+` FROM access_grants WHERE id = ?`, id))
}

// ListGrants lists grants, newest request first.
func (db *DB) ListGrants(ctx context.Context, f trunkline.GrantFilter) ([]*trunkline.AccessGrant, error) {
	var where []string
	var args []any
	if f.AccountID != "" {
		where, args = append(where, "account_id = ?"), append(args, f.AccountID)
	}
	if f.StaffID != "" {
		where, args = append(where, "staff_id = ?"), append(args, f.StaffID)
	}
	if len(f.States) > 0 {
		where = append(where, "state IN (?"+strings.Repeat(", ?", len(f.States)-1)+")")
		for _, s := range f.States {
			args = append(args, s)
		}
	}
	q := `SELECT ` + grantCols + ` FROM access_grants`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY requested_at DESC, id`
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	rows, err := db.query(ctx, q, args...)
	return collect(rows, err, scanGrant)
}

// UpdateGrant runs fn on the grant, locked for the transaction, and stores the result.
func (db *DB) UpdateGrant(ctx context.Context, id string, fn func(*trunkline.AccessGrant) error) (*trunkline.AccessGrant, error) {
	var g *trunkline.AccessGrant
	lock := ""
	if db.dialect == Postgres {
		lock = " FOR UPDATE"
	}
	err := db.write(ctx, func(ctx context.Context, tx *Tx) error {
		var err error
		if g, err = scanGrant(tx.QueryRow(ctx, `SELECT `+grantCols+` FROM access_grants WHERE id = ?`+lock, id)); err != nil {
			return err
		}
		if err := fn(g); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE access_grants SET state = ?, needs_consent = ?, approved_by = ?, approved_at = ?, consent_by = ?, consent_at = ?,
			denied_by = ?, denied_at = ?, revoked_by = ?, revoked_at = ?, active_at = ?, expires_at = ?, reviewed_by = ?,
			reviewed_at = ?, review_note = ? WHERE id = ?`, g.State, g.NeedsConsent, g.ApprovedBy, toNullMicros(g.ApprovedAt), g.ConsentBy,
			toNullMicros(g.ConsentAt), g.DeniedBy, toNullMicros(g.DeniedAt), g.RevokedBy, toNullMicros(g.RevokedAt),
			toNullMicros(g.ActiveAt), toNullMicros(g.ExpiresAt), g.ReviewedBy, toNullMicros(g.ReviewedAt), g.ReviewNote, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return g, nil
}

// StaffConsent reports whether the account requires its owner's consent for content access.
func (db *DB) StaffConsent(ctx context.Context, accountID string) (bool, error) {
	var req bool
	err := db.queryRow(ctx, `SELECT required FROM staff_consent WHERE account_id = ?`, accountID).Scan(&req)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return req, err
}

// SetStaffConsent sets the account's consent requirement.
func (db *DB) SetStaffConsent(ctx context.Context, accountID string, required bool) error {
	return db.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM staff_consent WHERE account_id = ?`, accountID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO staff_consent (account_id, required) VALUES (?, ?)`, accountID, required)
		return err
	})
}
