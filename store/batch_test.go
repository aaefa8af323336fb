package store_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/keys"
	"github.com/trunkline/trunkline/smpp/pdu"
	. "github.com/trunkline/trunkline/store"
	"github.com/trunkline/trunkline/store/storetest"
)

// TestGroupCommit: concurrent writes share transactions; a failing write is rolled back
// alone and gets its own error; every other write is stored.
func TestGroupCommit(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		mkAccount(t, db, "MA1", "")
		boom := errors.New("boom")
		var wg sync.WaitGroup
		errs := make([]error, 200)
		for i := range errs {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				errs[i] = db.Write(ctx, func(ctx context.Context, tx *Tx) error {
					if _, err := tx.Exec(ctx, `INSERT INTO callbacks (account_id, kind, object_id, url, method, params_enc, created_at, next_attempt_at)
						VALUES (?, 'k', ?, 'u', 'POST', ?, 0, 0)`, "MA1", fmt.Sprint(i), []byte{1}); err != nil {
						return err
					}
					if i%10 == 0 {
						return boom // after its insert: the savepoint must undo it
					}
					return nil
				})
			}(i)
		}
		wg.Wait()
		for i, err := range errs {
			if (i%10 == 0) != errors.Is(err, boom) || (i%10 != 0 && err != nil) {
				t.Fatalf("write %d: %v", i, err)
			}
		}
		n, err := db.PendingCallbacks(ctx)
		if err != nil || n != 180 {
			t.Fatalf("%d rows stored, want 180 (%v)", n, err)
		}
	})
}

// TestManyTransactionsNoPoolDeadlock: more concurrent transactions than pooled
// connections, each running statements not prepared yet. Preparing on the pool from
// inside a transaction deadlocked here once (every connection held by a transaction
// waiting for SQLite's write lock, the lock holder waiting for a connection).
func TestManyTransactionsNoPoolDeadlock(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB) {
		mkAccount(t, db, "MA1", "")
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for i := 0; i < 64; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				errs <- db.InTx(ctx, func(tx *Tx) error {
					// A distinct query text each: none is in the statement cache.
					_, err := tx.Exec(ctx, fmt.Sprintf(`INSERT INTO callbacks (account_id, kind, object_id, url, method, params_enc,
						created_at, next_attempt_at) VALUES (?, 'k%d', 'o', 'u', 'POST', ?, 0, 0)`, i), "MA1", []byte{1})
					return err
				})
			}(i)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	})
}

// holdWriter parks the group-commit writer inside a write until the returned release
// is called, so the writes queued meanwhile all land in the next batch. queued waits
// (bounded) until n writes are queued behind it.
func holdWriter(t *testing.T, db *DB) (queued func(n int), release func()) {
	t.Helper()
	started, hold := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- db.Write(context.Background(), func(ctx context.Context, tx *Tx) error {
			close(started)
			<-hold
			return nil
		})
	}()
	<-started
	queued = func(n int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for db.QueuedWrites() < n {
			if time.Now().After(deadline) {
				t.Fatalf("%d writes queued, want %d", db.QueuedWrites(), n)
			}
			time.Sleep(time.Millisecond) // the queue has no event to wait on
		}
	}
	release = func() {
		close(hold)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	return queued, release
}

func testMessage(uuid string) *trunkline.Message {
	return &trunkline.Message{UUID: uuid, AccountID: "MA1", Direction: "outbound", Type: "sms", LogMode: "true", From: "1", To: "2",
		State: trunkline.MsgQueued, Units: 1, PayloadEnc: []byte("x"), ExpiresAt: time.Now().Add(time.Hour)}
}

// TestBatchOneBadRow: accepted messages of concurrent requests share one multi-row
// INSERT; when one row is bad (a duplicate id) that request alone fails and the other
// requests of its batch still commit, with their callbacks.
func TestBatchOneBadRow(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		mkAccount(t, db, "MA1", "")
		if err := db.InsertMessages(ctx, []*trunkline.Message{testMessage("dup")}, nil); err != nil {
			t.Fatal(err)
		}
		queued, release := holdWriter(t, db)
		errs := make([]error, 6)
		var wg sync.WaitGroup
		for i := range errs {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				ms := []*trunkline.Message{testMessage(fmt.Sprint("a", i)), testMessage(fmt.Sprint("b", i))}
				if i == 3 {
					ms[1].UUID = "dup"
				}
				cb := &trunkline.Callback{AccountID: "MA1", Kind: "message_status", ObjectID: ms[0].UUID, URL: "http://127.0.0.1/cb", Method: "POST", ParamsEnc: []byte{1}}
				errs[i] = db.InsertMessages(ctx, ms, []*trunkline.Callback{cb})
			}(i)
		}
		queued(len(errs))
		release()
		wg.Wait()
		for i, err := range errs {
			if (i == 3) != IsUniqueViolation(err) || (i != 3 && err != nil) {
				t.Fatalf("request %d: %v", i, err)
			}
		}
		counts, err := db.MessageCounts(ctx)
		if err != nil || counts[trunkline.MsgQueued] != 1+2*5 {
			t.Fatalf("stored %v, want %d queued (%v)", counts, 1+2*5, err)
		}
		if _, err := db.MessageByUUID(ctx, "a3"); !errors.Is(err, trunkline.ErrNotFound) {
			t.Fatalf("the bad request's other row was stored: %v", err)
		}
		if n, err := db.PendingCallbacks(ctx); err != nil || n != 5 {
			t.Fatalf("%d callbacks stored, want 5 (%v)", n, err)
		}
	})
}

