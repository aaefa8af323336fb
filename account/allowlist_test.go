package account

import (
	"strings"
	"testing"
)

func TestParseAllowlist(t *testing.T) {
	for _, c := range []struct {
		name, in, canon string
		bad             bool
		allow, deny     []string
	}{
		{name: "empty", in: "", canon: "", allow: []string{"192.0.2.1", "::1"}},
		{name: "address and range", in: "192.0.2.7, 198.51.100.0/24\n2001:db8::/32", canon: "192.0.2.7/32,198.51.100.0/24,2001:db8::/32",
			allow: []string{"192.0.2.7", "198.51.100.200", "2001:db8::5", "::ffff:192.0.2.7"}, deny: []string{"192.0.2.8", "2001:db9::1"}},
		{name: "range masked", in: "10.1.2.3/8", canon: "10.0.0.0/8", allow: []string{"10.200.0.1"}},
		{name: "mapped address", in: "::ffff:192.0.2.1", canon: "192.0.2.1/32", allow: []string{"192.0.2.1"}},
		{name: "host name", in: "example.com", bad: true},
		{name: "bad prefix", in: "192.0.2.0/33", bad: true},
	} {
		list, canon, err := ParseAllowlist(c.in)
		if c.bad {
			if err == nil {
				t.Errorf("%s: accepted", c.name)
			}
			continue
		}
		if err != nil || canon != c.canon {
			t.Errorf("%s: %q, %v; want %q", c.name, canon, err, c.canon)
			continue
		}
		for _, a := range c.allow {
			if !allowed(list, a) {
				t.Errorf("%s: %s refused", c.name, a)
			}
		}
		for _, a := range c.deny {
			if allowed(list, a) {
				t.Errorf("%s: %s allowed", c.name, a)
			}
		}
	}
	if _, _, err := ParseAllowlist(strings.Repeat("192.0.2.1 ", 101)); err == nil {
		t.Error("101 entries accepted")
	}
	// A stored list that no longer parses admits nobody.
	if allowed(storedAllowlist("garbage"), "192.0.2.1") {
		t.Error("a corrupt stored list admits addresses")
	}
}

// FuzzParseAllowlist: any input parses or fails cleanly, and what parses round-trips
// through its canonical form.
func FuzzParseAllowlist(f *testing.F) {
	for _, s := range []string{"", "192.0.2.1", "10.0.0.0/8,::1", "2001:db8::/32\n198.51.100.0/24", "::ffff:1.2.3.4/120", "a/b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		list, canon, err := ParseAllowlist(s)
		if err != nil {
			return
		}
		again, canon2, err := ParseAllowlist(canon)
		if err != nil || canon2 != canon || len(again) != len(list) {
			t.Fatalf("%q → %q → %q, %v", s, canon, canon2, err)
		}
	})
}
