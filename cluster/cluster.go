// Package cluster makes one Trunkline node a member of a cluster of nodes sharing one
// PostgreSQL database and one NATS bus: it announces the node with a heartbeat in the
// nodes table, notices a node that stopped heartbeating and has one survivor take its
// work over (message and callback leases freed at once, its live calls ended in the
// records), holds the leader lease under which singletons run (audit checkpoints,
// sweepers, probes), and routes live-call requests to the node that holds the call.
//
// Death is decided on heartbeats in the database, not on the bus: the database is what
// the work lives in, so a node cut off from it is as good as dead, and a node cut off
// only from the bus keeps its work.
//
// A node given up for dead may not be: it was frozen (SIGSTOP, a long pause) or cut off
// and comes back. It is fenced: its claims carry its incarnation (Owner), the store
// refuses every write back of a claim whose lease went to another node, work in hand
// is submitted only while Holds says the claim is still this node's, and the node,
// finding itself dead at its next heartbeat, ends its calls locally (Options.Fenced)
// and rejoins as a new incarnation, which none of its old claims belong to.
package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/trunkline/trunkline"
)

// Store is what membership needs of the database.
type Store interface {
	JoinCluster(ctx context.Context, n *trunkline.Node) error
	Heartbeat(ctx context.Context, name, incarnation string, load trunkline.NodeLoad) (wasDead bool, err error)
	LeaveCluster(ctx context.Context, name, incarnation string) error
	// SilentNodes and TakeOverNode judge silence by the database's clock (patience:
	// how long without a heartbeat), never by this node's, which may be off.
	SilentNodes(ctx context.Context, patience time.Duration) ([]string, error)
	// TakeOverNode marks a silent node dead and frees its work in one transaction
	// (nil: it was not silent, or another survivor was first).
	TakeOverNode(ctx context.Context, name string, patience time.Duration, end trunkline.CallEnd) (*trunkline.Takeover, error)
	HoldLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	DropLease(ctx context.Context, name, holder string) error
}

// Lost is how a dead node's calls are ended in the records.
type Lost struct {
	Code         int
	Name, Source string
	// Tell is called with the calls ended (their hangup_url is called).
	Tell func(ctx context.Context, calls []*trunkline.Call)
}

// Options configure a Member.
type Options struct {
	Node      trunkline.Node // name, roles, addresses, version
	Store     Store
	Heartbeat time.Duration // default 300 ms
	DeadAfter time.Duration // default 1 s
	// Load reports what the node holds and its bus peers, for cluster status.
	Load func() trunkline.NodeLoad
	// Lost ends a dead node's calls; Wake tells the workers there is work again.
	Lost Lost
	Wake func()
	// TookOver, when set, is told each node this one took over and how long after
	// its last heartbeat (the tests' and benchmarks' measure).
	TookOver func(node string, at time.Time)
	// Fenced is called when this node finds that the others gave it up for dead and
	// took its work over: its claims are no longer its own (Holds is false for
	// them), and it should end the calls it still carries, locally, leaving the
	// records the survivors wrote. It rejoins as a new incarnation after.
	Fenced func(ctx context.Context)
	Logger *slog.Logger
	Now    func() time.Time
}

// timing fills in the defaults of a renewal period (300 ms) and of the patience after
// which what is not renewed is given up (at least two periods, 1 s by default), and
// returns logger or a discarding one.
func timing(every, patience *time.Duration, logger *slog.Logger) *slog.Logger {
	if *every <= 0 {
		*every = 300 * time.Millisecond
	}
	if *patience < 2**every {
		*patience = max(time.Second, 2**every)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return logger
}

// LeaderLease is the lease under which the singletons run.
const LeaderLease = "leader"

// Member is this node's membership. Start joins and heartbeats; Shutdown leaves.
type Member struct {
	o      Options
	log    *slog.Logger
	leader chan struct{} // closed while leader; replaced when lost

	// renewed is when the tick that last renewed the leader lease began (this
	// process's monotonic clock): the lease runs at least DeadAfter from then, and
	// no longer than that may this node believe it leads without renewing it.
	renewed time.Time

	mu       sync.Mutex
	isLeader bool
	// beat is when the last heartbeat that the store took began (this process's
	// monotonic clock); fenced is set from finding this incarnation dead until it
	// has rejoined as a new one. Both guard Holds; Node.Incarnation changes under mu.
	beat     time.Time
	fenced   bool
	leaderCh chan struct{} // closed when leadership is lost
	cancel   context.CancelFunc
	done     chan struct{}
}

// New returns a member for o.
func New(o Options) *Member {
	o.Logger = timing(&o.Heartbeat, &o.DeadAfter, o.Logger)
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Load == nil {
		o.Load = func() trunkline.NodeLoad { return trunkline.NodeLoad{} }
	}
	if o.Wake == nil {
		o.Wake = func() {}
	}
	o.Node.Incarnation = newIncarnation()
	return &Member{o: o, log: o.Logger.With("node", o.Node.Name)}
}

func newIncarnation() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Name is this node's name.
func (m *Member) Name() string { return m.o.Node.Name }

// SetAddresses sets the addresses the node announces (cluster status). Call it
// before Start: the member exists before the servers are bound, since the workers
// started with them claim work under its Owner.
func (m *Member) SetAddresses(a map[string]string) { m.o.Node.Addresses = a }

// Owner is the lease owner this node's claims carry now (trunkline.NodeOwner): its
// name and current incarnation.
func (m *Member) Owner() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return trunkline.NodeOwner(m.o.Node.Name, m.o.Node.Incarnation)
}

