package webhook

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
)

// ErrForbiddenAddress is returned (wrapped; test with errors.Is) when a
// callback would reach an address customers must not reach through us:
// loopback, private, link-local (cloud metadata), reserved ranges, or a
// numeric host form that different resolvers read differently.
var ErrForbiddenAddress = errors.New("webhook: forbidden destination address")

// ErrInvalidURL is returned (wrapped) for callback URLs that are refused
// before any address is looked at: a scheme other than http/https, userinfo,
// a missing or non-ASCII host, or plain http where https is required.
var ErrInvalidURL = errors.New("webhook: invalid callback URL")

type blockedRange struct {
	prefix netip.Prefix
	why    string
}

func block(cidr, why string) blockedRange {
	return blockedRange{netip.MustParsePrefix(cidr), why}
}

// blockedV4 lists the IPv4 ranges no callback may reach, from the IANA
// IPv4 Special-Purpose Address Registry plus multicast and class E.
var blockedV4 = []blockedRange{
	block("0.0.0.0/8", "\"this network\" (0/8)"),
	block("10.0.0.0/8", "private (RFC 1918)"),
	block("100.64.0.0/10", "shared address space (CGNAT, RFC 6598)"),
	block("127.0.0.0/8", "loopback"),
	block("169.254.0.0/16", "link-local (cloud metadata)"),
	block("172.16.0.0/12", "private (RFC 1918)"),
	block("192.0.0.0/24", "IETF protocol assignments"),
	block("192.0.2.0/24", "documentation (TEST-NET-1)"),
	block("192.88.99.0/24", "6to4 relay anycast (deprecated)"),
	block("192.168.0.0/16", "private (RFC 1918)"),
	block("198.18.0.0/15", "benchmarking"),
	block("198.51.100.0/24", "documentation (TEST-NET-2)"),
	block("203.0.113.0/24", "documentation (TEST-NET-3)"),
	block("224.0.0.0/4", "multicast"),
	block("240.0.0.0/4", "reserved (class E, broadcast)"),
}

// blockedV6 names the IPv6 ranges worth a specific reason. Anything outside
// 2000::/3 (the only range allocated for global unicast) is refused anyway.
var blockedV6 = []blockedRange{
	block("::/128", "unspecified"),
	block("::1/128", "loopback"),
	block("::/96", "IPv4-compatible IPv6 (deprecated)"),
	block("::ffff:0:0:0/96", "IPv4-translated IPv6 (SIIT)"),
	block("64:ff9b:1::/48", "local-use NAT64 (RFC 8215)"),
	block("100::/64", "discard-only"),
	block("2001::/23", "IETF protocol assignments (Teredo, benchmarking, ORCHID)"),
	block("2001:db8::/32", "documentation"),
	block("3fff::/20", "documentation"),
	block("5f00::/16", "SRv6 SIDs"),
	block("fc00::/7", "unique local"),
	block("fe80::/10", "link-local"),
	block("fec0::/10", "site-local (deprecated)"),
	block("ff00::/8", "multicast"),
}

var (
	globalUnicastV6 = netip.MustParsePrefix("2000::/3")
	nat64           = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour       = netip.MustParsePrefix("2002::/16")
)

// CheckAddr returns nil if a callback may connect to addr, or an error
// wrapping ErrForbiddenAddress saying why not. An address inside one of the
// allow prefixes (operator configuration, e.g. 127.0.0.0/8 for development)
// is always permitted.
func CheckAddr(addr netip.Addr, allow []netip.Prefix) error {
	if !addr.IsValid() {
		return fmt.Errorf("%w: invalid address", ErrForbiddenAddress)
	}
	if addr.Zone() != "" {
		// A zone only makes sense for link-local addresses, which are
		// forbidden; refusing zones also keeps allowlist matching simple.
		return fmt.Errorf("%w: %s has an IPv6 zone", ErrForbiddenAddress, addr)
	}
	for _, p := range allow {
		// ::ffff:127.0.0.1 is the same destination as 127.0.0.1, so an
		// allowlisted IPv4 range opens its mapped form too.
		if p.IsValid() && (p.Contains(addr) || p.Contains(addr.Unmap())) {
			return nil
		}
	}
	if why := forbiddenReason(addr); why != "" {
		return fmt.Errorf("%w: %s is %s", ErrForbiddenAddress, addr, why)
	}
	return nil
}

