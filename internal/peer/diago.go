package peer

import (
	"net"
	"testing"

	"github.com/emiago/diago"
	"github.com/emiago/sipgo"

	"github.com/trunkline/trunkline/internal/sipready"
)

// DiagoPhone is a SIP phone built on diago, a SIP stack independent of the code under
// test, listening on its own loopback UDP socket (port 0, open before use rather than
// diago's ephemeral-port path, whose client side can race for the port). It returns
// once the socket answers, so BYEs from the far end reach a listener that knows the
// dialog. It ignores calls made to it; everything is closed by t.Cleanup.
func DiagoPhone(t testing.TB, userAgent string) *diago.Diago {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent(userAgent))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ua.Close() })
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	port := conn.LocalAddr().(*net.UDPAddr).Port
	dg := diago.NewDiago(ua, diago.WithServer(srv),
		diago.WithTransport(diago.Transport{Transport: "udp", BindHost: "127.0.0.1", BindPort: port}))
	dg.HandleFunc(func(d *diago.DialogServerSession) {})
	served := make(chan struct{})
	go func() { defer close(served); srv.ServeUDP(conn) }()
	t.Cleanup(func() { srv.Close(); conn.Close(); <-served })
	if err := sipready.Await(t.Context(), conn.LocalAddr().String()); err != nil {
		t.Fatalf("diago phone: %v", err)
	}
	return dg
}
