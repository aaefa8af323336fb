package voice_test

import (
	"net/netip"
	"testing"
)

// TestDrainRefusesNewWork: a draining node answers a trunk's OPTIONS probe 503 (so a
// SIP proxy such as Kamailio's dispatcher takes it out of its set) and a new INVITE 503
// (the proxy tries the next node), while its listeners stay up for the calls it has.
func TestDrainRefusesNewWork(t *testing.T) {
	trunk := netip.MustParseAddr("127.0.0.1")
	s := newStack(t, stackOptions{acl: func(a netip.Addr) (string, bool) { return "edge", a == trunk }})
	addr := s.srv.Addr().String()
	if code, _ := rawSIPFrom(t, "127.0.0.1", addr, optionsRequest(addr)); code != 200 {
		t.Fatalf("OPTIONS from the trunk before the drain: %d, want 200", code)
	}
	s.srv.Drain()
	if code, _ := rawSIPFrom(t, "127.0.0.1", addr, optionsRequest(addr)); code != 503 {
		t.Fatalf("OPTIONS from the trunk while draining: %d, want 503", code)
	}
	if code, res := rawSIPFrom(t, "127.0.0.1", addr, inviteRequest(addr, "14155550100", "application/sdp", sdpOffer("0", "0 PCMU/8000"))); code != 503 {
		t.Fatalf("INVITE from the trunk while draining: %d, want 503:\n%s", code, res)
	}
}
