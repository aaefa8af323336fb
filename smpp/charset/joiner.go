package charset

import (
	"container/list"
	"sync"
	"time"
)

// JoinerOptions bound a Joiner. Zero fields take the defaults.
type JoinerOptions struct {
	// MaxPending is the number of incomplete messages kept; when a new
	// one would exceed it, the oldest is dropped. Default 10,000.
	MaxPending int
	// MaxBytes bounds the octets held in incomplete messages, so that a
	// peer sending first segments only cannot exhaust memory; the oldest
	// messages are dropped to stay under it. Default 16 MiB.
	MaxBytes int
	// Expiry is how long an incomplete message waits for its other
	// segments, from its first. Default one hour.
	Expiry time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Joiner reassembles concatenated messages from their segments, which
// may arrive out of order, more than once, or interleaved with those of
// other messages. It is safe for concurrent use, so segments arriving on
// different binds can meet.
type Joiner struct {
	opts JoinerOptions

	mu      sync.Mutex
	pending map[joinKey]*list.Element // of *partial
	order   *list.List                // oldest first
	bytes   int
}

// joinKey identifies one message: segments share the sender/recipient
// key, the reference and the total. A different total under the same
// reference is a different message.
type joinKey struct {
	key   string
	ref   int
	total int
}

type partial struct {
	id    joinKey
	first time.Time
	parts [][]byte // nil until that segment arrives
	have  int
	size  int
}

// NewJoiner returns a Joiner with opts.
func NewJoiner(opts JoinerOptions) *Joiner {
	if opts.MaxPending <= 0 {
		opts.MaxPending = 10000
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 16 << 20
	}
	if opts.Expiry <= 0 {
		opts.Expiry = time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Joiner{opts: opts, pending: make(map[joinKey]*list.Element), order: list.New()}
}

// Add records segment seq of total, with reference ref, of a message
// identified by key (e.g. carrier, source and destination address) and
// returns the whole message's octets once its last missing segment
// arrives. A single-segment message (total 1) is returned at once. A
// repeated segment is ignored; an invalid one (total outside 1..255, seq
// outside 1..total) is dropped. Join the octets, then decode them: a
// character may straddle segments cut by other software.
func (j *Joiner) Add(key string, ref, total, seq int, body []byte) (msg []byte, done bool) {
	if total < 1 || total > MaxParts || seq < 1 || seq > total {
		return nil, false
	}
	if total == 1 {
		return append([]byte{}, body...), true
	}
	j.mu.Lock()
	defer j.mu.Unlock()

	now := j.opts.Now()
	j.expire(now)
	id := joinKey{key: key, ref: ref, total: total}
	e, ok := j.pending[id]
	if !ok {
		e = j.order.PushBack(&partial{id: id, first: now, parts: make([][]byte, total)})
		j.pending[id] = e
	}
	p := e.Value.(*partial)
	if p.parts[seq-1] != nil {
		return nil, false
	}
	p.parts[seq-1] = append([]byte{}, body...)
	p.have++
	p.size += len(body)
	j.bytes += len(body)
	if p.have == total {
		j.remove(e)
		msg = make([]byte, 0, p.size)
		for _, part := range p.parts {
			msg = append(msg, part...)
		}
		return msg, true
	}
	// Stay within bounds by dropping the oldest, which may be this one
	// if its segment alone is too big.
	for j.order.Len() > j.opts.MaxPending || j.bytes > j.opts.MaxBytes {
		j.remove(j.order.Front())
	}
	return nil, false
}

// Len returns the number of incomplete messages held.
func (j *Joiner) Len() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.order.Len()
}

// Expire drops incomplete messages older than the expiry, as Add does on
// each call, so that memory is returned while no segments arrive. It
// returns how many it dropped.
func (j *Joiner) Expire() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.expire(j.opts.Now())
}

func (j *Joiner) expire(now time.Time) int {
	n := 0
	for e := j.order.Front(); e != nil; e = j.order.Front() {
		if now.Sub(e.Value.(*partial).first) < j.opts.Expiry {
			break
		}
		j.remove(e)
		n++
	}
	return n
}

func (j *Joiner) remove(e *list.Element) {
	p := e.Value.(*partial)
	j.order.Remove(e)
	delete(j.pending, p.id)
	j.bytes -= p.size
}
