package voice_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/emiago/diago"
	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/account"
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
	if err := s.db.CreateEndpoint(t.Context(), &trunkline.Endpoint{ID: "90000000000002", AccountID: s.acct.Account.ID, Username: user,
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

// natPhone is a phone on UDP at 127.0.0.2 whose Contact names an address where nothing
// listens, as a phone behind NAT advertises its private address: requests
// reach it only at the address its own requests come from. answered, when
// not nil, gets each call it answers (after the ACK).
func natPhone(t *testing.T, user string, answered chan<- *diago.DialogServerSession) *diago.Diago {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent(user))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ua.Close() })
	conn, err := net.ListenPacket("udp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	dead, err := net.ListenPacket("udp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	private := dead.LocalAddr().(*net.UDPAddr).Port
	dead.Close()
	srv, _ := sipgo.NewServer(ua)
	port := conn.LocalAddr().(*net.UDPAddr).Port
	phone := diago.NewDiago(ua, diago.WithServer(srv), diago.WithTransport(diago.Transport{Transport: "udp", BindHost: "127.0.0.2", BindPort: port,
		ExternalHost: "127.0.0.2", ExternalPort: private}))
	phone.HandleFunc(func(d *diago.DialogServerSession) {
		if _, err := d.Answer(diago.AnswerOptions{}); err != nil {
			return
		}
		if answered != nil {
			answered <- d
		}
		<-d.Context().Done()
	})
	go srv.ServeUDP(conn)
	t.Cleanup(func() { srv.Close(); conn.Close() })
	if code := rawSIP(t, conn.LocalAddr().String(), optionsRequest(conn.LocalAddr().String())); code != 200 {
		t.Fatalf("phone not ready: %d", code)
	}
	return phone
}

// A phone behind NAT on UDP hears the server's BYE: for its own call (the
// application hangs up) and for a <Dial><User> call to it (the caller hangs
// up). Its Contact names a private address; the BYE (and the ACK of its
// answer) must go where it sent from. They used to go to the Contact.
func TestPhoneBehindNATOverUDP(t *testing.T) {
	// The caller (127.0.0.1) comes through a trunk; the phone (127.0.0.2) is
	// an endpoint, no trunk.
	s := newStack(t, stackOptions{registrar: true, acl: func(a netip.Addr) (string, bool) { return "loopback", a == netip.MustParseAddr("127.0.0.1") }})
	user, pass := "frank"+"23456789012", "frank-Pass-1"
	sec, err := account.SealEndpointPassword(s.ring, user, "localhost", pass)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.db.CreateEndpoint(t.Context(), &trunkline.Endpoint{ID: "90000000000005", AccountID: s.acct.Account.ID, Username: user,
		Alias: "frank", AppID: s.appRow.ID, Realm: sec.Realm, HA1Enc: sec.HA1Enc, PasswordMD5Enc: sec.PasswordMD5Enc}); err != nil {
		t.Fatal(err)
	}
	answered := make(chan *diago.DialogServerSession, 1)
	phone := natPhone(t, user, answered)
	server := sip.Uri{User: "14155550100", Host: "127.0.0.1", Port: int(s.srv.Addr().Port())}

	t.Run("the application hangs up", func(t *testing.T) {
		s.app.set("/answer", `<Response><Speak>Goodbye</Speak><Hangup/></Response>`)
		s.app.set("/hangup", "ok")
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		d, _, err := phone.Invite(ctx, server, diago.InviteOptions{Username: user, Password: pass})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		select {
		case <-d.Context().Done():
		case <-time.After(15 * time.Second):
			t.Fatal("the application hung up but the phone never got the BYE")
		}
	})
	t.Run("Dial User, the caller hangs up", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		registered := make(chan struct{})
		go phone.Register(ctx, sip.Uri{User: user, Host: "127.0.0.1", Port: int(s.srv.Addr().Port())},
			diago.RegisterOptions{Username: user, Password: pass, Expiry: 300 * time.Second, OnRegistered: func() { close(registered) }})
		select {
		case <-registered:
		case <-time.After(10 * time.Second):
			t.Fatal("the phone did not register")
		}
		s.app.set("/answer", `<Response><Dial callbackUrl="`+s.app.url("/dialevent")+`"><User>sip:`+user+`@localhost</User></Dial></Response>`)
		s.app.set("/dialevent", "ok")
		caller, err := call(t, s, s.number)
		if err != nil {
			t.Fatal(err)
		}
		var d *diago.DialogServerSession
		select {
		case d = <-answered:
		case <-time.After(10 * time.Second):
			t.Fatal("the phone was not called, or its answer never acknowledged")
		}
		if ev := s.app.wait(t, "/dialevent", 10*time.Second); ev.Get("Event") != "DialAnswer" {
			t.Fatalf("dial event %v", ev)
		}
		caller.hangup()
		select {
		case <-d.Context().Done():
		case <-time.After(10 * time.Second):
			t.Fatal("the caller hung up but the phone never got the BYE")
		}
	})
}
