package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"

	"golang.org/x/mod/sumdb/note"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/account"
	"github.com/trunkline/trunkline/audit"
	"github.com/trunkline/trunkline/bus"
	"github.com/trunkline/trunkline/config"
	"github.com/trunkline/trunkline/keys"
	"github.com/trunkline/trunkline/metrics"
	"github.com/trunkline/trunkline/ratelimit"
	"github.com/trunkline/trunkline/sandbox"
	"github.com/trunkline/trunkline/store"
	"github.com/trunkline/trunkline/webhook"
)

// platform is the set of parts both the server and the operator CLI work with.
type platform struct {
	cfg      *config.Config
	log      *slog.Logger
	db       *store.DB
	ring     *keys.Ring
	audit    *audit.Log
	verifier note.Verifier
	// witnesses keep copies of the audit checkpoints outside the database.
	witnesses []audit.Witness
	accounts  *account.Service
	bus       trunkline.Bus
	// nats is the NATS bus when bus.kind is "nats" (nil otherwise): its addresses
	// and peers are shown by cluster status.
	nats *bus.NATS
	// throttles shares the throttles between nodes (nil on one node).
	throttles *ratelimit.Exchange
	// webhooks is the one client for customer callbacks (signed, SSRF-safe, retried,
	// each attempt recorded); messaging and voice use it.
	webhooks *webhook.Client
	metrics  *metrics.Metrics
	// sandboxEvents wakes the console's sandbox page when the sandbox SMSC or phone
	// takes something (used only when no carrier or trunk is configured).
	sandboxEvents *sandbox.Notifier
	closers       []func() error
}

// openPlatform opens the data dir: keys (created on first use), the store (migrated)
// and the audit log.
//
// serving is true for `trunkline serve`: in a cluster it starts this node's embedded
// NATS server; the operator CLI (false) connects to its node's server as a client.
func openPlatform(ctx context.Context, c *config.Config, logger *slog.Logger, serving bool) (*platform, error) {
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	if err := ownerOnly(c.DataDir); err != nil {
		return nil, fmt.Errorf("tighten the data dir to owner-only (it and everything in it must belong to the user running trunkline): %w", err)
	}
	p := &platform{cfg: c, log: logger, sandboxEvents: sandbox.NewNotifier()}
	var err error
	if p.ring, err = keys.LoadOrCreateKEK(c.KEKPath()); err != nil {
		return nil, fmt.Errorf("key-encryption key: %w", err)
	}
	dsn := c.DSN()
	if c.Bus.Kind == "nats" {
		// A node frozen inside a transaction must not hold the cluster's locks until
		// it comes back: half of bus.dead_after, so the survivors still heartbeat in
		// time while they wait on one.
		dsn = store.ClusterDSN(dsn, c.Bus.DeadAfter.Duration/2)
	}
	if p.db, err = store.Open(ctx, dsn); err != nil {
		return nil, err
	}
	p.closers = append(p.closers, p.db.Close)
	p.db.SetNode(c.NodeName)
	if err := useMACKey(ctx, p.db, p.ring); err != nil {
		p.Close()
		return nil, fmt.Errorf("MAC key: %w", err)
	}
	// Message bodies are sealed at rest under per-account data keys (crypto-shredding).
	p.db.SetBodyCipher(keys.NewBodies(p.ring, p.db, func(err error) bool { return errors.Is(err, trunkline.ErrNotFound) }))
	signer, verifier, err := audit.LoadOrCreateKeyFiles(c.AuditKeyPath(), filepath.Join(c.KeysDir(), audit.VerifierKeyFile))
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("audit signing key: %w", err)
	}
	p.verifier = verifier
	p.witnesses = []audit.Witness{audit.FileWitness{Path: c.WitnessPath()}}
	for _, f := range c.Audit.WitnessFiles {
		p.witnesses = append(p.witnesses, audit.FileWitness{Path: f})
	}
	if c.Audit.WitnessURL != "" {
		client, err := httpsClient(c.Audit.WitnessCAFile, "audit.witness_ca_file")
		if err != nil {
			p.Close()
			return nil, err
		}
		p.witnesses = append(p.witnesses, audit.HTTPWitness{URL: c.Audit.WitnessURL, Client: client})
	}
	p.metrics = metrics.New()
	p.audit = audit.New(p.db, signer, audit.Options{Node: c.NodeName, Logger: logger, Verifier: verifier, Witnesses: p.witnesses,
		Checked: p.metrics.AuditCheckpoint, CheckpointEvery: c.Audit.CheckpointInterval.Duration})
	p.closers = append(p.closers, p.audit.Close) // runs before the database closes: flushes pending entries
	if p.bus, p.nats, err = newBus(ctx, c, logger, serving); err != nil {
		p.Close()
		return nil, err
	}
	p.closers = append(p.closers, p.bus.Close)
	if c.Bus.Kind == "nats" {
		if p.throttles, err = ratelimit.NewExchange(p.bus); err != nil {
			p.Close()
			return nil, err
		}
	}
	p.accounts = account.New(p.db, p.ring, account.Options{Overlap: c.Auth.TokenOverlap.Duration, Bus: p.bus})
	if _, err := p.bus.Subscribe(account.InvalidateSubject, func(m trunkline.Msg) { p.accounts.DropCached(string(m.Data)) }); err != nil {
		p.Close()
		return nil, err
	}
	p.webhooks = webhook.New(webhook.Options{Allow: c.WebhookAllow(), Timeout: c.Webhook.Timeout.Duration,
		MaxAttempts: c.Webhook.MaxAttempts, Recorder: countingRecorder{p.db, p.metrics}, Logger: logger})
	p.closers = append(p.closers, func() error { p.webhooks.Close(); return nil })
	return p, nil
}

