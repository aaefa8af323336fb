package store

import (
	"context"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/webhook"
)

// Records of the domain core (package trunkline), named here while callers move over.
type WebhookAttempt = trunkline.WebhookAttempt

// recordAttempts is RecordAttempt's set-based write: a batch's attempts in one INSERT.
var recordAttempts = &setWrite{apply: func(ctx context.Context, tx *Tx, args []any) error {
	rows := make([]any, 0, len(args)*9)
	for _, v := range args {
		a := v.(*webhook.Attempt)
		rows = append(rows, a.AccountID, a.Kind, a.ObjectID, a.URL, a.Number, a.Status, a.ErrorClass, a.Latency.Microseconds(), micros(a.Time))
	}
	return insertRows(ctx, tx, `INSERT INTO webhook_attempts (account_id, kind, object_id, url, attempt, status, error_class, latency_us, at) VALUES `, 9, rows)
}}

// RecordAttempt stores one webhook delivery attempt (the webhook client's Recorder). The
// URL has no query string and no parameter values: nothing secret reaches this table.
func (db *DB) RecordAttempt(ctx context.Context, a webhook.Attempt) error {
	// Through the group-commit writer, batched: callbacks come two per message.
	return db.writeSet(ctx, recordAttempts, &a, func(ctx context.Context, tx *Tx) error {
		return recordAttempts.apply(ctx, tx, []any{&a})
	})
}

// WebhookAttempts lists the attempts to deliver callbacks about one object, oldest first.
func (db *DB) WebhookAttempts(ctx context.Context, accountID, objectID string) ([]WebhookAttempt, error) {
	rows, err := db.query(ctx, `SELECT kind, object_id, url, error_class, attempt, status, latency_us FROM webhook_attempts
		WHERE account_id = ? AND object_id = ? ORDER BY id`, accountID, objectID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []WebhookAttempt
	for rows.Next() {
		var w WebhookAttempt
		if err := rows.Scan(&w.Kind, &w.ObjectID, &w.URL, &w.ErrorClass, &w.Attempt, &w.Status, &w.LatencyMicros); err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, rows.Err()
}

var _ webhook.Recorder = (*DB)(nil)
