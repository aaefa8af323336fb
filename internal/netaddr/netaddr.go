// Package netaddr turns the addresses the net package reports into the one type
// Trunkline's servers report theirs as: netip.AddrPort (every listener is IP, and SIP
// binds UDP and TCP on one port, so an address must not name a network).
package netaddr

import (
	"net"
	"net/netip"
)

// Of is a listener's or connection's address as an AddrPort, IPv4 unmapped (a
// listener on 0.0.0.0 reports ::ffff:0.0.0.0 otherwise). It is the zero AddrPort for
// nil or a non-IP address.
func Of(a net.Addr) netip.AddrPort {
	var ap netip.AddrPort
	switch a := a.(type) {
	case *net.TCPAddr:
		ap = a.AddrPort()
	case *net.UDPAddr:
		ap = a.AddrPort()
	default:
		if a == nil {
			return netip.AddrPort{}
		}
		ap, _ = netip.ParseAddrPort(a.String())
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
