package audit

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// A customer checks the audit log from outside, trusting neither the operator nor its
// database: Remote fetches the newest signed checkpoint over the API, checks its
// signature with the published verifier key, checks a consistency proof from the
// checkpoint it saw last time (the log only grew), then re-derives the leaf of every one
// of the account's entries from the fields the API serves and checks each against the
// checkpoint with its inclusion proof. Entries it proved before must still be served
// (none was removed). What it has seen is kept in a RemoteState between runs.
//
// The API's shapes (see api/auditlog.go): GET AuditLog/?tree_size=N adds "checkpoint"
// (the signed checkpoint of N entries) and gives each entry "leaf_hash" and
// "inclusion_proof" (null for entries newer than the checkpoint); GET
// AuditLog/Checkpoint/ is the newest checkpoint; GET
// AuditLog/Consistency/?old_size=A&new_size=B is the proof that the tree of A entries
// is a prefix of the tree of B. Hashes are base64, as in the checkpoint note.

// WireCheckpoint is a checkpoint as the API serves it.
type WireCheckpoint struct {
	TreeSize int64  `json:"tree_size"`
	RootHash string `json:"root_hash"`
	Time     string `json:"time"`
	Note     string `json:"note"` // the signed note: what is verified; the rest is for reading
}

// Wire is c as the API serves it.
func (c *Checkpoint) Wire() WireCheckpoint {
	return WireCheckpoint{TreeSize: c.Size, RootHash: c.Root.String(), Time: c.Time.UTC().Format(time.RFC3339), Note: string(c.Note)}
}

// WireTime is how the API writes an entry's time: UTC to the microsecond, the precision
// Encode covers, so the time read back re-encodes exactly.
const WireTime = "2006-01-02 15:04:05.000000"

// wireEntry is an entry of GET AuditLog/ as the verifier reads it.
type wireEntry struct {
	Seq            int64             `json:"seq"`
	Time           string            `json:"time"`
	AccountID      string            `json:"account_id"`
	Actor          string            `json:"actor"`
	CredentialID   string            `json:"credential_id"`
	Action         string            `json:"action"`
	ObjectType     string            `json:"object_type"`
	ObjectID       string            `json:"object_id"`
	Source         string            `json:"source"`
	Node           string            `json:"node"`
	Outcome        string            `json:"outcome"`
	Detail         map[string]string `json:"detail"`
	InclusionProof []string          `json:"inclusion_proof"`
}

func (w *wireEntry) entry() (Entry, error) {
	at, err := time.ParseInLocation(WireTime, w.Time, time.UTC)
	if err != nil {
		return Entry{}, fmt.Errorf("entry %d has an unreadable time %q", w.Seq, w.Time)
	}
	return Entry{Seq: w.Seq, At: at, AccountID: w.AccountID, Actor: w.Actor, CredentialID: w.CredentialID,
		Action: w.Action, ObjectType: w.ObjectType, ObjectID: w.ObjectID, Source: w.Source, Node: w.Node,
		Outcome: w.Outcome, Detail: w.Detail}, nil
}

// RemoteState is what a customer's verifier keeps between runs (as JSON, in a file of
// the customer's): the newest checkpoint it verified and the seqs of the account's
// entries it proved against it. It holds no secret.
type RemoteState struct {
	URL         string `json:"url"`
	AuthID      string `json:"auth_id"`
	VerifierKey string `json:"verifier_key"`
	Checkpoint  string `json:"checkpoint,omitempty"` // signed note
	Entries     int    `json:"entries"`              // how many seqs Seen holds
	Seen        string `json:"seen,omitempty"`       // seqs, ascending, as base64 of varint deltas
	// Pending: the account's entries newer than the checkpoint, by their leaf hash: the
	// next run must still find each, unchanged (proved, once a checkpoint covers it).
	Pending   []PendingEntry `json:"pending,omitempty"`
	CheckedAt time.Time      `json:"checked_at"`
}

// PendingEntry is an entry shown before a checkpoint covered it.
type PendingEntry struct {
	Seq  int64  `json:"seq"`
	Leaf string `json:"leaf"` // RecordHash of the entry as shown, base64
}

