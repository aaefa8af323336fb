package certs

import (
	"crypto/tls"
	"os"
	"sync"
	"time"
)

// reloader serves a certificate pair from disk, re-reading it when either file's
// modification time changes (checked at most once a second).
type reloader struct {
	certPath, keyPath string

	mu      sync.Mutex
	cert    *tls.Certificate
	mtime   time.Time
	checked time.Time
}

func (r *reloader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if r.cert != nil && now.Sub(r.checked) < time.Second {
		return r.cert, nil
	}
	r.checked = now
	m := latestMtime(r.certPath, r.keyPath)
	if r.cert != nil && m.Equal(r.mtime) {
		return r.cert, nil
	}
	pair, err := tls.LoadX509KeyPair(r.certPath, r.keyPath)
	if err != nil {
		if r.cert != nil {
			return r.cert, nil // keep serving the last good pair mid-replacement
		}
		return nil, err
	}
	r.cert, r.mtime = &pair, m
	return r.cert, nil
}

func latestMtime(paths ...string) time.Time {
	var t time.Time
	for _, p := range paths {
		if fi, err := os.Stat(p); err == nil && fi.ModTime().After(t) {
			t = fi.ModTime()
		}
	}
	return t
}
