package voice_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"testing"
)

// TestSourceRequestLimit: a source address that is no trunk may send SourceRate requests
// (any method: OPTIONS, REGISTER, methods nobody handles) per period; beyond it each
// gets 503 with Retry-After, while another address and the trunk go on.
func TestSourceRequestLimit(t *testing.T) {
	trunk := netip.MustParseAddr("127.0.0.1")
	s := newStack(t, stackOptions{registrar: true, sourceRate: 5,
		acl: func(a netip.Addr) (string, bool) { return "carrier", a == trunk }})
	addr := s.srv.Addr().String()
	// Within the limit a stranger's OPTIONS gets what a stranger's INVITE gets: the
	// registrar's uniform 407 challenge (see TestStrangerOptionsTellNothing).
	for i := 0; i < 4; i++ {
		if code, _ := rawSIPFrom(t, "127.0.0.5", addr, optionsRequest(addr)); code != 407 {
			t.Fatalf("OPTIONS %d from 127.0.0.5: %d, want the registrar's 407", i+1, code)
		}
	}
	if code, _ := rawSIPFrom(t, "127.0.0.5", addr, registerRequest(addr, "alice000000000001")); code != 401 {
		t.Fatalf("REGISTER within the limit: %d, want the registrar's 401", code)
	}
	for _, req := range []func(string) string{optionsRequest(addr), registerRequest(addr, "alice000000000001"), messageRequest(addr)} {
		code, res := rawSIPFrom(t, "127.0.0.5", addr, req)
		if code != 503 {
			t.Fatalf("over the limit: %d, want 503:\n%s", code, res)
		}
		if ra, err := strconv.Atoi(header(res, "Retry-After")); err != nil || ra < 1 || ra > 60 {
			t.Fatalf("Retry-After %q:\n%s", header(res, "Retry-After"), res)
		}
	}
	if code, _ := rawSIPFrom(t, "127.0.0.6", addr, optionsRequest(addr)); code != 407 {
		t.Fatalf("another address: %d, want the registrar's 407 (not limited)", code)
	}
	for i := 0; i < 20; i++ {
		if code, _ := rawSIPFrom(t, "127.0.0.1", addr, optionsRequest(addr)); code != 200 {
			t.Fatalf("trunk request %d: %d, want 200 (trunks are not limited)", i+1, code)
		}
	}
}

func registerRequest(target, user string) func(local string) string {
	return func(local string) string {
		id := rand.Uint64()
		return fmt.Sprintf("REGISTER sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK%x\r\nFrom: <sip:%s@%s>;tag=%x\r\nTo: <sip:%s@%s>\r\nCall-ID: %x@test\r\nCSeq: 1 REGISTER\r\nContact: <sip:%s@%s>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
			target, local, id, user, target, id, user, target, id, user, local)
	}
}

func messageRequest(target string) func(local string) string {
	return func(local string) string {
		id := rand.Uint64()
		return fmt.Sprintf("MESSAGE sip:someone@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK%x\r\nFrom: <sip:probe@%s>;tag=%x\r\nTo: <sip:someone@%s>\r\nCall-ID: %x@test\r\nCSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi",
			target, local, id, local, id, target, id)
	}
}