// LoadRemoteState reads a state file; a missing file is a first run (nil state).
func LoadRemoteState(path string) (*RemoteState, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var s RemoteState
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("state file %s is damaged: %v", path, err)
	}
	return &s, nil
}

// Save writes the state atomically (a temporary file renamed over path), so a crash
// leaves the old state or the new one.
func (s *RemoteState) Save(path string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".audit-state-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func encodeSeqs(seqs []int64) string {
	var b []byte
	var prev int64
	for _, s := range seqs {
		b = binary.AppendUvarint(b, uint64(s-prev))
		prev = s
	}
	return base64.StdEncoding.EncodeToString(b)
}

func decodeSeqs(s string) ([]int64, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	var out []int64
	var prev int64
	for len(b) > 0 {
		d, n := binary.Uvarint(b)
		if n <= 0 || d == 0 || d > 1<<62 { // seqs start at 1 and ascend
			return nil, errors.New("malformed seq list")
		}
		prev += int64(d)
		out = append(out, prev)
		b = b[n:]
	}
	return out, nil
}

// RemoteReport is the outcome of a remote verification.
type RemoteReport struct {
	OK             bool      `json:"ok"`
	Problem        string    `json:"problem,omitempty"`
	FirstBad       int64     `json:"first_bad,omitempty"` // the entry found wrong, when one is
	TreeSize       int64     `json:"tree_size"`           // entries the newest checkpoint covers (all accounts)
	CheckpointTime time.Time `json:"checkpoint_time"`
	PreviousSize   int64     `json:"previous_size"` // the checkpoint of the last run; 0 on the first
	Entries        int       `json:"entries"`       // the account's entries proved in the log
	Pending        int       `json:"pending"`       // the account's entries newer than the checkpoint
	OldestPending  time.Time `json:"oldest_pending,omitzero"`
}

// String is the report for people.
func (r *RemoteReport) String() string {
	var b strings.Builder
	if !r.OK {
		fmt.Fprintf(&b, "audit log FAILED remote verification: %s\n", r.Problem)
		return b.String()
	}
	if r.TreeSize == 0 {
		b.WriteString("audit log OK: no signed checkpoint yet")
	} else {
		fmt.Fprintf(&b, "audit log OK: %s proved in the signed log of %d entries (checkpoint signed %s)",
			plural(int64(r.Entries), "entry of this account", "entries of this account"), r.TreeSize, r.CheckpointTime.Format(time.RFC3339))
	}
	b.WriteString("\n")
	if r.PreviousSize > 0 {
		fmt.Fprintf(&b, "the log only grew since the checkpoint this verifier saw last (%d entries), and every entry proved then is still there\n", r.PreviousSize)
	}
	if r.Pending > 0 {
		fmt.Fprintf(&b, "%s newer than the checkpoint (oldest %s): proved on a later run\n",
			plural(int64(r.Pending), "entry is", "entries are"), r.OldestPending.Format(time.RFC3339))
	}
	return b.String()
}

func (r *RemoteReport) fail(seq int64, format string, args ...any) *RemoteReport {
	r.OK, r.FirstBad, r.Problem = false, seq, fmt.Sprintf(format, args...)
	return r
}

// Remote checks an account's audit entries through the API of the server at URL.
type Remote struct {
	URL       string // https://host[:port], the API's base
	AuthID    string
	AuthToken string
	Verifier  note.Verifier // the operator's published verifier key (keys/audit.pub)
	Client    *http.Client  // its TLS settings say which CA to trust; http.DefaultClient when nil
}

// maxReply bounds one API reply the verifier reads.
const maxReply = 16 << 20

// remotePageLimit is the API's largest page.
const remotePageLimit = 20

// remoteMaxPages bounds the pages one run reads (20 million entries).
const remoteMaxPages = 1 << 20

// errNoCheckpoint is the API's 404 for a log without a signed checkpoint yet.
var errNoCheckpoint = errors.New("no checkpoint")

