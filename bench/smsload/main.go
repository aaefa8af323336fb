// Command smsload is the load generator of the end-to-end SMS benchmark (bench/sms.sh).
// It sends -n messages through an SMS gateway's HTTP interface with -c concurrent
// clients, each over its own kept-alive HTTP/1.1 connection, and runs a callback
// receiver that counts the gateway's status callbacks (delivery reports). It stops when
// every accepted message has had its final callback (delivered, undelivered or failed),
// when no callback has arrived for -stall, or after -wait, and prints:
//
//   - accepted msgs/s: accepted requests over the API phase (first request → last answer);
//   - end-to-end msgs/s: messages with a final callback over first request → last final
//     callback (the gateway's submit to the SMSC and the receipt are in between);
//   - p50/p99/max API latency, errors, callbacks by status;
//   - CPU seconds and peak RSS (VmHWM) of the gateway processes (-pids, read from /proc),
//     and CPU per message; CPU of other processes (-aux-pids, e.g. the SMSC) and of the
//     loader itself.
//
// Modes:
//
//	-mode trunkline  POST {url}/v1/Account/{user}/Message/ with JSON {"src","dst","text","url"}
//	                 over HTTPS (trusting -cacert), Basic auth; callbacks are Plivo's status
//	                 callbacks (POST form, field Status: sent, delivered, undelivered, failed).
//	-mode kannel     GET {url} (smsbox's /cgi-bin/sendsms) with username, password, from, to,
//	                 text, dlr-mask and dlr-url; callbacks are Kannel's DLR GETs, whose %d
//	                 (the report type: 1 delivered, 2 undelivered, 4 queued at the SMSC,
//	                 8 accepted by the SMSC, 16 rejected by the SMSC) is the status.
//
// Every callback URL carries the message's index (?i=N), so callbacks are matched to
// messages without waiting for the API's answer. Before the clock starts one probe
// message has to go all the way (answer 2xx and final callback), so a wrong URL,
// credential, route or callback address stops the run at once.
//
// It sends only to the URLs it is given (bench/sms.sh gives loopback addresses) and its
// receiver listens on -listen (default 127.0.0.1:0). Every loop ends with -n, -wait or
// -stall.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type config struct {
	mode, url, user, pass, cacert, label string
	src, text                            string
	dstBase                              uint64
	dstCount                             int
	n, conc, dlrMask                     int
	listen                               string
	wait, stall, timeout, probeWait      time.Duration
	pids                                 []int
	aux                                  []auxPID
	probe, asJSON                        bool
}

type auxPID struct {
	name string
	pid  int
}

// Result is the -json output.
type Result struct {
	Label       string         `json:"label"`
	Mode        string         `json:"mode"`
	N           int            `json:"n"`
	Concurrency int            `json:"concurrency"`
	Protocol    string         `json:"protocol"`
	Accepted    int64          `json:"accepted"`
	Non2xx      int64          `json:"non_2xx"`
	Errors      int64          `json:"errors"`
	ErrorSample []string       `json:"error_sample,omitempty"`
	APISeconds  float64        `json:"api_s"`
	AcceptedRPS float64        `json:"accepted_per_s"`
	Finals      int64          `json:"finals"`
	Missing     int64          `json:"missing"`
	E2ESeconds  float64        `json:"e2e_s"`
	E2ERate     float64        `json:"e2e_per_s"`
	FinalsAtAPI int64          `json:"finals_at_api_end"`
	P50Ms       float64        `json:"p50_ms"`
	P90Ms       float64        `json:"p90_ms"`
	P99Ms       float64        `json:"p99_ms"`
	MaxMs       float64        `json:"max_ms"`
	Callbacks   map[string]int `json:"callbacks"`
	DupFinals   int64          `json:"dup_finals"`
	BadCB       int64          `json:"bad_callbacks"`
	CBConns     int64          `json:"callback_conns"`
	Stopped     string         `json:"stopped"`
	ServerCPU   float64        `json:"server_cpu_s"`
	ServerRSSKB int64          `json:"server_max_rss_kb"`
	CPUPerMsgUs float64        `json:"server_cpu_per_msg_us"`
	AuxCPU      map[string]any `json:"aux_cpu_s"`
	LoaderCPU   float64        `json:"loader_cpu_s"`
	WallSeconds float64        `json:"wall_s"`
}

