package trunkline

import (
	"context"
	"time"
)

// MPCService lists and controls multi-party calls (<MultiPartyCall>). Like
// conference rooms, a live MPC is on the node that holds its mixer; ended
// ones are kept in memory for a while (the list's status=ended filter).
type MPCService interface {
	// MPCs lists the account's multi-party calls, newest first.
	MPCs(accountID string) []MPC
	// MPC finds one by "name_<friendly name>" (live only) or "uuid_<uuid>".
	MPC(accountID, id string) (MPC, error)
	MPCCommand(ctx context.Context, accountID, id string, cmd MPCCommand) (MPCResult, error)
}

// MPC is a multi-party call as the API shows it.
type MPC struct {
	AccountID, Name, UUID string
	Status                string // Initialized, Active, Ended
	Recording             string // recording, not-recording, paused
	StayAlone             bool
	Created               time.Time
	Started, Ended        *time.Time
	TerminationCause      string
	TerminationCauseCode  int
	Participants          []MPCParticipant
}

// MPCParticipant is one call in a multi-party call.
type MPCParticipant struct {
	MemberID, CallUUID, Role, Address string
	Mute, Hold, CoachMode             bool
	EndMPCOnExit, StartMPCOnEnter     bool
	Joined                            time.Time
	Exited                            *time.Time
	ExitCause                         string
}

// MPCCommand is a validated multi-party call command.
type MPCCommand struct {
	// Kind: start, end, record, stop_record, pause_record, resume_record,
	// update, kick, participant_record (and stop_, pause_, resume_), play,
	// stop_play, add.
	Kind    string
	Members []string
	All     bool
	// update: nil leaves a setting as it is.
	Mute, Hold, CoachMode       *bool
	URL                         string
	FileFormat                  string
	CallbackURL, CallbackMethod string
	// add: a call to place (From, To) or a live call to move (CallUUID), and
	// the participant's <MultiPartyCall> attributes.
	Role, From, To, CallUUID, CallerName string
	RingTimeout                          time.Duration
	Attrs                                map[string]string
}

// MPCResult is what an MPC command reports back.
type MPCResult struct {
	MemberIDs        []string
	RecordingID, URL string
	RequestUUIDs     []string // add: the calls placed
	CallUUIDs        []string
}

// ErrNoMPC: no multi-party call by that id in the account.
var ErrNoMPC = &Error{Code: ENOTFOUND, Message: "multi-party call not found"}
