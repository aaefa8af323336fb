package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/trunkline/trunkline"
	. "github.com/trunkline/trunkline/store"
)

func mkEndpoint(t *testing.T, db *DB, id, account, username, app string) *trunkline.Endpoint {
	t.Helper()
	e := &trunkline.Endpoint{ID: id, AccountID: account, Username: username, Alias: "alias " + id, AppID: app, Realm: "sip.example.com",
		HA1Enc: []byte("ha1-" + id), PasswordMD5Enc: []byte("md5-" + id)}
	if err := db.CreateEndpoint(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	return e
}

func TestEndpointsScoped(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		db.SetClock(func() time.Time { return now })
		mkAccount(t, db, "MA1", "")
		mkAccount(t, db, "SA1", "MA1")
		mkAccount(t, db, "MA2", "")
		if err := db.CreateApplication(ctx, &trunkline.Application{ID: "app1", AccountID: "MA1", Name: "a"}); err != nil {
			t.Fatal(err)
		}
		e1 := mkEndpoint(t, db, "1", "MA1", "alice000000000001", "app1")
		mkEndpoint(t, db, "2", "SA1", "bob000000000002", "")
		mkEndpoint(t, db, "3", "MA2", "carol000000000003", "")

		// The username is global: another account cannot take it.
		dup := &trunkline.Endpoint{ID: "4", AccountID: "MA2", Username: "alice000000000001", Realm: "r", HA1Enc: []byte{1}, PasswordMD5Enc: []byte{1}}
		if err := db.CreateEndpoint(ctx, dup); !errors.Is(err, trunkline.ErrConflict) {
			t.Fatalf("duplicate username: %v", err)
		}
		if err := db.CreateEndpoint(ctx, &trunkline.Endpoint{ID: "1", AccountID: "MA2", Username: "x", Realm: "r", HA1Enc: []byte{1}, PasswordMD5Enc: []byte{1}}); !errors.Is(err, trunkline.ErrConflict) {
			t.Fatalf("duplicate id: %v", err)
		}

		main, sub, other := trunkline.Scope{AccountID: "MA1", IncludeSubs: true}, trunkline.Scope{AccountID: "SA1"}, trunkline.Scope{AccountID: "MA2", IncludeSubs: true}
		got, err := db.Endpoint(ctx, main, "1")
		if err != nil || got.Username != e1.Username || got.AppID != "app1" || got.Realm != "sip.example.com" ||
			string(got.HA1Enc) != "ha1-1" || string(got.PasswordMD5Enc) != "md5-1" || !got.CreatedAt.Equal(now) ||
			!got.AccountEnabled || got.SIPExpiresAt != nil || got.Registered(now) {
			t.Fatalf("endpoint %+v %v", got, err)
		}
		if _, err := db.Endpoint(ctx, main, "2"); err != nil {
			t.Fatalf("main account sees its subaccount's endpoint: %v", err)
		}
		for _, c := range []struct {
			s  trunkline.Scope
			id string
		}{{sub, "1"}, {other, "1"}, {other, "2"}, {sub, "3"}, {main, "3"}} {
			if _, err := db.Endpoint(ctx, c.s, c.id); !errors.Is(err, trunkline.ErrNotFound) {
				t.Errorf("%+v sees endpoint %s: %v", c.s, c.id, err)
			}
			if _, err := db.UpdateEndpoint(ctx, c.s, c.id, func(e *trunkline.Endpoint) error { e.Alias = "pwned"; return nil }); !errors.Is(err, trunkline.ErrNotFound) {
				t.Errorf("%+v updates endpoint %s: %v", c.s, c.id, err)
			}
			if err := db.DeleteEndpoint(ctx, c.s, c.id); !errors.Is(err, trunkline.ErrNotFound) {
				t.Errorf("%+v deletes endpoint %s: %v", c.s, c.id, err)
			}
		}
		if eps, n, err := db.ListEndpoints(ctx, main, trunkline.EndpointFilter{Limit: 20}); err != nil || n != 2 || len(eps) != 2 || eps[0].ID != "1" {
			t.Fatalf("main list: %v %d %v", eps, n, err)
		}
		if eps, n, _ := db.ListEndpoints(ctx, main, trunkline.EndpointFilter{Limit: 1, Offset: 1}); n != 2 || len(eps) != 1 || eps[0].ID != "2" {
			t.Fatalf("main page 2: %v %d", eps, n)
		}
		if eps, n, _ := db.ListEndpoints(ctx, sub, trunkline.EndpointFilter{Limit: 20}); n != 1 || eps[0].ID != "2" {
			t.Fatalf("sub list: %v %d", eps, n)
		}

		// The registrar's look-up needs no scope, and says whether the account may register.
		byName, err := db.EndpointByUsername(ctx, "bob000000000002")
		if err != nil || byName.ID != "2" || byName.AccountID != "SA1" || !byName.AccountEnabled {
			t.Fatalf("by username: %+v %v", byName, err)
		}
		if _, err := db.EndpointByUsername(ctx, "nobody"); !errors.Is(err, trunkline.ErrNotFound) {
			t.Fatalf("unknown username: %v", err)
		}
		off := false
		if _, err := db.UpdateAccount(ctx, "MA1", trunkline.AccountUpdate{Enabled: &off}); err != nil {
			t.Fatal(err)
		}
		if e, _ := db.EndpointByUsername(ctx, "bob000000000002"); e.AccountEnabled {
			t.Fatal("a disabled main account disables its subaccount's endpoints")
		}
		on := true
		db.UpdateAccount(ctx, "MA1", trunkline.AccountUpdate{Enabled: &on})

		// Registration.
		exp := now.Add(time.Hour)
		if err := db.SetRegistration(ctx, "alice000000000001", "sip:alice@192.0.2.1:5060", "Phone/1.0", exp); err != nil {
			t.Fatal(err)
		}
		if err := db.SetRegistration(ctx, "nobody", "sip:x@192.0.2.1", "", exp); !errors.Is(err, trunkline.ErrNotFound) {
			t.Fatalf("register unknown: %v", err)
		}
		got, _ = db.Endpoint(ctx, main, "1")
		if got.SIPContact != "sip:alice@192.0.2.1:5060" || got.SIPUserAgent != "Phone/1.0" || !got.SIPExpiresAt.Equal(exp) ||
			!got.RegisteredAt.Equal(now) || !got.Registered(now) || got.Registered(exp) {
			t.Fatalf("registered: %+v", got)
		}

		// An owner's update keeps the registration; the registrar's keeps the owner's fields.
		later := now.Add(time.Minute)
		db.SetClock(func() time.Time { return later })
		up, err := db.UpdateEndpoint(ctx, main, "1", func(e *trunkline.Endpoint) error {
			e.Alias, e.AppID, e.HA1Enc = "desk", "", []byte("new-ha1")
			return nil
		})
		if err != nil || !up.ModifiedAt.Equal(later) {
			t.Fatalf("update: %+v %v", up, err)
		}
		got, _ = db.Endpoint(ctx, main, "1")
		if got.Alias != "desk" || got.AppID != "" || string(got.HA1Enc) != "new-ha1" || got.SIPContact == "" || !got.CreatedAt.Equal(now) {
			t.Fatalf("after update: %+v", got)
		}
		if err := db.ClearRegistration(ctx, "alice000000000001"); err != nil {
			t.Fatal(err)
		}
		got, _ = db.Endpoint(ctx, main, "1")
		if got.SIPContact != "" || got.SIPExpiresAt != nil || got.RegisteredAt != nil || got.Registered(now) || got.Alias != "desk" {
			t.Fatalf("after unregister: %+v", got)
		}

		// A deleted application leaves its endpoints without one.
		db.UpdateEndpoint(ctx, main, "1", func(e *trunkline.Endpoint) error { e.AppID = "app1"; return nil })
		if err := db.DeleteApplication(ctx, main, "app1"); err != nil {
			t.Fatal(err)
		}
		if got, _ := db.Endpoint(ctx, main, "1"); got.AppID != "" {
			t.Fatalf("endpoint keeps a deleted app: %+v", got)
		}

		if err := db.DeleteEndpoint(ctx, main, "1"); err != nil {
			t.Fatal(err)
		}
		if _, err := db.EndpointByUsername(ctx, "alice000000000001"); !errors.Is(err, trunkline.ErrNotFound) {
			t.Fatalf("deleted endpoint: %v", err)
		}
		if err := db.DeleteEndpoint(ctx, main, "1"); !errors.Is(err, trunkline.ErrNotFound) {
			t.Fatalf("delete twice: %v", err)
		}
	})
}

