package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/api"
	"github.com/trunkline/trunkline/application"
	"github.com/trunkline/trunkline/cluster"
	"github.com/trunkline/trunkline/config"
	"github.com/trunkline/trunkline/identity"
	"github.com/trunkline/trunkline/message"
	"github.com/trunkline/trunkline/metrics"
	"github.com/trunkline/trunkline/number"
)

// Main is one running Trunkline node: the platform (store, keys, audit log, bus), the
// messaging stack, SIP, the API with the console, the metrics listener and the
// background workers. `trunkline serve` runs one; tests start one in-process.
//
// Every server in it has the same shape: New(options) → Start(ctx), binding
// synchronously → Addr() → Shutdown(ctx); workers run until their context ends.
type Main struct {
	cfg            *config.Config
	stdout, stderr io.Writer

	log      *slog.Logger
	closeLog func() error
	p        *platform
	msg      *messaging
	vs       *voiceSide
	api      *api.Server
	metrics  *metrics.Server
	// member is this node's cluster membership (bus.kind "nats"); nil on one node.
	member *cluster.Member

	// Workers (audit checkpoints, session sweeps, body sealing, backups) run under
	// workerCtx until Close.
	workerCtx    context.Context
	stopWorkers  context.CancelFunc
	workers      sync.WaitGroup
	ready        bool
	closeOnce    sync.Once
	drainOnce    sync.Once
	apiBoundOnce sync.Once
	apiBound     chan struct{} // closed once the API is bound (or will not be)
	publicURL    string        // written before apiBound closes
	closeErr     error
}

// NewMain returns a node for cfg (validated); Run starts it. Messages for the operator
// ("trunkline: ready", the addresses) go to stdout, logs to stderr and the log file.
func NewMain(cfg *config.Config, stdout, stderr io.Writer) *Main {
	return &Main{cfg: cfg, stdout: stdout, stderr: stderr, apiBound: make(chan struct{})}
}

