package api

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/trunkline/trunkline"
)

// oneLiveCall's room: the account's one live conference, "live-room", with
// member 1 (a mock of the voice server's rooms, as oneLiveCall is of its
// calls; voice's TestConferenceThreeCallers and cmd/trunkline's
// TestConferenceSDK drive the real ones).
const liveRoom = "live-room"

func (c *oneLiveCall) Conferences(acct string) []string {
	if acct != c.acct {
		return []string{}
	}
	return []string{liveRoom}
}

func (c *oneLiveCall) Conference(acct, name string) (trunkline.Conference, error) {
	if acct != c.acct || name != liveRoom {
		return trunkline.Conference{}, trunkline.ErrNoConference
	}
	return trunkline.Conference{Name: name, UUID: "room-uuid", Members: []trunkline.ConferenceMember{{ID: "1", CallUUID: c.uuid}}}, nil
}

func (c *oneLiveCall) HangupConference(acct, name string) error {
	if _, err := c.Conference(acct, name); err != nil {
		return err
	}
	c.note("conference_hangup")
	return nil
}

func (c *oneLiveCall) HangupConferences(acct string) { c.note("conference_hangup_all") }

func (c *oneLiveCall) ConferenceCommand(ctx context.Context, acct, name string, cmd trunkline.ConferenceCommand) (trunkline.ConferenceResult, error) {
	if _, err := c.Conference(acct, name); err != nil {
		return trunkline.ConferenceResult{}, err
	}
	c.note("conference_" + cmd.Kind)
	if cmd.Kind == "record" || cmd.Kind == "stop_record" {
		return trunkline.ConferenceResult{RecordingID: "rec-room"}, nil
	}
	if !cmd.All && !slices.Contains(cmd.Members, "1") {
		return trunkline.ConferenceResult{}, trunkline.ErrNoMember
	}
	return trunkline.ConferenceResult{MemberIDs: []string{"1"}}, nil
}

// conferenceRequests are a request per non-GET Conference route, on the live room.
func conferenceRequests() map[string]func() req {
	room := "Conference/" + liveRoom + "/"
	m := room + "Member/1/"
	return map[string]func() req{
		"DELETE /v1/Account/{auth_id}/Conference":                                         func() req { return req{"Conference/", nil} },
		"DELETE /v1/Account/{auth_id}/Conference/{conference_name}":                       func() req { return req{room, nil} },
		"DELETE /v1/Account/{auth_id}/Conference/{conference_name}/Member/{member_id}":    func() req { return req{m, nil} },
		"POST /v1/Account/{auth_id}/Conference/{conference_name}/Member/{member_id}/Kick": func() req { return req{m + "Kick/", nil} },
		"POST /v1/Account/{auth_id}/Conference/{conference_name}/Member/{member_id}/Mute": func() req { return req{m + "Mute/", nil} },
		"DELETE /v1/Account/{auth_id}/Conference/{conference_name}/Member/{member_id}/Mute": func() req {
			return req{m + "Mute/", nil}
		},
		"POST /v1/Account/{auth_id}/Conference/{conference_name}/Member/{member_id}/Deaf": func() req { return req{m + "Deaf/", nil} },
		"DELETE /v1/Account/{auth_id}/Conference/{conference_name}/Member/{member_id}/Deaf": func() req {
			return req{m + "Deaf/", nil}
		},
		"POST /v1/Account/{auth_id}/Conference/{conference_name}/Member/{member_id}/Play": func() req {
			return req{m + "Play/", map[string]any{"url": "https://example.com/a.mp3"}}
		},
		"DELETE /v1/Account/{auth_id}/Conference/{conference_name}/Member/{member_id}/Play": func() req {
			return req{m + "Play/", nil}
		},
		"POST /v1/Account/{auth_id}/Conference/{conference_name}/Member/{member_id}/Speak": func() req {
			return req{m + "Speak/", map[string]any{"text": "hello"}}
		},
		"DELETE /v1/Account/{auth_id}/Conference/{conference_name}/Member/{member_id}/Speak": func() req {
			return req{m + "Speak/", nil}
		},
		"POST /v1/Account/{auth_id}/Conference/{conference_name}/Record":   func() req { return req{room + "Record/", nil} },
		"DELETE /v1/Account/{auth_id}/Conference/{conference_name}/Record": func() req { return req{room + "Record/", nil} },
	}
}

