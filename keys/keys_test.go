package keys

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestSealOpen(t *testing.T) {
	r, err := NewRing(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	ct, err := r.Seal([]byte("secret token"), []byte("credential:CR1"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(ct, []byte("secret")) {
		t.Fatal("plaintext visible in ciphertext")
	}
	pt, err := r.Open(ct, []byte("credential:CR1"))
	if err != nil || string(pt) != "secret token" {
		t.Fatalf("open: %q %v", pt, err)
	}
	cases := map[string]func() ([]byte, []byte){
		"other aad":     func() ([]byte, []byte) { return ct, []byte("credential:CR2") },
		"flipped byte":  func() ([]byte, []byte) { c := bytes.Clone(ct); c[len(c)-1] ^= 1; return c, []byte("credential:CR1") },
		"truncated":     func() ([]byte, []byte) { return ct[:10], []byte("credential:CR1") },
		"unknown keyid": func() ([]byte, []byte) { c := bytes.Clone(ct); c[2] ^= 1; return c, []byte("credential:CR1") },
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			c, aad := f()
			if _, err := r.Open(c, aad); !errors.Is(err, ErrDecrypt) {
				t.Fatalf("opened a bad ciphertext: %v", err)
			}
		})
	}
	// Rotation: a ring with a new current key still opens the old ciphertext.
	r2, _ := NewRing(bytes.Repeat([]byte{2}, 32), bytes.Repeat([]byte{1}, 32))
	if pt, err := r2.Open(ct, []byte("credential:CR1")); err != nil || string(pt) != "secret token" {
		t.Fatalf("rotated ring: %v", err)
	}
	if bytes.Equal(r.MAC([]byte("x")), r2.MAC([]byte("x"))) {
		t.Fatal("MAC does not depend on the current key")
	}
}

func TestLoadOrCreateKEK(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys", "kek")
	r1, err := LoadOrCreateKEK(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v %v", fi.Mode(), err)
	}
	ct, _ := r1.Seal([]byte("x"), nil)
	r2, err := LoadOrCreateKEK(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r2.Open(ct, nil); err != nil {
		t.Fatal("reloaded key differs")
	}
	os.Chmod(path, 0o644)
	if _, err := LoadOrCreateKEK(path); err == nil {
		t.Fatal("a world-readable key file was accepted")
	}
	t.Setenv(EnvKEK, base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32)))
	r3, err := LoadOrCreateKEK(filepath.Join(t.TempDir(), "absent"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r3.Open(ct, nil); err == nil {
		t.Fatal("env key should replace the file key")
	}
}

func TestResealAndMACKey(t *testing.T) {
	old, _ := NewRing(bytes.Repeat([]byte{1}, 32))
	ct, _ := old.Seal([]byte("secret"), []byte("aad"))
	wrapped, _ := old.WrapMACKey()
	mac := old.MAC([]byte("token"))

	rotated, _ := NewRing(bytes.Repeat([]byte{2}, 32), bytes.Repeat([]byte{1}, 32))
	if err := rotated.UseMACKey(wrapped); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(rotated.MAC([]byte("token")), mac) {
		t.Fatal("the MAC key did not survive the rotation")
	}
	out, changed, err := rotated.Reseal(ct, []byte("aad"))
	if err != nil || !changed || !rotated.Sealed(out) || rotated.Sealed(ct) {
		t.Fatalf("reseal: %v %v", changed, err)
	}
	if again, changed, _ := rotated.Reseal(out, []byte("aad")); changed || !bytes.Equal(again, out) {
		t.Fatal("a current ciphertext was resealed")
	}
	if _, _, err := rotated.Reseal(ct, []byte("other")); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("reseal with the wrong aad: %v", err)
	}
	newOnly, _ := NewRing(bytes.Repeat([]byte{2}, 32))
	if pt, err := newOnly.Open(out, []byte("aad")); err != nil || string(pt) != "secret" {
		t.Fatalf("the new key alone does not open the resealed value: %v", err)
	}
	if err := newOnly.UseMACKey(wrapped); err == nil {
		t.Fatal("a MAC key sealed under a key the ring lacks was accepted")
	}
}

func TestAddAndRetireKEK(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys", "kek")
	r1, err := LoadOrCreateKEK(path)
	if err != nil {
		t.Fatal(err)
	}
	ct, _ := r1.Seal([]byte("x"), nil)
	if err := AddKEK(path); err != nil {
		t.Fatal(err)
	}
	r2, err := LoadOrCreateKEK(path)
	if err != nil || r2.Size() != 2 || r2.Sealed(ct) {
		t.Fatalf("after AddKEK: %v, %d keys", err, r2.Size())
	}
	if _, err := r2.Open(ct, nil); err != nil {
		t.Fatal("the old key was lost")
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("kek file mode %v", fi.Mode().Perm())
	}
	ct2, _ := r2.Seal([]byte("y"), nil)
	if err := RetireOldKEKs(path); err != nil {
		t.Fatal(err)
	}
	r3, _ := LoadOrCreateKEK(path)
	if r3.Size() != 1 || !r3.Sealed(ct2) {
		t.Fatal("retire kept the wrong key")
	}
	// The environment may hold the new key and the old, newest first.
	a, b := bytes.Repeat([]byte{5}, 32), bytes.Repeat([]byte{6}, 32)
	t.Setenv(EnvKEK, base64.StdEncoding.EncodeToString(a)+", "+base64.StdEncoding.EncodeToString(b))
	env, err := LoadOrCreateKEK(path)
	if err != nil || env.Size() != 2 {
		t.Fatalf("two keys in %s: %v", EnvKEK, err)
	}
	first, _ := NewRing(a)
	if c, _ := env.Seal([]byte("z"), nil); !first.Sealed(c) {
		t.Fatal("the first key in the environment does not seal")
	}
}
