package carrier

import (
	"sync"
	"time"
)

// Health tracks whether a carrier should get traffic, as a circuit breaker with
// hysteresis: it goes down when the recent failure ratio crosses DownRatio (over at least
// MinSamples results) or on DownAfterTimeouts consecutive timeouts, or at once when its
// binds drop; after Cooldown it lets trial traffic through (half-open) and comes back up
// only after UpAfter consecutive successes. Separate thresholds down and up keep a
// flapping carrier from taking and losing traffic on every message.
type Health struct {
	mu   sync.Mutex
	opts HealthOptions

	up        bool
	downSince time.Time
	window    []bool // recent outcomes, true = failure; ring buffer
	next      int
	filled    int
	timeouts  int // consecutive
	successes int // consecutive, counted while half-open
	reason    string
	// peer tells the other nodes of a cluster that this one found the carrier down
	// (see Share); nil on one node.
	peer func(kind, reason, _ string)
}

// Peers shares state changes with the other nodes of a cluster (ratelimit.Exchange
// does, over the bus).
type Peers interface {
	Register(name string, apply func(kind, a, b string)) func(kind, a, b string)
}

// Share makes the carrier's failures cluster-wide under name (the same on every node,
// e.g. "trunk.NAME"): when failures take it down here (failure ratio or timeouts), the
// other nodes mark it down too and stop sending to it at once, and the same from them
// here. Only going down is shared: each node comes back up through its own trial
// traffic after Cooldown, so a carrier reachable from some nodes only cannot flap the
// whole cluster. A bind lost (Unbound) is not shared either: binds are per node, and
// each node's router already skips a carrier it holds no bind to. A nil p leaves the
// health to this node.
func (h *Health) Share(p Peers, name string) {
	if p == nil {
		return
	}
	peer := p.Register(name, func(kind, reason, _ string) {
		if kind == "down" {
			h.mu.Lock()
			if h.up {
				h.markDown("another node: " + reason)
			}
			h.mu.Unlock()
		}
	})
	h.mu.Lock()
	h.peer = peer
	h.mu.Unlock()
}

// HealthOptions are the thresholds. Zero fields take the defaults.
type HealthOptions struct {
	Window            int           // outcomes remembered (default 20)
	MinSamples        int           // before the ratio counts (default 5)
	DownRatio         float64       // failure ratio that marks down (default 0.5)
	DownAfterTimeouts int           // consecutive timeouts that mark down (default 3)
	UpAfter           int           // consecutive successes while half-open to mark up (default 3)
	Cooldown          time.Duration // down time before trial traffic (default 5 s)
	Now               func() time.Time
}

// NewHealth returns a Health that starts up. Voice trunks use it too, fed by OPTIONS
// probes and call outcomes.
func NewHealth(o HealthOptions) *Health {
	if o.Window == 0 {
		o.Window = 20
	}
	if o.MinSamples == 0 {
		o.MinSamples = 5
	}
	if o.DownRatio == 0 {
		o.DownRatio = 0.5
	}
	if o.DownAfterTimeouts == 0 {
		o.DownAfterTimeouts = 3
	}
	if o.UpAfter == 0 {
		o.UpAfter = 3
	}
	if o.Cooldown == 0 {
		o.Cooldown = 5 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Health{opts: o, up: true, window: make([]bool, o.Window)}
}

// State is a snapshot for status pages and metrics.
type State struct {
	Up       bool
	HalfOpen bool
	Reason   string
	Since    time.Time
}

// Usable reports whether traffic may go to the carrier now: up, or down long enough for
// a trial.
func (h *Health) Usable() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.up || h.opts.Now().Sub(h.downSince) >= h.opts.Cooldown
}

// Snapshot returns the current state.
func (h *Health) Snapshot() State {
	h.mu.Lock()
	defer h.mu.Unlock()
	return State{Up: h.up, HalfOpen: !h.up && h.opts.Now().Sub(h.downSince) >= h.opts.Cooldown, Reason: h.reason, Since: h.downSince}
}

func (h *Health) markDown(reason string) bool {
	was := h.up
	h.up, h.downSince, h.reason, h.successes = false, h.opts.Now(), reason, 0
	h.filled, h.next, h.timeouts = 0, 0, 0
	return was
}

// Success records a successful submit; it reports whether the carrier came back up.
func (h *Health) Success() (cameUp bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.timeouts = 0
	if !h.up {
		h.successes++
		if h.successes >= h.opts.UpAfter {
			h.up, h.reason = true, ""
			return true
		}
		return false
	}
	h.push(false)
	return false
}

// Failure records a failed submit (timeout says whether it timed out); it reports
// whether the carrier went down because of it.
func (h *Health) Failure(timeout bool, reason string) (wentDown bool) {
	h.mu.Lock()
	wentDown = h.failure(timeout, reason)
	peer := h.peer
	h.mu.Unlock()
	if wentDown && peer != nil {
		peer("down", reason, "") // outside the lock: a local bus may call back at once
	}
	return wentDown
}

func (h *Health) failure(timeout bool, reason string) bool {
	if !h.up {
		// A failed trial: back to a full cool-down.
		h.downSince, h.successes, h.reason = h.opts.Now(), 0, reason
		return false
	}
	if timeout {
		h.timeouts++
	} else {
		h.timeouts = 0
	}
	h.push(true)
	if h.timeouts >= h.opts.DownAfterTimeouts {
		return h.markDown(reason)
	}
	if h.filled >= h.opts.MinSamples {
		fails := 0
		for i := 0; i < h.filled; i++ {
			if h.window[i] {
				fails++
			}
		}
		if float64(fails)/float64(h.filled) >= h.opts.DownRatio {
			return h.markDown(reason)
		}
	}
	return false
}

// Unbound marks the carrier down at once (its binds dropped).
func (h *Health) Unbound(reason string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.up {
		return false
	}
	return h.markDown(reason)
}

func (h *Health) push(failed bool) {
	h.window[h.next] = failed
	h.next = (h.next + 1) % len(h.window)
	if h.filled < len(h.window) {
		h.filled++
	}
}
