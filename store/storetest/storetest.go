// Package storetest opens stores for tests: SQLite always, and PostgreSQL when
// PostgresEnv names a server. It is its own package so that the testing package is
// linked only into test binaries, never into trunkline.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trunkline/trunkline/store"
)

// PostgresEnv names the environment variable holding a PostgreSQL DSN for tests,
// e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable. When it is unset,
// tests run against SQLite only.
const PostgresEnv = "TRUNKLINE_TEST_POSTGRES"

// Open opens a fresh, migrated store for each dialect a test should cover: always
// SQLite in a temporary directory, and PostgreSQL in a new schema when PostgresEnv
// is set, so parallel runs never see each other's rows. Everything is closed (and the
// schema dropped) in t.Cleanup. Use db.Dialect() to name subtests.
func Open(t testing.TB) []*store.DB {
	t.Helper()
	ctx := context.Background()
	var dbs []*store.DB

	lite, err := store.Open(ctx, filepath.Join(t.TempDir(), "test.db"))
	if err != nil {
		t.Fatalf("open sqlite store: %v", err)
	}
	t.Cleanup(func() { lite.Close() })
	dbs = append(dbs, lite)

	dsn := PostgresDSN(t)
	if dsn == "" {
		return dbs
	}
	pg, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("open postgres store: %v", err)
	}
	t.Cleanup(func() { pg.Close() })
	return append(dbs, pg)
}

// PostgresDSN returns the DSN of a new, empty schema on the PostgresEnv server (dropped
// in t.Cleanup), for tests where several processes or nodes share one database; ""
// when PostgresEnv is unset.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	dsn := os.Getenv(PostgresEnv)
	if dsn == "" {
		return ""
	}
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatalf("open %s: %v", PostgresEnv, err)
	}
	t.Cleanup(func() { admin.Close() })
	var b [6]byte
	rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatalf("create test schema: %v", err)
	}
	// Registered before the store's Close so it runs after it (cleanups run LIFO).
	t.Cleanup(func() {
		if _, err := admin.ExecContext(context.Background(), `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			t.Errorf("drop test schema %s: %v", schema, err)
		}
	})
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	// pgx passes unknown DSN parameters to the server as run-time settings.
	return dsn + sep + "search_path=" + schema
}
