package webhook

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	testToken     = "SUBACCOUNT_TOKEN_s3cr3t"
	testMainToken = "MAIN_TOKEN_t0ps3cr3t"
)

type memRecorder struct {
	mu       sync.Mutex
	attempts []Attempt
}

func (r *memRecorder) RecordAttempt(_ context.Context, a Attempt) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attempts = append(r.attempts, a)
	return nil
}

func (r *memRecorder) all() []Attempt {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Attempt(nil), r.attempts...)
}

func noSleep(context.Context, time.Duration) error { return nil }

func itoa(i int) string { return strconv.Itoa(i) }

// sleeps records the back-off delays Do asks for, without waiting.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeps) all() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

// received is what a test server saw, in the form a receiver validates:
// the URL rebuilt from the request line and Host header, and the form.
type received struct {
	method string
	url    string
	header http.Header
	form   url.Values // POST body params; nil for GET
	query  string
}

// capture starts a server on 127.0.0.1:0 that records each request and
// answers with handler (200 if nil).
func capture(t *testing.T, handler http.HandlerFunc) (*httptest.Server, func() []received) {
	t.Helper()
	var mu sync.Mutex
	var got []received
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := received{method: r.Method, url: "http://" + r.Host + r.RequestURI, header: r.Header.Clone(), query: r.URL.RawQuery}
		if r.Method == http.MethodPost {
			body, _ := io.ReadAll(r.Body)
			rc.form, _ = url.ParseQuery(string(body))
		}
		mu.Lock()
		got = append(got, rc)
		mu.Unlock()
		if handler != nil {
			handler(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, func() []received {
		mu.Lock()
		defer mu.Unlock()
		return append([]received(nil), got...)
	}
}

func newTestClient(opts Options) *Client {
	if opts.Allow == nil {
		opts.Allow = loopbackAllow
	}
	if opts.Sleep == nil {
		opts.Sleep = noSleep
	}
	return New(opts)
}

// TestDoSignsRequests checks what goes on the wire and that the received
// request validates with ValidateV3/ValidateV2, built only from what the
// receiver sees (URL from request line + Host, form body, headers).
func TestDoSignsRequests(t *testing.T) {
	tests := []struct {
		name      string
		method    string
		path      string
		params    url.Values
		mainToken string
		wantQuery string // exact raw query received
	}{
		{
			name:   "POST form",
			method: "POST", path: "/status/",
			params:    url.Values{"MessageUUID": {"m-1"}, "Status": {"delivered"}, "To": {"14155550101"}},
			mainToken: testMainToken,
		},
		{
			name:   "GET params in query",
			method: "GET", path: "/answer",
			params:    url.Values{"CallUUID": {"c-1"}, "From": {"sip:alice@example.com"}},
			mainToken: testMainToken,
			wantQuery: "CallUUID=c-1&From=sip%3Aalice%40example.com",
		},
		{
			name:   "GET URL query kept, params appended",
			method: "GET", path: "/answer?app=7&x=a+b",
			params:    url.Values{"CallUUID": {"c-1"}},
			mainToken: testMainToken,
			wantQuery: "app=7&x=a+b&CallUUID=c-1",
		},
		{
			name:   "POST URL query and params, unicode, multi values",
			method: "POST", path: "/in?tenant=42",
			params:    url.Values{"Text": {"héllo wörld 日本 & = +"}, "Media": {"b", "a"}},
			mainToken: testMainToken,
			wantQuery: "tenant=42",
		},
		{
			name:   "raw @ in URL query sent as %40",
			method: "GET", path: "/cb?owner=ops@example.com",
			mainToken: testMainToken,
			wantQuery: "owner=ops%40example.com",
		},
		{
			name:   "default method is POST, main token defaults to token",
			method: "", path: "/",
			params: url.Values{"A": {"1"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, got := capture(t, nil)
			c := newTestClient(Options{})
			resp, err := c.Do(t.Context(), Request{
				URL: srv.URL + tt.path, Method: tt.method, Params: tt.params,
				AuthToken: testToken, MainAuthToken: tt.mainToken,
			})
			if err != nil || resp.Status != 200 || resp.Attempts != 1 {
				t.Fatalf("Do = %+v, %v", resp, err)
			}
			reqs := got()
			if len(reqs) != 1 {
				t.Fatalf("server saw %d requests", len(reqs))
			}
			r := reqs[0]
			wantMethod := tt.method
			if wantMethod == "" {
				wantMethod = "POST"
			}
			if r.method != wantMethod {
				t.Errorf("method = %s", r.method)
			}
			if ua := r.header.Get("User-Agent"); ua != "Trunkline" {
				t.Errorf("User-Agent = %q", ua)
			}
			if tt.wantQuery != "" && r.query != tt.wantQuery {
				t.Errorf("query = %q, want %q", r.query, tt.wantQuery)
			}
			var bodyParams url.Values
			if wantMethod == "POST" {
				if ct := r.header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
					t.Errorf("Content-Type = %q", ct)
				}
				bodyParams = r.form
				for k, v := range tt.params {
					if strings.Join(r.form[k], "\x00") != strings.Join(v, "\x00") {
						t.Errorf("form %s = %q, want %q", k, r.form[k], v)
					}
				}
			} else {
				q, _ := url.ParseQuery(r.query)
				for k, v := range tt.params {
					if q.Get(k) != v[0] {
						t.Errorf("query %s = %q, want %q", k, q.Get(k), v[0])
					}
				}
			}
			main := tt.mainToken
			if main == "" {
				main = testToken
			}
			n3, n2 := r.header.Get(HeaderNonceV3), r.header.Get(HeaderNonceV2)
			if len(n3) != 20 || len(n2) != 20 || n3 == n2 {
				t.Errorf("nonces %q %q: want two different 20-digit nonces", n3, n2)
			}
			if !ValidateV3(r.method, r.url, n3, testToken, r.header.Get(HeaderSignatureV3), bodyParams) {
				t.Error("X-Plivo-Signature-V3 does not validate")
			}
			if !ValidateV3(r.method, r.url, n3, main, r.header.Get(HeaderSignatureMaV3), bodyParams) {
				t.Error("X-Plivo-Signature-Ma-V3 does not validate with the main token")
			}
			if !ValidateV2(r.url, n2, testToken, r.header.Get(HeaderSignatureV2)) {
				t.Error("X-Plivo-Signature-V2 does not validate")
			}
			if !ValidateV2(r.url, n2, main, r.header.Get(HeaderSignatureMaV2)) {
				t.Error("X-Plivo-Signature-Ma-V2 does not validate with the main token")
			}
			if tt.mainToken != "" && ValidateV3(r.method, r.url, n3, testToken, r.header.Get(HeaderSignatureMaV3), bodyParams) {
				t.Error("Ma signature validates with the subaccount token")
			}
		})
	}
}

func TestFreshNoncePerAttempt(t *testing.T) {
	var n atomic.Int32
	srv, got := capture(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			w.WriteHeader(500)
		}
	})
	c := newTestClient(Options{})
	if _, err := c.Do(t.Context(), Request{URL: srv.URL, AuthToken: testToken}); err != nil {
		t.Fatal(err)
	}
	reqs := got()
	if len(reqs) != 2 {
		t.Fatalf("%d requests", len(reqs))
	}
	if reqs[0].header.Get(HeaderNonceV3) == reqs[1].header.Get(HeaderNonceV3) {
		t.Error("nonce reused across attempts")
	}
}

