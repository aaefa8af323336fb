package cluster

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/store"
	"github.com/trunkline/trunkline/store/storetest"
)

type takeovers struct {
	mu   sync.Mutex
	seen map[string]string // dead node -> taken by
	ch   chan string
}

func newMember(db *store.DB, name string, tk *takeovers) *Member {
	return New(Options{Node: trunkline.Node{Name: name, Roles: []string{"api", "sip", "sms"}}, Store: db,
		Heartbeat: 50 * time.Millisecond, DeadAfter: 200 * time.Millisecond,
		Lost: Lost{Code: 7070, Name: "Node Failure", Source: "Plivo"},
		TookOver: func(dead string, at time.Time) {
			tk.mu.Lock()
			tk.seen[dead] = name
			tk.mu.Unlock()
			tk.ch <- dead
		}})
}

// Three members on one store: one killed (no goodbye) is taken over by exactly one
// survivor, its live calls ended in the records; the leader lease moves when the
// leader dies; a clean leave is not taken over.
func TestTakeoverAndLeader(t *testing.T) {
	for _, db := range storetest.Open(t) {
		t.Run(string(db.Dialect()), func(t *testing.T) {
			ctx := context.Background()
			tk := &takeovers{seen: map[string]string{}, ch: make(chan string, 10)}
			ms := map[string]*Member{}
			for _, n := range []string{"a", "b", "c"} {
				m := newMember(db, n, tk)
				if err := m.Start(ctx); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { m.Kill() })
				ms[n] = m
			}
			leader := waitLeader(t, ms)
			// A live call on the leader, which dies.
			acct := "MA1"
			if err := db.CreateAccount(ctx, &trunkline.Account{ID: acct, Name: "n", Enabled: true},
				&trunkline.Credential{ID: "CR1", TokenMAC: []byte("mac"), TokenEnc: []byte("enc")}); err != nil {
				t.Fatal(err)
			}
			if err := db.InsertCall(ctx, &trunkline.Call{UUID: "call-1", AccountID: acct, Direction: "inbound",
				Node: leader, HangupURL: "https://example.com/h", HangupMethod: "POST"}); err != nil {
				t.Fatal(err)
			}
			if node, err := db.CallNode(ctx, "call-1"); err != nil || node != leader {
				t.Fatalf("CallNode = %q, %v", node, err)
			}
			killed := time.Now()
			ms[leader].Kill()
			delete(ms, leader)
			select {
			case dead := <-tk.ch:
				if dead != leader {
					t.Fatalf("took over %s, want %s", dead, leader)
				}
				t.Logf("kill -> takeover in %s", time.Since(killed))
			case <-time.After(5 * time.Second):
				t.Fatal("no survivor took the dead node over")
			}
			c, err := db.GetCall(ctx, trunkline.Scope{AccountID: acct}, "call-1")
			if err != nil {
				t.Fatal(err)
			}
			if c.State != trunkline.CallCompleted || c.HangupCauseCode != 7070 || c.HangupReason == "" {
				t.Fatalf("dead node's call: %+v", c)
			}
			if _, err := db.CallNode(ctx, "call-1"); err == nil {
				t.Fatal("an ended call still has a node")
			}
			newLeader := waitLeader(t, ms)
			if newLeader == leader {
				t.Fatal("the dead node still leads")
			}
			// A clean leave: nobody takes it over.
			for n, m := range ms {
				if n != newLeader {
					if err := m.Shutdown(ctx); err != nil {
						t.Fatal(err)
					}
				}
			}
			nodes, err := db.Nodes(ctx)
			if err != nil {
				t.Fatal(err)
			}
			states := map[string]string{}
			for _, n := range nodes {
				states[n.Name] = n.State
			}
			want := map[string]string{"a": trunkline.NodeLeft, "b": trunkline.NodeLeft, "c": trunkline.NodeLeft}
			want[leader], want[newLeader] = trunkline.NodeDead, trunkline.NodeUp
			for n, s := range want {
				if states[n] != s {
					t.Fatalf("states %v, want %v", states, want)
				}
			}
			tk.mu.Lock()
			if len(tk.seen) != 1 {
				t.Fatalf("takeovers %v, want only %s", tk.seen, leader)
			}
			tk.mu.Unlock()
		})
	}
}

