package trunkline

import "time"

// WebhookAttempt is one try at delivering a customer callback, as the webhook client
// reports it and the store keeps it (e.g. for the console's callback log). It never
// holds parameters, tokens or the query string.
type WebhookAttempt struct {
	AccountID  string
	Kind       string
	ObjectID   string
	Number     int    // 1-based
	Method     string // GET or POST
	URL        string // scheme://host[:port]/path; no userinfo, query or fragment
	Status     int    // HTTP status, 0 if no response
	ErrorClass string // "" on success, else one of the webhook client's error classes
	Latency    time.Duration
	Time       time.Time // when the attempt started
	WillRetry  bool      // a retry was scheduled (it does not happen if ctx ends first)
	Redelivery bool      // a later round of a delivery whose earlier round failed
}
