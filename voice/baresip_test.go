package voice_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/diago"
	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/account"
	"github.com/trunkline/trunkline/certs"
	"github.com/trunkline/trunkline/internal/peer"
)

// The phones in these tests are baresip with no TLS certificate: it opens
// TLS connections but accepts none, like every phone behind NAT. Requests to
// it reach it only over the connection it registered or called on. The
// server used to open a new connection to the phone's Contact for requests
// inside a dialog; that failed, and the phone never heard the BYE (these
// tests then time out waiting for CALL_CLOSED).

// tlsStack is a stack serving SIP over TLS too, with the registrar; it
// returns the CA file its certificate chains to.
func tlsStack(t *testing.T, acl func(netip.Addr) (string, bool)) (*stack, string) {
	t.Helper()
	dir := t.TempDir()
	gen, err := certs.EnsureSelfSigned(dir, dir, []string{"127.0.0.1", "localhost"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	srvTLS, err := certs.ServerConfig(gen.CertPath, gen.KeyPath)
	if err != nil {
		t.Fatal(err)
	}
	return newStack(t, stackOptions{tls: srvTLS, registrar: true, acl: acl}), gen.CAPath
}

// addEndpoint makes user (password pass) an endpoint of the stack's account
// running its application.
func addEndpoint(t *testing.T, s *stack, id, user, pass string) {
	t.Helper()
	sec, err := account.SealEndpointPassword(s.ring, user, "localhost", pass)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.db.CreateEndpoint(t.Context(), &trunkline.Endpoint{ID: id, AccountID: s.acct.Account.ID, Username: user,
		Alias: user[:5], AppID: s.appRow.ID, Realm: sec.Realm, HA1Enc: sec.HA1Enc, PasswordMD5Enc: sec.PasswordMD5Enc}); err != nil {
		t.Fatal(err)
	}
}

// tlsPhone starts a TLS stack with the registrar, and baresip registered on
// its TLS listener as an endpoint running the stack's application; extra is
// added to baresip's account line.
func tlsPhone(t *testing.T, acl func(netip.Addr) (string, bool), user, extra string) (*stack, *peer.Baresip) {
	t.Helper()
	s, ca := tlsStack(t, acl)
	phone := peer.StartBaresip(t, peer.BaresipOptions{CAFile: ca, Trace: true})
	pass := user[:5] + "-Pass-1"
	addEndpoint(t, s, "90000000000003", user, pass)
	if _, err := phone.Command("uanew", "<sip:"+user+"@"+s.srv.TLSAddr().String()+";transport=tls>;auth_pass="+pass+";mediaenc=srtp-mand;regint=300"+extra); err != nil {
		t.Fatal(err)
	}
	if e, ok := phone.WaitEvent(15*time.Second, "REGISTER_OK", "REGISTER_FAIL"); !ok || e.Type != "REGISTER_OK" {
		t.Fatalf("registration: %+v (ok %v)\n%s", e, ok, phone.Output())
	}
	return s, phone
}

// sawBYE checks that the phone's call ended on a BYE that came over TLS from
// the server's listener (a lost connection closes the call too), with SRTP.
func sawBYE(t *testing.T, s *stack, phone *peer.Baresip) {
	t.Helper()
	e, ok := phone.WaitEvent(10*time.Second, "CALL_CLOSED")
	if !ok {
		t.Fatal("the server hung up but the phone never got the BYE")
	}
	bye := regexp.MustCompile(`TLS (\S+) -> (\S+)\r?\nBYE sip:`).FindStringSubmatch(phone.Output())
	if bye == nil || bye[1] != s.srv.TLSAddr().String() {
		t.Fatalf("the phone's call closed (%s) but it received no BYE from %s (%q)", e.Param, s.srv.TLSAddr().String(), bye)
	}
	if !strings.Contains(phone.Output(), "SRTP is Enabled") {
		t.Fatal("the call did not use SRTP")
	}
}

// The phone registers over SIP-TLS, calls its application with SRTP
// required, and the application hangs up: the phone sees the BYE.
func TestBaresipTLSHangupReachesPhone(t *testing.T) {
	s, phone := tlsPhone(t, func(netip.Addr) (string, bool) { return "", false }, "carol123456789012", "")
	s.app.set("/answer", `<Response><Speak>Goodbye</Speak><Hangup/></Response>`)
	s.app.set("/hangup", "ok")
	if _, err := phone.Command("dial", "sip:14155550100@"+s.srv.TLSAddr().String()); err != nil {
		t.Fatal(err)
	}
	if e, ok := phone.WaitEvent(15*time.Second, "CALL_ESTABLISHED", "CALL_CLOSED"); !ok || e.Type != "CALL_ESTABLISHED" {
		t.Fatalf("the call was not answered: %+v (ok %v)", e, ok)
	}
	if hp := s.app.wait(t, "/hangup", 20*time.Second); hp.Get("HangupSource") != "Answer XML" {
		t.Fatalf("hangup_url %v", hp)
	}
	sawBYE(t, s, phone)
}

// <Dial><User> rings the registered phone over its registration's TLS
// connection; when the caller hangs up, the phone's leg gets its BYE on the
// same connection.
func TestBaresipDialUserOverTLS(t *testing.T) {
	user := "dave1" + "23456789012"
	s, phone := tlsPhone(t, nil, user, ";answermode=auto")
	s.app.set("/answer", `<Response><Dial action="`+s.app.url("/dialed")+`" redirect="false"><User>sip:`+user+`@localhost</User></Dial></Response>`)
	s.app.set("/dialed", "ok")
	s.app.set("/hangup", "ok")
	caller, err := call(t, s, s.number)
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := phone.WaitEvent(15*time.Second, "CALL_ESTABLISHED", "CALL_CLOSED"); !ok || e.Type != "CALL_ESTABLISHED" {
		t.Fatalf("the phone did not answer: %+v (ok %v)\n%s", e, ok, phone.Output())
	}
	caller.hangup()
	if dialed := s.app.wait(t, "/dialed", 15*time.Second); dialed.Get("DialStatus") != "completed" || dialed.Get("DialHangupCause") != "NORMAL_CLEARING" {
		t.Fatalf("Dial action %v", dialed)
	}
	sawBYE(t, s, phone)
}

// baresip puts the address of its TLS connection in the Contact of its
// answers, so TestBaresipDialUserOverTLS cannot tell where the server sends
// the ACK and BYE. This phone (diago) registers over TLS and answers with
// the Contact of a phone behind NAT, an address where nothing listens and
// no transport parameter: the INVITE, ACK and BYE reach it only over its
// registration's TLS connection. (The ACK and BYE used to go to the
// Contact, and the INVITE over UDP: the phone never got the call, or its
// ACK, or the BYE.)
func TestDialUserTLSPhoneBehindNAT(t *testing.T) {
	s, ca := tlsStack(t, nil)
	user, pass := "erin1"+"23456789012", "erin1-Pass-1"
	addEndpoint(t, s, "90000000000004", user, pass)
	caPEM, err := os.ReadFile(ca)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	ua, err := sipgo.NewUA(sipgo.WithUserAgent(user), sipgo.WithUserAgenTLSConfig(&tls.Config{RootCAs: roots}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ua.Close() })
	// The Contact's port: free, and nothing listens there.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	private := l.Addr().(*net.TCPAddr).Port
	l.Close()
	// A Contact host other than the bind address also leaves out the
	// transport parameter, as some phones do: the server must still call it
	// over TLS, the transport it registered over.
	phone := diago.NewDiago(ua, diago.WithTransport(diago.Transport{Transport: "tls", BindHost: "127.0.0.1", ExternalHost: "localhost",
		ExternalPort: private, TLSURINoSIPS: true, MediaSRTP: 1}))
	answered, byed := make(chan struct{}), make(chan struct{})
	phone.HandleFunc(func(d *diago.DialogServerSession) {
		if _, err := d.Answer(diago.AnswerOptions{}); err != nil {
			t.Logf("phone: answer: %v", err)
			return
		}
		close(answered)
		<-d.Context().Done()
		close(byed)
	})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	host, port, _ := net.SplitHostPort(s.srv.TLSAddr().String())
	p, _ := strconv.Atoi(port)
	params := sip.NewParams()
	params.Add("transport", "tls")
	registered := make(chan struct{})
	go phone.Register(ctx, sip.Uri{User: user, Host: host, Port: p, UriParams: params},
		diago.RegisterOptions{Username: user, Password: pass, Expiry: 300 * time.Second, OnRegistered: func() { close(registered) }})
	select {
	case <-registered:
	case <-time.After(10 * time.Second):
		t.Fatal("the phone did not register")
	}

	s.app.set("/answer", `<Response><Dial action="`+s.app.url("/dialed")+`" redirect="false" callbackUrl="`+s.app.url("/dialevent")+`"><User>sip:`+user+`@localhost</User></Dial></Response>`)
	s.app.set("/dialed", "ok")
	s.app.set("/dialevent", "ok")
	s.app.set("/hangup", "ok")
	caller, err := call(t, s, s.number)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-answered:
	case <-time.After(10 * time.Second):
		t.Fatal("the phone was not called, or its answer never acknowledged")
	}
	if ev := s.app.wait(t, "/dialevent", 10*time.Second); ev.Get("Event") != "DialAnswer" {
		t.Fatalf("dial event %v", ev)
	}
	caller.hangup()
	select {
	case <-byed:
	case <-time.After(10 * time.Second):
		t.Fatal("the caller hung up but the phone never got the BYE")
	}
	if dialed := s.app.wait(t, "/dialed", 15*time.Second); dialed.Get("DialHangupCause") != "NORMAL_CLEARING" {
		t.Fatalf("Dial action %v", dialed)
	}
}
