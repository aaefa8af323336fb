package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/trunkline/trunkline"
)

const numberCols = `number, country_iso, number_type, region, prefix, carrier, voice_enabled, sms_enabled, mms_enabled,
	monthly_rental_rate, setup_rate, sms_rate, voice_rate, imported_at, COALESCE(account_id, ''), COALESCE(app_id, ''),
	alias, rented_at, renewal_at`

func scanNumber(row interface{ Scan(...any) error }) (*trunkline.Number, error) {
	var n trunkline.Number
	var imported int64
	var rented, renewal sql.NullInt64
	err := row.Scan(&n.Number, &n.CountryISO, &n.Type, &n.Region, &n.Prefix, &n.Carrier, &n.VoiceEnabled, &n.SMSEnabled,
		&n.MMSEnabled, &n.MonthlyRentalRate, &n.SetupRate, &n.SMSRate, &n.VoiceRate, &imported, &n.AccountID, &n.AppID,
		&n.Alias, &rented, &renewal)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, trunkline.ErrNotFound
		}
		return nil, err
	}
	n.ImportedAt = fromMicros(imported)
	n.RentedAt, n.RenewalAt = nullMicros(rented), nullMicros(renewal)
	return &n, nil
}

// ImportNumbers adds numbers to the inventory, or refreshes the attributes of numbers
// already there (whether rented or not: rates and capabilities belong to the operator).
// It reports how many were new.
func (db *DB) ImportNumbers(ctx context.Context, ns []*trunkline.Number) (added int, err error) {
	now := micros(db.now())
	defer db.invalidateNumbers()
	err = db.InTx(ctx, func(tx *Tx) error {
		added = 0
		for _, n := range ns {
			var one int
			err := tx.QueryRow(ctx, `SELECT 1 FROM numbers WHERE number = ?`, n.Number).Scan(&one)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				_, err = tx.Exec(ctx, `INSERT INTO numbers (number, country_iso, number_type, region, prefix, carrier, voice_enabled,
					sms_enabled, mms_enabled, monthly_rental_rate, setup_rate, sms_rate, voice_rate, imported_at)
					VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, n.Number, n.CountryISO, n.Type, n.Region, n.Prefix,
					n.Carrier, n.VoiceEnabled, n.SMSEnabled, n.MMSEnabled, n.MonthlyRentalRate, n.SetupRate, n.SMSRate, n.VoiceRate, now)
				added++
			case err == nil:
				_, err = tx.Exec(ctx, `UPDATE numbers SET country_iso = ?, number_type = ?, region = ?, prefix = ?, carrier = ?,
					voice_enabled = ?, sms_enabled = ?, mms_enabled = ?, monthly_rental_rate = ?, setup_rate = ?, sms_rate = ?,
					voice_rate = ? WHERE number = ?`, n.CountryISO, n.Type, n.Region, n.Prefix, n.Carrier, n.VoiceEnabled,
					n.SMSEnabled, n.MMSEnabled, n.MonthlyRentalRate, n.SetupRate, n.SMSRate, n.VoiceRate, n.Number)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	return added, err
}

func servicesWhere(services []string) string {
	var w string
	for _, s := range services {
		switch s {
		case "voice":
			w += ` AND voice_enabled = TRUE`
		case "sms":
			w += ` AND sms_enabled = TRUE`
		case "mms":
			w += ` AND mms_enabled = TRUE`
		}
	}
	return w
}

// SearchNumbers lists inventory numbers nobody rents.
func (db *DB) SearchNumbers(ctx context.Context, f trunkline.NumberSearch) ([]*trunkline.Number, int, error) {
	w, args := `account_id IS NULL AND country_iso = ?`, []any{strings.ToUpper(f.CountryISO)}
	if f.Type != "" && f.Type != "any" {
		w += ` AND number_type = ?`
		args = append(args, f.Type)
	}
	if f.Pattern != "" {
		w += ` AND number LIKE ?`
		args = append(args, "%"+f.Pattern+"%")
	}
	if f.Region != "" {
		w += ` AND LOWER(region) = LOWER(?)`
		args = append(args, f.Region)
	}
	w += servicesWhere(f.Services)
	return db.listNumbers(ctx, w, args, f.Limit, f.Offset)
}

func (db *DB) listNumbers(ctx context.Context, where string, args []any, limit, offset int) ([]*trunkline.Number, int, error) {
	var total int
	if err := db.queryRow(ctx, `SELECT COUNT(*) FROM numbers WHERE `+where, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := db.query(ctx, `SELECT `+numberCols+` FROM numbers WHERE `+where+` ORDER BY number LIMIT ? OFFSET ?`,
		append(args, limit, offset)...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []*trunkline.Number
	for rows.Next() {
		n, err := scanNumber(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, n)
	}
	return out, total, rows.Err()
}

// RentNumber gives a free inventory number to accountID. It fails with trunkline.ErrNotFound if the
// number is not in the inventory or someone already rents it (a rented number is not
// shown to others, so the two cases are the same to a customer).
func (db *DB) RentNumber(ctx context.Context, number, accountID, appID string) (*trunkline.Number, error) {
	now := db.now()
	defer db.invalidateNumbers()
	renewal := now.AddDate(0, 1, 0)
	var n *trunkline.Number
	err := db.write(ctx, func(ctx context.Context, tx *Tx) error {
		var app any
		if appID != "" {
			app = appID
		}
		res, err := tx.Exec(ctx, `UPDATE numbers SET account_id = ?, app_id = ?, alias = '', rented_at = ?, renewal_at = ?
			WHERE number = ? AND account_id IS NULL`, accountID, app, micros(now), micros(renewal), number)
		if err != nil {
			return err
		}
		if c, _ := res.RowsAffected(); c != 1 {
			return trunkline.ErrNotFound
		}
		n, err = scanNumber(tx.QueryRow(ctx, `SELECT `+numberCols+` FROM numbers WHERE number = ?`, number))
		return err
	})
	return n, err
}

// ListRented lists numbers rented by accounts in scope.
func (db *DB) ListRented(ctx context.Context, s trunkline.Scope, f trunkline.RentedFilter) ([]*trunkline.Number, int, error) {
	w, args := scopeWhere(s, "account_id")
	if f.Type != "" {
		w += ` AND number_type = ?`
		args = append(args, f.Type)
	}
	if f.NumberStartsWith != "" {
		w += ` AND number LIKE ?`
		args = append(args, f.NumberStartsWith+"%")
	}
	if f.Subaccount != "" {
		w += ` AND account_id = ?`
		args = append(args, f.Subaccount)
	}
	if f.Alias != "" {
		w += ` AND alias = ?`
		args = append(args, f.Alias)
	}
	w += servicesWhere(f.Services)
	return db.listNumbers(ctx, w, args, f.Limit, f.Offset)
}

// RentedNumber returns one number rented by an account in scope.
func (db *DB) RentedNumber(ctx context.Context, s trunkline.Scope, number string) (*trunkline.Number, error) {
	w, args := scopeWhere(s, "account_id")
	return scanNumber(db.queryRow(ctx, `SELECT `+numberCols+` FROM numbers WHERE number = ? AND `+w, append([]any{number}, args...)...))
}

// UpdateRented applies fn to a rented number and saves the customer-owned fields
// (application, alias, owning subaccount).
func (db *DB) UpdateRented(ctx context.Context, s trunkline.Scope, number string, fn func(*trunkline.Number) error) (*trunkline.Number, error) {
	var n *trunkline.Number
	defer db.invalidateNumbers()
	err := db.write(ctx, func(ctx context.Context, tx *Tx) error {
		w, args := scopeWhere(s, "account_id")
		var err error
		n, err = scanNumber(tx.QueryRow(ctx, `SELECT `+numberCols+` FROM numbers WHERE number = ? AND `+w, append([]any{number}, args...)...))
		if err != nil {
			return err
		}
		if err := fn(n); err != nil {
			return err
		}
		var app any
		if n.AppID != "" {
			app = n.AppID
		}
		_, err = tx.Exec(ctx, `UPDATE numbers SET app_id = ?, alias = ?, account_id = ? WHERE number = ?`, app, n.Alias, n.AccountID, number)
		return err
	})
	return n, err
}

// UnrentNumber returns a rented number to the inventory.
func (db *DB) UnrentNumber(ctx context.Context, s trunkline.Scope, number string) error {
	defer db.invalidateNumbers()
	w, args := scopeWhere(s, "account_id")
	res, err := db.exec(ctx, `UPDATE numbers SET account_id = NULL, app_id = NULL, alias = '', rented_at = NULL, renewal_at = NULL
		WHERE number = ? AND `+w, append([]any{number}, args...)...)
	if err != nil {
		return err
	}
	if c, _ := res.RowsAffected(); c != 1 {
		return trunkline.ErrNotFound
	}
	return nil
}

// NumberRentedBy returns a rented number whoever rents it (inbound traffic finds its
// account this way); trunkline.ErrNotFound when nobody does.
func (db *DB) NumberRentedBy(ctx context.Context, number string) (*trunkline.Number, error) {
	return scanNumber(db.queryRow(ctx, `SELECT `+numberCols+` FROM numbers WHERE number = ? AND account_id IS NOT NULL`, number))
}
