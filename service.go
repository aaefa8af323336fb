package trunkline

import (
	"context"
	"time"
)

// The services below are what the front ends (api, console) and the workers (message)
// depend on. package store implements all of them for SQLite and PostgreSQL; a cluster
// backend implements the same interfaces. Each lists only the methods its users call.
// The rules that sit on top (URL checks, defaults, ownership) live in the packages named
// for the resource: application, number, endpoint, message.

// AccountService reads and manages accounts beyond authentication (package account
// owns credentials and their checks).
type AccountService interface {
	Account(ctx context.Context, id string) (*Account, error)
	ListAccounts(ctx context.Context, parentID string, limit, offset int) ([]*Account, int, error)
	// SubaccountIDs lists the ids of parentID's subaccounts (audit and live-call reads
	// of a main account cover them).
	SubaccountIDs(ctx context.Context, parentID string) ([]string, error)
	UpdateAccount(ctx context.Context, id string, u AccountUpdate) (*Account, error)
	DeleteSubaccount(ctx context.Context, parentID, id string, cascade bool) error
	SetAPIAllow(ctx context.Context, accountID, allow string) error
	Credentials(ctx context.Context, accountID string, now time.Time) ([]*Credential, error)
}

// MemberService lists the people of an account and the invitations outstanding.
type MemberService interface {
	AccountUsers(ctx context.Context, accountID string) ([]*User, error)
	AccountInvites(ctx context.Context, accountID string) ([]*Invite, error)
}

// ApplicationService stores applications. UpdateApplication runs fn on the current
// record and stores it unless fn fails.
type ApplicationService interface {
	Application(ctx context.Context, s Scope, id string) (*Application, error)
	ListApplications(ctx context.Context, s Scope, f ApplicationFilter) ([]*Application, int, error)
	CreateApplication(ctx context.Context, a *Application) error
	// CreateApplicationAudited is CreateApplication that also appends the audit
	// entry audit builds (when not nil) in the same transaction.
	CreateApplicationAudited(ctx context.Context, a *Application, audit AuditBuild) error
	UpdateApplication(ctx context.Context, s Scope, id string, fn func(*Application) error) (*Application, error)
	DeleteApplication(ctx context.Context, s Scope, id string) error
}

// NumberService stores the number inventory and the numbers accounts rent.
type NumberService interface {
	SearchNumbers(ctx context.Context, f NumberSearch) ([]*Number, int, error)
	// RentNumber rents a free number to accountID; ErrNotFound when it is not free.
	RentNumber(ctx context.Context, number, accountID, appID string) (*Number, error)
	RentedNumber(ctx context.Context, s Scope, number string) (*Number, error)
	ListRented(ctx context.Context, s Scope, f RentedFilter) ([]*Number, int, error)
	UpdateRented(ctx context.Context, s Scope, number string, fn func(*Number) error) (*Number, error)
	UnrentNumber(ctx context.Context, s Scope, number string) error
	// NumberRentedBy is the rented number for an inbound message or call, any account.
	NumberRentedBy(ctx context.Context, number string) (*Number, error)
}

// EndpointService stores SIP endpoints. CreateEndpoint answers ErrConflict when the
// user name is taken.
type EndpointService interface {
	Endpoint(ctx context.Context, s Scope, id string) (*Endpoint, error)
	ListEndpoints(ctx context.Context, s Scope, f EndpointFilter) ([]*Endpoint, int, error)
	CreateEndpoint(ctx context.Context, e *Endpoint) error
	UpdateEndpoint(ctx context.Context, s Scope, id string, fn func(*Endpoint) error) (*Endpoint, error)
	DeleteEndpoint(ctx context.Context, s Scope, id string) error
}

// MessageService reads messages: what the API and the console show.
type MessageService interface {
	Message(ctx context.Context, s Scope, uuid string) (*Message, error)
	ListMessages(ctx context.Context, s Scope, f MessageFilter) ([]*Message, int, error)
	MessageAttempts(ctx context.Context, uuid string) ([]Attempt, error)
	MessageDayCounts(ctx context.Context, s Scope, start time.Time) ([]DayCount, error)
}

// MessageSender sends messages for the front ends: it applies the send rules (source,
// destinations, text, log mode, callback, expiry) to a draft, answering an EINVALID
// Error that says what to fix, and queues one message per destination; when it returns,
// they are durable.
type MessageSender interface {
	Send(ctx context.Context, d MessageDraft) (*MessageAccepted, error)
}