func main() {
	var c config
	var pids, aux string
	var freePorts int
	flag.StringVar(&c.mode, "mode", "trunkline", "trunkline or kannel")
	flag.StringVar(&c.url, "url", "", "trunkline: API base URL (https://127.0.0.1:PORT), or several comma-separated (a cluster's nodes: message i goes to URL i mod n); kannel: sendsms URL (http://127.0.0.1:PORT/cgi-bin/sendsms)")
	flag.StringVar(&c.user, "user", "", "trunkline: Auth ID; kannel: sendsms-user username")
	flag.StringVar(&c.pass, "pass", "", "trunkline: Auth Token; kannel: sendsms-user password")
	flag.StringVar(&c.cacert, "cacert", "", "PEM file of the CA certificate(s) to trust (https)")
	flag.StringVar(&c.label, "label", "", "name of the system in the output")
	flag.StringVar(&c.src, "src", "14155550100", "sender (a number the account rents)")
	flag.Uint64Var(&c.dstBase, "dst-base", 12025550000, "first destination number (E.164 digits)")
	flag.IntVar(&c.dstCount, "dst-count", 10000, "destinations used, from -dst-base, in turn")
	flag.StringVar(&c.text, "text", "Your Trunkline benchmark code is %d", "message text (%d: the message's index); keep it one GSM segment")
	flag.IntVar(&c.n, "n", 20000, "messages to send")
	flag.IntVar(&c.conc, "c", 64, "concurrent clients (one keep-alive connection each)")
	flag.IntVar(&c.dlrMask, "dlr-mask", 3, "kannel: dlr-mask (3: final reports only; 31: also SMSC ack/reject and queued)")
	flag.StringVar(&c.listen, "listen", "127.0.0.1:0", "callback receiver address")
	flag.DurationVar(&c.wait, "wait", 5*time.Minute, "longest wait for final callbacks after the last request")
	flag.DurationVar(&c.stall, "stall", time.Minute, "stop waiting when no final callback arrived for this long")
	flag.DurationVar(&c.timeout, "timeout", 30*time.Second, "per-request timeout")
	flag.DurationVar(&c.probeWait, "probe-wait", 60*time.Second, "longest wait for the probe message's final callback")
	flag.BoolVar(&c.probe, "probe", true, "send one message end to end before the clock starts")
	flag.StringVar(&pids, "pids", "", "comma-separated PIDs of the gateway's processes (CPU, peak RSS)")
	flag.StringVar(&aux, "aux-pids", "", "comma-separated name=PID of other processes whose CPU is reported (e.g. smsc=123)")
	flag.BoolVar(&c.asJSON, "json", false, "also print the result as one JSON line")
	flag.IntVar(&freePorts, "free-ports", 0, "print this many free TCP ports on 127.0.0.1 (one a line) and exit")
	flag.Parse()
	if freePorts > 0 {
		if err := printFreePorts(freePorts); err != nil {
			fmt.Fprintln(os.Stderr, "smsload:", err)
			os.Exit(1)
		}
		return
	}
	if err := validate(&c, pids, aux); err != nil {
		fmt.Fprintln(os.Stderr, "smsload:", err)
		flag.Usage()
		os.Exit(2)
	}
	res, err := run(c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "smsload:", err)
		os.Exit(1)
	}
	fmt.Print(human(res))
	if c.asJSON {
		b, _ := json.Marshal(res)
		fmt.Println(string(b))
	}
}

