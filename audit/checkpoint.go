package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/trunkline/trunkline"
)

// KeyName names the audit signing key; it appears in every checkpoint signature.
const KeyName = "trunkline-audit"

// Key file names under the directory given to LoadOrCreateKeys.
const (
	KeyFile         = "audit.key" // signer key, mode 0600; never in the database
	VerifierKeyFile = "audit.pub" // verifier key, safe to publish
)

// EnvSigningKey may carry the signing key itself (the note signer key as written in
// KeyFile, "PRIVATE+KEY+trunkline-audit+…"). When set it wins over the key file and no
// key file is read or written, so the key can be kept out of the data dir entirely, as
// keys.EnvKEK does for the KEK. The verifier key is still written beside the data.
const EnvSigningKey = "TRUNKLINE_AUDIT_KEY"

// LoadOrCreateKeys loads the checkpoint signing key from dir, creating a new Ed25519
// key pair on first use: LoadOrCreateKeyFiles with both files in dir.
func LoadOrCreateKeys(dir string) (note.Signer, note.Verifier, error) {
	return LoadOrCreateKeyFiles(filepath.Join(dir, KeyFile), filepath.Join(dir, VerifierKeyFile))
}

// LoadOrCreateKeyFiles loads the checkpoint signing key from $TRUNKLINE_AUDIT_KEY or
// else keyPath, creating a new Ed25519 key pair there on first use. The signer key file
// is mode 0600 (a key readable by others is refused, as ssh does) and the verifier key
// is kept in pubPath, rewritten from the signer key if it is missing. A verifier key
// without its signer key is an error rather than a reason to make a new key: old
// checkpoints would stop verifying.
func LoadOrCreateKeyFiles(keyPath, pubPath string) (note.Signer, note.Verifier, error) {
	var skey []byte
	var err error
	if env := os.Getenv(EnvSigningKey); env != "" {
		skey, keyPath = []byte(env), "$"+EnvSigningKey
	} else if skey, err = loadOrCreateKeyFile(keyPath, pubPath); err != nil {
		return nil, nil, err
	}
	signer, err := note.NewSigner(strings.TrimSpace(string(skey)))
	if err != nil {
		return nil, nil, fmt.Errorf("audit: signing key %s is malformed", keyPath)
	}
	vkey, err := verifierKey(strings.TrimSpace(string(skey)))
	if err != nil {
		return nil, nil, fmt.Errorf("audit: signing key %s: %w", keyPath, err)
	}
	if err := os.MkdirAll(filepath.Dir(pubPath), 0o700); err != nil {
		return nil, nil, fmt.Errorf("audit: create key directory: %w", err)
	}
	pub, err := os.ReadFile(pubPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.WriteFile(pubPath, []byte(vkey+"\n"), 0o600); err != nil {
			return nil, nil, fmt.Errorf("audit: write verifier key: %w", err)
		}
	case err != nil:
		return nil, nil, fmt.Errorf("audit: read verifier key: %w", err)
	case strings.TrimSpace(string(pub)) != vkey:
		return nil, nil, fmt.Errorf("audit: %s does not belong to the signing key %s", pubPath, keyPath)
	}
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, nil, err
	}
	return signer, verifier, nil
}

// loadOrCreateKeyFile reads the signer key file, creating it on first use.
func loadOrCreateKeyFile(keyPath, pubPath string) ([]byte, error) {
	skey, err := os.ReadFile(keyPath)
	if errors.Is(err, fs.ErrNotExist) {
		if _, perr := os.Stat(pubPath); perr == nil {
			return nil, fmt.Errorf("audit: %s exists but its signing key %s is missing; restore it from backup", pubPath, keyPath)
		}
		if err := createKey(filepath.Dir(keyPath), keyPath); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		// Created here or, on ErrExist, by a concurrent starter: either way load it.
		skey, err = os.ReadFile(keyPath)
	}
	if err != nil {
		return nil, fmt.Errorf("audit: read signing key: %w", err)
	}
	if fi, err := os.Stat(keyPath); err != nil {
		return nil, err
	} else if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("audit: signing key %s has mode %v; it must be readable by its owner only (chmod 600)", keyPath, fi.Mode().Perm())
	}
	return skey, nil
}

