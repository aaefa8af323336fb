package account

import (
	"crypto/md5"
	"encoding/hex"

	"github.com/trunkline/trunkline/keys"
)

// SIP endpoint credentials. SIP digest authentication (RFC 3261 §22, RFC 2617) needs
// HA1 = MD5(username ":" realm ":" password) on the server, and HA1 is as good as the
// password for SIP: it is kept sealed under the KEK, never in clear, and the password
// itself is not kept at all. Plivo also shows MD5(password) as the endpoint's "password";
// that is sealed too, since in clear it would let a copy of the database be used to guess
// weak passwords offline.
//
// The API seals when a password is set, with the SIP domain as the realm; the registrar
// opens HA1 with the same realm in its challenges. Both take the realm from one setting
// (the SIP domain): an endpoint whose password was set under another realm cannot
// register until its password is set again.

// DigestHA1 returns hex(MD5(username ":" realm ":" password)).
func DigestHA1(username, realm, password string) string {
	sum := md5.Sum([]byte(username + ":" + realm + ":" + password))
	return hex.EncodeToString(sum[:])
}

// PasswordMD5 returns hex(MD5(password)), the form Plivo shows as an endpoint's password.
func PasswordMD5(password string) string {
	sum := md5.Sum([]byte(password))
	return hex.EncodeToString(sum[:])
}

// EndpointHA1AAD binds a sealed HA1 to its endpoint: a ciphertext copied to another row
// does not open.
func EndpointHA1AAD(username string) []byte { return []byte("endpoint:" + username) }

func EndpointMD5AAD(username string) []byte { return []byte("endpoint-password-md5:" + username) }

// EndpointSecrets are the sealed forms of an endpoint password.
type EndpointSecrets struct {
	Realm          string
	HA1Enc         []byte
	PasswordMD5Enc []byte
}

// SealEndpointPassword derives and seals what SIP digest and the API need from a new
// endpoint password. The password is not kept.
func SealEndpointPassword(ring *keys.Ring, username, realm, password string) (EndpointSecrets, error) {
	ha1, err := ring.Seal([]byte(DigestHA1(username, realm, password)), EndpointHA1AAD(username))
	if err != nil {
		return EndpointSecrets{}, err
	}
	md, err := ring.Seal([]byte(PasswordMD5(password)), EndpointMD5AAD(username))
	if err != nil {
		return EndpointSecrets{}, err
	}
	return EndpointSecrets{Realm: realm, HA1Enc: ha1, PasswordMD5Enc: md}, nil
}

// OpenEndpointHA1 opens a sealed HA1 (hex) for digest verification.
func OpenEndpointHA1(ring *keys.Ring, username string, enc []byte) ([]byte, error) {
	return ring.Open(enc, EndpointHA1AAD(username))
}

// SealEndpointPassword is the package function with the service's key ring.
func (s *Service) SealEndpointPassword(username, realm, password string) (EndpointSecrets, error) {
	return SealEndpointPassword(s.ring, username, realm, password)
}

// EndpointPasswordMD5 opens the MD5(password) the API shows for an endpoint.
func (s *Service) EndpointPasswordMD5(username string, enc []byte) (string, error) {
	b, err := s.ring.Open(enc, EndpointMD5AAD(username))
	return string(b), err
}
