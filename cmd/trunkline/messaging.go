package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/audit"
	"github.com/trunkline/trunkline/carrier"
	"github.com/trunkline/trunkline/cluster"
	"github.com/trunkline/trunkline/message"
	"github.com/trunkline/trunkline/sandbox"
	"github.com/trunkline/trunkline/smpp/pdu"
	"github.com/trunkline/trunkline/smpp/session"
)

// messaging is the running SMS stack: carrier binds, router, service, sandbox.
type messaging struct {
	svc     *message.Service
	router  *carrier.Router
	clients []*session.Client
	sandbox *sandbox.SMSC
	pools   []*carrier.Pool
	cancel  context.CancelFunc // stops the message workers
	done    chan struct{}      // closed when they have stopped
	// slotClosing counts binds of given-back slots still unbinding (cluster).
	slotClosing sync.WaitGroup
}

// bindSlot opens a bind of pool in a slot this node holds (cluster.Binds); the
// function it returns takes it out of the pool at once and unbinds it in the
// background (submits in flight get their responses).
func (m *messaging) bindSlot(pool *carrier.Pool, newClient func() *session.Client) func(slot int) func() {
	return func(slot int) func() {
		cl := newClient()
		pool.Set(slot, cl)
		cl.Start(context.Background()) // fails only on bad options, which check-config refuses
		return func() {
			pool.Set(slot, nil)
			m.slotClosing.Add(1)
			go func() {
				defer m.slotClosing.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				cl.Shutdown(ctx)
			}()
		}
	}
}

// bound is the number of binds up on this node.
func (m *messaging) bound() int {
	n := 0
	for _, p := range m.pools {
		n += p.BoundCount()
	}
	return n
}

