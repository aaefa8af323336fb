package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/trunkline/trunkline"
)

// ServerKey returns the sealed platform key of that name, or trunkline.ErrNotFound.
func (db *DB) ServerKey(ctx context.Context, name string) ([]byte, error) {
	var b []byte
	err := db.queryRow(ctx, `SELECT wrapped FROM server_keys WHERE name = ?`, name).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, trunkline.ErrNotFound
	}
	return b, err
}

// AddServerKey stores a sealed platform key; trunkline.ErrConflict if one of that name exists
// (another process made it first: read that one).
func (db *DB) AddServerKey(ctx context.Context, name string, wrapped []byte) error {
	_, err := db.exec(ctx, `INSERT INTO server_keys(name, wrapped, created_at) VALUES (?, ?, ?)`, name, wrapped, micros(db.now()))
	if isUniqueViolation(err) {
		return fmt.Errorf("%w: server key %s exists", trunkline.ErrConflict, name)
	}
	return err
}

// SealedColumn names a column holding values sealed under the KEK: its table, the
// columns of the table's primary key, and the columns whose values make up each row's
// aad. The names are the caller's constants, never input.
type SealedColumn struct {
	Table, Column string
	Key           []string
	AADFrom       []string
}

// resealBatch is how many rows Reseal reads at a time.
const resealBatch = 200

// Reseal passes every non-null value of c to fn with the row's AADFrom values (as
// text) and stores what fn returns in its place; nil means leave the row as it is. The
// update is a compare-and-swap on the old value, so a row rewritten meanwhile keeps its
// new value (the next pass looks at it again). It returns how many rows it changed and
// how many it visited.
func (db *DB) Reseal(ctx context.Context, c SealedColumn, fn func(aad []string, ct []byte) ([]byte, error)) (changed, visited int, err error) {
	keys := strings.Join(c.Key, ", ")
	sel := `SELECT ` + strings.Join(append(append([]string{}, c.Key...), c.AADFrom...), ", ") + `, ` + c.Column +
		` FROM ` + c.Table + ` WHERE ` + c.Column + ` IS NOT NULL`
	where := make([]string, len(c.Key))
	for i, k := range c.Key {
		where[i] = k + ` = ?`
	}
	upd := `UPDATE ` + c.Table + ` SET ` + c.Column + ` = ? WHERE ` + strings.Join(where, ` AND `) + ` AND ` + c.Column + ` = ?`
	var after []any
	for {
		q, args := sel, []any{}
		if after != nil {
			q += ` AND (` + keys + `) > (?` + strings.Repeat(`, ?`, len(c.Key)-1) + `)`
			args = append(args, after...)
		}
		q += ` ORDER BY ` + keys + ` LIMIT ?`
		args = append(args, resealBatch)
		type row struct {
			key []any
			aad []string
			ct  []byte
		}
		var batch []row
		rows, err := db.query(ctx, q, args...)
		if err != nil {
			return changed, visited, err
		}
		for rows.Next() {
			vals := make([]any, len(c.Key)+len(c.AADFrom)+1)
			ptrs := make([]any, len(vals))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return changed, visited, err
			}
			r := row{key: vals[:len(c.Key)]}
			for _, v := range vals[len(c.Key) : len(vals)-1] {
				if b, ok := v.([]byte); ok {
					v = string(b)
				}
				r.aad = append(r.aad, fmt.Sprint(v))
			}
			r.ct, _ = vals[len(vals)-1].([]byte)
			batch = append(batch, r)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return changed, visited, err
		}
		if len(batch) == 0 {
			return changed, visited, nil
		}
		for _, r := range batch {
			visited++
			out, err := fn(r.aad, r.ct)
			if err != nil {
				return changed, visited, fmt.Errorf("%s.%s of %v: %w", c.Table, c.Column, r.key, err)
			}
			if out == nil {
				continue
			}
			res, err := db.exec(ctx, upd, append(append([]any{out}, r.key...), r.ct)...)
			if err != nil {
				return changed, visited, err
			}
			if n, _ := res.RowsAffected(); n == 1 {
				changed++
			}
		}
		after = batch[len(batch)-1].key
	}
}
