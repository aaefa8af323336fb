package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/trunkline/trunkline"
)

// scopeWhere is the SQL condition on col that keeps a query inside s.
func scopeWhere(s trunkline.Scope, col string) (string, []any) {
	if s.IncludeSubs {
		return col + ` IN (SELECT id FROM accounts WHERE id = ? OR parent_id = ?)`, []any{s.AccountID, s.AccountID}
	}
	return col + ` = ?`, []any{s.AccountID}
}

const appCols = `id, account_id, app_name, answer_url, answer_method, hangup_url, hangup_method, fallback_answer_url,
	fallback_method, message_url, message_method, default_number_app, default_endpoint_app, log_incoming_messages,
	public_uri, enabled, created_at, modified_at`

func scanApp(row interface{ Scan(...any) error }) (*trunkline.Application, error) {
	var a trunkline.Application
	var created, modified int64
	err := row.Scan(&a.ID, &a.AccountID, &a.Name, &a.AnswerURL, &a.AnswerMethod, &a.HangupURL, &a.HangupMethod,
		&a.FallbackAnswerURL, &a.FallbackMethod, &a.MessageURL, &a.MessageMethod, &a.DefaultNumberApp,
		&a.DefaultEndpointApp, &a.LogIncomingMessages, &a.PublicURI, &a.Enabled, &created, &modified)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, trunkline.ErrNotFound
		}
		return nil, err
	}
	a.CreatedAt, a.ModifiedAt = fromMicros(created), fromMicros(modified)
	return &a, nil
}

func appArgs(a *trunkline.Application) []any {
	return []any{a.Name, a.AnswerURL, a.AnswerMethod, a.HangupURL, a.HangupMethod, a.FallbackAnswerURL,
		a.FallbackMethod, a.MessageURL, a.MessageMethod, a.DefaultNumberApp, a.DefaultEndpointApp,
		a.LogIncomingMessages, a.PublicURI, a.Enabled}
}

// CreateApplication stores a new application. A default_number_app or
// default_endpoint_app flag clears the flag on the account's other applications.
func (db *DB) CreateApplication(ctx context.Context, a *trunkline.Application) error {
	return db.CreateApplicationAudited(ctx, a, nil)
}

// CreateApplicationAudited is CreateApplication that also appends the audit entry
// audit builds (when not nil) in the same transaction: the application and the
// record of its creation are stored together or not at all, in one commit, not two
// (the group-commit writer's second round trip was half of a POST Application/'s
// wait).
func (db *DB) CreateApplicationAudited(ctx context.Context, a *trunkline.Application, audit trunkline.AuditBuild) error {
	now := db.now().UTC().Truncate(time.Microsecond)
	a.CreatedAt, a.ModifiedAt = now, now
	r := &appCreate{app: a}
	if audit != nil {
		r.audit = &auditReq{build: audit}
	}
	return db.writeSet(ctx, createApps, r, func(ctx context.Context, tx *Tx) error {
		return applyAppCreates(ctx, tx, []*appCreate{r})
	})
}

// appCreate is one CreateApplicationAudited call.
type appCreate struct {
	app   *trunkline.Application
	audit *auditReq // nil: none
}

// createApps is CreateApplicationAudited's set-based write: the applications of a
// batch one by one, then all their audit entries in one append (one read and move of
// the chain head).
var createApps = &setWrite{apply: typed(applyAppCreates)}

func applyAppCreates(ctx context.Context, tx *Tx, rs []*appCreate) error {
	var audits []*auditReq
	for _, r := range rs {
		a := r.app
		if err := clearDefaults(ctx, tx, a); err != nil {
			return err
		}
		args := append([]any{a.ID, a.AccountID}, appArgs(a)...)
		_, err := tx.Exec(ctx, `INSERT INTO applications (`+appCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			append(args, micros(a.CreatedAt), micros(a.ModifiedAt))...)
		if isUniqueViolation(err) {
			return trunkline.ErrConflict
		}
		if err != nil {
			return err
		}
		if r.audit != nil {
			audits = append(audits, r.audit)
		}
	}
	if len(audits) == 0 {
		return nil
	}
	return appendAudit(ctx, tx, audits)
}