// startMessaging binds to the configured carriers (or starts the sandbox carrier when
// none is configured) and starts the message workers.
func startMessaging(ctx context.Context, p *platform, fence message.Fence) (*messaging, error) {
	c := p.cfg
	m := &messaging{}
	var svc *message.Service // set below; carriers' deliver callbacks use it
	deliver := func(name string) func(context.Context, *pdu.DeliverSM) pdu.Status {
		return func(ctx context.Context, d *pdu.DeliverSM) pdu.Status {
			if svc == nil {
				return pdu.ESME_RX_T_APPN // not ready yet: the SMSC tries again
			}
			return svc.HandleDeliver(ctx, name, d)
		}
	}
	var carriers []*carrier.Carrier
	var routes []carrier.Route
	var spread []cluster.BindCarrier
	if len(c.Messaging.Carriers) == 0 {
		m.sandbox = sandbox.New(sandbox.Options{Logger: p.log, Notify: p.sandboxEvents})
		if err := m.sandbox.Start(ctx); err != nil {
			return nil, fmt.Errorf("sandbox carrier: %w", err)
		}
		cl := session.NewClient(session.ClientOptions{Name: sandbox.Name, Addr: m.sandbox.Addr().String(),
			SystemID: m.sandbox.SystemID, Password: m.sandbox.Password, Window: 64, OnDeliver: deliver(sandbox.Name), Logger: p.log})
		m.clients = append(m.clients, cl)
		pool := &carrier.Pool{Clients: []*session.Client{cl}}
		m.pools = append(m.pools, pool)
		carriers = append(carriers, &carrier.Carrier{Name: sandbox.Name, Transport: pool})
		routes = append(routes, carrier.Route{Prefix: "", Hops: []carrier.Hop{{Carrier: sandbox.Name, Weight: 1}}})
	}
	for _, cc := range c.Messaging.Carriers {
		password := cc.Password
		if cc.PasswordFile != "" {
			b, err := os.ReadFile(cc.PasswordFile)
			if err != nil {
				return nil, fmt.Errorf("carrier %s: %w", cc.Name, err)
			}
			password = strings.TrimRight(string(b), "\r\n")
		}
		var tlsConf *tls.Config
		if cc.TLS {
			tlsConf = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		binds := max(cc.Binds, 1)
		pool := &carrier.Pool{}
		car := &carrier.Carrier{Name: cc.Name, Transport: pool}
		newClient := func() *session.Client {
			return session.NewClient(session.ClientOptions{Name: cc.Name, Addr: cc.Address, TLS: tlsConf, SystemID: cc.SystemID,
				Password: password, SystemType: cc.SystemType, Window: cc.Window, TPS: cc.TPS, OnDeliver: deliver(cc.Name),
				ResponseTimeout: cc.ResponseTimeout.Duration, EnquireLink: cc.EnquireLink.Duration,
				MaxThrottleWait: cmp.Or(cc.ThrottleFailover.Duration, 2*time.Second),
				OnState: func(s session.State) {
					if s == session.StateDown && car.Health != nil && car.Health.Unbound("bind lost: "+s.String()) {
						p.metrics.CarrierState(car.Name, false)
						recordCarrierEvent(p, carrier.Event{Kind: "carrier.down", Carrier: car.Name, Reason: "bind lost"})
					}
				}, Logger: p.log})
		}
		m.pools = append(m.pools, pool)
		if c.Bus.Kind == "nats" {
			// In a cluster, binds is the carrier's limit for all the nodes together:
			// each node opens the slots it holds (cluster.Binds).
			spread = append(spread, cluster.BindCarrier{Name: cc.Name, Slots: binds, Open: m.bindSlot(pool, newClient)})
		} else {
			for i := 0; i < binds; i++ {
				cl := newClient()
				pool.Clients = append(pool.Clients, cl)
				m.clients = append(m.clients, cl)
			}
		}
		carriers = append(carriers, car)
	}
	for _, r := range c.Messaging.Routes {
		rt := carrier.Route{Prefix: r.RoutePrefix()}
		for _, h := range r.Carriers {
			rt.Hops = append(rt.Hops, carrier.Hop{Carrier: h.Name, Priority: h.Priority, Weight: max(h.Weight, 1)})
		}
		routes = append(routes, rt)
	}
	var err error
	m.router, err = carrier.New(carrier.Options{Carriers: carriers, Routes: routes, Logger: p.log, Metrics: p.metrics,
		OnEvent: func(e carrier.Event) { recordCarrierEvent(p, e) }})
	if err != nil {
		m.stop()
		return nil, err
	}
	if p.throttles != nil {
		// A carrier one node finds failing is failed over by every node at once.
		for _, car := range carriers {
			car.Health.Share(p.throttles, "carrier."+car.Name)
		}
	}
	svc = message.New(message.Options{DB: p.db, Ring: p.ring, Sender: m.router, Tokens: p.accounts, Webhooks: p.webhooks,
		Bus: p.bus, Metrics: p.metrics, Logger: p.log, Workers: c.Messaging.Workers, Node: c.NodeName, Fence: fence})
	m.svc = svc
	if _, err := p.bus.Subscribe(message.WakeSubject, func(trunkline.Msg) { svc.Wake() }); err != nil {
		m.stop()
		return nil, err
	}
	for _, cl := range m.clients {
		if err := cl.Start(ctx); err != nil {
			m.stop()
			return nil, err
		}
	}
	// Before the API takes sends (see ReleaseOldLeases).
	svc.ReleaseOldLeases(ctx)
	runCtx, cancel := context.WithCancel(ctx)
	m.cancel, m.done = cancel, make(chan struct{})
	var binds *cluster.Binds
	if len(spread) > 0 {
		binds = cluster.NewBinds(cluster.BindsOptions{Node: c.NodeName, Store: p.db, Every: c.Bus.Heartbeat.Duration,
			TTL: c.Bus.DeadAfter.Duration, Carriers: spread, Logger: p.log})
	}
	go func() {
		defer close(m.done)
		if binds != nil {
			// Stopped with the workers: the slots go back for the others to open.
			done := make(chan struct{})
			go func() { binds.Run(runCtx); close(done) }()
			defer func() { <-done }()
		}
		svc.Run(runCtx) // nil: it returns when runCtx ends
	}()
	return m, nil
}

// recordCarrierEvent logs and audits a carrier going down or up, or a failover.
func recordCarrierEvent(p *platform, e carrier.Event) {
	p.log.Warn("carrier event", "event", e.Kind, "carrier", e.Carrier, "reason", e.Reason, "message_uuid", e.Message)
	detail := map[string]string{"reason": e.Reason}
	if e.Message != "" {
		detail["message_uuid"] = e.Message
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := p.audit.Append(ctx, audit.Entry{Actor: "system", Action: e.Kind, ObjectType: "carrier", ObjectID: e.Carrier,
		Outcome: audit.Success, Detail: detail}); err != nil {
		p.log.Error("audit carrier event", "err", err)
	}
}

// stop drains: workers finish what they hold, binds unbind, the sandbox closes.
func (m *messaging) stop() {
	if m.cancel != nil {
		m.cancel()
		<-m.done
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, cl := range m.clients {
		cl.Shutdown(ctx)
	}
	m.slotClosing.Wait()
	if m.sandbox != nil {
		m.sandbox.Close()
	}
}
