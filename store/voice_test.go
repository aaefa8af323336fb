package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trunkline/trunkline"
	. "github.com/trunkline/trunkline/store"
	"github.com/trunkline/trunkline/store/storetest"
)

func intp(v int) *int { return &v }

// reopen opens a second handle on the database behind db (as a second node would).
func reopen(t *testing.T, db *DB) *DB {
	t.Helper()
	ctx := context.Background()
	var dsn string
	if db.Dialect() == Postgres {
		var schema string
		if err := db.SQL().QueryRowContext(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
			t.Fatal(err)
		}
		dsn = os.Getenv(storetest.PostgresEnv)
		sep := "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
		dsn += sep + "search_path=" + schema
	} else {
		var seq int
		var name string
		if err := db.SQL().QueryRowContext(ctx, `PRAGMA database_list`).Scan(&seq, &name, &dsn); err != nil {
			t.Fatal(err)
		}
	}
	h, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func TestCallLifecycle(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		db.SetClock(func() time.Time { return now })
		mkAccount(t, db, "MA1", "")
		c := &trunkline.Call{UUID: "c1", AccountID: "MA1", Direction: "outbound", From: "14155550100", To: "447700900123",
			RequestUUID: "r1", Trunk: "sandbox", AppID: "app1"}
		if err := db.InsertCall(ctx, c); err != nil {
			t.Fatal(err)
		}
		if c.State != trunkline.CallRinging || !c.InitiatedAt.Equal(now) {
			t.Fatalf("defaults not applied: %+v", c)
		}
		if err := db.InsertCall(ctx, &trunkline.Call{UUID: "c1", AccountID: "MA1", Direction: "inbound"}); !errors.Is(err, trunkline.ErrConflict) {
			t.Fatalf("duplicate uuid: %v", err)
		}
		if err := db.InsertCall(ctx, &trunkline.Call{UUID: "c9", AccountID: "MA1", State: "dancing"}); err == nil {
			t.Fatal("unknown state accepted")
		}
		main := trunkline.Scope{AccountID: "MA1", IncludeSubs: true}
		// Not a CDR until completed.
		if _, n, _ := db.ListCalls(ctx, main, trunkline.CallFilter{Limit: 20}); n != 0 {
			t.Fatalf("ringing call listed as a CDR: %d", n)
		}
		answered := now.Add(5 * time.Second)
		if err := db.MarkCallAnswered(ctx, "c1", answered); err != nil {
			t.Fatal(err)
		}
		if err := db.MarkCallAnswered(ctx, "c1", answered.Add(time.Hour)); err != nil {
			t.Fatalf("second answer: %v", err)
		}
		if err := db.MarkCallAnswered(ctx, "nope", answered); !errors.Is(err, trunkline.ErrNotFound) {
			t.Fatalf("answer unknown call: %v", err)
		}
		got, err := db.GetCall(ctx, main, "c1")
		if err != nil || got.State != trunkline.CallInProgress || got.AnsweredAt == nil || !got.AnsweredAt.Equal(answered) || got.EndedAt != nil {
			t.Fatalf("after answer: %+v %v", got, err)
		}
		// The engine finishes with only what it knows at hang-up; it gets the whole record back.
		ended := answered.Add(42 * time.Second)
		fin := &trunkline.Call{UUID: "c1", EndedAt: &ended, Duration: 47, BillDuration: 42, HangupCauseCode: 4000,
			HangupCauseName: "Normal Hangup", HangupSource: "Callee", HangupReason: "the called party hung up"}
		if err := db.FinishCall(ctx, fin); err != nil {
			t.Fatal(err)
		}
		if fin.State != trunkline.CallCompleted || fin.AccountID != "MA1" || fin.From != "14155550100" || fin.AppID != "app1" ||
			fin.AnsweredAt == nil || !fin.AnsweredAt.Equal(answered) || !fin.EndedAt.Equal(ended) || !fin.InitiatedAt.Equal(now) {
			t.Fatalf("finished record: %+v", fin)
		}
		if err := db.FinishCall(ctx, &trunkline.Call{UUID: "c1", HangupCauseCode: 1000}); !errors.Is(err, trunkline.ErrConflict) {
			t.Fatalf("second finish: %v", err)
		}
		if err := db.FinishCall(ctx, &trunkline.Call{UUID: "nope"}); !errors.Is(err, trunkline.ErrNotFound) {
			t.Fatalf("finish unknown call: %v", err)
		}
		got, _ = db.GetCall(ctx, main, "c1")
		if got.HangupCauseCode != 4000 || got.HangupReason != "the called party hung up" || got.BillDuration != 42 {
			t.Fatalf("first end did not win: %+v", got)
		}
		// A leg that failed before it rang can be stored completed at once; EndedAt
		// defaults to now.
		if err := db.InsertCall(ctx, &trunkline.Call{UUID: "c2", AccountID: "MA1", Direction: "outbound", State: trunkline.CallRinging}); err != nil {
			t.Fatal(err)
		}
		if err := db.FinishCall(ctx, &trunkline.Call{UUID: "c2", HangupCauseCode: 2000, HangupCauseName: "Invalid Destination Address"}); err != nil {
			t.Fatal(err)
		}
		got, _ = db.GetCall(ctx, main, "c2")
		if got.AnsweredAt != nil || got.EndedAt == nil || !got.EndedAt.Equal(now) {
			t.Fatalf("unanswered finish: %+v", got)
		}
		// Inserted completed without an end: it ended when it started, and is listed.
		if err := db.InsertCall(ctx, &trunkline.Call{UUID: "c3", AccountID: "MA1", Direction: "outbound", State: trunkline.CallCompleted,
			InitiatedAt: now.Add(-time.Minute), HangupCauseCode: 2000}); err != nil {
			t.Fatal(err)
		}
		if calls, _, _ := db.ListCalls(ctx, main, trunkline.CallFilter{EndFrom: now.Add(-time.Hour), Limit: 20}); len(calls) != 3 ||
			calls[2].UUID != "c3" || !calls[2].EndedAt.Equal(now.Add(-time.Minute)) {
			t.Fatalf("completed on insert: %+v", calls)
		}
	})
}

