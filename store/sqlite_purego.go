//go:build !cgo || sqlite_purego

package store

import (
	"database/sql"
	"strings"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// SQLiteDriver names the SQLite driver this build links: the pure-Go one
// (modernc.org/sqlite, SQLite translated to Go), chosen by CGO_ENABLED=0 or
// -tags sqlite_purego: no C compiler needed, about twice the writer's CPU per statement.
const SQLiteDriver = "modernc.org/sqlite (pure Go)"

// openSQLite opens the SQLite file at path with each pragma ("name=value") set on every
// new connection. immediate makes BEGIN take the write lock at once.
func openSQLite(path string, immediate bool, pragmas ...string) (*sql.DB, error) {
	q := make([]string, 0, len(pragmas)+1)
	for _, p := range pragmas {
		name, value, _ := strings.Cut(p, "=")
		q = append(q, "_pragma="+name+"("+value+")")
	}
	if immediate {
		q = append(q, "_txlock=immediate")
	}
	dsn := "file:" + path
	if len(q) > 0 {
		dsn += "?" + strings.Join(q, "&")
	}
	return sql.Open("sqlite", dsn)
}
