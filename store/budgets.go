package store

import (
	"context"
	"errors"
	"time"

	"github.com/trunkline/trunkline"
)

// errBudgetSpent rolls back a TakeSendBudgets transaction that found a budget used up.
var errBudgetSpent = errors.New("send budget spent")

// TakeSendBudgets spends one send at now from every budget, all or none: it returns -1
// when all were spent, or the index of the first budget that had nothing left (and then
// no budget is charged, so a refused send costs the other counters nothing). Each
// counter is one atomic upsert, so concurrent sends on any number of nodes never take
// more than a window's limit.
func (db *DB) TakeSendBudgets(ctx context.Context, now time.Time, budgets []trunkline.SendBudget) (int, error) {
	refused := -1
	err := db.InTx(ctx, func(tx *Tx) error {
		for i, b := range budgets {
			if b.Limit < 1 || b.Window <= 0 {
				refused = i
				return errBudgetSpent
			}
			w := b.Window.Microseconds()
			start := micros(now) / w * w
			res, err := tx.Exec(ctx, `INSERT INTO send_budgets (bucket, window_start, sends) VALUES (?, ?, 1)
				ON CONFLICT (bucket, window_start) DO UPDATE SET sends = send_budgets.sends + 1
				WHERE send_budgets.sends < ?`, b.Bucket, start, b.Limit)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n != 1 {
				refused = i
				return errBudgetSpent
			}
		}
		return nil
	})
	if errors.Is(err, errBudgetSpent) {
		return refused, nil
	}
	return -1, err
}

// DeleteOldSendBudgets removes the counters of windows that started before cutoff.
func (db *DB) DeleteOldSendBudgets(ctx context.Context, cutoff time.Time) error {
	_, err := db.exec(ctx, `DELETE FROM send_budgets WHERE window_start < ?`, micros(cutoff))
	return err
}
