package cluster

import (
	"context"
	"testing"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/bus"
)

// noCalls is a node holding no calls (a stub of the voice server's CallService).
type noCalls struct{}

func (noCalls) Place(context.Context, trunkline.PlaceCall) error  { return nil }
func (noCalls) Live(func(string) bool, bool) []trunkline.LiveCall { return nil }
func (noCalls) Get(string) (trunkline.LiveCall, bool)             { return trunkline.LiveCall{}, false }
func (noCalls) Hangup(string) bool                                { return false }
func (noCalls) Cancel(string) bool                                { return false }
func (noCalls) Command(context.Context, string, trunkline.CallCommand) (trunkline.CommandResult, error) {
	return trunkline.CommandResult{}, trunkline.ErrNoLiveCall
}

// onNode says every call is live on node (a stub of the calls table).
type onNode string

func (n onNode) CallNode(context.Context, string) (string, error) { return string(n), nil }
func (n onNode) Nodes(context.Context) ([]*trunkline.Node, error) {
	return []*trunkline.Node{{Name: string(n), State: trunkline.NodeUp}}, nil
}

// A holder's reply that says ok without a result (another version of the
// node, or anything else answering on its subject) is an error for the
// request, not a nil dereference that takes the asking node down.
func TestForwardedCommandBadReply(t *testing.T) {
	b := bus.NewLocal()
	replies := []string{`{"ok":true}`, `{}`, `not json`}
	i := 0
	sub, err := b.Subscribe(CallsSubject("b"), func(m trunkline.Msg) { m.Reply([]byte(replies[i])) })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	c, err := NewCalls("a", noCalls{}, onNode("b"), b, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i = range replies {
		_, err := c.Command(context.Background(), "call-1", trunkline.CallCommand{Kind: "play"})
		if err == nil {
			t.Fatalf("reply %s: no error", replies[i])
		}
	}
}
