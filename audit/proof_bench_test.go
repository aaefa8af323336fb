package audit

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/store"
)

// The figures for customers' proofs. A 1M-entry tree is built once in memory, with the
// same leaves (RecordHash of Encode) and the same tlog stored-hash layout as the store
// keeps, so proof sizes and the customer's verification cost are exactly those of a
// served log of that size; the store's own cost of reading a proof's hashes is measured
// separately (BenchmarkServeProof), on SQLite.

const benchEntries = 1 << 20 // 1,048,576

// memHashes is a tlog tree's stored hashes in index order.
type memHashes []tlog.Hash

func (m memHashes) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		out[i] = m[x]
	}
	return out, nil
}

// benchEntry is entry seq of the benchmark log (At fixed so it can be re-derived).
func benchEntry(seq int64) Entry {
	e := sample(int(seq))
	e.Seq, e.At = seq, time.Unix(1_800_000_000, 0).Add(time.Duration(seq)*time.Millisecond).UTC()
	return e
}

var bench1M struct {
	once sync.Once
	tree memHashes
	root tlog.Hash
}

func tree1M(b *testing.B) (memHashes, tlog.Hash) {
	bench1M.once.Do(func() {
		tree := make(memHashes, 0, tlog.StoredHashCount(benchEntries))
		for n := int64(0); n < benchEntries; n++ {
			hs, err := tlog.StoredHashesForRecordHash(n, RecordHash(benchEntry(n+1)), tree)
			if err != nil {
				panic(err)
			}
			tree = append(tree, hs...)
		}
		root, err := tlog.TreeHash(benchEntries, tree)
		if err != nil {
			panic(err)
		}
		bench1M.tree, bench1M.root = tree, root
	})
	return bench1M.tree, bench1M.root
}

