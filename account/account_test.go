package account

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/keys"
	"github.com/trunkline/trunkline/store"
)

type recordingBus struct {
	mu   sync.Mutex
	sent []string
}

func (b *recordingBus) Publish(subject string, data []byte) error {
	b.mu.Lock()
	b.sent = append(b.sent, subject+":"+string(data))
	b.mu.Unlock()
	return nil
}

func TestAuthenticateAndCache(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	db.SetClock(clock)
	ring, _ := keys.NewRing(bytes.Repeat([]byte{3}, 32))
	b := &recordingBus{}
	s := New(db, ring, Options{Now: clock, CacheTTL: time.Second, Bus: b})

	c, err := s.CreateMain(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if !ValidAuthID(c.Account.ID) || len(c.Token) < 40 {
		t.Fatalf("id %q token %q", c.Account.ID, c.Token)
	}
	if tok, err := s.Token(ctx, c.Account.ID); err != nil || tok != c.Token {
		t.Fatalf("Token() = %q, %v", tok, err)
	}
	for name, tc := range map[string][2]string{
		"unknown id":  {"MA" + "ZZZZZZZZZZZZZZZZZZ", c.Token},
		"bad form":    {"XX1", c.Token},
		"wrong token": {c.Account.ID, c.Token + "x"},
		"empty token": {c.Account.ID, ""},
	} {
		if _, _, err := s.Authenticate(ctx, tc[0], tc[1]); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if _, _, err := s.Authenticate(ctx, c.Account.ID, c.Token); err != nil {
		t.Fatal(err)
	}
	// Revoked behind the service's back (another process): the cache serves the old
	// answer for at most the TTL.
	if _, err := db.RevokeCredentials(ctx, c.Account.ID, "none"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Authenticate(ctx, c.Account.ID, c.Token); err != nil {
		t.Fatalf("within the TTL the cached credential still works: %v", err)
	}
	now = now.Add(time.Second)
	if _, _, err := s.Authenticate(ctx, c.Account.ID, c.Token); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("after the TTL the revocation must show: %v", err)
	}
	// Through the service, a change is seen at once and announced on the bus.
	r, err := s.Rotate(ctx, c.Account.ID, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Authenticate(ctx, c.Account.ID, r.Token); err != nil {
		t.Fatal(err)
	}
	sub, _ := s.CreateSub(ctx, c.Account, "sub", true)
	if _, _, err := s.Authenticate(ctx, sub.Account.ID, sub.Token); err != nil {
		t.Fatal(err)
	}
	off := false
	db.UpdateAccount(ctx, c.Account.ID, trunkline.AccountUpdate{Enabled: &off})
	s.Invalidate(c.Account.ID)
	if _, _, err := s.Authenticate(ctx, sub.Account.ID, sub.Token); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("a disabled parent must disable its subaccount at once: %v", err)
	}
	if len(b.sent) < 2 || b.sent[0] != InvalidateSubject+":"+c.Account.ID {
		t.Fatalf("bus got %v", b.sent)
	}
}
