package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/trunkline/trunkline/api"
	"github.com/trunkline/trunkline/certs"
	"github.com/trunkline/trunkline/config"
)

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f configFlags
	f.register(fs, true)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("serve takes no arguments")
	}
	c, err := f.load(fs, stderr)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	logger, closeLog, err := newLogger(c, stderr)
	if err != nil {
		return err
	}
	defer closeLog()
	p, err := openPlatform(ctx, c, logger)
	if err != nil {
		return err
	}
	defer p.Close()

	tlsConfig, caPath, err := serverTLS(c)
	if err != nil {
		return err
	}
	msg, err := startMessaging(ctx, p)
	if err != nil {
		return err
	}
	defer msg.stop()
	if msg.sandbox != nil {
		fmt.Fprintln(stdout, "trunkline: no carrier configured: messages go to the sandbox carrier (delivered locally, nothing leaves this machine)")
	}
	var apiBase atomic.Value // set once the API listens; read by calls that record
	apiBase.Store("")
	vs, err := startVoice(ctx, p, msg.svc, tlsConfig, func() string { return apiBase.Load().(string) })
	if err != nil {
		return fmt.Errorf("voice: %w", err)
	}
	defer vs.stop()
	fmt.Fprintf(stdout, "trunkline: SIP listening on %s (udp, tcp)\n", vs.srv.Addr())
	if a := vs.srv.TLSAddr(); a != "" {
		fmt.Fprintf(stdout, "trunkline: SIP over TLS on %s\n", a)
	}
	if vs.sandbox {
		fmt.Fprintln(stdout, "trunkline: no trunk configured: the sandbox trunk takes calls from this machine only (try: trunkline call --to NUMBER)")
	}
	opts := api.Options{
		DB: p.db, Accounts: p.accounts, Audit: p.audit, Logger: logger,
		RateBurst: c.API.RateLimit, RatePeriod: c.API.RatePeriod.Duration,
		FailsPerAddr: c.API.FailsAddr, FailsPerID: c.API.FailsID, FailWindow: c.API.FailWindow.Duration,
		MaxLockout: c.API.MaxLockout.Duration, MaxBody: c.API.MaxBody, MaxOverlap: c.Auth.MaxOverlap.Duration,
		SIPDomain: c.SIP.Domain, Messages: msg.svc, Metrics: p.metrics, Recordings: vs.recordings,
		Calls: callControl{vs.srv}, PublicURL: c.PublicBase(),
	}
	consoleHandler, sweepSessions, err := startConsole(ctx, p, msg, vs, func() string { return apiBase.Load().(string) })
	if err != nil {
		return err
	}
	opts.Console = consoleHandler
	srv := api.New(opts)
	defer srv.Close()
	if c.API.Listen != "" {
		if err := srv.Start(c.API.Listen, tlsConfig); err != nil {
			return err
		}
		// Links the server hands out (recording URLs, console invitations) start here: the
		// configured api.public_url, else the first listener, never a request's Host header.
		apiBase.Store(srv.PublicURL())
		fmt.Fprintf(stdout, "trunkline: API listening on https://%s\n", displayAddr(srv.Addr()))
		if opts.Console != nil {
			fmt.Fprintf(stdout, "trunkline: console at https://%s/console/\n", displayAddr(srv.Addr()))
		}
		if caPath != "" {
			if abs, err := filepath.Abs(caPath); err == nil {
				caPath = abs
			}
			fmt.Fprintf(stdout, "trunkline: clients trust the CA at %s (e.g. curl --cacert %s)\n", caPath, caPath)
		}
	}
	if c.API.PlainListen != "" {
		if err := srv.Start(c.API.PlainListen, nil); err != nil {
			return err
		}
		apiBase.Store(srv.PublicURL())
		fmt.Fprintf(stdout, "trunkline: API listening on http://%s (plain HTTP, as configured)\n", displayAddr(srv.Addr()))
	}

	if c.Metrics.Listen != "" {
		p.metrics.Pprof = c.Metrics.Pprof
		if err := p.metrics.Start(c.Metrics.Listen); err != nil {
			return fmt.Errorf("metrics listen on %s: %w", c.Metrics.Listen, err)
		}
		defer p.metrics.Close()
		fmt.Fprintf(stdout, "trunkline: metrics on http://%s/metrics\n", displayAddr(p.metrics.Addr()))
	}

	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	// Sign a checkpoint now, so even a short-lived server leaves its entries covered, then
	// at the configured interval.
	if _, err := p.audit.Checkpoint(runCtx); err != nil {
		logger.Error("audit checkpoint", "err", err)
	}
	go p.audit.Run(runCtx, c.Audit.CheckpointInterval.Duration)
	go sweepSessions(runCtx)
	// Message bodies stored in plain text before migration 14 get sealed under their
	// account's key, in the background, so crypto-shredding covers them too.
	go func() {
		if n, err := p.db.SealPlainBodies(runCtx, 500); err != nil && runCtx.Err() == nil {
			logger.Error("seal stored message bodies", "err", err)
		} else if n > 0 {
			logger.Info("sealed message bodies stored in plain text", "count", n)
		}
	}()
	if c.Backup.Interval.Duration > 0 || c.Backup.DrillInterval.Duration > 0 {
		k, dests, err := backupKeyAndDests(c, "")
		if err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		w := &backupWorker{p: p, k: k, dests: dests, cfgFile: configFile(f)}
		go w.Run(runCtx)
		fmt.Fprintf(stdout, "trunkline: backups every %s to %d destinations\n", c.Backup.Interval.Duration, len(dests))
	}

	logger.Info("trunkline serving", "data_dir", c.DataDir, "database", dbKind(c), "version", version)
	fmt.Fprintln(stdout, "trunkline: ready")

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	select {
	case sig := <-sigs:
		logger.Info("draining: no new requests; in-flight requests finish", "signal", sig.String(), "timeout", c.API.DrainTime.Duration)
		fmt.Fprintln(stdout, "trunkline: draining (send the signal again to stop at once)")
	case <-ctx.Done():
	}
	go func() {
		<-sigs
		fmt.Fprintln(stderr, "trunkline: second signal, stopping at once")
		os.Exit(1)
	}()
	drainCtx, cancelDrain := context.WithTimeout(context.Background(), c.API.DrainTime.Duration)
	// Calls and API requests drain together: running calls may still need the
	// API (recordings) and the API no longer starts new work.
	voiceDone := make(chan struct{})
	go func() { vs.stop(); close(voiceDone) }()
	if err := srv.Shutdown(drainCtx); err != nil {
		logger.Warn("drain timed out; closing remaining connections", "err", err)
	}
	cancelDrain()
	<-voiceDone
	stopRun()
	// A last checkpoint covers whatever the drained requests appended.
	if _, err := p.audit.Checkpoint(context.Background()); err != nil {
		logger.Error("final audit checkpoint", "err", err)
	}
	logger.Info("stopped")
	fmt.Fprintln(stdout, "trunkline: stopped")
	return nil
}

