package trunkline

import "time"

// Holder is an account that holds a source (rents the number, is allowed the sender ID,
// verified the caller ID), with its main account ("" when it is one).
type Holder struct{ AccountID, ParentID string }

// SenderID is an alphanumeric sender ID the operator allowed for an account.
type SenderID struct {
	AccountID, Sender, CreatedBy string
	CreatedAt                    time.Time
}

// VerifiedCallerID is a number an account proved it owns (Plivo's VerifiedCallerId).
type VerifiedCallerID struct {
	AccountID   string
	PhoneNumber string
	Alias       string
	Channel     string // sms | call
	// VerificationUUID is the spent verification that proved the number.
	VerificationUUID string
	VerifiedAt       time.Time
	ModifiedAt       time.Time
}

// CallerIDFilter narrows a list of verified caller IDs.
type CallerIDFilter struct {
	Subaccount, Alias string
	Limit, Offset     int
}
