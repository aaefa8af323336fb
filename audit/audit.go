// Package audit is Trunkline's tamper-evident audit trail: an append-only log of every
// change and every access to customer data, recording who did what, when, from where
// and with what outcome.
//
// Each entry has a deterministic canonical encoding (Encode) whose tlog record hash is
// stored with it, together with a chain hash SHA-256(previous chain || record hash).
// The entries are also the leaves of a golang.org/x/mod/sumdb/tlog Merkle tree, whose
// stored hashes let us hand out inclusion and consistency proofs. At regular intervals
// the head (tree size, root and chain hash) is signed with an Ed25519 key kept outside
// the database (a sumdb note). Verify re-derives all of it, so a change, removal or
// reordering of entries is found, and a rewrite that also recomputed every hash is
// still caught by the signed checkpoints.
//
// Append fails closed: when the entry cannot be recorded it returns an error and the
// caller must refuse the action. Secrets never enter the log: Detail values whose keys
// look secret, and values that look like card numbers, are replaced by "[redacted]".
package audit

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/trunkline/trunkline/store"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Outcomes of an audited action.
const (
	Success = "success"
	Failure = "failure"
	Denied  = "denied"
)

// Entry is one audited event.
type Entry struct {
	Seq          int64     // position in the log, from 1; set by Append
	At           time.Time // UTC, microsecond precision; set by Append
	AccountID    string    // the account whose data or settings were touched
	Actor        string    // who: "api", "cli", "console:user@example.com", "staff:..."
	CredentialID string    // which credential authenticated the actor, if any
	Action       string    // what: "account.update", "auth.failed", "credential.rotate" ...
	ObjectType   string    // the kind of object acted on: "account", "message" ...
	ObjectID     string    // its id
	Source       string    // where from: the client's address
	Node         string    // which node wrote the entry; Options.Node when empty
	Outcome      string    // Success, Failure or Denied
	Detail       map[string]string
}

// Store is what the log needs from the database; *store.DB implements it.
type Store interface {
	// AppendAudit appends atomically: build gets the head and the stored tree hashes
	// inside the transaction, and the head moves by compare-and-swap (retried on conflict).
	AppendAudit(ctx context.Context, build func(store.AuditHead, tlog.HashReader) (*store.AuditAppend, error)) (int64, error)
	AuditHead(ctx context.Context) (store.AuditHead, error)
	// AuditRecords reads entries with seq > afterSeq in seq order, in batches.
	AuditRecords(ctx context.Context, afterSeq int64, limit int) ([]store.AuditRecord, error)
	ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditRecord, int, error)
	// AuditTreeHashes reads stored tree hashes; nil where one is missing.
	AuditTreeHashes(ctx context.Context, indexes []int64) ([][]byte, error)
	AddAuditCheckpoint(ctx context.Context, c store.AuditCheckpoint) error
	AuditCheckpoints(ctx context.Context, afterSize int64, limit int) ([]store.AuditCheckpoint, error)
	LatestAuditCheckpoint(ctx context.Context) (store.AuditCheckpoint, error)
}

var _ Store = (*store.DB)(nil)

// Options configure a Log.
type Options struct {
	Now    func() time.Time // clock; time.Now when nil
	Node   string           // recorded as Entry.Node when the caller leaves it empty
	Logger *slog.Logger     // for failures in Run; slog.Default() when nil
	// Verifier, when set, checks the previous checkpoint's signature before Checkpoint
	// signs a new one, and the signature in LatestCheckpoint.
	Verifier note.Verifier
}

// Log appends to and checkpoints the audit log.
type Log struct {
	st     Store
	signer note.Signer
	v      note.Verifier
	now    func() time.Time
	node   string
	log    *slog.Logger
}

// New returns a log writing to st and signing checkpoints with signer.
func New(st Store, signer note.Signer, opts Options) *Log {
	l := &Log{st: st, signer: signer, v: opts.Verifier, now: opts.Now, node: opts.Node, log: opts.Logger}
	if l.now == nil {
		l.now = time.Now
	}
	if l.log == nil {
		l.log = slog.Default()
	}
	return l
}

