// Package webhook is the HTTP client every customer callback in Trunkline
// goes through: message status and inbound message URLs, voice answer,
// hangup and action URLs. It signs each request the way Plivo does
// (X-Plivo-Signature-V3 and -V2, with their "Ma" main-account variants) so
// the customer's existing Plivo SDK validators accept it, refuses to reach
// internal addresses (SSRF: checked on the address actually dialled), never
// follows redirects or environment proxies, bounds time and response size,
// retries transient failures with back-off, and records every attempt
// without parameters or tokens.
package webhook

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/trunkline/trunkline"
)

// Defaults for zero Options fields.
const (
	DefaultMaxAttempts    = 3
	DefaultConnectTimeout = 5 * time.Second
	DefaultTimeout        = 15 * time.Second
	DefaultBackoffBase    = 1 * time.Second
	DefaultBackoffMax     = 30 * time.Second
	DefaultMaxRetryAfter  = 60 * time.Second
	DefaultMaxBodyBytes   = 1 << 20 // answer XML is at most 100 KB; leave room
)

// Error classes, in Attempt.ErrorClass and Error.Class.
const (
	ClassRefused  = "refused"         // SSRF guard: ErrForbiddenAddress
	ClassInvalid  = "invalid_request" // bad URL, method or missing token: ErrInvalidURL / ErrInvalidRequest
	ClassTimeout  = "timeout"
	ClassNetwork  = "network"
	ClassTLS      = "tls"      // certificate or handshake failure; not retried
	ClassCanceled = "canceled" // the caller's context ended
	ClassHTTP3xx  = "http_3xx" // redirects are not followed
	ClassHTTP4xx  = "http_4xx"
	ClassHTTP429  = "http_429"
	ClassHTTP5xx  = "http_5xx"
	ClassHTTP     = "http_other" // a status outside 200-599
)

// ErrInvalidRequest is returned (wrapped) for a Request that cannot be sent
// as given: unknown method or no auth token to sign with.
var ErrInvalidRequest = errors.New("webhook: invalid request")

// Recorder stores one record per delivery attempt (e.g. for the console's
// callback log). A failing Recorder is logged and does not fail delivery.
type Recorder interface {
	RecordAttempt(ctx context.Context, a trunkline.WebhookAttempt) error
}

// Attempt describes one try: the domain core's record, which the store keeps.
type Attempt = trunkline.WebhookAttempt

