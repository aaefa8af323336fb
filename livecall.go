package trunkline

import (
	"context"
	"time"
)

// CallService places and controls live calls. The voice server implements it on one
// node; a cluster implementation reaches the node that holds a call over the bus,
// behind the same interface.
type CallService interface {
	Place(ctx context.Context, c PlaceCall) error
	// Live lists the calls of the accounts visible() accepts: answered ones,
	// or (queued) outbound ones not answered yet.
	Live(visible func(accountID string) bool, queued bool) []LiveCall
	Get(uuid string) (LiveCall, bool)
	Hangup(uuid string) bool        // false: no such live call
	Cancel(requestUUID string) bool // false: no such request (or already answered)
	// Command runs a live-call command (transfer, play, speak, dtmf, record
	// and their stops); ErrNoLiveCall when the call is not running.
	Command(ctx context.Context, uuid string, c CallCommand) (CommandResult, error)
}

// PlaceCall is a validated make-a-call request for one destination.
type PlaceCall struct {
	AccountID, RequestUUID string
	From, To, CallerName   string
	App                    Application // answer, hangup and fallback URLs and methods
	RingURL, RingMethod    string
	RingTimeout, TimeLimit time.Duration
	SendDigits, ParentUUID string
	SIPHeaders             []string
	// Document, when set, is the XML the answered call runs instead of fetching
	// App's answer_url: for the platform's own calls (a phone verification whose
	// XML carries a secret code), whose XML must never go to a URL, a log or the
	// store. Without App no hangup_url is called.
	Document string
	// Platform marks the platform's own calls, placed from the operator's configured
	// caller ID: they skip the caller-ID rule, which is about what a customer may
	// call as.
	Platform bool
}

// LiveCall is what the API shows of a call in progress.
type LiveCall struct {
	AccountID, CallUUID, RequestUUID string
	Direction, From, To, CallerName  string
	Status                           string // in-progress, ringing
	SessionStart                     time.Time
}

// CallCommand is a validated live-call command.
type CallCommand struct {
	Kind                        string // transfer, play, stop_play, speak, stop_speak, dtmf, record, stop_record
	Legs                        string // transfer: aleg, bleg or both
	URL, Method                 string
	BURL, BMethod               string
	URLs                        []string
	Text, Voice, Language       string
	Loop                        bool
	Digits                      string
	TimeLimit                   time.Duration
	FileFormat                  string
	CallbackURL, CallbackMethod string
}

// CommandResult is what a command reports back.
type CommandResult struct{ RecordingID, URL string }

var (
	// ErrNoLiveCall: the command's call is not running.
	ErrNoLiveCall = &Error{Code: ENOTFOUND, Message: "no such live call"}
	// ErrNoBridgedLeg: a bleg transfer on a call that is not bridged.
	ErrNoBridgedLeg = &Error{Code: EINVALID, Message: "no bridged leg"}
	// ErrNoRoute: Place found no trunk that serves the destination.
	ErrNoRoute = &Error{Code: ENOROUTE, Message: "no route to the destination"}
	// ErrTooManyCalls: Place at the server's call limit.
	ErrTooManyCalls = &Error{Code: EUNAVAILABLE, Message: "too many calls in progress"}
)