// Holds reports whether work claimed as owner may still be acted on (submitted to a
// carrier, delivered): owner is this node's current incarnation, and its last
// heartbeat is recent enough that nobody can have given it up for dead. That is
// judged on this process's monotonic clock from when the heartbeat began, which is
// no later than the database stamped it: the others wait dead_after from that stamp
// (by the database's clock), so a node that holds by this test has not been taken
// over. Before Start nobody knows this incarnation, so nobody can take it over.
func (m *Member) Holds(owner string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fenced || owner != trunkline.NodeOwner(m.o.Node.Name, m.o.Node.Incarnation) {
		return false
	}
	return m.beat.IsZero() || time.Since(m.beat) < m.o.DeadAfter
}

// Start records the node as up and starts heartbeating and watching the others.
func (m *Member) Start(ctx context.Context) error {
	if err := m.join(ctx); err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	m.cancel, m.done = cancel, make(chan struct{})
	go m.run(runCtx)
	return nil
}

func (m *Member) run(ctx context.Context) {
	defer close(m.done)
	t := time.NewTicker(m.o.Heartbeat)
	defer t.Stop()
	for {
		m.tick(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// tick heartbeats, renews or seeks the leader lease, and takes over silent nodes.
func (m *Member) tick(ctx context.Context) {
	load := m.o.Load()
	start := time.Now()
	deadline := start.Add(m.o.DeadAfter)
	if m.Leader() {
		// A leader whose database stalls stops leading when its lease may have run
		// out and another node may lead, not a heartbeat period later.
		deadline = m.renewed.Add(m.o.DeadAfter)
	}
	tctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	m.mu.Lock()
	fenced := m.fenced
	m.mu.Unlock()
	if fenced { // given up for dead and not yet rejoined
		m.rejoin(tctx)
		return
	}
	wasDead, err := m.o.Store.Heartbeat(tctx, m.o.Node.Name, m.o.Node.Incarnation, load)
	switch {
	case errors.Is(err, trunkline.ErrConflict):
		m.log.Error("another process runs under this node name: give each node its own node_name")
		m.setLeader(false)
		return
	case err != nil:
		if ctx.Err() == nil {
			m.log.Warn("heartbeat", "err", err)
		}
		// Without the database this node cannot prove it lives: stop leading.
		m.setLeader(false)
		return
	case wasDead:
		m.rejoin(tctx)
		return
	}
	m.mu.Lock()
	m.beat = start
	m.mu.Unlock()
	held, err := m.o.Store.HoldLease(tctx, LeaderLease, m.o.Node.Name, m.o.DeadAfter)
	if err != nil {
		held = false
	}
	if held {
		m.renewed = start
	}
	m.setLeader(held)
	silent, err := m.o.Store.SilentNodes(tctx, m.o.DeadAfter)
	if err != nil {
		return
	}
	for _, name := range silent {
		if name == m.o.Node.Name {
			continue
		}
		m.takeOver(ctx, name)
	}
}

// join records this node as up under its current incarnation.
func (m *Member) join(ctx context.Context) error {
	m.mu.Lock()
	n := m.o.Node
	m.mu.Unlock()
	start := time.Now()
	if err := m.o.Store.JoinCluster(ctx, &n); err != nil {
		return err
	}
	m.mu.Lock()
	m.beat, m.fenced = start, false
	m.mu.Unlock()
	return nil
}

// rejoin handles finding this node given up for dead: the others freed its work and
// ended its calls in the records. It lets go of everything under its incarnation (a
// new one: nothing claimed before is Held any more), ends its calls locally, and
// joins again; until then it claims nothing (the store refuses a dead incarnation's
// claims). If the join fails the next tick tries again.
func (m *Member) rejoin(ctx context.Context) {
	m.mu.Lock()
	if !m.fenced {
		m.fenced = true
		m.o.Node.Incarnation = newIncarnation()
		m.mu.Unlock()
		m.setLeader(false)
		m.log.Error("this node was given up for dead (frozen or cut off longer than bus.dead_after) and its work taken over: " +
			"dropping the work it held, ending its calls, rejoining as a new incarnation")
		if m.o.Fenced != nil {
			m.o.Fenced(ctx)
		}
	} else {
		m.mu.Unlock()
	}
	if err := m.join(ctx); err != nil {
		if ctx.Err() == nil {
			m.log.Warn("rejoin the cluster", "err", err)
		}
		return
	}
	m.log.Warn("rejoined the cluster as a new incarnation")
	m.o.Wake()
}

// takeOver marks name dead and, if this node was first to, frees its work.
func (m *Member) takeOver(ctx context.Context, name string) {
	lost := trunkline.CallEnd{Code: m.o.Lost.Code, Name: m.o.Lost.Name, Source: m.o.Lost.Source, Reason: LostReason(name)}
	t, err := m.o.Store.TakeOverNode(ctx, name, m.o.DeadAfter, lost)
	if err != nil {
		m.log.Error("take a dead node over (retried at the next heartbeat)", "dead_node", name, "err", err)
		return
	}
	if t == nil {
		return
	}
	at := m.o.Now()
	m.o.Wake()
	m.log.Warn("node stopped heartbeating: took its work over", "dead_node", name, "messages", t.Messages, "calls", len(t.Calls))
	if m.o.TookOver != nil {
		m.o.TookOver(name, at)
	}
	if len(t.Calls) > 0 && m.o.Lost.Tell != nil {
		m.o.Lost.Tell(ctx, t.Calls)
	}
}

// LostReason is the hangup reason of the calls of a node that died.
func LostReason(node string) string {
	return "the node holding the call (" + node + ") stopped; the call ended with it"
}

func (m *Member) setLeader(held bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if held == m.isLeader {
		return
	}
	m.isLeader = held
	if held {
		m.leaderCh = make(chan struct{})
		m.log.Info("leader: running the singletons")
		if m.leader != nil {
			close(m.leader)
			m.leader = nil
		}
	} else if m.leaderCh != nil {
		close(m.leaderCh)
		m.leaderCh = nil
	}
}

// Leader reports whether this node holds the leader lease.
func (m *Member) Leader() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.isLeader
}

// leadership waits until this node leads (or ctx ends) and returns a channel closed
// when it no longer does.
func (m *Member) leadership(ctx context.Context) (<-chan struct{}, bool) {
	for {
		m.mu.Lock()
		if m.isLeader {
			ch := m.leaderCh
			m.mu.Unlock()
			return ch, true
		}
		if m.leader == nil {
			m.leader = make(chan struct{})
		}
		wait := m.leader
		m.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, false
		}
	}
}

// Singleton wraps a worker that must run on one node at a time: it runs while this
// node holds the leader lease, and its context ends when the lease is lost (a new
// leader may start it within bus.dead_after). A worker that returns on its own (a
// one-shot job that finished) is not started again.
func (m *Member) Singleton(run func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		for {
			lost, ok := m.leadership(ctx)
			if !ok {
				return nil
			}
			rctx, cancel := context.WithCancel(ctx)
			go func() {
				select {
				case <-lost:
				case <-rctx.Done():
				}
				cancel()
			}()
			err := run(rctx)
			finished := rctx.Err() == nil // returned before the lease was lost
			cancel()
			if ctx.Err() != nil {
				return err
			}
			if err != nil {
				m.log.Error("singleton stopped", "err", err)
				return err
			}
			if finished {
				// Running it again at once would spin (it did: the one-shot sealing of
				// old message bodies queried the messages table in a loop on the leader).
				return nil
			}
		}
	}
}

// Shutdown leaves the cluster cleanly: the heartbeat stops, the leader lease goes to
// another node at once, and nobody takes this node's work over (it finished it).
func (m *Member) Shutdown(ctx context.Context) error {
	m.stop()
	m.setLeader(false)
	if err := m.o.Store.DropLease(ctx, LeaderLease, m.o.Node.Name); err != nil {
		return err
	}
	return m.o.Store.LeaveCluster(ctx, m.o.Node.Name, m.o.Node.Incarnation)
}

// Kill stops heartbeating without leaving, as a crash would (tests).
func (m *Member) Kill() { m.stop() }

func (m *Member) stop() {
	if m.cancel != nil {
		m.cancel()
		<-m.done
		m.cancel = nil
	}
}
