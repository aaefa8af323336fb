// Command ceiling is the benchmark's reference point (bench/api.sh): a bare net/http
// server over TLS that answers every request with the same small JSON body, about the
// size of Trunkline's GET /v1/Account/{id}/ reply. What Trunkline's API reaches next to
// it, on the same machine and in the same run, shows the cost of Trunkline's own work
// (authentication, routing, the store, audit, JSON) over that of TLS and HTTP/1.1.
//
// Its TLS matches Trunkline's API: an ECDSA P-256 certificate (self-signed, made at
// start), TLS 1.2 minimum with the same TLS 1.2 suites, the same http.Server timeouts.
// It listens on 127.0.0.1 only, prints its URL and "ceiling: ready", writes its
// certificate (its own CA) to -cert-out for the client to trust, and serves until
// SIGTERM or SIGINT.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// body resembles Trunkline's account reply (same fields, same kind of values).
var body = []byte(`{"account_type":"standard","address":"","api_id":"6f1c2a9e-0b7d-4c1e-9a53-2f8e4d6b7c01","auth_id":"MAXXXXXXXXXXXXXXXXXX","auto_recharge":false,"billing_mode":"prepaid","cash_credits":"0.00000","city":"","created":"2025-01-01","enabled":true,"name":"bench","resource_uri":"/v1/Account/MAXXXXXXXXXXXXXXXXXX/","state":"","timezone":""}`)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (loopback only)")
	certOut := flag.String("cert-out", "", "write the server certificate (PEM, self-signed: trust it as the CA) to this file")
	flag.Parse()
	if err := run(*addr, *certOut); err != nil {
		fmt.Fprintln(os.Stderr, "ceiling:", err)
		os.Exit(1)
	}
}

func run(addr, certOut string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("-addr %s is not a loopback address", addr)
	}
	cert, certPEM, err := selfSigned()
	if err != nil {
		return err
	}
	if certOut != "" {
		if err := os.WriteFile(certOut, certPEM, 0o644); err != nil {
			return err
		}
	}
	tlsConfig := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305,
		},
		NextProtos: []string{"h2", "http/1.1"},
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("Cache-Control", "no-store")
			h.Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			w.Write(body)
		}),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          log.New(os.Stderr, "ceiling: ", 0),
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(tls.NewListener(ln, tlsConfig)) }()
	fmt.Printf("ceiling: listening on https://%s\n", ln.Addr())
	fmt.Println("ceiling: ready")

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	select {
	case <-sigs:
	case err := <-done:
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	fmt.Println("ceiling: stopped")
	return nil
}

// selfSigned makes an ECDSA P-256 certificate for localhost and 127.0.0.1 that is its
// own CA, valid for a day.
func selfSigned() (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "trunkline bench ceiling"},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, certPEM, nil
}
