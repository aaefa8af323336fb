package api

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/trunkline/trunkline/audit"
)

// AuditProver serves what lets a customer check the audit log from outside (package
// audit's *Log implements it): signed checkpoints, inclusion proofs of entries and
// consistency proofs between checkpoints. The tree covers every account's entries, but
// a proof holds only hashes: a customer sees its own entries and, of the others, leaf
// and interior hashes, never their fields.
type AuditProver interface {
	LatestCheckpoint(ctx context.Context) (*audit.Checkpoint, error)
	CheckpointAt(ctx context.Context, size int64) (*audit.Checkpoint, error)
	ProveEntries(ctx context.Context, seqs []int64, treeSize int64) ([]tlog.RecordProof, error)
	ProveTree(ctx context.Context, oldSize, newSize int64) (tlog.TreeProof, error)
}

// errNoProofs answers the proof routes of a server built without a prover.
var errNoProofs = &Error{Status: http.StatusServiceUnavailable, Msg: "audit proofs are not available on this server"}

func hashStrings[H ~[]tlog.Hash](hs H) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.String()
	}
	return out
}

// proofCheckpoint is the checkpoint a list proves its entries against: the one of
// tree_size entries when the client names one (so every page of a listing proves
// against the same checkpoint), else the newest; nil when none is signed yet.
func (s *Server) proofCheckpoint(r *request) (*audit.Checkpoint, error) {
	if !r.p.Has("tree_size") {
		return s.opts.Proofs.LatestCheckpoint(r.Context())
	}
	n, err := r.p.Int("tree_size", 0, 1, math.MaxInt)
	if err != nil {
		return nil, err
	}
	cp, err := s.opts.Proofs.CheckpointAt(r.Context(), int64(n))
	if err == nil && cp == nil {
		err = badRequest("no checkpoint was signed at tree_size " + strconv.Itoa(n) + "; GET AuditLog/Checkpoint/ for the newest")
	}
	return cp, err
}

// getAuditCheckpoint serves the newest signed checkpoint (or, with tree_size, the one of
// that size): 404 before the first is signed.
func (s *Server) getAuditCheckpoint(r *request) (int, map[string]any, error) {
	if s.opts.Proofs == nil {
		return 0, nil, errNoProofs
	}
	cp, err := s.proofCheckpoint(r)
	if err != nil {
		return 0, nil, err
	}
	if cp == nil {
		return 0, nil, &Error{Status: http.StatusNotFound, Msg: "no audit checkpoint has been signed yet"}
	}
	w := cp.Wire()
	return http.StatusOK, map[string]any{"tree_size": w.TreeSize, "root_hash": w.RootHash, "time": w.Time, "note": w.Note}, nil
}

// getAuditConsistency serves the proof that the log of old_size entries is a prefix of
// the log of new_size entries. Both must be within the newest checkpoint: only signed
// trees mean anything to a customer.
func (s *Server) getAuditConsistency(r *request) (int, map[string]any, error) {
	if s.opts.Proofs == nil {
		return 0, nil, errNoProofs
	}
	oldSize, err := r.p.Int("old_size", 0, 1, math.MaxInt)
	if err != nil {
		return 0, nil, err
	}
	newSize, err := r.p.Int("new_size", 0, 1, math.MaxInt)
	if err != nil {
		return 0, nil, err
	}
	if oldSize == 0 || newSize == 0 {
		return 0, nil, badRequest("old_size and new_size are required")
	}
	if oldSize > newSize {
		return 0, nil, badRequest("old_size must not be larger than new_size")
	}
	cp, err := s.opts.Proofs.LatestCheckpoint(r.Context())
	if err != nil {
		return 0, nil, err
	}
	if cp == nil || int64(newSize) > cp.Size {
		signed := int64(0)
		if cp != nil {
			signed = cp.Size
		}
		return 0, nil, badRequest("new_size must be at most the newest checkpoint's tree_size (" + strconv.FormatInt(signed, 10) + ")")
	}
	proof, err := s.opts.Proofs.ProveTree(r.Context(), int64(oldSize), int64(newSize))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"old_size": oldSize, "new_size": newSize, "proof": hashStrings(proof)}, nil
}

