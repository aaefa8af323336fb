package audit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/store"
)

// faultStore wraps a store to hold and break batches. The first AppendAuditBatch call
// waits for gate (when set) after signalling entered; call number failCall writes its
// batch but with a NULL record hash in the last entry, so the transaction fails after it
// has already moved the head and inserted rows, and must be rolled back.
type faultStore struct {
	*store.DB
	gate     chan struct{}
	entered  chan struct{}
	failCall int64

	calls atomic.Int64
	mu    sync.Mutex
	sizes []int // entries in each call's batch (as first built)
}

func (s *faultStore) AppendAuditBatch(ctx context.Context, build trunkline.AuditBuild) (int64, error) {
	n := s.calls.Add(1)
	if n == 1 && s.gate != nil {
		close(s.entered)
		<-s.gate
	}
	first := true
	return s.DB.AppendAuditBatch(ctx, func(h trunkline.AuditHead, r trunkline.AuditHashReader) ([]*trunkline.AuditAppend, error) {
		b, err := build(h, r)
		if err != nil {
			return nil, err
		}
		if first {
			first = false
			s.mu.Lock()
			s.sizes = append(s.sizes, len(b))
			s.mu.Unlock()
		}
		if n == s.failCall {
			b[len(b)-1].Record.RecordHash = nil
		}
		return b, nil
	})
}

func newFaultFixture(t *testing.T, f *fixture, fs *faultStore) *Log {
	t.Helper()
	fs.DB = f.db
	l := New(fs, nil, Options{Now: f.clk.Now, Node: "node-a", Verifier: f.v})
	t.Cleanup(func() { l.Close() })
	return l
}

// waitQueued waits until n appends are waiting in the writer's channel.
func waitQueued(t *testing.T, l *Log, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); len(l.reqs) < n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d appends queued, want %d", len(l.reqs), n)
		}
	}
}

// TestGroupCommitConcurrent: 64 goroutines × 50 appends, with checkpoints signed
// meanwhile. Every caller gets a distinct seq, the seqs are 1..N, each holds exactly what
// its caller appended, and the log verifies.
func TestGroupCommitConcurrent(t *testing.T) {
	eachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		const writers, each = 64, 50
		type sent struct {
			seq int64
			e   Entry
		}
		results := make([][]sent, writers)
		errs := make(chan error, writers+1)
		stop, cpDone := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(cpDone)
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := f.log.Checkpoint(ctx); err != nil {
					errs <- err
					return
				}
				time.Sleep(time.Millisecond)
			}
		}()
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					e := sample(i)
					e.Actor = fmt.Sprintf("writer-%d", w)
					e.ObjectID = fmt.Sprintf("obj-%d-%d", w, i)
					seq, err := f.log.Append(ctx, e)
					if err != nil {
						errs <- err
						return
					}
					results[w] = append(results[w], sent{seq, e})
				}
			}()
		}
		wg.Wait()
		close(stop)
		<-cpDone
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}

		recs := f.records(t)
		if len(recs) != writers*each {
			t.Fatalf("%d records, want %d", len(recs), writers*each)
		}
		seen := make(map[int64]bool)
		for _, rs := range results {
			last := int64(0)
			for _, r := range rs {
				if seen[r.seq] {
					t.Fatalf("seq %d returned twice", r.seq)
				}
				seen[r.seq] = true
				if r.seq <= last {
					t.Errorf("one caller's seqs went backwards: %d after %d", r.seq, last)
				}
				last = r.seq
				if r.seq < 1 || r.seq > int64(len(recs)) {
					t.Fatalf("seq %d outside 1–%d", r.seq, len(recs))
				}
				got, err := fromRecord(recs[r.seq-1])
				if err != nil {
					t.Fatal(err)
				}
				want, _ := Clean(r.e)
				want.Seq, want.At, want.Node = r.seq, got.At, "node-a"
				if got.Seq != r.seq || fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("entry %d\n got %+v\nwant %+v", r.seq, got, want)
				}
			}
		}
		if len(seen) != writers*each {
			t.Fatalf("%d distinct seqs, want %d", len(seen), writers*each)
		}
		f.log.Checkpoint(ctx)
		if r := f.verify(t); !r.OK || r.Entries != writers*each || r.Covered != writers*each {
			t.Fatalf("%+v", r)
		}
	})
}

