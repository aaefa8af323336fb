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
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/trunkline/trunkline"
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

// Store is what the log needs from the database, in the core's audit records;
// *store.DB implements it (asserted in the tests, which use it).
type Store interface {
	// AppendAuditBatch appends a batch atomically, all or none: build gets the head and
	// the stored tree hashes inside the transaction, and the head moves by compare-and-swap
	// (retried on conflict, calling build again). It returns the first new seq.
	AppendAuditBatch(ctx context.Context, build trunkline.AuditBuild) (int64, error)
	AuditHead(ctx context.Context) (trunkline.AuditHead, error)
	// AuditRecords reads entries with seq > afterSeq in seq order, in batches.
	AuditRecords(ctx context.Context, afterSeq int64, limit int) ([]trunkline.AuditRecord, error)
	ListAudit(ctx context.Context, f trunkline.AuditFilter) ([]trunkline.AuditRecord, int, error)
	// AuditTreeHashes reads stored tree hashes; nil where one is missing.
	AuditTreeHashes(ctx context.Context, indexes []int64) ([][]byte, error)
	AddAuditCheckpoint(ctx context.Context, c trunkline.AuditCheckpoint) error
	AuditCheckpoints(ctx context.Context, afterSize int64, limit int) ([]trunkline.AuditCheckpoint, error)
	LatestAuditCheckpoint(ctx context.Context) (trunkline.AuditCheckpoint, error)
}

// Options configure a Log.
type Options struct {
	Now    func() time.Time // clock, safe for concurrent use; time.Now when nil
	Node   string           // recorded as Entry.Node when the caller leaves it empty
	Logger *slog.Logger     // for failures in Run; slog.Default() when nil
	// Verifier, when set, checks the previous checkpoint's signature before Checkpoint
	// signs a new one, and the signature in LatestCheckpoint.
	Verifier note.Verifier
	// Witnesses get a copy of every signed checkpoint before it is stored (see
	// Witness); Checkpoint refuses to sign a log that does not extend the newest one
	// they hold. Without witnesses only the database keeps checkpoints, which cannot
	// reveal a rollback of the database itself.
	Witnesses []Witness
	// Checked, when set, gets the outcome of every checkpoint attempt Run makes (nil
	// for success), e.g. for a metric to alert on.
	Checked func(error)
	// CheckpointEvery is Run's interval between checkpoints (default one minute).
	CheckpointEvery time.Duration
}

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("audit: log is closed")

// Group commit: Append hands its entry to one writer goroutine per Log, which takes
// whatever entries are waiting (up to maxBatch) and appends them in one transaction, so
// concurrent appends share the transaction's fixed cost and do not queue on the
// database's write lock. Entries are chained in the order the writer receives them.
const (
	maxBatch = 256
	// commitTimeout bounds one batch's transaction. It runs on its own context, not a
	// caller's (one caller giving up must not fail the others), so this is what stops a
	// stalled database from holding the writer forever.
	commitTimeout = time.Minute
)

// appendReq is one entry waiting for the writer; the result goes to done (buffered, so
// the writer never blocks on a caller that stopped waiting).
type appendReq struct {
	e    Entry
	done chan appendResult
}

type appendResult struct {
	seq int64
	err error
}

// Log appends to and checkpoints the audit log. Its methods are safe for concurrent use.
type Log struct {
	st     Store
	signer note.Signer
	v      note.Verifier
	now    func() time.Time
	node   string
	log    *slog.Logger
	every  time.Duration // Run's interval

	witnesses []Witness
	checked   func(error)
	// cpMu serialises Checkpoint; witnessed caches the newest witnessed checkpoint
	// (read from the witnesses on first use, then kept up to date), under cpMu.
	cpMu          sync.Mutex
	witnessed     *Checkpoint
	witnessedFrom string
	witnessRead   bool

	reqs    chan *appendReq // to the writer; closed by Close
	start   sync.Once       // starts the writer on first use
	stopped chan struct{}   // closed when the writer has finished
	// mu guards closed, and is held for reading while sending on reqs so that Close
	// (which takes it for writing) never closes reqs under a sender.
	mu     sync.RWMutex
	closed bool
}

// New returns a log writing to st and signing checkpoints with signer. The writer
// goroutine starts with the first Append; Close stops it.
func New(st Store, signer note.Signer, opts Options) *Log {
	l := &Log{st: st, signer: signer, v: opts.Verifier, now: opts.Now, node: opts.Node, log: opts.Logger, witnesses: opts.Witnesses, checked: opts.Checked,
		every: opts.CheckpointEvery, reqs: make(chan *appendReq, maxBatch), stopped: make(chan struct{})}
	if l.now == nil {
		l.now = time.Now
	}
	if l.every <= 0 {
		l.every = time.Minute
	}
	if l.log == nil {
		l.log = slog.Default()
	}
	return l
}

