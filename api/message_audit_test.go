package api

import (
	"bytes"
	"context"
	"testing"

	"github.com/trunkline/trunkline/audit"
	"github.com/trunkline/trunkline/keys"
	"github.com/trunkline/trunkline/message"
	"github.com/trunkline/trunkline/store/storetest"
)

// TestMessageSendAudited: POST Message/ stores its audit entry with the messages, in
// their transaction: one "message.send" entry per request with its status, object and
// field names; a refused request gets its failure entry; and when the audit log cannot
// record, nothing is queued and the caller is told (fail closed).
func TestMessageSendAudited(t *testing.T) {
	for _, db := range storetest.Open(t) {
		t.Run(string(db.Dialect()), func(t *testing.T) {
			ring, err := keys.NewRing(bytes.Repeat([]byte{7}, 32))
			if err != nil {
				t.Fatal(err)
			}
			// The real message service (no carriers: messages are stored, not sent).
			e := newEnv(t, db, Options{Messages: message.New(message.Options{DB: db, Ring: ring}), RateBurst: 1000})
			a := e.mainAccount("audited")
			importNumbers(t, e.db, "14155550100")
			mustStatus(t, e.do(a, "POST", acctPath(a, "PhoneNumber/14155550100/"), nil), 201)
			ctx := context.Background()
			entries := func(action string) []audit.Entry {
				t.Helper()
				es, _, err := e.audit.List(ctx, audit.Filter{AccountIDs: []string{a.id}, Action: action})
				if err != nil {
					t.Fatal(err)
				}
				return es
			}
			r := mustStatus(t, e.do(a, "POST", acctPath(a, "Message/"), map[string]any{"src": "14155550100", "dst": "447700900123<447700900124", "text": "hi"}), 202)
			uuids := r.body["message_uuid"].([]any)
			es := entries("message.send")
			if len(es) != 1 {
				t.Fatalf("%d message.send entries, want 1: %+v", len(es), es)
			}
			got := es[0]
			if got.Outcome != "success" || got.ObjectType != "message" || got.ObjectID != uuids[0] || got.Source != "127.0.0.1" ||
				got.Detail["status"] != "202" || got.Detail["count"] != "2" || got.Detail["log"] != "true" || got.Detail["fields"] != "dst,src,text" {
				t.Fatalf("entry %+v", got)
			}

			// Refused: the failure is recorded, nothing is queued.
			mustStatus(t, e.do(a, "POST", acctPath(a, "Message/"), map[string]any{"src": "14155550100", "text": "no dst"}), 400)
			if es := entries("message.send"); len(es) != 2 || es[0].Outcome != "failure" || es[0].Detail["status"] != "400" {
				t.Fatalf("after a refused send: %+v", es)
			}

			// The audit log stops: a send is refused and not queued.
			e.audit.Close()
			r = e.do(a, "POST", acctPath(a, "Message/"), map[string]any{"src": "14155550100", "dst": "447700900125", "text": "unrecorded"})
			if r.status != 503 {
				t.Fatalf("send with the audit log closed: %d %s", r.status, r.raw)
			}
			ms := mustStatus(t, e.do(a, "GET", acctPath(a, "Message/"), nil), 200)
			if n := ms.body["meta"].(map[string]any)["total_count"].(float64); n != 2 {
				t.Fatalf("%v messages stored, want the first request's 2", n)
			}
		})
	}
}

// TestApplicationCreateAudited: POST Application/ stores its audit entry with the
// application: one "application.create" entry naming it; a refused create records its
// failure naming no application; with the audit log closed nothing is created.
func TestApplicationCreateAudited(t *testing.T) {
	forEachStore(t, Options{}, func(t *testing.T, e *env) {
		a := e.mainAccount("apps audited")
		ctx := context.Background()
		entries := func() []audit.Entry {
			t.Helper()
			es, _, err := e.audit.List(ctx, audit.Filter{AccountIDs: []string{a.id}, Action: "application.create"})
			if err != nil {
				t.Fatal(err)
			}
			return es
		}
		id := mustStatus(t, e.do(a, "POST", acctPath(a, "Application/"), map[string]any{"app_name": "ivr", "answer_url": "https://example.com/a"}), 201).str("app_id")
		es := entries()
		if len(es) != 1 || es[0].Outcome != "success" || es[0].ObjectID != id || es[0].Detail["status"] != "201" || es[0].Detail["fields"] != "answer_url,app_name" {
			t.Fatalf("entries %+v", es)
		}
		mustStatus(t, e.do(a, "POST", acctPath(a, "Application/"), map[string]any{"app_name": "no url"}), 400)
		if es := entries(); len(es) != 2 || es[0].Outcome != "failure" || es[0].ObjectID != "" || es[0].Detail["status"] != "400" {
			t.Fatalf("after a refused create: %+v", es)
		}
		e.audit.Close()
		if r := e.do(a, "POST", acctPath(a, "Application/"), map[string]any{"app_name": "unrecorded", "answer_url": "https://example.com/a"}); r.status != 503 {
			t.Fatalf("create with the audit log closed: %d %s", r.status, r.raw)
		}
		list := mustStatus(t, e.do(a, "GET", acctPath(a, "Application/"), nil), 200)
		if n := list.body["meta"].(map[string]any)["total_count"].(float64); n != 1 {
			t.Fatalf("%v applications, want the first one only", n)
		}
	})
}
