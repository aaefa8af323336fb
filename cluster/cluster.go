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
	Heartbeat(ctx context.Context, name, incarnation string, calls, binds int) (wasDead bool, err error)
	LeaveCluster(ctx context.Context, name, incarnation string) error
	// SilentNodes and MarkNodeDead judge silence by the database's clock (patience:
	// how long without a heartbeat), never by this node's, which may be off.
	SilentNodes(ctx context.Context, patience time.Duration) ([]string, error)
	MarkNodeDead(ctx context.Context, name string, patience time.Duration) (bool, error)
	HoldLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	DropLease(ctx context.Context, name, holder string) error
	DropLeasesOf(ctx context.Context, holder string) error
	ReleaseLeases(ctx context.Context, owner string) (int64, error)
	EndCallsOf(ctx context.Context, node string, causeCode int, causeName, source, reason string) ([]*trunkline.Call, error)
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
	// Load reports what the node holds, for cluster status.
	Load func() (calls, binds int)
	// Lost ends a dead node's calls; Wake tells the workers there is work again.
	Lost Lost
	Wake func()
	// TookOver, when set, is told each node this one took over and how long after
	// its last heartbeat (the tests' and benchmarks' measure).
	TookOver func(node string, at time.Time)
	Logger   *slog.Logger
	Now      func() time.Time
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
		o.Load = func() (int, int) { return 0, 0 }
	}
	if o.Wake == nil {
		o.Wake = func() {}
	}
	b := make([]byte, 8)
	rand.Read(b)
	o.Node.Incarnation = hex.EncodeToString(b)
	return &Member{o: o, log: o.Logger.With("node", o.Node.Name)}
}

// Name is this node's name.
func (m *Member) Name() string { return m.o.Node.Name }

// Start records the node as up and starts heartbeating and watching the others.
func (m *Member) Start(ctx context.Context) error {
	n := m.o.Node
	if err := m.o.Store.JoinCluster(ctx, &n); err != nil {
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
	calls, binds := m.o.Load()
	start := time.Now()
	deadline := start.Add(m.o.DeadAfter)
	if m.Leader() {
		// A leader whose database stalls stops leading when its lease may have run
		// out and another node may lead, not a heartbeat period later.
		deadline = m.renewed.Add(m.o.DeadAfter)
	}
	tctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	wasDead, err := m.o.Store.Heartbeat(tctx, m.o.Node.Name, m.o.Node.Incarnation, calls, binds)
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
		m.log.Error("this node was given up for dead (frozen or cut off longer than bus.dead_after): its work was taken over, some may run twice")
	}
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

// takeOver marks name dead and, if this node was first to, frees its work.
func (m *Member) takeOver(ctx context.Context, name string) {
	won, err := m.o.Store.MarkNodeDead(ctx, name, m.o.DeadAfter)
	if err != nil || !won {
		return
	}
	at := m.o.Now()
	log := m.log.With("dead_node", name)
	n, err := m.o.Store.ReleaseLeases(ctx, name)
	if err != nil {
		log.Error("free a dead node's message leases (they wait for their leases to run out)", "err", err)
	}
	if err := m.o.Store.DropLeasesOf(ctx, name); err != nil {
		log.Error("drop a dead node's leases", "err", err)
	}
	m.o.Wake()
	calls, err := m.o.Store.EndCallsOf(ctx, name, m.o.Lost.Code, m.o.Lost.Name, m.o.Lost.Source, LostReason(name))
	if err != nil {
		log.Error("end a dead node's calls", "err", err)
	}
	log.Warn("node stopped heartbeating: took its work over", "messages", n, "calls", len(calls))
	if m.o.TookOver != nil {
		m.o.TookOver(name, at)
	}
	if len(calls) > 0 && m.o.Lost.Tell != nil {
		m.o.Lost.Tell(ctx, calls)
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
