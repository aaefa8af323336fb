package store_test

import (
	"context"
	"testing"

	"github.com/trunkline/trunkline/store"
	"github.com/trunkline/trunkline/store/storetest"
)

// TestPostgresPlansEachExecution: connections plan every execution for its values
// (a generic plan made on near-empty tables scans them), unless the operator's DSN
// says otherwise.
func TestPostgresPlansEachExecution(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	if dsn == "" {
		t.Skip("needs " + storetest.PostgresEnv)
	}
	ctx := context.Background()
	for _, c := range []struct{ dsn, want string }{
		{dsn, "force_custom_plan"},
		{dsn + "&plan_cache_mode=auto", "auto"},
	} {
		db, err := store.Open(ctx, c.dsn)
		if err != nil {
			t.Fatal(err)
		}
		var mode string
		if err := db.SQL().QueryRowContext(ctx, "SHOW plan_cache_mode").Scan(&mode); err != nil {
			t.Fatal(err)
		}
		db.Close()
		if mode != c.want {
			t.Errorf("plan_cache_mode %q, want %q", mode, c.want)
		}
	}
}