func validate(c *config, pids, aux string) error {
	if c.mode != "trunkline" && c.mode != "kannel" {
		return errors.New("-mode must be trunkline or kannel")
	}
	urls := strings.Split(c.url, ",")
	if c.mode == "kannel" && len(urls) > 1 {
		return errors.New("-url: kannel takes one URL")
	}
	for _, raw := range urls {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return errors.New("-url must be absolute http(s) URLs")
		}
	}
	if c.n < 1 || c.n > 10_000_000 {
		return errors.New("-n must be between 1 and 10000000")
	}
	if c.conc < 1 || c.conc > 10000 {
		return errors.New("-c must be between 1 and 10000")
	}
	if c.dstCount < 1 {
		return errors.New("-dst-count must be positive")
	}
	if c.wait <= 0 || c.wait > 2*time.Hour || c.stall <= 0 || c.timeout <= 0 || c.probeWait <= 0 {
		return errors.New("-wait must be in (0, 2h]; -stall, -timeout and -probe-wait positive")
	}
	for _, f := range strings.FieldsFunc(pids, func(r rune) bool { return r == ',' }) {
		p, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || p <= 0 {
			return fmt.Errorf("-pids: %q is not a PID", f)
		}
		c.pids = append(c.pids, p)
	}
	for _, f := range strings.FieldsFunc(aux, func(r rune) bool { return r == ',' }) {
		name, v, ok := strings.Cut(f, "=")
		p, err := strconv.Atoi(strings.TrimSpace(v))
		if !ok || err != nil || p <= 0 {
			return fmt.Errorf("-aux-pids: %q is not name=PID", f)
		}
		c.aux = append(c.aux, auxPID{strings.TrimSpace(name), p})
	}
	if c.label == "" {
		c.label = c.mode
	}
	return nil
}

func printFreePorts(n int) error {
	if n > 100 {
		return errors.New("-free-ports: at most 100")
	}
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	// Hold them all open until every port is chosen, so the n ports differ.
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		ls = append(ls, l)
		fmt.Println(l.Addr().(*net.TCPAddr).Port)
	}
	return nil
}

// sink is the callback receiver. Slot n is the probe message.
type sink struct {
	mode      string
	n         int
	final     []atomic.Int64 // unix ns of the first final callback per message, 0 = none yet
	finals    atomic.Int64   // messages (not the probe) with a final callback
	lastFinal atomic.Int64   // unix ns of the latest first-final callback
	dup       atomic.Int64   // final callbacks for messages that already had one
	bad       atomic.Int64   // callbacks that name no message of this run
	mu        sync.Mutex
	byStatus  map[string]int // callbacks by status, probe excluded
}

func newSink(mode string, n int) *sink {
	return &sink{mode: mode, n: n, final: make([]atomic.Int64, n+1), byStatus: map[string]int{}}
}

// kannelTypes names Kannel's DLR types (its dlr-url %d).
var kannelTypes = map[string]string{"1": "delivered", "2": "undelivered", "4": "queued", "8": "smsc_ack", "16": "smsc_reject"}

func isFinal(status string) bool {
	switch status {
	case "delivered", "undelivered", "failed", "rejected", "smsc_reject":
		return true
	}
	return false
}

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now().UnixNano()
	if err := r.ParseForm(); err != nil {
		s.bad.Add(1)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	i, err := strconv.Atoi(r.URL.Query().Get("i"))
	var status string
	if s.mode == "kannel" {
		t := r.URL.Query().Get("s")
		if status = kannelTypes[t]; status == "" {
			status = "type_" + t
		}
	} else {
		status = strings.ToLower(r.PostForm.Get("Status"))
		if status == "" {
			status = strings.ToLower(r.Form.Get("Status"))
		}
	}
	if err != nil || i < 0 || i > s.n || status == "" {
		s.bad.Add(1)
		w.WriteHeader(http.StatusOK) // nothing to retry
		return
	}
	if i < s.n {
		s.mu.Lock()
		s.byStatus[status]++
		s.mu.Unlock()
	}
	if isFinal(status) {
		if s.final[i].CompareAndSwap(0, now) {
			if i < s.n {
				s.finals.Add(1)
				for {
					last := s.lastFinal.Load()
					if now <= last || s.lastFinal.CompareAndSwap(last, now) {
						break
					}
				}
			}
		} else if i < s.n {
			s.dup.Add(1)
		}
	}
	w.WriteHeader(http.StatusOK)
}

// client holds one loader client's counts; merged after the run.
type client struct {
	lat      []time.Duration
	accepted int64
	non2xx   int64
	errs     int64
	statuses map[int]int
	errMsgs  map[string]int
	protoBad int64
	lastResp time.Time
}