// Run starts everything, in order, and returns once the node is ready: messaging, then
// SIP, then the API (whose bound address gives the public base of the links the
// console and recordings hand out), then metrics and the workers. Close must be called
// whether Run succeeded or not; it stops what Run started.
func (m *Main) Run(ctx context.Context) error {
	c := m.cfg
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	var err error
	if m.log, m.closeLog, err = newLogger(c, m.stderr); err != nil {
		return err
	}
	if m.p, err = openPlatform(ctx, c, m.log, true); err != nil {
		return err
	}
	tlsConfig, caPath, err := serverTLS(c)
	if err != nil {
		return err
	}
	var lost []*trunkline.Call
	if n := m.p.nats; n != nil {
		fmt.Fprintf(m.stdout, "trunkline: cluster bus (NATS) on %s, routes on %s, node %s\n", n.ClientAddr(), n.RouteAddr(), c.NodeName)
		if lost, err = m.restartedNode(ctx); err != nil {
			return fmt.Errorf("cluster: %w", err)
		}
		m.newMember()
	}
	var fence message.Fence // nil: one node, its claims always its own
	if m.member != nil {
		fence = m.member
	}
	if m.msg, err = startMessaging(ctx, m.p, fence); err != nil {
		return err
	}
	if m.msg.sandbox != nil {
		fmt.Fprintln(m.stdout, "trunkline: no carrier configured: messages go to the sandbox carrier (delivered locally, nothing leaves this machine)")
	}
	if m.vs, err = startVoice(ctx, m.p, m.msg.svc, tlsConfig, m.PublicURL); err != nil {
		return fmt.Errorf("voice: %w", err)
	}
	if len(lost) > 0 {
		go m.vs.srv.EndLost(context.Background(), lost)
	}
	fmt.Fprintf(m.stdout, "trunkline: SIP listening on %s (udp, tcp)\n", m.vs.srv.Addr())
	if a := m.vs.srv.TLSAddr(); a.IsValid() {
		fmt.Fprintf(m.stdout, "trunkline: SIP over TLS on %s\n", a)
	}
	if m.vs.sandbox {
		fmt.Fprintln(m.stdout, "trunkline: no trunk configured: the sandbox trunk takes calls from this machine only (try: trunkline call --to NUMBER)")
	}
	id, err := serverIdentity(ctx, m.p, m.msg, m.vs)
	if err != nil {
		return err
	}
	consoleHandler, sweepSessions, err := startConsole(m.p, id, m.msg, m.vs, m.PublicURL)
	if err != nil {
		return err
	}
	if err := m.startAPI(ctx, id, consoleHandler, tlsConfig, caPath); err != nil {
		return err
	}
	if c.Metrics.Listen != "" {
		m.metrics = metrics.NewServer(m.p.metrics, metrics.ServerOptions{Listen: c.Metrics.Listen, Pprof: c.Metrics.Pprof, Logger: m.log})
		if err := m.metrics.Start(ctx); err != nil {
			return fmt.Errorf("metrics listen on %s: %w", c.Metrics.Listen, err)
		}
		fmt.Fprintf(m.stdout, "trunkline: metrics on http://%s/metrics\n", displayAddr(m.metrics.Addr()))
	}

	m.workerCtx, m.stopWorkers = context.WithCancel(context.Background())
	// In a cluster the singletons (audit checkpoints, sweepers, sealing, backups) run
	// on the node holding the leader lease only.
	single := func(run func(context.Context) error) func(context.Context) error { return run }
	if c.Bus.Kind == "nats" {
		if err := m.joinCluster(ctx); err != nil {
			return fmt.Errorf("cluster: %w", err)
		}
		single = m.member.Singleton
	} else if _, err := m.p.audit.Checkpoint(ctx); err != nil {
		// Sign a checkpoint now, so even a short-lived server leaves its entries
		// covered, then at the configured interval.
		m.log.Error("audit checkpoint", "err", err)
	}
	m.goWorker(single(m.p.audit.Run))
	m.goWorker(single(sweepSessions))
	// Message bodies stored in plain text before migration 14 get sealed under their
	// account's key, in the background, so crypto-shredding covers them too.
	m.goWorker(single(m.sealPlainBodies))
	if c.Backup.Interval.Duration > 0 || c.Backup.DrillInterval.Duration > 0 {
		k, dests, err := backupKeyAndDests(c, "")
		if err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		w := &backupWorker{p: m.p, k: k, dests: dests, cfgFile: c.File}
		m.goWorker(single(w.Run))
		fmt.Fprintf(m.stdout, "trunkline: backups every %s to %d destinations\n", c.Backup.Interval.Duration, len(dests))
	}

	m.ready = true
	m.log.Info("trunkline serving", "data_dir", c.DataDir, "database", dbKind(c), "version", version, "node", c.NodeName)
	fmt.Fprintln(m.stdout, "trunkline: ready")
	return nil
}

