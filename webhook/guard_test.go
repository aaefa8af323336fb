package webhook

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

var loopbackAllow = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

// forbiddenAddrs has one or more addresses from every range the guard must
// refuse, in every spelling that reaches it.
var forbiddenAddrs = []struct {
	name string
	addr string
}{
	{"loopback 127.0.0.1", "127.0.0.1"},
	{"loopback 127.255.255.254", "127.255.255.254"},
	{"loopback ::1", "::1"},
	{"unspecified 0.0.0.0", "0.0.0.0"},
	{"unspecified ::", "::"},
	{"this network 0.1.2.3", "0.1.2.3"},
	{"RFC1918 10/8", "10.1.2.3"},
	{"RFC1918 172.16/12 low", "172.16.0.1"},
	{"RFC1918 172.16/12 high", "172.31.255.254"},
	{"RFC1918 192.168/16", "192.168.1.1"},
	{"link-local cloud metadata", "169.254.169.254"},
	{"CGNAT 100.64/10", "100.64.0.1"},
	{"CGNAT 100.127.255.254", "100.127.255.254"},
	{"IETF 192.0.0.0/24", "192.0.0.8"},
	{"TEST-NET-1", "192.0.2.10"},
	{"6to4 relay anycast", "192.88.99.1"},
	{"benchmarking 198.18/15", "198.19.0.1"},
	{"TEST-NET-2", "198.51.100.7"},
	{"TEST-NET-3", "203.0.113.9"},
	{"multicast 224.0.0.1", "224.0.0.1"},
	{"multicast 239.255.255.250", "239.255.255.250"},
	{"class E 240.0.0.1", "240.0.0.1"},
	{"broadcast", "255.255.255.255"},
	{"IPv6 link-local", "fe80::1"},
	{"IPv6 unique-local fc00::/7", "fc00::1"},
	{"IPv6 unique-local fd00::/8", "fd00:ec2::254"},
	{"IPv6 multicast", "ff02::1"},
	{"IPv6 site-local", "fec0::1"},
	{"IPv6 documentation", "2001:db8::1"},
	{"IPv6 documentation 3fff::/20", "3fff::1"},
	{"IPv6 Teredo", "2001::1"},
	{"IPv6 discard-only", "100::1"},
	{"IPv6 outside 2000::/3", "4000::1"},
	{"IPv4-mapped loopback", "::ffff:127.0.0.1"},
	{"IPv4-mapped RFC1918", "::ffff:10.0.0.1"},
	{"IPv4-mapped metadata", "::ffff:169.254.169.254"},
	{"IPv4-compatible loopback", "::127.0.0.1"},
	{"IPv4-translated", "::ffff:0:7f00:1"},
	{"NAT64 loopback", "64:ff9b::127.0.0.1"},
	{"NAT64 RFC1918", "64:ff9b::10.0.0.1"},
	{"NAT64 metadata", "64:ff9b::a9fe:a9fe"},
	{"local-use NAT64", "64:ff9b:1::8.8.8.8"},
	{"6to4 of loopback", "2002:7f00:1::1"},
	{"6to4 of RFC1918", "2002:c0a8:101::1"},
}

func TestCheckAddrForbidden(t *testing.T) {
	for _, tt := range forbiddenAddrs {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckAddr(netip.MustParseAddr(tt.addr), nil)
			if !errors.Is(err, ErrForbiddenAddress) {
				t.Fatalf("CheckAddr(%s) = %v, want ErrForbiddenAddress", tt.addr, err)
			}
		})
	}
}

func TestCheckAddrAllowed(t *testing.T) {
	tests := []struct {
		name  string
		addr  string
		allow []netip.Prefix
	}{
		{"public IPv4", "8.8.8.8", nil},
		{"public IPv4 next to 172.16/12", "172.32.0.1", nil},
		{"public IPv4 next to 100.64/10", "100.128.0.1", nil},
		{"public IPv6", "2606:4700:4700::1111", nil},
		{"IPv4-mapped public", "::ffff:8.8.8.8", nil},
		{"NAT64 of public", "64:ff9b::8.8.8.8", nil},
		{"6to4 of public", "2002:808:808::1", nil},
		{"loopback with allowlist", "127.0.0.1", loopbackAllow},
		{"mapped loopback with IPv4 allowlist", "::ffff:127.0.0.1", loopbackAllow},
		{"private range opened by operator", "10.1.2.3", []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}},
		{"IPv6 loopback opened", "::1", []netip.Prefix{netip.MustParsePrefix("::1/128")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := CheckAddr(netip.MustParseAddr(tt.addr), tt.allow); err != nil {
				t.Fatalf("CheckAddr(%s) = %v, want nil", tt.addr, err)
			}
		})
	}
}

