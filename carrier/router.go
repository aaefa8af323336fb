// Package carrier routes SMS to carriers: routes map destination prefixes to carriers
// with priority and weight; load is spread by weight over the healthy carriers of the
// best priority; a submit that fails with a retryable status or times out goes to the
// next carrier in the same attempt chain, while statuses that say the message itself is
// wrong (e.g. an invalid destination) end it. Every attempt is recorded, and carriers
// going down and up are reported (the server audits them).
package carrier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/message"
	"github.com/trunkline/trunkline/smpp/charset"
	"github.com/trunkline/trunkline/smpp/pdu"
	"github.com/trunkline/trunkline/smpp/session"
)

// Transport submits PDUs to one carrier (a session.Client, or a pool of them).
type Transport interface {
	Submit(ctx context.Context, m *pdu.SubmitSM) (*pdu.SubmitSMResp, error)
	Bound() bool
}

// Carrier is one configured carrier with its transport and health.
type Carrier struct {
	Name      string
	Transport Transport
	Health    *Health
	sent      atomic.Int64
	failed    atomic.Int64
}

// Counts reports how many submits the carrier took and refused.
func (c *Carrier) Counts() (sent, failed int64) { return c.sent.Load(), c.failed.Load() }

// Hop is one carrier of a route.
type Hop struct {
	Carrier  string
	Priority int // lower is tried first
	Weight   int // share of traffic among hops of the same priority
}

// Route sends destinations starting with Prefix (E.164 digits; "" matches all) to Hops.
type Route struct {
	Prefix string
	Hops   []Hop
}

// Event tells of a carrier going down or coming up, or of a failover.
type Event struct {
	Kind    string // "carrier.down", "carrier.up", "carrier.failover"
	Carrier string
	Reason  string
	Message string // message uuid for failovers
}

// Options configure a Router.
type Options struct {
	Carriers []*Carrier
	Routes   []Route
	Health   HealthOptions // used for carriers without a Health
	OnEvent  func(Event)   // called synchronously; keep it quick
	Metrics  Metrics       // optional
	Logger   *slog.Logger
	Now      func() time.Time
	Rand     *rand.Rand // for weighted choice; seeded randomly when nil
}

// Metrics receives what the router counts.
type Metrics interface {
	Attempt(carrier, outcome string, latency time.Duration)
	Failover(carrier string)
	CarrierState(carrier string, up bool)
}

type noMetrics struct{}

func (noMetrics) Attempt(string, string, time.Duration) {}
func (noMetrics) Failover(string)                       {}
func (noMetrics) CarrierState(string, bool)             {}

// Router implements message.Sender.
type Router struct {
	o        Options
	carriers map[string]*Carrier
	routes   []Route // longest prefix first
	randMu   sync.Mutex
	refSeq   atomic.Uint32
}

var _ message.Sender = (*Router)(nil)

// New returns a router. It checks that every hop names a configured carrier.
func New(o Options) (*Router, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	if o.Health.Now == nil {
		o.Health.Now = o.Now
	}
	if o.Metrics == nil {
		o.Metrics = noMetrics{}
	}
	r := &Router{o: o, carriers: map[string]*Carrier{}}
	for _, c := range o.Carriers {
		if c.Health == nil {
			c.Health = NewHealth(o.Health)
		}
		r.carriers[c.Name] = c
		o.Metrics.CarrierState(c.Name, true)
	}
	for _, rt := range o.Routes {
		for _, h := range rt.Hops {
			if r.carriers[h.Carrier] == nil {
				return nil, fmt.Errorf("route %q names carrier %q, which is not configured", rt.Prefix, h.Carrier)
			}
			if h.Weight <= 0 {
				return nil, fmt.Errorf("route %q: carrier %q needs a positive weight", rt.Prefix, h.Carrier)
			}
		}
		r.routes = append(r.routes, rt)
	}
	sort.SliceStable(r.routes, func(i, j int) bool { return len(r.routes[i].Prefix) > len(r.routes[j].Prefix) })
	return r, nil
}

// Carrier returns a configured carrier by name.
func (r *Router) Carrier(name string) *Carrier { return r.carriers[name] }

func (r *Router) route(dst string) *Route {
	for i := range r.routes {
		if strings.HasPrefix(dst, r.routes[i].Prefix) && len(r.routes[i].Hops) > 0 {
			return &r.routes[i]
		}
	}
	return nil
}

// Routable reports whether a route serves dst.
func (r *Router) Routable(dst string) bool { return r.route(dst) != nil }

// chain orders a route's carriers for one message: by priority, and within a priority
// a weighted random order of the usable carriers; carriers that are down come last, so
// a message still goes somewhere when everything looks down.
func (r *Router) chain(rt *Route) []*Carrier {
	byPrio := map[int][]Hop{}
	var prios []int
	for _, h := range rt.Hops {
		if _, ok := byPrio[h.Priority]; !ok {
			prios = append(prios, h.Priority)
		}
		byPrio[h.Priority] = append(byPrio[h.Priority], h)
	}
	sort.Ints(prios)
	var usable, down []*Carrier
	r.randMu.Lock()
	defer r.randMu.Unlock()
	for _, p := range prios {
		hops := append([]Hop(nil), byPrio[p]...)
		for len(hops) > 0 {
			total := 0
			for _, h := range hops {
				total += h.Weight
			}
			pick := r.o.Rand.IntN(total)
			i := 0
			for ; pick >= hops[i].Weight; i++ {
				pick -= hops[i].Weight
			}
			c := r.carriers[hops[i].Carrier]
			hops = append(hops[:i], hops[i+1:]...)
			if c.Transport.Bound() && c.Health.Usable() {
				usable = append(usable, c)
			} else {
				down = append(down, c)
			}
		}
	}
	return append(usable, down...)
}

