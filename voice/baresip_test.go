package voice_test

import (
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/trunkline/trunkline/account"
	"github.com/trunkline/trunkline/certs"
	"github.com/trunkline/trunkline/internal/peer"
	"github.com/trunkline/trunkline/store"
)

// A real softphone (baresip) registers over SIP-TLS, calls its application
// with SRTP required, and the server hangs up: the phone must see the BYE.
// The phone has no TLS certificate, so it accepts no TLS connection, like
// every phone behind NAT: the BYE reaches it only over the connection it
// registered and called on. The server used to open a new connection to the
// phone's Contact for it, which failed, and the phone never heard the BYE
// (this test then times out waiting for CALL_CLOSED).
func TestBaresipTLSHangupReachesPhone(t *testing.T) {
	dir := t.TempDir()
	gen, err := certs.EnsureSelfSigned(dir, []string{"127.0.0.1", "localhost"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	srvTLS, err := certs.ServerConfig(gen.CertPath, gen.KeyPath)
	if err != nil {
		t.Fatal(err)
	}
	phone := peer.StartBaresip(t, peer.BaresipOptions{CAFile: gen.CAPath, Trace: true})
	s := newStack(t, stackOptions{tls: srvTLS, registrar: true, acl: func(netip.Addr) (string, bool) { return "", false }})
	user, pass := "carol"+"123456789012", "carol-Pass-1"
	sec, err := account.SealEndpointPassword(s.ring, user, "localhost", pass)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.db.CreateEndpoint(t.Context(), &store.Endpoint{ID: "90000000000003", AccountID: s.acct.Account.ID, Username: user,
		Alias: "carol", AppID: s.appRow.ID, Realm: sec.Realm, HA1Enc: sec.HA1Enc, PasswordMD5Enc: sec.PasswordMD5Enc}); err != nil {
		t.Fatal(err)
	}
	s.app.set("/answer", `<Response><Speak>Goodbye</Speak><Hangup/></Response>`)
	s.app.set("/hangup", "ok")
	tlsAddr := s.srv.TLSAddr()

	if _, err := phone.Command("uanew", "<sip:"+user+"@"+tlsAddr+";transport=tls>;auth_pass="+pass+";mediaenc=srtp-mand;regint=300"); err != nil {
		t.Fatal(err)
	}
	if e, ok := phone.WaitEvent(15*time.Second, "REGISTER_OK", "REGISTER_FAIL"); !ok || e.Type != "REGISTER_OK" {
		t.Fatalf("registration: %+v (ok %v)\n%s", e, ok, phone.Output())
	}
	if _, err := phone.Command("dial", "sip:14155550100@"+tlsAddr); err != nil {
		t.Fatal(err)
	}
	if e, ok := phone.WaitEvent(15*time.Second, "CALL_ESTABLISHED", "CALL_CLOSED"); !ok || e.Type != "CALL_ESTABLISHED" {
		t.Fatalf("the call was not answered: %+v (ok %v)", e, ok)
	}
	hp := s.app.wait(t, "/hangup", 20*time.Second)
	if hp.Get("HangupSource") != "Answer XML" {
		t.Fatalf("hangup_url %v", hp)
	}
	e, ok := phone.WaitEvent(10*time.Second, "CALL_CLOSED")
	if !ok {
		t.Fatalf("the server hung up but the phone never got the BYE")
	}
	// A lost connection closes the call too: the phone's SIP trace must show
	// the server's BYE arriving, over TLS from the server's listener.
	bye := regexp.MustCompile(`TLS (\S+) -> (\S+)\r?\nBYE sip:`).FindStringSubmatch(phone.Output())
	if bye == nil || bye[1] != tlsAddr {
		t.Fatalf("the phone's call closed (%s) but it received no BYE from %s (%q)", e.Param, tlsAddr, bye)
	}
	if !strings.Contains(phone.Output(), "SRTP is Enabled") {
		t.Fatal("the call did not use SRTP")
	}
}
