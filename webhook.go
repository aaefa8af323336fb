package trunkline

// WebhookAttempt is a stored delivery attempt.
type WebhookAttempt struct {
	Kind, ObjectID, URL, ErrorClass string
	Attempt, Status                 int
	LatencyMicros                   int64
}
