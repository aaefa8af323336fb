// Package memo is a byte-bounded LRU cache whose misses are loaded once:
// concurrent requests for the same key wait for a single load. The audio
// URL cache and the TTS cache share it.
package memo

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// Options bound a Cache. Zero values mean "no bound" for MaxBytes and
// MaxEntries and "never expires" for TTL.
type Options struct {
	MaxBytes   int64
	MaxEntries int
	TTL        time.Duration
	Now        func() time.Time
}

// Cache maps string keys to values of type V.
type Cache[V any] struct {
	opts Options
	size func(V) int64

	mu      sync.Mutex
	ll      *list.List // front = most recently used; elements are *entry[V]
	items   map[string]*list.Element
	bytes   int64
	flights map[string]*flight[V]
	stats   Stats
}

// Stats are counters since the cache was made.
type Stats struct {
	Hits    int64 // served from memory
	Shared  int64 // waited on a load another caller started
	Loads   int64 // loads started
	Errors  int64 // loads that failed
	Evicted int64
	Entries int
	Bytes   int64
}

type entry[V any] struct {
	key     string
	val     V
	size    int64
	expires time.Time
}

type flight[V any] struct {
	done    chan struct{}
	val     V
	err     error
	waiters int
	cancel  context.CancelFunc
}

// New returns an empty cache; size reports the bytes a value holds.
func New[V any](opts Options, size func(V) int64) *Cache[V] {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Cache[V]{
		opts:    opts,
		size:    size,
		ll:      list.New(),
		items:   make(map[string]*list.Element),
		flights: make(map[string]*flight[V]),
	}
}

// Get returns the cached value for key, if present and fresh.
func (c *Cache[V]) Get(key string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.getLocked(key)
}

func (c *Cache[V]) getLocked(key string) (V, bool) {
	var zero V
	el, ok := c.items[key]
	if !ok {
		return zero, false
	}
	e := el.Value.(*entry[V])
	if !e.expires.IsZero() && !c.opts.Now().Before(e.expires) {
		c.removeLocked(el)
		return zero, false
	}
	c.ll.MoveToFront(el)
	return e.val, true
}

// Do returns the value for key, calling load on a miss. Concurrent callers
// for the same key share one load. The load runs with a context that is
// not cancelled by any single caller leaving; it is cancelled once every
// waiting caller has left, so an abandoned load does not run on. A failed
// load is not cached. hit reports whether the value came from memory
// without waiting.
func (c *Cache[V]) Do(ctx context.Context, key string, load func(context.Context) (V, error)) (v V, hit bool, err error) {
	c.mu.Lock()
	if v, ok := c.getLocked(key); ok {
		c.stats.Hits++
		c.mu.Unlock()
		return v, true, nil
	}
	f, ok := c.flights[key]
	if ok {
		c.stats.Shared++
	} else {
		lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		f = &flight[V]{done: make(chan struct{}), cancel: cancel}
		c.flights[key] = f
		c.stats.Loads++
		go c.run(lctx, key, f, load)
	}
	f.waiters++
	c.mu.Unlock()

	select {
	case <-f.done:
		c.mu.Lock()
		f.waiters--
		c.mu.Unlock()
		return f.val, false, f.err
	case <-ctx.Done():
		c.mu.Lock()
		f.waiters--
		if f.waiters == 0 {
			f.cancel()
		}
		c.mu.Unlock()
		var zero V
		return zero, false, ctx.Err()
	}
}

func (c *Cache[V]) run(ctx context.Context, key string, f *flight[V], load func(context.Context) (V, error)) {
	defer f.cancel()
	var v V
	var err error
	func() {
		// A panicking loader must not leave waiters blocked forever.
		defer func() {
			if r := recover(); r != nil {
				err = &PanicError{Value: r}
			}
		}()
		v, err = load(ctx)
	}()
	c.mu.Lock()
	f.val, f.err = v, err
	delete(c.flights, key)
	if err == nil {
		c.addLocked(key, v)
	} else {
		c.stats.Errors++
	}
	c.mu.Unlock()
	close(f.done)
}

// Add stores v under key, replacing any previous value.
func (c *Cache[V]) Add(key string, v V) {
	c.mu.Lock()
	c.addLocked(key, v)
	c.mu.Unlock()
}

func (c *Cache[V]) addLocked(key string, v V) {
	sz := c.size(v)
	if c.opts.MaxBytes > 0 && sz > c.opts.MaxBytes {
		return // larger than the whole cache: serve it, do not keep it
	}
	if el, ok := c.items[key]; ok {
		c.removeLocked(el)
	}
	e := &entry[V]{key: key, val: v, size: sz}
	if c.opts.TTL > 0 {
		e.expires = c.opts.Now().Add(c.opts.TTL)
	}
	c.items[key] = c.ll.PushFront(e)
	c.bytes += sz
	for c.ll.Len() > 1 && ((c.opts.MaxBytes > 0 && c.bytes > c.opts.MaxBytes) ||
		(c.opts.MaxEntries > 0 && c.ll.Len() > c.opts.MaxEntries)) {
		c.removeLocked(c.ll.Back())
		c.stats.Evicted++
	}
}

func (c *Cache[V]) removeLocked(el *list.Element) {
	e := el.Value.(*entry[V])
	c.ll.Remove(el)
	delete(c.items, e.key)
	c.bytes -= e.size
}

// Remove drops key from the cache.
func (c *Cache[V]) Remove(key string) {
	c.mu.Lock()
	if el, ok := c.items[key]; ok {
		c.removeLocked(el)
	}
	c.mu.Unlock()
}

// Stats returns a snapshot of the counters.
func (c *Cache[V]) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	s.Entries = c.ll.Len()
	s.Bytes = c.bytes
	return s
}

// PanicError reports a load that panicked.
type PanicError struct{ Value any }

func (e *PanicError) Error() string { return "memo: load panicked" }
