package store

import (
	"context"
	"time"

	"github.com/trunkline/trunkline"
)

// MessageDayCounts counts the scope's messages created since start (a UTC midnight) by
// day and state, in the database: the dashboard's chart costs one grouped query however
// many messages there are.
func (db *DB) MessageDayCounts(ctx context.Context, s trunkline.Scope, start time.Time) ([]trunkline.DayCount, error) {
	w, args := scopeWhere(s, "account_id")
	args = append([]any{micros(start)}, append(args, micros(start))...)
	rows, err := db.query(ctx, `SELECT (created_at - ?) / 86400000000, state, COUNT(*) FROM messages
		WHERE `+w+` AND created_at >= ? GROUP BY 1, 2`, args...)
	return collect(rows, err, func(row interface{ Scan(...any) error }) (trunkline.DayCount, error) {
		var d trunkline.DayCount
		err := row.Scan(&d.Day, &d.State, &d.N)
		return d, err
	})
}

// CallDayCounts counts the scope's finished calls that ended since start by day, whether
// answered, and hangup cause.
func (db *DB) CallDayCounts(ctx context.Context, s trunkline.Scope, start time.Time) ([]trunkline.DayCount, error) {
	w, args := scopeWhere(s, "account_id")
	args = append([]any{micros(start)}, append(args, trunkline.CallCompleted, micros(start))...)
	rows, err := db.query(ctx, `SELECT (ended_at - ?) / 86400000000, answered_at IS NOT NULL, hangup_cause_name,
		hangup_cause_code, COUNT(*) FROM calls WHERE `+w+` AND state = ? AND ended_at >= ? GROUP BY 1, 2, 3, 4`, args...)
	return collect(rows, err, func(row interface{ Scan(...any) error }) (trunkline.DayCount, error) {
		var d trunkline.DayCount
		err := row.Scan(&d.Day, &d.Answered, &d.CauseName, &d.CauseCode, &d.N)
		return d, err
	})
}