func waitLeader(t *testing.T, ms map[string]*Member) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		var leaders []string
		for n, m := range ms {
			if m.Leader() {
				leaders = append(leaders, n)
			}
		}
		if len(leaders) == 1 {
			return leaders[0]
		}
		if len(leaders) > 1 {
			t.Fatalf("two leaders: %v", leaders)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("no leader")
	return ""
}

// Nodes whose clocks disagree by more than bus.dead_after (here one 3 s behind, one
// 3 s ahead) judge each other by the database's clock: neither is given up for dead
// while both heartbeat, and one leads. Judged by each node's own clock, the node
// ahead saw the other's heartbeats as old and took it over (its calls ended, its
// leases freed) at every heartbeat. Two stores on one PostgreSQL schema stand for two
// processes; on SQLite (one host, one clock) there is nothing to show.
func TestClockSkewIsNoDeath(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	if dsn == "" {
		t.Skip("needs " + storetest.PostgresEnv)
	}
	ctx := context.Background()
	tk := &takeovers{seen: map[string]string{}, ch: make(chan string, 10)}
	ms := map[string]*Member{}
	for name, skew := range map[string]time.Duration{"behind": -3 * time.Second, "ahead": 3 * time.Second} {
		db, err := store.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		clock := func() time.Time { return time.Now().Add(skew) }
		db.SetClock(clock)
		m := newMember(db, name, tk)
		m.o.Now = clock
		if err := m.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(m.Kill)
		ms[name] = m
	}
	waitLeader(t, ms)
	// Ten times dead_after: a node judged by a skewed clock is taken over within two.
	select {
	case dead := <-tk.ch:
		t.Fatalf("%s was given up for dead while heartbeating", dead)
	case <-time.After(10 * 200 * time.Millisecond):
	}
	waitLeader(t, ms)
}

// stallStore is a database that answers at once until stall is closed, then lets
// every heartbeat hang until its context ends (a stub: what is judged is the
// member's own deadline, not SQL).
type stallStore struct {
	mu        sync.Mutex
	stall     chan struct{}
	lastStart time.Time // start of the last heartbeat that answered
	deadline  chan time.Time
}

func (s *stallStore) JoinCluster(context.Context, *trunkline.Node) error { return nil }
func (s *stallStore) Heartbeat(ctx context.Context, _, _ string, _ trunkline.NodeLoad) (bool, error) {
	start := time.Now()
	select {
	case <-s.stall:
		d, _ := ctx.Deadline()
		select {
		case s.deadline <- d:
		default:
		}
		<-ctx.Done()
		return false, ctx.Err()
	default:
	}
	s.mu.Lock()
	s.lastStart = start
	s.mu.Unlock()
	return false, nil
}
func (s *stallStore) LeaveCluster(context.Context, string, string) error { return nil }
func (s *stallStore) SilentNodes(context.Context, time.Duration) ([]string, error) {
	return nil, nil
}
func (s *stallStore) TakeOverNode(context.Context, string, time.Duration, trunkline.CallEnd) (*trunkline.Takeover, error) {
	return nil, nil
}
func (s *stallStore) HoldLease(context.Context, string, string, time.Duration) (bool, error) {
	return true, nil
}
func (s *stallStore) DropLease(context.Context, string, string) error { return nil }

// A leader whose database stalls stops leading by the time its lease, renewed at
// its last good heartbeat, may have run out and another node may lead: no later
// than dead_after after that heartbeat began. It used to wait dead_after from the
// stalled heartbeat, a heartbeat period longer, with two leaders meanwhile.
func TestLeaderStallEndsWithLease(t *testing.T) {
	st := &stallStore{stall: make(chan struct{}), deadline: make(chan time.Time, 1)}
	const every, patience = 200 * time.Millisecond, time.Second
	m := New(Options{Node: trunkline.Node{Name: "a"}, Store: st, Heartbeat: every, DeadAfter: patience})
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Kill)
	waitLeader(t, map[string]*Member{"a": m})
	close(st.stall)
	var deadline time.Time
	select {
	case deadline = <-st.deadline:
	case <-time.After(5 * time.Second):
		t.Fatal("no heartbeat after the stall")
	}
	st.mu.Lock()
	leaseEnd := st.lastStart.Add(patience)
	st.mu.Unlock()
	if over := deadline.Sub(leaseEnd); over > 0 {
		t.Fatalf("the stalled leader believes it leads %s past the end of its lease", over)
	}
	for end := time.Now().Add(5 * time.Second); m.Leader(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("the stalled node still leads")
		}
	}
}