func clearDefaults(ctx context.Context, tx *Tx, a *trunkline.Application) error {
	if a.DefaultNumberApp {
		if _, err := tx.Exec(ctx, `UPDATE applications SET default_number_app = ? WHERE account_id = ? AND id <> ?`, false, a.AccountID, a.ID); err != nil {
			return err
		}
	}
	if a.DefaultEndpointApp {
		if _, err := tx.Exec(ctx, `UPDATE applications SET default_endpoint_app = ? WHERE account_id = ? AND id <> ?`, false, a.AccountID, a.ID); err != nil {
			return err
		}
	}
	return nil
}

// Application returns one application visible in scope.
func (db *DB) Application(ctx context.Context, s trunkline.Scope, id string) (*trunkline.Application, error) {
	w, args := scopeWhere(s, "account_id")
	return scanApp(db.queryRow(ctx, `SELECT `+appCols+` FROM applications WHERE id = ? AND `+w, append([]any{id}, args...)...))
}

// ApplicationByID returns an application whatever its account: for the SIP
// side, where a call to sip:{app_id}@… names the application itself. Callers
// decide who may reach it (public_uri).
func (db *DB) ApplicationByID(ctx context.Context, id string) (*trunkline.Application, error) {
	return scanApp(db.queryRow(ctx, `SELECT `+appCols+` FROM applications WHERE id = ?`, id))
}

// UpdateApplication applies fn to the application and saves it, atomically.
func (db *DB) UpdateApplication(ctx context.Context, s trunkline.Scope, id string, fn func(*trunkline.Application) error) (*trunkline.Application, error) {
	var a *trunkline.Application
	err := db.write(ctx, func(ctx context.Context, tx *Tx) error {
		w, args := scopeWhere(s, "account_id")
		var err error
		a, err = scanApp(tx.QueryRow(ctx, `SELECT `+appCols+` FROM applications WHERE id = ? AND `+w, append([]any{id}, args...)...))
		if err != nil {
			return err
		}
		if err := fn(a); err != nil {
			return err
		}
		if err := clearDefaults(ctx, tx, a); err != nil {
			return err
		}
		a.ModifiedAt = db.now().UTC().Truncate(time.Microsecond)
		_, err = tx.Exec(ctx, `UPDATE applications SET app_name = ?, answer_url = ?, answer_method = ?, hangup_url = ?,
			hangup_method = ?, fallback_answer_url = ?, fallback_method = ?, message_url = ?, message_method = ?,
			default_number_app = ?, default_endpoint_app = ?, log_incoming_messages = ?, public_uri = ?, enabled = ?,
			modified_at = ?, account_id = ? WHERE id = ?`, append(appArgs(a), micros(a.ModifiedAt), a.AccountID, id)...)
		return err
	})
	return a, err
}

// DeleteApplication removes an application; numbers that used it are left without one.
func (db *DB) DeleteApplication(ctx context.Context, s trunkline.Scope, id string) error {
	return db.write(ctx, func(ctx context.Context, tx *Tx) error {
		w, args := scopeWhere(s, "account_id")
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM applications WHERE id = ? AND `+w, append([]any{id}, args...)...).Scan(&one); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return trunkline.ErrNotFound
			}
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE numbers SET app_id = NULL WHERE app_id = ?`, id); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM applications WHERE id = ?`, id)
		return err
	})
}

// ListApplications lists applications in scope, oldest first, with the total count.
func (db *DB) ListApplications(ctx context.Context, s trunkline.Scope, f trunkline.ApplicationFilter) ([]*trunkline.Application, int, error) {
	w, args := scopeWhere(s, "account_id")
	if f.Subaccount != "" {
		w += ` AND account_id = ?`
		args = append(args, f.Subaccount)
	}
	var total int
	if err := db.queryRow(ctx, `SELECT COUNT(*) FROM applications WHERE `+w, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := db.query(ctx, `SELECT `+appCols+` FROM applications WHERE `+w+` ORDER BY created_at, id LIMIT ? OFFSET ?`,
		append(args, f.Limit, f.Offset)...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []*trunkline.Application
	for rows.Next() {
		a, err := scanApp(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, a)
	}
	return out, total, rows.Err()
}
