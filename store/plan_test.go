package store_test

import (
	"context"
	"testing"
	"time"

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

// TestLeaseClockInTransaction: on PostgreSQL leases are judged by the database's
// clock, read once per transaction and carried on by this process's: a node whose own
// clock is an hour off still gets the database's time, and later reads in the same
// transaction do not go back.
func TestLeaseClockInTransaction(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	if dsn == "" {
		t.Skip("needs " + storetest.PostgresEnv)
	}
	ctx := context.Background()
	db, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
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
