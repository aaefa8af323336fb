package store

import (
	"context"
	"database/sql"
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
