package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/trunkline/trunkline"
	. "github.com/trunkline/trunkline/store"
	"github.com/trunkline/trunkline/store/storetest"
)

// TestFencedWrites: a node given up for dead (its incarnation "a/i1") is fenced. Its
// takeover frees its leases in one step with marking it dead; it claims nothing more
// under that incarnation and its heartbeat does not bring the row back up; its late
// outcome of a message another node claimed is refused and writes nothing (no parts,
// no callback), before and after the other node recorded its own; its callback writes
// under the old incarnation are refused too, while the same node rejoined as a new
// incarnation works as any node.
func TestFencedWrites(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		mkAccount(t, db, "MA1", "")
		const old, again, other = "a/i1", "a/i2", "b/j1"
		if err := db.JoinCluster(ctx, &trunkline.Node{Name: "a", Incarnation: "i1"}); err != nil {
			t.Fatal(err)
		}
		cb := &trunkline.Callback{AccountID: "MA1", Kind: "message_status", ObjectID: "m1", URL: "http://127.0.0.1/cb", Method: "POST", ParamsEnc: []byte{1}}
		if err := db.InsertMessages(ctx, []*trunkline.Message{testMessage("m1")}, []*trunkline.Callback{cb}); err != nil {
			t.Fatal(err)
		}
		ms, err := db.ClaimMessages(ctx, old, time.Minute, 10)
		if err != nil || len(ms) != 1 || ms[0].LeaseOwner != old {
			t.Fatalf("claim as %s: %v %v", old, ms, err)
		}
		cbs, err := db.ClaimCallbacks(ctx, old, time.Minute, 10)
		if err != nil || len(cbs) != 1 || cbs[0].LeaseOwner != old {
			t.Fatalf("claim callbacks as %s: %v %v", old, cbs, err)
		}
		// a stops heartbeating: a survivor takes it over (patience < 0: silent now).
		tk, err := db.TakeOverNode(ctx, "a", -time.Hour, trunkline.CallEnd{Code: 7070, Name: "Node Failure"})
		if err != nil || tk == nil || tk.Incarnation != "i1" || tk.Messages != 1 {
			t.Fatalf("takeover: %+v %v", tk, err)
		}
		if tk, err := db.TakeOverNode(ctx, "a", -time.Hour, trunkline.CallEnd{}); err != nil || tk != nil {
			t.Fatalf("a second takeover: %+v %v", tk, err)
		}
		// The dead incarnation claims nothing, and its heartbeat leaves it dead.
		if ms, err := db.ClaimMessages(ctx, old, time.Minute, 10); err != nil || len(ms) != 0 {
			t.Fatalf("a dead incarnation claimed %d (%v)", len(ms), err)
		}
		if wasDead, err := db.Heartbeat(ctx, "a", "i1", trunkline.NodeLoad{}); err != nil || !wasDead {
			t.Fatalf("heartbeat of the dead incarnation: wasDead %v, %v", wasDead, err)
		}
		if nodes, _ := db.Nodes(ctx); len(nodes) != 1 || nodes[0].State != trunkline.NodeDead {
			t.Fatalf("after its heartbeat the dead node is %+v", nodes[0])
		}
		// Its late outcome, once the message is free for others: refused.
		sent := func(lease, key string) error {
			_, err := db.RecordSend(ctx, "m1", trunkline.SendOutcome{State: trunkline.MsgSent, Carrier: "c-" + lease, Lease: lease, RetryAt: time.Now(),
				Parts: []trunkline.Part{{Seq: 1, Keys: []string{key}}},
				Callback: func(m *trunkline.Message) *trunkline.Callback {
					return &trunkline.Callback{AccountID: "MA1", Kind: "message_status", ObjectID: "m1/" + lease, URL: "http://127.0.0.1/cb", Method: "POST", ParamsEnc: []byte{1}}
				}})
			return err
		}
		if err := sent(old, "late-1"); !errors.Is(err, trunkline.ErrLeaseLost) {
			t.Fatalf("late outcome of a freed lease: %v, want ErrLeaseLost", err)
		}
		if err := db.ReleaseLease(ctx, "m1", old); err != nil {
			t.Fatal(err)
		}
		ms, err = db.ClaimMessages(ctx, other, time.Minute, 10)
		if err != nil || len(ms) != 1 {
			t.Fatalf("the survivor's claim: %v %v", ms, err)
		}
		if err := sent(old, "late-2"); !errors.Is(err, trunkline.ErrLeaseLost) {
			t.Fatalf("late outcome of a lease another holds: %v, want ErrLeaseLost", err)
		}
		if err := sent(other, "survivor"); err != nil {
			t.Fatalf("the survivor's outcome: %v", err)
		}
		if err := sent(old, "late-3"); !errors.Is(err, trunkline.ErrLeaseLost) {
			t.Fatalf("late outcome after the survivor's: %v, want ErrLeaseLost", err)
		}
		m, err := db.MessageByUUID(ctx, "m1")
		if err != nil || m.State != trunkline.MsgSent || m.Carrier != "c-"+other {
			t.Fatalf("message after the late outcomes: %+v %v", m, err)
		}
		var parts, late int
		if err := db.SQL().QueryRow(db.Rebind(`SELECT COUNT(*) FROM message_parts WHERE message_uuid = ?`), "m1").Scan(&parts); err != nil || parts != 1 {
			t.Fatalf("parts of m1: %d %v, want the survivor's one", parts, err)
		}
		if err := db.SQL().QueryRow(db.Rebind(`SELECT COUNT(*) FROM callbacks WHERE object_id = ?`), "m1/"+old).Scan(&late); err != nil || late != 0 {
			t.Fatalf("callbacks of the late outcomes: %d %v", late, err)
		}
		// Callbacks: the old incarnation's finish and retry are refused; the node,
		// rejoined as a new incarnation, claims and finishes them.
		if err := db.FinishCallback(ctx, cbs[0].ID, old); err != nil {
			t.Fatal(err)
		}
		if err := db.RetryCallback(ctx, cbs[0].ID, old, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := db.JoinCluster(ctx, &trunkline.Node{Name: "a", Incarnation: "i2"}); err != nil {
			t.Fatal(err)
		}
		// The new incarnation's heartbeat is taken, with what it holds and its bus peers.
		if wasDead, err := db.Heartbeat(ctx, "a", "i2", trunkline.NodeLoad{Calls: 1, Binds: 2, BusPeers: 3}); err != nil || wasDead {
			t.Fatalf("heartbeat of the new incarnation: wasDead %v, %v", wasDead, err)
		}
		if nodes, _ := db.Nodes(ctx); len(nodes) != 1 || nodes[0].State != trunkline.NodeUp || nodes[0].Calls != 1 || nodes[0].Binds != 2 || nodes[0].BusPeers != 3 {
			t.Fatalf("after its heartbeat the new incarnation is %+v", nodes[0])
		}
		if got, err := db.ClaimCallbacks(ctx, old, time.Minute, 10); err != nil || len(got) != 0 {
			t.Fatalf("the old incarnation claimed callbacks after the rejoin: %d %v", len(got), err)
		}
		got, err := db.ClaimCallbacks(ctx, again, time.Minute, 10)
		if err != nil || len(got) != 2 { // cb (freed by the takeover, not retried) and the survivor's status callback
			t.Fatalf("the new incarnation's claim: %d %v", len(got), err)
		}
		for _, c := range got {
			if err := db.FinishCallback(ctx, c.ID, old); err != nil {
				t.Fatal(err)
			}
		}
		if n, _ := db.PendingCallbacks(ctx); n != 2 {
			t.Fatalf("pending after the old incarnation's finish: %d, want 2", n)
		}
		for _, c := range got {
			if err := db.FinishCallback(ctx, c.ID, again); err != nil {
				t.Fatal(err)
			}
		}
		if n, _ := db.PendingCallbacks(ctx); n != 0 {
			t.Fatalf("pending after the new incarnation's finish: %d, want 0", n)
		}
	})
}

