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

// A stranger (no trunk's address) learns nothing from OPTIONS either: it
// gets what its INVITE gets, the registrar's uniform 407 challenge when
// endpoints are served, else 403, with no Allow or Accept list. A trunk's
// OPTIONS (its health probe) still gets 200.
func TestStrangerOptionsTellNothing(t *testing.T) {
	stranger := func(a netip.Addr) (string, bool) { return "carrier-a", a == netip.MustParseAddr("127.0.0.2") }
	pcmu := sdpOffer("0", "0 PCMU/8000")
	for _, tc := range []struct {
		name      string
		registrar bool
		want      int
	}{{"with endpoints", true, 407}, {"without endpoints", false, 403}} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStack(t, stackOptions{registrar: tc.registrar, acl: stranger})
			addr := s.srv.Addr().String()
			inv, invRes := rawSIPResponse(t, addr, inviteRequest(addr, s.number, "application/sdp", pcmu))
			opt, optRes := rawSIPResponse(t, addr, optionsRequest(addr))
			if inv != tc.want || opt != tc.want {
				t.Fatalf("stranger: INVITE got %d, OPTIONS got %d; want %d for both", inv, opt, tc.want)
			}
			for _, h := range []string{"Allow", "Accept", "Supported"} {
				if v := header(optRes, h); v != "" {
					t.Errorf("stranger's OPTIONS answer tells %s: %s", h, v)
				}
			}
			if tc.want == 407 && (header(invRes, "Proxy-Authenticate") == "" || header(optRes, "Proxy-Authenticate") == "") {
				t.Fatalf("no challenge:\n%s\n%s", invRes, optRes)
			}
		})
	}
	t.Run("trunk probe", func(t *testing.T) {
		s := newStack(t, stackOptions{registrar: true})
		addr := s.srv.Addr().String()
		if code, res := rawSIPResponse(t, addr, optionsRequest(addr)); code != 200 || header(res, "Allow") == "" {
			t.Fatalf("trunk OPTIONS: %d\n%s", code, res)
		}
	})
}