// startAPI builds the API (with the console under /console/) and binds its listeners;
// from then on the public base of links is known.
func (m *Main) startAPI(ctx context.Context, id *identity.Service, consoleHandler http.Handler, tlsConfig *tls.Config, caPath string) error {
	c, p := m.cfg, m.p
	opts := api.Options{Throttles: p.throttles,
		DB: p.db, Accounts: p.accounts, Audit: p.audit, Logger: m.log,
		RateBurst: c.API.RateLimit, RatePeriod: c.API.RatePeriod.Duration,
		FailsPerAddr: c.API.FailsAddr, FailsPerID: c.API.FailsID, FailWindow: c.API.FailWindow.Duration,
		MaxLockout: c.API.MaxLockout.Duration, MaxBody: c.API.MaxBody, MaxOverlap: c.Auth.MaxOverlap.Duration,
		SIPDomain: c.SIP.Domain, Messages: m.msg.svc, Metrics: p.metrics, Recordings: m.vs.recordings,
		Calls: m.vs.srv, Conferences: m.vs.srv, MPCs: m.vs.srv, PublicURL: c.PublicBase(), Verifier: id, Console: consoleHandler,
		Listen: c.API.Listen, TLS: tlsConfig, PlainListen: c.API.PlainListen,
	}
	if c.Bus.Kind == "nats" {
		// Live-call requests reach the node holding the call over the bus.
		calls, err := cluster.NewCalls(c.NodeName, m.vs.srv, p.db, p.bus, m.log)
		if err != nil {
			return fmt.Errorf("cluster calls: %w", err)
		}
		opts.Calls = calls
	}
	// The application and number rules (endpoints: api's default, on SIPDomain).
	apps := application.New(p.db, p.db)
	opts.Applications, opts.Numbers = apps, number.New(p.db, apps)
	m.api = api.New(opts)
	if c.API.Listen == "" && c.API.PlainListen == "" {
		m.setPublicURL(m.api.PublicURL())
		return nil
	}
	if err := m.api.Start(ctx); err != nil {
		return err
	}
	// Links the server hands out (recording URLs, console invitations) start here: the
	// configured api.public_url, else the first listener, never a request's Host header.
	m.setPublicURL(m.api.PublicURL())
	if c.API.Listen != "" {
		fmt.Fprintf(m.stdout, "trunkline: API listening on https://%s\n", displayAddr(m.api.Addr()))
		if consoleHandler != nil {
			fmt.Fprintf(m.stdout, "trunkline: console at https://%s/console/\n", displayAddr(m.api.Addr()))
		}
		if caPath != "" {
			if abs, err := filepath.Abs(caPath); err == nil {
				caPath = abs
			}
			fmt.Fprintf(m.stdout, "trunkline: clients trust the CA at %s (e.g. curl --cacert %s)\n", caPath, caPath)
		}
	}
	if c.API.PlainListen != "" {
		fmt.Fprintf(m.stdout, "trunkline: API listening on http://%s (plain HTTP, as configured)\n", displayAddr(m.api.PlainAddr()))
	}
	return nil
}

// setPublicURL publishes the public base once; callers waiting in PublicURL go on.
func (m *Main) setPublicURL(u string) {
	m.apiBoundOnce.Do(func() {
		m.publicURL = u
		close(m.apiBound)
	})
}

// PublicURL is the base of the links the node hands out (recording URLs, console
// invitations): api.public_url, else the API's first listener. SIP starts before the
// API (the API must not take a call request SIP cannot serve yet), so a call recording
// in the first moments of the node waits here until the API is bound. It is "" when
// the node stopped before the API was bound.
func (m *Main) PublicURL() string {
	<-m.apiBound
	return m.publicURL
}

// sealPlainBodies seals, once, the message bodies stored in plain text before
// migration 14; it is a worker so Close stops it.
func (m *Main) sealPlainBodies(ctx context.Context) error {
	n, err := m.p.db.SealPlainBodies(ctx, 500)
	switch {
	case err != nil && ctx.Err() == nil:
		m.log.Error("seal stored message bodies", "err", err)
	case n > 0:
		m.log.Info("sealed message bodies stored in plain text", "count", n)
	}
	return nil
}

// goWorker runs a worker until Close; one that fails early is logged.
func (m *Main) goWorker(run func(context.Context) error) {
	m.workers.Add(1)
	go func() {
		defer m.workers.Done()
		if err := run(m.workerCtx); err != nil {
			m.log.Error("worker stopped", "err", err)
		}
	}()
}

// APIAddr is the API's HTTPS listener (its plain one when only that is configured);
// PlainAPIAddr the plain-HTTP one. Zero when not listening.
func (m *Main) APIAddr() netip.AddrPort {
	if m.api == nil {
		return netip.AddrPort{}
	}
	return m.api.Addr()
}

