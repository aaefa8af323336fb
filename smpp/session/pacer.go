package session

import (
	"context"
	"sync"
	"time"
)

// The pause after a throttling answer doubles while throttling persists,
// at most maxPauseDoublings times and to at most maxThrottlePause, so a
// client recovers within seconds once the SMSC has capacity again.
const (
	maxPauseDoublings = 5
	maxThrottlePause  = 10 * time.Second
)

// pacer decides when the next submit may go: it keeps the TPS limit (a
// token bucket in its GCRA form, which needs no ticking) and reacts to
// throttling answers by slowing down — halving the effective rate and
// window and pausing — then recovering step by step while the SMSC stops
// complaining. It reads time only through now, so it runs on a fake clock
// in tests.
type pacer struct {
	mu  sync.Mutex
	now func() time.Time

	maxRate   float64 // configured TPS; 0 means unlimited
	maxWindow int     // configured window
	rate      float64 // effective TPS
	win       int     // effective window
	tat       time.Time

	epoch      uint64    // counts slow-downs; see throttled
	pauseUntil time.Time // no submit goes before this
	lastChange time.Time // last slow-down or recovery step
	strikes    int       // slow-downs since the last success

	pause    time.Duration // first pause after throttling
	cooldown time.Duration // quiet time before each recovery step
	setWin   func(int)     // applies the effective window
}

func newPacer(now func() time.Time, rate float64, window int, pause, cooldown time.Duration, setWin func(int)) *pacer {
	return &pacer{
		now: now, maxRate: rate, maxWindow: window, rate: rate, win: window,
		pause: pause, cooldown: cooldown, setWin: setWin,
	}
}

// burst is how many submits may go back to back after an idle spell:
// 20 ms worth at the effective rate, at least one. Pacing every single
// submit at thousands per second would cost a timer each for nothing,
// while carriers count over windows of a second.
func (p *pacer) burst() float64 {
	return max(1, p.rate/50)
}

// next returns how long to wait before sending. ok is false while a
// throttling pause lasts: the caller waits and asks again. When ok is
// true a send slot has been reserved at now+wait.
func (p *pacer) next() (wait time.Duration, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if d := p.pauseUntil.Sub(now); d > 0 {
		return d, false
	}
	if p.rate <= 0 {
		return 0, true
	}
	interval := time.Duration(float64(time.Second) / p.rate)
	if p.tat.Before(now) {
		p.tat = now
	}
	tau := time.Duration((p.burst() - 1) * float64(interval))
	wait = p.tat.Add(-tau).Sub(now)
	p.tat = p.tat.Add(interval)
	return max(wait, 0), true
}

// refund gives back a send slot reserved by next that went unused,
// because the submit gave up while waiting for it.
func (p *pacer) refund() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.rate <= 0 {
		return
	}
	interval := time.Duration(float64(time.Second) / p.rate)
	// Never back past now: slots already due are gone either way.
	if now := p.now(); p.tat.After(now) {
		p.tat = p.tat.Add(-interval)
		if p.tat.Before(now) {
			p.tat = now
		}
	}
}

// currentEpoch is read when a submit is sent and passed to throttled if
// it is refused, so that the answers to submits sent before a slow-down
// do not slow down again: one slow-down per round trip, as in TCP.
func (p *pacer) currentEpoch() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.epoch
}

// throttled records a throttling answer to a submit sent in epoch. It
// reports whether it slowed down.
func (p *pacer) throttled(epoch uint64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if epoch != p.epoch {
		return false
	}
	now := p.now()
	p.epoch++
	p.strikes++
	p.win = max(1, p.win/2)
	if p.maxRate > 0 {
		p.rate = max(min(1, p.maxRate), p.rate/2)
	}
	d := p.pause << min(p.strikes-1, maxPauseDoublings)
	if d <= 0 || d > maxThrottlePause {
		d = maxThrottlePause
	}
	p.pauseUntil = now.Add(d)
	p.lastChange = now
	p.setWin(p.win)
	return true
}

// succeeded records an accepted submit and, after a quiet cool-down,
// takes one recovery step: a quarter more window and rate (at least one
// more slot), up to the configured values.
func (p *pacer) succeeded() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.strikes = 0
	if p.win >= p.maxWindow && p.rate >= p.maxRate {
		return
	}
	now := p.now()
	if now.Sub(p.lastChange) < p.cooldown {
		return
	}
	p.lastChange = now
	p.win = min(p.maxWindow, p.win+max(1, p.win/4))
	if p.maxRate > 0 {
		p.rate = min(p.maxRate, p.rate*1.25)
	}
	p.setWin(p.win)
}

// current returns the effective window and rate.
func (p *pacer) current() (win int, rate float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.win, p.rate
}

// sleep waits for d, or until ctx ends or stop is closed.
func sleep(ctx context.Context, stop <-chan struct{}, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-stop:
		return ErrClosed
	}
}