// Close stops the writer after it has written every entry already handed to it, and
// waits for that. Append returns ErrClosed afterwards; the read, verify and checkpoint
// methods keep working. Close is idempotent and always returns nil.
func (l *Log) Close() error {
	l.mu.Lock()
	already := l.closed
	l.closed = true
	l.mu.Unlock()
	if !already {
		close(l.reqs) // no sender can be in flight: they send under mu.RLock after checking closed
		// If the writer never started there is nothing to wait for.
		l.start.Do(func() { close(l.stopped) })
	}
	<-l.stopped
	return nil
}

// Append records e and returns its seq. Seq and At are assigned here (At from the log's
// clock, inside the appending transaction); fields are cleaned, capped and redacted (see
// Clean). It returns only once the entry is committed. Any error means the entry may not
// have been recorded: the caller must refuse the action.
//
// Concurrent appends are committed together in one transaction (group commit); if that
// transaction fails, every append in it fails with the error and none of its entries is
// recorded. If ctx ends while Append waits, it returns ctx.Err(); an entry that had
// already been handed to the writer is still written (it cannot be pulled out of its
// batch), so after a ctx error the entry may or may not be in the log. After Close,
// Append returns ErrClosed.
func (l *Log) Append(ctx context.Context, e Entry) (int64, error) {
	if e.Node == "" {
		e.Node = l.node
	}
	e, err := Clean(e)
	if err != nil {
		return 0, err
	}
	req := &appendReq{e: e, done: make(chan appendResult, 1)}
	if err := l.send(ctx, req); err != nil {
		return 0, err
	}
	select {
	case res := <-req.done:
		return res.seq, res.err
	case <-ctx.Done():
		// Prefer a result that is already there to an unknown outcome.
		select {
		case res := <-req.done:
			return res.seq, res.err
		default:
			return 0, ctx.Err()
		}
	}
}

// Build returns the build of e's append for a store to run inside a transaction of
// the caller's (store.InsertMessagesAudited: accepted messages and the record of
// their acceptance commit together, and the caller waits for one commit, not two).
// e is cleaned as by Append; its seq and time are assigned when the store runs the
// build. The entry is recorded only if that transaction commits; the caller must treat
// its failure as Append's. After Close, Build returns ErrClosed.
func (l *Log) Build(e Entry) (trunkline.AuditBuild, error) {
	l.mu.RLock()
	closed := l.closed
	l.mu.RUnlock()
	if closed {
		return nil, ErrClosed
	}
	if e.Node == "" {
		e.Node = l.node
	}
	e, err := Clean(e)
	if err != nil {
		return nil, err
	}
	batch := []*appendReq{{e: e}}
	return func(head trunkline.AuditHead, tree trunkline.AuditHashReader) ([]*trunkline.AuditAppend, error) {
		return l.build(batch, head, tree)
	}, nil
}

// send hands req to the writer, starting it if need be.
func (l *Log) send(ctx context.Context, req *appendReq) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	l.start.Do(func() { go l.writer() })
	select {
	case l.reqs <- req:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// writer commits batches until Close closes reqs and everything sent is written.
func (l *Log) writer() {
	defer close(l.stopped)
	batch := make([]*appendReq, 0, maxBatch)
	for req := range l.reqs {
		// Take the first entry, then whatever else is already waiting, without waiting
		// for more: a lone append is committed at once, and under load the batch is
		// whatever arrived during the previous commit.
		batch = append(batch[:0], req)
	drain:
		for len(batch) < maxBatch {
			select {
			case req, ok := <-l.reqs:
				if !ok {
					break drain
				}
				batch = append(batch, req)
			default:
				break drain
			}
		}
		l.commit(batch)
		clear(batch) // drop references to finished requests
	}
}

// commit appends batch in one transaction and reports to every request in it: each its
// own seq, or all the same error.
func (l *Log) commit(batch []*appendReq) {
	first, err := l.appendBatch(batch)
	for i, req := range batch {
		if err != nil {
			req.done <- appendResult{err: fmt.Errorf("audit: record %s: %w", req.e.Action, err)}
		} else {
			req.done <- appendResult{seq: first + int64(i)}
		}
	}
}

// appendBatch runs the batch's transaction. A panic (a bug in a Store, say) fails the
// batch rather than the process: the transaction is rolled back when ctx is cancelled.
func (l *Log) appendBatch(batch []*appendReq) (first int64, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			l.log.Error("audit append panicked", "panic", p)
			first, err = 0, fmt.Errorf("panic: %v", p)
		}
	}()
	return l.st.AppendAuditBatch(ctx, func(head trunkline.AuditHead, tree trunkline.AuditHashReader) ([]*trunkline.AuditAppend, error) {
		return l.build(batch, head, tree)
	})
}

