package certs

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestSelfSignedTLS(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	g, err := EnsureSelfSigned(dir, []string{"localhost", "127.0.0.1"}, now)
	if err != nil || !g.Created {
		t.Fatalf("first start: %+v %v", g, err)
	}
	caBefore, _ := os.ReadFile(g.CAPath)
	if fi, _ := os.Stat(g.KeyPath); fi.Mode().Perm() != 0o600 {
		t.Fatalf("server key mode %v", fi.Mode())
	}
	// Reused on the next start.
	g2, err := EnsureSelfSigned(dir, []string{"localhost", "127.0.0.1"}, now)
	if err != nil || g2.Created {
		t.Fatalf("second start made a new certificate: %+v %v", g2, err)
	}
	// A new host name remakes the server certificate under the same CA.
	g3, err := EnsureSelfSigned(dir, []string{"localhost", "127.0.0.1", "api.example.test"}, now)
	caAfter, _ := os.ReadFile(g.CAPath)
	if err != nil || !g3.Created || string(caBefore) != string(caAfter) {
		t.Fatalf("new host: %+v %v (CA changed: %v)", g3, err, string(caBefore) != string(caAfter))
	}
	// Near expiry it is renewed.
	if g4, _ := EnsureSelfSigned(t.TempDir(), []string{"localhost"}, now); g4 == nil {
		t.Fatal("second dir")
	} else if g5, _ := EnsureSelfSigned(filepathDir(g4.CAPath), []string{"localhost"}, now.Add(380*24*time.Hour)); !g5.Created {
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

func filepathDir(p string) string { return filepath.Dir(p) }

func port(a net.Addr) string { _, p, _ := net.SplitHostPort(a.String()); return p }
