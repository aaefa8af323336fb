package registrar

import (
	"testing"

	"github.com/emiago/sipgo/sip"
)

// A call to a phone goes over the transport it registered on: a Contact
// without a transport parameter (a sips: one, or a bare sip: one from a
// phone on TLS) would otherwise be called over UDP, which reaches no
// connection of the phone's.
func TestBindingRequestURI(t *testing.T) {
	for _, tc := range []struct{ contact, transport, want string }{
		{"sips:alice@192.168.1.5:5061", "TLS", "sips:alice@192.168.1.5:5061;transport=tls"},
		{"sip:alice@192.168.1.5:5060", "TLS", "sip:alice@192.168.1.5:5060;transport=tls"},
		{"sip:alice@192.168.1.5:5060;transport=tcp", "TCP", "sip:alice@192.168.1.5:5060;transport=tcp"},
		{"sip:alice@192.168.1.5", "UDP", "sip:alice@192.168.1.5;transport=udp"},
		{"sip:alice@192.168.1.5", "", "sip:alice@192.168.1.5"},
	} {
		var b Binding
		if err := sip.ParseUri(tc.contact, &b.Contact); err != nil {
			t.Fatal(err)
		}
		b.Transport = tc.transport
		u := b.RequestURI()
		if got := u.String(); got != tc.want {
			t.Errorf("%s over %q: %s, want %s", tc.contact, tc.transport, got, tc.want)
		}
		if b.Contact.String() != tc.contact {
			t.Errorf("RequestURI changed the binding's Contact to %s", b.Contact.String())
		}
	}
}
