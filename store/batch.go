package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/trunkline/trunkline"
)

// Group commit for the hot write paths (messages accepted, sent, receipts, callbacks
// done). Many small transactions cost mostly their commit and, on SQLite, the single
// write lock; so concurrent writes are queued to one writer goroutine that runs whatever
// is waiting in one transaction, and writes of one kind that can be applied together
// (a setWrite: accepted messages, submit results, receipts, finished callbacks, webhook
// attempts) as one statement per table for the whole batch. A write that fails is
// rolled back alone (the batch runs again with a SAVEPOINT around each write) and gets
// its own error; the others commit. A caller's write is durable when its call returns
// nil, exactly as with its own transaction. Claims and audit appends go through it too,
// so SQLite has a single writer and nothing waits in its busy handler.

// maxBatch bounds the writes per transaction, so one commit never holds the write lock
// for long. On PostgreSQL every statement is a network round trip, so a transaction of
// more writes costs little more than one of fewer: there the bound is higher. A sent
// message is about four writes (its submit result, its receipt, two callbacks done),
// so 128 writes held PostgreSQL to about 30 messages a transaction (512: 1.1–1.25× the
// messages a second in bench/sms.sh).
const maxBatch = 128

// maxBatchPostgres is maxBatch on PostgreSQL.
const maxBatchPostgres = 512

// batchLimit is the writes per transaction on db's dialect.
func (db *DB) batchLimit() int {
	if db.dialect == Postgres {
		return maxBatchPostgres
	}
	return maxBatch
}

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

// typed is a setWrite's apply for an apply that takes its requests' args as their own
// type, T.
func typed[T any](apply func(context.Context, *Tx, []T) error) func(context.Context, *Tx, []any) error {
	return func(ctx context.Context, tx *Tx, args []any) error {
		ts := make([]T, len(args))
		for i, a := range args {
			ts[i] = a.(T)
		}
		return apply(ctx, tx, ts)
	}
}

// setWrite applies many requests of one kind together, with their args in batch order.
type setWrite struct {
	apply func(ctx context.Context, tx *Tx, args []any) error
	// keys, when not nil, gives the SMSC ids (of one carrier) a request's write locks
	// (lockKeys): the writer locks those of the whole batch at once, first.
	keys func(arg any) (carrier string, keys []string)
	// joins, when not nil, is another set whose requests of the same batch this set's
	// apply takes together with its own (args then hold both kinds, in batch order):
	// a submit result and the receipt that follows it in one batch make one write of
	// the message, not two. Should the whole fail, each request runs alone, as ever.
	joins *setWrite
}

type batcher struct {
	once sync.Once
	ch   chan *batchReq
}

// errBatchPanic reports a write that panicked inside a batch (its batch is rolled back).
var errBatchPanic = errors.New("store: a write panicked")

// write runs fn atomically, sharing a transaction with concurrent writes. fn must not
// call write itself (the writer would wait for itself). fn may run twice (a batch in
// which another write failed is rolled back and run again), so it must set its results
// afresh each time rather than accumulate them.
func (db *DB) write(ctx context.Context, fn func(ctx context.Context, tx *Tx) error) error {
	return db.writeSet(ctx, nil, nil, fn)
}

