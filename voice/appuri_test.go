package voice_test

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/emiago/sipgo"

	"github.com/trunkline/trunkline"
)

// sip:{app_id}@host runs the application; a SIP peer that is not one of our
// trunks may call it only when the application's public_uri is true, and
// otherwise gets 403 with no detail (the same answer as for an application
// that does not exist).
func TestApplicationSIPURI(t *testing.T) {
	s := newStack(t, stackOptions{acl: func(netip.Addr) (string, bool) { return "", false }}) // the caller is no trunk
	s.app.set("/answer", `<Response><Speak>Application reached</Speak><Hangup/></Response>`)
	s.app.set("/hangup", "ok")
	for _, user := range []string{s.appRow.ID, "99999999"} {
		_, err := call(t, s, user)
		var re *sipgo.ErrDialogResponse
		if !errors.As(err, &re) || re.Res.StatusCode != 403 || re.Res.Reason != "Forbidden" {
			t.Fatalf("sip:%s@ from a stranger: %v, want 403 Forbidden", user, err)
		}
	}
	if _, err := s.db.UpdateApplication(t.Context(), trunkline.Scope{AccountID: s.acct.Account.ID}, s.appRow.ID, func(a *trunkline.Application) error {
		a.PublicURI = true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	p, err := call(t, s, s.appRow.ID)
	if err != nil {
		t.Fatalf("public application: %v", err)
	}
	p.ended(t, 15*time.Second)
	if f := speechFraction(p.listen(t, 0)); f < 0.3 {
		t.Fatalf("speech in %.0f%%", f*100)
	}
	if c := lastCall(t, s); c.To != s.appRow.ID || c.AccountID != s.acct.Account.ID || c.Trunk != "public-uri" {
		t.Fatalf("cdr %+v", c)
	}
	// A rented number is still only for trunks.
	_, err = call(t, s, s.number)
	var re *sipgo.ErrDialogResponse
	if !errors.As(err, &re) || re.Res.StatusCode != 403 {
		t.Fatalf("number from a stranger: %v", err)
	}
}
