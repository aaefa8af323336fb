package webhook

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

// PrepareStream: wss anywhere the callback policy allows; plain ws only to
// the operator's allowlisted addresses; every refusal before any traffic
// for IP literals, and at dial time for names.
func TestPrepareStream(t *testing.T) {
	loop := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	for _, tc := range []struct {
		url   string
		allow []netip.Prefix
		want  error // nil: accepted
	}{
		{"wss://8.8.8.8/s?tok=x", nil, nil},
		{"wss://stream.example.com/s", nil, nil},
		{"ws://8.8.8.8/s", nil, ErrForbiddenAddress},
		{"ws://8.8.8.8/s", loop, ErrForbiddenAddress},
		{"ws://127.0.0.1:9/s", loop, nil},
		{"ws://127.0.0.1:9/s", nil, ErrForbiddenAddress},
		{"wss://127.0.0.1:9/s", nil, ErrForbiddenAddress},
		{"wss://[::1]:9/s", nil, ErrForbiddenAddress},
		{"wss://169.254.169.254/s", nil, ErrForbiddenAddress},
		{"wss://2130706433/s", loop, ErrForbiddenAddress},
		{"https://e.com/s", nil, ErrInvalidURL},
		{"wss://user:pw@e.com/s", nil, ErrInvalidURL},
		{"wss:///s", nil, ErrInvalidURL},
		{"wss://e.com/" + strings.Repeat("a", 2048), nil, ErrInvalidURL},
	} {
		c := New(Options{Allow: tc.allow})
		d, err := c.PrepareStream(tc.url, "tok", "")
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%.60s allow=%v: err %v, want %v", tc.url, tc.allow, err, tc.want)
			continue
		}
		if err != nil {
			if strings.Contains(err.Error(), "/s") {
				t.Errorf("%s: the error quotes the URL: %v", tc.url, err)
			}
			continue
		}
		if d.Header.Get(HeaderSignatureV3) == "" || !ValidateV3("GET", tc.url, d.Header.Get(HeaderNonceV3), "tok", d.Header.Get(HeaderSignatureV3), nil) {
			t.Errorf("%s: upgrade not signed: %v", tc.url, d.Header)
		}
	}
}

// A host name is checked on the address it resolves to when dialled: ws to
// localhost without the allow setting never connects, and neither does wss.
func TestStreamDialGuard(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan struct{}, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- struct{}{}
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	c := New(Options{})
	for _, scheme := range []string{"ws", "wss"} {
		d, err := c.PrepareStream(scheme+"://localhost:"+itoa(port)+"/s", "tok", "")
		if err != nil {
			t.Fatalf("%s: a name is checked when dialled, not before: %v", scheme, err)
		}
		req, _ := http.NewRequestWithContext(context.Background(), "GET", strings.Replace(d.URL.String(), scheme, map[string]string{"ws": "http", "wss": "https"}[scheme], 1), nil)
		_, err = d.Client.Do(req)
		if !errors.Is(err, ErrForbiddenAddress) {
			t.Fatalf("%s to localhost: %v, want ErrForbiddenAddress", scheme, err)
		}
	}
	select {
	case <-accepted:
		t.Fatal("a refused stream connected")
	default:
	}
}