// Options configure a Client. Zero fields take the defaults above.
type Options struct {
	// Allow opens address ranges the SSRF guard would refuse, e.g.
	// 127.0.0.0/8 for development and tests or a private customer network
	// an operator trusts.
	Allow []netip.Prefix

	ConnectTimeout time.Duration // TCP connect and TLS handshake
	Timeout        time.Duration // whole attempt: connect, request, headers and body
	MaxAttempts    int
	BackoffBase    time.Duration // first retry waits about this long, doubling after
	BackoffMax     time.Duration
	MaxRetryAfter  time.Duration // cap on a 429/503 Retry-After we honour
	MaxBodyBytes   int64         // response bytes kept; the rest is not read

	// TLSConfig overrides the TLS client configuration (e.g. RootCAs for a
	// private CA); nil uses the system roots.
	TLSConfig *tls.Config

	Recorder Recorder
	Logger   *slog.Logger

	// Now and Sleep are seams for tests. Sleep must return early with
	// ctx.Err() when ctx ends.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// Request is one callback to send.
type Request struct {
	AccountID string // owning (sub)account auth id, for records
	Kind      string // e.g. "message_status", "answer", "hangup"
	ObjectID  string // e.g. message uuid

	URL    string
	Method string // GET puts Params in the query string; POST (default) form-encodes them
	Params url.Values

	AuthToken     string // owning (sub)account token: X-Plivo-Signature-V3 and -V2
	MainAuthToken string // main account token: the -Ma- headers; empty means AuthToken (a main-account request)

	// RequireHTTPS refuses plain http URLs (HIPAA mode accounts).
	RequireHTTPS bool

	// Redelivery marks a later round of a delivery whose earlier round failed (the
	// outbox retries it): its attempts are recorded as such (Attempt.Redelivery).
	Redelivery bool
}

// Response is the final HTTP answer.
type Response struct {
	Status    int
	Header    http.Header
	Body      []byte // at most Options.MaxBodyBytes
	Truncated bool   // the body was longer than MaxBodyBytes
	Attempts  int
}

// Error is returned when a callback was not delivered with a 2xx status.
// Its message names only the host, never the path, query, parameters or
// tokens. It unwraps to the cause (ErrForbiddenAddress, ErrInvalidURL,
// context.DeadlineExceeded, a *net.OpError ...), if any.
type Error struct {
	Class    string
	Host     string
	Status   int // last HTTP status, 0 if none
	Attempts int
	err      error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("webhook: delivery")
	if e.Host != "" {
		b.WriteString(" to " + e.Host)
	}
	fmt.Fprintf(&b, " failed after %d attempt(s): %s", e.Attempts, e.Class)
	if e.Status != 0 {
		fmt.Fprintf(&b, " (status %d)", e.Status)
	}
	if e.err != nil {
		b.WriteString(": " + e.err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.err }

// Client delivers callbacks. It is safe for concurrent use.
type Client struct {
	opts   Options
	log    *slog.Logger
	dialer *net.Dialer
	http   *http.Client

	streams streamClients // audio streams' WebSockets (stream.go)

	urlMu sync.RWMutex
	urls  map[urlKey]*url.URL // URLs that passed checkURL (checkedURL)
}

type urlKey struct {
	raw          string
	requireHTTPS bool
}

// maxCheckedURLs bounds the remembered URLs; past it they are forgotten and
// checked again.
const maxCheckedURLs = 4096

// checkedURL is checkURL, with the URLs that passed remembered: the same few
// callback URLs come with every message, and parsing each again was 3% of the
// server's CPU under SMS load. The check depends only on the URL, the client's
// allowlist (fixed at New) and requireHTTPS; names are still checked when dialled.
// The URL returned is a copy, for the caller to change.
func (c *Client) checkedURL(raw string, requireHTTPS bool) (*url.URL, error) {
	key := urlKey{raw, requireHTTPS}
	c.urlMu.RLock()
	u, ok := c.urls[key]
	c.urlMu.RUnlock()
	if !ok {
		var err error
		if u, err = checkURL(raw, c.opts.Allow, requireHTTPS); err != nil {
			return u, err
		}
		c.urlMu.Lock()
		if len(c.urls) >= maxCheckedURLs {
			clear(c.urls)
		}
		c.urls[key] = u
		c.urlMu.Unlock()
	}
	v := *u
	return &v, nil
}

// New returns a Client with opts, defaults filled in.
func New(opts Options) *Client {
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = DefaultConnectTimeout
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.BackoffBase <= 0 {
		opts.BackoffBase = DefaultBackoffBase
	}
	if opts.BackoffMax <= 0 {
		opts.BackoffMax = DefaultBackoffMax
	}
	if opts.MaxRetryAfter <= 0 {
		opts.MaxRetryAfter = DefaultMaxRetryAfter
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Sleep == nil {
		opts.Sleep = sleep
	}
	opts.Allow = append([]netip.Prefix(nil), opts.Allow...)
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}

	dialer := &net.Dialer{
		Timeout:   opts.ConnectTimeout,
		KeepAlive: 30 * time.Second,
		Control:   guard{allow: opts.Allow}.control,
	}
	tr := &http.Transport{
		Proxy:               nil, // never HTTP(S)_PROXY from the environment: it would bypass the guard
		DialContext:         dialer.DialContext,
		TLSClientConfig:     opts.TLSConfig,
		TLSHandshakeTimeout: opts.ConnectTimeout,
		ForceAttemptHTTP2:   true,
		// Customers' receivers get many callbacks at once (two per message): keep
		// connections to reuse rather than pay a TCP (and TLS) set-up for most of them.
		MaxIdleConns:           1024,
		MaxIdleConnsPerHost:    256, // as many as message callbacks in flight
		IdleConnTimeout:        90 * time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
	return &Client{
		opts:   opts,
		log:    log,
		dialer: dialer,
		urls:   map[urlKey]*url.URL{},
		http: &http.Client{
			Transport: tr,
			// A 3xx is the final answer: following it would let a customer
			// (or whoever controls their server) point us anywhere, and
			// re-send signed parameters to a third party.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// Close releases idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// CheckURL reports whether raw could be used as a callback URL: scheme,
// userinfo, host syntax and, for IP literals, the address policy. Names are
// only checked when dialled, so passing CheckURL is no promise of delivery;
// it is for rejecting bad URLs early, e.g. when an application is saved.
func (c *Client) CheckURL(raw string, requireHTTPS bool) error {
	_, err := checkURL(raw, c.opts.Allow, requireHTTPS)
	return err
}

// Do delivers req, retrying network errors, timeouts, 5xx and 429 up to
// MaxAttempts. It returns the Response for a 2xx status. Otherwise it returns
// an *Error and, if the last attempt got an HTTP answer (3xx, 4xx, 5xx), that
// Response too.
func (c *Client) Do(ctx context.Context, req Request) (*Response, error) {
	method := strings.ToUpper(req.Method)
	if method == "" {
		method = http.MethodPost
	}
	u, err := c.checkedURL(req.URL, req.RequireHTTPS)
	var host string
	if u != nil {
		host = u.Host
	}
	switch {
	case err != nil:
	case method != http.MethodGet && method != http.MethodPost:
		err = fmt.Errorf("%w: method must be GET or POST", ErrInvalidRequest)
	case req.AuthToken == "":
		err = fmt.Errorf("%w: no auth token to sign with", ErrInvalidRequest)
	}
	if err != nil {
		class := ClassInvalid
		if errors.Is(err, ErrForbiddenAddress) {
			class = ClassRefused
		}
		c.record(ctx, req, Attempt{Number: 1, Method: method, URL: redact(u), ErrorClass: class, Time: c.opts.Now()})
		// err names at most the host or address, never the URL.
		c.log.LogAttrs(ctx, slog.LevelInfo, "webhook refused",
			slog.String("kind", req.Kind), slog.String("object_id", req.ObjectID),
			slog.String("account_id", req.AccountID), slog.String("class", class), slog.String("err", err.Error()))
		return nil, &Error{Class: class, Host: host, Attempts: 1, err: err}
	}

	var body string
	if method == http.MethodGet {
		if len(req.Params) > 0 {
			if u.RawQuery != "" {
				u.RawQuery += "&"
			}
			u.RawQuery += encodeForm(req.Params)
		}
	} else {
		body = encodeForm(req.Params)
	}
	// Plivo's Node SDK validator mis-parses a URL with a raw '@' after the
	// host (it takes everything before it as userinfo). %40 means the same
	// to every query parser, so send that.
	u.RawQuery = strings.ReplaceAll(u.RawQuery, "@", "%40")
	u.Fragment, u.RawFragment = "", ""

	for n := 1; ; n++ {
		start := c.opts.Now()
		resp, class, retryAfter, cause := c.attempt(ctx, method, u, body, req)
		retry := n < c.opts.MaxAttempts && retryable(class) && ctx.Err() == nil
		a := Attempt{
			Number: n, Method: method, URL: redact(u), ErrorClass: class,
			Latency: c.opts.Now().Sub(start), Time: start, WillRetry: retry,
		}
		if resp != nil {
			a.Status = resp.Status
			resp.Attempts = n
		}
		c.record(ctx, req, a)
		if class == "" {
			return resp, nil
		}
		c.log.LogAttrs(ctx, slog.LevelDebug, "webhook attempt failed",
			slog.String("kind", req.Kind), slog.String("object_id", req.ObjectID),
			slog.String("account_id", req.AccountID), slog.String("url", a.URL),
			slog.Int("attempt", n), slog.Int("status", a.Status), slog.String("class", class),
			slog.Any("err", cause)) // cause is scrubbed by classify: no URL in it
		if !retry {
			c.log.LogAttrs(ctx, slog.LevelInfo, "webhook delivery failed",
				slog.String("kind", req.Kind), slog.String("object_id", req.ObjectID),
				slog.String("account_id", req.AccountID), slog.String("url", a.URL),
				slog.Int("attempts", n), slog.Int("status", a.Status), slog.String("class", class))
			return resp, &Error{Class: class, Host: host, Status: a.Status, Attempts: n, err: cause}
		}
		if err := c.opts.Sleep(ctx, c.backoff(n, retryAfter)); err != nil {
			return resp, &Error{Class: ClassCanceled, Host: host, Status: a.Status, Attempts: n, err: err}
		}
	}
}

// attempt sends one signed request. class is "" on a 2xx answer.
func (c *Client) attempt(ctx context.Context, method string, u *url.URL, body string, req Request) (resp *Response, class string, retryAfter time.Duration, cause error) {
	actx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()

	var rd io.Reader
	if method == http.MethodPost {
		rd = strings.NewReader(body)
	}
	hreq, err := http.NewRequestWithContext(actx, method, u.String(), rd)
	if err != nil {
		return nil, ClassInvalid, 0, fmt.Errorf("%w: cannot build request", ErrInvalidRequest)
	}
	hreq.Header.Set("User-Agent", "Trunkline")
	if method == http.MethodPost {
		hreq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	c.sign(hreq, req)

	res, err := c.http.Do(hreq)
	if err != nil {
		class, cause := classify(ctx, err)
		return nil, class, 0, cause
	}
	defer res.Body.Close()
	// Read one byte past the limit to learn whether there was more, and
	// never more than that: a hostile endpoint must not make us buffer
	// an unbounded body.
	data, err := io.ReadAll(io.LimitReader(res.Body, c.opts.MaxBodyBytes+1))
	if err != nil {
		class, cause := classify(ctx, err)
		return nil, class, 0, cause
	}
	resp = &Response{Status: res.StatusCode, Header: res.Header, Body: data}
	if int64(len(data)) > c.opts.MaxBodyBytes {
		resp.Body, resp.Truncated = data[:c.opts.MaxBodyBytes], true
	}
	switch s := res.StatusCode; {
	case s >= 200 && s <= 299:
		return resp, "", 0, nil
	case s >= 300 && s <= 399:
		return resp, ClassHTTP3xx, 0, nil
	case s == http.StatusTooManyRequests:
		return resp, ClassHTTP429, c.retryAfter(res.Header), nil
	case s >= 400 && s <= 499:
		return resp, ClassHTTP4xx, 0, nil
	case s >= 500 && s <= 599:
		var ra time.Duration
		if s == http.StatusServiceUnavailable {
			ra = c.retryAfter(res.Header)
		}
		return resp, ClassHTTP5xx, ra, nil
	default:
		return resp, ClassHTTP, 0, nil
	}
}

// sign sets the six Plivo signature headers with fresh nonces. The V3
// signature covers the URL exactly as the receiver reconstructs it from the
// request line and Host header (scheme://host + request URI, query included),
// plus the form body for POST.
func (c *Client) sign(hreq *http.Request, req Request) {
	uri := hreq.URL.Scheme + "://" + hreq.URL.Host + hreq.URL.RequestURI()
	var bodyParams url.Values
	if hreq.Method == http.MethodPost {
		bodyParams = req.Params
	}
	signHeaders(hreq.Header, hreq.Method, uri, bodyParams, req.AuthToken, req.MainAuthToken)
}

// signHeaders sets the six signature headers of a request to uri (also the
// upgrade request of an audio stream).
func signHeaders(h http.Header, method, uri string, bodyParams url.Values, token, main string) {
	if main == "" {
		main = token
	}
	n3, n2 := newNonces()
	// The account's and the main account's signatures sign the same text (SignV3,
	// SignV2): it is built once, and for a main account (one token) signed once.
	v3 := appendCanonicalV3(make([]byte, 0, 1024), method, uri, bodyParams)
	v3 = append(append(v3, '.'), n3...)
	base, _ := splitURI(uri)
	v2 := append([]byte(base), n2...)
	sig3, sig2 := hmacBase64Pair(token, v3, v2)
	ma3, ma2 := sig3, sig2
	if main != token {
		ma3, ma2 = hmacBase64Pair(main, v3, v2)
	}
	h.Set(HeaderNonceV3, n3)
	h.Set(HeaderSignatureV3, sig3)
	h.Set(HeaderSignatureMaV3, ma3)
	h.Set(HeaderNonceV2, n2)
	h.Set(HeaderSignatureV2, sig2)
	h.Set(HeaderSignatureMaV2, ma2)
}

// classify maps a transport error to a class and a cause safe to return:
// *url.Error is unwrapped because its message quotes the full URL, whose
// query may hold parameter values.
func classify(ctx context.Context, err error) (string, error) {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var (
		cve  *tls.CertificateVerificationError
		uae  x509.UnknownAuthorityError
		he   x509.HostnameError
		cie  x509.CertificateInvalidError
		rhe  tls.RecordHeaderError
		alrt tls.AlertError
		nerr net.Error
	)
	switch {
	case errors.Is(err, ErrForbiddenAddress):
		return ClassRefused, err
	case ctx.Err() != nil:
		return ClassCanceled, ctx.Err()
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &nerr) && nerr.Timeout():
		return ClassTimeout, err
	case errors.As(err, &cve), errors.As(err, &uae), errors.As(err, &he), errors.As(err, &cie),
		errors.As(err, &rhe), errors.As(err, &alrt):
		return ClassTLS, err
	default:
		return ClassNetwork, err
	}
}

func retryable(class string) bool {
	switch class {
	case ClassTimeout, ClassNetwork, ClassHTTP5xx, ClassHTTP429:
		return true
	}
	return false
}

// backoff returns the wait before attempt n+1: a Retry-After the server
// asked for (already capped), else BackoffBase*2^(n-1) capped at BackoffMax,
// with "equal jitter" (half fixed, half random) so retries from many calls
// failing together spread out but never fire immediately.
func (c *Client) backoff(n int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return retryAfter
	}
	// Double step by step so a large base or attempt number cannot
	// overflow into a negative or tiny wait.
	d := min(c.opts.BackoffBase, c.opts.BackoffMax)
	for i := 1; i < n && d < c.opts.BackoffMax; i++ {
		d = min(2*d, c.opts.BackoffMax)
	}
	half := d / 2
	return half + time.Duration(mrand.Int64N(int64(d-half)+1))
}

// retryAfter parses Retry-After (seconds or an HTTP date), capped at
// MaxRetryAfter; 0 means absent or unusable.
func (c *Client) retryAfter(h http.Header) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		if secs > int64(c.opts.MaxRetryAfter/time.Second) {
			return c.opts.MaxRetryAfter
		}
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(c.opts.Now())
	}
	if d <= 0 {
		return 0
	}
	return min(d, c.opts.MaxRetryAfter)
}

func (c *Client) record(ctx context.Context, req Request, a Attempt) {
	if c.opts.Recorder == nil {
		return
	}
	a.AccountID, a.Kind, a.ObjectID, a.Redelivery = req.AccountID, req.Kind, req.ObjectID, req.Redelivery
	// Record even when the caller gave up: the attempt happened.
	ctx = context.WithoutCancel(ctx)
	if err := c.opts.Recorder.RecordAttempt(ctx, a); err != nil {
		c.log.LogAttrs(ctx, slog.LevelWarn, "webhook attempt not recorded",
			slog.String("kind", req.Kind), slog.String("object_id", req.ObjectID), slog.Any("err", err))
	}
}

// redact returns scheme://host[:port]/path: what records and logs may show.
func redact(u *url.URL) string {
	if u == nil {
		return ""
	}
	return u.Scheme + "://" + u.Host + u.EscapedPath()
}

// newNonces returns two nonces of 20 random decimal digits each, the shape Plivo's
// nonces have, in case a receiver checks it. Every callback signs with two (V3 and V2),
// and they come from one read of the system's random source: this runs for every
// callback sent. Bytes of 250 and over are skipped, so every digit is uniform.
func newNonces() (string, string) {
	var d [40]byte
	var buf [48]byte
	for n := 0; n < len(d); {
		rand.Read(buf[:]) // never fails (crypto/rand.Read crashes the program instead)
		for _, b := range buf {
			if b < 250 && n < len(d) {
				d[n] = '0' + b%10
				n++
			}
		}
	}
	return string(d[:20]), string(d[20:])
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Fetch GETs a media file (a <Play> URL) through the same guarded transport
// as callbacks: the SSRF check on the dialled address, no redirects, no
// proxies. Unlike Do it streams the body (the caller bounds how much it
// reads) and does not retry or sign. Errors name at most the host.
func (c *Client) Fetch(ctx context.Context, raw string) (io.ReadCloser, error) {
	u, err := checkURL(raw, c.opts.Allow, false)
	if err != nil {
		return nil, err
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("%w: cannot build request", ErrInvalidRequest)
	}
	hreq.Header.Set("User-Agent", "Trunkline")
	res, err := c.http.Do(hreq)
	if err != nil {
		_, cause := classify(ctx, err)
		return nil, fmt.Errorf("fetch from %s: %w", u.Host, cause)
	}
	if res.StatusCode != http.StatusOK {
		res.Body.Close()
		return nil, fmt.Errorf("fetch from %s: HTTP %d", u.Host, res.StatusCode)
	}
	return res.Body, nil
}