func TestRetries(t *testing.T) {
	type step struct {
		status     int
		retryAfter string
	}
	tests := []struct {
		name        string
		steps       []step // server answers, in order; the last repeats
		maxAttempts int
		wantStatus  []int
		wantClass   string // final error class, "" for success
		checkSleeps func(t *testing.T, d []time.Duration)
	}{
		{
			name:       "500 twice then 200",
			steps:      []step{{500, ""}, {502, ""}, {200, ""}},
			wantStatus: []int{500, 502, 200},
			checkSleeps: func(t *testing.T, d []time.Duration) {
				// Base 1s, doubling, equal jitter: [0.5s,1s] then [1s,2s].
				if len(d) != 2 || d[0] < 500*time.Millisecond || d[0] > time.Second || d[1] < time.Second || d[1] > 2*time.Second {
					t.Errorf("sleeps = %v", d)
				}
			},
		},
		{
			name:       "500 until attempts run out",
			steps:      []step{{503, ""}},
			wantStatus: []int{503, 503, 503},
			wantClass:  ClassHTTP5xx,
		},
		{
			name:        "MaxAttempts 5",
			steps:       []step{{500, ""}},
			maxAttempts: 5,
			wantStatus:  []int{500, 500, 500, 500, 500},
			wantClass:   ClassHTTP5xx,
		},
		{
			name:       "404 not retried",
			steps:      []step{{404, ""}},
			wantStatus: []int{404},
			wantClass:  ClassHTTP4xx,
		},
		{
			name:       "400 not retried",
			steps:      []step{{400, ""}},
			wantStatus: []int{400},
			wantClass:  ClassHTTP4xx,
		},
		{
			name:       "302 not followed nor retried",
			steps:      []step{{302, ""}},
			wantStatus: []int{302},
			wantClass:  ClassHTTP3xx,
		},
		{
			name:       "429 honours Retry-After seconds",
			steps:      []step{{429, "7"}, {200, ""}},
			wantStatus: []int{429, 200},
			checkSleeps: func(t *testing.T, d []time.Duration) {
				if len(d) != 1 || d[0] != 7*time.Second {
					t.Errorf("sleeps = %v, want [7s]", d)
				}
			},
		},
		{
			name:       "429 Retry-After capped",
			steps:      []step{{429, "3600"}, {200, ""}},
			wantStatus: []int{429, 200},
			checkSleeps: func(t *testing.T, d []time.Duration) {
				if len(d) != 1 || d[0] != DefaultMaxRetryAfter {
					t.Errorf("sleeps = %v, want [%v]", d, DefaultMaxRetryAfter)
				}
			},
		},
		{
			name:       "429 Retry-After HTTP date",
			steps:      []step{{429, "Sat, 01 Jan 2033 00:00:20 GMT"}, {200, ""}},
			wantStatus: []int{429, 200},
			checkSleeps: func(t *testing.T, d []time.Duration) {
				if len(d) != 1 || d[0] != 20*time.Second {
					t.Errorf("sleeps = %v, want [20s]", d)
				}
			},
		},
		{
			name:       "429 without Retry-After uses back-off",
			steps:      []step{{429, ""}, {429, "garbage"}, {429, ""}},
			wantStatus: []int{429, 429, 429},
			wantClass:  ClassHTTP429,
			checkSleeps: func(t *testing.T, d []time.Duration) {
				if len(d) != 2 || d[0] > time.Second || d[1] > 2*time.Second {
					t.Errorf("sleeps = %v", d)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n atomic.Int32
			srv, _ := capture(t, func(w http.ResponseWriter, r *http.Request) {
				i := int(n.Add(1)) - 1
				s := tt.steps[min(i, len(tt.steps)-1)]
				if s.retryAfter != "" {
					w.Header().Set("Retry-After", s.retryAfter)
				}
				if s.status == 302 {
					w.Header().Set("Location", "/elsewhere")
				}
				w.WriteHeader(s.status)
				fmt.Fprintf(w, "answer %d", i+1)
			})
			rec := &memRecorder{}
			sl := &sleeps{}
			fixed := time.Date(2033, 1, 1, 0, 0, 0, 0, time.UTC)
			c := newTestClient(Options{Recorder: rec, Sleep: sl.sleep, MaxAttempts: tt.maxAttempts, Now: func() time.Time { return fixed }})
			req := Request{AccountID: "SA1", Kind: "message_status", ObjectID: "m-1", URL: srv.URL + "/cb?q=secret", AuthToken: testToken}
			resp, err := c.Do(t.Context(), req)

			last := tt.wantStatus[len(tt.wantStatus)-1]
			if resp == nil || resp.Status != last || resp.Attempts != len(tt.wantStatus) {
				t.Fatalf("resp = %+v, want status %d after %d attempts", resp, last, len(tt.wantStatus))
			}
			if want := fmt.Sprintf("answer %d", len(tt.wantStatus)); string(resp.Body) != want {
				t.Errorf("body = %q, want %q", resp.Body, want)
			}
			if tt.wantClass == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
			} else {
				var we *Error
				if !errors.As(err, &we) || we.Class != tt.wantClass || we.Status != last || we.Attempts != len(tt.wantStatus) {
					t.Fatalf("err = %v, want class %s", err, tt.wantClass)
				}
			}
			if int(n.Load()) != len(tt.wantStatus) {
				t.Errorf("server saw %d requests, want %d", n.Load(), len(tt.wantStatus))
			}
			recs := rec.all()
			if len(recs) != len(tt.wantStatus) {
				t.Fatalf("records = %+v", recs)
			}
			for i, a := range recs {
				wantRetry := i < len(recs)-1
				if a.Number != i+1 || a.Status != tt.wantStatus[i] || a.WillRetry != wantRetry ||
					a.AccountID != "SA1" || a.Kind != "message_status" || a.ObjectID != "m-1" || a.Method != "POST" ||
					a.URL != srv.URL+"/cb" || !a.Time.Equal(fixed) {
					t.Errorf("record %d = %+v", i, a)
				}
				if (a.Status >= 200 && a.Status < 300) != (a.ErrorClass == "") {
					t.Errorf("record %d class %q for status %d", i, a.ErrorClass, a.Status)
				}
			}
			if tt.checkSleeps != nil {
				tt.checkSleeps(t, sl.all())
			} else if len(sl.all()) != len(tt.wantStatus)-1 {
				t.Errorf("sleeps = %v", sl.all())
			}
		})
	}
}