func (rm *Remote) get(ctx context.Context, path string, q url.Values, v any) error {
	u := strings.TrimSuffix(rm.URL, "/") + "/v1/Account/" + url.PathEscape(rm.AuthID) + "/" + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.SetBasicAuth(rm.AuthID, rm.AuthToken)
	req.Header.Set("Accept", "application/json")
	c := http.DefaultClient
	if rm.Client != nil {
		c = rm.Client
	}
	// No redirects: the credentials are for this server only.
	nc := *c
	nc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := nc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxReply+1))
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	if len(body) > maxReply {
		return fmt.Errorf("GET %s: the reply is larger than %d bytes", path, maxReply)
	}
	if resp.StatusCode == http.StatusNotFound && path == "AuditLog/Checkpoint/" {
		return errNoCheckpoint
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		json.Unmarshal(body, &e)
		return fmt.Errorf("GET %s: %s %s", path, resp.Status, e.Error)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: the reply is not the expected JSON: %v", path, err)
	}
	return nil
}

func parseHashes(ss []string) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(ss))
	for i, s := range ss {
		h, err := tlog.ParseHash(s)
		if err != nil {
			return nil, err
		}
		out[i] = h
	}
	return out, nil
}

// Verify checks the account's entries and the log's growth since prev (nil on a first
// run) and returns the report and the state to keep. A failed check is a report with
// OK false and the state to keep is then prev (so the evidence is not overwritten); the
// error is only for failing to ask the server (network, HTTP status, malformed JSON).
func (rm *Remote) Verify(ctx context.Context, prev *RemoteState) (*RemoteReport, *RemoteState, error) {
	if rm.Verifier == nil {
		return nil, nil, errors.New("audit: remote verify needs the verifier key")
	}
	r := &RemoteReport{}
	next := &RemoteState{URL: rm.URL, AuthID: rm.AuthID, CheckedAt: time.Now().UTC()} // the caller adds the key
	var old *Checkpoint
	var seen []int64
	if prev != nil && prev.Checkpoint != "" {
		var err error
		if old, err = ParseCheckpoint([]byte(prev.Checkpoint), rm.Verifier); err != nil {
			return nil, nil, fmt.Errorf("the checkpoint in the state file does not verify with key %s: %v", rm.Verifier.Name(), err)
		}
		if seen, err = decodeSeqs(prev.Seen); err != nil {
			return nil, nil, fmt.Errorf("the state file's seen entries are damaged: %v", err)
		}
		r.PreviousSize = old.Size
	}

	// The newest checkpoint, and the log's growth since the last one seen.
	var wc WireCheckpoint
	err := rm.get(ctx, "AuditLog/Checkpoint/", nil, &wc)
	if errors.Is(err, errNoCheckpoint) {
		if old != nil {
			return r.fail(0, "the server has no signed checkpoint, but checkpoint %d was verified on %s: the log was rolled back or replaced",
				old.Size, prev.CheckedAt.Format(time.RFC3339)), prev, nil
		}
		r.OK = true
		return r, next, nil
	}
	if err != nil {
		return nil, nil, err
	}
	cp, err := ParseCheckpoint([]byte(wc.Note), rm.Verifier)
	if err != nil {
		return r.fail(0, "the server's checkpoint does not verify with key %s: it was forged or altered (%v)", rm.Verifier.Name(), err), prev, nil
	}
	r.TreeSize, r.CheckpointTime = cp.Size, cp.Time
	if old != nil {
		switch {
		case cp.Size < old.Size:
			return r.fail(cp.Size+1, "the log was rolled back: the server's newest checkpoint covers %d entries, but checkpoint %d was verified on %s",
				cp.Size, old.Size, prev.CheckedAt.Format(time.RFC3339)), prev, nil
		case cp.Size == old.Size && cp.Root != old.Root:
			return r.fail(0, "the log was rewritten: two checkpoints of %d entries with different roots, both signed", cp.Size), prev, nil
		case cp.Size > old.Size:
			var wp struct {
				OldSize int64    `json:"old_size"`
				NewSize int64    `json:"new_size"`
				Proof   []string `json:"proof"`
			}
			q := url.Values{"old_size": {strconv.FormatInt(old.Size, 10)}, "new_size": {strconv.FormatInt(cp.Size, 10)}}
			if err := rm.get(ctx, "AuditLog/Consistency/", q, &wp); err != nil {
				return nil, nil, err
			}
			proof, err := parseHashes(wp.Proof)
			if err != nil || wp.OldSize != old.Size || wp.NewSize != cp.Size || tlog.CheckTree(proof, cp.Size, cp.Root, old.Size, old.Root) != nil {
				return r.fail(0, "the log was rewritten: checkpoint %d does not extend checkpoint %d verified on %s (the consistency proof fails)",
					cp.Size, old.Size, prev.CheckedAt.Format(time.RFC3339)), prev, nil
			}
		}
	}

	// Every entry of the account, each proved against cp.
	proved := make(map[int64]bool)
	pending := make(map[int64]bool)
	leaves := make(map[int64]tlog.Hash) // every entry shown, as its leaf
	q := url.Values{"tree_size": {strconv.FormatInt(cp.Size, 10)}, "limit": {strconv.Itoa(remotePageLimit)}}
	for page, offset := 0, 0; ; page++ {
		if page == remoteMaxPages {
			return nil, nil, fmt.Errorf("more than %d pages of audit entries", remoteMaxPages)
		}
		var list struct {
			Meta struct {
				TotalCount int `json:"total_count"`
			} `json:"meta"`
			Checkpoint *WireCheckpoint `json:"checkpoint"`
			Objects    []wireEntry     `json:"objects"`
		}
		q.Set("offset", strconv.Itoa(offset))
		if err := rm.get(ctx, "AuditLog/", q, &list); err != nil {
			return nil, nil, err
		}
		if list.Checkpoint == nil || list.Checkpoint.TreeSize != cp.Size {
			return nil, nil, fmt.Errorf("GET AuditLog/ did not prove against checkpoint %d as asked", cp.Size)
		}
		for i := range list.Objects {
			w := &list.Objects[i]
			e, err := w.entry()
			if err != nil {
				return r.fail(w.Seq, "%v", err), prev, nil
			}
			if e.Seq < 1 {
				return r.fail(0, "an entry has seq %d", e.Seq), prev, nil
			}
			leaves[e.Seq] = RecordHash(e)
			if e.Seq > cp.Size {
				if !pending[e.Seq] {
					pending[e.Seq] = true
					if r.OldestPending.IsZero() || e.At.Before(r.OldestPending) {
						r.OldestPending = e.At
					}
				}
				continue
			}
			proof, err := parseHashes(w.InclusionProof)
			if err != nil || w.InclusionProof == nil || tlog.CheckRecord(proof, cp.Size, cp.Root, e.Seq-1, RecordHash(e)) != nil {
				return r.fail(e.Seq, "entry %d as the server shows it is not the entry the signed log holds at %d: it was altered, or moved from another position",
					e.Seq, e.Seq), prev, nil
			}
			proved[e.Seq] = true
		}
		offset += len(list.Objects)
		if len(list.Objects) == 0 || offset >= list.Meta.TotalCount {
			break
		}
	}
	for _, s := range seen {
		if !proved[s] {
			return r.fail(s, "entry %d, proved in the log on %s, is no longer shown: it was removed or hidden",
				s, prev.CheckedAt.Format(time.RFC3339)), prev, nil
		}
	}
	if prev != nil {
		for _, p := range prev.Pending {
			h, ok := leaves[p.Seq]
			switch {
			case !ok:
				return r.fail(p.Seq, "entry %d, shown on %s (newer than the checkpoint then), is no longer shown: it was removed or hidden",
					p.Seq, prev.CheckedAt.Format(time.RFC3339)), prev, nil
			case h.String() != p.Leaf:
				return r.fail(p.Seq, "entry %d is not the entry shown at %d on %s: it was altered",
					p.Seq, p.Seq, prev.CheckedAt.Format(time.RFC3339)), prev, nil
			}
		}
	}
	for s := range pending {
		next.Pending = append(next.Pending, PendingEntry{Seq: s, Leaf: leaves[s].String()})
	}
	slices.SortFunc(next.Pending, func(a, b PendingEntry) int { return cmp.Compare(a.Seq, b.Seq) })
	all := make([]int64, 0, len(proved))
	for s := range proved {
		all = append(all, s)
	}
	slices.Sort(all)
	r.OK, r.Entries, r.Pending = true, len(all), len(pending)
	next.Checkpoint, next.Seen, next.Entries = string(cp.Note), encodeSeqs(all), len(all)
	return r, next, nil
}
