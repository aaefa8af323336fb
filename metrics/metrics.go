// Package metrics exposes Trunkline's Prometheus metrics: API requests, carrier attempts
// and failovers, carrier health, message states and webhook deliveries. The server serves
// them on their own listener (metrics.listen), apart from the customer-facing API.
package metrics

import (
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds the collectors.
type Metrics struct {
	Registry *prometheus.Registry
	// Pprof serves Go's profiler on the listener too; set before Start.
	Pprof bool

	APIRequests    *prometheus.CounterVec   // route, code
	APILatency     *prometheus.HistogramVec // route
	CarrierSubmits *prometheus.CounterVec   // carrier, outcome
	CarrierLatency *prometheus.HistogramVec // carrier
	Failovers      *prometheus.CounterVec   // to carrier
	CarrierUp      *prometheus.GaugeVec     // carrier
	Messages       *prometheus.CounterVec   // state
	Webhooks       *prometheus.CounterVec   // kind, class
	// VerificationRefusals counts verification codes not sent because a limit refused
	// them (country, number, address, network, prefix, global_hour, global_day).
	VerificationRefusals *prometheus.CounterVec // limit
	// Backups and restore drills by outcome (ok, failed); the time of the last good ones.
	Backups      *prometheus.CounterVec // outcome
	BackupDrills *prometheus.CounterVec // outcome
	LastBackupOK prometheus.Gauge
	LastDrillOK  prometheus.Gauge
	DrillSeconds prometheus.Gauge

	srv *http.Server
	ln  net.Listener
}

// New registers every collector on a fresh registry (with the Go and process collectors).
func New() *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{Registry: r,
		APIRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trunkline_api_requests_total",
			Help: "API requests by route and status code."}, []string{"route", "code"}),
		APILatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "trunkline_api_request_seconds",
			Help: "API request latency by route.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}, []string{"route"}),
		CarrierSubmits: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trunkline_carrier_submits_total",
			Help: "Message submit attempts by carrier and outcome (ok or the failure)."}, []string{"carrier", "outcome"}),
		CarrierLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "trunkline_carrier_submit_seconds",
			Help: "Submit latency by carrier.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}, []string{"carrier"}),
		Failovers: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trunkline_carrier_failovers_total",
			Help: "Messages sent on to the next carrier of their route, by the carrier failed over to."}, []string{"carrier"}),
		CarrierUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "trunkline_carrier_up",
			Help: "1 while a carrier takes traffic, 0 while it is marked down."}, []string{"carrier"}),
		Messages: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trunkline_messages_total",
			Help: "Messages reaching a state."}, []string{"state"}),
		Webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trunkline_webhook_attempts_total",
			Help: "Callback delivery attempts by kind and result class."}, []string{"kind", "class"}),
		VerificationRefusals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trunkline_verification_refused_total",
			Help: "Verification codes (texts and calls) refused by a signup-abuse limit, by limit."}, []string{"limit"}),
		Backups: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trunkline_backups_total",
			Help: "Backups by outcome (ok: every destination confirmed)."}, []string{"outcome"}),
		BackupDrills: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trunkline_backup_drills_total",
			Help: "Restore drills by outcome."}, []string{"outcome"}),
		LastBackupOK: prometheus.NewGauge(prometheus.GaugeOpts{Name: "trunkline_backup_last_success_timestamp_seconds",
			Help: "When the last backup every destination confirmed finished."}),
		LastDrillOK: prometheus.NewGauge(prometheus.GaugeOpts{Name: "trunkline_backup_drill_last_success_timestamp_seconds",
			Help: "When the last passing restore drill finished."}),
		DrillSeconds: prometheus.NewGauge(prometheus.GaugeOpts{Name: "trunkline_backup_drill_seconds",
			Help: "How long the last restore drill took."}),
	}
	r.MustRegister(m.Backups, m.BackupDrills, m.LastBackupOK, m.LastDrillOK, m.DrillSeconds)
	r.MustRegister(m.APIRequests, m.APILatency, m.CarrierSubmits, m.CarrierLatency, m.Failovers, m.CarrierUp, m.Messages,
		m.Webhooks, m.VerificationRefusals, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Start serves /metrics on addr (binding synchronously).
func (m *Metrics) Start(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	if m.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	m.ln = ln
	m.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := m.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = err
		}
	}()
	return nil
}

// Addr is the metrics listener's address.
func (m *Metrics) Addr() net.Addr { return m.ln.Addr() }

// Close stops the listener.
func (m *Metrics) Close() error {
	if m.srv == nil {
		return nil
	}
	return m.srv.Close()
}

// The methods below are the small interfaces other packages declare for what they report.

// Request counts an API request.
func (m *Metrics) Request(route string, code int, d time.Duration) {
	m.APIRequests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	m.APILatency.WithLabelValues(route).Observe(d.Seconds())
}

// Attempt counts a carrier submit attempt.
func (m *Metrics) Attempt(carrier, outcome string, latency time.Duration) {
	m.CarrierSubmits.WithLabelValues(carrier, outcome).Inc()
	m.CarrierLatency.WithLabelValues(carrier).Observe(latency.Seconds())
}

// Failover counts a message sent on to carrier after another failed it.
func (m *Metrics) Failover(carrier string) { m.Failovers.WithLabelValues(carrier).Inc() }

// CarrierState records whether a carrier takes traffic.
func (m *Metrics) CarrierState(carrier string, up bool) {
	v := 0.0
	if up {
		v = 1
	}
	m.CarrierUp.WithLabelValues(carrier).Set(v)
}

// MessageState counts a message reaching state.
func (m *Metrics) MessageState(state string) { m.Messages.WithLabelValues(state).Inc() }

// Webhook counts a callback delivery attempt.
func (m *Metrics) Webhook(kind, class string) { m.Webhooks.WithLabelValues(kind, class).Inc() }

// VerificationRefused counts a verification code refused by limit.
func (m *Metrics) VerificationRefused(limit string) {
	m.VerificationRefusals.WithLabelValues(limit).Inc()
}

// Backup counts a backup.
func (m *Metrics) Backup(ok bool) {
	if ok {
		m.Backups.WithLabelValues("ok").Inc()
		m.LastBackupOK.SetToCurrentTime()
		return
	}
	m.Backups.WithLabelValues("failed").Inc()
}

// BackupDrill counts a restore drill.
func (m *Metrics) BackupDrill(ok bool, d time.Duration) {
	m.DrillSeconds.Set(d.Seconds())
	if ok {
		m.BackupDrills.WithLabelValues("ok").Inc()
		m.LastDrillOK.SetToCurrentTime()
		return
	}
	m.BackupDrills.WithLabelValues("failed").Inc()
}
