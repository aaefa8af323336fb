package trunkline

import (
	"errors"
	"fmt"
)

// Error codes: few on purpose, each mapped once by every edge (see ErrorCode).
const (
	ENOTFOUND     = "not_found"    // no such record, or not visible to the caller
	EINVALID      = "invalid"      // the request is malformed or breaks a rule
	ECONFLICT     = "conflict"     // a uniqueness rule, or a write lost to a concurrent one
	EUNAUTHORIZED = "unauthorized" // no or wrong credentials
	EFORBIDDEN    = "forbidden"    // right credentials, not allowed this
	EUNAVAILABLE  = "unavailable"  // overloaded, draining, or a dependency is down
	ENOROUTE      = "no_route"     // no carrier or trunk takes the destination
	EBUSY         = "busy"         // the callee or resource is busy
	EINTERNAL     = "internal"     // anything else: details go to the log, not the user
)

// Error is an error a user may see: a code from the list above and a message written for
// them. Internal errors stay plain Go errors and are reported as EINTERNAL.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode is the code of the first *Error in err's chain; EINTERNAL for any other
// non-nil error, "" for nil.
func ErrorCode(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage is the user-facing message of the first *Error in err's chain, or a
// generic one: an internal error's text is never shown to users.
func ErrorMessage(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Message
	}
	return "internal error"
}

// Sentinel errors of the store, comparable with errors.Is. Their codes let an edge map
// them without knowing where they came from.
var (
	// ErrNotFound: a record does not exist (or is not visible to the caller).
	ErrNotFound = &Error{Code: ENOTFOUND, Message: "store: not found"}
	// ErrConflict: a write lost to a concurrent one or broke a uniqueness rule.
	ErrConflict = &Error{Code: ECONFLICT, Message: "store: conflict"}
	// ErrLastOwner: the change would leave an account without an owner.
	ErrLastOwner = &Error{Code: ECONFLICT, Message: "the account's last owner"}
	// ErrLeaseLost: work claimed under a lease was written back after the lease had
	// gone to another owner (or was freed for one): the write is refused, since the
	// new owner's outcome is the one that counts.
	ErrLeaseLost = &Error{Code: ECONFLICT, Message: "store: lease lost"}
)