// TestGroupCommitFailure: when a batch's transaction fails part-way, every caller in
// it gets the error, nothing of it is stored, and later appends carry on.
func TestGroupCommitFailure(t *testing.T) {
	eachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		fs := &faultStore{gate: make(chan struct{}), entered: make(chan struct{}), failCall: 2}
		l := newFaultFixture(t, f, fs)

		// Hold the writer in its first batch while the next batch queues up behind it.
		firstDone := make(chan error, 1)
		go func() {
			seq, err := l.Append(ctx, sample(0))
			if err == nil && seq != 1 {
				err = fmt.Errorf("first seq %d, want 1", seq)
			}
			firstDone <- err
		}()
		<-fs.entered
		// Enough entries that the failing batch inserts its rows in more than one
		// statement before the last one fails.
		const n = 100
		errs := make(chan error, n)
		for i := range n {
			go func() {
				_, err := l.Append(ctx, sample(i+1))
				errs <- err
			}()
		}
		waitQueued(t, l, n)
		close(fs.gate)
		if err := <-firstDone; err != nil {
			t.Fatal(err)
		}
		for i := range n {
			err := <-errs
			if err == nil {
				t.Fatal("an append in the failed batch succeeded")
			}
			if i == 0 {
				t.Logf("the failed batch's error: %v", err)
			}
		}
		if len(fs.sizes) != 2 || fs.sizes[1] != n {
			t.Fatalf("batch sizes %v; want the %d queued appends in one batch", fs.sizes, n)
		}
		h, err := f.db.AuditHead(ctx)
		if err != nil || h.Size != 1 {
			t.Fatalf("head %+v %v; want size 1", h, err)
		}
		if recs := f.records(t); len(recs) != 1 {
			t.Fatalf("%d records stored, want 1", len(recs))
		}
		if r := f.verify(t); !r.OK || r.Entries != 1 {
			t.Fatalf("after the failed batch: %s", r)
		}
		for i := range 3 {
			if seq, err := l.Append(ctx, sample(i)); err != nil || seq != int64(2+i) {
				t.Fatalf("append after the failure: %d %v", seq, err)
			}
		}
		if r := f.verify(t); !r.OK || r.Entries != 4 {
			t.Fatalf("after recovering: %s", r)
		}
	})
}

func TestClose(t *testing.T) {
	eachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()

		// Closing a log that never appended, twice.
		idle := New(f.db, nil, Options{})
		idle.Close()
		idle.Close()
		if _, err := idle.Append(ctx, sample(0)); !errors.Is(err, ErrClosed) {
			t.Fatalf("append after close: %v", err)
		}

		// Close waits for entries already handed to the writer.
		fs := &faultStore{gate: make(chan struct{}), entered: make(chan struct{})}
		l := newFaultFixture(t, f, fs)
		done := make(chan error, 2)
		go func() { _, err := l.Append(ctx, sample(0)); done <- err }()
		<-fs.entered
		go func() { _, err := l.Append(ctx, sample(1)); done <- err }()
		waitQueued(t, l, 1)
		closed := make(chan struct{})
		go func() { l.Close(); close(closed) }()
		select {
		case <-closed:
			t.Fatal("Close returned while an append was being written")
		case <-time.After(50 * time.Millisecond):
		}
		close(fs.gate)
		<-closed
		for range 2 {
			if err := <-done; err != nil {
				t.Fatalf("append handed over before Close: %v", err)
			}
		}
		if _, err := l.Append(ctx, sample(2)); !errors.Is(err, ErrClosed) {
			t.Fatalf("append after close: %v", err)
		}
		if h, _ := f.db.AuditHead(ctx); h.Size != 2 {
			t.Fatalf("head size %d, want 2", h.Size)
		}
		l.Close()

		// Close racing appends: each append is either recorded or gets ErrClosed.
		l2 := New(f.db, nil, Options{Now: f.clk.Now})
		var ok atomic.Int64
		var wg sync.WaitGroup
		for w := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 20 {
					_, err := l2.Append(ctx, sample(w*20+i))
					switch {
					case err == nil:
						ok.Add(1)
					case errors.Is(err, ErrClosed):
						return
					default:
						t.Error(err)
						return
					}
				}
			}()
		}
		time.Sleep(5 * time.Millisecond)
		l2.Close()
		wg.Wait()
		if h, _ := f.db.AuditHead(ctx); h.Size != 2+ok.Load() {
			t.Fatalf("head size %d, want %d", h.Size, 2+ok.Load())
		}
		if r := f.verify(t); !r.OK {
			t.Fatal(r)
		}
	})
}

