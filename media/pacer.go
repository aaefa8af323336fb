package media

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Pacer drives every channel's writer from a few clocks: one goroutine per
// CPU for all calls, instead of a ticker and a goroutine per call, which is
// what keeps a thousand held calls cheap. Each clock keeps real time: when a
// round runs late (a busy machine), the next one sends the frames that are
// due, up to maxCatchUp, so streams do not drift behind the wall clock.
type Pacer struct {
	shards []*pacerShard
	next   atomic.Uint32
	stop   chan struct{}
	wg     sync.WaitGroup
}

type pacerShard struct {
	mu    sync.Mutex
	chans map[*Channel]struct{}
	batch []*Channel
}

// maxCatchUp bounds the frames one late round sends per channel; beyond it
// the stream skips ahead (a gap is better than a burst).
const maxCatchUp = 3

// NewPacer starts the clocks.
func NewPacer() *Pacer {
	p := &Pacer{stop: make(chan struct{})}
	for range runtime.GOMAXPROCS(0) {
		sh := &pacerShard{chans: map[*Channel]struct{}{}}
		p.shards = append(p.shards, sh)
		p.wg.Add(1)
		go p.run(sh)
	}
	return p
}

// Add puts a channel on one of the clocks.
func (p *Pacer) Add(c *Channel) {
	sh := p.shards[int(p.next.Add(1))%len(p.shards)]
	sh.mu.Lock()
	sh.chans[c] = struct{}{}
	sh.mu.Unlock()
	c.shard = sh
}

// Remove takes a channel off its clock.
func (p *Pacer) Remove(c *Channel) {
	if sh := c.shard; sh != nil {
		sh.mu.Lock()
		delete(sh.chans, c)
		sh.mu.Unlock()
	}
}

func (p *Pacer) run(sh *pacerShard) {
	defer p.wg.Done()
	const frame = 20 * time.Millisecond
	t := time.NewTicker(frame)
	defer t.Stop()
	start := time.Now()
	var sent int64 // rounds done since start
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		due := int64(time.Since(start) / frame)
		n := due - sent
		if n > maxCatchUp {
			n = maxCatchUp
		}
		sent = due
		sh.mu.Lock()
		sh.batch = sh.batch[:0]
		for c := range sh.chans {
			sh.batch = append(sh.batch, c)
		}
		sh.mu.Unlock()
		for range n {
			for _, c := range sh.batch {
				c.tick()
			}
		}
	}
}

// Stop ends the clocks.
func (p *Pacer) Stop() {
	close(p.stop)
	p.wg.Wait()
}
