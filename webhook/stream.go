package webhook

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"sync"
	"syscall"
	"time"
)

// Audio streams (<Stream>, the Call Stream API) connect to a customer's
// WebSocket server: the same SSRF guard as callbacks on every dialled
// address, no proxy, no redirects, the upgrade request signed like a
// callback. wss:// is the default; plain ws:// carries the call's audio in
// clear, so it is accepted only to addresses the operator opened
// (webhook.allow: loopback in development and tests, a trusted private
// network), never to the public internet.

// StreamDial is how to open one stream's WebSocket: the checked URL, an
// HTTP client whose dialler enforces the policy (hand it to the WebSocket
// library) and the signed upgrade headers.
type StreamDial struct {
	URL    *url.URL
	Client *http.Client
	Header http.Header
}

// streamClients are built once per Client: one for wss (the callback
// policy) and one for ws (allowlisted addresses only).
type streamClients struct {
	once        sync.Once
	tls, plain  *http.Client
	plainDialer *net.Dialer
}

// PrepareStream checks raw (ws:// or wss://) against the policy and returns
// how to dial it, the upgrade signed with the account's tokens (main: the
// main account's, "" for a main account). Errors wrap ErrInvalidURL or
// ErrForbiddenAddress and never quote the URL.
func (c *Client) PrepareStream(raw, token, main string) (StreamDial, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return StreamDial{}, fmt.Errorf("%w: cannot parse", ErrInvalidURL)
	}
	var httpScheme string
	switch u.Scheme {
	case "wss":
		httpScheme = "https"
	case "ws":
		httpScheme = "http"
	default:
		return StreamDial{}, fmt.Errorf("%w: a stream URL must be wss:// (or ws:// where the operator allows it)", ErrInvalidURL)
	}
	hu := *u
	hu.Scheme = httpScheme
	if _, err := checkURL(hu.String(), c.opts.Allow, false); err != nil {
		return StreamDial{}, err
	}
	if len(raw) > 2048 {
		return StreamDial{}, fmt.Errorf("%w: over 2048 bytes", ErrInvalidURL)
	}
	c.streams.once.Do(c.buildStreamClients)
	cl := c.streams.tls
	if u.Scheme == "ws" {
		if addr, err := netip.ParseAddr(u.Hostname()); err == nil && !allowed(addr, c.opts.Allow) {
			return StreamDial{}, fmt.Errorf("%w: plain ws:// is only allowed to addresses the operator opened (webhook.allow); use wss://", ErrForbiddenAddress)
		}
		cl = c.streams.plain
	}
	h := http.Header{}
	h.Set("User-Agent", "Trunkline")
	signHeaders(h, http.MethodGet, raw, nil, token, main)
	return StreamDial{URL: u, Client: cl, Header: h}, nil
}

func allowed(addr netip.Addr, allow []netip.Prefix) bool {
	for _, p := range allow {
		if p.IsValid() && (p.Contains(addr) || p.Contains(addr.Unmap())) {
			return true
		}
	}
	return false
}

// plainGuard admits only allowlisted addresses: where plain ws:// may go.
type plainGuard struct{ allow []netip.Prefix }

func (g plainGuard) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot parse dialled address", ErrForbiddenAddress)
	}
	if !allowed(ap.Addr(), g.allow) {
		return fmt.Errorf("%w: plain ws:// to %s, outside the operator's webhook.allow; use wss://", ErrForbiddenAddress, ap.Addr())
	}
	return nil
}

func (c *Client) buildStreamClients() {
	mk := func(control func(string, string, syscall.RawConn) error) *http.Client {
		d := &net.Dialer{Timeout: c.opts.ConnectTimeout, KeepAlive: 30 * time.Second, Control: control}
		return &http.Client{
			Transport: &http.Transport{
				Proxy:               nil,
				DialContext:         d.DialContext,
				TLSClientConfig:     c.opts.TLSConfig,
				TLSHandshakeTimeout: c.opts.ConnectTimeout,
				// WebSockets upgrade HTTP/1.1: never negotiate h2.
				TLSNextProto:           map[string]func(string, *tls.Conn) http.RoundTripper{},
				MaxResponseHeaderBytes: 64 << 10,
				DisableKeepAlives:      true,
			},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	c.streams.tls = mk(guard{allow: c.opts.Allow}.control)
	c.streams.plain = mk(plainGuard{allow: c.opts.Allow}.control)
}

// StreamError turns a failed WebSocket dial into an error that names the
// host and the cause, never the URL's path or query (which may carry a
// customer's secrets).
func StreamError(u *url.URL, res *http.Response, err error) error {
	if res != nil && res.StatusCode != http.StatusSwitchingProtocols {
		return fmt.Errorf("stream server %s answered HTTP %d, not a WebSocket upgrade", u.Host, res.StatusCode)
	}
	_, cause := classify(context.Background(), err)
	return fmt.Errorf("cannot connect to stream server %s: %w", u.Host, cause)
}

// StreamRetryable says whether a failed stream dial is worth another try
// (a network error or timeout; not a refusal, a TLS failure or an HTTP answer).
func StreamRetryable(res *http.Response, err error) bool {
	if res != nil {
		return res.StatusCode >= 500
	}
	class, _ := classify(context.Background(), err)
	return retryable(class)
}
