// Command callload places outbound calls through Trunkline's Call API for the calls
// benchmark (bench/calls.sh): -n POSTs of /v1/Account/{id}/Call/ at -rate per second
// (open loop: each request starts on its own schedule, at most -c in flight), over
// HTTPS with the server's CA and Basic auth. It is also the calls' application: it
// serves the answer_url and hangup_url itself (on -listen, loopback), answering
//
//	<Response><Wait length="-hold"/><Hangup/></Response>   (or just <Hangup/> with -hold 0)
//
// and noting when each call's answer_url and hangup_url requests arrive, keyed by
// RequestUUID. After the last POST it waits (at most -wait) for the hangup_url of every
// accepted call, then prints: requests, API accepted (201), the rate they were sent at,
// API latency p50/p99/max, transport errors and other statuses, answered calls and the
// setup time (POST sent → answer_url request, which the server makes once the callee
// answered), hangups by HangupCauseName, and accepted calls with no hangup_url yet.
//
// -sequential places one call at a time (the next POST once the previous call's
// hangup_url came), for per-call timings; -calls prints one line per call (POST time
// as Unix ms, its answer and hangup delays, cause, CallUUID) for the script to join
// with the server's log.
//
// It only talks to the URL it is given and listens on the address it is given;
// bench/calls.sh gives it loopback addresses. Every wait is bounded.
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
	"strings"
	"sync"
	"time"
)

type config struct {
	api, account, user, pass, cacert, listen, from, to string
	rate                                               float64
	n, conc, hold, ringTimeout                         int
	wait, timeout                                      time.Duration
	sequential, calls, asJSON                          bool
}

// call is one POST and what the callbacks said of it.
type call struct {
	sent       time.Time
	apiLatency time.Duration
	status     int // HTTP status; 0 = transport error
	err        string
	reqUUID    string
}

type callback struct {
	answered, hungUp time.Time
	callUUID, cause  string
	answerTime       string // AnswerTime of the hangup_url: "" when never answered
}

// app is the calls' application server.
type app struct {
	hold int
	mu   sync.Mutex
	by   map[string]*callback // RequestUUID →
	hung chan string          // RequestUUIDs, as hangup_url requests arrive
}

func (a *app) get(id string) *callback {
	cb := a.by[id]
	if cb == nil {
		cb = &callback{}
		a.by[id] = cb
	}
	return cb
}

func (a *app) answer(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	r.ParseForm()
	a.mu.Lock()
	cb := a.get(r.Form.Get("RequestUUID"))
	cb.answered, cb.callUUID = now, r.Form.Get("CallUUID")
	a.mu.Unlock()
	w.Header().Set("Content-Type", "text/xml")
	if a.hold > 0 {
		fmt.Fprintf(w, `<Response><Wait length="%d"/><Hangup/></Response>`, a.hold)
		return
	}
	io.WriteString(w, `<Response><Hangup/></Response>`)
}

func (a *app) hangup(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	r.ParseForm()
	id := r.Form.Get("RequestUUID")
	a.mu.Lock()
	cb := a.get(id)
	first := cb.hungUp.IsZero()
	cb.hungUp, cb.cause, cb.answerTime = now, r.Form.Get("HangupCauseName"), r.Form.Get("AnswerTime")
	if cb.callUUID == "" {
		cb.callUUID = r.Form.Get("CallUUID")
	}
	a.mu.Unlock()
	if first {
		select {
		case a.hung <- id:
		default: // nobody waits for it (the channel is sized for every call)
		}
	}
}

// Result is the -json output.
type Result struct {
	Requested   int            `json:"requested"`
	TargetRate  float64        `json:"target_rate"`
	SendRate    float64        `json:"send_rate"` // POSTs started per second, first to last
	Accepted    int            `json:"accepted"`
	Errors      int            `json:"errors"`
	Non201      int            `json:"non_201"`
	Statuses    map[string]int `json:"statuses"`
	APIP50Ms    float64        `json:"api_p50_ms"`
	APIP99Ms    float64        `json:"api_p99_ms"`
	APIMaxMs    float64        `json:"api_max_ms"`
	Answered    int            `json:"answered"`
	SetupP50Ms  float64        `json:"setup_p50_ms"`
	SetupP99Ms  float64        `json:"setup_p99_ms"`
	SetupMaxMs  float64        `json:"setup_max_ms"`
	Hangups     int            `json:"hangups"`
	Causes      map[string]int `json:"causes"`
	NoHangup    int            `json:"no_hangup"` // accepted calls whose hangup_url had not come by -wait
	ErrorSample []string       `json:"error_sample,omitempty"`
}