func TestCheckAddrAllowlistIsNarrow(t *testing.T) {
	allow := []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), {}} // the zero Prefix is ignored
	for _, a := range []string{"10.2.0.1", "127.0.0.1", "::1", "fe80::1%eth0"} {
		if err := CheckAddr(netip.MustParseAddr(a), allow); !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("CheckAddr(%s) = %v, want ErrForbiddenAddress", a, err)
		}
	}
}

// TestDialerControlRefuses dials every forbidden address through the
// client's own dialer, bypassing the up-front URL check, to prove the
// Control hook itself refuses: it runs after socket(2) and before
// connect(2), so nothing is sent. A dial that got past the hook would
// instead fail with "connection refused" or a timeout, not
// ErrForbiddenAddress.
func TestDialerControlRefuses(t *testing.T) {
	c := New(Options{ConnectTimeout: 2 * time.Second})
	for _, tt := range forbiddenAddrs {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
			defer cancel()
			conn, err := c.dialer.DialContext(ctx, "tcp", net.JoinHostPort(tt.addr, "80"))
			if conn != nil {
				conn.Close()
			}
			if !errors.Is(err, ErrForbiddenAddress) {
				if strings.Contains(tt.addr, ":") && isNoIPv6(err) {
					t.Skipf("no IPv6 sockets here: %v", err)
				}
				t.Fatalf("dial %s: %v, want ErrForbiddenAddress", tt.addr, err)
			}
		})
	}
}

func isNoIPv6(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "address family not supported") ||
		strings.Contains(err.Error(), "protocol not supported"))
}

// TestDoRefusesForbiddenLiteral sends a callback to each forbidden address:
// Do must fail at once with ErrForbiddenAddress, class "refused", one
// recorded attempt and no retry.
func TestDoRefusesForbiddenLiteral(t *testing.T) {
	for _, tt := range forbiddenAddrs {
		t.Run(tt.name, func(t *testing.T) {
			rec := &memRecorder{}
			var slept atomic.Int32
			c := New(Options{Recorder: rec, Sleep: func(context.Context, time.Duration) error { slept.Add(1); return nil }})
			u := "http://" + net.JoinHostPort(tt.addr, "8080") + "/cb"
			resp, err := c.Do(t.Context(), Request{URL: u, AuthToken: "tok", Params: map[string][]string{"a": {"b"}}})
			if resp != nil || !errors.Is(err, ErrForbiddenAddress) {
				t.Fatalf("Do = %v, %v; want nil, ErrForbiddenAddress", resp, err)
			}
			var we *Error
			if !errors.As(err, &we) || we.Class != ClassRefused || we.Attempts != 1 {
				t.Fatalf("error = %#v, want class %q after 1 attempt", err, ClassRefused)
			}
			if got := rec.all(); len(got) != 1 || got[0].ErrorClass != ClassRefused || got[0].WillRetry {
				t.Fatalf("records = %+v", got)
			}
			if slept.Load() != 0 {
				t.Fatal("refusal was retried")
			}
		})
	}
}

// TestNumericHostForms: spellings of 127.0.0.1 that inet_aton accepts but
// net/netip does not. They are refused up front (before any resolution),
// even when the allowlist opens 127.0.0.0/8, because resolvers disagree on
// what they mean.
func TestNumericHostForms(t *testing.T) {
	tests := []struct{ name, url string }{
		{"decimal", "http://2130706433/"},
		{"hex", "http://0x7f000001/"},
		{"hex upper", "http://0X7F000001/"},
		{"octal", "http://0177.0.0.1/"},
		{"short form", "http://127.1/"},
		{"mixed hex dotted", "http://0x7f.0.0.1/"},
		{"decimal with port", "http://2130706433:8080/x"},
		{"trailing dot", "http://127.0.0.1./"},
		{"leading zeros", "http://127.000.000.001/"},
		{"decimal metadata", "http://2852039166/latest/meta-data/"},
	}
	for _, tt := range tests {
		for _, allow := range [][]netip.Prefix{nil, loopbackAllow} {
			name := tt.name
			if allow != nil {
				name += " with allowlist"
			}
			t.Run(name, func(t *testing.T) {
				if _, err := checkURL(tt.url, allow, false); !errors.Is(err, ErrForbiddenAddress) {
					t.Fatalf("checkURL(%s) = %v, want ErrForbiddenAddress", tt.url, err)
				}
				c := New(Options{Allow: allow})
				if _, err := c.Do(t.Context(), Request{URL: tt.url, AuthToken: "tok"}); !errors.Is(err, ErrForbiddenAddress) {
					t.Fatalf("Do(%s) = %v, want ErrForbiddenAddress", tt.url, err)
				}
			})
		}
	}
}