// TestReceiptInSubmitBatch: a receipt applied in the same batch as its message's submit
// result, queued before it (m1) or after it (m2), leaves the message delivered with one
// final callback either way.
func TestReceiptInSubmitBatch(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		mkAccount(t, db, "MA1", "")
		if err := db.InsertMessages(ctx, []*trunkline.Message{testMessage("m1"), testMessage("m2")}, nil); err != nil {
			t.Fatal(err)
		}
		cb := func(m *trunkline.Message) *trunkline.Callback {
			return &trunkline.Callback{AccountID: m.AccountID, Kind: "message_status", ObjectID: m.UUID + "/" + m.State, URL: "http://127.0.0.1/cb",
				Method: "POST", ParamsEnc: []byte{1}}
		}
		send := func(uuid, id string) func() error {
			return func() error {
				_, err := db.RecordSend(ctx, uuid, trunkline.SendOutcome{State: trunkline.MsgSent, Carrier: "c1", Erase: true, Callback: cb,
					Parts: []trunkline.Part{{Seq: 1, Keys: []string{"s:" + id, "n:" + id}}}})
				return err
			}
		}
		receipt := func(id string) func() error {
			return func() error {
				_, err := db.ApplyReceipt(ctx, "c1", []string{"s:" + id, "n:" + id}, trunkline.MsgDelivered, "000", true, cb)
				return err
			}
		}
		// Two batches, the receipt queued before the submit result in the first and after
		// it in the second: the writer applies submit results first (writeRank), so in
		// both the receipt finds the parts stored in the same transaction.
		for _, steps := range [][]func() error{{receipt("11"), send("m1", "11")}, {send("m2", "22"), receipt("22")}} {
			queued, release := holdWriter(t, db)
			errs := make(chan error, len(steps))
			for i, f := range steps {
				go func() { errs <- f() }()
				queued(i + 1) // in this order
			}
			release()
			for range steps {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, uuid := range []string{"m1", "m2"} {
			m, err := db.MessageByUUID(ctx, uuid)
			if err != nil || m.State != trunkline.MsgDelivered || m.PayloadEnc != nil {
				t.Fatalf("%s: %+v %v", uuid, m, err)
			}
		}
		var final int
		if err := db.SQL().QueryRow(`SELECT COUNT(*) FROM callbacks WHERE object_id LIKE '%/delivered'`).Scan(&final); err != nil || final != 2 {
			t.Fatalf("%d final callbacks, want 2 (%v)", final, err)
		}
	})
}

