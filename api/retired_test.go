package api

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/identity"
	"github.com/trunkline/trunkline/keys"
	"github.com/trunkline/trunkline/message"
	"github.com/trunkline/trunkline/store/storetest"
)

// oneLiveCall stands in for the voice server in these tests (a mock, on purpose: what is
// under test is the API's token check, which runs before any call is touched; the real
// voice server behind the same routes is exercised by the SDK and voice e2e tests). It
// holds one live call of one account, answers every command and records what reached
// it, so a test sees that a request got past the API's checks to the call layer.
type oneLiveCall struct {
	mu       sync.Mutex
	acct     string
	reached  []string // "place", "hangup", "cancel" and command kinds, in order
	uuid, rq string
}

func (c *oneLiveCall) note(s string) { c.mu.Lock(); c.reached = append(c.reached, s); c.mu.Unlock() }
func (c *oneLiveCall) took(s string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Contains(c.reached, s)
}
func (c *oneLiveCall) reset() { c.mu.Lock(); c.reached = nil; c.mu.Unlock() }

func (c *oneLiveCall) live() trunkline.LiveCall {
	return trunkline.LiveCall{AccountID: c.acct, CallUUID: c.uuid, RequestUUID: c.rq, Direction: "outbound", From: "14155550100",
		To: "447700900123", Status: "in-progress"}
}
func (c *oneLiveCall) Place(ctx context.Context, p trunkline.PlaceCall) error {
	c.note("place")
	return nil
}
func (c *oneLiveCall) Live(visible func(string) bool, queued bool) []trunkline.LiveCall {
	if !visible(c.acct) {
		return nil
	}
	return []trunkline.LiveCall{c.live()}
}
func (c *oneLiveCall) Get(uuid string) (trunkline.LiveCall, bool) { return c.live(), uuid == c.uuid }
func (c *oneLiveCall) Hangup(uuid string) bool                    { c.note("hangup"); return uuid == c.uuid }
func (c *oneLiveCall) Cancel(rq string) bool                      { c.note("cancel"); return rq == c.rq }
func (c *oneLiveCall) StartStream(ctx context.Context, uuid string, s trunkline.StreamStart) (trunkline.StreamInfo, error) {
	c.note("stream_start")
	return trunkline.StreamInfo{StreamID: "s1", CallUUID: uuid}, nil
}
func (c *oneLiveCall) Streams(uuid string) ([]trunkline.StreamInfo, error) {
	return []trunkline.StreamInfo{{StreamID: "s1", CallUUID: uuid}}, nil
}
func (c *oneLiveCall) Stream(uuid, id string) (trunkline.StreamInfo, error) {
	return trunkline.StreamInfo{StreamID: id, CallUUID: uuid}, nil
}
func (c *oneLiveCall) StopStream(uuid, id string) error { c.note("stream_stop"); return nil }
func (c *oneLiveCall) Command(ctx context.Context, uuid string, cmd trunkline.CallCommand) (trunkline.CommandResult, error) {
	if uuid != c.uuid {
		return trunkline.CommandResult{}, trunkline.ErrNoLiveCall
	}
	c.note(cmd.Kind)
	return trunkline.CommandResult{RecordingID: "rec-live", URL: "https://example.com/rec-live.mp3"}, nil
}

// req builds one request of a route: its path (after the Auth ID) and body.
type req struct {
	path string
	body any
}

