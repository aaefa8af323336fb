package audio

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	at "github.com/trunkline/trunkline/audio/internal/audiotest"
)

// fakeFetcher serves WAV files by URL and counts fetches.
type fakeFetcher struct {
	mu      sync.Mutex
	files   map[string][]byte
	calls   map[string]int
	gate    chan struct{} // if set, fetches wait for it
	started chan string
	err     error
	sawDone atomic.Bool // a fetch saw its context end
}

func newFakeFetcher() *fakeFetcher {
	return &fakeFetcher{files: map[string][]byte{}, calls: map[string]int{}}
}

func (f *fakeFetcher) Fetch(ctx context.Context, url string) (io.ReadCloser, error) {
	f.mu.Lock()
	f.calls[url]++
	b, ok := f.files[url]
	err := f.err
	gate, started := f.gate, f.started
	f.mu.Unlock()
	if started != nil {
		started <- url
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			f.sawDone.Store(true)
			return nil, ctx.Err()
		}
	}
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errors.New("404")
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (f *fakeFetcher) count(url string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[url]
}

func wavOf(pcm []int16) []byte {
	var b bytes.Buffer
	WriteWAV(&b, pcm)
	return b.Bytes()
}

func TestCacheFetchesOnceAndShares(t *testing.T) {
	f := newFakeFetcher()
	tone := at.Sine(440, SampleRate, 1, 9000)
	f.files["https://x/a.wav"] = wavOf(tone)
	f.gate = make(chan struct{})
	c := NewCache(f, CacheOptions{})

	var wg sync.WaitGroup
	results := make([][]int16, 20)
	for i := range results {
		wg.Go(func() {
			pcm, err := c.Get(context.Background(), "https://x/a.wav")
			if err != nil {
				t.Error(err)
			}
			results[i] = pcm
		})
	}
	// Let the waiters pile up on the one fetch, then release it.
	for c.Stats().Shared < 19 {
		time.Sleep(time.Millisecond)
	}
	close(f.gate)
	wg.Wait()
	if n := f.count("https://x/a.wav"); n != 1 {
		t.Fatalf("%d fetches, want 1", n)
	}
	for _, r := range results {
		if !slices.Equal(r, tone) {
			t.Fatal("a caller got different audio")
		}
	}
	if _, err := c.Get(context.Background(), "https://x/a.wav"); err != nil {
		t.Fatal(err)
	}
	s := c.Stats()
	if s.Fetches != 1 || s.Hits != 1 || s.Shared != 19 || s.Entries != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestCacheDoesNotCacheFailures(t *testing.T) {
	f := newFakeFetcher()
	c := NewCache(f, CacheOptions{})
	if _, err := c.Get(context.Background(), "https://x/missing.wav"); err == nil {
		t.Fatal("no error")
	}
	f.files["https://x/missing.wav"] = wavOf(make([]int16, 800))
	if _, err := c.Get(context.Background(), "https://x/missing.wav"); err != nil {
		t.Fatal(err)
	}
	if n := f.count("https://x/missing.wav"); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
	// Undecodable content is an error, named by kind, not by URL.
	f.files["https://x/secret?token=abc"] = []byte("<html>not audio</html>")
	_, err := c.Get(context.Background(), "https://x/secret?token=abc")
	if !errors.Is(err, ErrUnsupported) || bytes.Contains([]byte(err.Error()), []byte("token")) {
		t.Fatalf("got %v", err)
	}
}

func TestCacheBounds(t *testing.T) {
	f := newFakeFetcher()
	for _, u := range []string{"a", "b", "c"} {
		f.files[u] = wavOf(make([]int16, 8000)) // 16 KB of PCM each
	}
	c := NewCache(f, CacheOptions{MaxBytes: 40 << 10})
	for _, u := range []string{"a", "b", "c", "c", "a"} {
		if _, err := c.Get(context.Background(), u); err != nil {
			t.Fatal(err)
		}
	}
	// a was evicted when c came in (LRU), so it was fetched again.
	if f.count("a") != 2 || f.count("c") != 1 {
		t.Errorf("fetches a=%d c=%d", f.count("a"), f.count("c"))
	}
	if s := c.Stats(); s.Bytes > 40<<10 || s.Entries != 2 {
		t.Errorf("stats %+v", s)
	}

	c = NewCache(f, CacheOptions{MaxEntries: 1})
	c.Get(context.Background(), "a")
	c.Get(context.Background(), "b")
	if s := c.Stats(); s.Entries != 1 || s.Evicted != 1 {
		t.Errorf("entry bound: %+v", s)
	}

	// A file over MaxFileBytes fails without being kept.
	f.files["big"] = wavOf(make([]int16, 100000))
	c = NewCache(f, CacheOptions{MaxFileBytes: 64 << 10})
	if _, err := c.Get(context.Background(), "big"); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("got %v, want ErrTooLarge", err)
	}
}

func TestCacheTTL(t *testing.T) {
	f := newFakeFetcher()
	f.files["a"] = wavOf(make([]int16, 800))
	now := time.Unix(1000, 0)
	c := NewCache(f, CacheOptions{TTL: time.Minute, Now: func() time.Time { return now }})
	c.Get(context.Background(), "a")
	now = now.Add(59 * time.Second)
	c.Get(context.Background(), "a")
	now = now.Add(2 * time.Second)
	c.Get(context.Background(), "a")
	if n := f.count("a"); n != 2 {
		t.Fatalf("%d fetches, want 2 (one expiry)", n)
	}
	c.Remove("a")
	c.Get(context.Background(), "a")
	if n := f.count("a"); n != 3 {
		t.Fatalf("%d fetches after Remove, want 3", n)
	}
}

func TestCacheCallerLeavingDoesNotFailOthers(t *testing.T) {
	f := newFakeFetcher()
	f.files["a"] = wavOf(at.Sine(300, SampleRate, 0.2, 5000))
	f.gate = make(chan struct{})
	f.started = make(chan string, 4)
	c := NewCache(f, CacheOptions{})

	ctx1, cancel1 := context.WithCancel(context.Background())
	err1 := make(chan error, 1)
	go func() { _, err := c.Get(ctx1, "a"); err1 <- err }()
	<-f.started
	res2 := make(chan error, 1)
	go func() { _, err := c.Get(context.Background(), "a"); res2 <- err }()
	for c.Stats().Shared < 1 {
		time.Sleep(time.Millisecond)
	}
	cancel1() // the caller that started the fetch hangs up
	if err := <-err1; !errors.Is(err, context.Canceled) {
		t.Fatalf("first caller: %v", err)
	}
	close(f.gate)
	if err := <-res2; err != nil {
		t.Fatalf("second caller: %v", err)
	}
	if f.sawDone.Load() {
		t.Fatal("the shared fetch was cancelled")
	}
}

func TestCacheAbandonedFetchIsCancelled(t *testing.T) {
	f := newFakeFetcher()
	f.files["a"] = wavOf(make([]int16, 800))
	f.gate = make(chan struct{}) // never opened
	f.started = make(chan string, 1)
	c := NewCache(f, CacheOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := c.Get(ctx, "a"); done <- err }()
	<-f.started
	cancel()
	<-done
	deadline := time.Now().Add(5 * time.Second)
	for !f.sawDone.Load() {
		if time.Now().After(deadline) {
			t.Fatal("fetch kept running after every caller left")
		}
		time.Sleep(time.Millisecond)
	}
}
