package message_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/account"
	"github.com/trunkline/trunkline/keys"
	"github.com/trunkline/trunkline/message"
	"github.com/trunkline/trunkline/store/storetest"
)

// TestDrainedNodeLeavesNewMessagesToOthers: a draining node stops its workers (Run's
// context ends) while its API still accepts sends for the load balancer's grace. A
// message accepted then must not wait in the stopped node's hand-off for its lease to
// run out: it is stored unleased, and another node (newStack, same database) sends it.
func TestDrainedNodeLeavesNewMessagesToOthers(t *testing.T) {
	for _, db := range storetest.Open(t) {
		t.Run(string(db.Dialect()), func(t *testing.T) {
			ctx := context.Background()
			ring, _ := keys.NewRing(bytes.Repeat([]byte{5}, 32)) // the key newStack's services use
			owner, err := account.New(db, ring, account.Options{}).CreateMain(ctx, "drained node")
			if err != nil {
				t.Fatal(err)
			}
			drained := message.New(message.Options{DB: db, Ring: ring, Sender: routableOnly{}, Node: "drained"})
			runCtx, stop := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- drained.Run(runCtx) }()
			stop() // the drain: its workers stop claiming
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return within 10s of its context's end")
			}
			acc, err := drained.Queue(ctx, trunkline.SendRequest{AccountID: owner.Account.ID, Src: "14155550100", Dsts: []string{"447700900778"},
				Text: "accepted while draining", LogMode: trunkline.LogAll, Platform: true})
			if err != nil {
				t.Fatal(err)
			}
			var leaseUntil int64
			if err := db.SQL().QueryRow(db.Rebind(`SELECT lease_until FROM messages WHERE uuid = ?`), acc.UUIDs[0]).Scan(&leaseUntil); err != nil {
				t.Fatal(err)
			}
			if leaseUntil != 0 {
				t.Fatalf("a message accepted while draining is leased until %d; want its lease freed for the other nodes", leaseUntil)
			}
			s := newStack(t, db, nil) // another node on the same database
			s.waitState(t, acc.UUIDs[0], trunkline.MsgDelivered)
		})
	}
}
