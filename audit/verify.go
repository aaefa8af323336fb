package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/trunkline/trunkline"
)

// Report is the outcome of Verify.
type Report struct {
	OK             bool
	Entries        int64     // entries that checked out (on a checkpoint failure: those an earlier checkpoint still vouches for)
	Checkpoints    int       // signed checkpoints that verified
	Covered        int64     // entries vouched for by the newest verified checkpoint
	Uncovered      int64     // entries newer than that: intact so far, but not yet signed
	LastCheckpoint time.Time // when the newest verified checkpoint was signed
	Witnessed      int64     // size of the newest checkpoint held by a witness outside the database; 0 if none
	WitnessedIn    string    // which witness holds it
	FirstBad       int64     // first entry found changed, reordered or missing; 0 when OK
	BadCheckpoint  int64     // size of the checkpoint that failed, 0 if none did
	Problem        string    // what is wrong, in plain words; empty when OK
}

// String is the report for people, as `trunkline audit verify` prints it.
func (r *Report) String() string {
	var b strings.Builder
	if !r.OK {
		fmt.Fprintf(&b, "audit log FAILED verification: %s\n", r.Problem)
		fmt.Fprintf(&b, "%s and %s verified before the problem was found\n", plural(r.Entries, "entry", "entries"), plural(int64(r.Checkpoints), "checkpoint", "checkpoints"))
		return b.String()
	}
	fmt.Fprintf(&b, "audit log OK: %s verified", plural(r.Entries, "entry", "entries"))
	if r.Checkpoints == 0 {
		b.WriteString("; no signed checkpoint yet")
	} else {
		fmt.Fprintf(&b, "; %s verified, the newest (signed %s) covers entries 1–%d",
			plural(int64(r.Checkpoints), "signed checkpoint", "signed checkpoints"), r.LastCheckpoint.Format(time.RFC3339), r.Covered)
	}
	b.WriteString("\n")
	if r.Witnessed > 0 {
		fmt.Fprintf(&b, "the log extends the newest checkpoint held outside the database (entries 1–%d, in %s)\n", r.Witnessed, r.WitnessedIn)
	}
	if r.Uncovered > 0 {
		fmt.Fprintf(&b, "%s not yet covered by a checkpoint (entries %d–%d): a change to them could not be told from the original until one is signed\n",
			plural(r.Uncovered, "entry is", "entries are"), r.Covered+1, r.Covered+r.Uncovered)
	}
	return b.String()
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// finding is the first problem found: which entry, what, and how many entries had
// fully checked out before it.
type finding struct {
	seq        int64
	checkpoint int64
	checked    int64
	msg        string
}

func (r *Report) fail(f finding) *Report {
	r.OK, r.FirstBad, r.BadCheckpoint, r.Entries, r.Problem = false, f.seq, f.checkpoint, f.checked, f.msg
	return r
}

// Verify re-derives the whole log from its entries and checks it against everything
// stored and signed: seq continuity, each record hash and chain hash, the stored Merkle
// tree hashes, the head, and every checkpoint (its signature with v, and the tree root
// and chain hash recomputed at its size). Then it checks the log against the newest
// checkpoint the witnesses hold outside the database: the log must not be shorter, and
// a tlog consistency proof from the stored tree must show that it extends that
// checkpoint; so a log whose newest entries and checkpoints were deleted, or one
// rewritten with its hashes recomputed after its checkpoints were deleted, fails. A
// witness copy that does not verify with v fails too, as does a database holding
// checkpoints that no witness has seen while witnesses are given. It stops at the first
// problem and describes it in the report; the error is only for failing to read the
// store. It may run while the log is being appended to.
func Verify(ctx context.Context, st Store, v note.Verifier, witnesses ...Witness) (*Report, error) {
	if v == nil {
		return nil, errors.New("audit: verify needs the verifier key")
	}
	r := &Report{}
	wcp, wfrom, err := latestWitnessed(ctx, witnesses, v)
	if err != nil {
		return r.fail(finding{seq: 1, msg: err.Error()}), nil
	}
	// good is the largest verified database checkpoint within the witnessed size, and
	// wchain the chain hash at that size: what a witness failure can still vouch for.
	var good int64
	var wchain tlog.Hash
	head, err := st.AuditHead(ctx)
	if errors.Is(err, trunkline.ErrNotFound) {
		return r.fail(finding{seq: 1, msg: "the audit log's head record is missing"}), nil
	}
	if err != nil {
		return nil, err
	}
	cps := &checkpointIter{st: st}
	t := newTree()
	bad, err := walk(ctx, st, t, 0, func(t *tree) (*finding, error) {
		if wcp != nil && t.size == wcp.Size {
			wchain = t.chain
		}
		// Check every checkpoint whose size the walk has just reached.
		for {
			c, err := cps.peek(ctx)
			if err != nil || c == nil || c.Size > t.size {
				return nil, err
			}
			cps.pop()
			cp, f := checkCheckpoint(c, v, r.Covered)
			if f == nil && c.Size != t.size {
				f = &finding{seq: r.Covered + 1, checkpoint: c.Size, msg: fmt.Sprintf("checkpoint %d has an impossible size", c.Size)}
			}
			if f == nil {
				if root, err := t.root(); err != nil {
					return nil, err
				} else if root != cp.Root || t.chain != cp.Chain {
					f = &finding{seq: r.Covered + 1, checkpoint: c.Size, msg: fmt.Sprintf(
						"checkpoint %d (entries 1–%d) does not match the log: an entry among %d–%d was changed, removed or reordered after it was signed, and the hashes were recomputed to hide it",
						c.Size, c.Size, r.Covered+1, c.Size)}
				}
			}
			if f != nil {
				// Only what an earlier checkpoint vouches for is known good now.
				f.checked = r.Covered
				return f, nil
			}
			r.Checkpoints++
			r.Covered, r.LastCheckpoint = c.Size, cp.Time
			if wcp != nil && c.Size <= wcp.Size {
				good = c.Size
			}
		}
	})
	if err != nil {
		return nil, err
	}
	if bad != nil {
		return r.fail(*bad), nil
	}
	n := t.size
	if head.Size > n {
		return r.fail(finding{seq: n + 1, checked: n, msg: fmt.Sprintf("entry %d was removed (the head records %d entries, the log ends at entry %d)", n+1, head.Size, n)}), nil
	}
	// Read the head again: entries appended while we walked are fine, anything the
	// head does not account for is not.
	head, err = st.AuditHead(ctx)
	if err != nil {
		return nil, err
	}
	if c, err := cps.peek(ctx); err != nil {
		return nil, err
	} else if c != nil && c.Size > head.Size {
		if _, f := checkCheckpoint(c, v, r.Covered); f != nil {
			return r.fail(*f), nil
		}
		return r.fail(finding{seq: n + 1, checkpoint: c.Size, checked: n, msg: fmt.Sprintf(
			"entries %d–%d were removed: checkpoint %d vouches for them but the log ends at entry %d", n+1, c.Size, c.Size, n)}), nil
	}
	if n > head.Size {
		return r.fail(finding{seq: head.Size + 1, checked: head.Size, msg: fmt.Sprintf("entry %d was added outside the audit log (the head records %d entries)", head.Size+1, head.Size)}), nil
	}
	if n == head.Size && !bytes.Equal(head.ChainHash, t.chain[:]) {
		return r.fail(finding{seq: n, checked: n - 1, msg: fmt.Sprintf("the log's head record does not match entry %d (head was altered)", n)}), nil
	}
	if f, err := checkWitnessed(ctx, st, t, wcp, wfrom, wchain, good); err != nil {
		return nil, err
	} else if f != nil {
		return r.fail(*f), nil
	}
	if wcp == nil && len(witnesses) > 0 && r.Checkpoints > 0 {
		return r.fail(finding{seq: 1, checked: 0, msg: fmt.Sprintf(
			"the database holds signed checkpoints up to entry %d but no witness outside it holds any (%s): the copies were lost or deleted, or the log was never checkpointed by a version that keeps them (then start the server once, after checking how the copies could be missing)",
			r.Covered, witnessNames(witnesses))}), nil
	}
	if wcp != nil {
		r.Witnessed, r.WitnessedIn = wcp.Size, wfrom
	}
	r.OK, r.Entries = true, n
	r.Uncovered = n - r.Covered
	return r, nil
}

// checkWitnessed checks the walked tree t (whose stored hashes the walk has checked)
// against the witnessed checkpoint w: the log must reach it, and the tree of its size
// must be a prefix of t, shown by a tlog consistency proof from the stored hashes.
func checkWitnessed(ctx context.Context, st Store, t *tree, w *Checkpoint, from string, chain tlog.Hash, good int64) (*finding, error) {
	if w == nil {
		return nil, nil
	}
	if t.size < w.Size {
		return &finding{seq: t.size + 1, checkpoint: w.Size, checked: good, msg: fmt.Sprintf(
			"entries %d–%d were removed: the log ends at entry %d but checkpoint %d, witnessed outside the database in %s, vouches for them",
			t.size+1, w.Size, t.size, w.Size, from)}, nil
	}
	root, err := t.root()
	if err != nil {
		return nil, err
	}
	proof, err := tlog.ProveTree(t.size, w.Size, storedHashes(ctx, st))
	if err != nil {
		return nil, err
	}
	if tlog.CheckTree(proof, t.size, root, w.Size, w.Root) != nil || chain != w.Chain {
		return &finding{seq: good + 1, checkpoint: w.Size, checked: good, msg: fmt.Sprintf(
			"the log does not extend checkpoint %d witnessed outside the database in %s: an entry among %d–%d was changed, removed or reordered after it was signed, and the hashes were recomputed to hide it",
			w.Size, from, good+1, w.Size)}, nil
	}
	return nil, nil
}

func witnessNames(ws []Witness) string {
	names := make([]string, len(ws))
	for i, w := range ws {
		names[i] = w.Name()
	}
	return strings.Join(names, ", ")
}

// checkCheckpoint verifies a stored checkpoint's signature and size. covered is the
// size of the last good checkpoint, for naming the entries that are now unvouched.
func checkCheckpoint(c *trunkline.AuditCheckpoint, v note.Verifier, covered int64) (*Checkpoint, *finding) {
	cp, err := ParseCheckpoint([]byte(c.Note), v)
	if err == nil && cp.Size != c.Size {
		err = fmt.Errorf("it is stored as size %d but signed for size %d", c.Size, cp.Size)
	}
	if err != nil {
		return nil, &finding{seq: covered + 1, checkpoint: c.Size, checked: covered, msg: fmt.Sprintf(
			"checkpoint %d (entries 1–%d) does not verify with key %s: it was forged or altered (%v)", c.Size, c.Size, v.Name(), err)}
	}
	return cp, nil
}

// verifyBatch is how many entries are read at a time.
const verifyBatch = 500

// walk extends t with the stored entries after t.size, up to upto entries in all (0:
// to the end), checking each against its stored record hash, chain hash and tree
// hashes. after runs once each entry has checked out. It returns the first problem.
func walk(ctx context.Context, st Store, t *tree, upto int64, after func(*tree) (*finding, error)) (*finding, error) {
	for upto == 0 || t.size < upto {
		limit := int64(verifyBatch)
		if upto > 0 {
			limit = min(limit, upto-t.size)
		}
		recs, err := st.AuditRecords(ctx, t.size, int(limit))
		if err != nil {
			return nil, err
		}
		if len(recs) == 0 {
			return nil, nil
		}
		// The tree hashes this batch should have stored, if its seqs are continuous
		// (at the first gap we stop anyway).
		lo := tlog.StoredHashIndex(0, t.size)
		hi := tlog.StoredHashIndex(0, t.size+int64(len(recs)))
		idx := make([]int64, 0, hi-lo)
		for i := lo; i < hi; i++ {
			idx = append(idx, i)
		}
		stored, err := st.AuditTreeHashes(ctx, idx)
		if err != nil {
			return nil, err
		}
		for _, rec := range recs {
			want := t.size + 1
			if rec.Seq != want {
				return &finding{seq: want, checked: t.size, msg: fmt.Sprintf("entry %d was removed", want)}, nil
			}
			changed := &finding{seq: want, checked: t.size, msg: fmt.Sprintf("entry %d was changed or reordered", want)}
			e, err := fromRecord(rec)
			if err != nil {
				return changed, nil
			}
			rh := RecordHash(e)
			if !bytes.Equal(rec.RecordHash, rh[:]) {
				return changed, nil
			}
			if chain := chainHash(t.chain, rh); !bytes.Equal(rec.ChainHash, chain[:]) {
				return changed, nil
			}
			start := tlog.StoredHashIndex(0, t.size) - lo
			hs, err := t.add(rh)
			if err != nil {
				return nil, err
			}
			for i, h := range hs {
				if !bytes.Equal(stored[start+int64(i)], h[:]) {
					return &finding{seq: want, checked: want - 1, msg: fmt.Sprintf(
						"the Merkle tree hashes stored for entry %d were changed (inclusion proofs would fail)", want)}, nil
				}
			}
			if after != nil {
				if f, err := after(t); f != nil || err != nil {
					return f, err
				}
			}
		}
	}
	return nil, nil
}

// tree is the Merkle tree and chain of the entries walked so far. It keeps only the
// frontier (the roots of the complete subtrees making up the tree), which is all that
// appending a record or computing the root needs, so memory stays O(log n).
type tree struct {
	size   int64
	chain  tlog.Hash // 32 zero bytes before the first entry
	hashes map[int64]tlog.Hash
}

func newTree() *tree { return &tree{hashes: map[int64]tlog.Hash{}} }

// frontier lists the stored-hash indexes of the complete subtrees making up a tree of
// size entries: one per set bit of size.
func frontier(size int64) []int64 {
	var idx []int64
	for l := 0; size>>l > 0; l++ {
		if (size>>l)&1 == 1 {
			idx = append(idx, tlog.StoredHashIndex(l, size>>l-1))
		}
	}
	return idx
}

// ReadHashes implements tlog.HashReader over the frontier.
func (t *tree) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		h, ok := t.hashes[x]
		if !ok {
			return nil, fmt.Errorf("audit: tree hash %d not at hand", x)
		}
		out[i] = h
	}
	return out, nil
}

