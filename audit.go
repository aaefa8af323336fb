package trunkline

import "time"

// The audit records are what package audit's tamper-evident log stores and reads back.
// Audit computes everything in them (canonical encoding, record and chain hashes, the
// Merkle tree layout); a store only persists them, so the rules that make the log valid
// live in one place. Hashes are SHA-256 sums: [32]byte here, tlog.Hash in package audit.

// AuditRecord is one stored audit entry with its hashes. Detail is the opaque text
// package audit wrote (a JSON object); the store does not interpret it.
type AuditRecord struct {
	Seq          int64
	At           time.Time
	AccountID    string
	Actor        string
	CredentialID string
	Action       string
	ObjectType   string
	ObjectID     string
	Source       string
	Node         string
	Outcome      string
	Detail       string
	RecordHash   []byte
	ChainHash    []byte
}

// AuditHead is the head of the chain: how many entries exist and the chain hash of
// the last one (32 zero bytes for an empty log).
type AuditHead struct {
	Size      int64
	ChainHash []byte
}

// AuditAppend is what one append writes: the record (Seq must be head.Size+1) and the
// Merkle tree hashes that the record adds, stored from index TreeIndex on.
type AuditAppend struct {
	Record     AuditRecord
	TreeIndex  int64
	TreeHashes [][32]byte
}

// AuditHashReader reads the stored Merkle tree hashes at indexes, in the same order; it
// fails if one is missing. It is tlog.HashReader's ReadHashes as a function.
type AuditHashReader func(indexes []int64) ([][32]byte, error)

// AuditBuild builds the records an append writes after head (package audit's Log
// makes them); tree reads the Merkle tree hashes already stored. A store may call it
// more than once (a transaction run again), so it must not keep state between calls.
type AuditBuild func(head AuditHead, tree AuditHashReader) ([]*AuditAppend, error)

// AuditFilter selects audit entries. Empty AccountIDs means every account (an
// operator's view): callers serving a customer must always set it. From is inclusive,
// To exclusive; zero times leave that side open. Limit <= 0 means no limit.
type AuditFilter struct {
	AccountIDs []string
	From, To   time.Time
	Action     string
	Limit      int
	Offset     int
}

// AuditCheckpoint is a signed checkpoint of the audit log at Size entries.
type AuditCheckpoint struct {
	Size      int64
	CreatedAt time.Time
	Note      string
}