// TestReceiptMeetsSubmit: a one-segment message whose submit result and receipt are in
// one batch goes from queued to final in one write (meetReceipts), with what the two
// writes one after the other gave: the "sent" callback, then the final one; the part's
// state; the error code of an undelivered receipt; each caller's outcome. Where that
// would not hold the receipt is applied after the submit results, as before: two
// receipts for one segment, a refused submit result (its lease went to another node),
// a message of two segments.
func TestReceiptMeetsSubmit(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		mkAccount(t, db, "MA1", "")
		lost := testMessage("lost")
		lost.LeaseOwner, lost.LeaseUntil = "node-a", time.Now().Add(time.Minute)
		two := testMessage("two")
		two.Units = 2
		if err := db.InsertMessages(ctx, []*trunkline.Message{testMessage("ok"), testMessage("undeliv"), testMessage("dup"), lost, two}, nil); err != nil {
			t.Fatal(err)
		}
		cb := func(m *trunkline.Message) *trunkline.Callback {
			return &trunkline.Callback{AccountID: m.AccountID, Kind: "message_status", ObjectID: m.UUID + "/" + m.State + "/" + m.ErrorCode,
				URL: "http://127.0.0.1/cb", Method: "POST", ParamsEnc: []byte{1}}
		}
		type result struct {
			name string
			m    *trunkline.Message
			out  trunkline.ReceiptOutcome
			err  error
		}
		send := func(uuid, lease string, ids ...string) func() result {
			return func() result {
				var ps []trunkline.Part
				for i, id := range ids {
					ps = append(ps, trunkline.Part{Seq: i + 1, Keys: []string{id}})
				}
				m, err := db.RecordSend(ctx, uuid, trunkline.SendOutcome{State: trunkline.MsgSent, Carrier: "c1", Erase: true, Callback: cb,
					Parts: ps, Lease: lease})
				return result{name: "send " + uuid, m: m, err: err}
			}
		}
		receipt := func(id, state, code string) func() result {
			return func() result {
				out, err := db.ApplyReceipt(ctx, "c1", []string{id, "0" + id}, state, code, true, cb)
				return result{name: "receipt " + id + " " + state, out: out, err: err}
			}
		}
		steps := []func() result{
			receipt("a1", trunkline.MsgDelivered, "000"), send("ok", "", "a1"),
			send("undeliv", "", "b2"), receipt("b2", trunkline.MsgUndelivered, "200"),
			send("dup", "", "c3"), receipt("c3", trunkline.MsgDelivered, "000"), receipt("c3", trunkline.MsgUndelivered, "300"),
			send("lost", "node-b", "d4"), receipt("d4", trunkline.MsgDelivered, "000"),
			send("two", "", "e5", "e6"), receipt("e5", trunkline.MsgDelivered, "000"),
		}
		queued, release := holdWriter(t, db)
		results := make([]chan result, len(steps))
		for i, f := range steps {
			results[i] = make(chan result, 1)
			go func() { results[i] <- f() }()
			queued(i + 1) // in this order, all in one batch
		}
		release()
		got := map[string]result{}
		for _, ch := range results {
			r := <-ch
			got[r.name] = r
		}
		if r := got["send ok"]; r.err != nil || r.m == nil || r.m.State != trunkline.MsgDelivered || r.m.ErrorCode != "000" || r.m.SentAt == nil {
			t.Errorf("RecordSend of ok: %+v %v; want the message delivered, as it now stands", r.m, r.err)
		} else if r.m.UpdatedAt.Before(*r.m.SentAt) {
			// Its receipt called first: still delivered no earlier than sent.
			t.Errorf("ok delivered at %v, before it was sent at %v", r.m.UpdatedAt, *r.m.SentAt)
		}
		if r := got["receipt a1 delivered"]; r.err != nil || !r.out.Final || !r.out.Exact || r.out.Message == nil || r.out.Message.State != trunkline.MsgDelivered {
			t.Errorf("receipt of ok: %+v %v; want final, exact, delivered", r.out, r.err)
		}
		if r := got["receipt b2 undelivered"]; r.err != nil || !r.out.Final || r.out.Message.ErrorCode != "200" {
			t.Errorf("receipt of undeliv: %+v %v", r.out, r.err)
		}
		if r := got["send lost"]; !errors.Is(r.err, trunkline.ErrLeaseLost) {
			t.Errorf("RecordSend with a lease lost: %v", r.err)
		}
		if r := got["receipt d4 delivered"]; r.err != nil || r.out.Message != nil || r.out.Final {
			t.Errorf("receipt of a refused submit: %+v %v; want it kept as early", r.out, r.err)
		}
		finals := 0
		for _, name := range []string{"receipt c3 delivered", "receipt c3 undelivered"} {
			if r := got[name]; r.err != nil || r.out.Message == nil {
				t.Errorf("%s: %+v %v", name, r.out, r.err)
			} else if r.out.Final {
				finals++
			}
		}
		if finals != 1 {
			t.Errorf("%d of dup's two receipts made it final, want 1", finals)
		}
		for uuid, want := range map[string]string{"ok": "delivered/000", "undeliv": "undelivered/200", "lost": "queued/", "two": "sent/"} {
			m, err := db.MessageByUUID(ctx, uuid)
			if err != nil || m.State+"/"+m.ErrorCode != want {
				t.Errorf("%s: %+v %v; want %s", uuid, m, err, want)
			}
		}
		cbs := texts(t)(db.SQL().Query(`SELECT object_id FROM callbacks ORDER BY id`))
		seen := map[string]int{}
		for _, o := range cbs {
			seen[strings.SplitN(o, "/", 2)[0]]++
		}
		for _, pair := range [][2]string{{"ok/sent/", "ok/delivered/000"}, {"undeliv/sent/", "undeliv/undelivered/200"}} {
			if i, j := slices.Index(cbs, pair[0]), slices.Index(cbs, pair[1]); i < 0 || j < 0 || i > j {
				t.Errorf("callbacks %q: want %q, then %q", cbs, pair[0], pair[1])
			}
		}
		for uuid, want := range map[string]int{"ok": 2, "undeliv": 2, "dup": 2, "lost": 0, "two": 1} {
			if seen[uuid] != want {
				t.Errorf("%s: %d callbacks, want %d: %q", uuid, seen[uuid], want, cbs)
			}
		}
		parts := texts(t)(db.SQL().Query(`SELECT smsc_key || '=' || state FROM message_parts ORDER BY smsc_key`))
		if got, want := fmt.Sprint(parts), "[a1=delivered b2=undelivered c3=undelivered e5=delivered e6=sent]"; got != want {
			t.Errorf("parts %s, want %s", got, want)
		}
		var early int
		if err := db.SQL().QueryRow(`SELECT COUNT(*) FROM early_receipts WHERE smsc_key = 'd4'`).Scan(&early); err != nil || early != 1 {
			t.Errorf("%d early receipts for the refused submit's id, want 1 (%v)", early, err)
		}
	})
}

