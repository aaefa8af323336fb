package identity

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/trunkline/trunkline/store"
)

// BenchmarkLogin measures a whole console login (user lookup, argon2id with the pinned
// DefaultParams, session row) on SQLite, from parallel clients: ns/op is the cost per
// login the machine sustains, so 1e9/(ns/op) is logins per second.
//
//	go test ./identity -run '^$' -bench Login -benchtime 40x
func BenchmarkLogin(b *testing.B) {
	db, err := store.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	f := newFixture(b, db)
	f.s.o.Hasher = NewHasher(DefaultParams, 2)
	f.s.o.LoginFails = 1 << 30
	ctx := context.Background()
	flow, err := f.s.StartSignup(ctx, SignupRequest{Email: "bench@example.com", Passphrase: goodPass, Phone: "+14155550100", Channel: "sms"})
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := f.s.CompleteSignup(ctx, flow.Token, f.codes.last("14155550100"), "", ""); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var next atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := next.Add(1)
			if _, _, err := f.s.Login(ctx, "bench@example.com", goodPass, fmt.Sprintf("10.0.%d.%d", n/250, n%250), ""); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
}
