package audio

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/trunkline/trunkline/audio/internal/memo"
)

// A Fetcher gets the bytes at a URL. The server passes its SSRF-safe
// webhook client; the cache never opens connections itself.
type Fetcher interface {
	Fetch(ctx context.Context, url string) (io.ReadCloser, error)
}

// FetcherFunc adapts a function to Fetcher.
type FetcherFunc func(ctx context.Context, url string) (io.ReadCloser, error)

// Fetch calls f.
func (f FetcherFunc) Fetch(ctx context.Context, url string) (io.ReadCloser, error) {
	return f(ctx, url)
}

// CacheOptions bound a Cache. Zero values take the defaults.
type CacheOptions struct {
	MaxBytes     int64         // decoded PCM kept in memory; default 64 MiB (about 70 min)
	MaxEntries   int           // default 512
	MaxFileBytes int64         // largest file fetched; default 16 MiB
	FetchTimeout time.Duration // one fetch and decode; default 30 s
	TTL          time.Duration // 0 keeps entries until evicted
	Now          func() time.Time
}

// Cache fetches audio files by URL, decodes them to PCM at SampleRate and
// keeps the result, so a <Play> that many calls use is fetched once.
// Concurrent requests for a URL share one fetch. Failures are not cached.
type Cache struct {
	f    Fetcher
	opts CacheOptions
	m    *memo.Cache[[]int16]
}

// CacheStats are counters since the cache was made.
type CacheStats struct {
	Hits, Shared, Fetches, Errors, Evicted int64
	Entries                                int
	Bytes                                  int64
}

// NewCache returns a cache that fetches with f.
func NewCache(f Fetcher, opts CacheOptions) *Cache {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 64 << 20
	}
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = 512
	}
	if opts.MaxFileBytes <= 0 {
		opts.MaxFileBytes = 16 << 20
	}
	if opts.FetchTimeout <= 0 {
		opts.FetchTimeout = 30 * time.Second
	}
	return &Cache{
		f:    f,
		opts: opts,
		m: memo.New(memo.Options{
			MaxBytes: opts.MaxBytes, MaxEntries: opts.MaxEntries, TTL: opts.TTL, Now: opts.Now,
		}, func(p []int16) int64 { return 2*int64(len(p)) + 64 }),
	}
}

// Get returns the audio at url as PCM at SampleRate. The slice is shared
// with other callers: do not modify it. Errors do not name the URL, which
// may carry credentials.
func (c *Cache) Get(ctx context.Context, url string) ([]int16, error) {
	pcm, _, err := c.m.Do(ctx, url, func(ctx context.Context) ([]int16, error) {
		ctx, cancel := context.WithTimeout(ctx, c.opts.FetchTimeout)
		defer cancel()
		body, err := c.f.Fetch(ctx, url)
		if err != nil {
			return nil, fmt.Errorf("audio: fetch: %w", err)
		}
		defer body.Close()
		pcm, err := Decode(body, c.opts.MaxFileBytes)
		if err != nil {
			return nil, err
		}
		return pcm, nil
	})
	return pcm, err
}

// Remove forgets url.
func (c *Cache) Remove(url string) { c.m.Remove(url) }

// Stats returns a snapshot of the counters.
func (c *Cache) Stats() CacheStats {
	s := c.m.Stats()
	return CacheStats{Hits: s.Hits, Shared: s.Shared, Fetches: s.Loads, Errors: s.Errors,
		Evicted: s.Evicted, Entries: s.Entries, Bytes: s.Bytes}
}
