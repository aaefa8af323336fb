package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"golang.org/x/mod/sumdb/note"

	"github.com/trunkline/trunkline/account"
	"github.com/trunkline/trunkline/audit"
	"github.com/trunkline/trunkline/bus"
	"github.com/trunkline/trunkline/config"
	"github.com/trunkline/trunkline/keys"
	"github.com/trunkline/trunkline/metrics"
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
	accounts *account.Service
	bus      *bus.Local
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
func openPlatform(ctx context.Context, c *config.Config, logger *slog.Logger) (*platform, error) {
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	p := &platform{cfg: c, log: logger, sandboxEvents: sandbox.NewNotifier()}
	var err error
	if p.ring, err = keys.LoadOrCreateKEK(c.KEKPath()); err != nil {
		return nil, fmt.Errorf("key-encryption key: %w", err)
	}
	if p.db, err = store.Open(ctx, c.DSN()); err != nil {
		return nil, err
	}
	p.closers = append(p.closers, p.db.Close)
	// Message bodies are sealed at rest under per-account data keys (crypto-shredding).
	p.db.SetBodyCipher(keys.NewBodies(p.ring, p.db, func(err error) bool { return errors.Is(err, store.ErrNotFound) }))
	signer, verifier, err := audit.LoadOrCreateKeys(c.KeysDir())
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("audit signing key: %w", err)
	}
	p.verifier = verifier
	host, _ := os.Hostname()
	p.audit = audit.New(p.db, signer, audit.Options{Node: host, Logger: logger, Verifier: verifier})
	p.closers = append(p.closers, p.audit.Close) // runs before the database closes: flushes pending entries
	// The bus is in-process on a single node; wake-ups, events and live-call commands go
	// over it, and the cluster puts NATS behind the same interface. Today it carries
	// authentication-cache invalidations.
	p.bus = bus.NewLocal()
	p.closers = append(p.closers, p.bus.Close)
	p.accounts = account.New(p.db, p.ring, account.Options{Overlap: c.Auth.TokenOverlap.Duration, Bus: p.bus})
	if _, err := p.bus.Subscribe(account.InvalidateSubject, func(m bus.Msg) { p.accounts.DropCached(string(m.Data)) }); err != nil {
		p.Close()
		return nil, err
	}
	p.metrics = metrics.New()
	p.webhooks = webhook.New(webhook.Options{Allow: c.WebhookAllow(), Timeout: c.Webhook.Timeout.Duration,
		MaxAttempts: c.Webhook.MaxAttempts, Recorder: countingRecorder{p.db, p.metrics}, Logger: logger})
	p.closers = append(p.closers, func() error { p.webhooks.Close(); return nil })
	return p, nil
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

func (r countingRecorder) RecordAttempt(ctx context.Context, a webhook.Attempt) error {
	class := a.ErrorClass
	if class == "" {
		class = "ok"
	}
	r.m.Webhook(a.Kind, class)
	return r.db.RecordAttempt(ctx, a)
}
