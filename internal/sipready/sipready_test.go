package sipready

import (
	"context"
	"net"
	"testing"
)

func TestAwait(t *testing.T) {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A listener that answers the second request only: Await must retry.
	go func() {
		buf := make([]byte, 2048)
		for n := 0; ; n++ {
			_, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			if n >= 1 {
				c.WriteTo([]byte("SIP/2.0 200 OK\r\n\r\n"), from)
			}
		}
	}()
	if err := Await(context.Background(), c.LocalAddr().String()); err != nil {
		t.Fatal(err)
	}
	// Nobody listening: an error once ctx ends (here at once).
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Await(ctx, "127.0.0.1:9"); err == nil {
		t.Fatal("no error for a silent address")
	}
}
