package message_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/callerid"
	"github.com/trunkline/trunkline/internal/fixture"
	"github.com/trunkline/trunkline/message"
	"github.com/trunkline/trunkline/store/storetest"
)

// TestPrepare checks the send rules the API applies before a message is queued.
func TestPrepare(t *testing.T) {
	for _, db := range storetest.Open(t) {
		t.Run(string(db.Dialect()), func(t *testing.T) {
			ctx := context.Background()
			a := fixture.Main(t, fixture.Accounts(t, db), "a")
			fixture.Rent(t, db, a.ID, "14155550100")
			ids := callerid.New(db)
			str := func(s string) *string { return &s }
			ok := trunkline.MessageDraft{AccountID: a.ID, RequesterIP: "192.0.2.1", Src: "+14155550100",
				Dst: "14155550111< +14155550112 <14155550111", Text: "hi"}
			got, err := message.Prepare(ctx, ok, ids)
			want := trunkline.SendRequest{AccountID: a.ID, Src: "14155550100", Dsts: []string{"14155550111", "14155550112"},
				Text: "hi", LogMode: trunkline.LogAll, Method: "POST", RequesterIP: "192.0.2.1"}
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("Prepare = %+v, %v; want %+v", got, err, want)
			}
			for _, c := range []struct {
				edit func(d *trunkline.MessageDraft)
				want string
			}{
				{func(d *trunkline.MessageDraft) { d.Type = "MMS" }, `type "mms" is not supported: only sms`},
				{func(d *trunkline.MessageDraft) { d.PowerpackUUID = "p" }, "powerpack_uuid is not supported: give src"},
				{func(d *trunkline.MessageDraft) { d.Media = true }, "media_urls are for mms, which is not supported"},
				{func(d *trunkline.MessageDraft) { d.Src = " + " }, "src is required"},
				{func(d *trunkline.MessageDraft) { d.Src = "14155550199" }, "14155550199"},
				{func(d *trunkline.MessageDraft) { d.Dst = "1415" }, `dst "1415" is not a valid number: use E.164 digits`},
				{func(d *trunkline.MessageDraft) { d.Dst = "+14155550100" }, "src and dst must differ"},
				{func(d *trunkline.MessageDraft) { d.Dst = "<" }, "dst is required"},
				{func(d *trunkline.MessageDraft) { d.Text = " \n" }, "text is required"},
				{func(d *trunkline.MessageDraft) { d.Text = strings.Repeat("Ж", 738) }, "text is too long"},
				{func(d *trunkline.MessageDraft) { d.Log = str("maybe") }, "log must be true, false, number_only or content_only"},
				{func(d *trunkline.MessageDraft) { d.URL = "https://u:p@example.com/" }, "url must not contain a user name or password"},
				{func(d *trunkline.MessageDraft) { d.Method = str("PUT") }, "method must be GET or POST"},
				{func(d *trunkline.MessageDraft) { d.Expiry = "99999" }, "parameter message_expiry must be a whole number from 5 to 10800"},
				{func(d *trunkline.MessageDraft) { d.Expiry = "4" }, "parameter message_expiry must be a whole number from 5 to 10800"},
				{func(d *trunkline.MessageDraft) { d.Trackable = "maybe" }, "parameter trackable must be true or false"},
			} {
				d := ok
				c.edit(&d)
				_, err := message.Prepare(ctx, d, ids)
				if trunkline.ErrorCode(err) != trunkline.EINVALID || !strings.Contains(trunkline.ErrorMessage(err), c.want) {
					t.Errorf("Prepare(%+v) = %v, want EINVALID %q", d, err, c.want)
				}
			}
			var many []string
			for i := range 1001 {
				many = append(many, fmt.Sprintf("1415556%04d", i))
			}
			d := ok
			d.Dst = strings.Join(many, "<")
			if _, err := message.Prepare(ctx, d, ids); trunkline.ErrorMessage(err) != "dst lists more than 1000 numbers" {
				t.Errorf("1001 destinations: %v", err)
			}
			d = ok
			d.Log, d.Method, d.URL = str("number_only"), str("get"), "https://example.com/status"
			if r, err := message.Prepare(ctx, d, ids); err != nil || r.LogMode != trunkline.LogNumberOnly || r.Method != "GET" || r.URL != d.URL {
				t.Errorf("log, method and url: %+v, %v", r, err)
			}
			d = ok
			d.Expiry, d.Trackable = "600", "Yes"
			if r, err := message.Prepare(ctx, d, ids); err != nil || r.Expiry != 10*time.Minute {
				t.Errorf("message_expiry and trackable: %+v, %v", r, err)
			}
		})
	}
}
