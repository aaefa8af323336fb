package audit

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/store"
	"github.com/trunkline/trunkline/store/storetest"
)

// countingStore counts transactions, to report how many entries share one.
type countingStore struct {
	*store.DB
	txns atomic.Int64
}

func (s *countingStore) AppendAuditBatch(ctx context.Context, build trunkline.AuditBuild) (int64, error) {
	s.txns.Add(1)
	return s.DB.AppendAuditBatch(ctx, build)
}

// benchParallel appends from about 64 goroutines at once, like 64 concurrent API
// clients each making a state-changing request.
func benchParallel(b *testing.B, db *store.DB) {
	ctx := context.Background()
	st := &countingStore{DB: db}
	l := New(st, nil, Options{Node: "bench"})
	defer l.Close()
	b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := l.Append(ctx, sample(i)); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/float64(max(1, st.txns.Load())), "entries/txn")
}

// BenchmarkAppendParallel: 64 concurrent appenders on SQLite in a temporary directory.
func BenchmarkAppendParallel(b *testing.B) {
	db, err := store.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	benchParallel(b, db)
}

// BenchmarkAppendParallelPostgres is BenchmarkAppendParallel on the PostgreSQL server
// named by TRUNKLINE_TEST_POSTGRES (skipped when unset).
func BenchmarkAppendParallelPostgres(b *testing.B) {
	if os.Getenv(storetest.PostgresEnv) == "" {
		b.Skip(storetest.PostgresEnv + " is not set")
	}
	dbs := storetest.Open(b)
	benchParallel(b, dbs[len(dbs)-1])
}

// BenchmarkAppend appends from one goroutine: the latency of a lone append, where group
// commit has nothing to group.
func BenchmarkAppend(b *testing.B) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	l := New(db, nil, Options{Node: "bench"})
	defer l.Close()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := l.Append(ctx, sample(i)); err != nil {
			b.Fatal(err)
		}
	}
}