// The Conference API's answers and bad input, on the mock room: Plivo's
// shapes, 404 for unknown and foreign rooms and members, 400 for bad
// parameters (the room is checked first, so a stranger learns nothing).
func TestConferenceAPI(t *testing.T) {
	calls := &oneLiveCall{uuid: "live-call", rq: "live-req"}
	forEachStore(t, Options{Calls: calls, Conferences: calls, RateBurst: 100000}, func(t *testing.T, e *env) {
		a, b := e.mainAccount("room-owner"), e.mainAccount("stranger")
		calls.acct = a.id
		r := mustStatus(t, e.do(a, "GET", acctPath(a, "Conference/"), nil), 200)
		if names, _ := r.body["conferences"].([]any); len(names) != 1 || names[0] != liveRoom {
			t.Fatalf("list: %s", r.raw)
		}
		r = mustStatus(t, e.do(b, "GET", acctPath(b, "Conference/"), nil), 200)
		if names, _ := r.body["conferences"].([]any); len(names) != 0 {
			t.Fatalf("a stranger lists %s", r.raw)
		}
		r = mustStatus(t, e.do(a, "GET", acctPath(a, "Conference/"+liveRoom+"/"), nil), 200)
		if r.str("conference_name") != liveRoom || r.str("conference_member_count") != "1" {
			t.Fatalf("get: %s", r.raw)
		}
		if ms, _ := r.body["members"].([]any); len(ms) != 1 || ms[0].(map[string]any)["member_id"] != "1" || ms[0].(map[string]any)["muted"] != false {
			t.Fatalf("members: %s", r.raw)
		}
		mustStatus(t, e.do(a, "GET", acctPath(a, "Conference/nope/"), nil), http.StatusNotFound)
		for _, p := range []string{"Conference/nope/Member/1/Mute/", "Conference/" + liveRoom + "/Member/7/Mute/"} {
			mustStatus(t, e.do(a, "POST", acctPath(a, p), map[string]any{}), http.StatusNotFound)
		}
		for _, p := range []string{"Conference/" + liveRoom + "/", "Conference/" + liveRoom + "/Member/1/Mute/", "Conference/" + liveRoom + "/Record/"} {
			method := "POST"
			if !strings.Contains(p, "Member") && !strings.Contains(p, "Record") {
				method = "GET"
			}
			mustStatus(t, e.do(b, method, acctPath(b, p), map[string]any{}), http.StatusNotFound)
		}
		for p, body := range map[string]map[string]any{
			"Member/x/Mute/":  {},
			"Member/1/Play/":  {},
			"Member/1/Speak/": {"text": " "},
			"Record/":         {"file_format": "ogg"},
		} {
			r := mustStatus(t, e.do(a, "POST", acctPath(a, "Conference/"+liveRoom+"/"+p), body), http.StatusBadRequest)
			checkShape(t, r)
		}
		r = mustStatus(t, e.do(a, "POST", acctPath(a, "Conference/"+liveRoom+"/Record/"), map[string]any{"transcription_url": "ftp://e.com/t"}), http.StatusBadRequest)
		checkShape(t, r)
		r = mustStatus(t, e.do(a, "POST", acctPath(a, "Conference/"+liveRoom+"/Member/all/Kick/"), map[string]any{}), http.StatusAccepted)
		if r.str("message") != "kicked" || r.str("member_id") != "1" {
			t.Fatalf("kick: %s", r.raw)
		}
		r = mustStatus(t, e.do(a, "POST", acctPath(a, "Conference/"+liveRoom+"/Record/"), map[string]any{"file_format": "wav"}), http.StatusAccepted)
		if r.str("recording_id") != "rec-room" || r.str("message") != "conference recording started" {
			t.Fatalf("record: %s", r.raw)
		}
	})
}

// roomPerAccount gives each account a live room "room-<account>" with member
// 1 (a mock of the voice server's rooms for the isolation matrix).
type roomPerAccount struct {
	oneLiveCall
	mu    sync.Mutex
	rooms map[string]bool
}

func (r *roomPerAccount) open(acct string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rooms == nil {
		r.rooms = map[string]bool{}
	}
	r.rooms[acct] = true
	return "room-" + acct
}

func (r *roomPerAccount) mock(acct string) *oneLiveCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.rooms[acct] {
		return &oneLiveCall{}
	}
	return &oneLiveCall{acct: acct}
}

func (r *roomPerAccount) Conferences(acct string) []string {
	if r.mock(acct).acct == "" {
		return []string{}
	}
	return []string{"room-" + acct}
}

func (r *roomPerAccount) Conference(acct, name string) (trunkline.Conference, error) {
	if name != "room-"+acct {
		return trunkline.Conference{}, trunkline.ErrNoConference
	}
	return r.mock(acct).Conference(acct, liveRoom)
}

func (r *roomPerAccount) HangupConference(acct, name string) error {
	if name != "room-"+acct {
		return trunkline.ErrNoConference
	}
	return r.mock(acct).HangupConference(acct, liveRoom)
}

func (r *roomPerAccount) ConferenceCommand(ctx context.Context, acct, name string, cmd trunkline.ConferenceCommand) (trunkline.ConferenceResult, error) {
	if name != "room-"+acct {
		return trunkline.ConferenceResult{}, trunkline.ErrNoConference
	}
	return r.mock(acct).ConferenceCommand(ctx, acct, liveRoom, cmd)
}

func (r *roomPerAccount) MPCs(acct string) []trunkline.MPC { return r.mock(acct).MPCs(acct) }

func (r *roomPerAccount) MPC(acct, id string) (trunkline.MPC, error) {
	return r.mock(acct).MPC(acct, id)
}

func (r *roomPerAccount) MPCCommand(ctx context.Context, acct, id string, cmd trunkline.MPCCommand) (trunkline.MPCResult, error) {
	return r.mock(acct).MPCCommand(ctx, acct, id, cmd)
}
