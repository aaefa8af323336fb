package voice

import (
	"context"
	"time"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/callerid"
)

// Store is what the voice server needs from storage; *store.DB implements it on
// SQLite and PostgreSQL.
type Store interface {
	CallLog
	Directory
	// callerid.Store: the default caller-ID rule (Options.CallerIDs) reads it.
	callerid.Store
}

// CallLog keeps the call detail records and the recordings' metadata.
type CallLog interface {
	InsertCall(ctx context.Context, c *trunkline.Call) error
	MarkCallAnswered(ctx context.Context, uuid string, at time.Time) error
	FinishCall(ctx context.Context, c *trunkline.Call) error
	InsertRecording(ctx context.Context, r *trunkline.Recording) error
}

// Directory answers admission's questions: which account and application a
// dialled number or application ID belongs to, and the account's voice policy.
type Directory interface {
	Account(ctx context.Context, id string) (*trunkline.Account, error)
	Application(ctx context.Context, s trunkline.Scope, id string) (*trunkline.Application, error)
	ApplicationByID(ctx context.Context, id string) (*trunkline.Application, error)
	NumberRentedBy(ctx context.Context, number string) (*trunkline.Number, error)
}
