package media

import "sync"

// FIFO carries one leg's audio to the other leg's writer (Channel.SetFeed,
// fed by a Tap). It holds at most
// maxFIFO samples: when the reader runs ahead, the oldest audio goes, so
// the delay through a bridge stays under 100 ms.
type FIFO struct {
	mu      sync.Mutex
	buf     []int16
	dropped int // samples dropped since takeDropped
	short   int // Pops that found no whole frame, since takeShort
}

const maxFIFO = 800

// Push appends a frame (a Tap callback).
func (q *FIFO) Push(f []int16) {
	q.mu.Lock()
	q.buf = append(q.buf, f...)
	if over := len(q.buf) - maxFIFO; over > 0 {
		q.buf = append(q.buf[:0], q.buf[over:]...)
		q.dropped += over
	}
	q.mu.Unlock()
}

// Pop fills dst if a whole frame is there.
func (q *FIFO) Pop(dst []int16) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.buf) < len(dst) {
		q.short++
		return false
	}
	copy(dst, q.buf)
	q.buf = append(q.buf[:0], q.buf[len(dst):]...)
	return true
}

// takeDropped returns the samples dropped since the last call (the reader
// fell behind the writer).
func (q *FIFO) takeDropped() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := q.dropped
	q.dropped = 0
	return n
}

// takeShort returns the Pops since the last call that found no whole frame
// (the reader ran ahead of the writer).
func (q *FIFO) takeShort() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := q.short
	q.short = 0
	return n
}
