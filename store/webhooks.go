package store

import (
	"context"
	"time"

	"github.com/trunkline/trunkline"
)

// RecordAttempt stores one webhook delivery attempt (what the webhook client's Recorder asks for). The
// URL has no query string and no parameter values: nothing secret reaches this table.
func (db *DB) RecordAttempt(ctx context.Context, a trunkline.WebhookAttempt) error {
	// Through the group-commit writer: callbacks come two per message.
	return db.write(ctx, func(ctx context.Context, tx *Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO webhook_attempts (account_id, kind, object_id, url, attempt, status, error_class, latency_us, at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, a.AccountID, a.Kind, a.ObjectID, a.URL, a.Number, a.Status, a.ErrorClass,
			a.Latency.Microseconds(), micros(a.Time))
		return err
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