func TestEndsInNumber(t *testing.T) {
	tests := []struct {
		host string
		want bool
	}{
		{"example.com", false},
		{"1.example.com", false},
		{"example.123", true},
		{"123", true},
		{"0x", true},
		{"0xg", false},
		{"a.0x1F", true},
		{"example.com.", false},
		{"1.2.3.4.", true},
		{"", false},
	}
	for _, tt := range tests {
		if got := endsInNumber(tt.host); got != tt.want {
			t.Errorf("endsInNumber(%q) = %v, want %v", tt.host, got, tt.want)
		}
	}
}

func TestCheckURL(t *testing.T) {
	tests := []struct {
		name         string
		url          string
		requireHTTPS bool
		want         error // nil, ErrInvalidURL or ErrForbiddenAddress
	}{
		{"https name", "https://example.com/cb?x=1", false, nil},
		{"http name with port", "http://example.com:8080/cb", false, nil},
		{"public IP literal", "http://8.8.8.8/cb", false, nil},
		{"public IPv6 literal", "http://[2606:4700:4700::1111]/cb", false, nil},
		{"ftp", "ftp://example.com/x", false, ErrInvalidURL},
		{"file", "file:///etc/passwd", false, ErrInvalidURL},
		{"gopher", "gopher://example.com:70/", false, ErrInvalidURL},
		{"no scheme", "example.com/cb", false, ErrInvalidURL},
		{"relative", "/cb", false, ErrInvalidURL},
		{"opaque", "http:example.com", false, ErrInvalidURL},
		{"userinfo", "http://user:pass@example.com/", false, ErrInvalidURL},
		{"userinfo trick", "http://example.com@127.0.0.1/", false, ErrInvalidURL},
		{"empty user", "http://@example.com/", false, ErrInvalidURL},
		{"no host", "http:///cb", false, ErrInvalidURL},
		{"non-ASCII host", "http://bücher.example/", false, ErrInvalidURL},
		{"punycode host", "http://xn--bcher-kva.example/", false, nil},
		{"bad port 0", "http://example.com:0/", false, ErrInvalidURL},
		{"bad port 70000", "http://example.com:70000/", false, ErrInvalidURL},
		{"unparsable", "http://exa mple.com/", false, ErrInvalidURL},
		{"http where https required", "http://example.com/", true, ErrInvalidURL},
		{"https where https required", "https://example.com/", true, nil},
		{"loopback literal", "http://127.0.0.1/", false, ErrForbiddenAddress},
		{"IPv6 loopback literal", "http://[::1]/", false, ErrForbiddenAddress},
		{"mapped literal", "http://[::ffff:127.0.0.1]/", false, ErrForbiddenAddress},
		{"zoned literal", "http://[fe80::1%25eth0]/", false, ErrForbiddenAddress},
		{"metadata literal", "http://169.254.169.254/latest/meta-data/", false, ErrForbiddenAddress},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(Options{})
			err := c.CheckURL(tt.url, tt.requireHTTPS)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("CheckURL(%q) = %v, want %v", tt.url, err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "pass") {
				t.Errorf("error quotes the URL: %v", err)
			}
		})
	}
}

// TestLocalhost: a name resolving to loopback is refused when dialled
// (there is no literal to check up front), and allowed once the operator
// opens 127.0.0.0/8.
func TestLocalhost(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	u := "http://localhost:" + itoa(port) + "/cb"

	t.Run("refused without allowlist", func(t *testing.T) {
		c := New(Options{Sleep: noSleep})
		_, err := c.Do(t.Context(), Request{URL: u, AuthToken: "tok"})
		if !errors.Is(err, ErrForbiddenAddress) {
			t.Fatalf("Do = %v, want ErrForbiddenAddress", err)
		}
		var we *Error
		if !errors.As(err, &we) || we.Class != ClassRefused || we.Attempts != 1 {
			t.Fatalf("error = %v, want refused after 1 attempt", err)
		}
		if hits.Load() != 0 {
			t.Fatal("the server was reached")
		}
	})
	t.Run("allowed with allowlist", func(t *testing.T) {
		c := New(Options{Allow: loopbackAllow, Sleep: noSleep})
		resp, err := c.Do(t.Context(), Request{URL: u, AuthToken: "tok"})
		if err != nil || resp.Status != 200 {
			t.Fatalf("Do = %v, %v", resp, err)
		}
		if hits.Load() != 1 {
			t.Fatalf("hits = %d", hits.Load())
		}
	})
}
