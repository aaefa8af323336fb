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
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestSelfSignedTLS(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	g, err := EnsureSelfSigned(dir, dir, []string{"localhost", "127.0.0.1"}, now)
	if err != nil || !g.Created {
		t.Fatalf("first start: %+v %v", g, err)
	}
	caBefore, _ := os.ReadFile(g.CAPath)
	if fi, _ := os.Stat(g.KeyPath); fi.Mode().Perm() != 0o600 {
		t.Fatalf("server key mode %v", fi.Mode())
	}
	// Reused on the next start.
	g2, err := EnsureSelfSigned(dir, dir, []string{"localhost", "127.0.0.1"}, now)
	if err != nil || g2.Created {
		t.Fatalf("second start made a new certificate: %+v %v", g2, err)
	}
	// A new host the CA may sign for (a loopback address, a subdomain) remakes the
	// server certificate under the same CA.
	g3, err := EnsureSelfSigned(dir, dir, []string{"localhost", "127.0.0.1", "127.0.0.2", "api.localhost"}, now)
	caAfter, _ := os.ReadFile(g.CAPath)
	if err != nil || !g3.Created || string(caBefore) != string(caAfter) {
		t.Fatalf("new host: %+v %v (CA changed: %v)", g3, err, string(caBefore) != string(caAfter))
	}
	// Near expiry it is renewed.
	tls2, keys2 := t.TempDir(), t.TempDir()
	if g4, _ := EnsureSelfSigned(tls2, keys2, []string{"localhost"}, now); g4 == nil {
		t.Fatal("second dir")
	} else if g5, _ := EnsureSelfSigned(tls2, keys2, []string{"localhost"}, now.Add(380*24*time.Hour)); !g5.Created {
		t.Fatal("certificate near expiry was not renewed")
	}

	cfg, err := ServerConfig(g.CertPath, g.KeyPath)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })}
	go srv.Serve(ln)
	defer srv.Close()

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caAfter)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get("https://localhost:" + port(ln.Addr()) + "/")
	if err != nil {
		t.Fatalf("client trusting the CA: %v", err)
	}
	resp.Body.Close()
	if resp.TLS.Version < tls.VersionTLS12 {
		t.Fatalf("negotiated %x", resp.TLS.Version)
	}
	// TLS 1.1 is refused.
	old := &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS11, ServerName: "localhost"}
	if c, err := tls.Dial("tcp", ln.Addr().String(), old); err == nil {
		c.Close()
		t.Fatal("TLS 1.1 handshake succeeded")
	}
}

func port(a net.Addr) string { _, p, _ := net.SplitHostPort(a.String()); return p }

// TestCAConstraints: the generated CA may sign only for the names and addresses the
// server answers on, lives at most two years, and keeps its key 0600 in the key
// directory; a certificate it signs for any other name fails verification.
func TestCAConstraints(t *testing.T) {
	dir, keyDir := t.TempDir(), t.TempDir()
	now := time.Now()
	hosts := []string{"localhost", "127.0.0.1", "::1", "api.example.test", "192.0.2.10"}
	g, err := EnsureSelfSigned(dir, keyDir, hosts, now)
	if err != nil {
		t.Fatal(err)
	}
	ca := readCert(t, g.CAPath)
	if !ca.PermittedDNSDomainsCritical || !slices.Contains(ca.PermittedDNSDomains, "localhost") || !slices.Contains(ca.PermittedDNSDomains, "api.example.test") {
		t.Fatalf("CA name constraints: critical=%v %v", ca.PermittedDNSDomainsCritical, ca.PermittedDNSDomains)
	}
	var ranges []string
	for _, n := range ca.PermittedIPRanges {
		ranges = append(ranges, n.String())
	}
	for _, want := range []string{"127.0.0.0/8", "::1/128", "192.0.2.10/32"} {
		if !slices.Contains(ranges, want) {
			t.Errorf("CA permits %v, want %s among them", ranges, want)
		}
	}
	if life := ca.NotAfter.Sub(ca.NotBefore); life > 2*365*24*time.Hour+time.Hour {
		t.Errorf("CA lives %v, want at most two years", life)
	}
	if fi, err := os.Stat(filepath.Join(keyDir, CAKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("CA key in the key dir: %v %v", fi, err)
	}
	if _, err := os.Stat(filepath.Join(dir, CAKeyFile)); !os.IsNotExist(err) {
		t.Fatal("the CA key is in the TLS directory")
	}

	roots := x509.NewCertPool()
	roots.AddCert(ca)
	verify := func(c *x509.Certificate, name string) error {
		_, err := c.Verify(x509.VerifyOptions{Roots: roots, DNSName: name, CurrentTime: now})
		return err
	}
	leaf := readCert(t, g.CertPath)
	for _, h := range []string{"localhost", "api.example.test", "127.0.0.1", "192.0.2.10"} {
		if err := verify(leaf, h); err != nil {
			t.Errorf("server certificate for %s: %v", h, err)
		}
	}
	// Whoever gets the CA key cannot make it vouch for anyone else.
	caKey, err := tls.LoadX509KeyPair(g.CAPath, filepath.Join(keyDir, CAKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, other := range []string{"www.bank.example", "203.0.113.5"} {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
		if ip := net.ParseIP(other); ip != nil {
			tmpl.IPAddresses = []net.IP{ip}
		} else {
			tmpl.DNSNames = []string{other}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey.PrivateKey)
		if err != nil {
			t.Fatal(err)
		}
		rogue, _ := x509.ParseCertificate(der)
		var cie x509.CertificateInvalidError
		if err := verify(rogue, other); !errors.As(err, &cie) || cie.Reason != x509.CANotAuthorizedForThisName {
			t.Errorf("a certificate for %s under the CA: %v, want a name constraint violation", other, err)
		}
	}
}

// TestCAMigration: a CA made by an older version (ten years, no name constraints, key
// in tls/) has its key moved to the key dir and is replaced by a constrained one.
func TestCAMigration(t *testing.T) {
	dir, keyDir := t.TempDir(), t.TempDir()
	now := time.Now()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Trunkline local CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(10 * 365 * 24 * time.Hour), KeyUsage: x509.KeyUsageCertSign,
		BasicConstraintsValid: true, IsCA: true}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err := writePEM(filepath.Join(dir, CAFile), "CERTIFICATE", der, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeKey(filepath.Join(dir, CAKeyFile), key); err != nil {
		t.Fatal(err)
	}
	g, err := EnsureSelfSigned(dir, keyDir, []string{"localhost", "127.0.0.1"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, CAKeyFile)); !os.IsNotExist(err) {
		t.Fatal("the old CA key was left in the TLS directory")
	}
	if fi, err := os.Stat(filepath.Join(keyDir, CAKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("CA key: %v %v", fi, err)
	}
	if ca := readCert(t, g.CAPath); len(ca.PermittedDNSDomains) == 0 || ca.NotAfter.After(now.Add(2*365*24*time.Hour+time.Hour)) {
		t.Fatalf("the unconstrained ten-year CA was kept: %v until %v", ca.PermittedDNSDomains, ca.NotAfter)
	}
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s holds no PEM", path)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