func main() {
	var c config
	flag.StringVar(&c.api, "api", "", "the API's base URL (https://127.0.0.1:PORT)")
	flag.StringVar(&c.account, "account", "", "account Auth ID (the URL's {id}); default -user")
	flag.StringVar(&c.user, "user", "", "HTTP Basic auth user (Auth ID)")
	flag.StringVar(&c.pass, "pass", "", "HTTP Basic auth password (Auth Token)")
	flag.StringVar(&c.cacert, "cacert", "", "PEM file of the CA certificate(s) to trust")
	flag.StringVar(&c.listen, "listen", "127.0.0.1:0", "address of the answer_url/hangup_url server")
	flag.StringVar(&c.from, "from", "14155550000", "caller number")
	flag.StringVar(&c.to, "to", "", "called number (E.164 digits)")
	flag.Float64Var(&c.rate, "rate", 10, "calls per second")
	flag.IntVar(&c.n, "n", 100, "calls to place")
	flag.IntVar(&c.conc, "c", 256, "API requests in flight at most")
	flag.IntVar(&c.hold, "hold", 60, "the answer: <Wait length=N/><Hangup/>; 0: <Hangup/>")
	flag.IntVar(&c.ringTimeout, "ring-timeout", 30, "ring_timeout of each call (s)")
	flag.DurationVar(&c.wait, "wait", 60*time.Second, "after the last POST, how long to wait for the hangup_url of every call")
	flag.DurationVar(&c.timeout, "timeout", 30*time.Second, "per-request timeout")
	flag.BoolVar(&c.sequential, "sequential", false, "one call at a time: the next POST after the previous call's hangup_url")
	flag.BoolVar(&c.calls, "calls", false, "print one line per call")
	flag.BoolVar(&c.asJSON, "json", false, "also print the result as one JSON line")
	flag.Parse()
	if c.account == "" {
		c.account = c.user
	}
	if err := validate(c); err != nil {
		fmt.Fprintln(os.Stderr, "callload:", err)
		flag.Usage()
		os.Exit(2)
	}
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "callload:", err)
		os.Exit(1)
	}
}

func validate(c config) error {
	u, err := url.Parse(c.api)
	switch {
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
		return errors.New("-api must be an absolute http(s) URL")
	case c.account == "" || c.to == "":
		return errors.New("-user (or -account) and -to are required")
	case c.rate <= 0 || c.rate > 100000:
		return errors.New("-rate must be in (0, 100000]")
	case c.n < 1 || c.n > 10_000_000:
		return errors.New("-n must be between 1 and 10000000")
	case c.conc < 1 || c.conc > 10000:
		return errors.New("-c must be between 1 and 10000")
	case c.hold < 0 || c.wait <= 0 || c.wait > 2*time.Hour:
		return errors.New("-hold must be ≥ 0 and -wait in (0, 2h]")
	}
	return nil
}

