// Package certs gives Trunkline TLS by default: with no certificate configured it makes a
// private CA and a server certificate under DIR/tls/ on first start and reuses them
// after, so clients can pin the CA file. The CA can sign only for the names and
// addresses the server answers on (X.509 name constraints, which clients enforce), lives
// two years, and its key is kept with the other keys, not beside the certificates. The seam for ACME (public hostnames) is the
// *tls.Config the API server takes: an ACME manager's GetCertificate slots in where
// ServerConfig's reloader is now.
package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Files of a generated set: the certificates and server key relative to the TLS
// directory, the CA key (CAKeyFile) relative to the key directory.
const (
	CAFile    = "ca.crt"
	CAKeyFile = "ca.key"
	CertFile  = "server.crt"
	KeyFile   = "server.key"
)

// renewBefore is how long before expiry a generated certificate (CA or server) is
// replaced.
const renewBefore = 30 * 24 * time.Hour

// caLifetime bounds the CA: long enough that clients pinning it are not bothered often,
// short enough that a key copied off an old backup soon stops mattering.
const caLifetime = 2 * 365 * 24 * time.Hour

// Generated is the outcome of EnsureSelfSigned.
type Generated struct {
	CAPath, CertPath, KeyPath string
	Created                   bool // a new server certificate was written
}

// EnsureSelfSigned makes sure dir holds a CA and a server certificate valid for hosts
// (names and IP addresses), with the CA's key in keyDir. The CA is kept while it is far
// from expiry and permitted to sign for every host; otherwise (an older CA without
// name constraints, a new host name) a new one is made and clients must trust it anew.
// The server certificate is remade when missing, near expiry, not covering every host
// or not signed by the CA.
func EnsureSelfSigned(dir, keyDir string, hosts []string, now time.Time) (*Generated, error) {
	for _, d := range []string{dir, keyDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	g := &Generated{CAPath: filepath.Join(dir, CAFile), CertPath: filepath.Join(dir, CertFile), KeyPath: filepath.Join(dir, KeyFile)}
	caCert, caPriv, err := loadOrCreateCA(dir, keyDir, hosts, now)
	if err != nil {
		return nil, err
	}
	if ok := serverCertValid(g.CertPath, g.KeyPath, caCert, hosts, now); ok {
		return g, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{Organization: []string{"Trunkline"}, CommonName: "trunkline server"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(397 * 24 * time.Hour), // browsers' limit for leaf lifetimes
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if tmpl.NotAfter.After(caCert.NotAfter) {
		tmpl.NotAfter = caCert.NotAfter // never outlive the CA
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caPriv)
	if err != nil {
		return nil, err
	}
	if err := writeKey(g.KeyPath, key); err != nil {
		return nil, err
	}
	if err := writePEM(g.CertPath, "CERTIFICATE", der, 0o600); err != nil {
		return nil, err
	}
	g.Created = true
	return g, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err)
	}
	return n
}

func loadOrCreateCA(dir, keyDir string, hosts []string, now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	certPath, keyPath := filepath.Join(dir, CAFile), filepath.Join(keyDir, CAKeyFile)
	// Older versions kept the CA key beside the certificates: move it to the keys.
	if old := filepath.Join(dir, CAKeyFile); old != keyPath {
		if _, err := os.Stat(keyPath); errors.Is(err, os.ErrNotExist) {
			if err := os.Rename(old, keyPath); err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, nil, fmt.Errorf("move the CA key to %s: %w", keyDir, err)
			}
		}
	}
	if pair, err := tls.LoadX509KeyPair(certPath, keyPath); err == nil {
		cert, err := x509.ParseCertificate(pair.Certificate[0])
		if err != nil {
			return nil, nil, err
		}
		priv, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
		if !ok {
			return nil, nil, errors.New("the CA key in " + keyPath + " is not an ECDSA key")
		}
		if now.Add(renewBefore).Before(cert.NotAfter) && permitsAll(cert, hosts) {
			return cert, priv, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("load CA from %s and %s: %w", certPath, keyPath, err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{Organization: []string{"Trunkline"}, CommonName: "Trunkline local CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caLifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		// A client that trusts this CA for Trunkline trusts it for nothing else: it may
		// sign only for the server's own names and addresses.
		PermittedDNSDomainsCritical: true,
	}
	tmpl.PermittedDNSDomains, tmpl.PermittedIPRanges = permitted(hosts)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	if err := writeKey(keyPath, key); err != nil {
		return nil, nil, err
	}
	if err := writePEM(certPath, "CERTIFICATE", der, 0o600); err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

// permitted lists the name constraints for hosts: each name (which X.509 reads as the
// name and its subdomains), and each address exactly, plus the loopback ranges.
func permitted(hosts []string) (names []string, ips []*net.IPNet) {
	ips = []*net.IPNet{
		{IP: net.IPv4(127, 0, 0, 0).To4(), Mask: net.CIDRMask(8, 32)},
		{IP: net.IPv6loopback, Mask: net.CIDRMask(128, 128)},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			if ip4 := ip.To4(); ip4 != nil {
				ip = ip4
			}
			if !slices.ContainsFunc(ips, func(n *net.IPNet) bool { return n.Contains(ip) }) {
				ips = append(ips, &net.IPNet{IP: ip, Mask: net.CIDRMask(len(ip)*8, len(ip)*8)})
			}
		} else if h != "" && !slices.Contains(names, h) {
			names = append(names, h)
		}
	}
	return names, ips
}

// permitsAll reports whether ca is name-constrained and may sign for every host. A CA
// from before name constraints may sign for anything, and is replaced.
func permitsAll(ca *x509.Certificate, hosts []string) bool {
	if len(ca.PermittedDNSDomains) == 0 && len(ca.PermittedIPRanges) == 0 {
		return false
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			if !slices.ContainsFunc(ca.PermittedIPRanges, func(n *net.IPNet) bool { return n.Contains(ip) }) {
				return false
			}
		} else if h != "" && !slices.ContainsFunc(ca.PermittedDNSDomains, func(d string) bool {
			return strings.EqualFold(h, d) || strings.HasSuffix(strings.ToLower(h), "."+strings.ToLower(d))
		}) {
			return false
		}
	}
	return true
}

func serverCertValid(certPath, keyPath string, ca *x509.Certificate, hosts []string, now time.Time) bool {
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return false
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil || now.Add(renewBefore).After(cert.NotAfter) || cert.CheckSignatureFrom(ca) != nil {
		return false
	}
	for _, h := range hosts {
		if h == "" {
			continue
		}
		if ip := net.ParseIP(h); ip != nil {
			if !slices.ContainsFunc(cert.IPAddresses, ip.Equal) {
				return false
			}
		} else if !slices.Contains(cert.DNSNames, h) {
			return false
		}
	}
	return true
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	return writePEM(path, "PRIVATE KEY", der, 0o600)
}

// writePEM writes atomically (temp file + rename) so a crash never leaves half a key.
func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if err := pem.Encode(f, &pem.Block{Type: typ, Bytes: der}); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// ServerConfig returns the TLS configuration for the API: TLS 1.2 minimum, modern AEAD
// suites only for 1.2, and the certificate reloaded from disk when the files change, so
// an operator can replace it without a restart.
func ServerConfig(certPath, keyPath string) (*tls.Config, error) {
	r := &reloader{certPath: certPath, keyPath: keyPath}
	if _, err := r.get(nil); err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: r.get,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305,
		},
		NextProtos: []string{"h2", "http/1.1"},
	}, nil
}
