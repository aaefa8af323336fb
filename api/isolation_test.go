package api

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/trunkline/trunkline"
)

// TestTenantIsolation is generated from the route table: every route that names an
// object is called by other tenants on that object, and every route is called with
// another account's Auth ID in the path. All of it must answer 404 with nothing but
// api_id and error, and collections must not show foreign objects.
func TestTenantIsolation(t *testing.T) {
	files := newMemRecordings()
	rooms := &roomPerAccount{}
	forEachStore(t, Options{RateBurst: 100000, Recordings: files, Conferences: rooms, MPCs: rooms}, func(t *testing.T, e *env) {
		a, b := e.mainAccount("tenant-a"), e.mainAccount("tenant-b")
		importNumbers(t, e.db, "14155550100", "14155550101", "14155550102", "14155550103", "14155550104")

		newSub := func(parent cred, name string) cred {
			r := mustStatus(t, e.do(parent, "POST", acctPath(parent, "Subaccount/"), map[string]any{"name": name, "enabled": true}), 201)
			return cred{r.str("auth_id"), r.str("auth_token")}
		}
		a1, a2 := newSub(a, "a-one"), newSub(a, "a-two")

		// objects[owner][var] is an object of that owner named by a path variable.
		objects := map[string]map[string]string{}
		own := func(c cred, number string) {
			app := mustStatus(t, e.do(c, "POST", acctPath(c, "Application/"), map[string]any{"app_name": "app-" + c.id, "answer_url": "https://example.com/" + c.id}), 201).str("app_id")
			mustStatus(t, e.do(c, "POST", acctPath(c, "PhoneNumber/"+number+"/"), map[string]any{"app_id": app}), 201)
			msg := &trunkline.Message{UUID: "msg-" + c.id, AccountID: c.id, Direction: "outbound", Type: "sms", LogMode: "true",
				From: number, To: "447700900123", Body: "secret of " + c.id, State: trunkline.MsgDelivered, Units: 1}
			if err := e.db.InsertMessages(context.Background(), []*trunkline.Message{msg}, nil); err != nil {
				t.Fatal(err)
			}
			end := e.clock.Now().Add(-time.Minute)
			call := &trunkline.Call{UUID: "call-" + c.id, RequestUUID: "req-" + c.id, AccountID: c.id, Direction: "inbound", From: "447700900123", To: number,
				State: trunkline.CallCompleted, EndedAt: &end, HangupCauseName: "Normal Hangup"}
			if err := e.db.InsertCall(context.Background(), call); err != nil {
				t.Fatal(err)
			}
			rec := &trunkline.Recording{ID: "rec-" + c.id, AccountID: c.id, CallUUID: call.UUID, Format: "wav", From: call.From, To: number}
			if err := e.db.InsertRecording(context.Background(), rec); err != nil {
				t.Fatal(err)
			}
			files.put(c.id, rec.ID, []byte("audio of "+c.id))
			ep := mustStatus(t, e.do(c, "POST", acctPath(c, "Endpoint/"), map[string]any{"username": "phone", "password": "pw-" + c.id,
				"alias": "phone of " + c.id, "app_id": app}), 201)
			callerID := "44" + number // a verified caller ID of c's (VerifiedCallerId/{phone_number})
			if err := e.db.SaveVerifiedCallerID(context.Background(), &trunkline.VerifiedCallerID{AccountID: c.id, PhoneNumber: callerID,
				Alias: "desk of " + c.id, Channel: "sms", VerifiedAt: end, ModifiedAt: end}); err != nil {
				t.Fatal(err)
			}
			objects[c.id] = map[string]string{"app_id": app, "number": number, "message_uuid": msg.UUID, "call_uuid": call.UUID,
				"recording_id": rec.ID, "request_uuid": call.RequestUUID, "endpoint_id": ep.str("endpoint_id"), "phone_number": callerID,
				// Not a path variable: checked for leaks in every reply.
				"endpoint_username": ep.str("username"), "conference_name": rooms.open(c.id), "mpc_id": "uuid_mpc-" + c.id}
		}
		// Path variables that name no object (the audio's file extension).
		fixed := strings.NewReplacer("{format}", "wav", "{member_id}", "1")
		own(a, "14155550100")
		own(a1, "14155550101")
		own(a2, "14155550102")
		own(b, "14155550103")
		objects[a.id]["sub_id"] = a1.id
		objects[a1.id]["sub_id"] = a1.id
		objects[a2.id]["sub_id"] = a2.id
		objects[b.id]["sub_id"] = newSub(b, "b-one").id

		// foreign lists every identifier a caller must never see.
		foreign := func(caller cred, victims ...cred) []string {
			var out []string
			for _, v := range victims {
				out = append(out, v.id)
				for _, id := range objects[v.id] {
					if id != caller.id {
						out = append(out, id)
					}
				}
			}
			return out
		}
		checkNoLeak := func(t *testing.T, r reply, ids []string) {
			t.Helper()
			for _, id := range ids {
				if strings.Contains(r.raw, id) {
					t.Fatalf("reply leaks %s: %s", id, r.raw)
				}
			}
		}
		check404 := func(t *testing.T, r reply) {
			t.Helper()
			mustStatus(t, r, http.StatusNotFound)
			if len(r.body) != 2 {
				t.Fatalf("404 carries more than api_id and error: %s", r.raw)
			}
		}

		matrix := []struct {
			name           string
			caller, victim cred
		}{
			{"other main account", b, a},
			{"other tenant's subaccount", b, a1},
			{"subaccount on parent", a1, a},
			{"subaccount on sibling", a1, a2},
			{"main on other tenant's sub", a, b},
		}
		routes := e.srv.Routes()
		// The matrix covers every route: each object a route names exists for every victim,
		// so no route is skipped for want of one (a new route needs an object above).
		for _, rt := range routes {
			if rt.IDVar == "" {
				continue
			}
			for _, m := range matrix {
				if objects[m.victim.id][rt.IDVar] == "" {
					t.Fatalf("no %s object of %s for %s %s: add one to the matrix", rt.IDVar, m.name, rt.Method, rt.Pattern)
				}
			}
		}
		// Collections as each caller sees them, before any probing (the caller's own
		// audit entries of the probes would name what it probed).
		for _, m := range matrix {
			for _, rt := range routes {
				if rt.IDVar != "" || rt.Method != "GET" {
					continue
				}
				path := strings.Replace(rt.Pattern, "{auth_id}", m.caller.id, 1) + "/"
				if strings.HasSuffix(rt.Pattern, "/PhoneNumber") {
					continue // the public inventory: rented numbers are excluded (checked below)
				}
				t.Run(m.name+"/list "+rt.Pattern, func(t *testing.T) {
					r := e.do(m.caller, "GET", path, nil)
					checkShape(t, r)
					if m.caller == a {
						// A main account legitimately sees its own subaccounts' objects.
						checkNoLeak(t, r, foreign(m.caller, b))
					} else {
						checkNoLeak(t, r, foreign(m.caller, m.victim))
					}
				})
			}
		}
		for _, m := range matrix {
			for _, rt := range routes {
				if rt.IDVar == "" {
					continue
				}
				obj := objects[m.victim.id][rt.IDVar]
				if obj == "" {
					continue
				}
				path := fixed.Replace(strings.NewReplacer("{auth_id}", m.caller.id, "{"+rt.IDVar+"}", obj).Replace(rt.Pattern)) + "/"
				t.Run(m.name+"/"+rt.Method+" "+rt.Pattern, func(t *testing.T) {
					var body any
					if rt.Method != "GET" {
						body = map[string]any{}
					}
					check404(t, e.do(m.caller, rt.Method, path, body))
				})
			}
		}
		// Every route, with B's credentials and A's Auth ID in the path.
		for _, rt := range routes {
			path := strings.Replace(rt.Pattern, "{auth_id}", a.id, 1)
			for v, id := range objects[a.id] {
				path = strings.Replace(path, "{"+v+"}", id, 1)
			}
			path = fixed.Replace(path)
			t.Run("foreign auth id/"+rt.Method+" "+rt.Pattern, func(t *testing.T) {
				var body any
				if rt.Method != "GET" {
					body = map[string]any{"name": "pwned"}
				}
				check404(t, e.do(b, rt.Method, path+"/", body))
			})
		}
		// The public inventory never offers rented numbers.
		r := mustStatus(t, e.do(b, "GET", acctPath(b, "PhoneNumber/?country_iso=US"), nil), 200)
		checkNoLeak(t, r, []string{"14155550100", "14155550101", "14155550102"})

		// Nothing of A changed.
		r = mustStatus(t, e.do(a, "GET", acctPath(a, ""), nil), 200)
		if r.str("name") != "tenant-a" {
			t.Fatalf("A was renamed: %s", r.raw)
		}
		for _, c := range []cred{a, a1, a2} {
			mustStatus(t, e.do(c, "GET", acctPath(c, "Application/"+objects[c.id]["app_id"]+"/"), nil), 200)
			r := mustStatus(t, e.do(c, "GET", acctPath(c, "Number/"+objects[c.id]["number"]+"/"), nil), 200)
			if r.str("application") == "" {
				t.Fatalf("%s's number lost its application: %s", c.id, r.raw)
			}
		}
		for _, c := range []cred{a, a1, a2} {
			mustStatus(t, e.do(c, "GET", acctPath(c, "Call/"+objects[c.id]["call_uuid"]+"/"), nil), 200)
			mustStatus(t, e.do(c, "GET", acctPath(c, "Recording/"+objects[c.id]["recording_id"]+"/"), nil), 200)
			if r := mustStatus(t, e.do(c, "GET", acctPath(c, "Endpoint/"+objects[c.id]["endpoint_id"]+"/"), nil), 200); r.str("alias") != "phone of "+c.id || r.str("application") == "" {
				t.Fatalf("%s's endpoint changed: %s", c.id, r.raw)
			}
			// The audio the probes asked for is there for its owner, by the same path form.
			if status, _, body := e.fetch(c, acctPath(c, "Recording/"+objects[c.id]["recording_id"]+".wav/")); status != 200 || body != "audio of "+c.id {
				t.Fatalf("%s's recording audio: %d %q", c.id, status, body)
			}
		}
		mustStatus(t, e.do(a, "GET", acctPath(a, "Subaccount/"+a1.id+"/"), nil), 200)
		mustStatus(t, e.do(a1, "GET", acctPath(a1, ""), nil), 200)
		// The main account sees its subaccounts' objects, as on Plivo.
		r = mustStatus(t, e.do(a, "GET", acctPath(a, "Application/"), nil), 200)
		if r.body["meta"].(map[string]any)["total_count"].(float64) != 3 {
			t.Fatalf("main account should list its and its subaccounts' applications: %s", r.raw)
		}
	})
}
