package firewall

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
)

func TestRulesAndMatches(t *testing.T) {
	ls := []Listener{
		{Name: "api", Proto: "tcp", Addr: netip.MustParseAddr("10.0.0.2"), PortMin: 8443, PortMax: 8443,
			Sources: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("2001:db8::/32")}, What: "API"},
		{Name: "sip-udp", Proto: "udp", PortMin: 5060, PortMax: 5060, What: "SIP"},
		{Name: "rtp", Proto: "udp", PortMin: 10000, PortMax: 20000, What: "RTP"},
		{Name: "metrics", Proto: "tcp", PortMin: 9464, PortMax: 9464, Sources: []netip.Prefix{netip.MustParsePrefix("fc00::/7")}, What: "metrics"},
		{Name: "sandbox", Proto: "tcp", Addr: netip.MustParseAddr("127.0.0.1"), What: "sandbox"},
	}
	var b bytes.Buffer
	if err := NFTables(&b, "n1", ls); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		`ip daddr 10.0.0.2 ip saddr { 10.1.0.0/16 } tcp dport 8443 accept comment "api: API"`, // the IPv6 source cannot reach an IPv4 address
		`udp dport 5060 accept comment "sip-udp: SIP"`,
		`udp dport 10000-20000 accept comment "rtp: RTP"`,
		`ip6 saddr { fc00::/7 } tcp dport 9464 accept comment "metrics: metrics"`,
		`# sandbox: tcp 127.0.0.1 ephemeral (this host only`,
		"policy drop;",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("ruleset lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "2001:db8") || strings.Contains(out, "ip saddr { fc00") {
		t.Errorf("a source of the wrong family made a rule:\n%s", out)
	}
	b.Reset()
	Text(&b, "n1", ls)
	if !strings.Contains(b.String(), "10.1.0.0/16, 2001:db8::/32") || !strings.Contains(b.String(), "this host") {
		t.Errorf("text manifest:\n%s", b.String())
	}
	for _, c := range []struct {
		l     int
		proto string
		ap    string
		want  bool
	}{
		{0, "tcp", "10.0.0.2:8443", true}, {0, "tcp", "10.0.0.3:8443", false}, {0, "udp", "10.0.0.2:8443", false},
		{1, "udp", "[::]:5060", true}, {1, "udp", "192.0.2.1:5061", false},
		{2, "udp", "0.0.0.0:15000", true}, {2, "udp", "0.0.0.0:20001", false},
		{4, "tcp", "127.0.0.1:41234", true}, {4, "tcp", "127.0.0.2:41234", false},
	} {
		if got := ls[c.l].Matches(c.proto, netip.MustParseAddrPort(c.ap)); got != c.want {
			t.Errorf("%s Matches(%s %s) = %v, want %v", ls[c.l].Name, c.proto, c.ap, got, c.want)
		}
	}
}
