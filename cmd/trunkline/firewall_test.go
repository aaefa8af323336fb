package main

// The firewall manifest against the sockets a running `trunkline serve` really holds:
// every listening TCP socket and every unconnected UDP socket of the process (ss -lntup,
// by pid) must be named by the manifest, and every fixed-port listener the manifest
// names must be bound.

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trunkline/trunkline/config"
	"github.com/trunkline/trunkline/firewall"
	"github.com/trunkline/trunkline/internal/peer"
)

func TestFirewallManifestMatchesSockets(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	ssBin := peer.Program(t, "ss")
	bin := e2eBuild(t)
	// A trunk whose OPTIONS probes run (to a UDP socket of the test), so the prober's
	// sockets exist when ss looks.
	probes, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer probes.Close()
	cfg := filepath.Join(t.TempDir(), "trunkline.toml")
	writeFile(t, cfg, `[voice]
rtp_port_min = 31000
rtp_port_max = 31100
[[voice.trunks]]
name = "edge"
address = "`+probes.LocalAddr().String()+`"
allow = ["127.0.0.1"]
probe_interval = "1s"
[firewall]
api_sources = ["127.0.0.0/8"]
metrics_sources = ["127.0.0.1"]
`)
	dataDir := filepath.Join(t.TempDir(), "data")
	env := e2eEnv(map[string]string{"TRUNKLINE_METRICS_LISTEN": "127.0.0.2:0", "TRUNKLINE_VOICE_TLS_LISTEN": "127.0.0.2:0"})
	srv := e2eStartServer(t, bin, env, dataDir, "--config", cfg, "--listen", "127.0.0.2:0", "--plain-listen", "127.0.0.2:0", "--sip-listen", "127.0.0.2:0")
	probes.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, _, err := probes.ReadFrom(make([]byte, 4096)); err != nil {
		t.Fatalf("no OPTIONS probe from the node's trunk prober: %v", err)
	}

	// The manifest for the addresses the node bound (the config said port 0).
	out := srv.stdout.String()
	find := func(re string) string {
		m := regexp.MustCompile(`(?m)` + re).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("serve printed no line matching %s:\n%s", re, out)
		}
		return m[1]
	}
	api, plain := find(`^trunkline: API listening on https://(\S+)$`), find(`^trunkline: API listening on http://(\S+) `)
	sip, sipTLS := find(`^trunkline: SIP listening on (\S+) `), find(`^trunkline: SIP over TLS on (\S+)$`)
	metrics := find(`^trunkline: metrics on http://(\S+)/metrics$`)
	menv := e2eEnv(map[string]string{"TRUNKLINE_METRICS_LISTEN": metrics, "TRUNKLINE_VOICE_TLS_LISTEN": sipTLS})
	manifestOut := e2eCLI(t, bin, menv, "firewall", "--json", "--data-dir", dataDir, "--config", cfg, "--listen", api, "--plain-listen", plain, "--sip-listen", sip)
	var manifest []listenerJSON
	if err := json.Unmarshal(manifestOut, &manifest); err != nil {
		t.Fatalf("firewall --json: %v\n%s", err, manifestOut)
	}
	var ls []firewall.Listener
	for _, m := range manifest {
		l := firewall.Listener{Name: m.Name, Proto: m.Proto, PortMin: m.PortMin, PortMax: m.PortMax}
		if m.Address != "*" {
			l.Addr = netip.MustParseAddr(m.Address)
		}
		ls = append(ls, l)
	}
	for _, m := range manifest {
		if m.Name == "api" && (len(m.Sources) != 1 || m.Sources[0] != "127.0.0.0/8") {
			t.Errorf("api sources %v, want the configured [127.0.0.0/8]", m.Sources)
		}
	}

	socks := listeningSockets(t, ssBin, srv.cmd.Process.Pid)
	if len(socks) < 6 {
		t.Fatalf("ss found only %d sockets of pid %d: %v", len(socks), srv.cmd.Process.Pid, socks)
	}
	bound := map[string]bool{}
	for _, s := range socks {
		named := false
		// Fixed ports first: an ephemeral listener on the same address matches any port.
		for _, l := range append(slices.DeleteFunc(slices.Clone(ls), firewall.Listener.Ephemeral), ls...) {
			if l.Matches(s.proto, s.addr) {
				named, bound[l.Name] = true, true
				break
			}
		}
		if !named {
			t.Errorf("the node listens on %s %s, which the manifest does not name:\n%s", s.proto, s.addr, manifestOut)
		}
	}
	for _, l := range ls {
		if !l.Ephemeral() && l.PortMax == l.PortMin && !bound[l.Name] {
			t.Errorf("the manifest names %s (%s %s:%d), which the node does not listen on", l.Name, l.Proto, l.Address(), l.PortMin)
		}
	}
	t.Logf("%d sockets, all named by the manifest:\n%s", len(socks), manifestOut)

	// The nftables form loads in nft's check mode where nft is installed.
	nft, err := exec.LookPath("nft")
	if err != nil {
		t.Log("nft is not installed: the ruleset's syntax is not checked")
		return
	}
	rules := e2eCLI(t, bin, menv, "firewall", "--format", "nftables", "--data-dir", dataDir, "--config", cfg)
	rulesFile := filepath.Join(t.TempDir(), "trunkline.nft")
	writeFile(t, rulesFile, string(rules))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, nft, "-c", "-f", rulesFile).CombinedOutput(); err != nil {
		if bytes.Contains(out, []byte("Operation not permitted")) {
			t.Logf("nft -c needs CAP_NET_ADMIN here: the ruleset's syntax is not checked (%s)", bytes.TrimSpace(out))
			return
		}
		t.Errorf("nft -c -f: %v\n%s\n%s", err, out, rules)
	}
}