// Append records e and returns its seq. Seq and At are assigned here (At from the log's
// clock, inside the appending transaction); fields are cleaned, capped and redacted (see
// Clean). Any error means the entry was not recorded: the caller must refuse the action.
func (l *Log) Append(ctx context.Context, e Entry) (int64, error) {
	if e.Node == "" {
		e.Node = l.node
	}
	e, err := Clean(e)
	if err != nil {
		return 0, err
	}
	seq, err := l.st.AppendAudit(ctx, func(head store.AuditHead, tree tlog.HashReader) (*store.AuditAppend, error) {
		if len(head.ChainHash) != tlog.HashSize {
			return nil, errors.New("audit: the stored chain head is malformed")
		}
		e.Seq = head.Size + 1
		e.At = l.now().UTC().Truncate(time.Microsecond)
		rh := RecordHash(e)
		hashes, err := tlog.StoredHashesForRecordHash(head.Size, rh, tree)
		if err != nil {
			return nil, err
		}
		var prev tlog.Hash
		copy(prev[:], head.ChainHash)
		chain := chainHash(prev, rh)
		rec := toRecord(e)
		rec.RecordHash, rec.ChainHash = rh[:], chain[:]
		return &store.AuditAppend{Record: rec, TreeIndex: tlog.StoredHashIndex(0, head.Size), TreeHashes: hashes}, nil
	})
	if err != nil {
		return 0, fmt.Errorf("audit: record %s: %w", e.Action, err)
	}
	return seq, nil
}

// Filter selects entries for List. Empty AccountIDs means every account (an operator's
// view): anything serving a customer must set it to that customer's accounts. From is
// inclusive, To exclusive, zero means open. Limit <= 0 means no limit.
type Filter struct {
	AccountIDs []string
	From, To   time.Time
	Action     string
	Limit      int
	Offset     int
}

// List returns the entries matching f, newest first, and the total number matching.
func (l *Log) List(ctx context.Context, f Filter) ([]Entry, int, error) {
	recs, total, err := l.st.ListAudit(ctx, store.AuditFilter{
		AccountIDs: f.AccountIDs, From: f.From, To: f.To, Action: f.Action, Limit: f.Limit, Offset: f.Offset,
	})
	if err != nil {
		return nil, 0, err
	}
	out := make([]Entry, len(recs))
	for i, r := range recs {
		if out[i], err = fromRecord(r); err != nil {
			return nil, 0, err
		}
	}
	return out, total, nil
}

// Limits on what one entry may carry, so a hostile client cannot bloat the log.
const (
	MaxField      = 256  // bytes in each top-level string field
	MaxDetailKeys = 32   // keys in Detail (the rest are dropped and counted)
	MaxDetailKey  = 64   // bytes in a Detail key
	MaxDetailVal  = 1024 // bytes in a Detail value
)

// Redacted replaces secret values in Detail.
const Redacted = "[redacted]"

// secretWords mark a Detail key as holding a secret when found anywhere in it, ignoring
// case. The list is deliberately broad ("key" also hides "monkey", "pan" hides
// "company"): hiding a harmless value costs little, logging a secret cannot be undone.
var secretWords = []string{
	"token", "password", "passwd", "pwd", "passphrase", "secret", "otp", "code", "key",
	"pan", "card", "digits", "cvv", "cvc", "authorization", "cookie", "session",
}