func TestListCallsFilters(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		mkAccount(t, db, "MA1", "")
		mkAccount(t, db, "SA1", "MA1")
		ins := func(uuid, acct, dir, from, to, parent string, bill, code int, source string, endHours int) {
			t.Helper()
			end := base.Add(time.Duration(endHours) * time.Hour)
			c := &trunkline.Call{UUID: uuid, AccountID: acct, Direction: dir, From: from, To: to, ParentUUID: parent, State: trunkline.CallCompleted,
				InitiatedAt: end.Add(-time.Minute), EndedAt: &end, Duration: bill, BillDuration: bill, HangupCauseCode: code,
				HangupSource: source}
			if err := db.InsertCall(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		ins("a", "MA1", "outbound", "14155550100", "447700900001", "", 10, 4000, "Caller", 1)
		ins("b", "MA1", "outbound", "14155550100", "447700900002", "a", 60, 4000, "Callee", 2)
		ins("c", "SA1", "inbound", "447700900003", "14155550101", "", 0, 3000, "Callee", 3)
		ins("d", "MA1", "inbound", "12025550100", "14155550100", "", 125, 4010, "Answer XML", 4)
		if err := db.InsertCall(ctx, &trunkline.Call{UUID: "live", AccountID: "MA1", Direction: "inbound"}); err != nil {
			t.Fatal(err)
		}
		main := trunkline.Scope{AccountID: "MA1", IncludeSubs: true}
		cases := []struct {
			name string
			f    trunkline.CallFilter
			want string
		}{
			{"all, newest end first", trunkline.CallFilter{}, "dcba"},
			{"subaccount", trunkline.CallFilter{Subaccount: "SA1"}, "c"},
			{"direction", trunkline.CallFilter{Direction: "inbound"}, "dc"},
			{"from prefix", trunkline.CallFilter{From: "1415"}, "ba"},
			{"from exact", trunkline.CallFilter{From: "12025550100"}, "d"},
			{"to prefix", trunkline.CallFilter{To: "4477009000"}, "ba"},
			{"prefix is not a pattern", trunkline.CallFilter{From: "1415%"}, ""},
			{"parent", trunkline.CallFilter{ParentUUID: "a"}, "b"},
			{"hangup source", trunkline.CallFilter{HangupSource: "Callee"}, "cb"},
			{"cause code", trunkline.CallFilter{HangupCauseCode: intp(4000)}, "ba"},
			{"cause code zero", trunkline.CallFilter{HangupCauseCode: intp(0)}, ""},
			{"bill min", trunkline.CallFilter{BillDurationMin: intp(60)}, "db"},
			{"bill range", trunkline.CallFilter{BillDurationMin: intp(1), BillDurationMax: intp(60)}, "ba"},
			{"bill exact zero", trunkline.CallFilter{BillDurationMin: intp(0), BillDurationMax: intp(0)}, "c"},
			{"end from inclusive", trunkline.CallFilter{EndFrom: base.Add(2 * time.Hour)}, "dcb"},
			{"end to exclusive", trunkline.CallFilter{EndTo: base.Add(2 * time.Hour)}, "a"},
			{"end window", trunkline.CallFilter{EndFrom: base.Add(2 * time.Hour), EndTo: base.Add(4 * time.Hour)}, "cb"},
			{"page", trunkline.CallFilter{Offset: 1, Limit: 2}, "cb"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				if c.f.Limit == 0 {
					c.f.Limit = 20
				}
				got, total, err := db.ListCalls(ctx, main, c.f)
				if err != nil {
					t.Fatal(err)
				}
				s := ""
				for _, x := range got {
					s += x.UUID
				}
				if s != c.want {
					t.Fatalf("got %q, want %q", s, c.want)
				}
				if c.f.Offset == 0 && total != len(c.want) {
					t.Fatalf("total %d, want %d", total, len(c.want))
				}
				if c.f.Offset > 0 && total != 4 {
					t.Fatalf("total %d for a page, want 4", total)
				}
			})
		}
	})
}

