package message_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

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
			ok := message.Draft{AccountID: a.ID, RequesterIP: "192.0.2.1", Src: "+14155550100",
				Dst: "14155550111< +14155550112 <14155550111", Text: "hi"}
			got, err := message.Prepare(ctx, ok, ids)
			want := message.Request{AccountID: a.ID, Src: "14155550100", Dsts: []string{"14155550111", "14155550112"},
				Text: "hi", LogMode: message.LogAll, Method: "POST", RequesterIP: "192.0.2.1"}
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("Prepare = %+v, %v; want %+v", got, err, want)
			}
			for _, c := range []struct {
				edit func(d *message.Draft)
				want string
			}{
				{func(d *message.Draft) { d.Type = "MMS" }, `type "mms" is not supported: only sms`},
				{func(d *message.Draft) { d.PowerpackUUID = "p" }, "powerpack_uuid is not supported: give src"},
				{func(d *message.Draft) { d.Media = true }, "media_urls are for mms, which is not supported"},
				{func(d *message.Draft) { d.Src = " + " }, "src is required"},
				{func(d *message.Draft) { d.Src = "14155550199" }, "14155550199"},
				{func(d *message.Draft) { d.Dst = "1415" }, `dst "1415" is not a valid number: use E.164 digits`},
				{func(d *message.Draft) { d.Dst = "+14155550100" }, "src and dst must differ"},
				{func(d *message.Draft) { d.Dst = "<" }, "dst is required"},
				{func(d *message.Draft) { d.Text = " \n" }, "text is required"},
				{func(d *message.Draft) { d.Text = strings.Repeat("Ж", 738) }, "text is too long"},
				{func(d *message.Draft) { d.Log = str("maybe") }, "log must be true, false, number_only or content_only"},
				{func(d *message.Draft) { d.URL = "https://u:p@example.com/" }, "url must not contain a user name or password"},
				{func(d *message.Draft) { d.Method = str("PUT") }, "method must be GET or POST"},
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
			if r, err := message.Prepare(ctx, d, ids); err != nil || r.LogMode != message.LogNumberOnly || r.Method != "GET" || r.URL != d.URL {
				t.Errorf("log, method and url: %+v, %v", r, err)
			}
		})
	}
}
