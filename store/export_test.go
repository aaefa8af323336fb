package store

import (
	"context"
	"database/sql"
	"time"
)

// The store's tests run as package store_test, so they can share storetest (which
// imports store) with every other package's tests; these give them the few unexported
// methods they exercise.

func (db *DB) Write(ctx context.Context, fn func(ctx context.Context, tx *Tx) error) error {
	return db.write(ctx, fn)
}

func (db *DB) Migrate(ctx context.Context) error { return db.migrate(ctx) }

func (db *DB) Exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return db.exec(ctx, q, args...)
}

// QueuedWrites is how many writes wait for the group-commit writer.
func (db *DB) QueuedWrites() int { return len(db.batch.ch) }

// SetNumberHoldersTTL shortens how long a cached number holder is used.
func (db *DB) SetNumberHoldersTTL(d time.Duration) {
	db.numbers.mu.Lock()
	db.numbers.ttl = d
	db.numbers.mu.Unlock()
}

func IsUniqueViolation(err error) bool { return isUniqueViolation(err) }

// LeaseNowTwice reads the lease clock twice in one transaction.
func (db *DB) LeaseNowTwice(ctx context.Context) (a, b time.Time, err error) {
	err = db.InTx(ctx, func(tx *Tx) error {
		if a, err = db.leaseNow(ctx, tx); err != nil {
			return err
		}
		b, err = db.leaseNow(ctx, tx)
		return err
	})
	return a, b, err
}
