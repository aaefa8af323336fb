package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/trunkline/trunkline"
)

// Error is an error a client may see: an HTTP status and a plain message, rendered in
// Plivo's shape {"api_id": ..., "error": msg}. Anything that is not an *Error is internal:
// it is logged with context and the client gets a bare 500.
type Error struct {
	Status     int
	Msg        string
	RetryAfter time.Duration // sets Retry-After on 429 and 503
}

func (e *Error) Error() string { return e.Msg }

func badRequest(msg string) *Error { return &Error{Status: http.StatusBadRequest, Msg: msg} }

// errNotFound is the one answer for a missing object, another tenant's object and an
// unknown route: nothing distinguishes them.
var errNotFound = &Error{Status: http.StatusNotFound, Msg: "not found"}

var errUnauthorized = &Error{Status: http.StatusUnauthorized, Msg: "authentication failed"}

func errForbidden(msg string) *Error { return &Error{Status: http.StatusForbidden, Msg: msg} }

// httpError is the one mapping of errors to what a client sees: an *Error as it is, a
// trunkline.Error by its code; nil for anything else, which is internal (a logged 500).
func httpError(err error) *Error {
	var ue *Error
	if errors.As(err, &ue) {
		return ue
	}
	var te *trunkline.Error
	if !errors.As(err, &te) {
		return nil
	}
	switch te.Code {
	case trunkline.ENOTFOUND:
		if te == trunkline.ErrNotFound { // a missing object and another tenant's look alike
			return errNotFound
		}
		return &Error{Status: http.StatusNotFound, Msg: te.Message}
	case trunkline.EINVALID:
		return badRequest(te.Message)
	case trunkline.ECONFLICT:
		if te == trunkline.ErrConflict { // the store's own words are not for clients
			return &Error{Status: http.StatusConflict, Msg: "conflict"}
		}
		return &Error{Status: http.StatusConflict, Msg: te.Message}
	case trunkline.EUNAUTHORIZED:
		return errUnauthorized
	case trunkline.EFORBIDDEN:
		return errForbidden(te.Message)
	case trunkline.ENOROUTE:
		return badRequest(te.Message) // a destination no trunk serves is a bad request
	case trunkline.EUNAVAILABLE, trunkline.EBUSY:
		return &Error{Status: http.StatusServiceUnavailable, Msg: te.Message}
	}
	return nil
}
