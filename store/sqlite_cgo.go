//go:build cgo && !sqlite_purego

package store

import (
	"context"
	"database/sql"
	"database/sql/driver"

	"github.com/mattn/go-sqlite3"
)

// SQLiteDriver names the SQLite driver this build links: the cgo one (mattn/go-sqlite3,
// SQLite's C code compiled in) unless built with CGO_ENABLED=0 or -tags sqlite_purego.
// The writer's CPU per statement is about half the pure-Go driver's (bench/README.md).
const SQLiteDriver = "mattn/go-sqlite3 (cgo)"

// openSQLite opens the SQLite file at path with each pragma ("name=value") set on every
// new connection. immediate makes BEGIN take the write lock at once.
func openSQLite(path string, immediate bool, pragmas ...string) (*sql.DB, error) {
	dsn := "file:" + path
	if immediate {
		dsn += "?_txlock=immediate"
	}
	d := &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		for _, p := range pragmas {
			if _, err := c.Exec("PRAGMA "+p, nil); err != nil {
				return err
			}
		}
		return nil
	}}
	return sql.OpenDB(connector{d: d, dsn: dsn}), nil
}

// connector opens connections of one DSN through a driver of our own (one with a
// ConnectHook), without registering it by name.
type connector struct {
	d   *sqlite3.SQLiteDriver
	dsn string
}

func (c connector) Connect(context.Context) (driver.Conn, error) { return c.d.Open(c.dsn) }
func (c connector) Driver() driver.Driver                        { return c.d }
