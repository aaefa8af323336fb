package api

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/call"
)

// oneLiveCall's multi-party call: the account's one live MPC "live-mpc"
// with participant 1 (a mock of the voice server's, as oneLiveCall is of
// its calls; voice's TestMPCRolesCoachAndHold and cmd/trunkline's
// TestMPCSDK drive the real ones).
const liveMPC = "live-mpc"

func (c *oneLiveCall) MPCs(acct string) []trunkline.MPC {
	if acct != c.acct {
		return nil
	}
	m, _ := c.MPC(acct, "name_"+liveMPC)
	return []trunkline.MPC{m}
}

func (c *oneLiveCall) MPC(acct, id string) (trunkline.MPC, error) {
	if acct != c.acct || (id != "name_"+liveMPC && id != "uuid_mpc-"+acct) {
		return trunkline.MPC{}, trunkline.ErrNoMPC
	}
	return trunkline.MPC{AccountID: acct, Name: liveMPC, UUID: "mpc-" + acct, Status: "Active", Recording: "not-recording",
		Participants: []trunkline.MPCParticipant{{MemberID: "1", CallUUID: c.uuid, Role: "agent"}}}, nil
}

func (c *oneLiveCall) MPCCommand(ctx context.Context, acct, id string, cmd trunkline.MPCCommand) (trunkline.MPCResult, error) {
	if _, err := c.MPC(acct, id); err != nil {
		return trunkline.MPCResult{}, err
	}
	c.note("mpc_" + cmd.Kind)
	return trunkline.MPCResult{MemberIDs: []string{"1"}, RecordingID: "rec-mpc", CallUUIDs: []string{c.uuid}}, nil
}

// mpcRequests are a request per non-GET MultiPartyCall route, on the live MPC.
func mpcRequests() map[string]func() req {
	base := "/v1/Account/{auth_id}/MultiPartyCall/{mpc_id}"
	m := "MultiPartyCall/name_" + liveMPC + "/"
	p := m + "Participant/1/"
	return map[string]func() req{
		"POST " + base:   func() req { return req{m, map[string]any{"status": "active"}} },
		"DELETE " + base: func() req { return req{m, nil} },
		"POST " + base + "/Participant": func() req {
			return req{m + "Participant/", map[string]any{"role": "agent", "call_uuid": "live-call"}}
		},
		"POST " + base + "/Participant/{member_id}":               func() req { return req{p, map[string]any{"mute": true}} },
		"DELETE " + base + "/Participant/{member_id}":             func() req { return req{p, nil} },
		"POST " + base + "/Record":                                func() req { return req{m + "Record/", nil} },
		"DELETE " + base + "/Record":                              func() req { return req{m + "Record/", nil} },
		"POST " + base + "/Record/Pause":                          func() req { return req{m + "Record/Pause/", nil} },
		"POST " + base + "/Record/Resume":                         func() req { return req{m + "Record/Resume/", nil} },
		"POST " + base + "/Participant/{member_id}/Record":        func() req { return req{p + "Record/", nil} },
		"DELETE " + base + "/Participant/{member_id}/Record":      func() req { return req{p + "Record/", nil} },
		"POST " + base + "/Participant/{member_id}/Record/Pause":  func() req { return req{p + "Record/Pause/", nil} },
		"POST " + base + "/Participant/{member_id}/Record/Resume": func() req { return req{p + "Record/Resume/", nil} },
		"POST " + base + "/Member/{member_id}/Play": func() req {
			return req{m + "Member/1/Play/", map[string]any{"url": "https://example.com/a.mp3"}}
		},
		"DELETE " + base + "/Member/{member_id}/Play": func() req { return req{m + "Member/1/Play/", nil} },
	}
}

// TestMPCAddParticipantTo: an added participant's "to" passes the make-call API's
// destination check (numbers only, at most call.MaxDestinations), and several
// destinations are for agents only.
func TestMPCAddParticipantTo(t *testing.T) {
	calls := &oneLiveCall{uuid: "live-call", rq: "live-req"}
	forEachStore(t, Options{Calls: calls, MPCs: calls, RateBurst: 100000}, func(t *testing.T, e *env) {
		a := e.mainAccount("mpc-owner")
		calls.mu.Lock()
		calls.acct, calls.reached = a.id, nil // one stand-in for both stores
		calls.mu.Unlock()
		path := acctPath(a, "MultiPartyCall/name_"+liveMPC+"/Participant/")
		many := strings.Repeat("14155550100<", call.MaxDestinations) + "14155550100"
		for name, body := range map[string]map[string]any{
			"not a number":             {"role": "agent", "from": "14155550199", "to": "14155550100<evil;x"},
			"too many destinations":    {"role": "agent", "from": "14155550199", "to": many},
			"several for a customer":   {"role": "customer", "from": "14155550199", "to": "14155550100<14155550101"},
			"empty between separators": {"role": "agent", "from": "14155550199", "to": "<<"},
		} {
			r := mustStatus(t, e.do(a, "POST", path, body), http.StatusBadRequest)
			checkShape(t, r)
			calls.mu.Lock()
			reached := slices.Contains(calls.reached, "mpc_add")
			calls.mu.Unlock()
			if reached {
				t.Fatalf("%s: the participant was added", name)
			}
		}
		r := mustStatus(t, e.do(a, "POST", path, map[string]any{"role": "agent", "from": "14155550199", "to": "+14155550100<14155550101"}), http.StatusCreated)
		if cs, _ := r.body["calls"].([]any); len(cs) == 0 || cs[0].(map[string]any)["to"] != "14155550100" {
			t.Fatalf("add: %s", r.raw)
		}
	})
}
