// Command apiload is a closed-loop HTTPS load generator for Trunkline's API benchmark
// (bench/api.sh). It runs -c clients, each sending one request after the other over
// its own kept-alive HTTP/1.1 connection, for -warmup (not measured) and then for -d
// (measured), and prints requests/s, latency percentiles, errors and non-2xx counts.
//
// HTTP/2 is switched off on purpose (ForceAttemptHTTP2=false and an empty TLSNextProto)
// so that Trunkline and the bare net/http ceiling are compared on the same protocol.
//
// It only sends to the URL it is given; bench/api.sh gives it loopback addresses only.
// Every loop is bounded by the run's deadline and every request by -timeout.
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
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type config struct {
	url, method, body, user, pass, cacert, label string
	conc                                         int
	dur, warmup, timeout                         time.Duration
	maxSamples                                   int
	asJSON, insecure                             bool
}

// worker holds one client's counts; merged after the run, so the hot path shares nothing.
type worker struct {
	lat      []time.Duration // measured latencies, preallocated, never grown
	dropped  int64           // measured requests whose latency did not fit in lat
	status   [600]int64      // measured responses by status code
	errs     int64           // measured transport errors (no response)
	errMsgs  map[string]int  // a few distinct error messages
	protoBad int64           // responses not over HTTP/1.1
	total    int64           // responses in any phase (warm-up included)
	errsAll  int64           // transport errors in any phase
	tlsVer   uint16
	cipher   uint16
}

// Result is the -json output.
type Result struct {
	Label       string         `json:"label"`
	Method      string         `json:"method"`
	URL         string         `json:"url"`
	Concurrency int            `json:"concurrency"`
	WarmupS     float64        `json:"warmup_s"`
	DurationS   float64        `json:"duration_s"`
	Protocol    string         `json:"protocol"`
	TLS         string         `json:"tls"`
	Requests    int64          `json:"requests"`
	RPS         float64        `json:"rps"`
	P50Ms       float64        `json:"p50_ms"`
	P90Ms       float64        `json:"p90_ms"`
	P99Ms       float64        `json:"p99_ms"`
	MaxMs       float64        `json:"max_ms"`
	MeanMs      float64        `json:"mean_ms"`
	OK2xx       int64          `json:"ok_2xx"`
	Non2xx      int64          `json:"non_2xx"`
	Errors      int64          `json:"errors"`
	Statuses    map[string]int `json:"statuses"`
	ErrorSample []string       `json:"error_sample,omitempty"`
	Completed   int64          `json:"completed_total"` // responses in all phases, warm-up and probe included
	ErrorsAll   int64          `json:"errors_total"`    // transport errors in all phases
	Conns       int64          `json:"conns"`
	Dropped     int64          `json:"latencies_dropped"`
	GOMAXPROCS  int            `json:"loader_gomaxprocs"`
}

func main() {
	var c config
	flag.StringVar(&c.url, "url", "", "target URL (https://127.0.0.1:PORT/...)")
	flag.StringVar(&c.method, "method", "GET", "HTTP method")
	flag.StringVar(&c.body, "body", "", "JSON request body (sent with Content-Type: application/json)")
	flag.StringVar(&c.user, "user", "", "HTTP Basic auth user (Auth ID)")
	flag.StringVar(&c.pass, "pass", "", "HTTP Basic auth password (Auth Token)")
	flag.StringVar(&c.cacert, "cacert", "", "PEM file of the CA certificate(s) to trust")
	flag.StringVar(&c.label, "label", "", "name of the target in the output")
	flag.IntVar(&c.conc, "c", 64, "concurrent clients (one keep-alive connection each)")
	flag.DurationVar(&c.dur, "d", 20*time.Second, "measured duration")
	flag.DurationVar(&c.warmup, "warmup", 2*time.Second, "unmeasured warm-up before -d")
	flag.DurationVar(&c.timeout, "timeout", 30*time.Second, "per-request timeout")
	flag.IntVar(&c.maxSamples, "max-samples", 4_000_000, "latencies kept (preallocated, split across clients); later ones are counted but not timed")
	flag.BoolVar(&c.asJSON, "json", false, "also print the result as one JSON line")
	flag.BoolVar(&c.insecure, "insecure", false, "skip certificate verification (prefer -cacert)")
	flag.Parse()
	if err := validate(&c); err != nil {
		fmt.Fprintln(os.Stderr, "apiload:", err)
		flag.Usage()
		os.Exit(2)
	}
	res, err := run(c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "apiload:", err)
		os.Exit(1)
	}
	fmt.Println(humanLine(res))
	if c.asJSON {
		b, _ := json.Marshal(res)
		fmt.Println(string(b))
	}
}