// Time forms accepted in filters: Plivo's "YYYY-MM-DD HH:MM[:ss[.uuuuuu]]" (UTC) and RFC 3339.
var filterLayouts = []string{"2006-01-02 15:04:05.999999", "2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02", time.RFC3339Nano}

func parseFilterTime(name, v string) (time.Time, error) {
	for _, l := range filterLayouts {
		if t, err := time.ParseInLocation(l, v, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, badRequest(name + " must be a time like 2026-01-31 13:45[:05] (UTC) or RFC 3339")
}

// timeRange reads the filters field__gte, __gt, __lt and __lte (Plivo's convention) as a
// half-open range [from, to); zero times leave a side open. Strict bounds shift by 1 µs,
// the stores' time resolution.
func (p Params) timeRange(field string) (from, to time.Time, err error) {
	for _, b := range []struct {
		suffix string
		dst    *time.Time
		add    time.Duration
	}{{"__gte", &from, 0}, {"__gt", &from, time.Microsecond}, {"__lt", &to, 0}, {"__lte", &to, time.Microsecond}} {
		if v := p.Get(field + b.suffix); v != "" {
			t, err := parseFilterTime(field+b.suffix, v)
			if err != nil {
				return time.Time{}, time.Time{}, err
			}
			*b.dst = t.Add(b.add)
		}
	}
	return from, to, nil
}

// listAudit serves the caller's own audit entries (a main account also sees its
// subaccounts'), newest first, filterable by time and action.
func (s *Server) listAudit(r *request) (int, map[string]any, error) {
	limit, offset, err := r.page()
	if err != nil {
		return 0, nil, err
	}
	ids := []string{r.acct.ID}
	if !r.acct.IsSub() {
		subs, err := s.opts.DB.SubaccountIDs(r.Context(), r.acct.ID)
		if err != nil {
			return 0, nil, err
		}
		ids = append(ids, subs...)
	}
	if sub := r.p.Get("subaccount"); sub != "" {
		found := false
		for _, id := range ids {
			found = found || id == sub
		}
		if !found {
			return 0, nil, badRequest("subaccount must be one of your subaccounts")
		}
		ids = []string{sub}
	}
	f := audit.Filter{AccountIDs: ids, Action: r.p.Get("action"), Limit: limit, Offset: offset}
	if f.From, f.To, err = r.p.timeRange("time"); err != nil {
		return 0, nil, err
	}
	var cp *audit.Checkpoint
	if s.opts.Proofs != nil {
		if cp, err = s.proofCheckpoint(r); err != nil {
			return 0, nil, err
		}
	}
	recs, total, err := s.opts.Audit.List(r.Context(), f)
	if err != nil {
		return 0, nil, err
	}
	// The leaf a customer re-derives from an entry's fields (audit.Encode) is checked
	// with its inclusion proof against the checkpoint; entries newer than it have none.
	proofs := make(map[int64][]string, len(recs))
	if cp != nil {
		var seqs []int64
		for _, e := range recs {
			if e.Seq <= cp.Size {
				seqs = append(seqs, e.Seq)
			}
		}
		ps, err := s.opts.Proofs.ProveEntries(r.Context(), seqs, cp.Size)
		if err != nil {
			return 0, nil, err
		}
		for i, seq := range seqs {
			proofs[seq] = hashStrings(ps[i])
		}
	}
	objs := make([]map[string]any, len(recs))
	for i, e := range recs {
		detail := e.Detail
		if detail == nil {
			detail = map[string]string{}
		}
		objs[i] = map[string]any{
			"seq":             e.Seq,
			"leaf_hash":       audit.RecordHash(e).String(),
			"inclusion_proof": proofs[e.Seq], // null when newer than the checkpoint
			"time":            e.At.UTC().Format(audit.WireTime),
			"account_id":      e.AccountID,
			"actor":           e.Actor,
			"credential_id":   e.CredentialID,
			"action":          e.Action,
			"object_type":     e.ObjectType,
			"object_id":       e.ObjectID,
			"source":          e.Source,
			"outcome":         e.Outcome,
			"detail":          detail,
			"node":            e.Node,
		}
	}
	body := r.listBody("AuditLog/", limit, offset, total, objs)
	if s.opts.Proofs != nil {
		var c any // null before the first checkpoint
		if cp != nil {
			c = cp.Wire()
		}
		body["checkpoint"] = c
	}
	return http.StatusOK, body, nil
}
