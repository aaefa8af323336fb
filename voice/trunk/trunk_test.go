package trunk

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trunkline/trunkline/carrier"
	"github.com/trunkline/trunkline/config"
)

// fakeResolver answers from a map and counts lookups.
type fakeResolver struct {
	hosts   map[string][]netip.Addr
	lookups []string
}

func (r *fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.lookups = append(r.lookups, host)
	if ips, ok := r.hosts[host]; ok {
		return ips, nil
	}
	return nil, errors.New("no such host")
}

func addrs(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

func TestMatch(t *testing.T) {
	res := &fakeResolver{hosts: map[string][]netip.Addr{
		"sip.carrier-d.example": addrs("198.51.100.20", "2001:db8:d::20"),
		"sip.carrier-e.example": addrs("::ffff:198.51.100.30"), // v4-mapped answers match v4 sources
	}}
	cfg := []config.Trunk{
		{Name: "single", Address: "192.0.2.99:5060", Allow: []string{"192.0.2.10", "192.0.2.11"}},
		{Name: "cidr", Address: "203.0.113.1:5060", Allow: []string{"203.0.113.0/24"}},
		{Name: "narrow", Address: "203.0.113.200:5060", Allow: []string{"203.0.113.128/25"}},
		{Name: "v6", Address: "[2001:db8:6::1]:5060", Allow: []string{"2001:db8:6::/48", "::ffff:192.0.2.50"}},
		{Name: "literal", Address: "198.51.100.10:5080"},
		{Name: "named", Address: "sip.carrier-d.example:5060"},
		{Name: "mapped", Address: "sip.carrier-e.example:5060", Transport: "tcp"},
	}
	s, err := New(cfg, nil, Options{Resolver: res})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.lookups, []string{"sip.carrier-d.example", "sip.carrier-e.example"}) {
		t.Fatalf("lookups %v: only trunks without allow and with a host name need one", res.lookups)
	}
	cases := []struct {
		addr string
		want string // "" = no trunk
	}{
		{"192.0.2.10", "single"},
		{"192.0.2.11", "single"},
		{"192.0.2.12", ""},
		{"::ffff:192.0.2.10", "single"}, // a dual-stack socket reports v4 peers mapped
		{"203.0.113.7", "cidr"},
		{"203.0.113.129", "narrow"}, // the narrower range wins where they overlap
		{"203.0.113.255", "narrow"},
		{"203.0.114.1", ""},
		{"2001:db8:6::1", "v6"},
		{"2001:db8:6:ffff::abcd", "v6"},
		{"fe80::1%eth0", ""},
		{"2001:db8:7::1", ""},
		{"192.0.2.50", "v6"},
		{"198.51.100.10", "literal"},
		{"198.51.100.11", ""},
		{"198.51.100.20", "named"},
		{"2001:db8:d::20", "named"},
		{"198.51.100.30", "mapped"},
		{"127.0.0.1", ""},
		{"::", ""},
	}
	for _, tc := range cases {
		got := s.Match(netip.MustParseAddr(tc.addr))
		if name := nameOf(got); name != tc.want {
			t.Errorf("Match(%s) = %q, want %q", tc.addr, name, tc.want)
		}
	}
	if s.Match(netip.Addr{}) != nil {
		t.Error("the zero address matched a trunk")
	}
	if tr := s.Trunk("literal"); tr == nil || tr.Transport != "udp" || len(tr.Allow) != 1 || tr.Allow[0].String() != "198.51.100.10/32" {
		t.Fatalf("literal trunk %+v", tr)
	}
	if names := trunkNames(s.Trunks()); !slices.Equal(names, []string{"single", "cidr", "narrow", "v6", "literal", "named", "mapped"}) {
		t.Fatalf("Trunks() = %v", names)
	}
}