// TestApplicationsAuditedInOneBatch: applications created with their audit entries
// (CreateApplicationAudited) in one batch are stored with them in one transaction; one
// whose entry cannot be built is not stored at all, and the others still are, with
// their entries in order.
func TestApplicationsAuditedInOneBatch(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		mkAccount(t, db, "MA1", "")
		before, err := db.AuditHead(ctx)
		if err != nil {
			t.Fatal(err)
		}
		build := func(id string) trunkline.AuditBuild {
			return func(h trunkline.AuditHead, _ trunkline.AuditHashReader) ([]*trunkline.AuditAppend, error) {
				if id == "bad" {
					return nil, errors.New("the audit log cannot record")
				}
				seq := h.Size + 1
				return []*trunkline.AuditAppend{{
					Record: trunkline.AuditRecord{Seq: seq, At: time.UnixMicro(seq).UTC(), AccountID: "MA1", Action: "application.create",
						ObjectType: "application", ObjectID: id, Outcome: "success", RecordHash: []byte{byte(seq)}, ChainHash: []byte{byte(seq), 1}},
					TreeIndex: 1000 * seq, TreeHashes: [][32]byte{{byte(seq)}},
				}}, nil
			}
		}
		ids := []string{"ok1", "bad", "ok2"}
		queued, release := holdWriter(t, db)
		errs := make([]chan error, len(ids))
		for i, id := range ids {
			errs[i] = make(chan error, 1)
			go func() {
				errs[i] <- db.CreateApplicationAudited(ctx, &trunkline.Application{ID: id, AccountID: "MA1", Name: id}, build(id))
			}()
			queued(i + 1)
		}
		release()
		for i, id := range ids {
			if err := <-errs[i]; (err != nil) != (id == "bad") {
				t.Errorf("%s: %v", id, err)
			}
		}
		all := trunkline.Scope{AccountID: "MA1", IncludeSubs: true}
		for _, id := range ids {
			if _, err := db.Application(ctx, all, id); (err == nil) != (id != "bad") {
				t.Errorf("application %s: %v", id, err)
			}
		}
		recs, err := db.AuditRecords(ctx, before.Size, 10)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range recs {
			got = append(got, r.ObjectID)
		}
		if fmt.Sprint(got) != "[ok1 ok2]" {
			t.Errorf("audit entries for %v, want [ok1 ok2]", got)
		}
	})
}

// TestCrashBeforeHandOff: a message committed already leased to this node's workers,
// whose hand-off never happened (the process died between the commit and the hand-off),
// is recovered by the claim query: at once when the node restarts (ReleaseLeases), by
// another node when the lease runs out, and claimed exactly once either way.
func TestCrashBeforeHandOff(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		mkAccount(t, db, "MA1", "")
		now := time.Now()
		db.SetClock(func() time.Time { return now })
		// Time passes: on PostgreSQL leases are judged by the database server's clock,
		// which a test cannot move, so the leases move back instead.
		pass := func(d time.Duration) {
			now = now.Add(d)
			if db.Dialect() == Postgres {
				if _, err := db.Exec(ctx, `UPDATE messages SET lease_until = lease_until - ? WHERE lease_until > 0`, d.Microseconds()); err != nil {
					t.Fatal(err)
				}
			}
		}
		a, b := testMessage("restart"), testMessage("other-node")
		for _, m := range []*trunkline.Message{a, b} {
			m.LeaseOwner, m.LeaseUntil, m.Attempts = "node-a", now.Add(time.Minute), 1
		}
		if err := db.InsertMessages(ctx, []*trunkline.Message{a}, nil); err != nil {
			t.Fatal(err)
		}
		if got, err := db.ClaimMessages(ctx, "node-a", time.Minute, 10); err != nil || len(got) != 0 {
			t.Fatalf("a leased message was claimed: %d %v", len(got), err)
		}
		// node-a restarts.
		if n, err := db.ReleaseLeases(ctx, "node-a", ""); err != nil || n != 1 {
			t.Fatalf("release: %d %v", n, err)
		}
		got, err := db.ClaimMessages(ctx, "node-a", time.Minute, 10)
		if err != nil || len(got) != 1 || got[0].UUID != "restart" || got[0].Attempts != 2 {
			t.Fatalf("after restart: %v %v", got, err)
		}
		if again, _ := db.ClaimMessages(ctx, "node-b", time.Minute, 10); len(again) != 0 {
			t.Fatalf("claimed twice: %d", len(again))
		}
		// node-a dies for good: node-b takes its message once the lease has run out.
		if err := db.InsertMessages(ctx, []*trunkline.Message{b}, nil); err != nil {
			t.Fatal(err)
		}
		if got, _ := db.ClaimMessages(ctx, "node-b", time.Minute, 10); len(got) != 0 {
			t.Fatalf("claimed inside the lease: %d", len(got))
		}
		pass(61 * time.Second)
		got, err = db.ClaimMessages(ctx, "node-b", time.Minute, 10)
		if err != nil || len(got) != 2 {
			t.Fatalf("after the leases ran out: %d %v", len(got), err)
		}
		if _, err := db.RecordSend(ctx, "other-node", trunkline.SendOutcome{State: trunkline.MsgSent, Carrier: "c1", RetryAt: now,
			Parts: []trunkline.Part{{Seq: 1, Keys: []string{"s:1"}}}}); err != nil {
			t.Fatal(err)
		}
		pass(2 * time.Minute)
		if got, _ := db.ClaimMessages(ctx, "node-c", time.Minute, 10); len(got) != 1 || got[0].UUID != "restart" {
			t.Fatalf("a sent message was claimed again: %v", got)
		}
	})
}