// PlainAPIAddr is the API's plain-HTTP listener, if configured.
func (m *Main) PlainAPIAddr() netip.AddrPort {
	if m.api == nil {
		return netip.AddrPort{}
	}
	return m.api.PlainAddr()
}

// SIPAddr is the SIP listener (UDP and TCP on one port).
func (m *Main) SIPAddr() netip.AddrPort {
	if m.vs == nil {
		return netip.AddrPort{}
	}
	return m.vs.srv.Addr()
}

// SandboxSMSCAddr is the sandbox carrier's SMPP listener (zero when carriers are
// configured).
func (m *Main) SandboxSMSCAddr() netip.AddrPort {
	if m.msg == nil || m.msg.sandbox == nil {
		return netip.AddrPort{}
	}
	return m.msg.sandbox.Addr()
}

// MetricsAddr is the metrics listener (zero when metrics.listen is empty).
func (m *Main) MetricsAddr() netip.AddrPort {
	if m.metrics == nil {
		return netip.AddrPort{}
	}
	return m.metrics.Addr()
}

// Drain takes the node out of its load balancers' pools while it goes on serving: the
// API's readiness endpoint answers 503 "draining" and its replies close their
// connections, new INVITEs and SIP probes get 503, and the message workers stop
// claiming (messages the API accepts from now on are left to the other nodes). Calls,
// requests and sends in progress go on; Close then drains them. `trunkline serve`
// calls it on SIGTERM and waits api.drain_grace before Close. Safe before Run ends and
// twice.
func (m *Main) Drain() {
	m.drainOnce.Do(func() {
		if m.api != nil {
			m.api.Drain()
		}
		if m.vs != nil {
			m.vs.srv.Drain()
		}
		if m.msg != nil && m.msg.cancel != nil {
			m.msg.cancel() // the workers finish what they hold; stop waits for them
		}
	})
}

// Close drains and stops the node: no new requests or calls; the API's in-flight
// requests and the running calls get api.drain_time together (calls may still need the
// API for their recordings); then the workers stop, a last audit checkpoint covers
// what the drained requests appended, and everything closes in reverse order of start.
// It is safe to call more than once, and after a failed Run.
func (m *Main) Close() error {
	m.closeOnce.Do(func() { m.closeErr = m.close() })
	return m.closeErr
}

func (m *Main) close() error {
	m.setPublicURL("") // nobody waits for an API that will not come
	if m.ready {
		drainCtx, cancelDrain := context.WithTimeout(context.Background(), m.cfg.API.DrainTime.Duration)
		voiceDone := make(chan struct{})
		go func() { m.vs.stop(); close(voiceDone) }()
		if err := m.api.Shutdown(drainCtx); err != nil {
			m.log.Warn("drain timed out; closing remaining connections", "err", err)
		}
		cancelDrain()
		<-voiceDone
	}
	if m.stopWorkers != nil {
		m.stopWorkers()
		m.workers.Wait()
	}
	if m.member != nil {
		// Heartbeats went on while draining (a draining node is alive); now leave,
		// so nobody takes over what this node finished.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := m.member.Shutdown(ctx); err != nil {
			m.log.Error("leave the cluster (the others will take this node over)", "err", err)
		}
		cancel()
	}
	if m.ready {
		// A last checkpoint covers whatever the drained requests appended.
		if _, err := m.p.audit.Checkpoint(context.Background()); err != nil {
			m.log.Error("final audit checkpoint", "err", err)
		}
		m.log.Info("stopped")
		fmt.Fprintln(m.stdout, "trunkline: stopped")
	}
	if m.metrics != nil {
		m.metrics.Close()
	}
	if m.api != nil {
		m.api.Close()
	}
	if m.vs != nil {
		m.vs.stop()
	}
	if m.msg != nil {
		m.msg.stop()
	}
	if m.p != nil {
		m.p.Close()
	}
	if m.closeLog != nil {
		return m.closeLog()
	}
	return nil
}