// Clean returns e as Append stores it, or an error if it lacks an action or a known
// outcome. Every string becomes valid UTF-8 without NUL bytes (PostgreSQL text cannot
// hold them, and the stored form must hash the same as what was appended), is capped
// (MaxField, MaxDetailKey, MaxDetailVal; "…" marks a cut), and Detail values are
// replaced by Redacted when their key contains a secretWords entry or the value
// contains something that looks like a card number.
func Clean(e Entry) (Entry, error) {
	if strings.TrimSpace(e.Action) == "" {
		return e, errors.New("audit: entry has no action")
	}
	switch e.Outcome {
	case Success, Failure, Denied:
	default:
		return e, fmt.Errorf("audit: entry %s has outcome %q; want success, failure or denied", e.Action, e.Outcome)
	}
	for _, f := range []*string{&e.AccountID, &e.Actor, &e.CredentialID, &e.Action, &e.ObjectType, &e.ObjectID, &e.Source, &e.Node, &e.Outcome} {
		*f = clip(*f, MaxField)
	}
	if len(e.Detail) == 0 {
		e.Detail = nil
		return e, nil
	}
	// Work in sorted key order so that which keys survive the cap (and which value wins
	// if cleaning makes two keys equal) does not depend on map iteration.
	keys := make([]string, 0, len(e.Detail))
	for k := range e.Detail {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	d := make(map[string]string, min(len(keys), MaxDetailKeys))
	for i, k := range keys {
		if i == MaxDetailKeys-1 && len(keys) > MaxDetailKeys {
			d["truncated"] = strconv.Itoa(len(keys)-i) + " more keys"
			break
		}
		ck := clip(k, MaxDetailKey)
		v := clip(e.Detail[k], MaxDetailVal)
		if looksSecret(ck) || hasCardNumber(e.Detail[k]) {
			v = Redacted
		}
		d[ck] = v
	}
	e.Detail = d
	return e, nil
}

func looksSecret(key string) bool {
	k := strings.ToLower(key)
	for _, w := range secretWords {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

// hasCardNumber reports whether s holds a Luhn-valid run of 13–19 digits (spaces and
// dashes allowed between digits), the shape of a payment card number. Only whole runs
// count, as in the PAN canary, so long ids are rarely mistaken for cards.
func hasCardNumber(s string) bool {
	var digits []byte
	for i := 0; i <= len(s); i++ {
		if i < len(s) {
			c := s[i]
			if c >= '0' && c <= '9' {
				digits = append(digits, c)
				continue
			}
			if (c == ' ' || c == '-') && len(digits) > 0 && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9' {
				continue
			}
		}
		if len(digits) >= 13 && len(digits) <= 19 && luhn(digits) {
			return true
		}
		digits = digits[:0]
	}
	return false
}

func luhn(d []byte) bool {
	sum := 0
	for i := range d {
		v := int(d[len(d)-1-i] - '0')
		if i%2 == 1 {
			if v *= 2; v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	return sum%10 == 0
}

// clip makes s valid UTF-8 without NULs and at most max bytes, cutting on a rune boundary.
func clip(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	if len(s) <= max {
		return s
	}
	const mark = "…"
	i := max - len(mark)
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + mark
}

// Encode returns the canonical encoding of e that its record hash covers: every field
// including Seq, each string length-prefixed so no two entries encode alike, Detail in
// sorted key order. It is plain text so a customer can re-derive it by hand. It must
// never change for existing entries; a new format needs a new version line.
func Encode(e Entry) []byte {
	b := []byte("trunkline audit entry v1\n")
	b = fmt.Appendf(b, "seq %d\nat %d\n", e.Seq, e.At.UnixMicro())
	field := func(name, v string) { b = fmt.Appendf(b, "%s %d:%s\n", name, len(v), v) }
	field("account", e.AccountID)
	field("actor", e.Actor)
	field("credential", e.CredentialID)
	field("action", e.Action)
	field("object_type", e.ObjectType)
	field("object_id", e.ObjectID)
	field("source", e.Source)
	field("node", e.Node)
	field("outcome", e.Outcome)
	keys := make([]string, 0, len(e.Detail))
	for k := range e.Detail {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b = fmt.Appendf(b, "detail %d\n", len(keys))
	for _, k := range keys {
		v := e.Detail[k]
		b = fmt.Appendf(b, "%d:%s %d:%s\n", len(k), k, len(v), v)
	}
	return b
}

// RecordHash is the tlog record hash of Encode(e): the Merkle tree leaf for e.
func RecordHash(e Entry) tlog.Hash { return tlog.RecordHash(Encode(e)) }

// chainHash links an entry to everything before it.
func chainHash(prev, record tlog.Hash) tlog.Hash {
	return sha256.Sum256(append(prev[:], record[:]...))
}

func toRecord(e Entry) store.AuditRecord {
	var detail string
	if len(e.Detail) > 0 {
		b, _ := json.Marshal(e.Detail) // a map of strings always marshals
		detail = string(b)
	}
	return store.AuditRecord{
		Seq: e.Seq, At: e.At, AccountID: e.AccountID, Actor: e.Actor, CredentialID: e.CredentialID,
		Action: e.Action, ObjectType: e.ObjectType, ObjectID: e.ObjectID, Source: e.Source,
		Node: e.Node, Outcome: e.Outcome, Detail: detail,
	}
}

func fromRecord(r store.AuditRecord) (Entry, error) {
	e := Entry{
		Seq: r.Seq, At: r.At.UTC(), AccountID: r.AccountID, Actor: r.Actor, CredentialID: r.CredentialID,
		Action: r.Action, ObjectType: r.ObjectType, ObjectID: r.ObjectID, Source: r.Source,
		Node: r.Node, Outcome: r.Outcome,
	}
	if r.Detail != "" {
		if err := json.Unmarshal([]byte(r.Detail), &e.Detail); err != nil {
			return e, fmt.Errorf("audit: entry %d has unreadable detail: %w", r.Seq, err)
		}
	}
	return e, nil
}
