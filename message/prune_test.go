package message_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/keys"
	"github.com/trunkline/trunkline/message"
	"github.com/trunkline/trunkline/smpp/pdu"
	"github.com/trunkline/trunkline/store/storetest"
)

// TestRunPrunesStaleEarlyReceipts: a running service deletes receipts that never met
// their message once they are a day old, and leaves a fresh one.
func TestRunPrunesStaleEarlyReceipts(t *testing.T) {
	for _, db := range storetest.Open(t) {
		t.Run(string(db.Dialect()), func(t *testing.T) {
			ctx := context.Background()
			now := time.Now()
			db.SetClock(func() time.Time { return now.Add(-25 * time.Hour) })
			if _, err := db.ApplyReceipt(ctx, "c1", pdu.MessageIDKeys("never-sent"), trunkline.MsgDelivered, "000", true, nil); err != nil {
				t.Fatal(err)
			}
			db.SetClock(func() time.Time { return now })
			if _, err := db.ApplyReceipt(ctx, "c1", pdu.MessageIDKeys("just-now"), trunkline.MsgDelivered, "000", true, nil); err != nil {
				t.Fatal(err)
			}
			ring, _ := keys.NewRing(bytes.Repeat([]byte{5}, 32))
			svc := message.New(message.Options{DB: db, Ring: ring, Sender: routableOnly{}, PruneEvery: 10 * time.Millisecond})
			runCtx, stop := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- svc.Run(runCtx) }()
			defer func() {
				stop()
				<-done
			}()
			keysLeft := func() (ks []string) {
				rows, err := db.SQL().Query(`SELECT smsc_key FROM early_receipts ORDER BY smsc_key`)
				if err != nil {
					t.Fatal(err)
				}
				defer rows.Close()
				for rows.Next() {
					var k string
					rows.Scan(&k)
					ks = append(ks, k)
				}
				return ks
			}
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				ks := keysLeft()
				if len(ks) == 1 && ks[0] == "just-now" {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("early receipts left: %v; want only the fresh one", ks)
				}
			}
		})
	}
}
