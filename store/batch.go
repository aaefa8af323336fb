package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Group commit for the hot write paths (messages accepted, sent, receipts, callbacks
// done). Many small transactions cost mostly their commit and, on SQLite, the single
// write lock; so concurrent writes are queued to one writer goroutine that runs whatever
// is waiting in one transaction, each write inside its own SAVEPOINT: a write that fails
// is rolled back alone and gets its own error, the others commit. A caller's write is
// durable when its call returns nil, exactly as with its own transaction.

// maxBatch bounds the writes per transaction, so one commit never holds the write lock
// for long.
const maxBatch = 128

type batchReq struct {
	fn   func(ctx context.Context, tx *Tx) error
	done chan error
}

type batcher struct {
	once sync.Once
	ch   chan *batchReq
}

// errBatchPanic reports a write that panicked inside a batch (its batch is rolled back).
var errBatchPanic = errors.New("store: a write panicked")

// write runs fn atomically, sharing a transaction with concurrent writes. fn must not
// call write itself (the writer would wait for itself).
func (db *DB) write(ctx context.Context, fn func(ctx context.Context, tx *Tx) error) error {
	db.batch.once.Do(func() {
		db.batch.ch = make(chan *batchReq, 4*maxBatch)
		go db.writer()
	})
	req := &batchReq{fn: fn, done: make(chan error, 1)}
	select {
	case db.batch.ch <- req:
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once handed over the write happens; the caller waits for its outcome, since "not
	// known whether stored" is worse than waiting a commit.
	return <-req.done
}

func (db *DB) writer() {
	for first := range db.batch.ch {
		reqs := []*batchReq{first}
	drain:
		for len(reqs) < maxBatch {
			select {
			case r := <-db.batch.ch:
				reqs = append(reqs, r)
			default:
				break drain
			}
		}
		db.runBatch(reqs)
	}
}

func (db *DB) runBatch(reqs []*batchReq) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	errs := make([]error, len(reqs))
	err := db.InTx(ctx, func(tx *Tx) (err error) {
		defer func() {
			if v := recover(); v != nil {
				err = fmt.Errorf("%w: %v", errBatchPanic, v)
			}
		}()
		for i, r := range reqs {
			if len(reqs) == 1 {
				errs[i] = r.fn(ctx, tx)
				return errs[i]
			}
			sp := fmt.Sprintf("w%d", i)
			if _, err := tx.Exec(ctx, "SAVEPOINT "+sp); err != nil {
				return err
			}
			if errs[i] = r.fn(ctx, tx); errs[i] != nil {
				if _, err := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT "+sp); err != nil {
					return err
				}
			}
			if _, err := tx.Exec(ctx, "RELEASE SAVEPOINT "+sp); err != nil {
				return err
			}
		}
		return nil
	})
	for i, r := range reqs {
		switch {
		case err != nil && (len(reqs) == 1 || errs[i] == nil):
			r.done <- err // the commit (or the batch) failed: nothing of it is stored
		default:
			r.done <- errs[i]
		}
	}
}
