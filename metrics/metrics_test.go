package metrics

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestEndpoint(t *testing.T) {
	m := New()
	srv := NewServer(m, ServerOptions{Listen: "127.0.0.1:0"})
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	m.Request("GET /v1/Account/{auth_id}", 200, time.Millisecond)
	m.Attempt("carrier-a", "ok", 2*time.Millisecond)
	m.Attempt("carrier-a", "ESME_RTHROTTLED", time.Millisecond)
	m.Failover("carrier-b")
	m.CarrierState("carrier-a", false)
	m.MessageState("delivered")
	m.Webhook("message_status", "ok")
	m.VerificationRefused("prefix")
	resp, err := http.Get("http://" + srv.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`trunkline_api_requests_total{code="200",route="GET /v1/Account/{auth_id}"} 1`,
		`trunkline_carrier_submits_total{carrier="carrier-a",outcome="ESME_RTHROTTLED"} 1`,
		`trunkline_carrier_failovers_total{carrier="carrier-b"} 1`,
		`trunkline_carrier_up{carrier="carrier-a"} 0`,
		`trunkline_messages_total{state="delivered"} 1`,
		`trunkline_webhook_attempts_total{class="ok",kind="message_status"} 1`,
		`trunkline_verification_refused_total{limit="prefix"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