func validate(c *config) error {
	u, err := url.Parse(c.url)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return errors.New("-url must be an absolute http(s) URL")
	}
	if c.conc < 1 || c.conc > 10000 {
		return errors.New("-c must be between 1 and 10000")
	}
	if c.dur <= 0 || c.dur > time.Hour || c.warmup < 0 || c.warmup > time.Hour {
		return errors.New("-d must be in (0, 1h] and -warmup in [0, 1h]")
	}
	if c.body != "" && !json.Valid([]byte(c.body)) {
		return errors.New("-body is not valid JSON")
	}
	if c.maxSamples < c.conc || c.maxSamples > 100_000_000 {
		return errors.New("-max-samples must be between -c and 100000000")
	}
	if c.label == "" {
		c.label = c.method + " " + u.Path
	}
	return nil
}

func newTransport(c config, dials *atomic.Int64) (*http.Transport, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.insecure}
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
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return d.DialContext(ctx, network, addr)
		},
		TLSClientConfig:     tc,
		TLSHandshakeTimeout: 10 * time.Second,
		// HTTP/1.1 only, for both targets alike.
		ForceAttemptHTTP2: false,
		TLSNextProto:      map[string]func(string, *tls.Conn) http.RoundTripper{},
		MaxIdleConns:      c.conc,
		// One kept-alive connection per client.
		MaxIdleConnsPerHost: c.conc,
		MaxConnsPerHost:     c.conc,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}, nil
}

func run(c config) (*Result, error) {
	var dials atomic.Int64
	tr, err := newTransport(c, &dials)
	if err != nil {
		return nil, err
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: c.timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	auth := ""
	if c.user != "" || c.pass != "" {
		auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(c.user+":"+c.pass))
	}
	body := []byte(c.body)

	// One check request before the clock starts: a wrong URL or certificate fails
	// here, loudly, rather than as a run of errors.
	if err := probe(client, c, auth, body); err != nil {
		return nil, err
	}
	// Start the run with no connection open, so conns counts the run's own.
	tr.CloseIdleConnections()
	dials.Store(0)

	start := time.Now()
	measureFrom := start.Add(c.warmup)
	end := measureFrom.Add(c.dur)
	per := c.maxSamples / c.conc
	workers := make([]*worker, c.conc)
	var wg sync.WaitGroup
	for i := range workers {
		w := &worker{lat: make([]time.Duration, 0, per), errMsgs: map[string]int{}}
		workers[i] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.loop(client, c, auth, body, measureFrom, end)
		}()
	}
	wg.Wait()
	return merge(c, workers, dials.Load()), nil
}

func probe(client *http.Client, c config, auth string, body []byte) error {
	req, err := newRequest(c, auth, body)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("probe request: %w", err)
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("probe request: %s %s answered %s: %s", c.method, c.url, resp.Status, strings.TrimSpace(string(b)))
	}
	if resp.ProtoMajor != 1 || resp.ProtoMinor != 1 {
		return fmt.Errorf("probe request: expected HTTP/1.1, got %s", resp.Proto)
	}
	return nil
}