// TestMultipartReceipts: a two-segment message is final only when both segments have
// a receipt, delivered only when both were delivered; receipts for both segments in one
// batch make it final once (one callback); a duplicate receipt changes nothing.
func TestMultipartReceipts(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		mkAccount(t, db, "MA1", "")
		var ms []*trunkline.Message
		for _, id := range []string{"p1", "p2"} {
			m := testMessage(id)
			m.Units = 2
			ms = append(ms, m)
		}
		if err := db.InsertMessages(ctx, ms, nil); err != nil {
			t.Fatal(err)
		}
		cb := func(m *trunkline.Message) *trunkline.Callback {
			return &trunkline.Callback{AccountID: m.AccountID, Kind: "message_status", ObjectID: m.UUID + "/" + m.State, URL: "http://127.0.0.1/cb",
				Method: "POST", ParamsEnc: []byte{1}}
		}
		for _, m := range ms {
			if _, err := db.RecordSend(ctx, m.UUID, trunkline.SendOutcome{State: trunkline.MsgSent, Carrier: "c1", Erase: true, Callback: cb,
				Parts: []trunkline.Part{{Seq: 1, Keys: []string{"s:" + m.UUID + "a"}}, {Seq: 2, Keys: []string{"s:" + m.UUID + "b"}}}}); err != nil {
				t.Fatal(err)
			}
		}
		// p1: one segment only, not final.
		out, err := db.ApplyReceipt(ctx, "c1", []string{"s:p1a"}, trunkline.MsgDelivered, "000", true, cb)
		if err != nil || out.Final || out.Message == nil || out.Message.State != trunkline.MsgSent || !out.Exact {
			t.Fatalf("first segment: %+v %v", out, err)
		}
		// Both segments of p2 in one batch, and p1's second (undelivered) and a duplicate of its first.
		queued, release := holdWriter(t, db)
		type res struct {
			out trunkline.ReceiptOutcome
			err error
		}
		steps := []struct{ key, state, code string }{{"s:p2a", trunkline.MsgDelivered, "000"}, {"s:p2b", trunkline.MsgDelivered, "000"},
			{"s:p1b", trunkline.MsgUndelivered, "30"}, {"s:p1a", trunkline.MsgDelivered, "000"}}
		results := make([]chan res, len(steps))
		for i, st := range steps {
			results[i] = make(chan res, 1)
			go func() {
				o, err := db.ApplyReceipt(ctx, "c1", []string{st.key}, st.state, st.code, true, cb)
				results[i] <- res{o, err}
			}()
			queued(i + 1)
		}
		release()
		finals := 0
		for i := range steps {
			r := <-results[i]
			if r.err != nil || r.out.Message == nil {
				t.Fatalf("receipt %d: %+v %v", i, r.out, r.err)
			}
			if r.out.Final {
				finals++
			}
		}
		if finals != 2 {
			t.Fatalf("%d receipts made a message final, want 2", finals)
		}
		for uuid, want := range map[string][2]string{"p1": {trunkline.MsgUndelivered, "30"}, "p2": {trunkline.MsgDelivered, "000"}} {
			m, err := db.MessageByUUID(ctx, uuid)
			if err != nil || m.State != want[0] || m.ErrorCode != want[1] || m.PayloadEnc != nil {
				t.Fatalf("%s: %+v %v", uuid, m, err)
			}
		}
		var n int
		if err := db.SQL().QueryRow(`SELECT COUNT(*) FROM callbacks WHERE object_id IN ('p1/undelivered', 'p2/delivered')`).Scan(&n); err != nil || n != 2 {
			t.Fatalf("%d final callbacks, want 2 (%v)", n, err)
		}
	})
}

// TestAttemptRows: a send that went through at its first try keeps no message_attempts
// row, yet is listed (carrier, ok, latency); failovers and retries keep their rows.
func TestAttemptRows(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		mkAccount(t, db, "MA1", "")
		if err := db.InsertMessages(ctx, []*trunkline.Message{testMessage("one"), testMessage("failover"), testMessage("retry")}, nil); err != nil {
			t.Fatal(err)
		}
		at := time.Now().Add(-time.Second).UTC().Truncate(time.Microsecond)
		ok := func(c string) trunkline.Attempt {
			return trunkline.Attempt{Carrier: c, Status: "ok", Latency: 1500 * time.Microsecond, At: at}
		}
		bad := trunkline.Attempt{Carrier: "c1", Status: "not_bound", At: at}
		sent := func(uuid string, as ...trunkline.Attempt) {
			t.Helper()
			if _, err := db.RecordSend(ctx, uuid, trunkline.SendOutcome{State: trunkline.MsgSent, Carrier: as[len(as)-1].Carrier, Attempts: as,
				Parts: []trunkline.Part{{Seq: 1, Keys: []string{"s:" + uuid}}}}); err != nil {
				t.Fatal(err)
			}
		}
		sent("one", ok("c1"))
		sent("failover", bad, ok("c2"))
		if _, err := db.RecordSend(ctx, "retry", trunkline.SendOutcome{State: trunkline.MsgQueued, Attempts: []trunkline.Attempt{bad}, RetryAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		sent("retry", ok("c1"))
		var rows int
		if err := db.SQL().QueryRow(`SELECT COUNT(*) FROM message_attempts`).Scan(&rows); err != nil || rows != 3 {
			t.Fatalf("%d attempt rows, want 3 (the failover's two, the retry's failure): %v", rows, err)
		}
		for uuid, want := range map[string][]string{"one": {"c1 ok"}, "failover": {"c1 not_bound", "c2 ok"}, "retry": {"c1 not_bound", "c1 ok"}} {
			as, err := db.MessageAttempts(ctx, uuid)
			if err != nil || len(as) != len(want) {
				t.Fatalf("%s: %+v %v", uuid, as, err)
			}
			for i, a := range as {
				if a.Carrier+" "+a.Status != want[i] {
					t.Fatalf("%s attempt %d: %+v, want %s", uuid, i, a, want[i])
				}
				if a.Status == "ok" && a.Latency != 1500*time.Microsecond {
					t.Fatalf("%s: ok latency %v", uuid, a.Latency)
				}
			}
		}
	})
}