// TestLeaseByDatabaseClock: on PostgreSQL a message lease is given and judged by the
// database server's clock. A node whose clock runs two minutes behind claims with a
// one-minute lease; by its own clock that lease ended a minute ago already, so a node
// with the right time would take the message again while the first still sends it.
// The same for a message stored already leased by such a node. SQLite is one host
// with one clock: nothing to show.
func TestLeaseByDatabaseClock(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB) {
		if db.Dialect() != Postgres {
			t.Skip("one host, one clock")
		}
		ctx := context.Background()
		mkAccount(t, db, "MA1", "")
		behind := func() time.Time { return time.Now().Add(-2 * time.Minute) }
		m := testMessage("skew")
		m.NextAttemptAt = behind()
		if err := db.InsertMessages(ctx, []*trunkline.Message{m}, nil); err != nil {
			t.Fatal(err)
		}
		db.SetClock(behind)
		if ms, err := db.ClaimMessages(ctx, "behind", time.Minute, 10); err != nil || len(ms) != 1 {
			t.Fatalf("first claim: %d %v", len(ms), err)
		}
		// A message stored already leased (handed to its node's workers) too.
		d := testMessage("skew-direct")
		d.LeaseOwner, d.LeaseUntil, d.Attempts = "behind", behind().Add(time.Minute), 1
		if err := db.InsertMessages(ctx, []*trunkline.Message{d}, nil); err != nil {
			t.Fatal(err)
		}
		db.SetClock(time.Now)
		if ms, err := db.ClaimMessages(ctx, "on-time", time.Minute, 10); err != nil || len(ms) != 0 {
			t.Fatalf("leases still running (by the database's clock) were claimed again: %d %v", len(ms), err)
		}
	})
}

