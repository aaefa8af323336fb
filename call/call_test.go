package call_test

import (
	"context"
	"strings"
	"testing"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/call"
	"github.com/trunkline/trunkline/callerid"
	"github.com/trunkline/trunkline/internal/fixture"
	"github.com/trunkline/trunkline/store/storetest"
)

// TestRefusals checks the make-call rules; every case is refused before a call is placed
// (calls is nil: reaching it would panic).
func TestRefusals(t *testing.T) {
	for _, db := range storetest.Open(t) {
		t.Run(string(db.Dialect()), func(t *testing.T) {
			ctx := context.Background()
			a := fixture.Main(t, fixture.Accounts(t, db), "a")
			fixture.Rent(t, db, a.ID, "14155550100")
			ok := call.Draft{AccountID: a.ID, From: "+14155550100", To: "14155550111", AnswerURL: "https://example.com/a"}
			for _, c := range []struct {
				edit func(d *call.Draft)
				want string
			}{
				{func(d *call.Draft) { d.MachineDetection = "true" }, "machine_detection is not supported yet"},
				{func(d *call.Draft) { d.From = " " }, "from is required"},
				{func(d *call.Draft) { d.From = "alice" }, "from must be a phone number (digits)"},
				{func(d *call.Draft) { d.From = "14155550199" }, "caller ID 14155550199 is neither a number this account rents"},
				{func(d *call.Draft) { d.CallerName = strings.Repeat("n", 51) }, "caller_name is at most 50 characters"},
				{func(d *call.Draft) { d.SendDigits = "12a" }, "send_digits takes 0-9, *, #, w and W"},
				{func(d *call.Draft) { d.AnswerURL = "" }, "answer_url is required"},
				{func(d *call.Draft) { d.HangupURL = "/h" }, "hangup_url must be an absolute http or https URL"},
				{func(d *call.Draft) { d.RingMethod = "PUT" }, "ring_method must be GET or POST"},
				{func(d *call.Draft) { d.SIPHeaders = "a=1,b" }, "sip_headers must be name=value pairs separated by commas"},
				{func(d *call.Draft) { d.SIPHeaders = "X=1\r\nVia: evil" }, "sip_headers must be name=value pairs separated by commas"},
				{func(d *call.Draft) { d.To = " < " }, "to is required"},
				{func(d *call.Draft) { d.To = "1415<x" }, `to "x" is not a valid number: use E.164 digits`},
				{func(d *call.Draft) { d.To = strings.Repeat("1<", 1001) }, "to lists more than 1000 destinations"},
			} {
				d := ok
				c.edit(&d)
				_, err := call.Place(ctx, nil, callerid.New(db), d)
				if trunkline.ErrorCode(err) != trunkline.EINVALID || !strings.Contains(trunkline.ErrorMessage(err), c.want) {
					t.Errorf("Place(%+v) = %v, want EINVALID %q", d, err, c.want)
				}
			}
		})
	}
}