// TestVoiceScoped: a subaccount never sees its parent's or a sibling's calls and
// recordings; a main account sees its subaccounts' but never another tenant's.
func TestVoiceScoped(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		for _, a := range [][2]string{{"MA1", ""}, {"SA1", "MA1"}, {"SA2", "MA1"}, {"MA2", ""}} {
			mkAccount(t, db, a[0], a[1])
			end := time.Now()
			if err := db.InsertCall(ctx, &trunkline.Call{UUID: "call-" + a[0], AccountID: a[0], Direction: "inbound", State: trunkline.CallCompleted, EndedAt: &end}); err != nil {
				t.Fatal(err)
			}
			if err := db.InsertRecording(ctx, &trunkline.Recording{ID: "rec-" + a[0], AccountID: a[0], CallUUID: "call-" + a[0], Format: "wav"}); err != nil {
				t.Fatal(err)
			}
		}
		scopes := map[string]trunkline.Scope{
			"MA1": {AccountID: "MA1", IncludeSubs: true}, "SA1": {AccountID: "SA1"}, "SA2": {AccountID: "SA2"},
			"MA2": {AccountID: "MA2", IncludeSubs: true},
		}
		visible := map[string][]string{"MA1": {"MA1", "SA1", "SA2"}, "SA1": {"SA1"}, "SA2": {"SA2"}, "MA2": {"MA2"}}
		for caller, sc := range scopes {
			sees := map[string]bool{}
			for _, v := range visible[caller] {
				sees[v] = true
			}
			for owner := range scopes {
				_, cerr := db.GetCall(ctx, sc, "call-"+owner)
				_, rerr := db.GetRecording(ctx, sc, "rec-"+owner)
				if sees[owner] != (cerr == nil) || sees[owner] != (rerr == nil) {
					t.Fatalf("%s reading %s's call/recording: %v / %v", caller, owner, cerr, rerr)
				}
				if !sees[owner] && (!errors.Is(cerr, trunkline.ErrNotFound) || !errors.Is(rerr, trunkline.ErrNotFound)) {
					t.Fatalf("%s reading %s's: want ErrNotFound, got %v / %v", caller, owner, cerr, rerr)
				}
			}
			calls, n, err := db.ListCalls(ctx, sc, trunkline.CallFilter{Limit: 20})
			if err != nil || n != len(visible[caller]) || len(calls) != n {
				t.Fatalf("%s lists %d calls, want %d (%v)", caller, n, len(visible[caller]), err)
			}
			recs, n, err := db.ListRecordings(ctx, sc, trunkline.RecordingFilter{Limit: 20})
			if err != nil || n != len(visible[caller]) || len(recs) != n {
				t.Fatalf("%s lists %d recordings, want %d (%v)", caller, n, len(visible[caller]), err)
			}
			for _, c := range calls {
				if !sees[c.AccountID] {
					t.Fatalf("%s lists %s's call", caller, c.AccountID)
				}
			}
			// Naming someone else's subaccount in the filter shows nothing.
			if _, n, _ := db.ListCalls(ctx, sc, trunkline.CallFilter{Subaccount: "SA2", Limit: 20}); caller != "MA1" && caller != "SA2" && n != 0 {
				t.Fatalf("%s sees SA2's calls through the subaccount filter", caller)
			}
			if _, n, _ := db.ListRecordings(ctx, sc, trunkline.RecordingFilter{Subaccount: "SA2", Limit: 20}); caller != "MA1" && caller != "SA2" && n != 0 {
				t.Fatalf("%s sees SA2's recordings through the subaccount filter", caller)
			}
		}
		// Deletes obey the same scope.
		for _, c := range []struct{ caller, rec string }{{"SA1", "rec-MA1"}, {"SA1", "rec-SA2"}, {"MA2", "rec-SA1"}, {"MA1", "rec-MA2"}} {
			if _, err := db.DeleteRecording(ctx, scopes[c.caller], c.rec); !errors.Is(err, trunkline.ErrNotFound) {
				t.Fatalf("%s deleted %s: %v", c.caller, c.rec, err)
			}
		}
		r, err := db.DeleteRecording(ctx, scopes["MA1"], "rec-SA1")
		if err != nil || r.ID != "rec-SA1" || r.AccountID != "SA1" {
			t.Fatalf("main deletes its sub's recording: %+v %v", r, err)
		}
		if _, err := db.GetRecording(ctx, scopes["SA1"], "rec-SA1"); !errors.Is(err, trunkline.ErrNotFound) {
			t.Fatalf("deleted recording still there: %v", err)
		}
		if _, err := db.DeleteRecording(ctx, scopes["SA1"], "rec-SA1"); !errors.Is(err, trunkline.ErrNotFound) {
			t.Fatalf("second delete: %v", err)
		}
		// A subaccount with voice records can still be deleted; its records and keys go with it.
		if _, err := db.PutAccountDataKey(ctx, "SA2", "recordings", []byte("k")); err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteSubaccount(ctx, "MA1", "SA2", true); err != nil {
			t.Fatalf("delete a subaccount with calls: %v", err)
		}
		if _, err := db.GetCall(ctx, scopes["MA1"], "call-SA2"); !errors.Is(err, trunkline.ErrNotFound) {
			t.Fatalf("deleted subaccount's call: %v", err)
		}
		if _, err := db.AccountDataKey(ctx, "SA2", "recordings"); !errors.Is(err, trunkline.ErrNotFound) {
			t.Fatalf("deleted subaccount's data key survived: %v", err)
		}
	})
}

