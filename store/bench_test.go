package store_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/trunkline/trunkline"
	. "github.com/trunkline/trunkline/store"
	"github.com/trunkline/trunkline/store/storetest"
)

// BenchmarkMessageFlow runs the store's share of one outbound message as the server
// does it, from 64 goroutines through the group-commit writer: the accepted message
// (with its sealed payload), its submit result (one part, a status callback queued), its
// receipt (the final callback queued), and the two callbacks' delivery bookkeeping
// (handed over in memory, a first-try success: no attempt row, the outbox row deleted). It
// reports the process CPU per message (cpu-µs/msg: what the SQLite driver choice
// changes) beside the wall time per message.
//
//	go test ./store -run '^$' -bench MessageFlow -benchtime 20000x                       # cgo driver
//	go test ./store -run '^$' -bench MessageFlow -benchtime 20000x -tags sqlite_purego   # pure Go
func BenchmarkMessageFlow(b *testing.B) {
	for _, db := range storetest.Open(b) {
		a := &trunkline.Account{ID: "MA1", Name: "bench", Enabled: true}
		if err := db.CreateAccount(context.Background(), a, &trunkline.Credential{ID: "CRMA1", TokenMAC: []byte("mac"), TokenEnc: []byte("enc")}); err != nil {
			b.Fatal(err)
		}
		b.Run(string(db.Dialect())+"/"+driverName(db), func(b *testing.B) { benchFlow(b, db) })
	}
}

var benchRuns atomic.Int64

func driverName(db *DB) string {
	if db.Dialect() == Postgres {
		return "pgx"
	}
	return SQLiteDriver
}

