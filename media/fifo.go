package media

import "sync"

// FIFO carries one leg's audio to the other leg's writer (Channel.SetFeed,
// fed by a Tap). It holds at most
// maxFIFO samples: when the reader runs ahead, the oldest audio goes, so
// the delay through a bridge stays under 100 ms.
type FIFO struct {
	mu  sync.Mutex
	buf []int16
}

const maxFIFO = 800

// Push appends a frame (a Tap callback).
func (q *FIFO) Push(f []int16) {
	q.mu.Lock()
	q.buf = append(q.buf, f...)
	if over := len(q.buf) - maxFIFO; over > 0 {
		q.buf = append(q.buf[:0], q.buf[over:]...)
	}
	q.mu.Unlock()
}

// Pop fills dst if a whole frame is there.
func (q *FIFO) Pop(dst []int16) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.buf) < len(dst) {
		return false
	}
	copy(dst, q.buf)
	q.buf = append(q.buf[:0], q.buf[len(dst):]...)
	return true
}
