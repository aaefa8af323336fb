package trunkline

import "time"

// Message states (Plivo's).
const (
	MsgQueued      = "queued"
	MsgSent        = "sent"
	MsgFailed      = "failed"
	MsgDelivered   = "delivered"
	MsgUndelivered = "undelivered"
	MsgReceived    = "received"
)

// Log modes of a message (Plivo's log parameter): what is kept in clear.
const (
	LogAll         = "true"
	LogNone        = "false" // the number masked, the text redacted
	LogNumberOnly  = "number_only"
	LogContentOnly = "content_only"
)

// RedactedText replaces message content that must not be kept (Plivo's wording).
const RedactedText = "***Text Content Redacted***"

// MessageDraft is a send request as a client wrote it (Plivo's Message API), before the
// send rules. Nil pointers are parameters not given.
type MessageDraft struct {
	AccountID, RequesterIP string
	Type                   string // "" or sms
	PowerpackUUID          string
	Media                  bool   // media_urls or media_ids given
	Src                    string // with or without "+"
	Dst                    string // one number or several joined by "<"
	Text                   string
	Log                    *string
	URL                    string
	Method                 *string
	Expiry                 string // message_expiry in seconds; "" for the default
	Trackable              string // accepted and ignored, but must be a boolean
	// Audit, when set, is called with the accepted messages before they are stored and
	// returns the audit entry recording their acceptance: it is stored in the same
	// transaction, so the messages and their record commit together or not at all.
	Audit func(*MessageAccepted) (AuditBuild, error)
}

// SendRequest is a validated send request: the messages to queue, one per destination.
type SendRequest struct {
	AccountID   string
	Src         string
	Dsts        []string
	Text        string
	LogMode     string
	URL, Method string
	Expiry      time.Duration // zero: the service's default
	RequesterIP string
	// Platform marks the platform's own messages (verification codes), sent from the
	// operator's configured sender by the platform's account: they skip the source rule,
	// which is about what a customer may send as.
	Platform bool
	// Audit is MessageDraft's.
	Audit func(*MessageAccepted) (AuditBuild, error)
}

// MessageAccepted is the outcome of a send: one uuid per destination. Refused, when
// set, says why the source was refused: the messages are stored as failed and none is
// sent.
type MessageAccepted struct {
	UUIDs   []string
	Refused string
	LogMode string // the log mode the messages were stored under
}

// DayCount is how many records of one kind fell on one UTC day, Day counted from the
// start of a chart (0 = its first day).
type DayCount struct {
	Day int
	N   int
	// Messages: the state. Calls: answered, and the hangup cause's name and code (the
	// console turns these into an outcome).
	State     string
	Answered  bool
	CauseName string
	CauseCode int
}

// Message is one SMS, outbound or inbound.
type Message struct {
	UUID      string
	AccountID string
	Direction string // outbound | inbound
	Type      string
	LogMode   string // true | false | number_only | content_only
	From, To  string // as shown (To may be redacted)
	Body      string // as shown (may be redacted)
	// BodyUnreadable: the stored body is sealed under a data key that is gone (the
	// account was deleted: crypto-shredded) or does not open; Body is empty.
	BodyUnreadable bool
	PayloadEnc     []byte // encrypted send payload; nil once erased
	Coding, Units  int
	State          string
	ErrorCode      string
	Carrier        string
	CallbackURL    string
	CallbackMethod string
	RequesterIP    string
	CreatedAt      time.Time
	SentAt         *time.Time
	UpdatedAt      time.Time
	ExpiresAt      time.Time
	NextAttemptAt  time.Time
	Attempts       int
	// Set by the sender that hands a new message straight to its own workers: the
	// message is inserted already leased, so no claim query is needed for it. A claim
	// sets LeaseOwner too: the owner (NodeOwner) its outcome must be recorded under.
	LeaseOwner string
	LeaseUntil time.Time
}

// Callback is a customer callback waiting in the outbox.
type Callback struct {
	ID            int64
	AccountID     string
	Kind          string // message_status, message_inbound ...
	ObjectID      string
	URL, Method   string
	ParamsEnc     []byte
	Attempts      int
	NextAttemptAt time.Time
	// Params are the parameters ParamsEnc seals, kept in memory only by the process
	// that built the callback, so a callback handed over in memory after its commit
	// is sent without opening and decoding them again (nil when read from the store).
	Params     map[string]string
	LeaseOwner string // who claimed it: FinishCallback and RetryCallback are refused for another
}

// MessageFilter narrows a listing (Plivo's filters).
type MessageFilter struct {
	Subaccount string
	Direction  string
	State      string
	Type       string
	ErrorCode  string
	From, To   string
	Since      time.Time // inclusive
	Until      time.Time // exclusive; zero = open
	Limit      int
	Offset     int
}

// Part is one submitted segment and the keys a receipt finds it by (one: the key of its
// SMSC id, pdu.MessageIDKey).
type Part struct {
	Seq  int
	Keys []string
}

// Attempt is one carrier attempt of a message.
type Attempt struct {
	Carrier string
	Status  string // "ok" or a failure class/status name
	Latency time.Duration
	At      time.Time
}

// SendOutcome is what a worker records after trying to send a message.
type SendOutcome struct {
	State     string // MsgSent, MsgFailed or MsgQueued (retry later)
	ErrorCode string
	Carrier   string
	Parts     []Part
	Attempts  []Attempt
	RetryAt   time.Time // for MsgQueued
	Erase     bool      // drop the encrypted payload (final, or the log mode says so)
	Callback  func(m *Message) *Callback
	// Lease is the owner the message was claimed under (Message.LeaseOwner): the
	// outcome is refused with ErrLeaseLost when the lease went to another owner or
	// was freed for one (this node was given up for dead). "" records unconditionally.
	Lease string
}

// ReceiptOutcome is how a receipt changed a message.
type ReceiptOutcome struct {
	Message *Message // nil when no part matched (kept as an early receipt)
	Exact   bool     // matched by the id as spelled (keys[0]), not a numeric reading
	Final   bool     // the message reached delivered/undelivered with this receipt
}
