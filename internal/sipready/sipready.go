// Package sipready waits until a SIP listener on UDP answers. sipgo puts a UDP socket
// in its transport pool only once its serve loop runs; a server that sends requests
// from its listening socket (BYE, outbound INVITEs) must not do so before then, or the
// request goes out of a second socket that fails to bind the same port. An OPTIONS
// from a fresh socket that gets any SIP response proves the loop runs.
package sipready

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Await sends OPTIONS to addr (host:port) every 100 ms, at most 50 times, until a SIP
// response arrives or ctx ends.
func Await(ctx context.Context, addr string) error {
	to, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return fmt.Errorf("readiness probe: %w", err)
	}
	c, err := net.ListenPacket("udp", net.JoinHostPort(to.IP.String(), "0"))
	if err != nil {
		return fmt.Errorf("readiness probe: %w", err)
	}
	defer c.Close()
	local := c.LocalAddr().String()
	req := "OPTIONS sip:ready@" + addr + " SIP/2.0\r\nVia: SIP/2.0/UDP " + local +
		";branch=z9hG4bKready" + strconv.FormatInt(time.Now().UnixNano(), 36) + "\r\nFrom: <sip:ready@" + local +
		">;tag=ready\r\nTo: <sip:ready@" + addr + ">\r\nCall-ID: ready-" + local +
		"\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
	buf := make([]byte, 2048)
	for try := 0; try < 50 && ctx.Err() == nil; try++ {
		if _, err := c.WriteTo([]byte(req), to); err != nil {
			return fmt.Errorf("readiness probe: %w", err)
		}
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if n, _, err := c.ReadFrom(buf); err == nil && strings.HasPrefix(string(buf[:n]), "SIP/2.0 ") {
			return nil
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return errors.New("the SIP UDP listener did not answer its readiness probe within 5 s")
}
