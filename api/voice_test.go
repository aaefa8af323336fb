package api

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trunkline/trunkline"
)

// memRecordings is an in-memory RecordingFiles.
type memRecordings struct {
	mu         sync.Mutex
	files      map[string][]byte // "account/id"
	failRemove bool
}

func newMemRecordings() *memRecordings { return &memRecordings{files: map[string][]byte{}} }

func (m *memRecordings) put(accountID, id string, audio []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.files[accountID+"/"+id] = audio
}

func (m *memRecordings) has(accountID, id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.files[accountID+"/"+id]
	return ok
}

func (m *memRecordings) Open(ctx context.Context, accountID, id string) (io.ReadCloser, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.files[accountID+"/"+id]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (m *memRecordings) Remove(ctx context.Context, accountID, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failRemove {
		return errors.New("disk on fire")
	}
	delete(m.files, accountID+"/"+id)
	return nil
}

// qtime formats a time as a Plivo filter value, query-escaped.
func qtime(t time.Time) string { return url.QueryEscape(t.UTC().Format("2006-01-02 15:04:05")) }

func objects(t *testing.T, r reply) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, o := range r.body["objects"].([]any) {
		out = append(out, o.(map[string]any))
	}
	return out
}

func ids(objs []map[string]any, key string) string {
	var s []string
	for _, o := range objs {
		s = append(s, o[key].(string))
	}
	return strings.Join(s, ",")
}