func TestNewRefuses(t *testing.T) {
	res := &fakeResolver{}
	cases := []struct {
		name   string
		trunks []config.Trunk
		routes []config.Route
		want   string
	}{
		{"unresolvable host", []config.Trunk{{Name: "a", Address: "gone.example:5060"}}, nil, "give allow explicitly"},
		{"bad allow", []config.Trunk{{Name: "a", Address: "192.0.2.1:5060", Allow: []string{"nope"}}}, nil, `allow "nope"`},
		{"bad address", []config.Trunk{{Name: "a", Address: "192.0.2.1"}}, nil, "host:port"},
		{"bad transport", []config.Trunk{{Name: "a", Address: "192.0.2.1:5060", Transport: "ws"}}, nil, "transport"},
		{"duplicate", []config.Trunk{{Name: "a", Address: "192.0.2.1:5060"}, {Name: "a", Address: "192.0.2.2:5060"}}, nil, "twice"},
		{"missing password file", []config.Trunk{{Name: "a", Address: "192.0.2.1:5060", Username: "u", PasswordFile: "/nonexistent/pw"}}, nil, "password_file"},
		{"unknown trunk in route", []config.Trunk{{Name: "a", Address: "192.0.2.1:5060"}},
			[]config.Route{{Prefix: "1", Carriers: []config.Hop{{Name: "b"}}}}, `trunk "b"`},
		{"unknown country", []config.Trunk{{Name: "a", Address: "192.0.2.1:5060"}},
			[]config.Route{{Country: "XX", Carriers: []config.Hop{{Name: "a"}}}}, "XX"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.trunks, tc.routes, Options{Resolver: res})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v does not mention %q", err, tc.want)
			}
		})
	}
}

func TestTrunkFields(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("s3cret\r\n"), 0o600)
	s, err := New([]config.Trunk{
		{Name: "udp", Address: "192.0.2.1:5060", ProbeInterval: config.Duration{Duration: 30 * time.Second}},
		{Name: "tls", Address: "[2001:db8::1]:5061", Transport: "TLS", Username: "acct", PasswordFile: pw},
		{Name: "tcp", Address: "192.0.2.3:5070", Transport: "tcp", Username: "acct", Password: "inline"},
	}, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, uri, password string
		probe               time.Duration
	}{
		{"udp", "sip:+14155550100@192.0.2.1:5060", "", 30 * time.Second},
		{"tls", "sip:+14155550100@[2001:db8::1]:5061;transport=tls", "s3cret", 0},
		{"tcp", "sip:+14155550100@192.0.2.3:5070;transport=tcp", "inline", 0},
	}
	for _, tc := range cases {
		tr := s.Trunk(tc.name)
		u := tr.URI("+14155550100")
		if got := u.String(); got != tc.uri {
			t.Errorf("%s: URI %s, want %s", tc.name, got, tc.uri)
		}
		if tr.Password != tc.password || tr.ProbeInterval != tc.probe || tr.Health == nil || !tr.Health.Usable() {
			t.Errorf("%s: %+v", tc.name, tr)
		}
	}
}

func TestPickRoutes(t *testing.T) {
	s, err := New(fiveTrunks(), []config.Route{
		{Country: "US", Carriers: []config.Hop{{Name: "a"}, {Name: "b"}}},
		{Prefix: "1415", Carriers: []config.Hop{{Name: "c"}, {Name: "d"}}},
		{Prefix: "44", Carriers: []config.Hop{{Name: "e", Priority: 2}, {Name: "d", Priority: 1}, {Name: "e", Priority: 0}}},
		{Prefix: "33"}, // no hops: ignored, so a shorter route could serve it
	}, Options{Rand: rand.New(rand.NewPCG(1, 2))})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		dst  string
		want []string // as a set, unless ordered
		ord  bool
	}{
		{"+14155550100", []string{"c", "d"}, false}, // the longer prefix beats the country
		{"14155550100", []string{"c", "d"}, false},
		{"+12125550100", []string{"a", "b"}, false},
		{"+447700900123", []string{"e", "d"}, true}, // a trunk listed twice keeps its best priority
		{"+33612345678", nil, true},
		{"+4915112345678", nil, true},
		{"", nil, true},
	}
	for _, tc := range cases {
		got := trunkNames(s.Pick(tc.dst))
		if !tc.ord {
			slices.Sort(got)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("Pick(%q) = %v, want %v", tc.dst, got, tc.want)
		}
	}
}