// TestClusterDSNEndsFrozenTransactions: a cluster node's sessions are ended by
// PostgreSQL when they sit in a transaction waiting for the node (frozen) longer than
// the given time, so the row locks it held go to the others.
func TestClusterDSNEndsFrozenTransactions(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	if dsn == "" {
		t.Skip("needs " + storetest.PostgresEnv)
	}
	if got := ClusterDSN("data/trunkline.db", time.Second); got != "data/trunkline.db" {
		t.Fatalf("a SQLite path changed: %s", got)
	}
	if got := ClusterDSN("postgres://h/db?idle_in_transaction_session_timeout=9000", time.Second); !strings.Contains(got, "=9000") {
		t.Fatalf("the DSN's own timeout was replaced: %s", got)
	}
	ctx := context.Background()
	db, err := Open(ctx, ClusterDSN(dsn, 200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tx, err := db.SQL().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	var v string
	if err := tx.QueryRow(`SHOW idle_in_transaction_session_timeout`).Scan(&v); err != nil || v != "200ms" {
		t.Fatalf("idle_in_transaction_session_timeout = %q (%v)", v, err)
	}
	time.Sleep(time.Second) // the node "freezes" inside its transaction
	if err := tx.QueryRow(`SELECT 1`).Scan(new(int)); err == nil {
		t.Fatal("a session frozen inside its transaction was not ended")
	}
}

// TestBatchRunsAgainAfterIdleEnd: a writer that stood still inside its transaction
// past idle_in_transaction_session_timeout (the node was frozen) finds the session
// ended on its next statement; nothing of the batch was stored, so the writer runs it
// again on a new connection and the caller gets its write, stored once, not an error.
func TestBatchRunsAgainAfterIdleEnd(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	if dsn == "" {
		t.Skip("needs " + storetest.PostgresEnv)
	}
	ctx := context.Background()
	db, err := Open(ctx, ClusterDSN(dsn, 200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	runs := 0
	err = db.Write(ctx, func(ctx context.Context, tx *Tx) error {
		runs++
		if _, err := tx.Exec(ctx, `INSERT INTO accounts (id, name, created_at, modified_at) VALUES ('MA1', 'a', 0, 0)`); err != nil {
			return err
		}
		if runs == 1 {
			time.Sleep(time.Second) // the node "freezes" inside its transaction
		}
		_, err := tx.Exec(ctx, `UPDATE accounts SET name = 'b' WHERE id = 'MA1'`)
		return err
	})
	if err != nil || runs != 2 {
		t.Fatalf("write: %v after %d runs; want it stored on the second", err, runs)
	}
	var n int
	if err := db.SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM accounts WHERE id = 'MA1' AND name = 'b'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("accounts stored: %d (%v), want 1", n, err)
	}
}