// TestNoRedirect: the 3xx is returned as is, and its target never hit.
func TestNoRedirect(t *testing.T) {
	var targetHits atomic.Int32
	target, _ := capture(t, func(http.ResponseWriter, *http.Request) { targetHits.Add(1) })
	for _, code := range []int{301, 302, 303, 307, 308} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			srv, _ := capture(t, func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, target.URL+"/stolen", code)
			})
			c := newTestClient(Options{})
			resp, err := c.Do(t.Context(), Request{URL: srv.URL, AuthToken: testToken})
			var we *Error
			if !errors.As(err, &we) || we.Class != ClassHTTP3xx || we.Attempts != 1 {
				t.Fatalf("err = %v", err)
			}
			if resp == nil || resp.Status != code || resp.Header.Get("Location") != target.URL+"/stolen" {
				t.Fatalf("resp = %+v", resp)
			}
			if targetHits.Load() != 0 {
				t.Fatal("redirect followed")
			}
		})
	}
}

// TestTimeout: a server that never answers; each attempt is cut at
// Timeout, classed as a timeout and retried.
func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	var hits atomic.Int32
	srv, _ := capture(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release) // runs before srv.Close (registered earlier with t.Cleanup)
	rec := &memRecorder{}
	c := newTestClient(Options{Timeout: 100 * time.Millisecond, MaxAttempts: 2, Recorder: rec})
	start := time.Now()
	_, err := c.Do(t.Context(), Request{URL: srv.URL, AuthToken: testToken})
	var we *Error
	if !errors.As(err, &we) || we.Class != ClassTimeout || we.Attempts != 2 {
		t.Fatalf("err = %v, want timeout after 2 attempts", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err %v does not unwrap to context.DeadlineExceeded", err)
	}
	if hits.Load() != 2 {
		t.Errorf("hits = %d", hits.Load())
	}
	for _, a := range rec.all() {
		if a.ErrorClass != ClassTimeout || a.Status != 0 {
			t.Errorf("record %+v", a)
		}
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("took %v", el) // a sanity bound only: the point is that it ends
	}
}

