package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/trunkline/trunkline/config"
	"github.com/trunkline/trunkline/firewall"
	"github.com/trunkline/trunkline/voice/trunk"
)

// cmdFirewall prints the firewall manifest: every listener the configuration opens, with
// the sources each should accept, as text or an nftables ruleset.
func cmdFirewall(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("firewall", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f configFlags
	f.register(fs, true)
	format := fs.String("format", "text", "text or nftables (--json: the listeners as JSON)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("firewall takes no arguments")
	}
	if *format != "text" && *format != "nftables" {
		return usageError(fmt.Sprintf("--format %q: use text or nftables", *format))
	}
	c, err := f.load(fs, stderr)
	if err != nil {
		return err
	}
	ls, err := listeners(c)
	if err != nil {
		return err
	}
	if f.asJSON {
		return printJSON(stdout, manifestJSON(ls))
	}
	if *format == "nftables" {
		return firewall.NFTables(stdout, c.NodeName, ls)
	}
	return firewall.Text(stdout, c.NodeName, ls)
}

// listenerJSON is a listener as `trunkline firewall --json` prints it.
type listenerJSON struct {
	Name    string   `json:"name"`
	Proto   string   `json:"proto"`
	Address string   `json:"address"`  // "*" for every address
	PortMin uint16   `json:"port_min"` // 0: picked at start (loopback only)
	PortMax uint16   `json:"port_max"`
	Sources []string `json:"sources"` // nil: anywhere
	What    string   `json:"what"`
}

func manifestJSON(ls []firewall.Listener) []listenerJSON {
	out := make([]listenerJSON, len(ls))
	for i, l := range ls {
		out[i] = listenerJSON{Name: l.Name, Proto: l.Proto, Address: l.Address(), PortMin: l.PortMin, PortMax: max(l.PortMax, l.PortMin), What: l.What}
		if l.Sources != nil {
			out[i].Sources = []string{}
			for _, p := range l.Sources {
				out[i].Sources = append(out[i].Sources, p.String())
			}
		}
	}
	return out
}

// privateRanges are the default sources of the metrics listener: this host and the
// private networks a monitoring server sits on.
var privateRanges = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"), netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("fc00::/7"), netip.MustParsePrefix("::1/128"),
}