// deploymentRoutes are the changes a token in its rotation overlap may still make: what
// a deployment needs while it switches to the new token. Every other non-GET route
// manages the account and needs the newest token.
var deploymentRoutes = []string{
	"POST /v1/Account/{auth_id}/Message",
	"POST /v1/Account/{auth_id}/Call",
	"DELETE /v1/Account/{auth_id}/Call/{call_uuid}",
	"POST /v1/Account/{auth_id}/Call/{call_uuid}",
	"POST /v1/Account/{auth_id}/Call/{call_uuid}/Play",
	"DELETE /v1/Account/{auth_id}/Call/{call_uuid}/Play",
	"POST /v1/Account/{auth_id}/Call/{call_uuid}/Speak",
	"DELETE /v1/Account/{auth_id}/Call/{call_uuid}/Speak",
	"POST /v1/Account/{auth_id}/Call/{call_uuid}/DTMF",
	"POST /v1/Account/{auth_id}/Call/{call_uuid}/Record",
	"DELETE /v1/Account/{auth_id}/Call/{call_uuid}/Record",
	"DELETE /v1/Account/{auth_id}/Request/{request_uuid}",
	"POST /v1/Account/{auth_id}/Call/{call_uuid}/Stream",
	"DELETE /v1/Account/{auth_id}/Call/{call_uuid}/Stream",
	"DELETE /v1/Account/{auth_id}/Call/{call_uuid}/Stream/{stream_id}",
	// Conferences, as calls: a deployment keeps running its rooms.
	"DELETE /v1/Account/{auth_id}/Conference",
	"DELETE /v1/Account/{auth_id}/Conference/{conference_name}",
	"DELETE /v1/Account/{auth_id}/Conference/{conference_name}/Member/{member_id}",
	"POST /v1/Account/{auth_id}/Conference/{conference_name}/Member/{member_id}/Kick",
	"POST /v1/Account/{auth_id}/Conference/{conference_name}/Member/{member_id}/Mute",
	"DELETE /v1/Account/{auth_id}/Conference/{conference_name}/Member/{member_id}/Mute",
	"POST /v1/Account/{auth_id}/Conference/{conference_name}/Member/{member_id}/Deaf",
	"DELETE /v1/Account/{auth_id}/Conference/{conference_name}/Member/{member_id}/Deaf",
	"POST /v1/Account/{auth_id}/Conference/{conference_name}/Member/{member_id}/Play",
	"DELETE /v1/Account/{auth_id}/Conference/{conference_name}/Member/{member_id}/Play",
	"POST /v1/Account/{auth_id}/Conference/{conference_name}/Member/{member_id}/Speak",
	"DELETE /v1/Account/{auth_id}/Conference/{conference_name}/Member/{member_id}/Speak",
	"POST /v1/Account/{auth_id}/Conference/{conference_name}/Record",
	"DELETE /v1/Account/{auth_id}/Conference/{conference_name}/Record",
}

// TestRetiredTokenRouteTable fails when a route's retired-token mark changes: every GET
// is open to a retired token, of the changes only deploymentRoutes are, so a new
// managing route is refused to old tokens unless someone decides otherwise here.
func TestRetiredTokenRouteTable(t *testing.T) {
	s := New(Options{})
	var open []string
	for _, rt := range s.Routes() {
		if rt.Method == "GET" {
			if !rt.RetiredToken {
				t.Errorf("%s %s is a read and should be open to a retired token", rt.Method, rt.Pattern)
			}
			continue
		}
		if rt.RetiredToken {
			open = append(open, rt.Method+" "+rt.Pattern)
		}
	}
	want := slices.Clone(deploymentRoutes)
	for k := range mpcRequests() {
		want = append(want, k) // multi-party calls, as calls
	}
	slices.Sort(want)
	slices.Sort(open)
	if !slices.Equal(open, want) {
		t.Fatalf("changes open to a retired token:\n%s\nwant:\n%s", strings.Join(open, "\n"), strings.Join(want, "\n"))
	}
}

// TestRetiredTokenPowers walks every non-GET route: during a rotation's overlap the old
// token is refused (403, nothing changed) on each managing route and works on each
// deployment route; the newest token works on both. Reads work with either.
func TestRetiredTokenPowers(t *testing.T) {
	for _, db := range storetest.Open(t) {
		t.Run(string(db.Dialect()), func(t *testing.T) {
			ring, err := keys.NewRing(bytes.Repeat([]byte{7}, 32))
			if err != nil {
				t.Fatal(err)
			}
			calls := &oneLiveCall{uuid: "live-call", rq: "live-req"}
			// The real message service (no carriers: the message is stored, not sent).
			msgs := message.New(message.Options{DB: db, Ring: ring})
			box := &codeBox{codes: map[string]string{}}
			id := identity.New(identity.Options{Store: db, Ring: ring, Sender: box, Audit: nopAudit{},
				Hasher: identity.NewHasher(identity.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 1)})
			e := newEnv(t, db, Options{Calls: calls, Conferences: calls, MPCs: calls, Messages: msgs, Verifier: id, RateBurst: 100000})
			retiredTokenPowers(t, e, calls, box)
		})
	}
}