// TestTimeoutDuringBody: headers arrive, the body never ends.
func TestTimeoutDuringBody(t *testing.T) {
	srv, _ := capture(t, func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("<Response>"))
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	c := newTestClient(Options{Timeout: 100 * time.Millisecond, MaxAttempts: 1})
	_, err := c.Do(t.Context(), Request{URL: srv.URL, AuthToken: testToken})
	var we *Error
	if !errors.As(err, &we) || we.Class != ClassTimeout {
		t.Fatalf("err = %v, want timeout", err)
	}
}

func TestNetworkErrorRetried(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: connection refused
	rec := &memRecorder{}
	c := newTestClient(Options{Recorder: rec})
	_, err = c.Do(t.Context(), Request{URL: "http://" + addr + "/cb", AuthToken: testToken})
	var we *Error
	if !errors.As(err, &we) || we.Class != ClassNetwork || we.Attempts != 3 {
		t.Fatalf("err = %v, want network after 3 attempts", err)
	}
	if n := len(rec.all()); n != 3 {
		t.Errorf("%d records", n)
	}
}

func TestCallerCancel(t *testing.T) {
	srv, _ := capture(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) })
	ctx, cancel := context.WithCancel(t.Context())
	c := newTestClient(Options{Sleep: func(ctx context.Context, d time.Duration) error {
		cancel() // the caller gives up while we wait to retry
		<-ctx.Done()
		return ctx.Err()
	}})
	_, err := c.Do(ctx, Request{URL: srv.URL, AuthToken: testToken})
	var we *Error
	if !errors.As(err, &we) || we.Class != ClassCanceled || we.Attempts != 1 || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}

	// Already canceled: no retry, class canceled.
	ctx2, cancel2 := context.WithCancel(t.Context())
	cancel2()
	_, err = newTestClient(Options{}).Do(ctx2, Request{URL: srv.URL, AuthToken: testToken})
	if !errors.As(err, &we) || we.Class != ClassCanceled || we.Attempts != 1 {
		t.Fatalf("err = %v", err)
	}
}

