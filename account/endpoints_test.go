package account

import (
	"bytes"
	"strings"
	"testing"

	"github.com/trunkline/trunkline/keys"
)

func TestEndpointSecrets(t *testing.T) {
	// RFC 2617 §3.5's example.
	if got := DigestHA1("Mufasa", "testrealm@host.com", "Circle Of Life"); got != "939e7578ed9e3c518a452acee763bce9" {
		t.Fatalf("HA1 %s", got)
	}
	if got := PasswordMD5("password"); got != "5f4dcc3b5aa765d61d8327deb882cf99" {
		t.Fatalf("MD5 %s", got)
	}
	ring, _ := keys.NewRing(bytes.Repeat([]byte{5}, 32))
	s := New(nil, ring, Options{})
	sec, err := s.SealEndpointPassword("alice123", "sip.example.com", "s3cret pass")
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range [][]byte{sec.HA1Enc, sec.PasswordMD5Enc} {
		for _, clear := range []string{"s3cret pass", DigestHA1("alice123", "sip.example.com", "s3cret pass"), PasswordMD5("s3cret pass")} {
			if strings.Contains(string(b), clear) {
				t.Fatal("a sealed secret holds its clear form")
			}
		}
	}
	ha1, err := OpenEndpointHA1(ring, "alice123", sec.HA1Enc)
	if err != nil || string(ha1) != DigestHA1("alice123", "sip.example.com", "s3cret pass") || sec.Realm != "sip.example.com" {
		t.Fatalf("open HA1: %q %v", ha1, err)
	}
	if md, err := s.EndpointPasswordMD5("alice123", sec.PasswordMD5Enc); err != nil || md != PasswordMD5("s3cret pass") {
		t.Fatalf("open MD5: %q %v", md, err)
	}
	// Bound to the endpoint and to their purpose: moved to another row or swapped, they do not open.
	if _, err := OpenEndpointHA1(ring, "mallory1", sec.HA1Enc); err == nil {
		t.Fatal("HA1 opens for another username")
	}
	if _, err := OpenEndpointHA1(ring, "alice123", sec.PasswordMD5Enc); err == nil {
		t.Fatal("the MD5 ciphertext opens as an HA1")
	}
	if _, err := s.EndpointPasswordMD5("alice123", sec.HA1Enc); err == nil {
		t.Fatal("the HA1 ciphertext opens as the MD5")
	}
}