// BenchmarkProofs1M: proofs in a log of 1,048,576 entries: making an inclusion proof
// from the stored hashes (server), checking one as a customer does (re-deriving the
// leaf from the entry's fields, then the root), and the same for consistency proofs from
// a random earlier checkpoint to the newest.
func BenchmarkProofs1M(b *testing.B) {
	tree, root := tree1M(b)
	rng := rand.New(rand.NewPCG(1, 2))
	b.Run("inclusion/prove", func(b *testing.B) {
		var hashes int
		for b.Loop() {
			p, err := tlog.ProveRecord(benchEntries, rng.Int64N(benchEntries), tree)
			if err != nil {
				b.Fatal(err)
			}
			hashes = len(p)
		}
		b.ReportMetric(float64(hashes), "hashes/proof")
		b.ReportMetric(float64(hashes*tlog.HashSize), "bytes/proof")
		b.ReportMetric(float64(hashes*(44+3)), "json_bytes/proof") // 44 base64 characters, quotes and a comma each
	})
	b.Run("inclusion/verify", func(b *testing.B) {
		const k = 1024
		seqs := make([]int64, k)
		proofs := make([]tlog.RecordProof, k)
		for i := range seqs {
			seqs[i] = 1 + rng.Int64N(benchEntries)
			proofs[i], _ = tlog.ProveRecord(benchEntries, seqs[i]-1, tree)
		}
		i := 0
		for b.Loop() {
			j := i % k
			e := benchEntry(seqs[j]) // as parsed from the API's reply
			if err := tlog.CheckRecord(proofs[j], benchEntries, root, seqs[j]-1, RecordHash(e)); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	const k = 256
	olds := make([]int64, k)
	oldRoots := make([]tlog.Hash, k)
	proofs := make([]tlog.TreeProof, k)
	var total int
	for i := range olds {
		olds[i] = 1 + rng.Int64N(benchEntries-1)
		oldRoots[i], _ = tlog.TreeHash(olds[i], tree)
		proofs[i], _ = tlog.ProveTree(benchEntries, olds[i], tree)
		total += len(proofs[i])
	}
	b.Run("consistency/prove", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if _, err := tlog.ProveTree(benchEntries, olds[i%k], tree); err != nil {
				b.Fatal(err)
			}
			i++
		}
		b.ReportMetric(float64(total)/k, "hashes/proof")
		b.ReportMetric(float64(total*tlog.HashSize)/k, "bytes/proof")
	})
	b.Run("consistency/verify", func(b *testing.B) {
		i := 0
		for b.Loop() {
			j := i % k
			if err := tlog.CheckTree(proofs[j], benchEntries, root, olds[j], oldRoots[j]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("checkpoint/verify", func(b *testing.B) {
		skey, vkey, err := note.GenerateKey(nil, KeyName)
		if err != nil {
			b.Fatal(err)
		}
		signer, _ := note.NewSigner(skey)
		v, _ := note.NewVerifier(vkey)
		msg, err := note.Sign(&note.Note{Text: checkpointText(benchEntries, root, root, time.Now())}, signer)
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := ParseCheckpoint(msg, v); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(msg)), "bytes/checkpoint")
	})
}

// BenchmarkBuildTree1M: computing the leaves and tree hashes of 1,048,576 entries in
// memory, the CPU part of appending them (no database).
func BenchmarkBuildTree1M(b *testing.B) {
	for b.Loop() {
		tree := make(memHashes, 0, tlog.StoredHashCount(benchEntries))
		for n := int64(0); n < benchEntries; n++ {
			hs, err := tlog.StoredHashesForRecordHash(n, RecordHash(benchEntry(n+1)), tree)
			if err != nil {
				b.Fatal(err)
			}
			tree = append(tree, hs...)
		}
	}
}

// storeLog fills a SQLite store with n entries straight through the store's batch append
// (Log.build, the rows Append would write, many thousand per transaction) and signs a
// checkpoint over them.
func storeLog(b *testing.B, n int) (*store.DB, *Log) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	skey, vkey, _ := note.GenerateKey(nil, KeyName)
	signer, _ := note.NewSigner(skey)
	v, _ := note.NewVerifier(vkey)
	l := New(db, signer, Options{Node: "bench", Verifier: v})
	b.Cleanup(func() { l.Close() })
	const batch = 8192
	for done := 0; done < n; {
		reqs := make([]*appendReq, min(batch, n-done))
		for i := range reqs {
			e, _ := Clean(sample(done + i))
			e.Node = "bench"
			reqs[i] = &appendReq{e: e}
		}
		if _, err := db.AppendAuditBatch(ctx, func(h trunkline.AuditHead, t trunkline.AuditHashReader) ([]*trunkline.AuditAppend, error) {
			return l.build(reqs, h, t)
		}); err != nil {
			b.Fatal(err)
		}
		done += len(reqs)
	}
	if _, err := l.Checkpoint(ctx); err != nil {
		b.Fatal(err)
	}
	return db, l
}

// serveEntries is the size of the store-backed log; TRUNKLINE_BENCH_AUDIT_ENTRIES
// changes it (building it in SQLite is most of the benchmark's run time).
func serveEntries(b *testing.B) int {
	if s := os.Getenv("TRUNKLINE_BENCH_AUDIT_ENTRIES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 2 {
			b.Fatalf("TRUNKLINE_BENCH_AUDIT_ENTRIES=%q", s)
		}
		return n
	}
	return benchEntries
}

// randomSeqs is a page's worth of entries: k seqs in [1, n], newest first.
func randomSeqs(rng *rand.Rand, k int, n int64) []int64 {
	seqs := make([]int64, k)
	for i := range seqs {
		seqs[i] = 1 + rng.Int64N(n)
	}
	return seqs
}

// BenchmarkServeProof: what the server does for GET AuditLog/ on a SQLite log of
// 1,048,576 entries: one inclusion proof read from the stored hashes (Log.ProveEntry), a
// page's 20 proofs (Log.ProveEntries, as the API does, the entries spread over the whole
// log: the worst case), and a consistency proof from a random earlier size
// (Log.ProveTree).
func BenchmarkServeProof(b *testing.B) {
	n := serveEntries(b)
	_, l := storeLog(b, n)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 4))
	b.Run("inclusion", func(b *testing.B) {
		for b.Loop() {
			if _, err := l.ProveEntry(ctx, 1+rng.Int64N(int64(n)), int64(n)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("page_of_20", func(b *testing.B) {
		for b.Loop() {
			if _, err := l.ProveEntries(ctx, randomSeqs(rng, 20, int64(n)), int64(n)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("consistency", func(b *testing.B) {
		for b.Loop() {
			if _, err := l.ProveTree(ctx, 1+rng.Int64N(int64(n-1)), int64(n)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkAppendWhileServingProofs: one appender on a SQLite log of 100,000 entries,
// alone (no_proofs) and while another goroutine serves pages of 20 inclusion proofs
// against the newest checkpoint without pause (proofs_served), as customers' verifiers
// paging through GET AuditLog/ would, flat out: the append cost with proofs served.
// proofs/s is the rate served meanwhile.
func BenchmarkAppendWhileServingProofs(b *testing.B) {
	for _, serve := range []bool{false, true} {
		name := "no_proofs"
		if serve {
			name = "proofs_served"
		}
		b.Run(name, func(b *testing.B) { appendWhileProving(b, serve) })
	}
}

func appendWhileProving(b *testing.B, serve bool) {
	ctx := context.Background()
	_, l := storeLog(b, 100_000)
	cp, err := l.LatestCheckpoint(ctx)
	if err != nil || cp == nil {
		b.Fatal(err)
	}
	stop := make(chan struct{})
	var served atomic.Int64
	var wg sync.WaitGroup
	if serve {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(5, 6))
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := l.ProveEntries(ctx, randomSeqs(rng, 20, cp.Size), cp.Size); err != nil {
					b.Error(err)
					return
				}
				served.Add(20)
			}
		}()
	}
	start := time.Now()
	for i := 0; b.Loop(); i++ {
		if _, err := l.Append(ctx, sample(i)); err != nil {
			b.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	close(stop)
	wg.Wait()
	if serve {
		b.ReportMetric(float64(served.Load())/elapsed.Seconds(), "proofs/s")
	}
}