// serverTLS returns the API's TLS configuration: the operator's files when configured,
// else a self-signed set under DATA/tls (made on first start, reused after). It returns
// the CA path to print when it made or reused one.
func serverTLS(c *config.Config) (*tls.Config, string, error) {
	if c.API.Listen == "" {
		return nil, "", nil
	}
	if c.API.TLSCert != "" {
		cfg, err := certs.ServerConfig(c.API.TLSCert, c.API.TLSKey)
		return cfg, "", err
	}
	hosts := append([]string{"localhost", "127.0.0.1", "::1"}, c.API.Hostnames...)
	if h := c.PublicHost(); h != "" {
		hosts = append(hosts, h)
	}
	if h, err := os.Hostname(); err == nil {
		hosts = append(hosts, h)
	}
	if host, _, err := net.SplitHostPort(c.API.Listen); err == nil && host != "" && host != "0.0.0.0" && host != "::" {
		hosts = append(hosts, host)
	}
	g, err := certs.EnsureSelfSigned(c.TLSDir(), hosts, time.Now())
	if err != nil {
		return nil, "", fmt.Errorf("self-signed TLS: %w", err)
	}
	cfg, err := certs.ServerConfig(g.CertPath, g.KeyPath)
	return cfg, g.CAPath, err
}

// displayAddr shows a wildcard listener as localhost so the printed URL works.
func displayAddr(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}