// Send submits every part of s through one carrier, failing over along the chain.
func (r *Router) Send(ctx context.Context, s *message.Submission) (*message.SendResult, error) {
	rt := r.route(s.Dst)
	if rt == nil {
		return nil, &message.SendError{Code: message.ErrNoRoute, Reason: "no route for the destination"}
	}
	var attempts []trunkline.Attempt
	var last error
	for i, c := range r.chain(rt) {
		if !c.Transport.Bound() {
			attempts = append(attempts, trunkline.Attempt{Carrier: c.Name, Status: "not_bound", At: r.o.Now()})
			last = session.ErrNotBound
			continue
		}
		if i > 0 && last != nil {
			r.o.Metrics.Failover(c.Name)
			if r.o.OnEvent != nil {
				r.o.OnEvent(Event{Kind: "carrier.failover", Carrier: c.Name, Reason: errString(last), Message: s.MessageUUID})
			}
		}
		start := r.o.Now()
		ids, err := r.submitAll(ctx, c, s)
		if errors.Is(err, message.ErrFenced) {
			return nil, err // this node may no longer send it: nothing to say of the carrier
		}
		a := trunkline.Attempt{Carrier: c.Name, Status: "ok", Latency: r.o.Now().Sub(start), At: start}
		r.o.Metrics.Attempt(c.Name, outcome(err), a.Latency)
		if err == nil {
			c.sent.Add(1)
			if c.Health.Success() {
				r.o.Metrics.CarrierState(c.Name, true)
				if r.o.OnEvent != nil {
					r.o.OnEvent(Event{Kind: "carrier.up", Carrier: c.Name, Reason: "trial traffic succeeded"})
				}
			}
			return &message.SendResult{Carrier: c.Name, IDs: ids, Attempts: append(attempts, a)}, nil
		}
		c.failed.Add(1)
		a.Status = errString(err)
		attempts = append(attempts, a)
		last = err
		if ctx.Err() != nil {
			break
		}
		if !session.Retryable(err) && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			// The message itself was refused: another carrier would refuse it too.
			return nil, &message.SendError{Code: plivoCode(err), Reason: errString(err), Attempts: attempts}
		}
		timeout := errors.Is(err, session.ErrTimeout)
		if c.Health.Failure(timeout, errString(err)) {
			r.o.Metrics.CarrierState(c.Name, false)
			if r.o.OnEvent != nil {
				r.o.OnEvent(Event{Kind: "carrier.down", Carrier: c.Name, Reason: errString(err)})
			}
		}
	}
	return nil, &message.SendError{Retry: true, Reason: "no carrier took the message: " + errString(last), Attempts: attempts}
}

// submitAll sends the parts of s as submit_sm PDUs (with a concatenation header when
// there are several) and returns the SMSC's id of each.
func (r *Router) submitAll(ctx context.Context, c *Carrier, s *message.Submission) ([]string, error) {
	ref := byte(r.refSeq.Add(1))
	ids := make([]string, 0, len(s.Parts))
	srcTON, srcNPI := uint8(1), uint8(1) // international, ISDN
	if !isDigits(s.Src) {
		srcTON, srcNPI = 5, 0 // alphanumeric sender ID
	}
	for i, part := range s.Parts {
		m := &pdu.SubmitSM{SourceAddrTON: srcTON, SourceAddrNPI: srcNPI, SourceAddr: s.Src, DestAddrTON: 1, DestAddrNPI: 1,
			DestinationAddr: s.Dst, RegisteredDelivery: pdu.RegisteredDeliveryReceipt, DataCoding: s.Coding, ShortMessage: part}
		if len(s.Parts) > 1 {
			m.ESMClass = pdu.ESMClassUDHI
			m.ShortMessage = append(charset.ConcatUDH8(ref, byte(len(s.Parts)), byte(i+1)), part...)
		}
		if !s.Expires.IsZero() {
			if d := s.Expires.Sub(r.o.Now()); d > time.Second {
				m.ValidityPeriod = pdu.FormatRelativeTime(d)
			}
		}
		resp, err := c.Transport.Submit(ctx, m)
		if err != nil {
			return nil, err
		}
		ids = append(ids, resp.MessageID)
	}
	return ids, nil
}

func outcome(err error) string {
	if err == nil {
		return "ok"
	}
	return errString(err)
}

func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	var se *session.StatusError
	if errors.As(err, &se) {
		return se.Status.String()
	}
	switch {
	case errors.Is(err, session.ErrTimeout):
		return "timeout"
	case errors.Is(err, session.ErrConnectionLost):
		return "connection_lost"
	case errors.Is(err, session.ErrNotBound):
		return "not_bound"
	}
	return "error"
}

// plivoCode maps a final SMPP refusal to Plivo's error code.
func plivoCode(err error) string {
	var se *session.StatusError
	if !errors.As(err, &se) {
		return message.ErrUnknown
	}
	switch se.Status {
	case pdu.ESME_RINVDSTADR, pdu.ESME_RINVDSTTON, pdu.ESME_RINVDSTNPI:
		return message.ErrInvalidDestination
	case pdu.ESME_RINVSRCADR, pdu.ESME_RINVSRCTON, pdu.ESME_RINVSRCNPI:
		return message.ErrInvalidSource
	case pdu.ESME_RINVMSGLEN:
		return message.ErrTooLong
	case pdu.ESME_RX_R_APPN:
		return message.ErrProhibited
	case pdu.ESME_RINVEXPIRY:
		return message.ErrExpired
	}
	return message.ErrInvalidMessage
}
