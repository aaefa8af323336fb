package audit

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/trunkline/trunkline"
)

// TestBuildWithMessages: entries stored with messages in the messages' transaction
// (store.InsertMessagesAudited, the API's POST Message/) and entries appended alone
// interleave in one log that verifies; each message's entry is there once. A message
// insert that fails takes its entry with it, and the log goes on.
func TestBuildWithMessages(t *testing.T) {
	eachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		if err := f.db.CreateAccount(ctx, &trunkline.Account{ID: "MAwith", Name: "with", Enabled: true},
			&trunkline.Credential{ID: "CRwith", TokenMAC: []byte("m"), TokenEnc: []byte("e")}); err != nil {
			t.Fatal(err)
		}
		msg := func(id string) *trunkline.Message {
			return &trunkline.Message{UUID: id, AccountID: "MAwith", Direction: "outbound", Type: "sms", LogMode: "true",
				From: "14155550100", To: "447700900123", State: trunkline.MsgQueued, Units: 1, ExpiresAt: time.Now().Add(time.Hour)}
		}
		sent := func(id string) Entry {
			return Entry{AccountID: "MAwith", Actor: "api", Action: "message.send", ObjectType: "message", ObjectID: id,
				Outcome: "success", Detail: map[string]string{"status": "202"}}
		}
		const writers, each = 16, 25
		errs := make(chan error, 2*writers)
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(2)
			go func() { // messages with their entries
				defer wg.Done()
				for i := range each {
					id := fmt.Sprintf("m-%d-%d", w, i)
					b, err := f.log.Build(sent(id))
					if err == nil {
						err = f.db.InsertMessagesAudited(ctx, []*trunkline.Message{msg(id)}, nil, b)
					}
					if err != nil {
						errs <- err
						return
					}
				}
			}()
			go func() { // entries alone
				defer wg.Done()
				for i := range each {
					e := sample(i)
					e.ObjectID = fmt.Sprintf("alone-%d-%d", w, i)
					if _, err := f.log.Append(ctx, e); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		count := func() map[string]int {
			n := map[string]int{}
			for _, r := range f.records(t) {
				n[r.ObjectID]++
			}
			return n
		}
		n := count()
		for w := range writers {
			for i := range each {
				if id := fmt.Sprintf("m-%d-%d", w, i); n[id] != 1 {
					t.Fatalf("entry of message %s stored %d times", id, n[id])
				}
				if id := fmt.Sprintf("alone-%d-%d", w, i); n[id] != 1 {
					t.Fatalf("entry %s stored %d times", id, n[id])
				}
			}
		}
		if _, err := f.log.Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
		if r := f.verify(t); !r.OK || r.Entries != 2*writers*each {
			t.Fatalf("%+v", r)
		}

		// A message that cannot be stored (its uuid is taken) leaves no entry.
		b, err := f.log.Build(sent("dup-entry"))
		if err != nil {
			t.Fatal(err)
		}
		if err := f.db.InsertMessagesAudited(ctx, []*trunkline.Message{msg("m-0-0")}, nil, b); err == nil {
			t.Fatal("a message with a taken uuid was stored")
		}
		if n := count(); n["dup-entry"] != 0 {
			t.Fatalf("the entry of a message not stored was recorded %d times", n["dup-entry"])
		}
		if _, err := f.log.Append(ctx, sample(1)); err != nil {
			t.Fatal(err)
		}
		if _, err := f.log.Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
		if r := f.verify(t); !r.OK || r.Entries != 2*writers*each+1 {
			t.Fatalf("%+v", r)
		}

		// After Close nothing more is built.
		f.log.Close()
		if _, err := f.log.Build(sent("closed")); err != ErrClosed {
			t.Fatalf("Build after Close: %v, want ErrClosed", err)
		}
	})
}
