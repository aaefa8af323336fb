package application_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/application"
	"github.com/trunkline/trunkline/internal/fixture"
	"github.com/trunkline/trunkline/store"
	"github.com/trunkline/trunkline/store/storetest"
)

func TestCheckURL(t *testing.T) {
	for _, c := range []struct {
		url  string
		want error
	}{
		{"https://example.com/answer", nil},
		{"http://127.0.0.1:8080/x?y=1", nil},
		{"/answer", application.ErrURLNotAbs},
		{"ftp://example.com/a", application.ErrURLNotAbs},
		{"https:example.com", application.ErrURLNotAbs},
		{"https://user:pw@example.com/", application.ErrURLUserInfo},
		{"https://example.com/" + string(bytes.Repeat([]byte("a"), 2048)), application.ErrURLTooLong},
	} {
		if got := application.CheckURL(c.url); got != c.want {
			t.Errorf("CheckURL(%.40q) = %v, want %v", c.url, got, c.want)
		}
	}
	if m, err := application.CheckMethod("get"); m != "GET" || err != nil {
		t.Errorf("CheckMethod(get) = %q, %v", m, err)
	}
	if _, err := application.CheckMethod("PUT"); err != application.ErrMethod {
		t.Errorf("CheckMethod(PUT) = %v", err)
	}
}

// forEachStore runs f on the service over each store, with two main accounts a and b, a
// with a subaccount aSub.
func forEachStore(t *testing.T, f func(t *testing.T, s *application.Service, db *store.DB, a, aSub, b *trunkline.Account)) {
	for _, db := range storetest.Open(t) {
		t.Run(string(db.Dialect()), func(t *testing.T) {
			acc := fixture.Accounts(t, db)
			a := fixture.Main(t, acc, "a")
			b := fixture.Main(t, acc, "b")
			f(t, application.New(db, db), db, a, fixture.Sub(t, acc, a, "a-sub"), b)
		})
	}
}

func TestCreate(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *application.Service, db *store.DB, a, _, _ *trunkline.Account) {
		ctx := context.Background()
		if err := s.Create(ctx, application.Defaults(a.ID), false); err != application.ErrNoAnswerURL {
			t.Fatalf("no URLs: %v, want ErrNoAnswerURL", err)
		}
		app := application.Defaults(a.ID)
		app.Name, app.AnswerURL = "x", "https://example.com/answer"
		if err := s.Create(ctx, app, false); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, trunkline.ScopeOf(a), app.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.HangupURL != app.AnswerURL || got.AnswerMethod != "POST" || !got.Enabled || !got.LogIncomingMessages {
			t.Fatalf("stored %+v: want the hangup URL to follow the answer URL and the defaults", got)
		}
		// A hangup URL set to empty stays empty.
		app2 := application.Defaults(a.ID)
		app2.Name, app2.MessageURL = "m", "https://example.com/sms"
		if err := s.Create(ctx, app2, true); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Get(ctx, trunkline.ScopeOf(a), app2.ID); got.HangupURL != "" {
			t.Fatalf("hangup URL %q, want empty", got.HangupURL)
		}
	})
}

func TestOwnershipRules(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *application.Service, db *store.DB, a, aSub, b *trunkline.Account) {
		ctx := context.Background()
		app := application.Defaults(a.ID)
		app.Name, app.AnswerURL = "x", "https://example.com/answer"
		if err := s.Create(ctx, app, false); err != nil {
			t.Fatal(err)
		}
		if err := s.Usable(ctx, trunkline.ScopeOf(a), app.ID); err != nil {
			t.Errorf("own application: %v", err)
		}
		if err := s.Usable(ctx, trunkline.ScopeOf(a), ""); err != nil {
			t.Errorf("no application: %v", err)
		}
		if err := s.Usable(ctx, trunkline.ScopeOf(b), app.ID); err != application.ErrNotYours {
			t.Errorf("another account's application: %v, want ErrNotYours", err)
		}
		for _, c := range []struct {
			caller *trunkline.Account
			sub    string
			want   string
			err    error
		}{
			{a, "", a.ID, nil},
			{a, aSub.ID, aSub.ID, nil},
			{aSub, aSub.ID, aSub.ID, nil},
			{aSub, a.ID, "", application.ErrNotSubaccount},
			{b, aSub.ID, "", application.ErrNotSubaccount},
			{a, "no-such-account", "", application.ErrNotSubaccount},
		} {
			got, err := s.Owner(ctx, c.caller, c.sub)
			if got != c.want || !errors.Is(err, c.err) || (c.err == nil && err != nil) {
				t.Errorf("Owner(%s, %q) = %q, %v; want %q, %v", c.caller.Name, c.sub, got, err, c.want, c.err)
			}
		}
		// Moving an application to a subaccount goes through Update's owner.
		if _, err := s.Update(ctx, trunkline.ScopeOf(a), app.ID, aSub.ID, func(*trunkline.Application) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, trunkline.ScopeOf(aSub), app.ID); err != nil {
			t.Errorf("after the move the subaccount sees it: %v", err)
		}
	})
}
