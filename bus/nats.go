package bus

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/trunkline/trunkline"
)

var _ trunkline.Bus = (*NATS)(nil)

// NATSOptions configure a NATS bus: either an embedded server per node, clustered with
// its peers through routes (Listen, RouteListen, Routes), or an external NATS by URL.
type NATSOptions struct {
	// Name is this node's name; it names the embedded server and the client connection.
	Name string
	// URL, when set, connects to an external NATS cluster (comma-separated URLs) and
	// starts no embedded server.
	URL string
	// Listen is the embedded server's client listener (host:port, port 0 for any). It
	// is needed even though this node talks to its server in process: nats-server opens
	// routes only once its client listener is up. It asks for Token.
	Listen string
	// RouteListen is where peers' routes connect (host:port); empty: no cluster.
	RouteListen string
	// Routes are the peers' route addresses (host:port); this node's own may be among
	// them (a shared list on every node), it is skipped by the server.
	Routes []string
	// Cluster is the cluster name; every node of one cluster uses the same.
	Cluster string
	// Token authenticates clients and routes (as the route password); a cluster shares
	// it. Required with an embedded server: nothing unauthenticated may join.
	Token string
	// RouteTLS, when set, encrypts routes and verifies peers (mutual TLS).
	RouteTLS *tls.Config
	// PingInterval detects a dead peer whose connection stays open (a frozen host); a
	// killed one is seen at once by its closed socket. Default 250 ms.
	PingInterval time.Duration
	Logger       *slog.Logger
}

// NATS is a trunkline.Bus over NATS: subjects, Publish, Subscribe and Request mean the
// same as on Local, and reach every node of the cluster. The server shape: NewNATS →
// Start (binds synchronously) → ClientAddr/RouteAddr → Close.
type NATS struct {
	o   NATSOptions
	srv *server.Server
	nc  *nats.Conn
}

