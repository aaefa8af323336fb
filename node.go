package trunkline

import (
	"strings"
	"time"
)

// Node is one Trunkline process of a cluster, as it announces itself in the store.
type Node struct {
	Name        string
	Incarnation string // new on every start
	State       string // NodeUp, NodeDead, NodeLeft
	Roles       []string
	// Addresses it serves on, by kind: "api", "sip", "bus", "route".
	Addresses   map[string]string
	Version     string
	StartedAt   time.Time
	HeartbeatAt time.Time
	Calls       int // live calls held
	Binds       int // SMPP binds open
	BusPeers    int // other nodes its bus has routes to (embedded NATS)
}

// NodeLoad is what a node reports with each heartbeat.
type NodeLoad struct {
	Calls, Binds, BusPeers int
}

// Node states.
const (
	NodeUp   = "up"
	NodeDead = "dead" // stopped heartbeating: its work was taken over
	NodeLeft = "left" // stopped cleanly
)

// NodeOwner is the lease owner a node's claims carry: its name and incarnation. A node
// given up for dead rejoins as a new incarnation, so what it claimed before is no
// longer its own: every write back of such a claim is refused (fencing). On one node
// (no cluster) the owner is the name alone.
func NodeOwner(name, incarnation string) string {
	if incarnation == "" {
		return name
	}
	return name + "/" + incarnation
}

// SplitNodeOwner is the inverse of NodeOwner.
func SplitNodeOwner(owner string) (name, incarnation string) {
	name, incarnation, _ = strings.Cut(owner, "/")
	return name, incarnation
}

// CallEnd is how calls are ended in the records when their node is gone.
type CallEnd struct {
	Code                 int
	Name, Source, Reason string
}

// Takeover is what a survivor took over from a node given up for dead.
type Takeover struct {
	Incarnation string  // the dead incarnation
	Messages    int64   // message leases freed
	Calls       []*Call // live calls ended in the records, hangup URL included
}
