package identity

import (
	"context"
	"net/netip"
	"strings"
	"time"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/audit"
)

// Every text or call that carries a code costs the operator money, and a signup form
// that sends them to any number without a login invites SMS pumping and toll fraud.
// Before each send, admitSend checks, in this order: the destination's country, the
// per-number and per-address throttles (in memory), and the budgets kept in the database
// (per source network, per destination prefix, and for the whole installation per hour
// and per day), which hold across restarts and nodes. A refused send is audited (at most
// once a minute per limit and key, so a flood cannot flood the audit log) and counted in
// the metrics.

// Budgets bound verification sends. A zero field takes its default.
type Budgets struct {
	PerHour, PerDay int // all sends of the installation; default 100 and 500
	// PerPrefixHour bounds the sends per hour to numbers sharing their first
	// PrefixDigits digits (country code and area); default 10 and 6.
	PerPrefixHour, PrefixDigits int
	// PerNetworkHour bounds the sends per hour asked from one network: an IPv4 /24 or
	// an IPv6 /64 (one subscriber's share, however many addresses it holds); default 30.
	PerNetworkHour int
}

func (b *Budgets) defaults() {
	for _, d := range []struct {
		p *int
		v int
	}{{&b.PerHour, 100}, {&b.PerDay, 500}, {&b.PerPrefixHour, 10}, {&b.PrefixDigits, 6}, {&b.PerNetworkHour, 30}} {
		if *d.p <= 0 {
			*d.p = d.v
		}
	}
}

// Metrics counts refused sends by the limit that refused them.
type Metrics interface {
	VerificationRefused(limit string)
}

// Limits that refuse a send, as audit entries and metrics name them.
const (
	LimitCountry    = "country"
	LimitNumber     = "number"
	LimitAddress    = "address"
	LimitNetwork    = "network"
	LimitPrefix     = "prefix"
	LimitGlobalHour = "global_hour"
	LimitGlobalDay  = "global_day"
)

// SourceNetwork is the network a source address belongs to for throttling: its /24 for
// IPv4, its /64 for IPv6 (a subscriber commonly holds a whole /64). An unparsable source
// is its own network.
func SourceNetwork(source string) string {
	a, err := netip.ParseAddr(source)
	if err != nil {
		return source
	}
	a = a.Unmap()
	bits := 64
	if a.Is4() {
		bits = 24
	}
	p, _ := a.Prefix(bits)
	return p.String()
}

// countryAllowed reports whether phone (E.164 digits) is in an allowed country.
func (s *Service) countryAllowed(phone string) bool {
	if len(s.o.VerifyPrefixes) == 0 {
		return true
	}
	for _, p := range s.o.VerifyPrefixes {
		if strings.HasPrefix(phone, p) {
			return true
		}
	}
	return false
}

var (
	errBudget  = &Error{Msg: "Codes cannot be sent right now. Try again later."}
	errCountry = &Error{Field: "phone", Msg: "Codes cannot be sent to numbers in that country from this installation. Use a number of another country, or ask the operator."}
)

// admitSend decides whether a code may be sent to phone for a request from source,
// spending from every throttle and budget when it may. It is the one gate before
// CodeSender.SendCode, for both channels and every purpose.
func (s *Service) admitSend(ctx context.Context, purpose, channel, phone, source string) error {
	refuse := func(limit, key string, err error) error {
		s.refused(ctx, purpose, channel, phone, source, limit, key)
		return err
	}
	if !s.countryAllowed(phone) {
		return refuse(LimitCountry, "", errCountry)
	}
	if ok, wait := s.sendAddr.Allow(source); !ok {
		return refuse(LimitAddress, source, throttled("codes sent from your address", wait))
	}
	if ok, wait := s.sendNumber.Allow(phone); !ok {
		return refuse(LimitNumber, phone, throttled("codes sent to this number", wait))
	}
	b := s.o.Budgets
	net := SourceNetwork(source)
	prefix := phone[:min(len(phone), b.PrefixDigits)]
	budgets := []struct {
		limit string
		trunkline.SendBudget
	}{
		{LimitNetwork, trunkline.SendBudget{Bucket: "net:" + net, Window: time.Hour, Limit: b.PerNetworkHour}},
		{LimitPrefix, trunkline.SendBudget{Bucket: "prefix:" + prefix, Window: time.Hour, Limit: b.PerPrefixHour}},
		{LimitGlobalHour, trunkline.SendBudget{Bucket: "global:hour", Window: time.Hour, Limit: b.PerHour}},
		{LimitGlobalDay, trunkline.SendBudget{Bucket: "global:day", Window: 24 * time.Hour, Limit: b.PerDay}},
	}
	list := make([]trunkline.SendBudget, len(budgets))
	for i, x := range budgets {
		list[i] = x.SendBudget
	}
	i, err := s.st.TakeSendBudgets(ctx, s.o.Now(), list)
	if err != nil {
		return err
	}
	if i < 0 {
		return nil
	}
	if budgets[i].limit == LimitNetwork {
		return refuse(LimitNetwork, net, &Error{Msg: "Too many codes were asked for from your network. Try again later."})
	}
	return refuse(budgets[i].limit, budgets[i].Bucket, errBudget)
}

// refused counts and audits a refused send. The audit entry names the limit and shows
// the number masked like everywhere else (its country and area stay readable, which is
// what an operator needs to see a pumping run); entries are limited to one a minute per
// limit and key, the metric counts every refusal.
func (s *Service) refused(ctx context.Context, purpose, channel, phone, source, limit, key string) {
	if s.o.Metrics != nil {
		s.o.Metrics.VerificationRefused(limit)
	}
	s.o.Logger.Warn("verification send refused", "limit", limit, "purpose", purpose, "source", source)
	if ok, _ := s.refusalAudit.Allow(limit + "|" + key); !ok {
		return
	}
	s.audit(ctx, audit.Entry{Actor: "console", Action: "verification.refused", ObjectType: "verification",
		Source: source, Outcome: audit.Denied, Detail: map[string]string{"limit": limit, "purpose": purpose,
			"channel": channel, "to": MaskPhone(phone)}})
}
