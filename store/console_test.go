package store_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/trunkline/trunkline"
	. "github.com/trunkline/trunkline/store"
)

func TestDayCounts(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		mkAccount(t, db, "MA1", "")
		mkAccount(t, db, "SA1", "MA1")
		mkAccount(t, db, "MA2", "")
		start := time.Date(2026, 11, 14, 0, 0, 0, 0, time.UTC)
		at := func(day int, h int) time.Time { return start.AddDate(0, 0, day).Add(time.Duration(h) * time.Hour) }
		var ms []*trunkline.Message
		add := func(acct string, when time.Time, state string) {
			db.SetClock(func() time.Time { return when })
			m := &trunkline.Message{UUID: fmt.Sprintf("m%d", len(ms)), AccountID: acct, Direction: "outbound", Type: "sms", LogMode: "true",
				From: "1", To: "2", State: state, Units: 1, ExpiresAt: when.Add(time.Hour)}
			if err := db.InsertMessages(ctx, []*trunkline.Message{m}, nil); err != nil {
				t.Fatal(err)
			}
			ms = append(ms, m)
		}
		add("MA1", at(-1, 23), trunkline.MsgDelivered) // before the chart
		add("MA1", at(0, 0), trunkline.MsgDelivered)
		add("MA1", at(0, 23), trunkline.MsgDelivered)
		add("SA1", at(0, 5), trunkline.MsgFailed)
		add("MA1", at(13, 12), trunkline.MsgQueued)
		add("MA2", at(0, 1), trunkline.MsgDelivered) // another account
		got, err := db.MessageDayCounts(ctx, trunkline.Scope{AccountID: "MA1", IncludeSubs: true}, start)
		if err != nil {
			t.Fatal(err)
		}
		sort.Slice(got, func(i, j int) bool { return fmt.Sprint(got[i]) < fmt.Sprint(got[j]) })
		want := "[{0 1 failed false  0} {0 2 delivered false  0} {13 1 queued false  0}]"
		if fmt.Sprint(got) != want {
			t.Fatalf("message counts %v, want %s", got, want)
		}

		for i, c := range []struct {
			day      int
			answered bool
			cause    string
			code     int
		}{{1, true, "Normal Hangup", 4000}, {1, true, "Normal Hangup", 4000}, {2, false, "Busy Line", 3000}, {-2, true, "Normal Hangup", 4000}} {
			when := at(c.day, 10)
			db.SetClock(func() time.Time { return when })
			call := &trunkline.Call{UUID: fmt.Sprintf("c%d", i), AccountID: "MA1", Direction: "outbound", From: "1", To: "2", InitiatedAt: when}
			if err := db.InsertCall(ctx, call); err != nil {
				t.Fatal(err)
			}
			call.EndedAt = &when
			if c.answered {
				call.AnsweredAt = &when
			}
			call.HangupCauseName, call.HangupCauseCode = c.cause, c.code
			if err := db.FinishCall(ctx, call); err != nil {
				t.Fatal(err)
			}
		}
		calls, err := db.CallDayCounts(ctx, trunkline.Scope{AccountID: "MA1"}, start)
		if err != nil {
			t.Fatal(err)
		}
		sort.Slice(calls, func(i, j int) bool { return calls[i].Day < calls[j].Day })
		if len(calls) != 2 || calls[0].Day != 1 || calls[0].N != 2 || !calls[0].Answered ||
			calls[1].Day != 2 || calls[1].Answered || calls[1].CauseName != "Busy Line" || calls[1].CauseCode != 3000 {
			t.Fatalf("call counts %+v", calls)
		}
	})
}