// A one-shot singleton (it returns nil when its job is done) runs once on the leader,
// not over and over; a long-running one runs until the node stops.
func TestSingletonOneShot(t *testing.T) {
	db := storetest.Open(t)[0]
	m := newMember(db, "solo", &takeovers{seen: map[string]string{}, ch: make(chan string, 10)})
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Kill() })
	waitLeader(t, map[string]*Member{"solo": m})
	var runs atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Singleton(func(context.Context) error { runs.Add(1); return nil })(ctx) }()
	select {
	case err := <-done:
		if err != nil || runs.Load() != 1 {
			t.Fatalf("one-shot singleton: %v after %d runs, want nil after 1", err, runs.Load())
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("the one-shot singleton never returned (%d runs)", runs.Load())
	}
	started := make(chan struct{})
	go func() {
		done <- m.Singleton(func(c context.Context) error { close(started); <-c.Done(); return nil })(ctx)
	}()
	<-started
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// A member given up for dead while it runs (as a frozen process is, found when it
// wakes) is fenced: at its next heartbeat its claims stop being its own (Holds), it is
// told to end its calls (Fenced), and it rejoins as a new incarnation, up again, whose
// claims are its own. The row is not flipped back to up under the old incarnation.
func TestGivenUpForDeadRejoins(t *testing.T) {
	for _, db := range storetest.Open(t) {
		t.Run(string(db.Dialect()), func(t *testing.T) {
			ctx := context.Background()
			// What the member says while it is fenced, read inside Fenced: it may rejoin
			// one heartbeat later, before the test goroutine looks.
			type seen struct {
				owner             string
				holdsOld, holdsIt bool
			}
			fenced := make(chan seen, 1)
			var m *Member
			var old string
			m = New(Options{Node: trunkline.Node{Name: "a"}, Store: db, Heartbeat: 50 * time.Millisecond, DeadAfter: 200 * time.Millisecond,
				Fenced: func(context.Context) { o := m.Owner(); fenced <- seen{o, m.Holds(old), m.Holds(o)} }})
			old = m.Owner()
			if !m.Holds(old) {
				t.Fatal("a new member does not hold its own claims")
			}
			if err := m.Start(ctx); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(m.Kill)
			tk, err := db.TakeOverNode(ctx, "a", -time.Hour, trunkline.CallEnd{Code: 7070})
			if err != nil || tk == nil {
				t.Fatalf("takeover: %v %v", tk, err)
			}
			var during seen
			select {
			case during = <-fenced:
			case <-time.After(5 * time.Second):
				t.Fatal("the member never found itself given up for dead")
			}
			if during.owner == old || during.holdsOld || during.holdsIt {
				t.Fatalf("while fenced: owner %s (was %s), holds old %v, holds new %v", during.owner, old, during.holdsOld, during.holdsIt)
			}
			deadline := time.Now().Add(5 * time.Second)
			for !m.Holds(m.Owner()) {
				if time.Now().After(deadline) {
					t.Fatal("the member did not rejoin")
				}
				time.Sleep(10 * time.Millisecond)
			}
			nodes, err := db.Nodes(ctx)
			if err != nil || len(nodes) != 1 || nodes[0].State != trunkline.NodeUp || trunkline.NodeOwner("a", nodes[0].Incarnation) != m.Owner() {
				t.Fatalf("after the rejoin: %+v %v (owner %s)", nodes[0], err, m.Owner())
			}
			if m.Holds(old) {
				t.Fatal("the rejoined member holds its old incarnation's claims")
			}
		})
	}
}