// newBus builds the node's one message bus from bus.kind: in process for one node,
// NATS for a cluster (wake-ups, cache invalidations, shared throttles and live-call
// requests then reach every node).
func newBus(ctx context.Context, c *config.Config, logger *slog.Logger, serving bool) (trunkline.Bus, *bus.NATS, error) {
	switch c.Bus.Kind {
	case "local":
		return bus.NewLocal(), nil, nil
	case "nats":
	default:
		return nil, nil, fmt.Errorf("bus.kind %q: \"local\" or \"nats\"", c.Bus.Kind)
	}
	token, err := c.BusToken()
	if err != nil {
		return nil, nil, err
	}
	o := bus.NATSOptions{Name: c.NodeName, URL: c.Bus.URL, Listen: c.Bus.Listen, RouteListen: c.Bus.RouteListen,
		Routes: c.Bus.Routes, Cluster: c.Bus.Cluster, Token: token, Logger: logger}
	if c.Bus.RouteCert != "" {
		if o.RouteTLS, err = routeTLS(c.Bus.RouteCert, c.Bus.RouteKey, c.Bus.RouteCA); err != nil {
			return nil, nil, err
		}
	}
	if !serving && o.URL == "" {
		// The CLI is a client of its node's embedded server, so what it changes
		// (a rotated token, a deleted account) reaches every node's caches.
		o.URL = "nats://" + c.Bus.Listen
		o.Name += "-cli"
		n := bus.NewNATS(o)
		if err := n.Start(ctx); err != nil {
			logger.Warn("no running node to tell of changes (their caches expire on their own)", "err", err)
			return bus.NewLocal(), nil, nil
		}
		return n, nil, nil
	}
	n := bus.NewNATS(o)
	if err := n.Start(ctx); err != nil {
		return nil, nil, err
	}
	return n, n, nil
}

// routeTLS is the mutual TLS between nodes' NATS servers: each shows cert and accepts
// only peers whose certificates ca signed.
func routeTLS(certFile, keyFile, caFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("bus.route_cert/route_key: %w", err)
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("bus.route_ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("bus.route_ca %s holds no certificate", caFile)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}, RootCAs: pool, ClientCAs: pool,
		ClientAuth: tls.RequireAndVerifyClientCert}, nil
}

// httpsClient is the HTTPS client for the audit witness service and for a customer's
// audit verify-remote: TLS 1.2 at least, checked against caFile when given (a private
// CA; setting names it in errors), else the system's roots; no redirects. It is not the
// webhook client: the witness is the operator's own, often on a private network.
func httpsClient(caFile, setting string) (*http.Client, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", setting, err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s %s holds no certificate", setting, caFile)
		}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: tc, Proxy: http.ProxyFromEnvironment},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}, nil
}

// ownerOnly makes the data dir and every directory under it 0700 and every file 0600,
// whatever created them with a looser mode (an older version, a restored backup, a
// copy made with a umask of 022): keys, database, recordings and logs are nobody
// else's business on a shared machine. Symbolic links are left alone and not followed,
// so nothing outside the data dir is touched.
func ownerOnly(dir string) error {
	// The data dir itself may be a link (/var/lib/trunkline -> /srv/trunkline); what it
	// holds is walked without following links.
	dir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return err
	}
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		want := fs.FileMode(0o600)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			return nil
		case d.IsDir():
			want = 0o700
		case !d.Type().IsRegular():
			return nil // sockets, pipes: not ours to chmod
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if fi.Mode().Perm() != want {
			return os.Chmod(path, want)
		}
		return nil
	})
}

func (p *platform) Close() error {
	for i := len(p.closers) - 1; i >= 0; i-- {
		p.closers[i]()
	}
	return nil
}

// newLogger logs to stderr and, unless log.file is "-", to a file in the data dir.
func newLogger(c *config.Config, stderr io.Writer) (*slog.Logger, func() error, error) {
	var level slog.Level
	level.UnmarshalText([]byte(c.Log.Level))
	w := stderr
	closeFn := func() error { return nil }
	if c.Log.File != "-" {
		path := c.Log.File
		if path == "" {
			path = c.LogPath()
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, nil, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return nil, nil, err
		}
		w = io.MultiWriter(stderr, f)
		closeFn = f.Close
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if c.Log.Format == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(h), closeFn, nil
}

// countingRecorder stores each webhook attempt and counts it in the metrics.
type countingRecorder struct {
	db *store.DB
	m  *metrics.Metrics
}

func (r countingRecorder) RecordAttempt(ctx context.Context, a trunkline.WebhookAttempt) error {
	class := a.ErrorClass
	if class == "" {
		class = "ok"
	}
	r.m.Webhook(a.Kind, class)
	return r.db.RecordAttempt(ctx, a)
}
