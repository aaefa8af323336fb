// Package trunk is Trunkline's view of its voice trunks (SIP carriers): which trunk an
// inbound INVITE comes from (an address allow list, the inbound ACL), which trunks an
// outbound call tries and in what order (routes by prefix or country, priority, weight,
// health), and whether each trunk is up, learned from SIP OPTIONS probes (Prober). The
// SIP server (package voice) owns the sockets; this package only decides.
package trunk

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/trunkline/trunkline/carrier"
	"github.com/trunkline/trunkline/config"
)

// Trunk is one configured SIP carrier.
type Trunk struct {
	Name      string
	Address   string // host:port outbound calls and probes go to
	Transport string // "udp", "tcp" or "tls"
	// Username and Password are digest credentials for outbound calls (Password read
	// from the password file when one is configured); empty when the trunk needs none.
	Username, Password string
	// ProbeInterval is the OPTIONS keep-alive period; 0 means no probes.
	ProbeInterval time.Duration
	// Allow lists the ranges its INVITEs may come from.
	Allow  []netip.Prefix
	Health *carrier.Health
}

// URI is the SIP URI of user at the trunk (user may be empty, as in OPTIONS probes):
// sip:user@host:port, with ;transport=tcp or ;transport=tls when not UDP. TLS keeps the
// sip: scheme, since some peers never ACK a sips: Contact.
func (t *Trunk) URI(user string) sip.Uri {
	host, port, _ := net.SplitHostPort(t.Address)
	p, _ := strconv.Atoi(port)
	u := sip.Uri{Scheme: "sip", User: user, Host: host, Port: p}
	if t.Transport != "udp" {
		u.UriParams = sip.NewParams()
		u.UriParams.Add("transport", t.Transport)
	}
	return u
}

// Resolver looks up a host's addresses; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Options configure a Set. Zero fields take defaults.
type Options struct {
	Health   carrier.HealthOptions // thresholds of every trunk's Health
	Resolver Resolver              // for default allow lists (net.DefaultResolver)
	Rand     *rand.Rand            // weighted order in Pick (seeded randomly)
}

// Set holds the trunks and voice routes. Its methods are safe for concurrent use.
type Set struct {
	trunks []*Trunk
	byName map[string]*Trunk
	acl    []aclEntry // narrowest range first
	routes []route    // longest prefix first

	randMu sync.Mutex
	rand   *rand.Rand
}

type aclEntry struct {
	prefix netip.Prefix
	trunk  *Trunk
}

type route struct {
	prefix string
	hops   []hop // by priority, then as configured
}

type hop struct {
	trunk    *Trunk
	priority int
	weight   int
}

// lookupTimeout bounds the resolution of one trunk host at New.
const lookupTimeout = 10 * time.Second