// build turns batch into the rows that follow head: seqs, times, record and chain
// hashes, and the Merkle tree hashes each entry adds. It is called again from scratch if
// the store retries the transaction, so it changes nothing outside its result.
func (l *Log) build(batch []*appendReq, head trunkline.AuditHead, tree trunkline.AuditHashReader) ([]*trunkline.AuditAppend, error) {
	if len(head.ChainHash) != tlog.HashSize {
		return nil, errors.New("audit: the stored chain head is malformed")
	}
	var chain tlog.Hash
	copy(chain[:], head.ChainHash)
	// The tree hashes of entry n depend on those of entries before it, including the
	// ones earlier in this batch, which are not stored yet: read those from here.
	reader := &batchHashReader{stored: tree, added: make(map[int64]tlog.Hash)}
	out := make([]*trunkline.AuditAppend, len(batch))
	for i, req := range batch {
		e := req.e
		n := head.Size + int64(i) // entries before e
		e.Seq = n + 1
		e.At = l.now().UTC().Truncate(time.Microsecond)
		rh := RecordHash(e)
		hashes, err := tlog.StoredHashesForRecordHash(n, rh, reader)
		if err != nil {
			return nil, err
		}
		idx := tlog.StoredHashIndex(0, n)
		stored := make([][32]byte, len(hashes)) // the same bytes under the core's type
		for j, h := range hashes {
			reader.added[idx+int64(j)] = h
			stored[j] = h
		}
		chain = chainHash(chain, rh)
		rec := toRecord(e)
		rec.RecordHash, rec.ChainHash = rh[:], append([]byte(nil), chain[:]...)
		out[i] = &trunkline.AuditAppend{Record: rec, TreeIndex: idx, TreeHashes: stored}
	}
	return out, nil
}

// batchHashReader reads tree hashes computed earlier in the batch from added, and the
// rest from the store.
type batchHashReader struct {
	stored trunkline.AuditHashReader
	added  map[int64]tlog.Hash
}

func (r *batchHashReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	var missing []int64 // indexes to read from the store
	var at []int        // their positions in out
	for i, idx := range indexes {
		if h, ok := r.added[idx]; ok {
			out[i] = h
		} else {
			missing = append(missing, idx)
			at = append(at, i)
		}
	}
	if len(missing) > 0 {
		hs, err := r.stored(missing)
		if err != nil {
			return nil, err
		}
		if len(hs) != len(missing) {
			return nil, fmt.Errorf("audit: read %d tree hashes, want %d", len(hs), len(missing))
		}
		for k, h := range hs {
			out[at[k]] = h
		}
	}
	return out, nil
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
	recs, total, err := l.st.ListAudit(ctx, trunkline.AuditFilter{
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
// hold them, and the stored form must hash the same as what was appended), has its
// other control characters escaped (see escapeControls), is capped
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

// clip makes s valid UTF-8 without NULs or other control characters and at most max
// bytes, cutting on a rune boundary.
func clip(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	s = escapeControls(s)
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

// escapeControls writes control characters as Go-style escapes (\n, \r, \t, \x1b,
// \u0085): many fields hold what a client sent (a failed login's path, a user agent), and
// a raw newline or escape sequence there could forge a second line or rewrite the
// terminal of whoever reads the log. Line and paragraph separators and bidirectional
// overrides are escaped for the same reason; printable text is left alone.
func escapeControls(s string) string {
	if strings.IndexFunc(s, isControl) < 0 {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case !isControl(r):
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x80:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
	}
	return b.String()
}

func isControl(r rune) bool {
	return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Bidi_Control, r)
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

func toRecord(e Entry) trunkline.AuditRecord {
	var detail string
	if len(e.Detail) > 0 {
		b, _ := json.Marshal(e.Detail) // a map of strings always marshals
		detail = string(b)
	}
	return trunkline.AuditRecord{
		Seq: e.Seq, At: e.At, AccountID: e.AccountID, Actor: e.Actor, CredentialID: e.CredentialID,
		Action: e.Action, ObjectType: e.ObjectType, ObjectID: e.ObjectID, Source: e.Source,
		Node: e.Node, Outcome: e.Outcome, Detail: detail,
	}
}

func fromRecord(r trunkline.AuditRecord) (Entry, error) {
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
