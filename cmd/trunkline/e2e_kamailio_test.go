package main

// The SIP edge (issue 15, item 5): the shipped Kamailio configuration
// (deploy/kamailio/kamailio.cfg, dispatcher with OPTIONS probing) in front of two
// `trunkline serve` nodes sharing PostgreSQL; SIPp calls a rented number through it.
// Calls spread over both nodes; a phone's REGISTERs all reach one node; a node killed with kill -9 is marked inactive within
// 2 s and no new call fails (an INVITE in the window is retried on the other node); a
// node drained with SIGTERM answers probes and INVITEs 503, so new calls go to the
// other node, while the calls it holds finish.

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trunkline/trunkline/internal/peer"
)

type edgeKamailio struct {
	cmd    *exec.Cmd
	kamcmd string
	addr   string // udp host:port
	ctl    string
	out    *smsBuf
	exited chan struct{}
}

// edgeStartKamailio runs deploy/kamailio/kamailio.cfg on addr (127.0.0.9) with the
// nodes' SIP addresses in its dispatcher list, and waits until it probes every one
// active.
func edgeStartKamailio(t *testing.T, addr string, nodes []string) *edgeKamailio {
	t.Helper()
	bin := peer.Program(t, "kamailio")
	kamcmd := peer.Program(t, "kamcmd")
	dir := t.TempDir()
	var list strings.Builder
	for i, n := range nodes {
		fmt.Fprintf(&list, "1 sip:%s 0 0 duid=n%d\n", n, i+1)
	}
	writeFile(t, filepath.Join(dir, "dispatcher.list"), list.String())
	k := &edgeKamailio{kamcmd: kamcmd, addr: addr, ctl: "unix:" + filepath.Join(dir, "kamailio_ctl"), out: &smsBuf{notify: make(chan struct{}, 1)}, exited: make(chan struct{})}
	cfg, err := filepath.Abs(filepath.Join("..", "..", "deploy", "kamailio", "kamailio.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	// -DD: foreground with its children and a pid file; -Y: its runtime dir (the
	// default /run/kamailio is not ours); -E: log to stderr.
	k.cmd = exec.Command(bin, "-f", cfg, "-DD", "-E", "-w", dir, "-Y", dir, "-P", filepath.Join(dir, "kamailio.pid"), "-n", "2", "-m", "64", "-M", "8",
		"-A", "LISTEN=udp:"+addr, "-A", "ALIAS="+addr, "-A", `DS_LIST="`+filepath.Join(dir, "dispatcher.list")+`"`, "-A", `CTL_SOCK="`+k.ctl+`"`, "-A", "FR_MS=500")
	k.cmd.Stdout, k.cmd.Stderr = k.out, k.out
	// Its own process group: Kamailio forks workers that hold the output pipe, so the
	// cleanup kills the group (the main process and the workers it started).
	k.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := k.cmd.Start(); err != nil {
		t.Fatalf("start kamailio: %v", err)
	}
	go func() { k.cmd.Wait(); close(k.exited) }()
	t.Cleanup(func() {
		syscall.Kill(-k.cmd.Process.Pid, syscall.SIGKILL)
		<-k.exited
		if t.Failed() {
			t.Logf("kamailio log:\n%s", smsTail(k.out.String(), 60))
		}
	})
	for _, n := range nodes {
		k.waitFlags(t, n, "AP", edgeUpTimeout)
	}
	return k
}

// flags is the dispatcher's state of node: "AP" active (and probed), "IP" inactive.
func (k *edgeKamailio) flags(node string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, k.kamcmd, "-s", k.ctl, "dispatcher.list").CombinedOutput()
	// Each destination: URI: sip:127.0.0.1:5060 then FLAGS: AP on the next line.
	if _, rest, ok := strings.Cut(string(out), "URI: sip:"+node+"\n"); ok {
		if _, f, ok := strings.Cut(rest, "FLAGS: "); ok {
			return strings.Fields(f)[0]
		}
	}
	return ""
}

// waitFlags polls until node has the flags want (see edgeWaitFor).
func (k *edgeKamailio) waitFlags(t *testing.T, node, want string, timeout time.Duration) time.Duration {
	t.Helper()
	return edgeWaitFor(t, "kamailio", node, want, timeout, k.exited, k.out, func() string { return k.flags(node) })
}

// waitLine waits (bounded) for a log line matching re after the first skip bytes and
// returns when it was seen.
func (k *edgeKamailio) waitLine(t *testing.T, re *regexp.Regexp, skip int, timeout time.Duration) time.Time {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		if out := k.out.String(); len(out) > skip && re.MatchString(out[skip:]) {
			return time.Now()
		}
		select {
		case <-k.out.notify:
		case <-deadline.C:
			t.Fatalf("kamailio logged no %s within %s:\n%s", re, timeout, smsTail(k.out.String(), 30))
		}
	}
}