func TestEndpointsFollowSubaccount(t *testing.T) {
	forEach(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		mkAccount(t, db, "MA1", "")
		mkAccount(t, db, "SA1", "MA1")
		mkAccount(t, db, "SA2", "MA1")
		db.CreateApplication(ctx, &trunkline.Application{ID: "a2", AccountID: "SA2", Name: "b"})
		mkEndpoint(t, db, "1", "SA1", "one000000000001", "")
		mkEndpoint(t, db, "2", "SA2", "two000000000002", "a2")
		main := trunkline.Scope{AccountID: "MA1", IncludeSubs: true}
		// Without cascade the endpoints move to the parent, as applications do.
		if err := db.DeleteSubaccount(ctx, "MA1", "SA1", false); err != nil {
			t.Fatal(err)
		}
		if e, err := db.Endpoint(ctx, main, "1"); err != nil || e.AccountID != "MA1" {
			t.Fatalf("without cascade: %+v %v", e, err)
		}
		// With cascade they go with the account.
		if err := db.DeleteSubaccount(ctx, "MA1", "SA2", true); err != nil {
			t.Fatal(err)
		}
		if _, err := db.EndpointByUsername(ctx, "two000000000002"); !errors.Is(err, trunkline.ErrNotFound) {
			t.Fatalf("with cascade: %v", err)
		}
	})
}