// listeners lists what a node with configuration c listens on, in the order Main starts
// them. A listener added to Main gets its line here, or TestFirewallManifestMatchesSockets
// finds it listening unnamed.
func listeners(c *config.Config) ([]firewall.Listener, error) {
	var out []firewall.Listener
	add := func(name, proto, listen string, sources []netip.Prefix, what string) error {
		l, err := listenerAt(name, proto, listen)
		if err != nil {
			return err
		}
		l.Sources, l.What = sources, what
		out = append(out, l)
		return nil
	}
	apiSources := prefixes(c.Firewall.APISources)
	if len(c.Messaging.Carriers) == 0 {
		// The sandbox carrier: an SMSC on loopback (messaging starts first).
		out = append(out, firewall.Listener{Name: "sandbox-smsc", Proto: "tcp", Addr: netip.MustParseAddr("127.0.0.1"),
			What: "sandbox SMS carrier (no carrier configured)"})
	}
	// SIP: trunks always; phones (or a proxy in front) from firewall.sip_sources, or
	// anywhere when it is empty.
	set, err := trunk.New(c.Voice.Trunks, c.Voice.Routes, trunk.Options{})
	if err != nil {
		return nil, fmt.Errorf("voice trunks: %w", err)
	}
	trunks := []netip.Prefix{}
	for _, t := range set.Trunks() {
		trunks = append(trunks, t.Allow...)
	}
	var sipSources []netip.Prefix
	if len(c.Firewall.SIPSources) > 0 {
		sipSources = append(prefixes(c.Firewall.SIPSources), trunks...)
	}
	if len(c.Voice.Trunks) > 0 {
		// The trunk prober's own socket: OPTIONS go out from it, replies come back to it
		// (conntrack's established state lets them in; no rule of its own).
		l, err := listenerAt("trunk-probes", "udp", c.Voice.Listen)
		if err != nil {
			return nil, err
		}
		l.PortMin, l.PortMax, l.Sources, l.What = 0, 0, trunks, "OPTIONS probes to the trunks (replies only)"
		out = append(out, l)
	}
	if len(c.Voice.Trunks) == 0 {
		out = append(out, firewall.Listener{Name: "sandbox-phone", Proto: "udp", Addr: netip.MustParseAddr("127.0.0.1"),
			What: "sandbox phone (no trunk configured)"})
	}
	for _, proto := range []string{"udp", "tcp"} {
		if err := add("sip-"+proto, proto, c.Voice.Listen, sipSources, "SIP over "+proto); err != nil {
			return nil, err
		}
	}
	if c.Voice.TLSListen != "" {
		if err := add("sip-tls", "tcp", c.Voice.TLSListen, sipSources, "SIP over TLS"); err != nil {
			return nil, err
		}
	}
	// RTP comes from carriers' media servers and phones, which are not the signalling
	// addresses: anywhere.
	rtp, err := listenerAt("rtp", "udp", c.Voice.Listen)
	if err != nil {
		return nil, err
	}
	rtp.PortMin, rtp.PortMax, rtp.What = uint16(c.Voice.RTPPortMin), uint16(c.Voice.RTPPortMax), "RTP media of calls"
	out = append(out, rtp)
	if c.API.Listen != "" {
		if err := add("api", "tcp", c.API.Listen, apiSources, "HTTPS API and console, /ready for load balancers"); err != nil {
			return nil, err
		}
	}
	if c.API.PlainListen != "" {
		if err := add("api-plain", "tcp", c.API.PlainListen, apiSources, "plain-HTTP API (behind a TLS proxy)"); err != nil {
			return nil, err
		}
	}
	if c.Bus.Kind == "nats" && c.Bus.URL == "" {
		// The embedded NATS server: its client port serves this node's process and the
		// CLI on this host; its route port the other nodes (bus.routes).
		if err := add("nats-client", "tcp", c.Bus.Listen, hostPrefixes(c.Bus.Listen), "NATS clients: this node and its CLI"); err != nil {
			return nil, err
		}
		if c.Bus.RouteListen != "" {
			var peers []netip.Prefix
			for _, r := range c.Bus.Routes {
				peers = append(peers, hostPrefixes(r)...)
			}
			if err := add("nats-routes", "tcp", c.Bus.RouteListen, peers, "NATS routes from the other nodes"); err != nil {
				return nil, err
			}
		}
	}
	if c.Metrics.Listen != "" {
		ms := privateRanges
		if len(c.Firewall.MetricsSources) > 0 {
			ms = prefixes(c.Firewall.MetricsSources)
		}
		if err := add("metrics", "tcp", c.Metrics.Listen, ms, "Prometheus metrics"); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// listenerAt parses a listen address: a wildcard host ("", 0.0.0.0, ::) is every
// address; localhost is 127.0.0.1.
func listenerAt(name, proto, listen string) (firewall.Listener, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return firewall.Listener{}, fmt.Errorf("%s: %q is not host:port", name, listen)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return firewall.Listener{}, fmt.Errorf("%s: %q has no valid port", name, listen)
	}
	l := firewall.Listener{Name: name, Proto: proto, PortMin: uint16(n), PortMax: uint16(n)}
	switch host {
	case "", "0.0.0.0", "::":
	case "localhost":
		l.Addr = netip.MustParseAddr("127.0.0.1")
	default:
		a, err := netip.ParseAddr(host)
		if err != nil {
			return firewall.Listener{}, fmt.Errorf("%s: listen host %q is not an IP address (the manifest needs one)", name, host)
		}
		l.Addr = a.Unmap()
	}
	return l, nil
}

// hostPrefixes is the one-address prefix of host:port's host ("nats://" and
// "tls://" schemes allowed), or none when it is not an IP address (a name is
// resolved by the host's firewall tooling, not here) or a wildcard.
func hostPrefixes(hostport string) []netip.Prefix {
	if i := strings.Index(hostport, "://"); i >= 0 {
		hostport = hostport[i+3:]
	}
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return nil
	}
	if host == "localhost" {
		host = "127.0.0.1"
	}
	a, err := netip.ParseAddr(host)
	if err != nil || a.IsUnspecified() {
		return nil
	}
	a = a.Unmap()
	return []netip.Prefix{netip.PrefixFrom(a, a.BitLen())}
}

// prefixes parses a validated list of sources; empty is nil (anywhere).
func prefixes(list []string) []netip.Prefix {
	var out []netip.Prefix
	for _, v := range list {
		if p, err := config.ParseAllow(v); err == nil {
			out = append(out, p)
		}
	}
	return out
}