func newTransport(c config) (*http.Transport, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.cacert != "" {
		pem, err := os.ReadFile(c.cacert)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s holds no PEM certificate", c.cacert)
		}
		tc.RootCAs = pool
	}
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		DialContext:         d.DialContext,
		TLSClientConfig:     tc,
		TLSHandshakeTimeout: 10 * time.Second,
		// HTTP/1.1 keep-alive, as bench/apiload, for both gateways alike.
		ForceAttemptHTTP2:   false,
		TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{},
		MaxIdleConns:        c.conc,
		MaxIdleConnsPerHost: c.conc,
		MaxConnsPerHost:     c.conc,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}, nil
}

type sender struct {
	c      config
	client *http.Client
	auth   string
	apis   []string // trunkline: the Message endpoint of each node
	cbBase string   // callback URL without the query
}

func (s *sender) request(i int) (*http.Request, error) {
	dst := strconv.FormatUint(s.c.dstBase+uint64(i%s.c.dstCount), 10)
	text := s.c.text
	if strings.Contains(text, "%d") {
		text = strings.Replace(text, "%d", strconv.Itoa(i), 1)
	}
	if s.c.mode == "kannel" {
		q := url.Values{}
		q.Set("username", s.c.user)
		q.Set("password", s.c.pass)
		q.Set("from", s.c.src)
		q.Set("to", dst)
		q.Set("text", text)
		q.Set("dlr-mask", strconv.Itoa(s.c.dlrMask))
		// Kannel puts the report type where %d is; the parameter is URL-encoded, so the
		// %d reaches Kannel intact.
		q.Set("dlr-url", s.cbBase+"?i="+strconv.Itoa(i)+"&s=%d")
		return http.NewRequest(http.MethodGet, s.c.url+"?"+q.Encode(), nil)
	}
	body, _ := json.Marshal(map[string]string{"src": s.c.src, "dst": dst, "text": text,
		"url": s.cbBase + "?i=" + strconv.Itoa(i)})
	req, err := http.NewRequest(http.MethodPost, s.apis[i%len(s.apis)], bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", s.auth)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	return req, nil
}

// do sends message i and reports the status code (0 on a transport error), the body's
// first bytes and the response's protocol.
func (s *sender) do(i int) (int, string, bool, error) {
	req, err := s.request(i)
	if err != nil {
		return 0, "", false, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, "", false, err
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(b), resp.ProtoMajor == 1 && resp.ProtoMinor == 1, err
}

func run(c config) (*Result, error) {
	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		return nil, fmt.Errorf("callback receiver: %w", err)
	}
	sk := newSink(c.mode, c.n)
	var cbConns atomic.Int64 // connections the gateway opened to deliver callbacks
	srv := &http.Server{Handler: sk, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				cbConns.Add(1)
			}
		}}
	go srv.Serve(ln)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()

	tr, err := newTransport(c)
	if err != nil {
		return nil, err
	}
	defer tr.CloseIdleConnections()
	s := &sender{c: c, client: &http.Client{Transport: tr, Timeout: c.timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		cbBase: "http://" + ln.Addr().String() + "/cb"}
	if c.mode == "trunkline" {
		s.auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(c.user+":"+c.pass))
		for _, u := range strings.Split(c.url, ",") {
			s.apis = append(s.apis, strings.TrimRight(u, "/")+"/v1/Account/"+url.PathEscape(c.user)+"/Message/")
		}
	}

	if c.probe {
		code, body, h11, err := s.do(c.n)
		switch {
		case err != nil:
			return nil, fmt.Errorf("probe message: %w", err)
		case code/100 != 2:
			return nil, fmt.Errorf("probe message: answered %d: %s", code, strings.TrimSpace(body))
		case !h11:
			return nil, errors.New("probe message: the answer was not HTTP/1.1")
		}
		deadline := time.Now().Add(c.probeWait)
		for sk.final[c.n].Load() == 0 {
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("probe message: accepted (%s) but no final callback within %s (callbacks so far: bad %d)",
					strings.TrimSpace(body), c.probeWait, sk.bad.Load())
			}
			time.Sleep(10 * time.Millisecond)
		}
		// Let the probe's other callbacks (e.g. "sent" after "delivered") arrive before
		// the clock starts.
		time.Sleep(500 * time.Millisecond)
	}

	cpu0 := cpuOf(c.pids)
	aux0 := map[string]float64{}
	for _, a := range c.aux {
		aux0[a.name] = cpuOf([]int{a.pid})
	}
	self0 := selfCPU()
	conns0 := cbConns.Load()

	var next atomic.Int64
	clients := make([]*client, c.conc)
	per := c.n/c.conc + 1
	var wg sync.WaitGroup
	t0 := time.Now()
	for w := range clients {
		cl := &client{lat: make([]time.Duration, 0, per), statuses: map[int]int{}, errMsgs: map[string]int{}}
		clients[w] = cl
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= c.n {
					return
				}
				r0 := time.Now()
				code, body, h11, err := s.do(i)
				r1 := time.Now()
				cl.lastResp = r1
				if err != nil && code == 0 {
					cl.errs++
					if len(cl.errMsgs) < 5 {
						cl.errMsgs[err.Error()]++
					}
					time.Sleep(time.Millisecond) // no tight loop against a dead target
					continue
				}
				cl.lat = append(cl.lat, r1.Sub(r0))
				cl.statuses[code]++
				if !h11 {
					cl.protoBad++
				}
				if code/100 == 2 {
					cl.accepted++
				} else {
					cl.non2xx++
					if len(cl.errMsgs) < 5 {
						cl.errMsgs[fmt.Sprintf("%d %s", code, strings.TrimSpace(body))]++
					}
				}
			}
		}()
	}
	wg.Wait()

	res := &Result{Label: c.label, Mode: c.mode, N: c.n, Concurrency: c.conc, Callbacks: map[string]int{}}
	var lastResp time.Time
	var lat []time.Duration
	errMsgs := map[string]int{}
	var protoBad int64
	for _, cl := range clients {
		res.Accepted += cl.accepted
		res.Non2xx += cl.non2xx
		res.Errors += cl.errs
		protoBad += cl.protoBad
		lat = append(lat, cl.lat...)
		if cl.lastResp.After(lastResp) {
			lastResp = cl.lastResp
		}
		for m, k := range cl.errMsgs {
			errMsgs[m] += k
		}
	}
	for m := range errMsgs {
		res.ErrorSample = append(res.ErrorSample, m)
	}
	sort.Strings(res.ErrorSample)
	res.Protocol = "HTTP/1.1 keep-alive"
	if strings.HasPrefix(c.url, "https") {
		res.Protocol += " over TLS"
	}
	if protoBad > 0 {
		res.Protocol = fmt.Sprintf("MIXED: %d answers not over HTTP/1.1", protoBad)
	}
	res.APISeconds = lastResp.Sub(t0).Seconds()
	if res.APISeconds > 0 {
		res.AcceptedRPS = float64(res.Accepted) / res.APISeconds
	}
	res.FinalsAtAPI = sk.finals.Load()
	if len(lat) > 0 {
		slices.Sort(lat)
		res.P50Ms, res.P90Ms, res.P99Ms = ms(pct(lat, 0.50)), ms(pct(lat, 0.90)), ms(pct(lat, 0.99))
		res.MaxMs = ms(lat[len(lat)-1])
	}

	// Wait for the final callbacks of every accepted message.
	deadline := lastResp.Add(c.wait)
	lastCount, lastChange := sk.finals.Load(), time.Now()
	res.Stopped = "all final callbacks arrived"
	for sk.finals.Load() < res.Accepted {
		now := time.Now()
		if n := sk.finals.Load(); n != lastCount {
			lastCount, lastChange = n, now
		}
		if now.After(deadline) {
			res.Stopped = fmt.Sprintf("-wait %s ran out", c.wait)
			break
		}
		if now.Sub(lastChange) > c.stall {
			res.Stopped = fmt.Sprintf("no final callback for -stall %s", c.stall)
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	tEnd := time.Now()
	res.ServerCPU = cpuOf(c.pids) - cpu0
	res.ServerRSSKB = hwmOf(c.pids)
	res.AuxCPU = map[string]any{}
	for _, a := range c.aux {
		res.AuxCPU[a.name] = round2(cpuOf([]int{a.pid}) - aux0[a.name])
	}
	res.LoaderCPU = round2(selfCPU() - self0)
	res.WallSeconds = tEnd.Sub(t0).Seconds()

	res.Finals = sk.finals.Load()
	res.Missing = res.Accepted - res.Finals
	if lf := sk.lastFinal.Load(); lf > 0 {
		res.E2ESeconds = time.Unix(0, lf).Sub(t0).Seconds()
		if res.E2ESeconds > 0 {
			res.E2ERate = float64(res.Finals) / res.E2ESeconds
		}
	}
	if res.Finals > 0 {
		res.CPUPerMsgUs = 1e6 * res.ServerCPU / float64(res.Finals)
	}
	sk.mu.Lock()
	for k, v := range sk.byStatus {
		res.Callbacks[k] = v
	}
	sk.mu.Unlock()
	res.DupFinals, res.BadCB = sk.dup.Load(), sk.bad.Load()
	res.CBConns = cbConns.Load() - conns0
	res.ServerCPU = round2(res.ServerCPU)
	return res, nil
}

func round2(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }

// clkTck is USER_HZ, 100 on every Linux architecture Go runs on here.
const clkTck = 100

// cpuOf sums utime + stime (fields 14 and 15 of /proc/PID/stat) in seconds.
func cpuOf(pids []int) float64 {
	var sum float64
	for _, p := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		// The command name (field 2) may hold spaces; fields after its ')' are plain.
		s := string(b)
		if k := strings.LastIndexByte(s, ')'); k >= 0 {
			s = s[k+1:]
		}
		f := strings.Fields(s)
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseFloat(f[11], 64)
		st, _ := strconv.ParseFloat(f[12], 64)
		sum += (u + st) / clkTck
	}
	return sum
}

