package api

import (
	"net/http"
	"time"
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
