package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/trunkline/trunkline/store/storetest"
)

func TestZZPlan(t *testing.T) {
	db := storetest.Open(t)[0]
	ctx := context.Background()
	rowsOf := func(row string, n int) string { return strings.TrimSuffix(strings.Repeat(row+", ", n), ", ") }
	qs := []string{
		`UPDATE messages SET state = v.column2, error_code = v.column3, carrier = v.column4,
		sent_at = COALESCE(sent_at, v.column5), updated_at = v.column6, next_attempt_at = v.column7, lease_until = 0
		FROM (VALUES ` + rowsOf(`(?, ?, ?, ?, CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS INTEGER), CAST(? AS BIGINT))`, 4) + `) AS v
		WHERE messages.uuid = v.column1 AND messages.state = 'queued' RETURNING uuid`,
		`UPDATE message_parts SET state = v.column3, error_code = v.column4
		FROM (VALUES ` + rowsOf(`(?, CAST(? AS INTEGER), ?, ?)`, 4) + `) AS v
		WHERE message_parts.message_uuid = v.column1 AND message_parts.seq = v.column2`,
		`UPDATE messages SET
			state = CASE WHEN EXISTS (SELECT 1 FROM message_parts p WHERE p.message_uuid = messages.uuid AND p.state <> 'delivered') THEN 'undelivered' ELSE 'delivered' END,
			updated_at = ?
		FROM (VALUES ` + rowsOf(`(?, ?, CAST(? AS INTEGER))`, 4) + `) AS v
		WHERE messages.uuid = v.column1 AND messages.state = 'sent'
			AND NOT EXISTS (SELECT 1 FROM message_parts p WHERE p.message_uuid = messages.uuid AND p.state = 'sent')
			AND (SELECT COUNT(DISTINCT p.seq) FROM message_parts p WHERE p.message_uuid = messages.uuid) >= messages.units
		RETURNING uuid`,
		`SELECT smsc_key, message_uuid, seq FROM message_parts WHERE carrier = ? AND smsc_key IN (?, ?, ?)`,
		`UPDATE callbacks SET lease_until = ?, attempts = attempts + 1
		WHERE id IN (SELECT id FROM callbacks WHERE next_attempt_at <= ? AND lease_until <= ? ORDER BY next_attempt_at LIMIT ?)
		AND lease_until <= ? RETURNING id`,
		`UPDATE messages SET lease_until = ?, lease_owner = ?, attempts = attempts + 1
		WHERE uuid IN (SELECT uuid FROM messages WHERE state = 'queued' AND next_attempt_at <= ? AND lease_until <= ?
			ORDER BY next_attempt_at LIMIT ?) AND lease_until <= ? RETURNING uuid`,
	}
	for _, q := range qs {
		args := make([]any, strings.Count(q, "?"))
		for i := range args {
			args[i] = 1
		}
		rows, err := db.SQL().QueryContext(ctx, "EXPLAIN QUERY PLAN "+q, args...)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Println("----", q[:60])
		for rows.Next() {
			var id, parent, notused int
			var detail string
			rows.Scan(&id, &parent, &notused, &detail)
			fmt.Println(id, parent, detail)
		}
		rows.Close()
	}
}