// hwmOf sums the peak resident set sizes (VmHWM, kB) of pids.
func hwmOf(pids []int) int64 {
	var sum int64
	for _, p := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				sum += kb
			}
		}
	}
	return sum
}

func selfCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// pct is the nearest-rank percentile of sorted samples.
func pct(sorted []time.Duration, p float64) time.Duration {
	i := int(float64(len(sorted))*p+0.999999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func human(r *Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d messages, %d clients, %s\n", r.Label, r.N, r.Concurrency, r.Protocol)
	fmt.Fprintf(&b, "  API:        %d accepted in %.2fs = %.0f msgs/s | p50 %.2fms p90 %.2fms p99 %.2fms max %.2fms | non-2xx %d, errors %d\n",
		r.Accepted, r.APISeconds, r.AcceptedRPS, r.P50Ms, r.P90Ms, r.P99Ms, r.MaxMs, r.Non2xx, r.Errors)
	fmt.Fprintf(&b, "  end to end: %d final callbacks in %.2fs = %.0f msgs/s (%d already when the API phase ended) | missing %d | %s\n",
		r.Finals, r.E2ESeconds, r.E2ERate, r.FinalsAtAPI, r.Missing, r.Stopped)
	var cbs []string
	for k, v := range r.Callbacks {
		cbs = append(cbs, fmt.Sprintf("%s %d", k, v))
	}
	sort.Strings(cbs)
	fmt.Fprintf(&b, "  callbacks:  %s | duplicate finals %d, unmatched %d | %d connections opened to the receiver\n",
		strings.Join(cbs, ", "), r.DupFinals, r.BadCB, r.CBConns)
	var aux []string
	for k, v := range r.AuxCPU {
		aux = append(aux, fmt.Sprintf("%s %.2fs", k, v))
	}
	sort.Strings(aux)
	fmt.Fprintf(&b, "  CPU:        server %.2fs = %.0f µs/msg, peak RSS %.1f MB | loader %.2fs | %s | wall %.2fs\n",
		r.ServerCPU, r.CPUPerMsgUs, float64(r.ServerRSSKB)/1024, r.LoaderCPU, strings.Join(aux, ", "), r.WallSeconds)
	if len(r.ErrorSample) > 0 {
		fmt.Fprintf(&b, "  first errors: %s\n", strings.Join(r.ErrorSample, "; "))
	}
	return b.String()
}
