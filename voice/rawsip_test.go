package voice_test

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rawSIP sends one request over UDP from a fresh socket and returns the
// final status code it gets (0 for none within the bound). Provisional
// responses (1xx) are skipped; a final response to an INVITE is ACKed.
func rawSIP(t *testing.T, addr string, build func(local string) string) int {
	t.Helper()
	code, _ := rawSIPFrom(t, "127.0.0.1", addr, build)
	return code
}

// rawSIPResponse is rawSIP that also returns the final response itself.
func rawSIPResponse(t *testing.T, addr string, build func(local string) string) (int, string) {
	t.Helper()
	return rawSIPFrom(t, "127.0.0.1", addr, build)
}

// rawSIPFrom is rawSIP from a socket on localIP (any of 127.0.0.0/8), and returns the
// final response too.
func rawSIPFrom(t *testing.T, localIP, addr string, build func(local string) string) (int, string) {
	t.Helper()
	c, err := net.ListenPacket("udp", net.JoinHostPort(localIP, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	raddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	req := build(c.LocalAddr().String())
	buf := make([]byte, 8192)
	for try := 0; try < 20; try++ {
		if _, err := c.WriteTo([]byte(req), raddr); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		for {
			n, _, err := c.ReadFrom(buf)
			if err != nil {
				break
			}
			line, _, _ := strings.Cut(string(buf[:n]), "\r\n")
			f := strings.Fields(line)
			if len(f) < 2 || f[0] != "SIP/2.0" {
				continue
			}
			code, _ := strconv.Atoi(f[1])
			if code >= 200 {
				if strings.HasPrefix(req, "INVITE ") {
					c.WriteTo([]byte(ackFor(req, string(buf[:n]))), raddr)
				}
				return code, string(buf[:n])
			}
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
		}
	}
	return 0, ""
}

func header(msg, name string) string {
	for _, l := range strings.Split(msg, "\r\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func ackFor(req, res string) string {
	uri := strings.Fields(req)[1]
	return "ACK " + uri + " SIP/2.0\r\n" +
		"Via: " + header(req, "Via") + "\r\n" +
		"From: " + header(req, "From") + "\r\n" +
		"To: " + header(res, "To") + "\r\n" +
		"Call-ID: " + header(req, "Call-ID") + "\r\n" +
		"CSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
}

func optionsRequest(target string) func(local string) string {
	return func(local string) string {
		id := rand.Uint64()
		return fmt.Sprintf("OPTIONS sip:ping@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK%x\r\nFrom: <sip:probe@%s>;tag=%x\r\nTo: <sip:ping@%s>\r\nCall-ID: %x@test\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
			target, local, id, local, id, target, id)
	}
}

// inviteRequest builds an INVITE to user@target with body as SDP (none if "").
func inviteRequest(target, user, contentType, body string) func(local string) string {
	return func(local string) string {
		id := rand.Uint64()
		ct := ""
		if body != "" {
			ct = "Content-Type: " + contentType + "\r\n"
		}
		return fmt.Sprintf("INVITE sip:%s@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK%x\r\nFrom: <sip:15550001111@%s>;tag=%x\r\nTo: <sip:%s@%s>\r\nCall-ID: %x@test\r\nCSeq: 1 INVITE\r\nContact: <sip:15550001111@%s>\r\nMax-Forwards: 70\r\n%sContent-Length: %d\r\n\r\n%s",
			user, target, local, id, local, id, user, target, id, local, ct, len(body), body)
	}
}

func sdpOffer(formats string, rtpmaps ...string) string {
	s := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP " + formats + "\r\n"
	for _, m := range rtpmaps {
		s += "a=rtpmap:" + m + "\r\n"
	}
	return s
}

// rawSIPNoWait sends bytes and does not wait for an answer.
func rawSIPNoWait(t *testing.T, addr, msg string) {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte(msg))
}