func TestPickPriorityAndWeights(t *testing.T) {
	s, err := New(fiveTrunks(), []config.Route{{Prefix: "", Carriers: []config.Hop{
		{Name: "e", Priority: 5, Weight: 1},
		{Name: "a", Priority: 1, Weight: 3},
		{Name: "b", Priority: 1, Weight: 1},
		{Name: "c", Priority: 2, Weight: 0}, // weight 0 counts as 1, like messaging
		{Name: "d", Priority: 2, Weight: 1},
	}}}, Options{Rand: rand.New(rand.NewPCG(7, 7))})
	if err != nil {
		t.Fatal(err)
	}
	const n = 4000
	firstA, firstC := 0, 0
	for i := 0; i < n; i++ {
		got := trunkNames(s.Pick("+5511999990000"))
		if len(got) != 5 || got[4] != "e" || !isPerm(got[:2], "a", "b") || !isPerm(got[2:4], "c", "d") {
			t.Fatalf("pick %d: %v does not follow priorities", i, got)
		}
		if got[0] == "a" {
			firstA++
		}
		if got[2] == "c" {
			firstC++
		}
	}
	// a:b is 3:1, so a leads 75% of the time; c:d is 1:1. The bounds are far beyond
	// what 4000 draws stray (σ ≈ 0.7 and 0.8 points).
	if r := float64(firstA) / n; r < 0.70 || r > 0.80 {
		t.Errorf("a first in %.3f of picks, want about 0.75", r)
	}
	if r := float64(firstC) / n; r < 0.45 || r > 0.55 {
		t.Errorf("c first in %.3f of its priority, want about 0.5", r)
	}
}

func TestPickUnhealthyLast(t *testing.T) {
	now := time.Unix(1000, 0)
	s, err := New(fiveTrunks(), []config.Route{{Prefix: "1", Carriers: []config.Hop{
		{Name: "a", Priority: 1, Weight: 100},
		{Name: "b", Priority: 1, Weight: 1},
		{Name: "c", Priority: 2, Weight: 1},
	}}}, Options{Rand: rand.New(rand.NewPCG(3, 4)), Health: carrier.HealthOptions{Cooldown: 10 * time.Second, Now: func() time.Time { return now }}})
	if err != nil {
		t.Fatal(err)
	}
	a := s.Trunk("a")
	for i := 0; i < 3; i++ {
		a.Health.Failure(true, "timeout")
	}
	if a.Health.Usable() {
		t.Fatal("a still usable after three timeouts")
	}
	for i := 0; i < 200; i++ {
		if got := trunkNames(s.Pick("+12025550100")); !slices.Equal(got, []string{"b", "c", "a"}) {
			t.Fatalf("with a down: %v, want [b c a]", got)
		}
	}
	// Everything down: still every trunk, in priority order, as a last resort.
	s.Trunk("b").Health.Unbound("test")
	s.Trunk("c").Health.Unbound("test")
	if got := trunkNames(s.Pick("+12025550100")); len(got) != 3 || got[2] != "c" {
		t.Fatalf("all down: %v", got)
	}
	// After the cool-down a is half-open and takes its place again (trial traffic).
	now = now.Add(11 * time.Second)
	s.Trunk("b").Health.Success()
	counts := map[string]int{}
	for i := 0; i < 200; i++ {
		got := trunkNames(s.Pick("+12025550100"))
		if got[2] != "c" {
			t.Fatalf("half-open: %v", got)
		}
		counts[got[0]]++
	}
	if counts["a"] < 150 {
		t.Fatalf("half-open a led only %d of 200 picks at weight 100:1", counts["a"])
	}
}

func fiveTrunks() []config.Trunk {
	var out []config.Trunk
	for i, n := range []string{"a", "b", "c", "d", "e"} {
		out = append(out, config.Trunk{Name: n, Address: "192.0.2." + string(rune('1'+i)) + ":5060"})
	}
	return out
}

func nameOf(t *Trunk) string {
	if t == nil {
		return ""
	}
	return t.Name
}

func trunkNames(ts []*Trunk) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.Name)
	}
	return out
}

func isPerm(got []string, want ...string) bool {
	g := slices.Clone(got)
	slices.Sort(g)
	return slices.Equal(g, want)
}