func benchFlow(b *testing.B, db *DB) {
	ctx := context.Background()
	run := benchRuns.Add(1) // b.N grows over runs on the same store: new ids each run
	before, err := db.MessageCounts(ctx)
	if err != nil {
		b.Fatal(err)
	}
	cb := func(m *trunkline.Message) *trunkline.Callback {
		return &trunkline.Callback{AccountID: m.AccountID, Kind: "message_status", ObjectID: m.UUID, URL: "http://127.0.0.1/cb",
			Method: "POST", ParamsEnc: make([]byte, 200)}
	}
	var next atomic.Int64
	worker := func() error {
		for {
			i := next.Add(1)
			if i > int64(b.N) {
				return nil
			}
			uuid := fmt.Sprintf("0193a7c0-%04d-7000-8000-%012d", run, i)
			m := &trunkline.Message{UUID: uuid, AccountID: "MA1", Direction: "outbound", Type: "sms", LogMode: "true",
				From: "14155550100", To: fmt.Sprint(14155560000 + i%10000), Body: "Hello from the benchmark", State: trunkline.MsgQueued,
				Units: 1, PayloadEnc: make([]byte, 120), ExpiresAt: time.Now().Add(time.Hour), RequesterIP: "127.0.0.1",
				CallbackURL: "http://127.0.0.1/cb", CallbackMethod: "POST", LeaseOwner: "bench", LeaseUntil: time.Now().Add(time.Minute)}
			if err := db.InsertMessages(ctx, []*trunkline.Message{m}, nil); err != nil {
				return err
			}
			id := fmt.Sprintf("%x", run<<40+i)
			keys := []string{"s:" + id, "n:" + fmt.Sprint(run<<40+i)}
			if _, err := db.RecordSend(ctx, uuid, trunkline.SendOutcome{State: trunkline.MsgSent, Carrier: "c1", Erase: true, Callback: cb,
				RetryAt: time.Now(), Parts: []trunkline.Part{{Seq: 1, Keys: keys}},
				Attempts: []trunkline.Attempt{{Carrier: "c1", Status: "ok", Latency: time.Millisecond, At: time.Now()}}}); err != nil {
				return err
			}
			if _, err := db.ApplyReceipt(ctx, "c1", keys, trunkline.MsgDelivered, "000", true, cb); err != nil {
				return err
			}
		}
	}
	// The callbacks come to 16 deliverers in memory after their commit, as in the server
	// (HandCallbacks); a delivery's bookkeeping is its attempt record and the row's delete.
	handed := make(chan *trunkline.Callback, 2*b.N+64)
	db.HandCallbacks(nil, time.Minute, func(cbs []*trunkline.Callback) {
		for _, c := range cbs {
			handed <- c
		}
	})
	defer db.HandCallbacks(nil, 0, nil)
	var finished atomic.Int64
	deliverer := func() error {
		for finished.Load() < 2*int64(b.N) {
			var c *trunkline.Callback
			select {
			case c = <-handed:
			case <-time.After(10 * time.Millisecond):
				continue
			}
			if err := db.RecordAttempt(ctx, trunkline.WebhookAttempt{AccountID: c.AccountID, Kind: c.Kind, ObjectID: c.ObjectID,
				URL: c.URL, Number: 1, Status: 200, Time: time.Now()}); err != nil {
				return err
			}
			if err := db.FinishCallback(ctx, c.ID, c.LeaseOwner); err != nil {
				return err
			}
			finished.Add(1)
		}
		return nil
	}
	var errOnce sync.Once
	var firstErr error
	cpu0 := cpuTime()
	b.ResetTimer()
	var wg sync.WaitGroup
	for g := 0; g < 64+16; g++ {
		f := worker
		if g >= 64 {
			f = deliverer
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil {
				errOnce.Do(func() { firstErr = err })
				finished.Store(2 * int64(b.N)) // the deliverers stop
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/msg")
	if counts, err := db.MessageCounts(ctx); err != nil || counts[trunkline.MsgDelivered]-before[trunkline.MsgDelivered] != b.N {
		b.Fatalf("%v delivered, want %d (%v)", counts, b.N, err)
	}
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkFinishCallbacksBacklog finishes callbacks (the outbox row's delete after a
// delivery) from 64 goroutines while 20,000 others wait in the outbox for a retry, as
// when one customer's receiver is down: the cost of a finish must not grow with them.
//
//	go test ./store -run '^$' -bench FinishCallbacksBacklog -benchtime 20000x
func BenchmarkFinishCallbacksBacklog(b *testing.B) {
	for _, db := range storetest.Open(b) {
		b.Run(string(db.Dialect()), func(b *testing.B) {
			ctx := context.Background()
			later := time.Now().Add(time.Hour).UnixMicro()
			insert := func(n int) []int64 {
				ids := make([]int64, 0, n)
				if err := db.InTx(ctx, func(tx *Tx) error {
					for range n {
						var id int64
						if err := tx.QueryRow(ctx, `INSERT INTO callbacks (account_id, kind, object_id, url, method, params_enc,
							created_at, next_attempt_at) VALUES ('MA1', 'message_status', 'm', 'http://127.0.0.1/cb', 'POST', ?, ?, ?)
							RETURNING id`, []byte("sealed"), time.Now().UnixMicro(), later).Scan(&id); err != nil {
							return err
						}
						ids = append(ids, id)
					}
					return nil
				}); err != nil {
					b.Fatal(err)
				}
				return ids
			}
			// The benchmark function runs more than once (b.N grows): the backlog stays.
			waiting, err := db.PendingCallbacks(ctx)
			if err != nil {
				b.Fatal(err)
			}
			insert(20000 - waiting)
			ids := insert(b.N)
			var next atomic.Int64
			b.ResetTimer()
			var wg sync.WaitGroup
			errs := make(chan error, 64)
			for range 64 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := next.Add(1) - 1; i < int64(len(ids)); i = next.Add(1) - 1 {
						if err := db.FinishCallback(ctx, ids[i], ""); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
			if n, err := db.PendingCallbacks(ctx); err != nil || n != 20000 {
				b.Fatalf("pending callbacks %d, %v; want the 20,000 of the backlog", n, err)
			}
		})
	}
}