// dispatched counts the INVITEs Kamailio sent to each node address.
func (k *edgeKamailio) dispatched(nodes []string) map[string]int {
	out := map[string]int{}
	for _, line := range strings.Split(k.out.String(), "\n") {
		if !strings.Contains(line, "DISPATCH INVITE") {
			continue
		}
		for _, n := range nodes {
			if strings.Contains(line, "sip:"+n) {
				out[n]++
			}
		}
	}
	return out
}

func TestKamailioFrontsNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test (two nodes, Kamailio, SIPp); skipped with -short")
	}
	peer.Program(t, "kamailio")
	peer.SIPp(t)
	bin := e2eBuild(t)
	// Kamailio's port: it cannot bind port 0 and report it, so take a free one on an
	// address no other test uses.
	pc, err := net.ListenPacket("udp", "127.0.0.9:0")
	if err != nil {
		t.Fatal(err)
	}
	kamAddr := pc.LocalAddr().String()
	pc.Close()
	const number = "14155550177"
	c := edgeNewCluster(t, bin, 2, fmt.Sprintf("[[voice.trunks]]\nname = \"edge\"\naddress = %q\nallow = [\"127.0.0.9\"]\nprobe_interval = \"0s\"\n", kamAddr))
	e2eCLI(t, bin, c.env, "number", "add", "--number", number, "--country", "US", "--type", "local", "--data-dir", c.nodes[0].dataDir, "--config", c.nodes[0].cfgPath)
	// The application: each call waits (the caller hears silence), then the node hangs up.
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprint(w, `<Response><Wait length="2"/><Hangup/></Response>`)
	}))
	defer app.Close()
	for i := range c.nodes {
		c.start(i, bin)
	}
	api := c.api(c.nodes[0].srv.base)
	code, body, err := api.call(http.MethodPost, "Application/", map[string]any{"app_name": "edge", "answer_url": app.URL + "/answer"})
	if err != nil || code != http.StatusCreated {
		t.Fatalf("create application: HTTP %d %s %v", code, body, err)
	}
	var created struct {
		AppID string `json:"app_id"`
	}
	if err := json.Unmarshal(body, &created); err != nil || created.AppID == "" {
		t.Fatalf("create application: %s %v", body, err)
	}
	if code, body, err := api.call(http.MethodPost, "PhoneNumber/"+number+"/", map[string]any{"app_id": created.AppID}); err != nil || code != http.StatusCreated {
		t.Fatalf("rent %s: HTTP %d %s %v", number, code, body, err)
	}
	nodes := []string{c.nodes[0].sipAddr, c.nodes[1].sipAddr}
	k := edgeStartKamailio(t, kamAddr, nodes)
	calls := func(n int, rate float64) *peer.SIPpResult {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		res, err := peer.RunSIPp(ctx, t, peer.SIPpOptions{Scenario: peer.SIPpScenario(t, "uac_play_hangup.xml"), Remote: kamAddr, LocalIP: "127.0.0.8",
			Service: number, Calls: n, Rate: rate, Timeout: 80 * time.Second})
		if err != nil {
			t.Errorf("sipp: %v", err) // not Fatalf: the kill phase runs this in a goroutine
			return &peer.SIPpResult{}
		}
		return res
	}

	// Calls spread over both nodes.
	res := calls(10, 10)
	if res.Successful != 10 || res.Failed != 0 {
		t.Fatalf("10 calls through Kamailio: %s", res)
	}
	if d := k.dispatched(nodes); d[nodes[0]] == 0 || d[nodes[1]] == 0 {
		t.Errorf("calls were not spread over both nodes: %v", d)
	}

	// A phone registers through Kamailio, twice: both REGISTERs reach the same node
	// (hashed over the To URI), which stores the binding with Kamailio's Path.
	code, body, err = api.call(http.MethodPost, "Endpoint/", map[string]any{"username": "edgephone", "password": "Kx7#mQ2!vR9$wL4p", "alias": "Edge phone"})
	if err != nil || code != http.StatusCreated {
		t.Fatalf("create endpoint: HTTP %d %s %v", code, body, err)
	}
	var ep struct {
		Username string `json:"username"`
	}
	if err := json.Unmarshal(body, &ep); err != nil || ep.Username == "" {
		t.Fatalf("create endpoint: %s %v", body, err)
	}
	for range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		res, err := peer.RunSIPp(ctx, t, peer.SIPpOptions{Scenario: peer.SIPpScenario(t, "uac_register.xml"), Remote: kamAddr, LocalIP: "127.0.0.8",
			Calls: 1, Timeout: 20 * time.Second, RecvTimeout: 5 * time.Second, Keys: map[string]string{"user": ep.Username, "expires": "120"},
			Args: []string{"-au", ep.Username, "-ap", "Kx7#mQ2!vR9$wL4p"}})
		cancel()
		if err != nil || res.Successful != 1 {
			t.Fatalf("REGISTER through Kamailio: %s %v", res, err)
		}
	}
	regs := regexp.MustCompile(`DISPATCH REGISTER sip:`+regexp.QuoteMeta(ep.Username)+`@\S+ -> sip:(\S+)`).FindAllStringSubmatch(k.out.String(), -1)
	if len(regs) < 2 {
		t.Fatalf("Kamailio dispatched %d REGISTERs of %s, want 4 (two with credentials):\n%s", len(regs), ep.Username, smsTail(k.out.String(), 20))
	}
	for _, r := range regs[1:] {
		if r[1] != regs[0][1] {
			t.Errorf("REGISTERs of one phone went to %s and %s; want one node", regs[0][1], r[1])
		}
	}
	code, body, err = api.call(http.MethodGet, "Endpoint/?limit=20", nil)
	if err != nil || code != http.StatusOK || !strings.Contains(string(body), `"sip_registered":"true"`) {
		t.Errorf("after REGISTER through Kamailio the endpoint is not registered: HTTP %d %s %v", code, body, err)
	}

	// kill -9 of n2: Kamailio marks it inactive within 2 s; new calls all succeed
	// (INVITEs sent to the dead node before that are retried on the other).
	c.nodes[1].srv.kill()
	done := make(chan *peer.SIPpResult, 1)
	go func() { done <- calls(20, 10) }() // starts at once: the first INVITEs meet the dead node
	down := k.waitFlags(t, nodes[1], "IP", 10*time.Second)
	res = <-done
	t.Logf("FIGURE kill -9 of %s: inactive in Kamailio %s after the kill; calls placed from the kill on: %s", c.nodes[1].name, down.Round(10*time.Millisecond), res)
	if down > 2*time.Second {
		t.Errorf("the killed node was marked inactive %s after the kill, want within 2 s", down)
	}
	if res.Successful != 20 || res.Failed != 0 {
		t.Errorf("calls from the kill on: %s; want all 20 successful", res)
	}

	t.Logf("FIGURE kill-to-out kamailio %d ms", down.Milliseconds())
	// More kills for bench/edge.sh's figures (TRUNKLINE_EDGE_KILLS).
	for range edgeKills(t) - 1 {
		c.start(1, bin)
		k.waitFlags(t, nodes[1], "AP", edgeUpTimeout)
		c.nodes[1].srv.kill()
		d := k.waitFlags(t, nodes[1], "IP", 10*time.Second)
		t.Logf("FIGURE kill-to-out kamailio %d ms", d.Milliseconds())
		if d > 2*time.Second {
			t.Errorf("the killed node was marked inactive %s after the kill, want within 2 s", d)
		}
	}

	// n2 comes back and is active again; then n1 drains (SIGTERM) with calls up: they
	// finish, and new calls go to n2.
	c.start(1, bin)
	k.waitFlags(t, nodes[1], "AP", edgeUpTimeout)
	mark := len(k.out.String())
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	held, err := peer.StartSIPp(ctx, t, peer.SIPpOptions{Scenario: peer.SIPpScenario(t, "uac_play_hangup.xml"), Remote: kamAddr, LocalIP: "127.0.0.8",
		Service: number, Calls: 4, Rate: 20, Timeout: 80 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	k.waitLine(t, regexp.MustCompile(`DISPATCH INVITE .* -> sip:`+regexp.QuoteMeta(nodes[0])), mark, 10*time.Second)
	stopped := make(chan struct{})
	go func() { defer close(stopped); c.stop(0) }() // SIGTERM: the drain grace, then the calls' drain
	drained := k.waitFlags(t, nodes[0], "IP", 5*time.Second)
	t.Logf("FIGURE SIGTERM of %s: inactive in Kamailio %s after the signal (it answers probes 503)", c.nodes[0].name, drained.Round(10*time.Millisecond))
	res = calls(10, 10)
	if res.Successful != 10 || res.Failed != 0 {
		t.Errorf("calls while n1 drains: %s; want all 10 successful on n2", res)
	}
	heldRes, err := held.Wait()
	if err != nil || heldRes.Successful != 4 || heldRes.Failed != 0 {
		t.Errorf("calls up when n1 began to drain: %s %v; want all 4 to finish normally", heldRes, err)
	}
	<-stopped
	c.stop(1)
}
