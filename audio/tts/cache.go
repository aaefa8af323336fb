package tts

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/trunkline/trunkline/audio"
	"github.com/trunkline/trunkline/audio/internal/memo"
)

// CacheOptions configure a Cache. Zero values take the defaults.
type CacheOptions struct {
	MaxBytes   int64 // PCM kept in memory; default 32 MiB (about 35 min of speech)
	MaxEntries int   // default 2048
	// Dir, if set, also keeps each prompt as a WAV file there, so a
	// restart does not synthesize again. Files are plain audio: do not
	// point it at storage that must hold only encrypted customer data.
	Dir string
	// Namespace is mixed into every key; change it when the engine or its
	// settings change so old audio is not served.
	Namespace string
}

// Cache is a Synthesizer that keeps what another one produced, keyed by a
// hash of the text, voice and language. Concurrent requests for the same
// prompt share one synthesis. The returned slices are shared: do not
// modify them.
type Cache struct {
	s    Synthesizer
	opts CacheOptions
	m    *memo.Cache[[]int16]

	diskHits, diskErrors atomic.Int64
}

// CacheStats are counters since the cache was made.
type CacheStats struct {
	Hits       int64 // from memory
	Shared     int64 // waited on a synthesis another request started
	Loads      int64 // misses: disk reads or syntheses
	DiskHits   int64
	DiskErrors int64 // failed disk writes or unreadable files (then synthesized)
	Errors     int64
	Entries    int
	Bytes      int64
}

// NewCache wraps s. With opts.Dir set it creates the directory (0700).
func NewCache(s Synthesizer, opts CacheOptions) (*Cache, error) {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 32 << 20
	}
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = 2048
	}
	if opts.Dir != "" {
		if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
			return nil, err
		}
	}
	return &Cache{
		s:    s,
		opts: opts,
		m: memo.New(memo.Options{MaxBytes: opts.MaxBytes, MaxEntries: opts.MaxEntries},
			func(p []int16) int64 { return 2*int64(len(p)) + 64 }),
	}, nil
}

// Key is the cache key of a prompt: hex SHA-256 over the namespace, voice,
// language and text, each length-prefixed so no two prompts share a key.
func Key(namespace, text, voice, language string) string {
	h := sha256.New()
	for _, s := range []string{namespace, voice, language, text} {
		var n [8]byte
		for i, l := 0, uint64(len(s)); i < 8; i++ {
			n[i] = byte(l >> (8 * i))
		}
		h.Write(n[:])
		h.Write([]byte(s))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Synthesize returns the cached PCM for the prompt, synthesizing it once.
func (c *Cache) Synthesize(ctx context.Context, text, voice, language string) ([]int16, error) {
	key := Key(c.opts.Namespace, text, voice, language)
	pcm, _, err := c.m.Do(ctx, key, func(ctx context.Context) ([]int16, error) {
		if pcm, ok := c.readDisk(key); ok {
			return pcm, nil
		}
		pcm, err := c.s.Synthesize(ctx, text, voice, language)
		if err != nil {
			return nil, err
		}
		c.writeDisk(key, pcm)
		return pcm, nil
	})
	return pcm, err
}

func (c *Cache) path(key string) string { return filepath.Join(c.opts.Dir, key+".wav") }

func (c *Cache) readDisk(key string) ([]int16, bool) {
	if c.opts.Dir == "" {
		return nil, false
	}
	b, err := os.ReadFile(c.path(key))
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			c.diskErrors.Add(1)
		}
		return nil, false
	}
	pcm, err := audio.DecodeWAV(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		c.diskErrors.Add(1)
		return nil, false
	}
	c.diskHits.Add(1)
	return pcm, true
}

func (c *Cache) writeDisk(key string, pcm []int16) {
	if c.opts.Dir == "" {
		return
	}
	// Write then rename, so a reader never sees half a file.
	f, err := os.CreateTemp(c.opts.Dir, ".tmp-*")
	if err == nil {
		err = audio.WriteWAV(f, pcm)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(f.Name(), c.path(key))
		}
		if err != nil {
			os.Remove(f.Name())
		}
	}
	if err != nil {
		c.diskErrors.Add(1)
	}
}

// Stats returns a snapshot of the counters.
func (c *Cache) Stats() CacheStats {
	s := c.m.Stats()
	return CacheStats{Hits: s.Hits, Shared: s.Shared, Loads: s.Loads, Errors: s.Errors,
		DiskHits: c.diskHits.Load(), DiskErrors: c.diskErrors.Load(), Entries: s.Entries, Bytes: s.Bytes}
}
