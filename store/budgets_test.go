package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/trunkline/trunkline"
	. "github.com/trunkline/trunkline/store"
)

func TestTakeSendBudgets(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		now := time.Date(2026, 11, 27, 12, 30, 0, 0, time.UTC)
		hour := trunkline.SendBudget{Bucket: "global:hour", Window: time.Hour, Limit: 3}
		prefix := trunkline.SendBudget{Bucket: "prefix:1415", Window: time.Hour, Limit: 2}
		take := func(at time.Time, b ...trunkline.SendBudget) int {
			t.Helper()
			i, err := db.TakeSendBudgets(ctx, at, b)
			if err != nil {
				t.Fatal(err)
			}
			return i
		}
		if i := take(now, hour, prefix); i != -1 {
			t.Fatalf("first send refused by budget %d", i)
		}
		if i := take(now, hour, prefix); i != -1 {
			t.Fatalf("second send refused by budget %d", i)
		}
		// The prefix is spent: the send is refused, and the global counter is not charged.
		if i := take(now, hour, prefix); i != 1 {
			t.Fatalf("third send to the prefix: got %d, want refusal by budget 1", i)
		}
		if i := take(now, hour); i != -1 {
			t.Fatalf("global budget was charged by a refused send (got %d)", i)
		}
		if i := take(now, hour); i != 0 {
			t.Fatalf("fourth send: got %d, want refusal by the global budget", i)
		}
		// The next window starts fresh.
		if i := take(now.Add(30*time.Minute), hour, prefix); i != -1 {
			t.Fatalf("next hour refused by budget %d", i)
		}
		if i := take(now, trunkline.SendBudget{Bucket: "x", Window: time.Hour, Limit: 0}); i != 0 {
			t.Fatalf("a zero limit allowed a send (%d)", i)
		}
		// Concurrent sends never take more than the limit.
		day := trunkline.SendBudget{Bucket: "global:day", Window: 24 * time.Hour, Limit: 5}
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok := 0
		for range 12 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				i, err := db.TakeSendBudgets(ctx, now, []trunkline.SendBudget{day})
				if err != nil {
					t.Error(err)
					return
				}
				if i == -1 {
					mu.Lock()
					ok++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if ok != 5 {
			t.Fatalf("%d concurrent sends passed a limit of 5", ok)
		}
		if err := db.DeleteOldSendBudgets(ctx, now.Add(48*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if i := take(now, day); i != -1 {
			t.Fatalf("swept budget still refuses (%d)", i)
		}
	})
}