// MessageQueue is the message job queue the workers run on: messages and status
// callbacks are claimed under a lease by one owner (NodeOwner: a node's name and
// incarnation), and their outcome recorded only while that owner still holds it.
// Lease times are judged by the database's clock where there is one to share.
type MessageQueue interface {
	// InsertMessages queues ms and their callbacks in one transaction.
	InsertMessages(ctx context.Context, ms []*Message, cbs []*Callback) error
	// InsertMessagesAudited is InsertMessages that also appends the audit entries
	// audit builds (when not nil) in the same transaction.
	InsertMessagesAudited(ctx context.Context, ms []*Message, cbs []*Callback, audit AuditBuild) error
	// ClaimMessages claims nothing for an owner whose incarnation was given up for
	// dead: that node must rejoin as a new one first.
	ClaimMessages(ctx context.Context, owner string, lease time.Duration, limit int) ([]*Message, error)
	// NextMessageDue is when the next queued message may be sent (zero: none queued).
	NextMessageDue(ctx context.Context) (time.Time, error)
	// RecordSend: ErrLeaseLost when o.Lease no longer holds the message. The message
	// it returns (as it now stands) carries no text: its callbacks do not need it.
	RecordSend(ctx context.Context, uuid string, o SendOutcome) (*Message, error)
	// ReleaseLease frees a message owner holds ("" any owner).
	ReleaseLease(ctx context.Context, uuid, owner string) error
	// ReleaseLeases frees the leases node (a name) holds under any incarnation but
	// keep's, and returns the number of messages freed.
	ReleaseLeases(ctx context.Context, node, keep string) (int64, error)
	// ApplyReceipt records a carrier's delivery receipt; when the message is final it
	// queues callback(m) in the same transaction. m carries no text, as RecordSend's.
	// PruneEarlyReceipts deletes the receipts received before before that never met
	// their submit (stored under a spelling of the id the submit did not use, or for a
	// message this platform never sent), and says how many.
	PruneEarlyReceipts(ctx context.Context, before time.Time) (int64, error)
	ApplyReceipt(ctx context.Context, carrier string, keys []string, state, errorCode string, erase bool,
		callback func(m *Message) *Callback) (ReceiptOutcome, error)
	ClaimCallbacks(ctx context.Context, owner string, lease time.Duration, limit int) ([]*Callback, error)
	// FinishCallback and RetryCallback do nothing when owner ("" any) no longer
	// holds the callback: its new owner delivers it.
	FinishCallback(ctx context.Context, id int64, owner string) error
	RetryCallback(ctx context.Context, id int64, owner string, t time.Time) error
	// HandCallbacks hands every callback queued from now on to take right after the
	// commit that stores it, leased for lease to owner() (no claim query); take nil
	// stops it.
	HandCallbacks(owner func() string, lease time.Duration, take func([]*Callback))
	// ReleaseCallback frees the lease of a callback handed over but not delivered, if
	// owner ("" any) still holds it.
	ReleaseCallback(ctx context.Context, id int64, owner string) error
}

// CallHistory reads the records of finished and running calls.
type CallHistory interface {
	GetCall(ctx context.Context, s Scope, uuid string) (*Call, error)
	ListCalls(ctx context.Context, s Scope, f CallFilter) ([]*Call, int, error)
	CallDayCounts(ctx context.Context, s Scope, start time.Time) ([]DayCount, error)
}

// RecordingService reads and removes recording records (the audio is kept apart).
type RecordingService interface {
	GetRecording(ctx context.Context, s Scope, id string) (*Recording, error)
	ListRecordings(ctx context.Context, s Scope, f RecordingFilter) ([]*Recording, int, error)
	// DeleteRecording removes the record and returns it, so its audio can go too.
	DeleteRecording(ctx context.Context, s Scope, id string) (*Recording, error)
}

// CallerIDService manages the verified caller IDs of accounts.
type CallerIDService interface {
	VerifiedCallerIDs(ctx context.Context, s Scope, f CallerIDFilter) ([]*VerifiedCallerID, int, error)
	VerifiedCallerIDOf(ctx context.Context, s Scope, number string) (*VerifiedCallerID, error)
	UpdateVerifiedCallerID(ctx context.Context, s Scope, number string, alias *string, sub string) (*VerifiedCallerID, error)
	DeleteVerifiedCallerID(ctx context.Context, s Scope, number string) error
}

// PasskeyService stores users' WebAuthn credentials.
type PasskeyService interface {
	WebAuthnCredentials(ctx context.Context, userID string) ([]*WebAuthnCredential, error)
	AddWebAuthn(ctx context.Context, c *WebAuthnCredential) error
	UseWebAuthn(ctx context.Context, userID, id string, data []byte) error
	DeleteWebAuthn(ctx context.Context, userID, id string) error
}
