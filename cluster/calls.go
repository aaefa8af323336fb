package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/trunkline/trunkline"
)

// CallStore is what call routing needs of the database: which node holds a live
// call, and which nodes are up.
type CallStore interface {
	CallNode(ctx context.Context, uuid string) (string, error)
	Nodes(ctx context.Context) ([]*trunkline.Node, error)
}

// Calls is the cluster's trunkline.CallService: calls are placed on this node; a
// request about a live call (get, hang up, cancel, transfer, play…) runs here when the
// call is here, and otherwise goes over the bus to the node holding it, found in the
// calls table. Listings gather every up node's calls.
type Calls struct {
	local   trunkline.CallService
	store   CallStore
	bus     trunkline.Bus
	node    string
	timeout time.Duration
	log     *slog.Logger
	sub     trunkline.Subscription
}

// CallsSubject is the subject a node answers live-call requests on.
func CallsSubject(node string) string { return "cluster.calls." + node }

// NewCalls returns the call service of node, serving local's calls to the others too.
// Close stops serving them.
func NewCalls(node string, local trunkline.CallService, store CallStore, bus trunkline.Bus, log *slog.Logger) (*Calls, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Calls{local: local, store: store, bus: bus, node: node, timeout: 5 * time.Second, log: log}
	sub, err := bus.Subscribe(CallsSubject(node), c.serve)
	if err != nil {
		return nil, err
	}
	c.sub = sub
	return c, nil
}

// Close stops answering the other nodes.
func (c *Calls) Close() error { return c.sub.Unsubscribe() }

var _ trunkline.CallService = (*Calls)(nil)

// callRequest is one live-call request between nodes.
type callRequest struct {
	Op      string                 `json:"op"` // live, get, hangup, cancel, command; stream_* (streams.go)
	UUID    string                 `json:"uuid,omitempty"`
	Command *trunkline.CallCommand `json:"command,omitempty"`
	Stream  *trunkline.StreamStart `json:"stream,omitempty"`
	// StreamID names one stream of the call ("" for all, to stop).
	StreamID string `json:"stream_id,omitempty"`
}

type callReply struct {
	OK     bool                     `json:"ok"`
	Call   *trunkline.LiveCall      `json:"call,omitempty"`
	Calls  []trunkline.LiveCall     `json:"calls,omitempty"`
	Result *trunkline.CommandResult `json:"result,omitempty"`
	// Streams are a call's audio streams (one for start and get).
	Streams []trunkline.StreamInfo `json:"streams,omitempty"`
	// Error is a trunkline.Error the holder returned (its code and message).
	Error *trunkline.Error `json:"error,omitempty"`
}

// serve answers another node's request about a call held here.
func (c *Calls) serve(m trunkline.Msg) {
	if m.Reply == nil {
		return
	}
	var req callRequest
	var rep callReply
	if err := json.Unmarshal(m.Data, &req); err != nil {
		rep.Error = &trunkline.Error{Code: trunkline.EINVALID, Message: "bad live-call request"}
	} else {
		switch req.Op {
		case "live":
			rep.Calls, rep.OK = c.local.Live(func(string) bool { return true }, false), true
			rep.Calls = append(rep.Calls, c.local.Live(func(string) bool { return true }, true)...)
		case "get":
			l, ok := c.local.Get(req.UUID)
			rep.OK = ok
			if ok {
				rep.Call = &l
			}
		case "hangup":
			rep.OK = c.local.Hangup(req.UUID)
		case "cancel":
			rep.OK = c.local.Cancel(req.UUID)
		case "command":
			if req.Command == nil {
				rep.Error = &trunkline.Error{Code: trunkline.EINVALID, Message: "no command"}
				break
			}
			ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
			res, err := c.local.Command(ctx, req.UUID, *req.Command)
			cancel()
			if err != nil {
				rep.Error = &trunkline.Error{Code: trunkline.ErrorCode(err), Message: trunkline.ErrorMessage(err)}
			} else {
				rep.OK, rep.Result = true, &res
			}
		default:
			if !c.serveStream(req, &rep) {
				rep.Error = &trunkline.Error{Code: trunkline.EINVALID, Message: "unknown live-call request"}
			}
		}
	}
	b, _ := json.Marshal(rep)
	if err := m.Reply(b); err != nil {
		c.log.Warn("answer a live-call request", "err", err)
	}
}

// ask sends req to node and decodes its reply.
func (c *Calls) ask(ctx context.Context, node string, req callRequest) (callReply, error) {
	var rep callReply
	b, _ := json.Marshal(req)
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	out, err := c.bus.Request(ctx, CallsSubject(node), b)
	if err != nil {
		return rep, err
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		return rep, err
	}
	if rep.Error != nil {
		return rep, rep.Error
	}
	return rep, nil
}

