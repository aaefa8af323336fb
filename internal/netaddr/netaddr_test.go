package netaddr

import (
	"net"
	"testing"
)

func TestOf(t *testing.T) {
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ap := Of(ln.Addr())
	if !ap.Addr().IsUnspecified() || ap.Port() != uint16(ln.Addr().(*net.TCPAddr).Port) {
		t.Fatalf("Of(%v) = %v", ln.Addr(), ap)
	}
	if got := Of(&net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 80}).String(); got != "127.0.0.1:80" {
		t.Fatalf("tcp 127.0.0.1 (16-byte form): %s", got)
	}
	if got := Of(&net.UDPAddr{IP: net.ParseIP("::1"), Port: 5060}).String(); got != "[::1]:5060" {
		t.Fatalf("udp ::1: %s", got)
	}
	if Of(nil).IsValid() {
		t.Fatal("nil gave a valid address")
	}
}