func newRequest(c config, auth string, body []byte) (*http.Request, error) {
	var rd io.Reader
	if len(body) > 0 {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(c.method, c.url, rd)
	if err != nil {
		return nil, err
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if len(body) > 0 {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	return req, nil
}

// loop sends requests back to back until end. Only requests that start at or after
// measureFrom and finish by end are counted: the measured window holds complete
// requests only, and requests/s is their number over -d.
func (w *worker) loop(client *http.Client, c config, auth string, body []byte, measureFrom, end time.Time) {
	for {
		t0 := time.Now()
		if !t0.Before(end) {
			return
		}
		req, err := newRequest(c, auth, body)
		if err != nil {
			w.fail(t0, measureFrom, end, err)
			return
		}
		resp, err := client.Do(req)
		if err == nil {
			// Read to the end so the connection goes back to the pool.
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		t1 := time.Now()
		if err == nil {
			w.total++
		} else {
			w.errsAll++
			if len(w.errMsgs) < 5 {
				w.errMsgs[err.Error()]++
			}
		}
		if t0.Before(measureFrom) || t1.After(end) {
			if err != nil {
				// Errors outside the window still slow the loop down a little so a dead
				// target is not hammered in a tight loop.
				time.Sleep(time.Millisecond)
			}
			continue
		}
		if err != nil {
			w.fail(t0, measureFrom, end, err)
			time.Sleep(time.Millisecond)
			continue
		}
		if resp.StatusCode >= 0 && resp.StatusCode < len(w.status) {
			w.status[resp.StatusCode]++
		}
		if resp.ProtoMajor != 1 || resp.ProtoMinor != 1 {
			w.protoBad++
		}
		if resp.TLS != nil {
			w.tlsVer, w.cipher = resp.TLS.Version, resp.TLS.CipherSuite
		}
		if len(w.lat) < cap(w.lat) {
			w.lat = append(w.lat, t1.Sub(t0))
		} else {
			w.dropped++
		}
	}
}

func (w *worker) fail(t0, measureFrom, end time.Time, err error) {
	if t0.Before(measureFrom) || !t0.Before(end) {
		return
	}
	w.errs++
}

func merge(c config, ws []*worker, dials int64) *Result {
	r := &Result{Label: c.label, Method: c.method, URL: c.url, Concurrency: c.conc,
		WarmupS: c.warmup.Seconds(), DurationS: c.dur.Seconds(), Protocol: "HTTP/1.1 keep-alive (HTTP/2 off)",
		Statuses: map[string]int{}, Conns: dials, Completed: 1, GOMAXPROCS: runtime.GOMAXPROCS(0)}
	n := 0
	for _, w := range ws {
		n += len(w.lat)
	}
	all := make([]time.Duration, 0, n)
	var status [600]int64
	errMsgs := map[string]int{}
	var protoBad int64
	for _, w := range ws {
		all = append(all, w.lat...)
		for i, v := range w.status {
			status[i] += v
		}
		r.Errors += w.errs
		r.Completed += w.total
		r.ErrorsAll += w.errsAll
		r.Dropped += w.dropped
		protoBad += w.protoBad
		for m, k := range w.errMsgs {
			errMsgs[m] += k
		}
		if w.tlsVer != 0 && r.TLS == "" {
			r.TLS = tls.VersionName(w.tlsVer) + " " + tls.CipherSuiteName(w.cipher)
		}
	}
	if protoBad > 0 {
		r.Protocol = fmt.Sprintf("MIXED: %d responses not over HTTP/1.1", protoBad)
	}
	for code, v := range status {
		if v == 0 {
			continue
		}
		r.Statuses[fmt.Sprint(code)] = int(v)
		r.Requests += v
		if code/100 == 2 {
			r.OK2xx += v
		} else {
			r.Non2xx += v
		}
	}
	for m := range errMsgs {
		r.ErrorSample = append(r.ErrorSample, m)
	}
	sort.Strings(r.ErrorSample)
	r.RPS = float64(r.Requests) / c.dur.Seconds()
	if len(all) > 0 {
		slices.Sort(all)
		var sum time.Duration
		for _, d := range all {
			sum += d
		}
		r.P50Ms = ms(pct(all, 0.50))
		r.P90Ms = ms(pct(all, 0.90))
		r.P99Ms = ms(pct(all, 0.99))
		r.MaxMs = ms(all[len(all)-1])
		r.MeanMs = ms(sum / time.Duration(len(all)))
	}
	return r
}

// pct is the nearest-rank percentile of sorted samples.
func pct(sorted []time.Duration, p float64) time.Duration {
	i := int(float64(len(sorted))*p+0.999999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func humanLine(r *Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d req in %gs = %.0f req/s | p50 %.2fms p90 %.2fms p99 %.2fms max %.2fms | errors %d, non-2xx %d",
		r.Label, r.Requests, r.DurationS, r.RPS, r.P50Ms, r.P90Ms, r.P99Ms, r.MaxMs, r.Errors, r.Non2xx)
	if r.Non2xx > 0 {
		var codes []string
		for k, v := range r.Statuses {
			codes = append(codes, fmt.Sprintf("%s×%d", k, v))
		}
		sort.Strings(codes)
		fmt.Fprintf(&b, " (%s)", strings.Join(codes, " "))
	}
	if r.ErrorsAll > r.Errors {
		fmt.Fprintf(&b, " (%d transport errors with the warm-up's)", r.ErrorsAll)
	}
	fmt.Fprintf(&b, " | c=%d warmup %gs, %s, %s, %d conns", r.Concurrency, r.WarmupS, r.Protocol, r.TLS, r.Conns)
	if r.Dropped > 0 {
		fmt.Fprintf(&b, " | %d latencies not kept (-max-samples)", r.Dropped)
	}
	if len(r.ErrorSample) > 0 {
		fmt.Fprintf(&b, " | first errors: %s", strings.Join(r.ErrorSample, "; "))
	}
	return b.String()
}