// New builds the set from the configuration (which Validate has accepted; New still
// refuses what it cannot work with). A trunk without an allow list admits the
// addresses its host resolves to now; a lookup that fails is an error, since the trunk
// could not take inbound calls (give allow explicitly to start without DNS).
func New(cfg []config.Trunk, routes []config.Route, opts Options) (*Set, error) {
	if opts.Resolver == nil {
		opts.Resolver = net.DefaultResolver
	}
	if opts.Rand == nil {
		opts.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	s := &Set{byName: map[string]*Trunk{}, rand: opts.Rand}
	for _, c := range cfg {
		if c.Name == "" {
			return nil, fmt.Errorf("a trunk has no name")
		}
		if s.byName[c.Name] != nil {
			return nil, fmt.Errorf("trunk name %q is used twice", c.Name)
		}
		t, err := newTrunk(c, opts)
		if err != nil {
			return nil, fmt.Errorf("trunk %q: %w", c.Name, err)
		}
		s.trunks = append(s.trunks, t)
		s.byName[t.Name] = t
		for _, p := range t.Allow {
			s.acl = append(s.acl, aclEntry{p, t})
		}
	}
	// The narrowest range decides when ranges of two trunks overlap.
	slices.SortStableFunc(s.acl, func(a, b aclEntry) int { return cmp.Compare(b.prefix.Bits(), a.prefix.Bits()) })
	for _, r := range routes {
		rt := route{prefix: r.RoutePrefix()}
		if r.Country != "" && rt.prefix == "" {
			return nil, fmt.Errorf("route: country %q is not known", r.Country)
		}
		for _, h := range r.Carriers {
			t := s.byName[h.Name]
			if t == nil {
				return nil, fmt.Errorf("route %q names trunk %q, which is not configured", rt.prefix, h.Name)
			}
			if h.Weight < 0 {
				return nil, fmt.Errorf("route %q: trunk %q has a negative weight", rt.prefix, h.Name)
			}
			rt.hops = append(rt.hops, hop{trunk: t, priority: h.Priority, weight: max(h.Weight, 1)})
		}
		if len(rt.hops) == 0 {
			continue
		}
		slices.SortStableFunc(rt.hops, func(a, b hop) int { return cmp.Compare(a.priority, b.priority) })
		// A trunk listed twice is tried once per call, at its best priority.
		seen := map[*Trunk]bool{}
		rt.hops = slices.DeleteFunc(rt.hops, func(h hop) bool {
			dup := seen[h.trunk]
			seen[h.trunk] = true
			return dup
		})
		s.routes = append(s.routes, rt)
	}
	slices.SortStableFunc(s.routes, func(a, b route) int { return cmp.Compare(len(b.prefix), len(a.prefix)) })
	return s, nil
}

func newTrunk(c config.Trunk, opts Options) (*Trunk, error) {
	host, port, err := net.SplitHostPort(c.Address)
	if n, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
		return nil, fmt.Errorf("address %q is not host:port", c.Address)
	}
	t := &Trunk{Name: c.Name, Address: c.Address, Transport: strings.ToLower(cmp.Or(c.Transport, "udp")),
		Username: c.Username, Password: c.Password, ProbeInterval: max(c.ProbeInterval.Duration, 0),
		Health: carrier.NewHealth(opts.Health)}
	switch t.Transport {
	case "udp", "tcp", "tls":
	default:
		return nil, fmt.Errorf("transport %q must be udp, tcp or tls", c.Transport)
	}
	if c.PasswordFile != "" {
		b, err := os.ReadFile(c.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("password_file: %w", err)
		}
		t.Password = strings.TrimRight(string(b), "\r\n")
	}
	for _, a := range c.Allow {
		p, err := config.ParseAllow(a)
		if err != nil {
			return nil, fmt.Errorf("allow %q is not an IP address or range", a)
		}
		t.Allow = append(t.Allow, p)
	}
	if len(c.Allow) == 0 {
		ips, err := lookup(opts.Resolver, host)
		if err != nil {
			return nil, fmt.Errorf("no allow list and %s does not resolve (%v): give allow explicitly", host, err)
		}
		for _, ip := range ips {
			ip = ip.Unmap().WithZone("")
			t.Allow = append(t.Allow, netip.PrefixFrom(ip, ip.BitLen()))
		}
	}
	return t, nil
}

func lookup(r Resolver, host string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{ip}, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	ips, err := r.LookupNetIP(ctx, "ip", host)
	if err == nil && len(ips) == 0 {
		err = fmt.Errorf("no addresses")
	}
	return ips, err
}

// Trunks returns the trunks in configuration order.
func (s *Set) Trunks() []*Trunk { return slices.Clone(s.trunks) }

// Trunk returns a trunk by name, or nil.
func (s *Set) Trunk(name string) *Trunk { return s.byName[name] }

// Match returns the trunk an inbound request from addr belongs to, or nil when addr is
// in no trunk's allow list (the caller refuses with 403 and no detail). When ranges of
// several trunks hold addr, the narrowest wins.
func (s *Set) Match(addr netip.Addr) *Trunk {
	if !addr.IsValid() {
		return nil
	}
	addr = addr.Unmap().WithZone("")
	for _, e := range s.acl {
		if e.prefix.Contains(addr) {
			return e.trunk
		}
	}
	return nil
}

// Pick returns the trunks to try, in order, for a call to dst (E.164, with or without
// "+"): the route with the longest matching prefix; within it, lower priorities first
// and a weighted random order within a priority; trunks whose health says not to use
// them come after all the others, as a last resort. No route gives nil.
func (s *Set) Pick(dst string) []*Trunk {
	dst = strings.TrimPrefix(dst, "+")
	var rt *route
	for i := range s.routes {
		if strings.HasPrefix(dst, s.routes[i].prefix) {
			rt = &s.routes[i]
			break
		}
	}
	if rt == nil {
		return nil
	}
	order := make([]*Trunk, 0, len(rt.hops))
	var down []*Trunk
	s.randMu.Lock()
	defer s.randMu.Unlock()
	for i := 0; i < len(rt.hops); {
		j := i
		for j < len(rt.hops) && rt.hops[j].priority == rt.hops[i].priority {
			j++
		}
		group := slices.Clone(rt.hops[i:j])
		for len(group) > 0 {
			total := 0
			for _, h := range group {
				total += h.weight
			}
			pick, k := s.rand.IntN(total), 0
			for ; pick >= group[k].weight; k++ {
				pick -= group[k].weight
			}
			t := group[k].trunk
			group = slices.Delete(group, k, k+1)
			if t.Health.Usable() {
				order = append(order, t)
			} else {
				down = append(down, t)
			}
		}
		i = j
	}
	return append(order, down...)
}