// forbiddenReason returns why addr is forbidden, or "" if it is a public
// address. IPv6 forms that embed an IPv4 address are judged by that address.
func forbiddenReason(addr netip.Addr) string {
	addr = addr.Unmap() // ::ffff:a.b.c.d reaches a.b.c.d
	if addr.Is4() {
		return lookup(blockedV4, addr)
	}
	b := addr.As16()
	switch {
	case nat64.Contains(addr):
		if why := lookup(blockedV4, netip.AddrFrom4([4]byte(b[12:16]))); why != "" {
			return why + " via NAT64 (64:ff9b::/96)"
		}
		return ""
	case sixToFour.Contains(addr):
		if why := lookup(blockedV4, netip.AddrFrom4([4]byte(b[2:6]))); why != "" {
			return why + " via 6to4 (2002::/16)"
		}
		return ""
	}
	if why := lookup(blockedV6, addr); why != "" {
		return why
	}
	if !globalUnicastV6.Contains(addr) {
		return "not IPv6 global unicast (outside 2000::/3)"
	}
	return ""
}

func lookup(table []blockedRange, addr netip.Addr) string {
	for _, r := range table {
		if r.prefix.Contains(addr) {
			return r.why
		}
	}
	return ""
}

// guard holds the address policy; its control method is installed as the
// net.Dialer Control hook, which runs after name resolution and before
// connect(2) for every address actually dialled. Checking there, not on the
// resolved name beforehand, means DNS rebinding (a name that resolves to a
// public address when checked and to 127.0.0.1 when dialled) cannot get
// through, and nothing is sent to a forbidden address.
type guard struct {
	allow []netip.Prefix
}

func (g guard) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		// Fail closed: we must know where we are connecting.
		return fmt.Errorf("%w: cannot parse dialled address", ErrForbiddenAddress)
	}
	return CheckAddr(ap.Addr(), g.allow)
}

// checkURL parses raw and refuses what must never be fetched, before any
// connection: see ErrInvalidURL. A host written as an IP literal is checked
// against the policy here already (fast, clear error); host names are
// checked when dialled. Errors never quote the URL, which may carry secrets.
// The parsed URL is returned, even with an error, whenever raw parsed.
func checkURL(raw string, allow []netip.Prefix, requireHTTPS bool) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: cannot parse", ErrInvalidURL)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return u, fmt.Errorf("%w: only http and https are allowed", ErrInvalidURL)
	case u.Opaque != "":
		return u, fmt.Errorf("%w: not an absolute URL", ErrInvalidURL)
	case requireHTTPS && u.Scheme != "https":
		return u, fmt.Errorf("%w: https is required for this account", ErrInvalidURL)
	case u.User != nil:
		// user:pass@host is a classic parser-confusion trick and would
		// put credentials in our logs.
		return u, fmt.Errorf("%w: userinfo is not allowed", ErrInvalidURL)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return u, fmt.Errorf("%w: bad port", ErrInvalidURL)
		}
	}
	host := u.Hostname()
	if host == "" {
		return u, fmt.Errorf("%w: no host", ErrInvalidURL)
	}
	if addr, err := netip.ParseAddr(host); err == nil {
		if err := CheckAddr(addr, allow); err != nil {
			return u, err
		}
		return u, nil
	}
	if !validHostName(host) {
		// Includes non-ASCII names: net/http would send them as punycode,
		// and the signature must cover the Host the receiver sees.
		return u, fmt.Errorf("%w: host must be an ASCII DNS name (use the xn-- form) or an IP address", ErrInvalidURL)
	}
	if endsInNumber(host) {
		// 2130706433, 0x7f000001, 0177.0.0.1, 127.1 ...: inet_aton (the
		// cgo resolver, curl, browsers) reads these as IPv4 addresses,
		// Go's own resolver does not. Refuse them outright, allowlist or
		// not, rather than depend on which reading wins.
		return u, fmt.Errorf("%w: %s is a non-canonical numeric IPv4 host", ErrForbiddenAddress, host)
	}
	return u, nil
}

// validHostName accepts letters, digits, '-', '_' and '.', the characters
// real DNS names in URLs use.
func validHostName(h string) bool {
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// endsInNumber is the WHATWG URL Standard's "ends in a number" test: a host
// whose last label is decimal digits or 0x-hex is parsed as IPv4 by
// browsers. No real DNS name has such a top-level label.
func endsInNumber(host string) bool {
	labels := strings.Split(strings.TrimSuffix(host, "."), ".")
	last := labels[len(labels)-1]
	if last == "" {
		return false
	}
	if strings.HasPrefix(last, "0x") || strings.HasPrefix(last, "0X") {
		for i := 2; i < len(last); i++ {
			if !isHex(last[i]) {
				return false
			}
		}
		return true
	}
	for i := 0; i < len(last); i++ {
		if last[i] < '0' || last[i] > '9' {
			return false
		}
	}
	return true
}
