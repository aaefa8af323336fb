package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/cluster"
	"github.com/trunkline/trunkline/message"
	"github.com/trunkline/trunkline/store"
	"github.com/trunkline/trunkline/voice"
)

// newMember makes this node's cluster membership, before the servers start: the
// message workers claim work under its Owner from the start (fencing). joinCluster
// announces it once the servers are bound.
func (m *Main) newMember() {
	c := m.cfg
	m.member = cluster.New(cluster.Options{
		Node:  trunkline.Node{Name: c.NodeName, Roles: []string{"api", "sip", "sms"}, Version: version},
		Store: m.p.db, Heartbeat: c.Bus.Heartbeat.Duration, DeadAfter: c.Bus.DeadAfter.Duration,
		Load: func() trunkline.NodeLoad {
			return trunkline.NodeLoad{Calls: m.vs.srv.Active(), Binds: m.msg.bound(), BusPeers: m.p.nats.Peers()}
		},
		Lost: cluster.Lost{Code: voice.CauseNodeLost.Code, Name: voice.CauseNodeLost.Name, Source: voice.CauseNodeLost.Source,
			// A closure: voice starts after the member is made.
			Tell: func(ctx context.Context, calls []*trunkline.Call) { m.vs.srv.EndLost(ctx, calls) }},
		// The dead node's messages are free again: every node's workers look.
		Wake: func() { m.msg.svc.Wake(); m.p.bus.Publish(message.WakeSubject, nil) },
		// Given up for dead and back: the survivors ended this node's calls in the
		// records; they end here too (BYE), the records as the survivors left them.
		Fenced: func(context.Context) {
			if n := m.vs.srv.EndFenced(); n > 0 {
				m.log.Warn("ended the calls this node carried when it was given up for dead", "calls", n)
			}
		},
		Logger: m.log,
	})
}

// joinCluster makes this node a cluster member: it announces itself (name, roles,
// addresses) with a heartbeat, and takes over the work of nodes that stop heartbeating.
func (m *Main) joinCluster(ctx context.Context) error {
	addrs := map[string]string{"sip": m.SIPAddr().String()}
	if a := m.APIAddr(); a.IsValid() {
		addrs["api"] = a.String()
	}
	if n := m.p.nats; n != nil {
		if a := n.ClientAddr(); a.IsValid() {
			addrs["bus"] = a.String()
		}
		if a := n.RouteAddr(); a.IsValid() {
			addrs["route"] = a.String()
		}
	}
	m.member.SetAddresses(addrs)
	return m.member.Start(ctx)
}

// restartedNode cleans up after this node's previous run, when it restarts before the
// others noticed it had died: its bind-slot and leader leases are let go (this run
// takes what it needs again) and the calls it held are ended in the records; the
// caller tells their applications once voice is up. Runs before messaging and voice
// start, so nothing of this run is touched.
func (m *Main) restartedNode(ctx context.Context) ([]*trunkline.Call, error) {
	name := m.cfg.NodeName
	if err := m.p.db.DropLeasesOf(ctx, name); err != nil {
		return nil, err
	}
	lost := voice.CauseNodeLost
	calls, err := m.p.db.EndCallsOf(ctx, name, lost.Code, lost.Name, lost.Source, cluster.LostReason(name))
	if err != nil {
		return nil, err
	}
	if len(calls) > 0 {
		m.log.Warn("ended the calls this node held when it last stopped", "calls", len(calls))
	}
	return calls, nil
}

// cmdCluster runs `trunkline cluster status`: the nodes the shared database knows,
// their state, roles, addresses, binds and calls, and which one leads.
func cmdCluster(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "status" {
		return usageError("cluster needs a subcommand: status")
	}
	o := newOperatorCmd("cluster status", stderr)
	if err := o.fs.Parse(args[1:]); err != nil {
		return err
	}
	c, err := o.f.load(o.fs, stderr)
	if err != nil {
		return err
	}
	db, err := store.Open(ctx, c.DSN())
	if err != nil {
		return err
	}
	defer db.Close()
	nodes, err := db.Nodes(ctx)
	if err != nil {
		return err
	}
	leader, err := db.LeaseHolder(ctx, cluster.LeaderLease)
	if err != nil {
		return err
	}
	now := time.Now()
	if o.f.asJSON {
		type row struct {
			Name        string            `json:"name"`
			State       string            `json:"state"`
			Leader      bool              `json:"leader"`
			Roles       []string          `json:"roles"`
			Addresses   map[string]string `json:"addresses"`
			Version     string            `json:"version"`
			StartedAt   time.Time         `json:"started_at"`
			HeartbeatAt time.Time         `json:"heartbeat_at"`
			Binds       int               `json:"binds"`
			Calls       int               `json:"calls"`
			BusPeers    int               `json:"bus_peers"`
		}
		out := []row{}
		for _, n := range nodes {
			out = append(out, row{n.Name, n.State, n.Name == leader, n.Roles, n.Addresses, n.Version, n.StartedAt, n.HeartbeatAt, n.Binds, n.Calls, n.BusPeers})
		}
		printJSON(stdout, out)
		return nil
	}
	if len(nodes) == 0 {
		fmt.Fprintln(stdout, "no nodes: no node of a cluster (bus.kind = \"nats\") has run on this database")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tSTATE\tROLES\tAPI\tSIP\tBUS ROUTE\tBUS PEERS\tBINDS\tCALLS\tHEARTBEAT\tVERSION")
	for _, n := range nodes {
		name := n.Name
		if name == leader {
			name += " (leader)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s ago\t%s\n", name, n.State, strings.Join(n.Roles, ","),
			n.Addresses["api"], n.Addresses["sip"], n.Addresses["route"], n.BusPeers, n.Binds, n.Calls,
			now.Sub(n.HeartbeatAt).Round(time.Millisecond), n.Version)
	}
	return tw.Flush()
}
