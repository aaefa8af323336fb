package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	. "github.com/trunkline/trunkline/store"
)

// TestGroupCommit: concurrent writes share transactions; a failing write is rolled back
// alone and gets its own error; every other write is stored.
func TestGroupCommit(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		mkAccount(t, db, "MA1", "")
		boom := errors.New("boom")
		var wg sync.WaitGroup
		errs := make([]error, 200)
		for i := range errs {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				errs[i] = db.Write(ctx, func(ctx context.Context, tx *Tx) error {
					if _, err := tx.Exec(ctx, `INSERT INTO callbacks (account_id, kind, object_id, url, method, params_enc, created_at, next_attempt_at)
						VALUES (?, 'k', ?, 'u', 'POST', ?, 0, 0)`, "MA1", fmt.Sprint(i), []byte{1}); err != nil {
						return err
					}
					if i%10 == 0 {
						return boom // after its insert: the savepoint must undo it
					}
					return nil
				})
			}(i)
		}
		wg.Wait()
		for i, err := range errs {
			if (i%10 == 0) != errors.Is(err, boom) || (i%10 != 0 && err != nil) {
				t.Fatalf("write %d: %v", i, err)
			}
		}
		n, err := db.PendingCallbacks(ctx)
		if err != nil || n != 180 {
			t.Fatalf("%d rows stored, want 180 (%v)", n, err)
		}
	})
}

// TestManyTransactionsNoPoolDeadlock: more concurrent transactions than pooled
// connections, each running statements not prepared yet. Preparing on the pool from
// inside a transaction deadlocked here once (every connection held by a transaction
// waiting for SQLite's write lock, the lock holder waiting for a connection).
func TestManyTransactionsNoPoolDeadlock(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB) {
		mkAccount(t, db, "MA1", "")
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for i := 0; i < 64; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				errs <- db.InTx(ctx, func(tx *Tx) error {
					// A distinct query text each: none is in the statement cache.
					_, err := tx.Exec(ctx, fmt.Sprintf(`INSERT INTO callbacks (account_id, kind, object_id, url, method, params_enc,
						created_at, next_attempt_at) VALUES (?, 'k%d', 'o', 'u', 'POST', ?, 0, 0)`, i), "MA1", []byte{1})
					return err
				})
			}(i)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	})
}