func run(c config) error {
	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		return err
	}
	a := &app{hold: c.hold, by: map[string]*callback{}, hung: make(chan string, c.n+16)}
	mux := http.NewServeMux()
	mux.HandleFunc("/answer", a.answer)
	mux.HandleFunc("/hangup", a.hangup)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	defer func() {
		// Let the last callbacks' responses go out: a callback cut off here would be
		// retried by the server against a closed port.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		hs.Shutdown(ctx)
	}()
	base := "http://" + ln.Addr().String()

	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.cacert != "" {
		pem, err := os.ReadFile(c.cacert)
		if err != nil {
			return err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("%s holds no PEM certificate", c.cacert)
		}
		tc.RootCAs = pool
	}
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     tc,
		TLSHandshakeTimeout: 10 * time.Second,
		ForceAttemptHTTP2:   false,
		TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{},
		MaxIdleConns:        c.conc,
		MaxIdleConnsPerHost: c.conc,
		MaxConnsPerHost:     c.conc,
		IdleConnTimeout:     90 * time.Second,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: c.timeout}
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(c.user+":"+c.pass))
	endpoint := strings.TrimRight(c.api, "/") + "/v1/Account/" + c.account + "/Call/"
	body, _ := json.Marshal(map[string]any{"from": c.from, "to": c.to, "answer_url": base + "/answer",
		"answer_method": "POST", "hangup_url": base + "/hangup", "hangup_method": "POST", "ring_timeout": c.ringTimeout})

	calls := make([]call, c.n)
	post := func(i int) {
		cl := &calls[i]
		cl.sent = time.Now()
		req, _ := http.NewRequest(http.MethodPost, endpoint, bytes.NewReader(body))
		req.Header.Set("Authorization", auth)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		res, err := client.Do(req)
		if err != nil {
			cl.apiLatency, cl.err = time.Since(cl.sent), err.Error()
			return
		}
		b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<16))
		res.Body.Close()
		cl.apiLatency, cl.status = time.Since(cl.sent), res.StatusCode
		var out struct {
			RequestUUID any `json:"request_uuid"`
		}
		if res.StatusCode == http.StatusCreated && json.Unmarshal(b, &out) == nil {
			cl.reqUUID, _ = out.RequestUUID.(string)
		} else if res.StatusCode != http.StatusCreated {
			cl.err = fmt.Sprintf("%d %s", res.StatusCode, strings.TrimSpace(string(b)))
		}
	}

	start := time.Now()
	if c.sequential {
		for i := range calls {
			post(i)
			if calls[i].reqUUID == "" {
				continue
			}
			waitFor(a, calls[i].reqUUID, c.wait)
		}
	} else {
		sem := make(chan struct{}, c.conc)
		var wg sync.WaitGroup
		interval := time.Duration(float64(time.Second) / c.rate)
		for i := range calls {
			if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
				time.Sleep(d)
			}
			sem <- struct{}{} // at most -c in flight: a slow API slows the sending
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				post(i)
			}()
		}
		wg.Wait()
		// Every accepted call's hangup_url, or -wait.
		deadline := time.After(c.wait)
	wait:
		for !allHungUp(a, calls) {
			select {
			case <-a.hung:
			case <-deadline:
				break wait
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	r := summarize(c, calls, a)
	if c.calls {
		printCalls(calls, a)
	}
	fmt.Println(human(r))
	if c.asJSON {
		b, _ := json.Marshal(r)
		fmt.Println(string(b))
	}
	return nil
}

// waitFor waits (at most d) for the hangup_url of one call.
func waitFor(a *app, id string, d time.Duration) {
	deadline := time.After(d)
	for {
		a.mu.Lock()
		cb := a.by[id]
		done := cb != nil && !cb.hungUp.IsZero()
		a.mu.Unlock()
		if done {
			return
		}
		select {
		case <-a.hung:
		case <-deadline:
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func allHungUp(a *app, calls []call) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := range calls {
		if id := calls[i].reqUUID; id != "" {
			if cb := a.by[id]; cb == nil || cb.hungUp.IsZero() {
				return false
			}
		}
	}
	return true
}

func summarize(c config, calls []call, a *app) *Result {
	r := &Result{Requested: len(calls), TargetRate: c.rate, Statuses: map[string]int{}, Causes: map[string]int{}}
	var api, setup []time.Duration
	first, last := calls[0].sent, calls[0].sent
	errs := map[string]bool{}
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := range calls {
		cl := &calls[i]
		first, last = minTime(first, cl.sent), maxTime(last, cl.sent)
		switch {
		case cl.status == 0:
			r.Errors++
		case cl.status == http.StatusCreated:
			api = append(api, cl.apiLatency)
			r.Accepted++
		default:
			api = append(api, cl.apiLatency)
			r.Non201++
			r.Statuses[fmt.Sprint(cl.status)]++
		}
		if cl.err != "" && len(errs) < 5 {
			errs[cl.err] = true
		}
		if cl.reqUUID == "" {
			continue
		}
		cb := a.by[cl.reqUUID]
		if cb == nil || cb.hungUp.IsZero() {
			r.NoHangup++
		}
		if cb == nil {
			continue
		}
		if !cb.answered.IsZero() {
			r.Answered++
			setup = append(setup, cb.answered.Sub(cl.sent))
		}
		if !cb.hungUp.IsZero() {
			r.Hangups++
			r.Causes[cb.cause]++
		}
	}
	if d := last.Sub(first).Seconds(); d > 0 && len(calls) > 1 {
		r.SendRate = float64(len(calls)-1) / d
	}
	r.APIP50Ms, r.APIP99Ms, r.APIMaxMs = pcts(api)
	r.SetupP50Ms, r.SetupP99Ms, r.SetupMaxMs = pcts(setup)
	for e := range errs {
		r.ErrorSample = append(r.ErrorSample, e)
	}
	sort.Strings(r.ErrorSample)
	return r
}

func printCalls(calls []call, a *app) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := range calls {
		cl := &calls[i]
		ans, hung, cause, uuid := "-", "-", "-", "-"
		if cb := a.by[cl.reqUUID]; cl.reqUUID != "" && cb != nil {
			if !cb.answered.IsZero() {
				ans = fmt.Sprintf("%.1f", ms(cb.answered.Sub(cl.sent)))
			}
			if !cb.hungUp.IsZero() {
				hung = fmt.Sprintf("%.1f", ms(cb.hungUp.Sub(cl.sent)))
				cause = strings.ReplaceAll(cb.cause, " ", "_")
			}
			if cb.callUUID != "" {
				uuid = cb.callUUID
			}
		}
		fmt.Printf("call %d sent_unix_ms=%d api_status=%d api_ms=%.1f answer_ms=%s hangup_ms=%s cause=%s call_uuid=%s\n",
			i+1, cl.sent.UnixMilli(), cl.status, ms(cl.apiLatency), ans, hung, cause, uuid)
	}
}

func pcts(d []time.Duration) (p50, p99, mx float64) {
	if len(d) == 0 {
		return 0, 0, 0
	}
	slices.Sort(d)
	at := func(p float64) time.Duration {
		i := int(float64(len(d))*p+0.999999999) - 1
		return d[max(0, min(i, len(d)-1))]
	}
	return ms(at(0.50)), ms(at(0.99)), ms(d[len(d)-1])
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func human(r *Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "calls: %d requested at %g/s (sent at %.1f/s) | API: %d accepted, p50 %.1fms p99 %.1fms max %.1fms, errors %d, non-201 %d",
		r.Requested, r.TargetRate, r.SendRate, r.Accepted, r.APIP50Ms, r.APIP99Ms, r.APIMaxMs, r.Errors, r.Non201)
	if r.Non201 > 0 {
		var codes []string
		for k, v := range r.Statuses {
			codes = append(codes, fmt.Sprintf("%s×%d", k, v))
		}
		sort.Strings(codes)
		fmt.Fprintf(&b, " (%s)", strings.Join(codes, " "))
	}
	fmt.Fprintf(&b, " | answered %d (setup p50 %.1fms p99 %.1fms max %.1fms) | hangups %d", r.Answered, r.SetupP50Ms, r.SetupP99Ms, r.SetupMaxMs, r.Hangups)
	var causes []string
	for k, v := range r.Causes {
		causes = append(causes, fmt.Sprintf("%q×%d", k, v))
	}
	sort.Strings(causes)
	if len(causes) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(causes, " "))
	}
	if r.NoHangup > 0 {
		fmt.Fprintf(&b, " | %d accepted calls without hangup_url", r.NoHangup)
	}
	if len(r.ErrorSample) > 0 {
		fmt.Fprintf(&b, " | first errors: %s", strings.Join(r.ErrorSample, "; "))
	}
	return b.String()
}
