package voice_test

import (
	"net/netip"
	"testing"
	"time"
)

// Bad input on the SIP side gets a SIP status, never a crash, and leaves no
// call behind.
func TestSIPBadInput(t *testing.T) {
	s := newStack(t, stackOptions{})
	s.app.set("/answer", `<Response><Speak>hi</Speak></Response>`)
	addr := s.srv.Addr().String()
	pcmu := sdpOffer("0 101", "0 PCMU/8000", "101 telephone-event/8000")
	cases := []struct {
		name string
		req  func(string) string
		want int
	}{
		{"G.722 only", inviteRequest(addr, s.number, "application/sdp", sdpOffer("9", "9 G722/8000")), 488},
		{"video only", inviteRequest(addr, s.number, "application/sdp", "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=video 4000 RTP/AVP 96\r\n"), 488},
		{"malformed SDP", inviteRequest(addr, s.number, "application/sdp", "this is not sdp\r\n"), 400},
		{"SDP without c=", inviteRequest(addr, s.number, "application/sdp", "v=0\r\nm=audio 4000 RTP/AVP 0\r\n"), 400},
		{"bad payload type", inviteRequest(addr, s.number, "application/sdp", sdpOffer("0 999")), 400},
		{"not SDP", inviteRequest(addr, s.number, "text/plain", "hello"), 415},
		{"unknown number", inviteRequest(addr, "14155559999", "application/sdp", pcmu), 404},
		{"not a number", inviteRequest(addr, "alice", "application/sdp", pcmu), 404},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := rawSIP(t, addr, tc.req); got != tc.want {
				t.Fatalf("got %d, want %d", got, tc.want)
			}
		})
	}
	// Garbage and a truncated request: no answer is fine; the server must
	// still be alive and answering after them.
	for _, junk := range []string{"\x00\x01\x02garbage", "INVITE sip:x SIP/2.0\r\nVia: broken\r\n\r\n", "SIP/2.0 200 OK\r\n\r\n"} {
		rawSIPNoWait(t, addr, junk)
	}
	if got := rawSIP(t, addr, optionsRequest(addr)); got != 200 {
		t.Fatalf("OPTIONS after garbage: %d", got)
	}
	waitIdle(t, s)
}

// An INVITE from an address that is not a trunk gets 403 and nothing else:
// no lookup, no application request.
func TestTrunkACL(t *testing.T) {
	s := newStack(t, stackOptions{acl: func(a netip.Addr) (string, bool) {
		return "carrier-a", a == netip.MustParseAddr("127.0.0.2")
	}})
	s.app.set("/answer", `<Response><Speak>hi</Speak></Response>`)
	addr := s.srv.Addr().String()
	if got := rawSIP(t, addr, inviteRequest(addr, s.number, "application/sdp", sdpOffer("0", "0 PCMU/8000"))); got != 403 {
		t.Fatalf("got %d, want 403", got)
	}
	select {
	case h := <-s.app.ch:
		t.Fatalf("the application was asked (%s) for a refused call", h.path)
	case <-time.After(200 * time.Millisecond):
	}
}