type socket struct {
	proto string
	addr  netip.AddrPort
}

// listeningSockets lists the TCP listeners and unconnected UDP sockets of pid.
func listeningSockets(t *testing.T, ss string, pid int) []socket {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, ss, "-H", "-lntup").Output()
	if err != nil {
		t.Fatalf("ss -lntup: %v", err)
	}
	var socks []socket
	tag := "pid=" + strconv.Itoa(pid) + ","
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 7 || !strings.Contains(line, tag) {
			continue
		}
		local := f[4]
		if h, p, ok := strings.Cut(local, "%"); ok { // 127.0.0.1%lo:53
			_, port, _ := strings.Cut(p, ":")
			local = h + ":" + port
		}
		local = strings.Replace(local, "*:", "[::]:", 1)
		ap, err := netip.ParseAddrPort(local)
		if err != nil {
			t.Fatalf("ss: local address %q: %v (line %q)", f[4], err, line)
		}
		socks = append(socks, socket{proto: f[0], addr: netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())})
	}
	return socks
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestFirewallManifestNamesNATS: a node with an embedded NATS server lists its client
// port (for itself and its CLI, from its own address) and its route port (from the
// peers named in bus.routes); a node on an external NATS opens neither.
func TestFirewallManifestNamesNATS(t *testing.T) {
	c := config.Default()
	c.Bus.Kind, c.Bus.Listen, c.Bus.RouteListen = "nats", "127.0.0.2:4222", "127.0.0.2:6222"
	c.Bus.Routes = []string{"nats://127.0.0.1:6222", "127.0.0.3:6222", "peer.example:6222"}
	ls, err := listeners(&c)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]firewall.Listener{}
	for _, l := range ls {
		byName[l.Name] = l
	}
	cl, ok := byName["nats-client"]
	if !ok || cl.PortMin != 4222 || cl.Addr != netip.MustParseAddr("127.0.0.2") ||
		!slices.Equal(cl.Sources, []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}) {
		t.Errorf("nats-client: %+v (present %v)", cl, ok)
	}
	rt, ok := byName["nats-routes"]
	want := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("127.0.0.3/32")}
	if !ok || rt.PortMin != 6222 || !slices.Equal(rt.Sources, want) {
		t.Errorf("nats-routes: %+v (present %v), want sources %v", rt, ok, want)
	}

	c.Bus.URL = "nats://10.0.0.9:4222"
	if ls, err = listeners(&c); err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		if strings.HasPrefix(l.Name, "nats") {
			t.Errorf("external NATS, yet the manifest names %s", l.Name)
		}
	}
}
