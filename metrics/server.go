package metrics

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/trunkline/trunkline/internal/netaddr"
)

// ServerOptions configure the metrics listener.
type ServerOptions struct {
	Listen string // TCP address, e.g. 127.0.0.1:9090
	Pprof  bool   // serve Go's profiler on the listener too
	Logger *slog.Logger
}

// Server serves a Metrics' /metrics (and optionally pprof) on its own listener, apart
// from the customer-facing API.
type Server struct {
	o   ServerOptions
	h   http.Handler
	srv *http.Server
	ln  net.Listener
}

// NewServer returns the metrics server for m; it does not listen until Start.
func NewServer(m *Metrics, o ServerOptions) *Server {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	if o.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return &Server{o: o, h: mux}
}

// Start binds Options.Listen synchronously (a bad address fails here) and serves in
// the background.
func (s *Server) Start(ctx context.Context) error {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", s.o.Listen)
	if err != nil {
		return err
	}
	s.ln = ln
	s.srv = &http.Server{Handler: s.h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.o.Logger.Error("metrics server stopped", "err", err)
		}
	}()
	return nil
}

// Addr is the metrics listener's address (the zero AddrPort before Start).
func (s *Server) Addr() netip.AddrPort {
	if s.ln == nil {
		return netip.AddrPort{}
	}
	return netaddr.Of(s.ln.Addr())
}

// Shutdown stops the listener and waits for scrapes in flight until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.srv == nil {
		return nil
	}
	return s.srv.Shutdown(ctx)
}

// Close stops the listener at once.
func (s *Server) Close() error {
	if s.srv == nil {
		return nil
	}
	return s.srv.Close()
}