func TestRecordings(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		db.SetClock(func() time.Time { return now })
		mkAccount(t, db, "MA1", "")
		r := &trunkline.Recording{ID: "r1", AccountID: "MA1", CallUUID: "c1", Format: "mp3", DurationMs: 345100,
			StartMs: 1772366400000, EndMs: 1772366745100, Size: 12345, From: "14155550100", To: "447700900123"}
		if err := db.InsertRecording(ctx, r); err != nil {
			t.Fatal(err)
		}
		if r.Type != "call" || !r.CreatedAt.Equal(now) {
			t.Fatalf("defaults: %+v", r)
		}
		if err := db.InsertRecording(ctx, &trunkline.Recording{ID: "r1", AccountID: "MA1", Format: "wav"}); !errors.Is(err, trunkline.ErrConflict) {
			t.Fatalf("duplicate id: %v", err)
		}
		sc := trunkline.Scope{AccountID: "MA1", IncludeSubs: true}
		got, err := db.GetRecording(ctx, sc, "r1")
		if err != nil || *got != *r {
			t.Fatalf("read back:\n got %+v\nwant %+v (%v)", got, r, err)
		}
		for i := 2; i <= 4; i++ {
			if err := db.InsertRecording(ctx, &trunkline.Recording{ID: fmt.Sprint("r", i), AccountID: "MA1", CallUUID: "c2", Format: "wav",
				From: "12025550100", To: "14155550100", CreatedAt: now.Add(time.Duration(i) * time.Hour)}); err != nil {
				t.Fatal(err)
			}
		}
		cases := []struct {
			name string
			f    trunkline.RecordingFilter
			want string
		}{
			{"all, newest first", trunkline.RecordingFilter{}, "r4r3r2r1"},
			{"call", trunkline.RecordingFilter{CallUUID: "c1"}, "r1"},
			{"from", trunkline.RecordingFilter{From: "12025550100"}, "r4r3r2"},
			{"to", trunkline.RecordingFilter{To: "447700900123"}, "r1"},
			{"added from (inclusive)", trunkline.RecordingFilter{AddFrom: now.Add(3 * time.Hour)}, "r4r3"},
			{"added before (exclusive)", trunkline.RecordingFilter{AddTo: now.Add(3 * time.Hour)}, "r2r1"},
			{"page", trunkline.RecordingFilter{Limit: 2, Offset: 2}, "r2r1"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				if c.f.Limit == 0 {
					c.f.Limit = 20
				}
				got, _, err := db.ListRecordings(ctx, sc, c.f)
				if err != nil {
					t.Fatal(err)
				}
				s := ""
				for _, x := range got {
					s += x.ID
				}
				if s != c.want {
					t.Fatalf("got %q, want %q", s, c.want)
				}
			})
		}
	})
}

