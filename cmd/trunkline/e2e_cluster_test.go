package main

// Cluster end-to-end test (issue 15): three `trunkline serve` processes of the built
// binary on one PostgreSQL schema, each with an embedded NATS server routed to the
// others on 127.0.0.1, bound to a node-smpp SMSC. SMS load goes to all three APIs; one
// node gets kill -9 mid-load; every message the API accepted must end delivered exactly
// once or failed with a reason (duplicates at the SMSC only from the dead node's
// in-flight window), and the time from the kill to a survivor taking the dead node's
// work (its row marked dead, its leases freed) is logged as a FIGURE.

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trunkline/trunkline/store/storetest"
)

var clusterRouteRE = regexp.MustCompile(`(?m)^trunkline: cluster bus \(NATS\) on \S+, routes on (\S+), node `)

type clusterRig struct {
	*smsRig
	dsn   string
	nodes []*smsServer
	apis  []*smsAPI
	envs  [][]string
}

// clusterNewRig starts the SMSC, one node (which creates keys, account and number),
// copies its keys and TLS to the other nodes' data dirs (a cluster shares its KEK and
// CA), and starts the other nodes routed to the first.
func clusterNewRig(t *testing.T, h *smsHarness, dsn string, n int) *clusterRig {
	t.Helper()
	r := &clusterRig{dsn: dsn}
	// The single-node rig writes the configuration and creates the account; the bus
	// section is appended below, then the first node restarts as a cluster member.
	r.smsRig = smsNewRig(t, h, smsRigOptions{dsn: dsn, carriers: []smsCarrier{
		{name: "carrier-a", priority: 1, weight: 1, env: map[string]string{"SMSC_RECEIPT_DELAY_MS": "100"},
			toml: "binds = 3"}}})
	r.srv.stop(t)
	f, err := os.OpenFile(r.cfgPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// A table after [[messaging.routes]] would belong to it: [bus] is a new table, fine.
	fmt.Fprintf(f, "\n[bus]\nkind = \"nats\"\ntoken = %q\nheartbeat = \"250ms\"\ndead_after = \"1s\"\nlisten = \"127.0.0.1:0\"\nroute_listen = \"127.0.0.1:0\"\n",
		"cluster-e2e-"+smsRandHex(12))
	f.Close()
	var seed string
	for i := range n {
		name := fmt.Sprintf("n%d", i+1)
		dataDir := r.dataDir
		if i > 0 {
			dataDir = filepath.Join(t.TempDir(), name)
			if err := os.CopyFS(dataDir, os.DirFS(r.dataDir)); err != nil {
				t.Fatal(err)
			}
			os.Chmod(dataDir, 0o700)
		}
		env := append(append([]string(nil), r.env...), "TRUNKLINE_NODE_NAME="+name)
		if seed != "" {
			env = append(env, "TRUNKLINE_BUS_ROUTES="+seed)
		}
		srv := smsStartServer(t, h.bin, env, dataDir, r.cfgPath)
		m := clusterRouteRE.FindStringSubmatch(srv.out.String())
		if m == nil {
			t.Fatalf("node %s did not print its bus addresses:\n%s", name, srv.out.String())
		}
		if seed == "" {
			seed = m[1]
		}
		r.nodes = append(r.nodes, srv)
		r.envs = append(r.envs, env)
		// Each node's own CA (the TLS files are per node; only keys must be shared).
		r.apis = append(r.apis, smsNewAPI(t, srv.base, e2eCAPool(t, filepath.Join(dataDir, "tls", "ca.crt")), r.authID, r.token))
	}
	r.srv, r.api = r.nodes[0], r.apis[0]
	// Every node heartbeating, the carrier's 3 binds spread one per node, and the bus
	// a full mesh (each node routed to the others: an event published before then, a
	// throttle's failure, may miss a node), as cluster status shows.
	deadline := time.Now().Add(smsChildReady)
	for {
		up, spread, meshed := 0, 0, 0
		for _, nd := range r.status(t) {
			if nd.State == "up" {
				up++
			}
			if nd.Binds == 1 {
				spread++
			}
			if nd.BusPeers == n-1 {
				meshed++
			}
		}
		if up == n && spread == n && meshed == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster status: %+v; want %d nodes up with one bind and %d bus peers each", r.status(t), n, n-1)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return r
}

// binds is the number of binds the nodes report, by node name.
func (r *clusterRig) binds(t *testing.T) (map[string]int, int) {
	out, total := map[string]int{}, 0
	for _, nd := range r.status(t) {
		if nd.State == "up" {
			out[nd.Name] = nd.Binds
			total += nd.Binds
		}
	}
	return out, total
}

type clusterNode struct {
	Name     string `json:"name"`
	State    string `json:"state"`
	Leader   bool   `json:"leader"`
	Binds    int    `json:"binds"`
	Calls    int    `json:"calls"`
	BusPeers int    `json:"bus_peers"`
}

func (r *clusterRig) status(t *testing.T) []clusterNode {
	t.Helper()
	out := e2eCLI(t, r.h.bin, r.envs[0], "cluster", "status", "--json", "--data-dir", r.dataDir, "--config", r.cfgPath)
	var nodes []clusterNode
	if err := json.Unmarshal(out, &nodes); err != nil {
		t.Fatalf("cluster status --json: %v\n%s", err, out)
	}
	return nodes
}

func TestCluster(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("uses SIGKILL")
	}
	dsn := os.Getenv(storetest.PostgresEnv)
	if dsn == "" {
		if os.Getenv("TRUNKLINE_REQUIRE_PEERS") != "" {
			t.Fatalf("%s is not set: a cluster needs PostgreSQL", storetest.PostgresEnv)
		}
		t.Skipf("%s is not set: a cluster needs PostgreSQL", storetest.PostgresEnv)
	}
	if testing.Short() {
		t.Skip("three nodes under SMS load; skipped with -short")
	}
	h := smsPeers(t)
	h.bin = e2eBuild(t)
	t.Run("sms_kill9", func(t *testing.T) { clusterScenarioKill(t, h, e2ePostgresSchema(t, dsn)) })
	t.Run("sms_sigstop", func(t *testing.T) { clusterScenarioPause(t, h, e2ePostgresSchema(t, dsn)) })
}

// clusterScenarioKill: SMS load over three nodes; kill -9 one; every accepted message
// delivered exactly once (or failed with a reason), duplicates only from the dead
// node's in-flight window; the time to takeover measured.
func clusterScenarioKill(t *testing.T, h *smsHarness, dsn string) {
	const total, killAfter, workers = 900, 300, 12
	r := clusterNewRig(t, h, dsn, 3)
	smsc := r.smsc[0]
	hangups := clusterLiveCalls(t, r)
	clusterThrottles(t, r)
	clusterRotation(t, r)
	clusterDialUser(t, r)
	// A call held by n3, which is about to die.
	lost := r.placeCall(t, 2, 0, hangups.url)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	items := smsItems("cluster"+smsRandHex(3), 0, total)
	var accepted sync.Map // uuid -> text
	var nAccepted atomic.Int64
	var unknown sync.Map // text of requests that got no answer (the victim died under them)
	var killOnce sync.Once
	var killedAt time.Time
	victim := 2 // n3
	var dead atomic.Bool
	var errs atomic.Int64
	work := make(chan smsItem)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range work {
				node := (it.I + w) % len(r.apis)
				if dead.Load() && node == victim {
					node = (node + 1) % len(r.apis)
				}
				uuids, code, body, err := r.apis[node].send(map[string]any{"src": smsSource, "dst": it.Dst, "text": it.Text})
				switch {
				case err != nil && node == victim:
					unknown.Store(it.Text, true)
				case err != nil || len(uuids) != 1:
					if errs.Add(1) <= 5 {
						t.Errorf("send to n%d: HTTP %d %s %v", node+1, code, body, err)
					}
				default:
					accepted.Store(uuids[0], it.Text)
					if nAccepted.Add(1) == killAfter {
						killOnce.Do(func() {
							killedAt = time.Now()
							r.nodes[victim].kill()
							dead.Store(true)
						})
					}
				}
			}
		}()
	}
	// Measure kill -> takeover (the survivor marks the dead node's row in the same step
	// as it frees its leases) and kill -> the dead node's bind open again on a survivor
	// (as the survivors' heartbeats report their binds).
	takeover, rebound := make(chan time.Duration, 1), make(chan time.Duration, 1)
	go func() {
		var tookOver bool
		for {
			if dead.Load() {
				var state string
				if !tookOver && db.QueryRow(`SELECT state FROM cluster_nodes WHERE name = 'n3'`).Scan(&state) == nil && state == "dead" {
					tookOver = true
					takeover <- time.Since(killedAt)
				}
				var binds int
				if tookOver && db.QueryRow(`SELECT COALESCE(SUM(binds), 0) FROM cluster_nodes WHERE state = 'up'`).Scan(&binds) == nil && binds == 3 {
					rebound <- time.Since(killedAt)
					return
				}
				if time.Since(killedAt) > 30*time.Second {
					if !tookOver {
						takeover <- -1
					}
					rebound <- -1
					return
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	for _, it := range items {
		work <- it
	}
	close(work)
	wg.Wait()
	if !dead.Load() {
		t.Fatalf("only %d messages accepted: the node was never killed", nAccepted.Load())
	}
	took := <-takeover
	if took < 0 {
		t.Fatal("no survivor took the killed node over within 30 s")
	}
	t.Logf("FIGURE cluster: kill -9 of n3 -> a survivor took its work over in %s (heartbeat 250 ms, dead_after 1 s)", took.Round(time.Millisecond))
	// The dead node's bind is opened again by a survivor: 3 binds in all, never more.
	rb := <-rebound
	if rb < 0 {
		t.Fatal("the dead node's bind was not re-opened by a survivor within 30 s")
	}
	per, nb := r.binds(t)
	if nb != 3 || len(per) != 2 {
		t.Errorf("binds after the kill: %v, want 3 on the 2 survivors", per)
	}
	t.Logf("FIGURE cluster: the dead node's bind re-opened by a survivor %s after the kill (binds now %v)", rb.Round(10*time.Millisecond), per)

	var uuids []string
	accepted.Range(func(k, _ any) bool { uuids = append(uuids, k.(string)); return true })
	start := time.Now()
	if !r.waitCount("queued", 0, smsCrashSettle) || !r.waitCount("sent", 0, smsCrashSettle) {
		t.Errorf("messages still queued or sent %s after the load", time.Since(start).Round(time.Second))
	}
	states, dups := clusterOutcomes(t, r, smsc, &accepted, uuids)
	nUnknown := 0
	unknown.Range(func(any, any) bool { nUnknown++; return true })
	t.Logf("FIGURE cluster: %d messages accepted over 3 nodes (%d requests to n3 unanswered at the kill); final states %v; %d duplicate submits at the SMSC",
		len(uuids), nUnknown, states, dups)
	// Duplicates can only come from what n3 had sent and not yet recorded when it died:
	// at most its workers' in-flight window.
	if dups > 64 {
		t.Errorf("%d duplicate submits: more than the dead node could have had in flight", dups)
	}
	nodes := r.status(t)
	got := map[string]string{}
	for _, n := range nodes {
		got[n.Name] = n.State
	}
	if got["n1"] != "up" || got["n2"] != "up" || got["n3"] != "dead" {
		t.Errorf("cluster status after the kill: %v", got)
	}
	if !strings.Contains(r.nodes[0].errb.String()+r.nodes[1].errb.String(), "took its work over") {
		t.Error("no survivor logged the takeover")
	}
	// n3's call: ended in the records by a survivor, its hangup_url called.
	cdr := r.waitCDR(t, 0, lost)
	if code, _ := cdr["hangup_cause_code"].(float64); code != 7070 || cdr["hangup_cause_name"] != "Node Failure" {
		t.Errorf("the dead node's call's CDR: %v", cdr)
	}
	if f := hangups.wait(t, lost); f.Get("HangupCauseName") != "Node Failure" || f.Get("CallStatus") != "completed" {
		t.Errorf("hangup_url of the dead node's call got %v", f)
	}
	r.nodes[0].stop(t)
	r.nodes[1].stop(t)
	r.stopped = true
}

// hangupRecv is the customer's application: answer_url keeps the call up; hangup_url
// callbacks are kept by call UUID.
type hangupRecv struct {
	url  string
	mu   sync.Mutex
	got  map[string]url.Values
	n    map[string]int // callbacks per call
	note chan struct{}
}

// count is how many hangup_url callbacks call uuid got.
func (hr *hangupRecv) count(uuid string) int {
	hr.mu.Lock()
	defer hr.mu.Unlock()
	return hr.n[uuid]
}

func (hr *hangupRecv) wait(t *testing.T, uuid string) url.Values {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		hr.mu.Lock()
		f, ok := hr.got[uuid]
		hr.mu.Unlock()
		if ok {
			return f
		}
		select {
		case <-hr.note:
		case <-deadline:
			t.Fatalf("no hangup_url callback for call %s", uuid)
		}
	}
}

// placeCall places a call through node on's API (to the node's sandbox phone, which
// answers) and returns its call UUID once node from lists it live: the listing is
// gathered over the cluster.
func (r *clusterRig) placeCall(t *testing.T, on, from int, appURL string) string {
	t.Helper()
	code, body, err := r.apis[on].call(http.MethodPost, "Call/", map[string]any{"from": smsSource, "to": "447700900999",
		"answer_url": appURL + "/answer", "hangup_url": appURL + "/hangup"})
	if err != nil || code != http.StatusCreated {
		t.Fatalf("place a call on n%d: HTTP %d %s %v", on+1, code, body, err)
	}
	var req struct {
		RequestUUID string `json:"request_uuid"`
	}
	json.Unmarshal(body, &req)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		code, body, err := r.apis[from].call(http.MethodGet, "Call/?status=live", nil)
		var live struct {
			Calls []string `json:"calls"`
		}
		if err == nil && code == http.StatusOK && json.Unmarshal(body, &live) == nil {
			for _, u := range live.Calls {
				code, body, err := r.apis[from].call(http.MethodGet, "Call/"+u+"/?status=live", nil)
				var lc struct {
					RequestUUID string `json:"request_uuid"`
				}
				if err == nil && code == http.StatusOK && json.Unmarshal(body, &lc) == nil && lc.RequestUUID == req.RequestUUID {
					return u
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the call placed on n%d (request %s) was never listed live on n%d", on+1, req.RequestUUID, from+1)
	return ""
}

// waitCDR waits for call uuid's CDR (a completed call) through node on's API.
func (r *clusterRig) waitCDR(t *testing.T, on int, uuid string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		code, body, err := r.apis[on].call(http.MethodGet, "Call/"+uuid+"/", nil)
		var cdr map[string]any
		if err == nil && code == http.StatusOK && json.Unmarshal(body, &cdr) == nil && cdr["end_time"] != nil && cdr["end_time"] != "" {
			return cdr
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no CDR for call %s through n%d", uuid, on+1)
	return nil
}

// clusterLiveCalls: a call on n1 is seen live through n2 and hung up through n2 (the
// request goes to n1 over NATS); its CDR and hangup_url say the API hung it up.
func clusterLiveCalls(t *testing.T, r *clusterRig) *hangupRecv {
	t.Helper()
	hr := &hangupRecv{got: map[string]url.Values{}, n: map[string]int{}, note: make(chan struct{}, 1)}
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		req.ParseForm()
		switch req.URL.Path {
		case "/answer":
			w.Header().Set("Content-Type", "text/xml")
			io.WriteString(w, `<Response><Wait length="120"/></Response>`)
		case "/hangup":
			hr.mu.Lock()
			hr.got[req.Form.Get("CallUUID")] = req.Form
			hr.n[req.Form.Get("CallUUID")]++
			hr.mu.Unlock()
			select {
			case hr.note <- struct{}{}:
			default:
			}
		}
	}))
	t.Cleanup(app.Close)
	hr.url = app.URL
	uuid := r.placeCall(t, 0, 1, hr.url)
	clusterStream(t, r, uuid)
	code, body, err := r.apis[1].call(http.MethodDelete, "Call/"+uuid+"/", nil)
	if err != nil || code != http.StatusNoContent {
		t.Fatalf("hang up n1's call through n2: HTTP %d %s %v", code, body, err)
	}
	if f := hr.wait(t, uuid); f.Get("HangupSource") != "API Request" {
		t.Errorf("n1's call hung up through n2: hangup_url got %v", f)
	}
	cdr := r.waitCDR(t, 2, uuid)
	if cdr["hangup_source"] != "API Request" {
		t.Errorf("n1's call hung up through n2: CDR %v", cdr)
	}
	// A request about a call nobody holds: 404 from any node, not a hang.
	if code, _, _ := r.apis[2].call(http.MethodDelete, "Call/"+uuid+"/", nil); code != http.StatusNotFound {
		t.Errorf("hang up an ended call: HTTP %d, want 404", code)
	}
	return hr
}

// subaccount creates a subaccount through n1 and returns its credentials and a way to
// call node i's API as it with a given token.
func (r *clusterRig) subaccount(t *testing.T, name string) (clusterSub, func(i int, token string) *smsAPI) {
	t.Helper()
	code, body, err := r.apis[0].call(http.MethodPost, "Subaccount/", map[string]any{"name": name, "enabled": true})
	if err != nil || code != http.StatusCreated {
		t.Fatalf("create a subaccount: HTTP %d %s %v", code, body, err)
	}
	var sa clusterSub
	if err := json.Unmarshal(body, &sa); err != nil || sa.AuthID == "" {
		t.Fatalf("subaccount reply %s: %v", body, err)
	}
	return sa, func(i int, token string) *smsAPI {
		a := *r.apis[i]
		a.id, a.token = sa.AuthID, token
		return &a
	}
}

type clusterSub struct {
	AuthID    string `json:"auth_id"`
	AuthToken string `json:"auth_token"`
}

// clusterThrottles: wrong tokens for one Auth ID spread over the three nodes lock the
// (address, Auth ID) pair on every node after the limit for one node (api.fails_id,
// 10 by default), as one node would; the same failures on one node alone would take
// three times as many.
func clusterThrottles(t *testing.T, r *clusterRig) {
	t.Helper()
	sa, as := r.subaccount(t, "throttled")
	if code, body, _ := as(1, sa.AuthToken).call(http.MethodGet, "", nil); code != http.StatusOK {
		t.Fatalf("the subaccount's token on n2: HTTP %d %s", code, body)
	}
	const limit = 10 // api.fails_id default
	for i := range limit {
		code, _, err := as(i%3, "wrong-token-"+smsRandHex(8)).call(http.MethodGet, "", nil)
		if err != nil || code != http.StatusUnauthorized {
			t.Fatalf("wrong token #%d on n%d: HTTP %d %v, want 401", i+1, i%3+1, code, err)
		}
	}
	// Each node saw 3 or 4 failures, a third of the limit: only shared counts lock.
	for i := range 3 {
		deadline := time.Now().Add(5 * time.Second)
		for {
			code, _, err := as(i, sa.AuthToken).call(http.MethodGet, "", nil)
			if err == nil && code == http.StatusTooManyRequests {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("n%d after %d failures spread over 3 nodes: HTTP %d %v, want 429 (throttles are per node)", i+1, limit, code, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// clusterScenarioPause: SMS load over three nodes; n3 is frozen (SIGSTOP) past
// dead_after, so the survivors take its work over, then thawed (SIGCONT) with the
// batch it had claimed still in memory and its call still up. Fencing must hold: every
// accepted message delivered exactly once or failed with a reason, duplicates at the
// SMSC only from what n3 had on the wire when it froze, none of n3's late outcomes
// recorded over the survivors' (each message has one set of parts), n3's call ended
// on n3 too without its CDR (written by a survivor) changed or its hangup_url called
// twice, and n3 back as a new incarnation with its share of the binds.
func clusterScenarioPause(t *testing.T, h *smsHarness, dsn string) {
	const total, pauseAfter, workers = 900, 300, 12
	r := clusterNewRig(t, h, dsn, 3)
	smsc := r.smsc[0]
	hangups := clusterLiveCalls(t, r)
	frozen := r.placeCall(t, 2, 0, hangups.url)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var oldInc string
	if err := db.QueryRow(`SELECT incarnation FROM cluster_nodes WHERE name = 'n3'`).Scan(&oldInc); err != nil {
		t.Fatal(err)
	}
	victim := r.nodes[2]

	items := smsItems("pause"+smsRandHex(3), 0, total)
	var accepted sync.Map // uuid -> text
	var nAccepted atomic.Int64
	var paused atomic.Bool
	var errs atomic.Int64
	pauseNow := make(chan struct{})
	var pauseOnce sync.Once
	work := make(chan smsItem)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range work {
				node := (it.I + w) % len(r.apis)
				if paused.Load() && node == 2 {
					node = it.I % 2 // n3 is frozen: its API would hold the request until it thaws
				}
				uuids, code, body, err := r.apis[node].send(map[string]any{"src": smsSource, "dst": it.Dst, "text": it.Text})
				if err != nil || len(uuids) != 1 {
					if errs.Add(1) <= 5 {
						t.Errorf("send to n%d: HTTP %d %s %v", node+1, code, body, err)
					}
					continue
				}
				accepted.Store(uuids[0], it.Text)
				if nAccepted.Add(1) == pauseAfter {
					pauseOnce.Do(func() { close(pauseNow) })
				}
			}
		}()
	}
	// The freeze, while the load goes on: SIGSTOP; wait for a survivor to mark n3
	// dead and for its claimed messages to be claimed again by the survivors (none
	// left queued under an n3 lease); then SIGCONT.
	thawed := make(chan time.Duration, 1)
	var stoppedAt time.Time
	go func() {
		<-pauseNow
		paused.Store(true)
		stoppedAt = time.Now()
		if err := freeze(victim.cmd.Process); err != nil {
			t.Errorf("SIGSTOP: %v", err)
			thawed <- -1
			return
		}
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			var state string
			var held int
			if db.QueryRow(`SELECT state FROM cluster_nodes WHERE name = 'n3'`).Scan(&state) == nil && state == "dead" &&
				db.QueryRow(`SELECT COUNT(*) FROM messages WHERE state = 'queued' AND lease_until > 0 AND lease_owner LIKE 'n3%'`).Scan(&held) == nil && held == 0 {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		thaw(victim.cmd.Process)
		thawed <- time.Since(stoppedAt)
		paused.Store(false)
	}()
	for _, it := range items {
		work <- it
	}
	close(work)
	wg.Wait()
	pausedFor := <-thawed
	if pausedFor < 0 {
		t.Fatal("n3 was never frozen")
	}
	// n3 finds itself given up for dead and rejoins as a new incarnation.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var st, inc string
		if db.QueryRow(`SELECT state, incarnation FROM cluster_nodes WHERE name = 'n3'`).Scan(&st, &inc) == nil && st == "up" && inc != oldInc {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("n3 did not rejoin as a new incarnation after SIGCONT (state %s)\n%s", st, victim.errb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("FIGURE cluster: n3 frozen for %s (until taken over and its claims taken again), then thawed; it rejoined as a new incarnation",
		pausedFor.Round(time.Millisecond))

	var uuids []string
	accepted.Range(func(k, _ any) bool { uuids = append(uuids, k.(string)); return true })
	if !r.waitCount("queued", 0, smsCrashSettle) || !r.waitCount("sent", 0, smsCrashSettle) {
		t.Error("messages still queued or sent after the load")
	}
	states, dups := clusterOutcomes(t, r, smsc, &accepted, uuids)
	refused := strings.Count(victim.errb.String(), "refused, the message went to another node")
	dropped := strings.Count(victim.errb.String(), "claimed message left to the node that took it over")
	t.Logf("FIGURE cluster: %d messages accepted, n3 frozen past dead_after; final states %v; %d duplicate submits at the SMSC; "+
		"n3 after the thaw: %d late outcomes refused, %d claimed messages dropped unsent", len(uuids), states, dups, refused, dropped)
	// A duplicate is a message n3 had submitted when it froze and the survivors sent
	// again: at most its bind's window (10) on the wire, plus answers it had read and
	// not yet recorded (bounded by the same window). Claimed messages still waiting
	// for the window when it froze must not go out: the gate before the wire.
	if dups > 20 {
		t.Errorf("%d duplicate submits: more than the frozen node had in flight", dups)
	}
	// The survivors' outcomes stand: n3's late ones added no parts. One recorded
	// submit of a one-part message stores one key (pdu.MessageIDKey of its SMSC id); a
	// late outcome recorded over it would add another id's.
	rows, err := db.Query(`SELECT message_uuid, smsc_key FROM message_parts`)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]map[string]bool{}
	for rows.Next() {
		var u, k string
		if err := rows.Scan(&u, &k); err != nil {
			t.Fatal(err)
		}
		if keys[u] == nil {
			keys[u] = map[string]bool{}
		}
		keys[u][k] = true
	}
	rows.Close()
	doubled := 0
	for _, ks := range keys {
		if len(ks) != 1 {
			doubled++
		}
	}
	if len(keys) < len(uuids) || doubled != 0 {
		t.Errorf("%d of %d messages have parts of more than one submit (%d with parts): the frozen node's late outcomes were recorded over the survivors'",
			doubled, len(uuids), len(keys))
	}
	if !strings.Contains(victim.errb.String(), "given up for dead") || !strings.Contains(victim.errb.String(), "rejoined the cluster") {
		t.Errorf("n3 did not log being fenced and rejoining:\n%s", victim.errb.String())
	}
	// n3's call: ended in the records by a survivor (7070), its hangup_url called
	// once; n3 ended it locally after the thaw without rewriting the CDR.
	cdr := r.waitCDR(t, 0, frozen)
	if code, _ := cdr["hangup_cause_code"].(float64); code != 7070 {
		t.Errorf("the frozen node's call's CDR: %v", cdr)
	}
	hangups.wait(t, frozen)
	deadline = time.Now().Add(30 * time.Second)
	for {
		nodes := r.status(t)
		calls := -1
		for _, n := range nodes {
			if n.Name == "n3" {
				calls = n.Calls
			}
		}
		if calls == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("n3 still carries %d calls after the thaw", calls)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if again := r.waitCDR(t, 1, frozen); again["end_time"] != cdr["end_time"] || again["hangup_cause_code"] != cdr["hangup_cause_code"] {
		t.Errorf("n3 rewrote the CDR the survivor wrote: %v, was %v", again, cdr)
	}
	if n := hangups.count(frozen); n != 1 {
		t.Errorf("hangup_url of the frozen node's call called %d times, want once", n)
	}
	// n3 takes its share of the binds back: one each, three in all.
	deadline = time.Now().Add(30 * time.Second)
	for {
		per, nb := r.binds(t)
		if nb == 3 && per["n1"] == 1 && per["n2"] == 1 && per["n3"] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("binds after n3 rejoined: %v", per)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, n := range r.nodes {
		n.stop(t)
	}
	r.stopped = true
}

// clusterOutcomes waits for the accepted messages (uuids; accepted maps each to its
// text) to settle and checks each: delivered and accepted by the SMSC, or failed or
// undelivered with a reason. It returns the final states and the duplicate submits
// the SMSC counted.
func clusterOutcomes(t *testing.T, r *clusterRig, smsc *smsSMSC, accepted *sync.Map, uuids []string) (states map[string]int, dups int) {
	t.Helper()
	final := r.settle(uuids, smsSettle, nil)
	counts := map[string]int{}
	for _, a := range smsc.accepted() {
		counts[a.Text]++
	}
	states = map[string]int{}
	for _, u := range uuids {
		text, _ := accepted.Load(u)
		f := final[u]
		states[f.State]++
		switch f.State {
		case "delivered":
			if counts[text.(string)] == 0 {
				t.Errorf("message %s is delivered but the SMSC never accepted it", u)
			}
		case "failed", "undelivered":
			if f.ErrorCode == nil || *f.ErrorCode == "" || *f.ErrorCode == "000" {
				t.Errorf("message %s %s without a reason", u, f.State)
			}
		default:
			t.Errorf("message %s accepted by the API ends %q", u, f.State)
		}
		if n := counts[text.(string)]; n > 1 {
			dups += n - 1
		}
	}
	return states, dups
}