func retiredTokenPowers(t *testing.T, e *env, calls *oneLiveCall, box *codeBox) {
	ctx := context.Background()
	old := e.mainAccount("rotating")
	calls.acct = old.id
	free := []string{"14155550101", "14155550102", "14155550103", "14155550104", "14155550105", "14155550106", "14155550107"}
	importNumbers(t, e.db, append([]string{"14155550100"}, free...)...)
	rot := mustStatus(t, e.do(old, "POST", acctPath(old, "AuthToken/"), map[string]any{"overlap": 3600}), 200)
	cur := cred{old.id, rot.str("auth_token")}
	mustStatus(t, e.do(cur, "POST", acctPath(cur, "PhoneNumber/14155550100/"), nil), 201)

	// Fresh objects for a request, made with the newest token.
	app := func() string {
		return mustStatus(t, e.do(cur, "POST", acctPath(cur, "Application/"), map[string]any{"app_name": "app", "answer_url": "https://example.com/a"}), 201).str("app_id")
	}
	sub := func() string {
		return mustStatus(t, e.do(cur, "POST", acctPath(cur, "Subaccount/"), map[string]any{"name": "sub", "enabled": true}), 201).str("auth_id")
	}
	available := func() string {
		n := free[0]
		free = free[1:]
		return n
	}
	rented := func() string {
		n := available()
		mustStatus(t, e.do(cur, "POST", acctPath(cur, "PhoneNumber/"+n+"/"), nil), 201)
		return n
	}
	endpoint := func() string {
		return mustStatus(t, e.do(cur, "POST", acctPath(cur, "Endpoint/"), map[string]any{"username": "phone", "password": "a-Good-pass-123", "alias": "desk"}), 201).str("endpoint_id")
	}
	recordings := 0
	recording := func() string {
		recordings++
		id := fmt.Sprintf("rec-%d", recordings)
		if err := e.db.InsertRecording(ctx, &trunkline.Recording{ID: id, AccountID: cur.id, CallUUID: "c", Format: "mp3", From: "1", To: "2"}); err != nil {
			t.Fatal(err)
		}
		return id
	}

	callerIDs := 0
	callerID := func() string { // a fresh number to verify
		callerIDs++
		return fmt.Sprintf("4477009002%02d", callerIDs)
	}
	verifiedCallerID := func() string {
		n := callerID()
		if err := e.db.SaveVerifiedCallerID(ctx, &trunkline.VerifiedCallerID{AccountID: cur.id, PhoneNumber: n, Channel: "sms",
			VerificationUUID: "v-" + n}); err != nil {
			t.Fatal(err)
		}
		return n
	}

	callURL := "Call/" + calls.uuid + "/"
	// The builders make fresh objects on each call, so the refused old-token request and
	// the accepted newest-token one each act on an object of their own.
	managing := map[string]func() req{
		"POST /v1/Account/{auth_id}":                       func() req { return req{"", map[string]any{"name": "renamed"}} },
		"POST /v1/Account/{auth_id}/Subaccount":            func() req { return req{"Subaccount/", map[string]any{"name": "s", "enabled": true}} },
		"POST /v1/Account/{auth_id}/Subaccount/{sub_id}":   func() req { return req{"Subaccount/" + sub() + "/", map[string]any{"name": "s2"}} },
		"DELETE /v1/Account/{auth_id}/Subaccount/{sub_id}": func() req { return req{"Subaccount/" + sub() + "/", nil} },
		"POST /v1/Account/{auth_id}/Subaccount/{sub_id}/AuthToken": func() req {
			return req{"Subaccount/" + sub() + "/AuthToken/", nil}
		},
		"DELETE /v1/Account/{auth_id}/Subaccount/{sub_id}/AuthToken": func() req { return req{"Subaccount/" + sub() + "/AuthToken/", nil} },
		"POST /v1/Account/{auth_id}/Application": func() req {
			return req{"Application/", map[string]any{"app_name": "x", "answer_url": "https://example.com/x"}}
		},
		"POST /v1/Account/{auth_id}/Application/{app_id}": func() req {
			return req{"Application/" + app() + "/", map[string]any{"answer_url": "https://example.com/y"}}
		},
		"DELETE /v1/Account/{auth_id}/Application/{app_id}": func() req { return req{"Application/" + app() + "/", nil} },
		"POST /v1/Account/{auth_id}/Endpoint": func() req {
			return req{"Endpoint/", map[string]any{"username": "desk", "password": "a-Good-pass-123", "alias": "d"}}
		},
		"POST /v1/Account/{auth_id}/Endpoint/{endpoint_id}":   func() req { return req{"Endpoint/" + endpoint() + "/", map[string]any{"alias": "moved"}} },
		"DELETE /v1/Account/{auth_id}/Endpoint/{endpoint_id}": func() req { return req{"Endpoint/" + endpoint() + "/", nil} },
		"POST /v1/Account/{auth_id}/PhoneNumber/{number}":     func() req { return req{"PhoneNumber/" + available() + "/", nil} },
		"POST /v1/Account/{auth_id}/Number/{number}":          func() req { return req{"Number/" + rented() + "/", map[string]any{"app_id": app()}} },
		"DELETE /v1/Account/{auth_id}/Number/{number}":        func() req { return req{"Number/" + rented() + "/", nil} },
		"DELETE /v1/Account/{auth_id}/Recording/{recording_id}": func() req {
			return req{"Recording/" + recording() + "/", nil}
		},
		"POST /v1/Account/{auth_id}/VerifiedCallerId": func() req {
			return req{"VerifiedCallerId/", map[string]any{"phone_number": callerID(), "channel": "sms"}}
		},
		"POST /v1/Account/{auth_id}/VerifiedCallerId/Verification/{verification_uuid}": func() req {
			n := callerID()
			uuid := mustStatus(t, e.do(cur, "POST", acctPath(cur, "VerifiedCallerId/"), map[string]any{"phone_number": n, "channel": "sms"}), 200).str("verification_uuid")
			return req{"VerifiedCallerId/Verification/" + uuid + "/", map[string]any{"otp": box.last(n)}}
		},
		"POST /v1/Account/{auth_id}/VerifiedCallerId/{phone_number}": func() req {
			return req{"VerifiedCallerId/" + verifiedCallerID() + "/", map[string]any{"alias": "front desk"}}
		},
		"DELETE /v1/Account/{auth_id}/VerifiedCallerId/{phone_number}": func() req {
			return req{"VerifiedCallerId/" + verifiedCallerID() + "/", nil}
		},
	}
	// The account's own token routes come last: the newest token's use changes which
	// token is newest.
	ownTokens := []string{"DELETE /v1/Account/{auth_id}/AuthToken", "POST /v1/Account/{auth_id}/AuthToken"}
	deployment := map[string]func() req{
		"POST /v1/Account/{auth_id}/Message": func() req {
			return req{"Message/", map[string]any{"src": "14155550100", "dst": "447700900123", "text": "still sending"}}
		},
		"POST /v1/Account/{auth_id}/Call": func() req {
			return req{"Call/", map[string]any{"from": "14155550100", "to": "447700900123", "answer_url": "https://example.com/a"}}
		},
		"DELETE /v1/Account/{auth_id}/Call/{call_uuid}":        func() req { return req{callURL, nil} },
		"POST /v1/Account/{auth_id}/Call/{call_uuid}":          func() req { return req{callURL, map[string]any{"aleg_url": "https://example.com/t"}} },
		"POST /v1/Account/{auth_id}/Call/{call_uuid}/Play":     func() req { return req{callURL + "Play/", map[string]any{"urls": "https://example.com/a.mp3"}} },
		"DELETE /v1/Account/{auth_id}/Call/{call_uuid}/Play":   func() req { return req{callURL + "Play/", nil} },
		"POST /v1/Account/{auth_id}/Call/{call_uuid}/Speak":    func() req { return req{callURL + "Speak/", map[string]any{"text": "hello"}} },
		"DELETE /v1/Account/{auth_id}/Call/{call_uuid}/Speak":  func() req { return req{callURL + "Speak/", nil} },
		"POST /v1/Account/{auth_id}/Call/{call_uuid}/DTMF":     func() req { return req{callURL + "DTMF/", map[string]any{"digits": "12"}} },
		"POST /v1/Account/{auth_id}/Call/{call_uuid}/Record":   func() req { return req{callURL + "Record/", nil} },
		"DELETE /v1/Account/{auth_id}/Call/{call_uuid}/Record": func() req { return req{callURL + "Record/", nil} },
		"DELETE /v1/Account/{auth_id}/Request/{request_uuid}":  func() req { return req{"Request/" + calls.rq + "/", nil} },
		"POST /v1/Account/{auth_id}/Call/{call_uuid}/Stream": func() req {
			return req{callURL + "Stream/", map[string]any{"service_url": "wss://example.com/s"}}
		},
		"DELETE /v1/Account/{auth_id}/Call/{call_uuid}/Stream":             func() req { return req{callURL + "Stream/", nil} },
		"DELETE /v1/Account/{auth_id}/Call/{call_uuid}/Stream/{stream_id}": func() req { return req{callURL + "Stream/s1/", nil} },
	}
	maps.Copy(deployment, conferenceRequests())
	maps.Copy(deployment, mpcRequests())
	// Every non-GET route is in one of the tables, so a new route gets a decision here.
	for _, rt := range e.srv.Routes() {
		key := rt.Method + " " + rt.Pattern
		if rt.Method == "GET" {
			continue
		}
		if managing[key] == nil && deployment[key] == nil && !slices.Contains(ownTokens, key) {
			t.Fatalf("%s is in neither table of this test: decide whether a retired token may use it", key)
		}
	}

	auditCount := func(action string) int {
		r := mustStatus(t, e.do(cur, "GET", acctPath(cur, "AuditLog/?action="+action), nil), 200)
		return int(r.body["meta"].(map[string]any)["total_count"].(float64))
	}
	for key, build := range managing {
		t.Run("managing "+key, func(t *testing.T) {
			method := strings.Fields(key)[0]
			q := build()
			subsBefore := mustStatus(t, e.do(cur, "GET", acctPath(cur, "Subaccount/"), nil), 200).body["meta"].(map[string]any)["total_count"]
			r := mustStatus(t, e.do(old, method, acctPath(old, q.path), q.body), 403)
			if !strings.Contains(r.str("error"), "newest Auth Token") {
				t.Fatalf("refusal does not say why: %s", r.raw)
			}
			if subs := mustStatus(t, e.do(cur, "GET", acctPath(cur, "Subaccount/"), nil), 200).body["meta"].(map[string]any)["total_count"]; subs != subsBefore {
				t.Fatalf("a refused request changed the subaccounts: %v → %v", subsBefore, subs)
			}
			q = build()
			if r := e.do(cur, method, acctPath(cur, q.path), q.body); r.status/100 != 2 {
				t.Fatalf("newest token: status %d: %s", r.status, r.raw)
			}
		})
	}
	for key, build := range deployment {
		t.Run("deployment "+key, func(t *testing.T) {
			method := strings.Fields(key)[0]
			for _, c := range []cred{old, cur} {
				calls.reset()
				q := build()
				r := e.do(c, method, acctPath(c, q.path), q.body)
				if r.status/100 != 2 {
					t.Fatalf("status %d with the %s token: %s", r.status, map[bool]string{true: "old", false: "newest"}[c == old], r.raw)
				}
				checkShape(t, r)
				if !strings.HasSuffix(key, "/Message") && len(calls.reached) == 0 {
					t.Fatal("the request did not reach the call layer")
				}
			}
		})
	}
	// The message sent with the old token is stored like the other.
	if ms := mustStatus(t, e.do(old, "GET", acctPath(old, "Message/"), nil), 200); ms.body["meta"].(map[string]any)["total_count"].(float64) != 2 {
		t.Fatalf("messages: %s", ms.raw)
	}
	// Reads work with the old token.
	for _, p := range []string{"", "Subaccount/", "Application/", "Number/", "Endpoint/", "Call/", "Recording/", "AuditLog/"} {
		mustStatus(t, e.do(old, "GET", acctPath(old, p), nil), 200)
	}
	// Refusals are audited as failures of the action.
	if n := auditCount("subaccount.create"); n < 2 {
		t.Fatalf("%d subaccount.create entries, want the refused one too", n)
	}
	// Credentials last: the old token may neither revoke nor rotate; the newest may.
	for _, key := range ownTokens {
		method := strings.Fields(key)[0]
		mustStatus(t, e.do(old, method, acctPath(old, "AuthToken/"), nil), 403)
	}
	mustStatus(t, e.do(cur, "DELETE", acctPath(cur, "AuthToken/"), nil), 204)
	mustStatus(t, e.do(old, "GET", acctPath(old, ""), nil), 401)
	mustStatus(t, e.do(cur, "POST", acctPath(cur, "AuthToken/"), nil), 200)
}