// holder names the other node holding live call uuid ("" when it is here or nowhere).
func (c *Calls) holder(ctx context.Context, uuid string) string {
	node, err := c.store.CallNode(ctx, uuid)
	if err != nil || node == c.node {
		if err != nil && !errors.Is(err, trunkline.ErrNotFound) {
			c.log.Warn("find the node of a live call", "call", uuid, "err", err)
		}
		return ""
	}
	return node
}

// others lists the other nodes that are up.
func (c *Calls) others(ctx context.Context) []string {
	nodes, err := c.store.Nodes(ctx)
	if err != nil {
		c.log.Warn("list the cluster's nodes", "err", err)
		return nil
	}
	var out []string
	for _, n := range nodes {
		if n.State == trunkline.NodeUp && n.Name != c.node {
			out = append(out, n.Name)
		}
	}
	return out
}

// Place places the call on this node.
func (c *Calls) Place(ctx context.Context, p trunkline.PlaceCall) error { return c.local.Place(ctx, p) }

// Live lists the visible calls of every up node.
func (c *Calls) Live(visible func(accountID string) bool, queued bool) []trunkline.LiveCall {
	out := c.local.Live(visible, queued)
	ctx := context.Background()
	for _, n := range c.others(ctx) {
		rep, err := c.ask(ctx, n, callRequest{Op: "live"})
		if err != nil {
			c.log.Warn("live calls of another node", "node", n, "err", err)
			continue
		}
		for _, l := range rep.Calls {
			if visible(l.AccountID) && queued == (l.Status != "in-progress") {
				out = append(out, l)
			}
		}
	}
	return out
}

// Get finds a live call here or on the node holding it.
func (c *Calls) Get(uuid string) (trunkline.LiveCall, bool) {
	if l, ok := c.local.Get(uuid); ok {
		return l, true
	}
	ctx := context.Background()
	node := c.holder(ctx, uuid)
	if node == "" {
		return trunkline.LiveCall{}, false
	}
	rep, err := c.ask(ctx, node, callRequest{Op: "get", UUID: uuid})
	if err != nil || !rep.OK || rep.Call == nil {
		return trunkline.LiveCall{}, false
	}
	return *rep.Call, true
}

// Hangup ends a live call here or on the node holding it.
func (c *Calls) Hangup(uuid string) bool {
	if c.local.Hangup(uuid) {
		return true
	}
	ctx := context.Background()
	node := c.holder(ctx, uuid)
	if node == "" {
		return false
	}
	rep, err := c.ask(ctx, node, callRequest{Op: "hangup", UUID: uuid})
	return err == nil && rep.OK
}

// Cancel ends an unanswered outbound call, wherever it was placed: a request UUID is
// not in the calls table until the call rings, so every up node is asked.
func (c *Calls) Cancel(requestUUID string) bool {
	if c.local.Cancel(requestUUID) {
		return true
	}
	ctx := context.Background()
	for _, n := range c.others(ctx) {
		if rep, err := c.ask(ctx, n, callRequest{Op: "cancel", UUID: requestUUID}); err == nil && rep.OK {
			return true
		}
	}
	return false
}

// Command runs a live-call command here or on the node holding the call.
func (c *Calls) Command(ctx context.Context, uuid string, cmd trunkline.CallCommand) (trunkline.CommandResult, error) {
	res, err := c.local.Command(ctx, uuid, cmd)
	if !errors.Is(err, trunkline.ErrNoLiveCall) {
		return res, err
	}
	rep, err := c.onHolder(ctx, callRequest{Op: "command", UUID: uuid, Command: &cmd})
	if err != nil {
		return res, err
	}
	if !rep.OK || rep.Result == nil {
		// Whatever answered on the holder's subject did not say what was done.
		c.log.Warn("forward a live-call command: a reply without a result", "call", uuid)
		return res, trunkline.ErrNoLiveCall
	}
	return *rep.Result, nil
}

// onHolder sends req about a call not held here to the node holding it. A call no
// node holds, or whose node does not answer (it died: its calls are being ended), is
// ErrNoLiveCall; the holder's own refusals come back as the trunkline.Error it gave.
func (c *Calls) onHolder(ctx context.Context, req callRequest) (callReply, error) {
	node := c.holder(ctx, req.UUID)
	if node == "" {
		return callReply{}, trunkline.ErrNoLiveCall
	}
	rep, err := c.ask(ctx, node, req)
	if err == nil {
		return rep, nil
	}
	var te *trunkline.Error
	if errors.As(err, &te) {
		if te.Code == trunkline.ENOTFOUND && te.Message == trunkline.ErrNoLiveCall.Message {
			return rep, trunkline.ErrNoLiveCall
		}
		return rep, te
	}
	c.log.Warn("forward a live-call request", "op", req.Op, "call", req.UUID, "node", node, "err", err)
	return rep, trunkline.ErrNoLiveCall
}