// createKey writes a new signer key; O_EXCL so two processes starting together cannot
// each write a different key.
func createKey(dir, keyPath string) error {
	skey, _, err := note.GenerateKey(rand.Reader, KeyName)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("audit: create key directory: %w", err)
	}
	f, err := os.OpenFile(keyPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(skey + "\n"); err != nil {
		f.Close()
		os.Remove(keyPath)
		return fmt.Errorf("audit: write signing key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(keyPath)
		return fmt.Errorf("audit: write signing key: %w", err)
	}
	return f.Close()
}

// verifierKey derives the verifier key from a note signer key
// ("PRIVATE+KEY+<name>+<hash>+<base64(alg || seed)>").
func verifierKey(skey string) (string, error) {
	parts := strings.SplitN(skey, "+", 5)
	if len(parts) != 5 || parts[0] != "PRIVATE" || parts[1] != "KEY" {
		return "", errors.New("malformed signer key")
	}
	raw, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(raw) != 1+ed25519.SeedSize || raw[0] != 1 {
		return "", errors.New("malformed signer key (want an Ed25519 key)")
	}
	pub := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	return note.NewEd25519VerifierKey(parts[2], pub)
}

// Checkpoint is a signed statement of the log's head: the first Size entries have
// Merkle tree root Root, and entry Size has chain hash Chain.
type Checkpoint struct {
	Size  int64
	Root  tlog.Hash
	Chain tlog.Hash
	Time  time.Time
	Note  []byte // the signed note as stored and published
}

// checkpointText is the tlog tree note (tlog.FormatTree) followed by the chain hash and
// the signing time, lines tlog.ParseTree ignores, so standard tlog tooling reads it.
func checkpointText(size int64, root, chain tlog.Hash, at time.Time) string {
	return string(tlog.FormatTree(tlog.Tree{N: size, Hash: root})) +
		"chain " + chain.String() + "\n" +
		"time " + at.UTC().Format(time.RFC3339) + "\n"
}

// ParseCheckpoint checks a signed checkpoint with v and returns its contents. With a nil
// v the signature is not checked (for reading our own rows before signing anew).
func ParseCheckpoint(msg []byte, v note.Verifier) (*Checkpoint, error) {
	var n *note.Note
	var err error
	if v != nil {
		n, err = note.Open(msg, note.VerifierList(v))
	} else {
		_, err = note.Open(msg, note.VerifierList())
		var ue *note.UnverifiedNoteError
		if errors.As(err, &ue) {
			n, err = ue.Note, nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint signature: %w", err)
	}
	tree, err := tlog.ParseTree([]byte(n.Text))
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) != 6 || lines[5] != "" || !strings.HasPrefix(lines[3], "chain ") || !strings.HasPrefix(lines[4], "time ") {
		return nil, errors.New("checkpoint: malformed text")
	}
	chain, err := tlog.ParseHash(strings.TrimPrefix(lines[3], "chain "))
	if err != nil {
		return nil, fmt.Errorf("checkpoint chain: %w", err)
	}
	at, err := time.Parse(time.RFC3339, strings.TrimPrefix(lines[4], "time "))
	if err != nil {
		return nil, fmt.Errorf("checkpoint time: %w", err)
	}
	return &Checkpoint{Size: tree.N, Root: tree.Hash, Chain: chain, Time: at.UTC(), Note: msg}, nil
}

// Checkpoint signs the current head if the log grew since the last checkpoint, and
// returns the new checkpoint (nil when there was nothing new). Before signing it checks
// that the log still matches the last checkpoint and that the entries since then hash
// to their stored hashes and to the head, so a signature never blesses a log that was
// altered behind our back: it returns an error instead. It may run while entries are
// being appended: a batch moves the head in the same transaction that adds its entries,
// so Checkpoint signs the head as of some commit and the entries it covers are there.
func (l *Log) Checkpoint(ctx context.Context) (*Checkpoint, error) {
	if l.signer == nil {
		return nil, errors.New("audit: no signing key")
	}
	l.cpMu.Lock()
	defer l.cpMu.Unlock()
	head, err := l.st.AuditHead(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit: read head: %w", err)
	}
	if err := l.checkWitnessed(ctx, head.Size); err != nil {
		return nil, err
	}
	t := newTree()
	prev, err := l.st.LatestAuditCheckpoint(ctx)
	switch {
	case errors.Is(err, trunkline.ErrNotFound):
	case err != nil:
		return nil, fmt.Errorf("audit: read last checkpoint: %w", err)
	default:
		if head.Size < prev.Size {
			return nil, fmt.Errorf("audit: refusing to sign: the head (%d entries) is behind checkpoint %d; run audit verify", head.Size, prev.Size)
		}
		pc, err := ParseCheckpoint([]byte(prev.Note), l.v)
		if err != nil || pc.Size != prev.Size {
			return nil, fmt.Errorf("audit: refusing to sign: last checkpoint (size %d) is not valid: %v", prev.Size, err)
		}
		if err := t.load(ctx, l.st, pc.Size, pc.Chain); err != nil {
			return nil, fmt.Errorf("audit: refusing to sign: %w", err)
		}
		if root, err := t.root(); err != nil || root != pc.Root {
			return nil, fmt.Errorf("audit: refusing to sign: the stored tree no longer matches checkpoint %d; run audit verify", pc.Size)
		}
		if head.Size == prev.Size {
			// Nothing new to sign, but the witnesses may lack this checkpoint (they were
			// added after it was signed, or another node signed it): give it to them.
			if w := l.witnessed; len(l.witnesses) > 0 && (w == nil || w.Size < pc.Size) {
				if err := l.witness(ctx, pc); err != nil {
					return nil, err
				}
			}
			return nil, nil
		}
	}
	if head.Size == 0 {
		return nil, nil
	}
	bad, err := walk(ctx, l.st, t, head.Size, nil)
	if err != nil {
		return nil, err
	}
	if bad != nil {
		return nil, fmt.Errorf("audit: refusing to sign: %s; run audit verify", bad.msg)
	}
	if t.size != head.Size || !bytes.Equal(t.chain[:], head.ChainHash) {
		return nil, fmt.Errorf("audit: refusing to sign: entries do not reach the head (%d of %d); run audit verify", t.size, head.Size)
	}
	root, err := t.root()
	if err != nil {
		return nil, err
	}
	at := l.now().UTC().Truncate(time.Second)
	msg, err := note.Sign(&note.Note{Text: checkpointText(t.size, root, t.chain, at)}, l.signer)
	if err != nil {
		return nil, fmt.Errorf("audit: sign checkpoint: %w", err)
	}
	cp := &Checkpoint{Size: t.size, Root: root, Chain: t.chain, Time: at, Note: msg}
	// Witnesses first: a checkpoint the database holds but no witness does would be
	// one a rollback of the database could take back unseen.
	if err := l.witness(ctx, cp); err != nil {
		return nil, err
	}
	err = l.st.AddAuditCheckpoint(ctx, trunkline.AuditCheckpoint{Size: t.size, CreatedAt: at, Note: string(msg)})
	if errors.Is(err, trunkline.ErrConflict) {
		return nil, nil // another node signed this head first
	}
	if err != nil {
		return nil, fmt.Errorf("audit: store checkpoint: %w", err)
	}
	return cp, nil
}

// checkWitnessed refuses a log of size entries that does not extend the newest
// witnessed checkpoint: one shorter than it, or whose stored tree at its size has
// another root (entries were changed and the hashes recomputed). The stored tree
// hashes are checked against the entries by the walk that follows from the last
// checkpoint, and by Verify. l.cpMu is held.
func (l *Log) checkWitnessed(ctx context.Context, size int64) error {
	if !l.witnessRead {
		w, from, err := latestWitnessed(ctx, l.witnesses, l.v)
		if err != nil {
			return fmt.Errorf("audit: refusing to sign: %w", err)
		}
		l.witnessed, l.witnessedFrom, l.witnessRead = w, from, true
	}
	w := l.witnessed
	if w == nil {
		return nil
	}
	if size < w.Size {
		return fmt.Errorf("audit: refusing to sign: the log has %d entries but checkpoint %d, witnessed in %s, vouches for %d: entries were removed; run audit verify",
			size, w.Size, l.witnessedFrom, w.Size)
	}
	root, err := tlog.TreeHash(w.Size, l.hashReader(ctx))
	if err != nil || root != w.Root {
		return fmt.Errorf("audit: refusing to sign: the log does not extend checkpoint %d witnessed in %s: entries among 1–%d were changed; run audit verify",
			w.Size, l.witnessedFrom, w.Size)
	}
	return nil
}

// witness hands cp to every witness; any failure fails the checkpoint, so the next
// attempt tries again. l.cpMu is held.
func (l *Log) witness(ctx context.Context, cp *Checkpoint) error {
	for _, w := range l.witnesses {
		if err := w.Witness(ctx, cp.Note); err != nil {
			return fmt.Errorf("audit: witness checkpoint %d: %w", cp.Size, err)
		}
	}
	if len(l.witnesses) > 0 && (l.witnessed == nil || cp.Size > l.witnessed.Size) {
		l.witnessed, l.witnessedFrom = cp, l.witnesses[0].Name()
	}
	return nil
}

// Run makes a checkpoint now and then every Options.CheckpointEvery until ctx ends;
// it returns nil then. Failures are logged, not fatal: entries keep being recorded and
// the next tick tries again.
func (l *Log) Run(ctx context.Context) error {
	tick := time.NewTicker(l.every)
	defer tick.Stop()
	for {
		_, err := l.Checkpoint(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			l.log.Error("audit checkpoint failed", "err", err)
		}
		if l.checked != nil {
			l.checked(err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// LatestCheckpoint returns the newest checkpoint (nil if there is none), checking its
// signature when Options.Verifier was set.
func (l *Log) LatestCheckpoint(ctx context.Context) (*Checkpoint, error) {
	c, err := l.st.LatestAuditCheckpoint(ctx)
	if errors.Is(err, trunkline.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return ParseCheckpoint([]byte(c.Note), l.v)
}

// CheckpointAt returns the stored checkpoint of exactly size entries (nil if none was
// signed at that size), checking its signature when Options.Verifier was set: what a
// customer who pins a tree size proves their entries against.
func (l *Log) CheckpointAt(ctx context.Context, size int64) (*Checkpoint, error) {
	if size < 1 {
		return nil, nil
	}
	cs, err := l.st.AuditCheckpoints(ctx, size-1, 1)
	if err != nil {
		return nil, err
	}
	if len(cs) == 0 || cs[0].Size != size {
		return nil, nil
	}
	return ParseCheckpoint([]byte(cs[0].Note), l.v)
}

// ProveEntry returns a proof that entry seq is in the tree of the first treeSize
// entries; check it with tlog.CheckRecord(proof, treeSize, checkpoint.Root, seq-1,
// RecordHash(entry)) against a checkpoint of that size.
func (l *Log) ProveEntry(ctx context.Context, seq, treeSize int64) (tlog.RecordProof, error) {
	if err := l.checkSize(ctx, treeSize); err != nil {
		return nil, err
	}
	if seq < 1 || seq > treeSize {
		return nil, fmt.Errorf("audit: entry %d is not in a tree of %d entries", seq, treeSize)
	}
	return tlog.ProveRecord(treeSize, seq-1, l.hashReader(ctx))
}

// ProveEntries returns ProveEntry's proofs of several entries against the tree of
// treeSize entries, reading the stored hashes they all need at once: a page of GET
// AuditLog/ costs one head read and one hash query instead of two queries an entry.
func (l *Log) ProveEntries(ctx context.Context, seqs []int64, treeSize int64) ([]tlog.RecordProof, error) {
	if err := l.checkSize(ctx, treeSize); err != nil {
		return nil, err
	}
	// tlog asks for the indexes each proof needs; collect them first (answering with
	// placeholders), read them in one go, then build the proofs from what was read.
	var need []int64
	collect := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		need = append(need, idx...)
		return make([]tlog.Hash, len(idx)), nil
	})
	for _, seq := range seqs {
		if seq < 1 || seq > treeSize {
			return nil, fmt.Errorf("audit: entry %d is not in a tree of %d entries", seq, treeSize)
		}
		if _, err := tlog.ProveRecord(treeSize, seq-1, collect); err != nil {
			return nil, err
		}
	}
	slices.Sort(need)
	need = slices.Compact(need)
	hs, err := l.hashReader(ctx).ReadHashes(need)
	if err != nil {
		return nil, err
	}
	read := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			j, ok := slices.BinarySearch(need, x)
			if !ok {
				return nil, fmt.Errorf("audit: tree hash %d was not read", x)
			}
			out[i] = hs[j]
		}
		return out, nil
	})
	proofs := make([]tlog.RecordProof, len(seqs))
	for i, seq := range seqs {
		if proofs[i], err = tlog.ProveRecord(treeSize, seq-1, read); err != nil {
			return nil, err
		}
	}
	return proofs, nil
}

// ProveTree returns a proof that the tree of oldSize entries is a prefix of the tree of
// newSize entries (nothing signed earlier was changed); check it with tlog.CheckTree.
func (l *Log) ProveTree(ctx context.Context, oldSize, newSize int64) (tlog.TreeProof, error) {
	if err := l.checkSize(ctx, newSize); err != nil {
		return nil, err
	}
	if oldSize < 1 || oldSize > newSize {
		return nil, fmt.Errorf("audit: cannot prove size %d against size %d", oldSize, newSize)
	}
	return tlog.ProveTree(newSize, oldSize, l.hashReader(ctx))
}

func (l *Log) checkSize(ctx context.Context, size int64) error {
	head, err := l.st.AuditHead(ctx)
	if err != nil {
		return err
	}
	if size < 1 || size > head.Size {
		return fmt.Errorf("audit: tree size %d is outside the log (1–%d)", size, head.Size)
	}
	return nil
}

func (l *Log) hashReader(ctx context.Context) tlog.HashReader { return storedHashes(ctx, l.st) }

// storedHashes reads the tree hashes stored in st.
func storedHashes(ctx context.Context, st Store) tlog.HashReader {
	return tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		raw, err := st.AuditTreeHashes(ctx, indexes)
		if err != nil {
			return nil, err
		}
		out := make([]tlog.Hash, len(raw))
		for i, h := range raw {
			if len(h) != tlog.HashSize {
				return nil, fmt.Errorf("audit: tree hash %d is missing or malformed", indexes[i])
			}
			copy(out[i][:], h)
		}
		return out, nil
	})
}