// TestSealedBodiesInOneBatch: the accepted messages of concurrent requests share one
// multi-row INSERT, and each row gets its own sealed body (none in plain text); a message
// stored without a body (log=false) stays without one.
func TestSealedBodiesInOneBatch(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		raw := make([]byte, 32)
		rand.Read(raw)
		kek, _ := keys.NewRing(raw)
		db.SetBodyCipher(keys.NewBodies(kek, db, func(err error) bool { return errors.Is(err, trunkline.ErrNotFound) }))
		mkAccount(t, db, "MA1", "")
		mkAccount(t, db, "MA2", "")
		body := func(req, i int) string {
			if req == 1 && i == 1 {
				return "" // not logged
			}
			return fmt.Sprintf("secret %d.%d", req, i)
		}
		// Data keys first: a first message's key is created outside the batch.
		warm1, warm2 := testMessage("warm1"), testMessage("warm2")
		warm1.Body, warm2.AccountID, warm2.Body = "x", "MA2", "x"
		if err := db.InsertMessages(ctx, []*trunkline.Message{warm1, warm2}, nil); err != nil {
			t.Fatal(err)
		}
		queued, release := holdWriter(t, db)
		errs := make([]error, 4)
		var wg sync.WaitGroup
		for req := range errs {
			wg.Add(1)
			go func(req int) {
				defer wg.Done()
				var ms []*trunkline.Message
				for i := 0; i < 3; i++ {
					m := testMessage(fmt.Sprintf("s%d-%d", req, i))
					m.AccountID = []string{"MA1", "MA2"}[(req+i)%2]
					m.Body = body(req, i)
					ms = append(ms, m)
				}
				errs[req] = db.InsertMessages(ctx, ms, nil)
			}(req)
		}
		queued(len(errs))
		release()
		wg.Wait()
		for req, err := range errs {
			if err != nil {
				t.Fatalf("request %d: %v", req, err)
			}
			for i := 0; i < 3; i++ {
				uuid := fmt.Sprintf("s%d-%d", req, i)
				var plain string
				var enc []byte
				if err := db.SQL().QueryRowContext(ctx, db.Rebind(`SELECT body_text, body_enc FROM messages WHERE uuid = ?`), uuid).Scan(&plain, &enc); err != nil {
					t.Fatal(err)
				}
				if plain != "" || (len(enc) == 0) != (body(req, i) == "") || bytes.Contains(enc, []byte("secret")) {
					t.Fatalf("%s stored body_text %q, body_enc %x", uuid, plain, enc)
				}
				if m, err := db.MessageByUUID(ctx, uuid); err != nil || m.Body != body(req, i) || m.BodyUnreadable {
					t.Fatalf("%s read back: %+v %v, want body %q", uuid, m, err, body(req, i))
				}
			}
		}
	})
}

// TestOKLatencyInSnapshot: a first-try send keeps its attempt only in
// messages.ok_latency_us (migration 15), so a snapshot must carry that column: after an
// export and an import into an empty store the attempt is still listed.
func TestOKLatencyInSnapshot(t *testing.T) {
	into := map[Dialect]*DB{}
	for _, db := range storetest.Open(t) {
		into[db.Dialect()] = db
	}
	forEach(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		mkAccount(t, db, "MA1", "")
		if err := db.InsertMessages(ctx, []*trunkline.Message{testMessage("one")}, nil); err != nil {
			t.Fatal(err)
		}
		at := time.Now().Add(-time.Second).UTC().Truncate(time.Microsecond)
		if _, err := db.RecordSend(ctx, "one", trunkline.SendOutcome{State: trunkline.MsgSent, Carrier: "c1",
			Attempts: []trunkline.Attempt{{Carrier: "c1", Status: "ok", Latency: 1500 * time.Microsecond, At: at}},
			Parts:    []trunkline.Part{{Seq: 1, Keys: []string{"s:one"}}}}); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if _, err := db.Export(ctx, &buf); err != nil {
			t.Fatal(err)
		}
		to := into[db.Dialect()]
		if err := to.Import(ctx, &buf, nil, nil); err != nil {
			t.Fatal(err)
		}
		as, err := to.MessageAttempts(ctx, "one")
		if err != nil || len(as) != 1 || as[0].Carrier != "c1" || as[0].Status != "ok" || as[0].Latency != 1500*time.Microsecond {
			t.Fatalf("restored attempts: %+v %v", as, err)
		}
	})
}

