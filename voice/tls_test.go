package voice_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/emiago/diago"
	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/trunkline/trunkline/audio"
	"github.com/trunkline/trunkline/certs"
)

// SIP over TLS: a diago phone calls over TLS (trusting the server's CA) and
// hears the application; SIPp here has no TLS, so diago is the peer.
func TestSIPOverTLS(t *testing.T) {
	dir := t.TempDir()
	gen, err := certs.EnsureSelfSigned(dir, dir, []string{"127.0.0.1", "localhost"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	srvTLS, err := certs.ServerConfig(gen.CertPath, gen.KeyPath)
	if err != nil {
		t.Fatal(err)
	}
	s := newStack(t, stackOptions{tls: srvTLS})
	s.app.set("/answer", `<Response><Speak>Hello over TLS</Speak><Hangup/></Response>`)
	s.app.set("/hangup", "ok")
	if !s.srv.TLSAddr().IsValid() {
		t.Fatal("no TLS listener")
	}
	caPEM, err := os.ReadFile(gen.CAPath)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("tls-phone"), sipgo.WithUserAgenTLSConfig(&tls.Config{RootCAs: pool}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ua.Close() })
	dg := diago.NewDiago(ua, diago.WithTransport(diago.Transport{Transport: "tls", BindHost: "127.0.0.1", BindPort: 0, TLSURINoSIPS: true}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	host, port, _ := net.SplitHostPort(s.srv.TLSAddr().String())
	p, _ := strconv.Atoi(port)
	params := sip.NewParams()
	params.Add("transport", "tls")
	d, med, err := dg.Invite(ctx, sip.Uri{User: s.number, Host: host, Port: p, UriParams: params}, diago.InviteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	r, err := med.AudioReader()
	if err != nil {
		t.Fatal(err)
	}
	var pcm []int16
	buf := make([]byte, 1500)
	for len(pcm) < 8000 {
		n, err := r.Read(buf)
		if err != nil {
			break
		}
		pcm = audio.DecodeMulaw(pcm, buf[:n])
	}
	if f := speechFraction(pcm); f < 0.3 {
		t.Fatalf("speech in %.0f%% of 1 s over TLS", f*100)
	}
	hp := s.app.wait(t, "/hangup", 15*time.Second)
	if hp.Get("HangupSource") != "Answer XML" {
		t.Fatalf("hangup %v", hp)
	}
}
