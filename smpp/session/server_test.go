package session

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/trunkline/trunkline/smpp/pdu"
)

func TestDeliverPicksReceivingBinds(t *testing.T) {
	bound := make(chan *Session, 3)
	srv := startServer(t, ServerOptions{OnBind: func(s *Session) { bound <- s }})
	got := make(chan string, 2)
	onDeliver := func(ctx context.Context, d *pdu.DeliverSM) pdu.Status {
		got <- string(d.Message())
		return pdu.ESME_ROK
	}
	boundClient(t, srv.Addr().String(), ClientOptions{Bind: Transmitter, OnDeliver: onDeliver})
	boundClient(t, srv.Addr().String(), ClientOptions{Bind: Receiver, OnDeliver: onDeliver})
	for range 2 {
		<-bound
	}
	sessions := srv.Sessions(testSystemID)
	if len(sessions) != 2 {
		t.Fatalf("%d sessions", len(sessions))
	}
	var delivered int
	for _, s := range sessions {
		st, err := s.Deliver(testCtx(t), &pdu.DeliverSM{SourceAddr: "1", DestinationAddr: "2", ShortMessage: []byte(s.Bind().String())})
		switch s.Bind() {
		case Transmitter:
			if !errors.Is(err, ErrBindType) {
				t.Errorf("deliver to a transmitter: %v %v", st, err)
			}
		case Receiver:
			if err != nil || st != pdu.ESME_ROK {
				t.Errorf("deliver to a receiver: %v %v", st, err)
			}
			delivered++
		}
		if s.Bind().CanReceive() != (s.Bind() == Receiver) {
			t.Errorf("%v CanReceive", s.Bind())
		}
	}
	if delivered != 1 || <-got != "receiver" {
		t.Fatal("the receiver did not get its message")
	}
}

func TestDeliverWindowAndLostConnection(t *testing.T) {
	bound := make(chan *Session, 1)
	srv := startServer(t, ServerOptions{Window: 2, OnBind: func(s *Session) { bound <- s }})
	g := newGate()
	boundClient(t, srv.Addr().String(), ClientOptions{
		OnDeliver: func(ctx context.Context, d *pdu.DeliverSM) pdu.Status {
			if g.pass(ctx) != nil {
				return pdu.ESME_RX_T_APPN
			}
			return pdu.ESME_ROK
		},
	})
	s := <-bound
	errs := make(chan error, 5)
	for range 5 {
		go func() {
			_, err := s.Deliver(testCtx(t), &pdu.DeliverSM{SourceAddr: "1", DestinationAddr: "2", ShortMessage: []byte("x")})
			errs <- err
		}()
	}
	g.waitArrivals(t, 2)
	if m := g.max.Load(); m != 2 {
		t.Fatalf("%d deliveries outstanding, window 2", m)
	}
	s.Close()
	for range 5 {
		if err := <-errs; !errors.Is(err, ErrConnectionLost) {
			t.Errorf("deliver on a closed session: %v", err)
		}
	}
}

func TestServerCloseEndsCallbacks(t *testing.T) {
	g := newGate()
	returned := make(chan struct{})
	srv := startServer(t, ServerOptions{
		OnSubmit: func(ctx context.Context, s *Session, m *pdu.SubmitSM) (string, pdu.Status) {
			defer close(returned)
			g.pass(ctx) // never opened: only the session's end releases it
			return "", pdu.ESME_RSYSERR
		},
	})
	c := boundClient(t, srv.Addr().String(), ClientOptions{})
	errs := make(chan error, 1)
	go func() {
		_, err := c.Submit(testCtx(t), submitTo("1"))
		errs <- err
	}()
	g.waitArrivals(t, 1)
	srv.Close()
	select {
	case <-returned:
	default:
		t.Fatal("Close returned while OnSubmit was still running")
	}
	if err := <-errs; !errors.Is(err, ErrConnectionLost) {
		t.Fatalf("submit: %v", err)
	}
	if err := srv.Start(t.Context()); err == nil {
		t.Fatal("restarting a closed server")
	}
}

func TestServerStartFailsOnBadAddress(t *testing.T) {
	srv := NewServer(ServerOptions{Listen: "256.0.0.1:99999", Logger: testLogger(t)})
	if err := srv.Start(t.Context()); err == nil {
		t.Fatal("bad address accepted")
	}
	if srv.Addr().IsValid() {
		t.Fatal("Addr before a successful Start")
	}
}

func TestTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	srv := startServer(t, ServerOptions{TLS: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}})
	c := boundClient(t, srv.Addr().String(), ClientOptions{TLS: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}})
	resp, err := c.Submit(testCtx(t), submitTo("1"))
	if err != nil || resp.MessageID == "" {
		t.Fatalf("%v %v", resp, err)
	}
	// A client that does not trust the certificate never binds.
	states := newStateLog()
	newTestClient(t, srv.Addr().String(), ClientOptions{TLS: &tls.Config{MinVersion: tls.VersionTLS12}, OnState: states.record})
	states.waitFor(t, StateDown, 1)
}

// selfSigned makes a certificate for 127.0.0.1 and a pool trusting it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "smsc test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

func TestStaticCredentials(t *testing.T) {
	auth := StaticCredentials(map[string]string{"a": "pw", "b": ""})
	for _, tc := range []struct {
		id, pw string
		want   pdu.Status
	}{
		{"a", "pw", pdu.ESME_ROK},
		{"a", "PW", pdu.ESME_RBINDFAIL},
		{"a", "", pdu.ESME_RBINDFAIL},
		{"b", "", pdu.ESME_ROK},
		{"c", "pw", pdu.ESME_RBINDFAIL},
		{"", "", pdu.ESME_RBINDFAIL},
	} {
		if got := auth(tc.id, tc.pw, Transceiver, nil); got != tc.want {
			t.Errorf("%q/%q: %v, want %v", tc.id, tc.pw, got, tc.want)
		}
	}
}