func TestAccountDataKeys(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		mkAccount(t, db, "MA1", "")
		if _, err := db.AccountDataKey(ctx, "MA1", "recordings"); !errors.Is(err, trunkline.ErrNotFound) {
			t.Fatalf("no key yet: %v", err)
		}
		// Concurrent creators all end up with one and the same key, also across two
		// handles on the same database (as two nodes are), each with its own writer.
		other := reopen(t, db)
		var wg sync.WaitGroup
		got := make([][]byte, 8)
		errs := make([]error, 8)
		for i := range got {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				h := db
				if i%2 == 1 {
					h = other
				}
				got[i], errs[i] = h.PutAccountDataKey(ctx, "MA1", "recordings", []byte{byte(i + 1), 0xAA})
			}(i)
		}
		wg.Wait()
		for i := range got {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			if !bytes.Equal(got[i], got[0]) {
				t.Fatalf("creators disagree: %x vs %x", got[i], got[0])
			}
		}
		stored, err := db.AccountDataKey(ctx, "MA1", "recordings")
		if err != nil || !bytes.Equal(stored, got[0]) {
			t.Fatalf("stored key %x %v, want %x", stored, err, got[0])
		}
		// A later put never replaces it; another purpose is another key.
		if again, _ := db.PutAccountDataKey(ctx, "MA1", "recordings", []byte("other")); !bytes.Equal(again, stored) {
			t.Fatalf("key replaced: %x", again)
		}
		if k, err := db.PutAccountDataKey(ctx, "MA1", "backups", []byte("b")); err != nil || string(k) != "b" {
			t.Fatalf("second purpose: %q %v", k, err)
		}
	})
}