func TestBodyLimit(t *testing.T) {
	tests := []struct {
		name          string
		size          int
		limit         int64
		wantLen       int
		wantTruncated bool
	}{
		{"under limit", 100, 1024, 100, false},
		{"exactly limit", 1024, 1024, 1024, false},
		{"over limit", 5000, 1024, 1024, true},
		{"far over default 1 MiB", 3 << 20, 0, 1 << 20, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := capture(t, func(w http.ResponseWriter, r *http.Request) {
				w.Write(bytes.Repeat([]byte("x"), tt.size))
			})
			c := newTestClient(Options{MaxBodyBytes: tt.limit})
			resp, err := c.Do(t.Context(), Request{URL: srv.URL, AuthToken: testToken})
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Body) != tt.wantLen || resp.Truncated != tt.wantTruncated {
				t.Fatalf("body %d bytes, truncated %v; want %d, %v", len(resp.Body), resp.Truncated, tt.wantLen, tt.wantTruncated)
			}
		})
	}
}

func TestInvalidRequests(t *testing.T) {
	srv, got := capture(t, nil)
	tests := []struct {
		name string
		req  Request
		want error
	}{
		{"PUT", Request{URL: srv.URL, Method: "PUT", AuthToken: testToken}, ErrInvalidRequest},
		{"no token", Request{URL: srv.URL}, ErrInvalidRequest},
		{"ftp", Request{URL: "ftp://example.com/", AuthToken: testToken}, ErrInvalidURL},
		{"userinfo", Request{URL: strings.Replace(srv.URL, "http://", "http://u:p@", 1), AuthToken: testToken}, ErrInvalidURL},
		{"https required", Request{URL: srv.URL, AuthToken: testToken, RequireHTTPS: true}, ErrInvalidURL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &memRecorder{}
			_, err := newTestClient(Options{Recorder: rec}).Do(t.Context(), tt.req)
			var we *Error
			if !errors.Is(err, tt.want) || !errors.As(err, &we) || we.Class != ClassInvalid {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if r := rec.all(); len(r) != 1 || r[0].ErrorClass != ClassInvalid {
				t.Fatalf("records %+v", r)
			}
		})
	}
	if n := len(got()); n != 0 {
		t.Fatalf("server saw %d requests", n)
	}
}

