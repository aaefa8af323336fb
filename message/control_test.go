package message_test

import (
	"context"
	"testing"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/smpp/pdu"
	"github.com/trunkline/trunkline/store/storetest"
)

// TestInboundControlCharacters: a deliver_sm whose UCS-2 text holds NUL and ESC (which
// GSM 7-bit cannot carry, but UCS-2, Latin-1 and IA5 can) is accepted and stored with
// those characters replaced, on every store. Before, PostgreSQL refused the NUL, the
// SMSC got a temporary error and would redeliver a message that could never be stored.
func TestInboundControlCharacters(t *testing.T) {
	for _, db := range storetest.Open(t) {
		t.Run(string(db.Dialect()), func(t *testing.T) {
			s := newStack(t, db, nil)
			ctx := context.Background()
			tok := func() string { v, _ := s.accounts.Token(ctx, s.acct.Account.ID); return v }
			rcv := newReceiver(t, tok)
			app := &trunkline.Application{ID: "778", AccountID: s.acct.Account.ID, Name: "sms", MessageURL: rcv.srv.URL + "/in", MessageMethod: "POST",
				LogIncomingMessages: true, Enabled: true}
			if err := db.CreateApplication(ctx, app); err != nil {
				t.Fatal(err)
			}
			if _, err := db.UpdateRented(ctx, trunkline.Scope{AccountID: s.acct.Account.ID}, "14155550100", func(n *trunkline.Number) error {
				n.AppID = "778"
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if st, err := s.sandbox.Inbound(ctx, "447700900555", "14155550100", "hi\x00there\x1b!\r\nnext line"); err != nil || st != pdu.ESME_ROK {
				t.Fatalf("inbound: %v %v", st, err)
			}
			want := "hi\uFFFDthere\uFFFD!\r\nnext line"
			if cb := rcv.next(t); cb.Get("Text") != want {
				t.Fatalf("callback Text %q, want %q", cb.Get("Text"), want)
			}
			ms, _, err := db.ListMessages(ctx, trunkline.Scope{AccountID: s.acct.Account.ID}, trunkline.MessageFilter{Direction: "inbound", Limit: 5})
			if err != nil || len(ms) != 1 || ms[0].Body != want || ms[0].State != trunkline.MsgReceived {
				t.Fatalf("stored inbound %v %+v", err, ms)
			}
		})
	}
}