// TestCallbackHandOff: the callbacks a batch stores are handed over after its commit,
// leased (the claim query does not take them) and with the ids of their rows; those of a
// write that failed in the batch are neither stored nor handed over; a callback released
// by its taker is claimed with its round not counted.
func TestCallbackHandOff(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		mkAccount(t, db, "MA1", "")
		if err := db.InsertMessages(ctx, []*trunkline.Message{testMessage("dup")}, nil); err != nil {
			t.Fatal(err)
		}
		handed := make(chan *trunkline.Callback, 64)
		db.HandCallbacks(nil, time.Minute, func(cbs []*trunkline.Callback) {
			for _, c := range cbs {
				handed <- c
			}
		})
		defer db.HandCallbacks(nil, 0, nil)
		queued, release := holdWriter(t, db)
		errs := make([]error, 4)
		var wg sync.WaitGroup
		for i := range errs {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				m := testMessage(fmt.Sprint("h", i))
				if i == 2 {
					m.UUID = "dup"
				}
				// The same parameters for all: rows alike but for their object.
				cb := &trunkline.Callback{AccountID: "MA1", Kind: "message_status", ObjectID: fmt.Sprint("h", i), URL: "http://127.0.0.1/cb",
					Method: "POST", ParamsEnc: []byte{1}}
				errs[i] = db.InsertMessages(ctx, []*trunkline.Message{m}, []*trunkline.Callback{cb})
			}(i)
		}
		queued(len(errs))
		release()
		wg.Wait()
		if !IsUniqueViolation(errs[2]) || errs[0] != nil || errs[1] != nil || errs[3] != nil {
			t.Fatalf("errors %v", errs)
		}
		close(handed)
		got := map[string]int64{}
		for c := range handed {
			if c.ID == 0 || c.Attempts != 1 {
				t.Fatalf("handed without its id or round: %+v", c)
			}
			got[c.ObjectID] = c.ID
		}
		if len(got) != 3 || got["h2"] != 0 {
			t.Fatalf("handed %v, want h0, h1, h3", got)
		}
		for obj, id := range got {
			var rowObj string
			if err := db.SQL().QueryRow(db.Rebind(`SELECT object_id FROM callbacks WHERE id = ?`), id).Scan(&rowObj); err != nil || rowObj != obj {
				t.Fatalf("callback %d is row %q, handed as %q (%v)", id, rowObj, obj, err)
			}
		}
		if cbs, err := db.ClaimCallbacks(ctx, "", time.Minute, 10); err != nil || len(cbs) != 0 {
			t.Fatalf("handed callbacks claimed again: %d %v", len(cbs), err)
		}
		if err := db.ReleaseCallback(ctx, got["h1"], ""); err != nil {
			t.Fatal(err)
		}
		cbs, err := db.ClaimCallbacks(ctx, "", time.Minute, 10)
		if err != nil || len(cbs) != 1 || cbs[0].ObjectID != "h1" || cbs[0].Attempts != 1 {
			t.Fatalf("after release: %+v %v", cbs, err)
		}
		// The process died between the commit and the delivery of the other two (and
		// during h1's): once their leases have run out, the claim query (of any node)
		// takes them, once, each in its second round.
		// (Leases are judged by the database's clock: they are moved back by a lease
		// and a second rather than the store's clock forward.)
		if _, err := db.Exec(ctx, `UPDATE callbacks SET lease_until = lease_until - ? WHERE lease_until > 0`, (61 * time.Second).Microseconds()); err != nil {
			t.Fatal(err)
		}
		cbs, err = db.ClaimCallbacks(ctx, "", time.Minute, 10)
		if err != nil || len(cbs) != 3 {
			t.Fatalf("after the leases ran out: %d %v", len(cbs), err)
		}
		for _, c := range cbs {
			if c.Attempts != 2 {
				t.Fatalf("%s claimed in round %d, want 2", c.ObjectID, c.Attempts)
			}
		}
		if again, _ := db.ClaimCallbacks(ctx, "", time.Minute, 10); len(again) != 0 {
			t.Fatalf("claimed twice: %d", len(again))
		}
	})
}

// TestOneSMSCKeyMigration: migration 16 turns the segments stored under the old keys
// ("s:" as spelled, "n:" per numeric reading) into one row under pdu.MessageIDKey's
// spelling, and the early receipts likewise, so receipts of messages sent before the
// upgrade still find them. (The old rows are written into the new table and the
// migration is run again: its SQL reads only the keys.)
func TestOneSMSCKeyMigration(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		mkAccount(t, db, "MA1", "")
		if err := db.InsertMessages(ctx, []*trunkline.Message{testMessage("m1"), testMessage("m2"), testMessage("m3")}, nil); err != nil {
			t.Fatal(err)
		}
		for _, p := range [][]any{{"m1", "s:0a1b2c3d"}, {"m1", "n:169552957"}, {"m2", "s:000123"}, {"m2", "n:123"}, {"m2", "n:291"},
			{"m3", "s:msg-0001"}} {
			if _, err := db.Exec(ctx, `INSERT INTO message_parts (message_uuid, seq, carrier, smsc_key) VALUES (?, 1, 'c1', ?)`, p...); err != nil {
				t.Fatal(err)
			}
		}
		for _, k := range []string{"s:0x00ff", "n:255", "s:000", "n:0"} {
			if _, err := db.Exec(ctx, `INSERT INTO early_receipts (carrier, smsc_key, state, error_code, received_at) VALUES ('c1', ?, 'delivered', '000', 0)`, k); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := db.Exec(ctx, `DELETE FROM schema_migrations WHERE version = 16`); err != nil {
			t.Fatal(err)
		}
		if err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		keys := func(q string) []string { return texts(t)(db.SQL().QueryContext(ctx, q)) }
		if got, want := fmt.Sprint(keys(`SELECT message_uuid || '=' || smsc_key FROM message_parts ORDER BY message_uuid`)), "[m1=a1b2c3d m2=123 m3=msg-0001]"; got != want {
			t.Fatalf("parts %s, want %s", got, want)
		}
		if got, want := fmt.Sprint(keys(`SELECT smsc_key FROM early_receipts ORDER BY smsc_key`)), "[0 ff]"; got != want {
			t.Fatalf("early receipts %s, want %s", got, want)
		}
		// A receipt quoting m1's id in decimal finds it under its new key.
		out, err := db.ApplyReceipt(ctx, "c1", pdu.MessageIDKeys("169552957"), trunkline.MsgDelivered, "000", true, nil)
		if err != nil || out.Exact {
			t.Fatalf("receipt: %+v %v", out, err)
		}
		var state string
		if err := db.SQL().QueryRowContext(ctx, `SELECT state FROM message_parts WHERE message_uuid = 'm1'`).Scan(&state); err != nil || state != trunkline.MsgDelivered {
			t.Fatalf("m1's segment %q %v", state, err)
		}
	})
}

