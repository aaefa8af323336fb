// Package metrics exposes Trunkline's Prometheus metrics: API requests, carrier attempts
// and failovers, carrier health, message states and webhook deliveries. The server serves
// them on their own listener (metrics.listen), apart from the customer-facing API.
package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics holds the collectors.
type Metrics struct {
	Registry *prometheus.Registry

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
	AuditOK              prometheus.Gauge       // 1 while audit checkpoints are being signed
	// Backups and restore drills by outcome (ok, failed); the time of the last good ones.
	Backups      *prometheus.CounterVec // outcome
	BackupDrills *prometheus.CounterVec // outcome
	LastBackupOK prometheus.Gauge
	LastDrillOK  prometheus.Gauge
	DrillSeconds prometheus.Gauge
	// StaffEvents counts staff access events (request, approve, deny, revoke, consent,
	// breakglass, review, read, act, refused); breakglass is the one to alert on.
	StaffEvents *prometheus.CounterVec // kind
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
		AuditOK: prometheus.NewGauge(prometheus.GaugeOpts{Name: "trunkline_audit_checkpoint_ok",
			Help: "1 when the last audit checkpoint attempt succeeded, 0 when it failed or was refused (the log does not extend a witnessed or stored checkpoint: run trunkline audit verify)."}),
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
		StaffEvents: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trunkline_staff_access_events_total",
			Help: "Staff access events by kind; alert on breakglass."}, []string{"kind"}),
	}
	r.MustRegister(m.StaffEvents, m.Backups, m.BackupDrills, m.LastBackupOK, m.LastDrillOK, m.DrillSeconds)
	r.MustRegister(m.AuditOK, m.APIRequests, m.APILatency, m.CarrierSubmits, m.CarrierLatency, m.Failovers, m.CarrierUp, m.Messages,
		m.Webhooks, m.VerificationRefusals, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// AuditCheckpoint records the outcome of an audit checkpoint attempt.
func (m *Metrics) AuditCheckpoint(err error) {
	if err != nil {
		m.AuditOK.Set(0)
	} else {
		m.AuditOK.Set(1)
	}
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

// StaffEvent counts a staff access event.
func (m *Metrics) StaffEvent(kind string) { m.StaffEvents.WithLabelValues(kind).Inc() }

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
