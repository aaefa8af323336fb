package voice_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/emiago/diago"
	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/trunkline/trunkline/account"
	"github.com/trunkline/trunkline/store"
)

// A call from a registered phone (an endpoint) is authenticated by digest
// (407) and runs the endpoint's application; a wrong password gets nowhere.
func TestCallFromEndpointRunsItsApp(t *testing.T) {
	s := newStack(t, stackOptions{registrar: true, acl: func(netip.Addr) (string, bool) { return "", false }})
	user := "bob" + "123456789012"
	sec, err := account.SealEndpointPassword(s.ring, user, "localhost", "bob-Pass-123")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.db.CreateEndpoint(t.Context(), &store.Endpoint{ID: "90000000000002", AccountID: s.acct.Account.ID, Username: user,
		Alias: "bob", AppID: s.appRow.ID, Realm: sec.Realm, HA1Enc: sec.HA1Enc, PasswordMD5Enc: sec.PasswordMD5Enc}); err != nil {
		t.Fatal(err)
	}
	s.app.set("/answer", `<Response><Speak>Hello Bob</Speak><Hangup/></Response>`)
	s.app.set("/hangup", "ok")
	dg := dialer(t)
	uri := sip.Uri{User: "14155550100", Host: "127.0.0.1", Port: int(s.srv.Addr().Port())}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, _, err = dg.Invite(ctx, uri, diago.InviteOptions{Username: user, Password: "wrong-password"})
	var re *sipgo.ErrDialogResponse
	if !errors.As(err, &re) || re.Res.StatusCode != 407 {
		t.Fatalf("wrong password: %v, want 407", err)
	}
	d, med, err := dg.Invite(ctx, uri, diago.InviteOptions{Username: user, Password: "bob-Pass-123"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ans := s.app.wait(t, "/answer", 10*time.Second)
	if ans.Get("From") != user || ans.Get("To") != "14155550100" {
		t.Fatalf("answer_url params %v", ans)
	}
	r, _ := med.AudioReader()
	buf := make([]byte, 1500)
	for {
		if _, err := r.Read(buf); err != nil {
			break
		}
	}
	if c := lastCall(t, s); c.From != user || c.Trunk != "endpoint:"+user || c.AccountID != s.acct.Account.ID {
		t.Fatalf("cdr %+v", c)
	}
}
