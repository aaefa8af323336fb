package cluster

import (
	"context"
	"errors"
	"testing"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/bus/bustest"
)

// holder stands in for the voice server of the node holding call "c1" (a mock: voice's
// own tests run streams and commands on real calls; this tests the routing between
// nodes). It has one stream, "s1".
type holder struct {
	trunkline.CallService // nil: only what the tests call is implemented
	started               []trunkline.StreamStart
	stopped               []string
}

func (h *holder) Get(uuid string) (trunkline.LiveCall, bool) {
	return trunkline.LiveCall{CallUUID: uuid}, uuid == "c1"
}
func (h *holder) Command(_ context.Context, uuid string, _ trunkline.CallCommand) (trunkline.CommandResult, error) {
	if uuid != "c1" {
		return trunkline.CommandResult{}, trunkline.ErrNoLiveCall
	}
	return trunkline.CommandResult{RecordingID: "r1"}, nil
}
func (h *holder) StartStream(_ context.Context, uuid string, s trunkline.StreamStart) (trunkline.StreamInfo, error) {
	if uuid != "c1" {
		return trunkline.StreamInfo{}, trunkline.ErrNoLiveCall
	}
	h.started = append(h.started, s)
	return trunkline.StreamInfo{StreamID: "s2", CallUUID: uuid, ServiceURL: s.ServiceURL, Status: "initiated"}, nil
}
func (h *holder) Streams(uuid string) ([]trunkline.StreamInfo, error) {
	if uuid != "c1" {
		return nil, trunkline.ErrNoLiveCall
	}
	return []trunkline.StreamInfo{{StreamID: "s1", CallUUID: uuid, Status: "in-progress"}}, nil
}
func (h *holder) Stream(uuid, id string) (trunkline.StreamInfo, error) {
	if uuid != "c1" {
		return trunkline.StreamInfo{}, trunkline.ErrNoLiveCall
	}
	if id != "s1" {
		return trunkline.StreamInfo{}, trunkline.ErrNoStream
	}
	return trunkline.StreamInfo{StreamID: "s1", CallUUID: uuid, Status: "in-progress"}, nil
}
func (h *holder) StopStream(uuid, id string) error {
	if uuid != "c1" {
		return trunkline.ErrNoLiveCall
	}
	if id != "" && id != "s1" {
		return trunkline.ErrNoStream
	}
	h.stopped = append(h.stopped, id)
	return nil
}

// empty is a node's voice server holding no call.
type empty struct{ holder }

func (empty) Get(string) (trunkline.LiveCall, bool) { return trunkline.LiveCall{}, false }
func (empty) Command(context.Context, string, trunkline.CallCommand) (trunkline.CommandResult, error) {
	return trunkline.CommandResult{}, trunkline.ErrNoLiveCall
}
func (empty) StartStream(context.Context, string, trunkline.StreamStart) (trunkline.StreamInfo, error) {
	return trunkline.StreamInfo{}, trunkline.ErrNoLiveCall
}
func (empty) Streams(string) ([]trunkline.StreamInfo, error) { return nil, trunkline.ErrNoLiveCall }
func (empty) Stream(string, string) (trunkline.StreamInfo, error) {
	return trunkline.StreamInfo{}, trunkline.ErrNoLiveCall
}
func (empty) StopStream(string, string) error { return trunkline.ErrNoLiveCall }

// callTable says n1 holds c1 and c9 (c9 ended on n1 a moment ago).
type callTable struct{}

func (callTable) CallNode(_ context.Context, uuid string) (string, error) {
	if uuid == "c1" || uuid == "c9" {
		return "n1", nil
	}
	return "", trunkline.ErrNotFound
}
func (callTable) Nodes(context.Context) ([]*trunkline.Node, error) { return nil, nil }

// The Call Stream API and live-call commands sent to n2 for a call n1 holds run on n1,
// over a real two-server NATS cluster; n1's refusals (no such stream) come back as
// they are, and a call no node runs is ErrNoLiveCall.
func TestStreamsAndCommandsForwarded(t *testing.T) {
	nodes := bustest.Cluster(t, 2)
	h := &holder{}
	n1, err := NewCalls("n1", h, callTable{}, nodes[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	defer n1.Close()
	n2, err := NewCalls("n2", &empty{}, callTable{}, nodes[1], nil)
	if err != nil {
		t.Fatal(err)
	}
	defer n2.Close()
	bustest.WaitResponder(t, nodes[1], CallsSubject("n1"))

	info, err := n2.StartStream(t.Context(), "c1", trunkline.StreamStart{ServiceURL: "wss://example.test/s", AudioTrack: "inbound"})
	if err != nil || info.StreamID != "s2" || info.ServiceURL != "wss://example.test/s" {
		t.Fatalf("start through n2: %+v %v", info, err)
	}
	if len(h.started) != 1 || h.started[0].AudioTrack != "inbound" {
		t.Fatalf("n1 started %+v", h.started)
	}
	list, err := n2.Streams("c1")
	if err != nil || len(list) != 1 || list[0].StreamID != "s1" {
		t.Fatalf("list through n2: %+v %v", list, err)
	}
	if st, err := n2.Stream("c1", "s1"); err != nil || st.Status != "in-progress" {
		t.Fatalf("get through n2: %+v %v", st, err)
	}
	if _, err := n2.Stream("c1", "nope"); trunkline.ErrorCode(err) != trunkline.ENOTFOUND || trunkline.ErrorMessage(err) != trunkline.ErrNoStream.Message {
		t.Fatalf("an unknown stream through n2: %v, want n1's no such stream", err)
	}
	if err := n2.StopStream("c1", ""); err != nil || len(h.stopped) != 1 {
		t.Fatalf("stop all through n2: %v (n1 stopped %v)", err, h.stopped)
	}
	if res, err := n2.Command(t.Context(), "c1", trunkline.CallCommand{Kind: "record"}); err != nil || res.RecordingID != "r1" {
		t.Fatalf("command through n2: %+v %v", res, err)
	}
	// A call nobody runs: c9 (in the table, ended on n1) and c5 (nowhere).
	for _, uuid := range []string{"c9", "c5"} {
		if _, err := n2.Streams(uuid); !errors.Is(err, trunkline.ErrNoLiveCall) {
			t.Errorf("streams of %s: %v, want ErrNoLiveCall", uuid, err)
		}
		if _, err := n2.Command(t.Context(), uuid, trunkline.CallCommand{Kind: "play"}); !errors.Is(err, trunkline.ErrNoLiveCall) {
			t.Errorf("command on %s: %v, want ErrNoLiveCall", uuid, err)
		}
	}
	// The holder's own calls run locally, without the bus.
	if list, err := n1.Streams("c1"); err != nil || len(list) != 1 {
		t.Fatalf("n1's own call: %+v %v", list, err)
	}
}