// TestHandedCallbacksHaveTheirNode: callbacks stored already leased for the hand-off
// name this node's owner (name/incarnation) as their holder, as claimed ones do, so
// that when it dies a survivor frees them at once (ReleaseLeases, TakeOverNode)
// instead of waiting out the lease, and the fence refuses the dead owner's writes.
func TestHandedCallbacksHaveTheirNode(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		mkAccount(t, db, "MA1", "")
		owner := trunkline.NodeOwner("n1", "inc1")
		handed := make(chan *trunkline.Callback, 4)
		db.HandCallbacks(func() string { return owner }, time.Minute, func(cbs []*trunkline.Callback) {
			for _, c := range cbs {
				handed <- c
			}
		})
		defer db.HandCallbacks(nil, 0, nil)
		cb := &trunkline.Callback{AccountID: "MA1", Kind: "message_status", ObjectID: "m1", URL: "http://127.0.0.1/cb",
			Method: "POST", ParamsEnc: []byte{1}}
		if err := db.InsertMessages(ctx, []*trunkline.Message{testMessage("m1")}, []*trunkline.Callback{cb}); err != nil {
			t.Fatal(err)
		}
		c := <-handed
		if c.ID == 0 || c.LeaseOwner != owner {
			t.Fatalf("handed without its id or owner: %+v", c)
		}
		if cbs, err := db.ClaimCallbacks(ctx, "", time.Minute, 10); err != nil || len(cbs) != 0 {
			t.Fatalf("a handed callback claimed while leased: %d %v", len(cbs), err)
		}
		if _, err := db.ReleaseLeases(ctx, "n1", ""); err != nil {
			t.Fatal(err)
		}
		// The dead owner's late release does nothing now (the fence).
		if err := db.ReleaseCallback(ctx, c.ID, owner); err != nil {
			t.Fatal(err)
		}
		if cbs, err := db.ClaimCallbacks(ctx, "", time.Minute, 10); err != nil || len(cbs) != 1 || cbs[0].ObjectID != "m1" {
			t.Fatalf("after n1's leases were freed: %d %v", len(cbs), err)
		}
	})
}

// TestReceiptRacesSubmitOnTwoNodes: on PostgreSQL two nodes (two stores on one
// database, each with its own writer) record submit results and apply the receipts
// for the same SMSC ids at the same time, in batches. The SMSC-id locks make each
// receipt either seen by its submit's transaction (stored early, applied with it) or
// find the submit's parts: no message is left sent with its receipt lost.
func TestReceiptRacesSubmitOnTwoNodes(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	if dsn == "" {
		t.Skip("needs " + storetest.PostgresEnv)
	}
	ctx := context.Background()
	var nodes []*DB
	for range 2 {
		db, err := Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		nodes = append(nodes, db)
	}
	mkAccount(t, nodes[0], "MA1", "")
	const n = 300
	var ms []*trunkline.Message
	for i := range n {
		ms = append(ms, testMessage(fmt.Sprintf("m%d", i)))
	}
	if err := nodes[0].InsertMessages(ctx, ms, nil); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 2*n)
	var wg sync.WaitGroup
	for i := range n {
		id := fmt.Sprintf("%x", 0x1000+i)
		keys := []string{"s:" + id, "n:" + id}
		// The submit result on one node, its receipt on the other, started together;
		// which node takes which alternates.
		a, b := nodes[i%2], nodes[1-i%2]
		wg.Go(func() {
			_, err := a.RecordSend(ctx, fmt.Sprintf("m%d", i), trunkline.SendOutcome{State: trunkline.MsgSent, Carrier: "c1",
				Parts: []trunkline.Part{{Seq: 1, Keys: keys}}})
			errs <- err
		})
		wg.Go(func() {
			_, err := b.ApplyReceipt(ctx, "c1", keys, trunkline.MsgDelivered, "000", false, nil)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	counts, err := nodes[0].MessageCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if counts[trunkline.MsgDelivered] != n {
		t.Fatalf("message states %v, want all %d delivered", counts, n)
	}
}