// TestAppendContext: a caller whose ctx ends gets ctx.Err(); an entry already handed to
// the writer is still written, one that was not is not.
func TestAppendContext(t *testing.T) {
	eachDB(t, func(t *testing.T, f *fixture) {
		fs := &faultStore{gate: make(chan struct{}), entered: make(chan struct{})}
		l := newFaultFixture(t, f, fs)

		dead, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := l.Append(dead, sample(0)); !errors.Is(err, context.Canceled) {
			t.Fatalf("append with a dead ctx: %v", err)
		}

		first := make(chan error, 1)
		go func() { _, err := l.Append(context.Background(), sample(1)); first <- err }()
		<-fs.entered
		ctx, cancel := context.WithCancel(context.Background())
		waiting := make(chan error, 1)
		go func() { _, err := l.Append(ctx, sample(2)); waiting <- err }()
		waitQueued(t, l, 1)
		cancel()
		if err := <-waiting; !errors.Is(err, context.Canceled) {
			t.Fatalf("append whose ctx ended while waiting: %v", err)
		}
		close(fs.gate)
		if err := <-first; err != nil {
			t.Fatal(err)
		}
		l.Close() // waits for the cancelled caller's entry
		recs := f.records(t)
		if len(recs) != 2 || recs[1].ObjectID != sample(2).ObjectID {
			t.Fatalf("records %+v; want the handed-over entry written second", recs)
		}
		if r := f.verify(t); !r.OK {
			t.Fatal(r)
		}
	})
}

// TestBatchHashes checks the tree hashes written for a batch against a log built one
// entry per transaction: a batch must see its own earlier entries' hashes.
func TestBatchHashes(t *testing.T) {
	eachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		fs := &faultStore{gate: make(chan struct{}), entered: make(chan struct{})}
		l := newFaultFixture(t, f, fs)
		go l.Append(ctx, sample(0))
		<-fs.entered
		const n = 37 // crosses several subtree boundaries
		done := make(chan error, n)
		for i := range n {
			go func() { _, err := l.Append(ctx, sample(i)); done <- err }()
			waitQueued(t, l, i+1) // one at a time, so the order is known
		}
		close(fs.gate)
		for range n {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
		if len(fs.sizes) != 2 || fs.sizes[1] != n {
			t.Fatalf("batch sizes %v, want [1 %d]", fs.sizes, n)
		}
		for i, rec := range f.records(t)[1:] {
			if rec.ObjectID != sample(i).ObjectID {
				t.Fatalf("entry %d is %s, want %s: not in order of arrival", rec.Seq, rec.ObjectID, sample(i).ObjectID)
			}
		}
		// Recompute the tree independently and compare every stored hash.
		tr := newTree()
		var want []tlog.Hash
		for _, rec := range f.records(t) {
			e, err := fromRecord(rec)
			if err != nil {
				t.Fatal(err)
			}
			hs, err := tr.add(RecordHash(e))
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, hs...)
		}
		idx := make([]int64, len(want))
		for i := range idx {
			idx[i] = int64(i)
		}
		got, err := f.db.AuditTreeHashes(ctx, idx)
		if err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if string(got[i]) != string(want[i][:]) {
				t.Fatalf("tree hash %d differs", i)
			}
		}
		if r := f.verify(t); !r.OK || r.Entries != n+1 {
			t.Fatal(r)
		}
	})
}
