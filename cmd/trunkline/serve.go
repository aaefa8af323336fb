package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"syscall"
	"time"

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
	setGCPercent(os.Getenv("GOGC"))
	// Signals are caught from before the start: Run prints "ready", and a SIGTERM sent
	// on seeing it must drain the node, not kill it by the default action.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	m := NewMain(c, stdout, stderr)
	defer m.Close()
	if err := m.Run(ctx); err != nil {
		return err
	}
	select {
	case sig := <-sigs:
		m.log.Info("draining: readiness says draining; in-flight requests and calls finish", "signal", sig.String(),
			"grace", c.API.DrainGrace.Duration, "timeout", c.API.DrainTime.Duration)
		fmt.Fprintln(stdout, "trunkline: draining (send the signal again to stop at once)")
	case <-ctx.Done():
	}
	m.Drain()
	// The grace: load balancers see /ready answer 503 and take the node out of their
	// pools while it still serves what they send meanwhile.
	if g := c.API.DrainGrace.Duration; g > 0 {
		select {
		case <-time.After(g):
		case <-sigs:
			fmt.Fprintln(stderr, "trunkline: second signal, stopping at once")
			os.Exit(1)
		}
	}
	go func() {
		<-sigs
		fmt.Fprintln(stderr, "trunkline: second signal, stopping at once")
		os.Exit(1)
	}()
	return m.Close()
}

// serverGCPercent is the collector's target when the operator sets no GOGC. The
// server's live heap is small (tens of MB) and nearly all its garbage is per request
// and per message, so Go's default of 100 collects very often under load: 16% of the
// CPU in the SMS benchmark (bench/sms.sh). At 400 that falls to about a quarter, for
// about 40 MB more resident memory; GOMEMLIMIT, when set, still bounds the heap.
const serverGCPercent = 400

// setGCPercent applies serverGCPercent unless the operator chose with GOGC.
func setGCPercent(gogc string) {
	if gogc == "" {
		debug.SetGCPercent(serverGCPercent)
	}
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
	if c.NodeName != "" {
		hosts = append(hosts, c.NodeName)
	}
	if host, _, err := net.SplitHostPort(c.API.Listen); err == nil && host != "" && host != "0.0.0.0" && host != "::" {
		hosts = append(hosts, host)
	}
	g, err := certs.EnsureSelfSigned(c.TLSDir(), c.KeysDir(), hosts, time.Now())
	if err != nil {
		return nil, "", fmt.Errorf("self-signed TLS: %w", err)
	}
	cfg, err := certs.ServerConfig(g.CertPath, g.KeyPath)
	return cfg, g.CAPath, err
}

// displayAddr shows a wildcard listener as localhost so the printed URL works.
func displayAddr(a netip.AddrPort) string {
	if a.Addr().IsUnspecified() {
		return net.JoinHostPort("localhost", strconv.Itoa(int(a.Port())))
	}
	return a.String()
}
