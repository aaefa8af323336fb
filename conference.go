package trunkline

import (
	"context"
	"time"
)

// ConferenceService lists and controls the live conferences (<Conference>
// rooms) of an account. A room lives on the node that holds its mixer; the
// voice server implements this for its own rooms, and a cluster
// implementation asks every node (or the one its directory names) behind
// the same interface. Names are per account: another account's room of the
// same name is a different room, and never visible.
type ConferenceService interface {
	Conferences(accountID string) []string
	Conference(accountID, name string) (Conference, error)
	// HangupConference ends a room: every member's call hangs up.
	HangupConference(accountID, name string) error
	HangupConferences(accountID string)
	// ConferenceCommand acts on members (Members: ids or "all") or the room.
	ConferenceCommand(ctx context.Context, accountID, name string, cmd ConferenceCommand) (ConferenceResult, error)
}

// Conference is a live room as the API shows it.
type Conference struct {
	Name, UUID string
	Created    time.Time
	Members    []ConferenceMember
}

// ConferenceMember is one call in a room.
type ConferenceMember struct {
	ID                              string
	Muted, Deaf                     bool
	From, To, CallerName, Direction string
	CallUUID                        string
	Joined                          time.Time
}

// ConferenceCommand is a validated conference command.
type ConferenceCommand struct {
	// Kind: hangup, kick, mute, unmute, deaf, undeaf, play, stop_play, speak,
	// stop_speak, record, stop_record.
	Kind                        string
	Members                     []string // ids; nil with All
	All                         bool
	URL                         string
	Text, Voice, Language       string
	FileFormat                  string
	TimeLimit                   time.Duration
	CallbackURL, CallbackMethod string
	// TranscriptionURL (record) is told, once the recording is stored, that
	// no transcription follows (there is no speech recogniser).
	TranscriptionURL, TranscriptionMethod string
}

// ConferenceResult is what a conference command reports back.
type ConferenceResult struct {
	MemberIDs        []string
	RecordingID, URL string
}

var (
	// ErrNoConference: no live room of that name in the account.
	ErrNoConference = &Error{Code: ENOTFOUND, Message: "conference not found"}
	// ErrNoMember: none of the named members is in the room.
	ErrNoMember = &Error{Code: ENOTFOUND, Message: "member not found"}
)
