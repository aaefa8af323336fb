package trunkline

import "time"

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
}

// Node states.
const (
	NodeUp   = "up"
	NodeDead = "dead" // stopped heartbeating: its work was taken over
	NodeLeft = "left" // stopped cleanly
)