// writeSet is write with a set-based form: set.apply(arg, and the args of the other
// requests of the batch with the same set) must do what fn does for each of them.
func (db *DB) writeSet(ctx context.Context, set *setWrite, arg any, fn func(ctx context.Context, tx *Tx) error) error {
	db.batch.once.Do(func() {
		db.batch.ch = make(chan *batchReq, 4*db.batchLimit())
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

// linger is how long the writer waits for more writes when a batch is small: a commit
// rewrites every page its writes touched, so a batch of a few writes costs nearly what a
// batch of many does. Only while writes keep coming (the batch before was not alone).
const linger = time.Millisecond

func (db *DB) writer() {
	busy := false
	maxBatch := db.batchLimit()
	for first := range db.batch.ch {
		reqs := []*batchReq{first}
		lingered := !busy
	drain:
		for len(reqs) < maxBatch {
			select {
			case r := <-db.batch.ch:
				reqs = append(reqs, r)
				continue
			default:
			}
			if lingered || len(reqs) >= maxBatch/8 {
				break
			}
			lingered = true
			t := time.NewTimer(linger)
			for len(reqs) < maxBatch {
				select {
				case r := <-db.batch.ch:
					reqs = append(reqs, r)
					continue
				case <-t.C:
				}
				break drain
			}
			t.Stop()
		}
		busy = len(reqs) > 1
		db.runBatch(reqs)
	}
}

// writeRank orders a batch's writes: submit results first, then the other set-based
// writes, then accepted messages, applications, audit appends and single writes. The audit head,
// which every appender locks, is so the last lock a transaction takes: it is held for
// the end of the transaction only, and two nodes' transactions cannot wait on each
// other through it.
func writeRank(r *batchReq) int {
	switch r.set {
	case recordSends:
		return 0
	case nil, insertAccepted, createApps, auditAppends:
		return 2
	}
	return 1
}

// errWriteFailed rolls back a batch run without savepoints, to run it again with them.
var errWriteFailed = errors.New("store: a write of the batch failed")

func (db *DB) runBatch(reqs []*batchReq) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Submit results first: a receipt in the same batch as the result it follows then
	// finds its message's parts, instead of being stored as early and applied by the
	// result (three more writes). The writes of a batch come from callers waiting for
	// their own, so none depends on another's order.
	slices.SortStableFunc(reqs, func(a, b *batchReq) int {
		return cmp.Compare(writeRank(a), writeRank(b))
	})
	errs := make([]error, len(reqs))
	// First without savepoints: each costs two statements (and on SQLite a sub-journal),
	// and nearly always every write succeeds. When one fails, the batch is rolled back
	// and run again with a savepoint around each set and each write, so that only the
	// failing write is undone.
	guarded := false
	var err error
	// The callbacks the batch stores are handed to hand once it has committed.
	hand := db.hand.Load()
	var handed []*trunkline.Callback
	var after []func()
	for try := 0; ; try++ {
		clear(errs)
		err = db.batchTx(ctx, reqs, errs, guarded, hand, &handed, &after)
		switch {
		case isTxConflict(err) && try < batchRetries:
			continue // a deadlock with another node's transaction: again, as it was
		case isTxEndedIdle(err) && try < batchRetries:
			// This process stood still inside the transaction (frozen, paused) past
			// idle_in_transaction_session_timeout, and PostgreSQL ended it: nothing of it
			// was stored, and the callers are still waiting. Again, on a new connection;
			// writes of claims the others took meanwhile are refused by their fences.
			continue
		case errors.Is(err, errWriteFailed) && !guarded:
			guarded = true
			continue
		}
		break
	}
	if err == nil && len(handed) > 0 {
		hand.take(handed)
	}
	if err == nil {
		for _, f := range after {
			f()
		}
	}
	for i, r := range reqs {
		switch {
		case err != nil && (len(reqs) == 1 || errs[i] == nil):
			r.done <- err // the commit (or the batch) failed: nothing of it is stored
		default:
			r.done <- errs[i]
		}
	}
}

// batchTx runs reqs in one transaction: each set once for all its requests, each other
// write alone. guarded puts each under a savepoint (a set that fails then falls back to
// its writes one by one); unguarded, the first failure aborts with errWriteFailed.
func (db *DB) batchTx(ctx context.Context, reqs []*batchReq, errs []error, guarded bool, hand *handoff, handed *[]*trunkline.Callback, after *[]func()) error {
	return db.InTx(ctx, func(tx *Tx) (err error) {
		tx.hand = hand
		defer func() {
			if v := recover(); v != nil {
				err = fmt.Errorf("%w: %v", errBatchPanic, v)
			}
			*handed, *after = tx.handed, tx.afterCommit
		}()
		if err := lockBatchKeys(ctx, tx, reqs); err != nil {
			return err
		}
		if len(reqs) == 1 {
			errs[0] = reqs[0].fn(ctx, tx)
			return errs[0]
		}
		run := func(name string, f func() error) (fnErr, err error) {
			if guarded {
				return savepoint(ctx, tx, name, f)
			}
			if fnErr = f(); fnErr != nil {
				return fnErr, fmt.Errorf("%w: %w", errWriteFailed, fnErr)
			}
			return nil, nil
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
					if !applied[j] && (reqs[j].set == r.set || r.set.joins != nil && reqs[j].set == r.set.joins) {
						group, args = append(group, j), append(args, reqs[j].arg)
					}
				}
				if len(group) > 1 {
					ferr, err := run(fmt.Sprintf("g%d", i), func() error { return r.set.apply(ctx, tx, args) })
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
			ferr, err := run(fmt.Sprintf("w%d", i), func() error { return r.fn(ctx, tx) })
			if err != nil {
				return err
			}
			errs[i] = ferr
		}
		return nil
	})
}

// lockBatchKeys takes, on PostgreSQL, the SMSC-id locks (lockKeys) of every write of
// the batch in one sorted statement before any of them runs: the submit results and
// receipts of one transaction then never hold some keys while waiting for others, so
// two nodes' transactions cannot deadlock on them; and it is one round trip, not one
// per kind of write.
func lockBatchKeys(ctx context.Context, tx *Tx, reqs []*batchReq) error {
	if tx.db.dialect != Postgres {
		return nil
	}
	var sorted []string
	for _, r := range reqs {
		if r.set != nil && r.set.keys != nil {
			carrier, keys := r.set.keys(r.arg)
			for _, k := range keys {
				sorted = append(sorted, carrier+"|"+k)
			}
		}
	}
	if len(sorted) == 0 {
		return nil
	}
	sort.Strings(sorted)
	// The lease clock (leaseNow) in the same round trip: the writes that lock keys,
	// submit results and receipts, nearly always queue callbacks, which are leased. It
	// is read once the locks are held, as a later read would be.
	var us int64
	if err := tx.QueryRow(ctx, `SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT)
		FROM (SELECT COUNT(pg_advisory_xact_lock(hashtext(k))) FROM unnest(CAST(? AS text[])) AS k) AS locked`, sorted).Scan(&us); err != nil {
		return err
	}
	tx.leaseClock, tx.leaseRead = time.UnixMicro(us), time.Now()
	tx.locked = make(map[string]bool, len(sorted))
	for _, k := range sorted {
		tx.locked[k] = true
	}
	return nil
}

// batchRetries bounds how often a batch is run again after PostgreSQL aborted it for a
// deadlock or a serialization failure with another node's transaction.
const batchRetries = 3

// isTxEndedIdle reports whether PostgreSQL ended the transaction's session for
// standing idle in it too long (SQLSTATE 25P03; the cluster sets the limit, see
// ClusterDSN). The session ended with the transaction still open, whichever statement
// (the commit included) reports it: nothing of the transaction was stored.
func isTxEndedIdle(err error) bool {
	return err != nil && strings.Contains(err.Error(), "SQLSTATE 25P03")
}

// isTxConflict reports whether PostgreSQL aborted a transaction because of a concurrent
// one (deadlock detected, serialization failure): running it again is the remedy.
func isTxConflict(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "SQLSTATE 40P01") || strings.Contains(err.Error(), "SQLSTATE 40001"))
}

// savepoint runs fn inside a savepoint, rolled back alone when fn fails: fnErr is fn's
// error, err one of the savepoint statements' (which dooms the whole transaction).
func savepoint(ctx context.Context, tx *Tx, name string, fn func() error) (fnErr, err error) {
	if _, err := tx.Exec(ctx, "SAVEPOINT "+name); err != nil {
		return nil, err
	}
	handed, after := len(tx.handed), len(tx.afterCommit)
	if fnErr = fn(); fnErr != nil {
		tx.handed = tx.handed[:handed] // rolled back: not stored, not to hand over
		tx.afterCommit = tx.afterCommit[:after]
		if _, err := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT "+name); err != nil {
			return fnErr, err
		}
	}
	if _, err := tx.Exec(ctx, "RELEASE SAVEPOINT "+name); err != nil {
		return fnErr, err
	}
	return fnErr, nil
}
