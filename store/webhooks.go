package store

import (
	"context"
	"time"

	"github.com/trunkline/trunkline"
)

// recordAttempts is RecordAttempt's set-based write: a batch's attempts in one INSERT.
var recordAttempts = &setWrite{apply: func(ctx context.Context, tx *Tx, args []any) error {
	rows := make([]any, 0, len(args)*9)
	for _, v := range args {
		a := v.(*trunkline.WebhookAttempt)
		rows = append(rows, a.AccountID, a.Kind, a.ObjectID, a.URL, a.Number, a.Status, a.ErrorClass, a.Latency.Microseconds(), micros(a.Time))
	}
	return insertRows(ctx, tx, `INSERT INTO webhook_attempts (account_id, kind, object_id, url, attempt, status, error_class, latency_us, at) VALUES `, 9, rows)
}}

// RecordAttempt stores one webhook delivery attempt (the webhook client's Recorder). The
// URL has no query string and no parameter values: nothing secret reaches this table.
//
// A delivery that succeeds at its first attempt is not stored: that is nearly every
// delivery (two per message), the table would be most of the bytes a message leaves on
// disk, and it would say nothing but "delivered" (the metrics count it:
// trunkline_webhook_attempts_total). What is stored is every attempt of a delivery that
// did not go through at once — its failures, and the success that ended them, also in a
// later round (Redelivery) — so an object with no rows had its callbacks delivered at
// the first try (or has none yet).
func (db *DB) RecordAttempt(ctx context.Context, a trunkline.WebhookAttempt) error {
	if a.Number == 1 && a.ErrorClass == "" && !a.Redelivery {
		return nil
	}
	// Through the group-commit writer, batched: callbacks come two per message.
	return db.writeSet(ctx, recordAttempts, &a, func(ctx context.Context, tx *Tx) error {
		return recordAttempts.apply(ctx, tx, []any{&a})
	})
}

// WebhookAttempts lists the attempts to deliver callbacks about one object, oldest first.
func (db *DB) WebhookAttempts(ctx context.Context, accountID, objectID string) ([]trunkline.WebhookAttempt, error) {
	rows, err := db.query(ctx, `SELECT kind, object_id, url, error_class, attempt, status, latency_us FROM webhook_attempts
		WHERE account_id = ? AND object_id = ? ORDER BY id`, accountID, objectID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []trunkline.WebhookAttempt
	for rows.Next() {
		w := trunkline.WebhookAttempt{AccountID: accountID}
		var latency int64
		if err := rows.Scan(&w.Kind, &w.ObjectID, &w.URL, &w.ErrorClass, &w.Number, &w.Status, &latency); err != nil {
			return nil, err
		}
		w.Latency = time.Duration(latency) * time.Microsecond
		out = append(out, w)
	}
	return out, rows.Err()
}