// fetch GETs path as c and returns the reply as is (for non-JSON replies).
func (e *env) fetch(c cred, path string) (status int, contentType, body string) {
	e.t.Helper()
	req, err := http.NewRequest("GET", e.base+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	req.SetBasicAuth(c.id, c.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

func (e *env) call(c *trunkline.Call) {
	e.t.Helper()
	if err := e.db.InsertCall(context.Background(), c); err != nil {
		e.t.Fatal(err)
	}
}

// completedCall is a completed call that ended ago before the env's now.
func (e *env) completedCall(uuid, acct string, ago time.Duration, mod func(c *trunkline.Call)) *trunkline.Call {
	e.t.Helper()
	end := e.clock.Now().Add(-ago).Truncate(time.Second)
	c := &trunkline.Call{UUID: uuid, AccountID: acct, Direction: "outbound", From: "14155550100", To: "447700900123",
		State: trunkline.CallCompleted, InitiatedAt: end.Add(-time.Minute), EndedAt: &end, HangupCauseCode: 4000,
		HangupCauseName: "Normal Hangup", HangupSource: "Caller"}
	if mod != nil {
		mod(c)
	}
	e.call(c)
	return c
}

func (e *env) newSub(parent cred, name string) cred {
	e.t.Helper()
	r := mustStatus(e.t, e.do(parent, "POST", acctPath(parent, "Subaccount/"), map[string]any{"name": name, "enabled": true}), 201)
	return cred{r.str("auth_id"), r.str("auth_token")}
}

func TestCallRecords(t *testing.T) {
	forEachStore(t, Options{}, func(t *testing.T, e *env) {
		a := e.mainAccount("calls")
		a1 := e.newSub(a, "calls-sub")
		now := e.clock.Now()
		c1 := e.completedCall("c1", a.id, time.Hour, func(c *trunkline.Call) {
			ans := c.EndedAt.Add(-42 * time.Second)
			c.AnsweredAt, c.Duration, c.BillDuration = &ans, 42, 42
			c.HangupSource, c.HangupReason = "Callee", "the called party hung up"
		})
		e.completedCall("c2", a1.id, 2*time.Hour, func(c *trunkline.Call) {
			c.Direction, c.From, c.To = "inbound", "447700900123", "14155550101"
			c.HangupCauseCode, c.HangupCauseName, c.HangupSource = 3010, "Busy Line", "Callee"
		})
		e.completedCall("c3", a.id, 10*24*time.Hour, nil)
		e.call(&trunkline.Call{UUID: "c4", AccountID: a.id, Direction: "outbound", From: "14155550100", To: "447700900124"})
		e.completedCall("c5", a.id, 30*time.Minute, func(c *trunkline.Call) {
			ans := c.EndedAt.Add(-5 * time.Second)
			c.AnsweredAt, c.Duration, c.BillDuration, c.ParentUUID = &ans, 5, 5, "c1"
			c.HangupCauseCode, c.HangupCauseName, c.HangupSource = 4010, "End Of XML Instructions", "Answer XML"
		})

		// One CDR, every field.
		r := mustStatus(t, e.do(a, "GET", acctPath(a, "Call/c1/"), nil), 200)
		want := map[string]any{
			"answer_time": c1.AnsweredAt.UTC().Format("2006-01-02 15:04:05-07:00"), "bill_duration": 42.0, "billed_duration": 42.0,
			"call_direction": "outbound", "call_duration": 42.0, "call_state": "ANSWER", "call_uuid": "c1", "conference_uuid": nil,
			"end_time": c1.EndedAt.UTC().Format("2006-01-02 15:04:05-07:00"), "from_number": "14155550100",
			"hangup_cause_code": 4000.0, "hangup_cause_name": "Normal Hangup", "hangup_source": "Callee",
			"hangup_reason": "the called party hung up", "initiation_time": c1.InitiatedAt.UTC().Format("2006-01-02 15:04:05-07:00"),
			"parent_call_uuid": nil, "resource_uri": "/v1/Account/" + a.id + "/Call/c1/", "to_number": "447700900123",
			"total_amount": "0.00000", "total_rate": "0.00000",
		}
		for k, v := range want {
			if r.body[k] != v {
				t.Errorf("%s = %#v, want %#v", k, r.body[k], v)
			}
		}
		if at, ok := r.body["trunk_attempts"].([]any); !ok || len(at) != 0 {
			t.Errorf("trunk_attempts = %#v, want []", r.body["trunk_attempts"])
		}
		if len(r.body) != len(want)+2 { // + api_id, trunk_attempts
			t.Errorf("unexpected fields: %s", r.raw)
		}
		r = mustStatus(t, e.do(a, "GET", acctPath(a, "Call/c2"), nil), 200)
		if r.str("call_state") != "BUSY" || r.body["answer_time"] != nil {
			t.Fatalf("unanswered call: %s", r.raw)
		}
		r = mustStatus(t, e.do(a, "GET", acctPath(a, "Call/c5/"), nil), 200)
		if r.str("parent_call_uuid") != "c1" {
			t.Fatalf("B leg: %s", r.raw)
		}
		// A live call has no CDR; without a voice server nothing is live (the
		// live forms are tested with one in voice/ and cmd/).
		mustStatus(t, e.do(a, "GET", acctPath(a, "Call/c4/"), nil), 404)
		mustStatus(t, e.do(a, "GET", acctPath(a, "Call/c4?status=live"), nil), 404)
		r = mustStatus(t, e.do(a, "GET", acctPath(a, "Call/?status=live"), nil), 200)
		if calls, _ := r.body["calls"].([]any); len(calls) != 0 {
			t.Fatalf("live calls with no voice server: %s", r.raw)
		}
		mustStatus(t, e.do(a, "GET", acctPath(a, "Call/?status=queued"), nil), 200)
		mustStatus(t, e.do(a, "GET", acctPath(a, "Call/?status=weird"), nil), 400)
		mustStatus(t, e.do(a, "GET", acctPath(a, "Call/nope/"), nil), 404)
		// The subaccount sees its own call only.
		mustStatus(t, e.do(a1, "GET", acctPath(a1, "Call/c1/"), nil), 404)
		if got := ids(objects(t, mustStatus(t, e.do(a1, "GET", acctPath(a1, "Call/"), nil), 200)), "call_uuid"); got != "c2" {
			t.Fatalf("subaccount lists %q", got)
		}

		list := func(q string) string {
			t.Helper()
			return ids(objects(t, mustStatus(t, e.do(a, "GET", acctPath(a, "Call/?"+q), nil), 200)), "call_uuid")
		}
		cases := []struct{ name, q, want string }{
			{"default: last 7 days, newest end first", "", "c5,c1,c2"},
			{"subaccount", "subaccount=" + a1.id, "c2"},
			{"direction", "call_direction=inbound", "c2"},
			{"from prefix with +", "from_number=%2B1415", "c5,c1"},
			{"to", "to_number=14155550101", "c2"},
			{"parent", "parent_call_uuid=c1", "c5"},
			{"bill exact", "bill_duration=42", "c1"},
			{"bill gt", "bill_duration__gt=5", "c1"},
			{"bill gte", "bill_duration__gte=5", "c5,c1"},
			{"bill lt", "bill_duration__lt=5", "c2"},
			{"bill range", "bill_duration__gt=0&bill_duration__lte=42", "c5,c1"},
			{"cause", "hangup_cause_code=4000", "c1"},
			{"source", "hangup_source=Callee", "c1,c2"},
			{"older lower bound", "end_time__gte=" + qtime(now.Add(-12*24*time.Hour)), "c5,c1,c2,c3"},
			{"upper bound only: the 7 days before it", "end_time__lt=" + qtime(now.Add(-9*24*time.Hour)), "c3"},
			{"window", "end_time__gt=" + qtime(now.Add(-90*time.Minute)) + "&end_time__lte=" + qtime(now.Add(-45*time.Minute)), "c1"},
			{"exact second", "end_time=" + qtime(*c1.EndedAt), "c1"},
			{"exactly 30 days", "end_time__gte=" + qtime(now.Add(-30*24*time.Hour)) + "&end_time__lte=" + qtime(now), "c5,c1,c2,c3"},
			{"long ago, 5 days", "end_time__gte=" + qtime(now.Add(-40*24*time.Hour)) + "&end_time__lt=" + qtime(now.Add(-35*24*time.Hour)), ""},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				if got := list(c.q); got != c.want {
					t.Fatalf("got %q, want %q", got, c.want)
				}
			})
		}
		r = mustStatus(t, e.do(a, "GET", acctPath(a, "Call/?limit=2"), nil), 200)
		meta := r.body["meta"].(map[string]any)
		if meta["total_count"].(float64) != 3 || meta["next"] != "/v1/Account/"+a.id+"/Call/?limit=2&offset=2" || len(objects(t, r)) != 2 {
			t.Fatalf("page: %s", r.raw)
		}

		bad := []struct{ name, q, mention string }{
			{"over 30 days", "end_time__gte=" + qtime(now.Add(-31*24*time.Hour)) + "&end_time__lte=" + qtime(now), "30 days"},
			{"30 days and a second", "end_time__gte=" + qtime(now.Add(-30*24*time.Hour-time.Second)) + "&end_time__lte=" + qtime(now), "30 days"},
			{"lower bound too old", "end_time__gt=" + qtime(now.Add(-40*24*time.Hour)), "30 days"},
			{"bad time", "end_time__gt=yesterday", "end_time__gt"},
			{"bad direction", "call_direction=sideways", "call_direction"},
			{"bad bill duration", "bill_duration__gt=long", "bill_duration__gt"},
			{"negative bill duration", "bill_duration=-1", "bill_duration"},
			{"bad cause", "hangup_cause_code=normal", "hangup_cause_code"},
			{"unknown filter", "colour=red", "colour"},
		}
		for _, c := range bad {
			t.Run(c.name, func(t *testing.T) {
				r := mustStatus(t, e.do(a, "GET", acctPath(a, "Call/?"+c.q), nil), 400)
				if !strings.Contains(r.str("error"), c.mention) {
					t.Fatalf("error %q does not mention %q", r.str("error"), c.mention)
				}
			})
		}
	})
}

func TestRecordingsAPI(t *testing.T) {
	files := newMemRecordings()
	forEachStore(t, Options{Recordings: files}, func(t *testing.T, e *env) {
		ctx := context.Background()
		a, b := e.mainAccount("rec-main"), e.mainAccount("rec-other")
		a1, a2 := e.newSub(a, "rec-one"), e.newSub(a, "rec-two")
		now := e.clock.Now()
		add := func(c cred, id, format string, age time.Duration, audio string) *trunkline.Recording {
			t.Helper()
			rec := &trunkline.Recording{ID: id, AccountID: c.id, CallUUID: "call-" + id, Format: format, DurationMs: 345100,
				StartMs: 1407235163907, EndMs: 1407235509007, Size: int64(len(audio)), From: "14155550100", To: "447700900123",
				CreatedAt: now.Add(-age)}
			if err := e.db.InsertRecording(ctx, rec); err != nil {
				t.Fatal(err)
			}
			if audio != "" {
				files.put(c.id, id, []byte(audio))
			}
			return rec
		}
		ra := add(a, "ra", "mp3", 3*time.Hour, "ID3 main audio")
		ra1 := add(a1, "ra1", "wav", 2*time.Hour, "RIFF sub one")
		ra2 := add(a2, "ra2", "wav", time.Hour, "RIFF sub two")
		rb := add(b, "rb", "wav", time.Hour, "RIFF other tenant")
		gone := add(a, "nofile", "wav", 4*time.Hour, "")

		r := mustStatus(t, e.do(a, "GET", acctPath(a, "Recording/"+ra.ID+"/"), nil), 200)
		want := map[string]any{
			"add_time": ra.CreatedAt.UTC().Format("2006-01-02 15:04:05-07:00"), "call_uuid": ra.CallUUID, "conference_name": "",
			"from_number": "14155550100", "to_number": "447700900123", "recording_duration_ms": "345100.00000",
			"recording_start_ms": "1407235163907.00000", "recording_end_ms": "1407235509007.00000", "recording_format": "mp3",
			"recording_id": ra.ID, "recording_type": "call", "recording_url": e.base + "/v1/Account/" + a.id + "/Recording/" + ra.ID + ".mp3",
			"resource_uri": "/v1/Account/" + a.id + "/Recording/" + ra.ID + "/",
		}
		for k, v := range want {
			if r.body[k] != v {
				t.Errorf("%s = %#v, want %#v", k, r.body[k], v)
			}
		}
		list := func(c cred, q string) string {
			t.Helper()
			return ids(objects(t, mustStatus(t, e.do(c, "GET", acctPath(c, "Recording/?"+q), nil), 200)), "recording_id")
		}
		all := strings.Join([]string{ra2.ID, ra1.ID, ra.ID, gone.ID}, ",")
		for _, c := range []struct {
			name   string
			caller cred
			q      string
			want   string
		}{
			{"main sees its subaccounts', newest first", a, "", all},
			{"sub sees its own", a1, "", ra1.ID},
			{"sibling", a2, "", ra2.ID},
			{"other tenant", b, "", rb.ID},
			{"subaccount filter", a, "subaccount=" + a1.id, ra1.ID},
			{"call", a, "call_uuid=" + ra.CallUUID, ra.ID},
			{"from with +", a, "from_number=%2B14155550100", all},
			{"to", a, "to_number=0", ""},
			{"added after", a, "add_time__gt=" + qtime(now.Add(-150*time.Minute)), ra2.ID + "," + ra1.ID},
			{"added before", a, "add_time__lte=" + qtime(now.Add(-150*time.Minute)), ra.ID + "," + gone.ID},
			{"added exactly", a, "add_time=" + qtime(ra.CreatedAt), ra.ID},
			{"conference", a, "conference_name=room", ""},
		} {
			t.Run(c.name, func(t *testing.T) {
				if got := list(c.caller, c.q); got != c.want {
					t.Fatalf("got %q, want %q", got, c.want)
				}
			})
		}
		mustStatus(t, e.do(a, "GET", acctPath(a, "Recording/?add_time__gt=soon"), nil), 400)
		if r := mustStatus(t, e.do(a, "POST", acctPath(a, "Recording/"+ra.ID+".mp3"), nil), 405); r.str("error") != "method POST is not allowed here; use DELETE, GET" {
			t.Fatalf("405: %s", r.raw)
		}
		mustStatus(t, e.do(a, "GET", acctPath(a, "Recording/?limit=0"), nil), 400)

		// The audio, at the URL the object gives.
		audio := func(owner cred, rec *trunkline.Recording) string {
			return "/v1/Account/" + owner.id + "/Recording/" + rec.ID + "." + rec.Format
		}
		for _, c := range []struct {
			name   string
			caller cred
			path   string
			ct     string
			body   string
		}{
			{"owner, mp3", a, audio(a, ra), "audio/mpeg", "ID3 main audio"},
			{"owner, wav", a1, audio(a1, ra1), "audio/wav", "RIFF sub one"},
			{"main through the sub's URL", a, audio(a1, ra1), "audio/wav", "RIFF sub one"},
			{"main through its own path", a, audio(a, ra1), "audio/wav", "RIFF sub one"},
		} {
			t.Run(c.name, func(t *testing.T) {
				status, ct, body := e.fetch(c.caller, c.path)
				if status != 200 || ct != c.ct || body != c.body {
					t.Fatalf("%d %s %q", status, ct, body)
				}
			})
		}
		r = mustStatus(t, e.do(a1, "GET", acctPath(a1, "Recording/"+ra1.ID+"/"), nil), 200)
		if r.str("recording_url") != e.base+audio(a1, ra1) {
			t.Fatalf("recording_url %s", r.str("recording_url"))
		}
		for _, c := range []struct {
			name   string
			caller cred
			path   string
		}{
			{"sibling through the owner's URL", a2, audio(a1, ra1)},
			{"sibling through its own path", a2, audio(a2, ra1)},
			{"sub through the parent's path", a1, audio(a, ra)},
			{"sub on the parent's recording", a1, audio(a1, ra)},
			{"main naming the wrong sub", a, audio(a2, ra1)},
			{"other tenant through the owner's URL", b, audio(a, ra)},
			{"other tenant through its own path", b, audio(b, ra1)},
			{"main on other tenant's", a, audio(a, rb)},
			{"main through other tenant's path", a, audio(b, rb)},
			{"wrong format", a, "/v1/Account/" + a.id + "/Recording/" + ra.ID + ".wav"},
			{"no file", a, audio(a, gone)},
			{"no such recording", a, "/v1/Account/" + a.id + "/Recording/nope.wav"},
			{"empty format", a, "/v1/Account/" + a.id + "/Recording/" + ra.ID + "."},
		} {
			t.Run(c.name, func(t *testing.T) {
				r := mustStatus(t, e.do(c.caller, "GET", c.path, nil), 404)
				if len(r.body) != 2 || r.str("error") != "not found" {
					t.Fatalf("404 with more than api_id and error: %s", r.raw)
				}
			})
		}

		// Deletes: only in scope; the row then the file; audited.
		mustStatus(t, e.do(a2, "DELETE", acctPath(a2, "Recording/"+ra1.ID+"/"), map[string]any{}), 404)
		mustStatus(t, e.do(b, "DELETE", acctPath(b, "Recording/"+ra1.ID+"/"), nil), 404)
		mustStatus(t, e.do(a1, "DELETE", acctPath(a1, "Recording/"+ra1.ID+"/"), map[string]any{}), 204)
		if files.has(a1.id, ra1.ID) {
			t.Fatal("file left after DELETE")
		}
		mustStatus(t, e.do(a1, "GET", acctPath(a1, "Recording/"+ra1.ID+"/"), nil), 404)
		mustStatus(t, e.do(a, "GET", audio(a1, ra1), nil), 404)
		mustStatus(t, e.do(a1, "DELETE", acctPath(a1, "Recording/"+ra1.ID+"/"), nil), 404)
		// The main account deletes its subaccount's; a file that will not go is not the client's problem.
		files.mu.Lock()
		files.failRemove = true
		files.mu.Unlock()
		mustStatus(t, e.do(a, "DELETE", acctPath(a, "Recording/"+ra2.ID+"/"), nil), 204)
		files.mu.Lock()
		files.failRemove = false
		files.mu.Unlock()
		mustStatus(t, e.do(a2, "GET", acctPath(a2, "Recording/"+ra2.ID+"/"), nil), 404)

		r = mustStatus(t, e.do(a, "GET", acctPath(a, "AuditLog/?action=recording.delete"), nil), 200)
		var sawFailure bool
		for _, o := range objects(t, r) {
			d := o["detail"].(map[string]any)
			if o["object_id"] == ra2.ID {
				sawFailure = d["file"] == "not removed" && d["owner"] == a2.id && o["outcome"] == "success"
			}
		}
		// a2's refused, a1's done and refused, a's done (b's is in b's log).
		if n := len(objects(t, r)); n != 4 || !sawFailure {
			t.Fatalf("delete audit entries (want 4, one noting the file): %s", r.raw)
		}
		r = mustStatus(t, e.do(a, "GET", acctPath(a, "AuditLog/?action=recording.audio"), nil), 200)
		var ok, failed int
		for _, o := range objects(t, r) {
			switch o["outcome"] {
			case "success":
				ok++
			case "failure":
				failed++
			}
		}
		// Served: 3 to a, 1 to a1 (a sees its subaccounts' entries). Refused reads that
		// reached the handler are recorded as failures; a path naming an account the
		// caller may not use is refused before (like every route's).
		if ok != 4 || failed != 8 {
			t.Fatalf("audio reads audited: %d served, %d refused: %s", ok, failed, r.raw)
		}
	})
}

// TestRecordingsWithoutFiles: with no RecordingFiles the audio is not found and DELETE
// still removes the record.
func TestRecordingsWithoutFiles(t *testing.T) {
	forEachStore(t, Options{}, func(t *testing.T, e *env) {
		a := e.mainAccount("nofiles")
		if err := e.db.InsertRecording(context.Background(), &trunkline.Recording{ID: "r1", AccountID: a.id, Format: "wav"}); err != nil {
			t.Fatal(err)
		}
		mustStatus(t, e.do(a, "GET", acctPath(a, "Recording/r1.wav"), nil), 404)
		mustStatus(t, e.do(a, "DELETE", acctPath(a, "Recording/r1/"), nil), 204)
		mustStatus(t, e.do(a, "GET", acctPath(a, "Recording/r1/"), nil), 404)
	})
}
