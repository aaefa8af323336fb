package store_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/trunkline/trunkline/store/storetest"
	"github.com/trunkline/trunkline/webhook"
)

// TestWebhookAttemptsRecorded delivers a callback through the real webhook client to a
// local receiver that fails once, and checks both attempts are stored without the
// query string or parameters.
func TestWebhookAttemptsRecorded(t *testing.T) {
	for _, db := range storetest.Open(t) {
		t.Run(string(db.Dialect()), func(t *testing.T) {
			calls := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls++
				if calls == 1 {
					w.WriteHeader(http.StatusServiceUnavailable)
					return
				}
				w.WriteHeader(http.StatusOK)
			}))
			defer srv.Close()
			c := webhook.New(webhook.Options{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Recorder: db,
				Sleep: func(context.Context, time.Duration) error { return nil }})
			defer c.Close()
			_, err := c.Do(context.Background(), webhook.Request{AccountID: "MAX", Kind: "message_status", ObjectID: "m-1",
				URL: srv.URL + "/status?secret=s3cr3t", Method: "POST", Params: url.Values{"Text": {"hello body"}}, AuthToken: "tok"})
			if err != nil {
				t.Fatal(err)
			}
			got, err := db.WebhookAttempts(context.Background(), "MAX", "m-1")
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 || got[0].Status != 503 || got[0].ErrorClass != "http_5xx" || got[1].Status != 200 || got[1].Number != 2 {
				t.Fatalf("attempts %+v", got)
			}
			for _, a := range got {
				if strings.Contains(a.URL, "s3cr3t") || strings.Contains(a.URL, "hello") || a.Kind != "message_status" {
					t.Fatalf("attempt record carries the query or parameters: %+v", a)
				}
			}
		})
	}
}

// TestWebhookFirstTrySuccessNotStored: a delivery that succeeds at its first attempt
// leaves no row (nearly every callback: it would be most of a message's bytes on disk);
// a success in a later round of a delivery that had failed is stored, so the failures
// recorded before it are seen to have ended.
func TestWebhookFirstTrySuccessNotStored(t *testing.T) {
	for _, db := range storetest.Open(t) {
		t.Run(string(db.Dialect()), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }))
			defer srv.Close()
			c := webhook.New(webhook.Options{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Recorder: db})
			defer c.Close()
			for _, redelivery := range []bool{false, true} {
				if _, err := c.Do(context.Background(), webhook.Request{AccountID: "MAX", Kind: "message_status", ObjectID: "m-1",
					URL: srv.URL + "/status", Method: "POST", AuthToken: "tok", Redelivery: redelivery}); err != nil {
					t.Fatal(err)
				}
			}
			got, err := db.WebhookAttempts(context.Background(), "MAX", "m-1")
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0].Status != 200 || got[0].Number != 1 || got[0].ErrorClass != "" {
				t.Fatalf("attempts %+v, want the redelivery's success only", got)
			}
		})
	}
}