func TestTLS(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the "unknown CA" case makes it complain
	srv.StartTLS()
	defer srv.Close()

	t.Run("trusted CA, https required", func(t *testing.T) {
		pool := x509.NewCertPool()
		pool.AddCert(srv.Certificate())
		tc := srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
		tc.RootCAs = pool
		c := newTestClient(Options{TLSConfig: tc})
		resp, err := c.Do(t.Context(), Request{URL: srv.URL, AuthToken: testToken, RequireHTTPS: true})
		if err != nil || resp.Status != 200 {
			t.Fatalf("Do = %v, %v", resp, err)
		}
	})
	t.Run("unknown CA not retried", func(t *testing.T) {
		c := newTestClient(Options{})
		_, err := c.Do(t.Context(), Request{URL: srv.URL, AuthToken: testToken})
		var we *Error
		if !errors.As(err, &we) || we.Class != ClassTLS || we.Attempts != 1 {
			t.Fatalf("err = %v, want tls after 1 attempt", err)
		}
	})
}

// TestNoSecretsInErrorsOrLogs: whatever fails, errors and logs carry
// neither tokens nor parameter values nor the query string.
func TestNoSecretsInErrorsOrLogs(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	s500, _ := capture(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) })
	slow, _ := capture(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })

	secrets := []string{testToken, testMainToken, "PARAMVALUE", "QUERYVALUE", "PATHSECRET"}
	tests := []struct{ name, url string }{
		{"5xx", s500.URL},
		{"timeout", slow.URL},
		{"network", "http://" + closed},
		{"refused", "http://10.0.0.1"},
		{"localhost refused", "http://localhost:1"},
		{"invalid", "ftp://host"},
	}
	for _, tt := range tests {
		for _, method := range []string{"GET", "POST"} {
			t.Run(tt.name+" "+method, func(t *testing.T) {
				var logs bytes.Buffer
				log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
				allow := loopbackAllow
				if strings.Contains(tt.name, "refused") {
					allow = []netip.Prefix{}
				}
				c := New(Options{Allow: allow, Logger: log, Sleep: noSleep, Timeout: 100 * time.Millisecond})
				_, err := c.Do(t.Context(), Request{
					URL: tt.url + "/PATHSECRET?q=QUERYVALUE", Method: method,
					Params:    url.Values{"Text": {"PARAMVALUE"}},
					AuthToken: testToken, MainAuthToken: testMainToken,
				})
				if err == nil {
					t.Fatal("no error")
				}
				t.Logf("err: %v", err)
				for _, s := range secrets {
					if strings.Contains(err.Error(), s) {
						t.Errorf("error leaks %q: %v", s, err)
					}
					if s != "PATHSECRET" && strings.Contains(logs.String(), s) {
						// Logs, like attempt records, may show the path.
						t.Errorf("log leaks %q: %s", s, logs.String())
					}
				}
				if logs.Len() == 0 {
					t.Error("nothing logged")
				}
			})
		}
	}
}

func TestNoEnvironmentProxy(t *testing.T) {
	var proxyHits atomic.Int32
	proxy, _ := capture(t, func(http.ResponseWriter, *http.Request) { proxyHits.Add(1) })
	t.Setenv("HTTP_PROXY", proxy.URL)
	t.Setenv("HTTPS_PROXY", proxy.URL)
	t.Setenv("NO_PROXY", "")
	c := newTestClient(Options{})
	if tr := c.http.Transport.(*http.Transport); tr.Proxy != nil {
		t.Fatal("transport has a Proxy func")
	}
	// example.invalid cannot resolve: through a proxy it would "work".
	_, err := c.Do(t.Context(), Request{URL: "http://example.invalid/cb", AuthToken: testToken})
	if err == nil || proxyHits.Load() != 0 {
		t.Fatalf("err = %v, proxy hits = %d", err, proxyHits.Load())
	}
}

