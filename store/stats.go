package store

import (
	"context"
	"fmt"
	"time"
)

// PostgreSQL plans each statement from the statistics ANALYZE gathers. A new database
// has none until autovacuum first visits its tables, a minute (autovacuum_naptime) or
// more after they fill; meanwhile the planner guesses, and for the hot writes it
// guessed scans of message_parts whose cost grew with every message sent. So the
// store analyzes its hot tables itself whenever one has more than doubled in size
// since it was last analyzed (or never was): a few times while a database is young,
// rarely after that, when autovacuum's own rule (10% changed) comes first.

// statsTables are the tables that every message adds to and whose plans matter.
// Not callbacks and early_receipts: their rows live a moment, so they are mostly dead
// rows until vacuum, and ANALYZE without VACUUM would record a few live rows spread
// over many pages, from which the planner prefers scanning them (it looks their ids
// up in the primary key without statistics, and after autovacuum's VACUUM and
// ANALYZE).
var statsTables = []string{"messages", "message_parts"}

// statsEvery is how often the store checks its hot tables' sizes.
const statsEvery = 5 * time.Second

// statsMinPages is the size (8 KB pages) below which a table is left to autovacuum:
// small tables plan well enough on guesses.
const statsMinPages = 16

// RefreshStatistics analyzes (on PostgreSQL) each hot table of at least
// statsMinPages that more than doubled in size since it was last analyzed, and
// returns their names. The sizes are the files' (pg_relation_size) and the pages
// ANALYZE last counted (pg_class.relpages), not the statistics collector's counters,
// which lag. On SQLite it does nothing: its planner needs no statistics for these
// statements (TestHotQueriesUseIndexes).
func (db *DB) RefreshStatistics(ctx context.Context) ([]string, error) {
	if db.dialect != Postgres {
		return nil, nil
	}
	var stale []string
	for _, table := range statsTables {
		var now, then int64
		err := db.sql.QueryRowContext(ctx, `SELECT pg_relation_size(oid) / current_setting('block_size')::bigint, relpages
			FROM pg_class WHERE oid = to_regclass($1)`, table).Scan(&now, &then)
		if err != nil {
			return stale, fmt.Errorf("size of %s: %w", table, err)
		}
		if now >= statsMinPages && now > 2*then {
			stale = append(stale, table)
		}
	}
	for _, table := range stale {
		if err := analyzeSample(ctx, db, table); err != nil {
			return stale, fmt.Errorf("analyze %s: %w", table, err)
		}
	}
	return stale, nil
}

// statsTarget is the statistics target of the store's own ANALYZE: a sample of 3,000
// rows (300 × target) instead of PostgreSQL's default 30,000. What these plans need is
// the table's size and a rough spread, not fine histograms: at 20,000 messages the
// ANALYZE of messages took 107–140 ms with the default and 16 ms with this, and it
// ran twice in every 20,000-message run of bench/sms.sh (6% of PostgreSQL's CPU).
// Autovacuum's own ANALYZE, with the configured target, replaces it later.
const statsTarget = 10

// analyzeSample analyzes table with statsTarget. ANALYZE reads a sample and takes a
// lock that lets writes go on; two nodes analyzing one table at once queue on it,
// harmlessly. SET LOCAL ends with the transaction, so the pooled connection keeps
// the server's default.
func analyzeSample(ctx context.Context, db *DB, table string) error {
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`SET LOCAL default_statistics_target = %d`, statsTarget)); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `ANALYZE `+table); err != nil {
		return err
	}
	return tx.Commit()
}

// statsLoop runs RefreshStatistics every statsEvery until ctx ends. A failure is
// left for the next round: autovacuum stays the fallback.
func (db *DB) statsLoop(ctx context.Context) {
	t := time.NewTicker(statsEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, time.Minute)
		db.RefreshStatistics(rctx)
		cancel()
	}
}
