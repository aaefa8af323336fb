package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trunkline/trunkline/store"
	"github.com/trunkline/trunkline/store/storetest"
)

// openPostgres opens a fresh PostgreSQL store (closed at the test's end), or skips the
// test without PostgresEnv.
func openPostgres(t *testing.T) *store.DB {
	t.Helper()
	dsn := storetest.PostgresDSN(t)
	if dsn == "" {
		t.Skip("needs " + storetest.PostgresEnv)
	}
	db, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// texts returns the values of a query's one text column, in order.
func texts(t *testing.T) func(*sql.Rows, error) []string {
	return func(rows *sql.Rows, err error) []string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var v string
			if err := rows.Scan(&v); err != nil {
				t.Fatal(err)
			}
			out = append(out, v)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
}

// planText returns the lines of an EXPLAIN's result as one text.
func planText(t *testing.T) func(*sql.Rows, error) string {
	return func(rows *sql.Rows, err error) string {
		t.Helper()
		return strings.Join(texts(t)(rows, err), "\n")
	}
}

// TestPostgresGenericPlansFollowGrowth: a prepared statement's generic plan, made
// while a new database's tables are nearly empty, is made again once the table grew:
// the store analyzes a hot table when it doubles (RefreshStatistics), and ANALYZE
// invalidates the plans cached on it. Before, such a plan scanned message_parts for
// every receipt until autovacuum's first visit, a minute or more into the load.
func TestPostgresGenericPlansFollowGrowth(t *testing.T) {
	ctx := context.Background()
	db := openPostgres(t)
	conn, err := db.SQL().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	exec := func(q string) {
		t.Helper()
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	plan := func() string {
		t.Helper()
		return planText(t)(conn.QueryContext(ctx, `EXPLAIN EXECUTE receipts('c', 'k1', 'k2', 'k3', 'k4')`))
	}
	var mode string
	if err := conn.QueryRowContext(ctx, "SHOW plan_cache_mode").Scan(&mode); err != nil || mode != "auto" {
		t.Fatalf("plan_cache_mode %q (%v), want PostgreSQL's default, auto", mode, err)
	}
	exec(`INSERT INTO accounts (id, name, created_at, modified_at) VALUES ('MA1', 'a', 0, 0)`)
	exec(`INSERT INTO messages (uuid, account_id, direction, from_number, to_number, state, created_at, updated_at, expires_at, next_attempt_at)
		SELECT 'm' || g, 'MA1', 'outbound', '1', '2', 'sent', g, g, g, g FROM generate_series(1, 20000) AS g`)
	exec(`INSERT INTO message_parts (message_uuid, seq, carrier, smsc_key) SELECT 'm' || g, 1, 'c', 'k' || g FROM generate_series(1, 10) AS g`)
	exec(`ANALYZE message_parts`) // a young table's statistics: ten rows
	exec(`PREPARE receipts(text, text, text, text, text) AS SELECT smsc_key, message_uuid, seq FROM message_parts WHERE carrier = $1 AND smsc_key IN ($2, $3, $4, $5)`)
	for range 6 { // after five custom plans PostgreSQL may settle on a generic one
		exec(`EXECUTE receipts('c', 'k1', 'k2', 'k3', 'k4')`)
	}
	young := plan()
	exec(`INSERT INTO message_parts (message_uuid, seq, carrier, smsc_key) SELECT 'm' || g, 1, 'c', 'k' || g FROM generate_series(11, 20000) AS g`)
	tables, err := db.RefreshStatistics(ctx)
	if err != nil || !slices.Contains(tables, "message_parts") {
		t.Fatalf("RefreshStatistics: %v, %v; want message_parts analyzed", tables, err)
	}
	if grown := plan(); !strings.Contains(grown, "Index") || strings.Contains(grown, "Seq Scan") {
		t.Errorf("plan after growth:\n%s\n(while young:\n%s)", grown, young)
	}
}

// TestLeaseClockInTransaction: on PostgreSQL leases are judged by the database's
// clock, read once per transaction and carried on by this process's: a node whose own
// clock is an hour off still gets the database's time, and later reads in the same
// transaction do not go back.
func TestLeaseClockInTransaction(t *testing.T) {
	ctx := context.Background()
	db := openPostgres(t)
	db.SetClock(func() time.Time { return time.Now().Add(time.Hour) })
	a, b, err := db.LeaseNowTwice(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(a); d < -time.Minute || d > time.Minute {
		t.Errorf("lease clock %v is %v from the database's (the node's is an hour ahead)", a, d)
	}
	if b.Before(a) || b.Sub(a) > time.Second {
		t.Errorf("second read %v, first %v", b, a)
	}
}

// TestHotQueriesUseIndexes: on SQLite, the statements every message goes through look
// rows up by an index, never by scanning messages, their parts or callbacks; the
// claim uses the partial index of queued messages (migration 0020). Without its list
// of ids, the DELETE of delivered callbacks scanned the whole outbox.
func TestHotQueriesUseIndexes(t *testing.T) {
	var db *store.DB
	for _, d := range storetest.Open(t) {
		if d.Dialect() == store.SQLite {
			db = d
		}
	}
	ctx := context.Background()
	rowsOf := func(row string, n int) string { return strings.TrimSuffix(strings.Repeat(row+", ", n), ", ") }
	for _, c := range []struct{ name, q, wantIndex string }{
		{"submit results", `UPDATE messages SET state = v.column2, error_code = v.column3
			FROM (VALUES ` + rowsOf(`(?, ?, ?)`, 4) + `) AS v WHERE messages.uuid = v.column1 AND messages.state = 'queued' RETURNING uuid`, ""},
		{"part states", `UPDATE message_parts SET state = v.column3, error_code = v.column4
			FROM (VALUES ` + rowsOf(`(?, CAST(? AS INTEGER), ?, ?)`, 4) + `) AS v
			WHERE message_parts.message_uuid = v.column1 AND message_parts.seq = v.column2`, ""},
		{"finish", `UPDATE messages SET
			state = CASE WHEN EXISTS (SELECT 1 FROM message_parts p WHERE p.message_uuid = messages.uuid AND p.state <> 'delivered') THEN 'undelivered' ELSE 'delivered' END
			FROM (VALUES ` + rowsOf(`(?, ?)`, 4) + `) AS v
			WHERE messages.uuid = v.column1 AND messages.state = 'sent'
				AND NOT EXISTS (SELECT 1 FROM message_parts p WHERE p.message_uuid = messages.uuid AND p.state = 'sent')
				AND (SELECT COUNT(DISTINCT p.seq) FROM message_parts p WHERE p.message_uuid = messages.uuid) >= messages.units
			RETURNING uuid`, ""},
		{"receipt look-up", `SELECT smsc_key, message_uuid, seq FROM message_parts WHERE carrier = ? AND smsc_key IN (?, ?, ?)`, "message_parts_key"},
		{"callbacks done", `DELETE FROM callbacks WHERE EXISTS (SELECT 1 FROM (VALUES ` + rowsOf(`(CAST(? AS BIGINT), CAST(? AS TEXT))`, 4) + `) AS v
			WHERE v.column1 = callbacks.id AND (v.column2 = '' OR (callbacks.lease_owner = v.column2 AND callbacks.lease_until > 0)))
			AND callbacks.id IN (?, ?, ?, ?)`, ""},
		{"callback claim", `UPDATE callbacks SET lease_until = ?, attempts = attempts + 1
			WHERE id IN (SELECT id FROM callbacks WHERE next_attempt_at <= ? AND lease_until <= ? ORDER BY next_attempt_at LIMIT ?)
			AND lease_until <= ? RETURNING id`, "callbacks_due"},
		{"message claim", `UPDATE messages SET lease_until = ?, lease_owner = ?, attempts = attempts + 1
			WHERE uuid IN (SELECT uuid FROM messages WHERE state = 'queued' AND next_attempt_at <= ? AND lease_until <= ?
				ORDER BY next_attempt_at LIMIT ?) AND lease_until <= ? RETURNING uuid`, "messages_queued"},
	} {
		args := make([]any, strings.Count(c.q, "?"))
		for i := range args {
			args[i] = 1
		}
		rows, err := db.SQL().QueryContext(ctx, "EXPLAIN QUERY PLAN "+c.q, args...)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		all := strings.Join(plan, "\n")
		for _, d := range plan {
			if f := strings.Fields(d); len(f) > 1 && f[0] == "SCAN" && slices.Contains([]string{"messages", "message_parts", "p", "callbacks"}, f[1]) {
				t.Errorf("%s scans a table:\n%s", c.name, all)
			}
		}
		if c.wantIndex != "" && !strings.Contains(all, "INDEX "+c.wantIndex) {
			t.Errorf("%s does not use %s:\n%s", c.name, c.wantIndex, all)
		}
	}
}

// TestPostgresHotQueriesUseIndexes: on PostgreSQL the statements every message goes
// through look their rows up by index, even before the tables have statistics (a new
// database, until autovacuum first analyzes it: a minute or more under load), except
// the update of part states, which does once the store has analyzed its hot tables
// (RefreshStatistics). A plan that scans costs in proportion to the table: at 60,000
// messages the callbacks' DELETE and the receipts' look-up were the costliest
// statements of bench/sms.sh.
func TestPostgresHotQueriesUseIndexes(t *testing.T) {
	ctx := context.Background()
	db := openPostgres(t)
	// 20,000 sent messages with a part each, and 20,000 callbacks of which 19,900 are
	// deleted (delivered), left to no vacuum and no ANALYZE.
	for _, q := range []string{
		`INSERT INTO accounts (id, name, created_at, modified_at) VALUES ('MA1', 'a', 0, 0)`,
		`INSERT INTO messages (uuid, account_id, direction, from_number, to_number, state, created_at, updated_at, expires_at, next_attempt_at)
			SELECT 'm' || g, 'MA1', 'outbound', '1', '2', 'sent', g, g, g, g FROM generate_series(1, 20000) AS g`,
		`INSERT INTO message_parts (message_uuid, seq, carrier, smsc_key) SELECT 'm' || g, 1, 'c', 'k' || g FROM generate_series(1, 20000) AS g`,
		`INSERT INTO callbacks (account_id, kind, object_id, url, method, params_enc, created_at, next_attempt_at)
			SELECT 'MA1', 'message_status', 'm' || g, 'https://x/', 'POST', '\x00', g, g FROM generate_series(1, 20000) AS g`,
		`DELETE FROM callbacks WHERE id > 100`,
	} {
		if _, err := db.SQL().ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	rowsOf := func(row string, n int) string { return strings.TrimSuffix(strings.Repeat(row+", ", n), ", ") }
	const n = 64
	analyzed := false
	for _, c := range []struct {
		name, q string
		arg     func(i int) []any // one row's values
		analyze bool              // checked after RefreshStatistics
	}{
		{"receipt look-up", `SELECT smsc_key, message_uuid, seq FROM message_parts WHERE carrier = 'c' AND smsc_key IN (?` + strings.Repeat(", ?", n-1) + `)`,
			func(i int) []any { return []any{fmt.Sprintf("k%d", 500+i)} }, false},
		{"part states", `UPDATE message_parts SET state = v.column3, error_code = v.column4
			FROM (VALUES ` + rowsOf(`(?, CAST(? AS INTEGER), ?, ?)`, n) + `) AS v
			WHERE message_parts.message_uuid = v.column1 AND message_parts.seq = v.column2 AND message_parts.message_uuid = ANY(CAST(? AS TEXT[]))`,
			func(i int) []any { return []any{fmt.Sprintf("m%d", 500+i), 1, "delivered", ""} }, true},
		{"finish", `UPDATE messages SET
			state = CASE WHEN EXISTS (SELECT 1 FROM message_parts p WHERE p.message_uuid = messages.uuid AND p.state <> 'delivered') THEN 'undelivered' ELSE 'delivered' END
			FROM (VALUES ` + rowsOf(`(?, ?)`, n) + `) AS v
			WHERE messages.uuid = v.column1 AND messages.state = 'sent'
				AND NOT EXISTS (SELECT 1 FROM message_parts p WHERE p.message_uuid = messages.uuid AND p.state = 'sent')
				AND (SELECT COUNT(DISTINCT p.seq) FROM message_parts p WHERE p.message_uuid = messages.uuid) >= messages.units
			RETURNING uuid`,
			func(i int) []any { return []any{fmt.Sprintf("m%d", 500+i), ""} }, false},
		{"callbacks done", `DELETE FROM callbacks WHERE EXISTS (SELECT 1 FROM (VALUES ` + rowsOf(`(CAST(? AS BIGINT), CAST(? AS TEXT))`, n) + `) AS v
			WHERE v.column1 = callbacks.id AND (v.column2 = '' OR (callbacks.lease_owner = v.column2 AND callbacks.lease_until > 0)))
			AND callbacks.id = ANY(CAST(? AS BIGINT[]))`,
			func(i int) []any { return []any{int64(i + 1), ""} }, false},
		{"submit results", `UPDATE messages SET state = v.column2, error_code = v.column3
			FROM (VALUES ` + rowsOf(`(?, ?, ?)`, n) + `) AS v WHERE messages.uuid = v.column1 AND messages.state = 'queued' RETURNING uuid`,
			func(i int) []any { return []any{fmt.Sprintf("m%d", 500+i), "sent", ""} }, false},
	} {
		if c.analyze && !analyzed {
			tables, err := db.RefreshStatistics(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(tables, "message_parts") || !slices.Contains(tables, "messages") {
				t.Fatalf("RefreshStatistics analyzed %v, want messages and message_parts among them", tables)
			}
			if tables, err := db.RefreshStatistics(ctx); err != nil || len(tables) != 0 {
				t.Fatalf("RefreshStatistics right after: %v, %v; want nothing analyzed again", tables, err)
			}
			analyzed = true
		}
		var args []any
		var firsts []any // each row's first value, for a trailing array parameter
		for i := range n {
			row := c.arg(i)
			args, firsts = append(args, row...), append(firsts, row[0])
		}
		if strings.HasSuffix(c.q, "BIGINT[]))") {
			ids := make([]int64, n)
			for i, v := range firsts {
				ids[i] = v.(int64)
			}
			args = append(args, ids)
		} else if strings.HasSuffix(c.q, "TEXT[]))") {
			uuids := make([]string, n)
			for i, v := range firsts {
				uuids[i] = v.(string)
			}
			args = append(args, uuids)
		}
		all := planText(t)(db.SQL().QueryContext(ctx, "EXPLAIN "+db.Rebind(c.q), args...))
		for _, table := range []string{"messages", "message_parts", "callbacks"} {
			if strings.Contains(all, "Seq Scan on "+table) {
				t.Errorf("%s scans %s:\n%s", c.name, table, all)
			}
		}
		if c.name == "receipt look-up" && !strings.Contains(all, "Index Cond: ((smsc_key = ANY") {
			t.Errorf("%s does not look the ids up in the index:\n%s", c.name, all)
		}
	}
}
