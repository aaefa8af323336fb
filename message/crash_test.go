package message_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/account"
	"github.com/trunkline/trunkline/keys"
	"github.com/trunkline/trunkline/message"
	"github.com/trunkline/trunkline/store/storetest"
)

// routableOnly routes every destination but is never asked to send: the service that
// holds it dies (is dropped) before its workers run.
type routableOnly struct{}

func (routableOnly) Routable(string) bool { return true }
func (routableOnly) Send(context.Context, *message.Submission) (*message.SendResult, error) {
	panic("a dead node sent a message")
}

// TestCrashBetweenCommitAndHandOff: Send commits a message already leased to this node
// and then hands it to the node's workers in memory. If the process dies between the
// two, the message is only in the database, leased to a node that will never send it.
// When the node comes back (same node name), its start frees its old leases and the
// claim query picks the message up: it is sent exactly once and delivered.
func TestCrashBetweenCommitAndHandOff(t *testing.T) {
	for _, db := range storetest.Open(t) {
		t.Run(string(db.Dialect()), func(t *testing.T) {
			ctx := context.Background()
			ring, _ := keys.NewRing(bytes.Repeat([]byte{5}, 32)) // the key newStack's services use
			owner, err := account.New(db, ring, account.Options{}).CreateMain(ctx, "before the crash")
			if err != nil {
				t.Fatal(err)
			}
			// The node before the crash: Queue commits and hands off to workers that never
			// run (never Run), which is what a kill -9 right after the commit leaves.
			dead := message.New(message.Options{DB: db, Ring: ring, Sender: routableOnly{}})
			acc, err := dead.Queue(ctx, trunkline.SendRequest{AccountID: owner.Account.ID, Src: "14155550100", Dsts: []string{"447700900777"},
				Text: "sent once after a crash", LogMode: trunkline.LogAll, Platform: true})
			if err != nil {
				t.Fatal(err)
			}
			var state, leaseOwner string
			var leaseUntil int64
			if err := db.SQL().QueryRow(db.Rebind(`SELECT state, lease_owner, lease_until FROM messages WHERE uuid = ?`), acc.UUIDs[0]).
				Scan(&state, &leaseOwner, &leaseUntil); err != nil || state != trunkline.MsgQueued || leaseOwner == "" || leaseUntil == 0 {
				t.Fatalf("before the restart: %s leased to %q until %d (%v)", state, leaseOwner, leaseUntil, err)
			}
			// The node restarts (same node name: the host name) with working carriers.
			s := newStack(t, db, nil)
			s.waitState(t, acc.UUIDs[0], trunkline.MsgDelivered)
			n := 0
			for _, r := range s.sandbox.Recent() {
				if r.Text == "sent once after a crash" {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("the SMSC got the message %d times, want once", n)
			}
		})
	}
}
