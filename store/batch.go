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
	fn func(ctx context.Context, tx *Tx) error
	// set, when not nil, is fn's set-based form: the writer applies every request of the
	// batch with the same set in one go (one multi-row statement per table instead of
	// one statement per row), and runs fn for each alone, under its own savepoint, only
	// when that fails (so one bad row fails only its own write).
	set  *setWrite
	arg  any // set's input for this request
	done chan error
}

// setWrite applies many requests of one kind together, with their args in batch order.
type setWrite struct {
	apply func(ctx context.Context, tx *Tx, args []any) error
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
	return db.writeSet(ctx, nil, nil, fn)
}

// writeSet is write with a set-based form: set.apply(arg, and the args of the other
// requests of the batch with the same set) must do what fn does for each of them.
func (db *DB) writeSet(ctx context.Context, set *setWrite, arg any, fn func(ctx context.Context, tx *Tx) error) error {
	db.batch.once.Do(func() {
		db.batch.ch = make(chan *batchReq, 4*maxBatch)
		go db.writer()
	})
	req := &batchReq{fn: fn, set: set, arg: arg, done: make(chan error, 1)}
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
		if len(reqs) == 1 {
			errs[0] = reqs[0].fn(ctx, tx)
			return errs[0]
		}
		applied := make([]bool, len(reqs))
		for i, r := range reqs {
			if applied[i] {
				continue
			}
			if r.set != nil {
				var group []int
				var args []any
				for j := i; j < len(reqs); j++ {
					if !applied[j] && reqs[j].set == r.set {
						group, args = append(group, j), append(args, reqs[j].arg)
					}
				}
				if len(group) > 1 {
					ferr, err := savepoint(ctx, tx, fmt.Sprintf("g%d", i), func() error { return r.set.apply(ctx, tx, args) })
					if err != nil {
						return err
					}
					if ferr == nil {
						for _, j := range group {
							applied[j] = true
						}
						continue
					}
					// One of them is bad: each alone below, so the others still commit.
				}
			}
			applied[i] = true
			ferr, err := savepoint(ctx, tx, fmt.Sprintf("w%d", i), func() error { return r.fn(ctx, tx) })
			if err != nil {
				return err
			}
			errs[i] = ferr
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

// savepoint runs fn inside a savepoint, rolled back alone when fn fails: fnErr is fn's
// error, err one of the savepoint statements' (which dooms the whole transaction).
func savepoint(ctx context.Context, tx *Tx, name string, fn func() error) (fnErr, err error) {
	if _, err := tx.Exec(ctx, "SAVEPOINT "+name); err != nil {
		return nil, err
	}
	if fnErr = fn(); fnErr != nil {
		if _, err := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT "+name); err != nil {
			return fnErr, err
		}
	}
	if _, err := tx.Exec(ctx, "RELEASE SAVEPOINT "+name); err != nil {
		return fnErr, err
	}
	return fnErr, nil
}