func (t *tree) root() (tlog.Hash, error) { return tlog.TreeHash(t.size, t) }

// add appends a record hash and returns the tree hashes it adds.
func (t *tree) add(rh tlog.Hash) ([]tlog.Hash, error) {
	hs, err := tlog.StoredHashesForRecordHash(t.size, rh, t)
	if err != nil {
		return nil, err
	}
	base := tlog.StoredHashIndex(0, t.size)
	for i, h := range hs {
		t.hashes[base+int64(i)] = h
	}
	t.size++
	t.chain = chainHash(t.chain, rh)
	keep := frontier(t.size)
	for x := range t.hashes {
		if !slices.Contains(keep, x) {
			delete(t.hashes, x)
		}
	}
	return hs, nil
}

// load starts the tree at size entries from the stored frontier hashes, to continue a
// walk from a checkpoint (whose root the caller then compares).
func (t *tree) load(ctx context.Context, st Store, size int64, chain tlog.Hash) error {
	idx := frontier(size)
	raw, err := st.AuditTreeHashes(ctx, idx)
	if err != nil {
		return err
	}
	t.hashes = make(map[int64]tlog.Hash, len(idx))
	for i, h := range raw {
		if len(h) != tlog.HashSize {
			return fmt.Errorf("audit: stored tree hash %d is missing or malformed", idx[i])
		}
		t.hashes[idx[i]] = tlog.Hash(h)
	}
	t.size, t.chain = size, chain
	return nil
}

// checkpointIter reads the stored checkpoints in size order, a batch at a time.
type checkpointIter struct {
	st    Store
	after int64
	buf   []trunkline.AuditCheckpoint
	done  bool
}

func (it *checkpointIter) peek(ctx context.Context) (*trunkline.AuditCheckpoint, error) {
	if len(it.buf) == 0 && !it.done {
		b, err := it.st.AuditCheckpoints(ctx, it.after, 100)
		if err != nil {
			return nil, err
		}
		if len(b) == 0 {
			it.done = true
		} else {
			it.buf, it.after = b, b[len(b)-1].Size
		}
	}
	if len(it.buf) == 0 {
		return nil, nil
	}
	return &it.buf[0], nil
}

func (it *checkpointIter) pop() { it.buf = it.buf[1:] }