type failingRecorder struct{}

func (failingRecorder) RecordAttempt(context.Context, Attempt) error { return errors.New("db down") }

func TestRecorderFailureDoesNotFailDelivery(t *testing.T) {
	srv, _ := capture(t, nil)
	c := newTestClient(Options{Recorder: failingRecorder{}})
	if _, err := c.Do(t.Context(), Request{URL: srv.URL, AuthToken: testToken}); err != nil {
		t.Fatal(err)
	}
}

func TestBackoffBounds(t *testing.T) {
	c := New(Options{BackoffBase: time.Second, BackoffMax: 10 * time.Second})
	for n := 1; n <= 70; n++ {
		want := 10 * time.Second
		if n <= 4 {
			want = time.Second << (n - 1)
		}
		for range 20 {
			d := c.backoff(n, 0)
			if d < want/2 || d > want {
				t.Fatalf("backoff(%d) = %v, want in [%v, %v]", n, d, want/2, want)
			}
		}
	}
	huge := New(Options{BackoffBase: 100 * time.Hour, BackoffMax: 200 * time.Hour})
	for n := 1; n < 100; n++ {
		if d := huge.backoff(n, 0); d < 50*time.Hour || d > 200*time.Hour {
			t.Fatalf("huge backoff(%d) = %v", n, d)
		}
	}
	if d := c.backoff(1, 3*time.Second); d != 3*time.Second {
		t.Errorf("Retry-After not used: %v", d)
	}
}

// TestNonceDigits: nonces are 20 decimal digits, every digit turns up in every
// position, and none repeats over 2,000 of them.
func TestNonceDigits(t *testing.T) {
	seen := map[string]bool{}
	var counts [20][10]int
	for range 1000 {
		a, b := newNonces()
		for _, n := range []string{a, b} {
			if len(n) != 20 || seen[n] {
				t.Fatalf("nonce %q: want 20 digits, never repeated", n)
			}
			seen[n] = true
			for i, c := range []byte(n) {
				if c < '0' || c > '9' {
					t.Fatalf("nonce %q: not decimal", n)
				}
				counts[i][c-'0']++
			}
		}
	}
	// 2,000 draws per position: each digit expected 200 times; under 120 is
	// beyond six standard deviations of a uniform digit.
	for i := range counts {
		for d, c := range counts[i] {
			if c < 120 {
				t.Errorf("position %d: digit %d drawn %d times of 2000", i, d, c)
			}
		}
	}
}

// TestCheckedURLIsACopy: a remembered URL is handed out as a copy (Do adds the
// query of a GET to it), a refused one is never remembered, and the allowlist and
// requireHTTPS still decide.
func TestCheckedURLIsACopy(t *testing.T) {
	c := New(Options{})
	u1, err := c.checkedURL("https://example.com/cb?a=1", false)
	if err != nil {
		t.Fatal(err)
	}
	u1.RawQuery += "&b=2"
	u2, err := c.checkedURL("https://example.com/cb?a=1", false)
	if err != nil || u2.RawQuery != "a=1" {
		t.Fatalf("second look: %v %v", u2, err)
	}
	if _, err := c.checkedURL("http://example.com/cb?a=1", true); err == nil {
		t.Fatal("http passed with https required")
	}
	for range 2 {
		if _, err := c.checkedURL("http://127.0.0.1/cb", false); err == nil {
			t.Fatal("loopback passed without an allowlist")
		}
	}
	if len(c.urls) != 1 {
		t.Fatalf("%d URLs remembered, want the one that passed", len(c.urls))
	}
}