// NewNATS returns a NATS bus for o; Start starts it.
func NewNATS(o NATSOptions) *NATS {
	if o.PingInterval <= 0 {
		o.PingInterval = 250 * time.Millisecond
	}
	if o.Cluster == "" {
		o.Cluster = "trunkline"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &NATS{o: o}
}

// routeUser is the user name of the route credentials; the password is the token.
const routeUser = "trunkline"

// Start starts the embedded server (unless URL is set) and connects to it. The embedded
// server is ready for connections when Start returns; routes to peers form in the
// background (a peer not yet up is retried).
func (b *NATS) Start(ctx context.Context) error {
	o := b.o
	copts := []nats.Option{nats.Name(o.Name), nats.MaxReconnects(-1), nats.ReconnectWait(100 * time.Millisecond),
		nats.PingInterval(time.Second)}
	if o.Token != "" {
		copts = append(copts, nats.Token(o.Token))
	}
	if o.URL != "" {
		nc, err := nats.Connect(o.URL, append(copts, nats.RetryOnFailedConnect(false))...)
		if err != nil {
			return fmt.Errorf("bus: connect to NATS: %w", err)
		}
		b.nc = nc
		return nil
	}
	if len(o.Token) < 16 {
		return errors.New("bus: the embedded NATS server needs a token of 16 characters or more (bus.token or bus.token_file)")
	}
	host, port, err := splitHostPort(o.Listen)
	if err != nil {
		return fmt.Errorf("bus: listen %q: %w", o.Listen, err)
	}
	so := &server.Options{ServerName: o.Name, Host: host, Port: port, NoSigs: true, NoLog: true,
		Authorization: o.Token, MaxControlLine: 4096, PingInterval: 2 * time.Second, MaxPingsOut: 2}
	if o.RouteListen != "" {
		rh, rp, err := splitHostPort(o.RouteListen)
		if err != nil {
			return fmt.Errorf("bus: route_listen %q: %w", o.RouteListen, err)
		}
		so.Cluster = server.ClusterOpts{Name: o.Cluster, Host: rh, Port: rp, Username: routeUser, Password: o.Token,
			PingInterval: o.PingInterval, MaxPingsOut: 2, ConnectRetries: -1, TLSConfig: o.RouteTLS, TLSTimeout: 2,
			NoAdvertise: false}
		for _, r := range o.Routes {
			u := &url.URL{Scheme: "nats-route", Host: r, User: url.UserPassword(routeUser, o.Token)}
			so.Routes = append(so.Routes, u)
		}
	}
	srv, err := server.NewServer(so)
	if err != nil {
		return fmt.Errorf("bus: NATS server: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return fmt.Errorf("bus: NATS server not ready on %s (route %s)", o.Listen, o.RouteListen)
	}
	b.srv = srv
	nc, err := nats.Connect("", append(copts, nats.InProcessServer(srv))...)
	if err != nil {
		srv.Shutdown()
		return fmt.Errorf("bus: connect to the embedded NATS server: %w", err)
	}
	b.nc = nc
	return nil
}

func splitHostPort(hp string) (string, int, error) {
	h, p, err := net.SplitHostPort(hp)
	if err != nil {
		return "", 0, err
	}
	if h == "" {
		return "", 0, errors.New("name the address to listen on (never all interfaces by default)")
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 0 || n > 65535 {
		return "", 0, fmt.Errorf("bad port %q", p)
	}
	if n == 0 {
		n = -1 // nats-server: -1 picks a free port (0 means its default, 4222)
	}
	return h, n, nil
}

// ClientAddr is the embedded server's client listener (zero with an external NATS).
func (b *NATS) ClientAddr() netip.AddrPort {
	if b.srv == nil {
		return netip.AddrPort{}
	}
	a, _ := netip.ParseAddrPort(b.srv.Addr().String())
	return a
}

// RouteAddr is the embedded server's route listener (zero without a cluster).
func (b *NATS) RouteAddr() netip.AddrPort {
	if b.srv == nil || b.srv.ClusterAddr() == nil {
		return netip.AddrPort{}
	}
	a, _ := netip.ParseAddrPort(b.srv.ClusterAddr().String())
	return a
}

// Peers is the number of other servers this node's server has routes to (0 with an
// external NATS, whose cluster is not ours to count, or no NATS at all).
func (b *NATS) Peers() int {
	if b == nil || b.srv == nil {
		return 0
	}
	rz, err := b.srv.Routez(nil)
	if err != nil {
		return 0
	}
	peers := map[string]bool{}
	for _, r := range rz.Routes {
		peers[r.RemoteID] = true
	}
	return len(peers)
}

func (b *NATS) Publish(subject string, data []byte) error {
	if err := b.nc.Publish(subject, data); err != nil {
		return mapErr(err)
	}
	return nil
}

func (b *NATS) Subscribe(subject string, h trunkline.Handler) (trunkline.Subscription, error) {
	sub, err := b.nc.Subscribe(subject, func(m *nats.Msg) {
		tm := trunkline.Msg{Subject: m.Subject, Data: m.Data}
		if m.Reply != "" {
			tm.Reply = m.Respond
		}
		h(tm)
	})
	if err != nil {
		return nil, mapErr(err)
	}
	// Hints are dropped rather than queued without bound (see queueDepth on Local).
	sub.SetPendingLimits(64*queueDepth, 64<<20)
	// Make sure the server knows the interest before a request that depends on it.
	if err := b.nc.Flush(); err != nil {
		sub.Unsubscribe()
		return nil, mapErr(err)
	}
	return sub, nil
}

func (b *NATS) Request(ctx context.Context, subject string, data []byte) ([]byte, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	m, err := b.nc.RequestWithContext(ctx, subject, data)
	if err != nil {
		return nil, mapErr(err)
	}
	return m.Data, nil
}

func mapErr(err error) error {
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return ErrNoResponders
	case errors.Is(err, nats.ErrConnectionClosed):
		return ErrClosed
	case errors.Is(err, nats.ErrTimeout):
		return context.DeadlineExceeded
	}
	return err
}

// Close drains the client (handlers finish what they hold) and stops the embedded server.
func (b *NATS) Close() error {
	if b.nc != nil {
		b.nc.Close()
	}
	if b.srv != nil {
		b.srv.Shutdown()
		b.srv.WaitForShutdown()
	}
	return nil
}

// Kill stops the embedded server without a goodbye, as a crash would: for tests of
// failover in one process.
func (b *NATS) Kill() {
	if b.nc != nil {
		b.nc.Close()
	}
	if b.srv != nil {
		b.srv.Shutdown()
	}
}
