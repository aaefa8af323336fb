package session

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"
)

func TestPacerSpacesSubmitsAtTheRate(t *testing.T) {
	clock := newFakeClock()
	var win int
	p := newPacer(clock.Now, 10, 8, 100*time.Millisecond, time.Second, func(n int) { win = n })
	// 10/s: burst 1, then one slot every 100ms, reserved back to back on
	// a clock that does not move.
	for i, want := range []time.Duration{0, 100, 200, 300} {
		wait, ok := p.next()
		if !ok || wait != want*time.Millisecond {
			t.Fatalf("submit %d: wait %v ok %v, want %v", i, wait, ok, want*time.Millisecond)
		}
	}
	p.refund() // the last one gave up
	clock.Advance(time.Second)
	if wait, _ := p.next(); wait != 0 {
		t.Fatalf("after an idle second: wait %v", wait)
	}
	// 1,000/s allows 20 ms worth (20 submits) back to back.
	q := newPacer(clock.Now, 1000, 8, time.Millisecond, time.Second, func(int) {})
	for i := range 20 {
		if wait, _ := q.next(); wait != 0 {
			t.Fatalf("burst submit %d waits %v", i, wait)
		}
	}
	if wait, _ := q.next(); wait != time.Millisecond {
		t.Fatalf("after the burst: wait %v", wait)
	}
	_ = win
}

func TestPacerSlowsDownOncePerRoundTripAndRecovers(t *testing.T) {
	clock := newFakeClock()
	win := -1
	p := newPacer(clock.Now, 100, 16, 100*time.Millisecond, time.Second, func(n int) { win = n })

	// Sixteen submits in flight in epoch 0 are all throttled: one
	// slow-down, not sixteen.
	e := p.currentEpoch()
	if !p.throttled(e) {
		t.Fatal("first throttling answer must slow down")
	}
	for range 15 {
		if p.throttled(e) {
			t.Fatal("answers to submits sent before the slow-down must not slow down again")
		}
	}
	if w, r := p.current(); w != 8 || r != 50 || win != 8 {
		t.Fatalf("after one slow-down: window %d (applied %d) rate %v", w, win, r)
	}
	// Paused: nothing goes for 100ms.
	if wait, ok := p.next(); ok || wait != 100*time.Millisecond {
		t.Fatalf("during pause: %v %v", wait, ok)
	}
	clock.Advance(100 * time.Millisecond)
	if _, ok := p.next(); !ok {
		t.Fatal("pause over")
	}
	// Still throttled: the pause doubles, the window and rate halve again.
	if !p.throttled(p.currentEpoch()) {
		t.Fatal("second episode")
	}
	if wait, _ := p.next(); wait != 200*time.Millisecond {
		t.Fatalf("second pause %v", wait)
	}
	if w, r := p.current(); w != 4 || r != 25 {
		t.Fatalf("after two slow-downs: window %d rate %v", w, r)
	}
	// Persistent throttling: the pause stops doubling at 32×, the window
	// at 1, the rate at 1/s.
	for range 20 {
		clock.Advance(maxThrottlePause)
		p.throttled(p.currentEpoch())
	}
	if wait, _ := p.next(); wait != 32*100*time.Millisecond {
		t.Fatalf("capped pause %v", wait)
	}
	if w, r := p.current(); w != 1 || r != 1 {
		t.Fatalf("floor: window %d rate %v", w, r)
	}

	// Recovery: successes within the cool-down change nothing; each quiet
	// cool-down adds a quarter (at least one slot) until the limits.
	clock.Advance(maxThrottlePause)
	p.succeeded()
	if w, _ := p.current(); w != 2 {
		t.Fatalf("first recovery step: window %d", w)
	}
	p.succeeded()
	if w, _ := p.current(); w != 2 {
		t.Fatalf("within the cool-down: window %d", w)
	}
	for range 40 {
		clock.Advance(time.Second)
		p.succeeded()
	}
	if w, r := p.current(); w != 16 || r != 100 || win != 16 {
		t.Fatalf("recovered: window %d (applied %d) rate %v", w, win, r)
	}
	// After success the pause starts from the beginning again.
	p.throttled(p.currentEpoch())
	if wait, _ := p.next(); wait != 100*time.Millisecond {
		t.Fatalf("fresh pause %v", wait)
	}
}

func TestPacerUnlimitedRate(t *testing.T) {
	clock := newFakeClock()
	p := newPacer(clock.Now, 0, 10, time.Millisecond, time.Second, func(int) {})
	for range 1000 {
		if wait, ok := p.next(); wait != 0 || !ok {
			t.Fatal("unlimited rate must not wait")
		}
	}
	p.throttled(p.currentEpoch())
	if w, r := p.current(); w != 5 || r != 0 {
		t.Fatalf("unlimited rate slows by the window only: %d %v", w, r)
	}
}

func TestWindowFIFOAndLimitChanges(t *testing.T) {
	w := newWindow(2)
	ctx := context.Background()
	stop := make(chan struct{})
	for range 2 {
		if err := w.acquire(ctx, stop); err != nil {
			t.Fatal(err)
		}
	}
	got := make(chan int, 3)
	for i := range 3 {
		ready := make(chan struct{})
		go func() {
			close(ready)
			if err := w.acquire(ctx, stop); err == nil {
				got <- i
			}
		}()
		<-ready
		// Wait until it is queued, so the order is known.
		waitQueued(t, w, i+1)
	}
	w.release()
	if i := <-got; i != 0 {
		t.Fatalf("first served %d", i)
	}
	w.setLimit(3)
	if i := <-got; i != 1 {
		t.Fatalf("second served %d", i)
	}
	if in, lim := w.used(); in != 3 || lim != 3 {
		t.Fatalf("used %d/%d", in, lim)
	}
	// A waiter that gives up leaves the queue; closing refuses the rest.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := w.acquire(cctx, stop); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	close(stop)
	waitQueued(t, w, 0)
	w.setLimit(1)
	for range 3 {
		w.release()
	}
	select {
	case i := <-got:
		t.Fatalf("waiter %d served after stop", i)
	default:
	}
	idle := make(chan error)
	go func() { idle <- w.waitIdle(ctx) }()
	if err := <-idle; err != nil {
		t.Fatal(err)
	}
}

func TestSequenceNumbersWrap(t *testing.T) {
	c := &conn{}
	c.seq.Store(maxSeq - 1)
	for _, want := range []uint32{maxSeq, 1, 2} {
		if got := c.nextSeq(); got != want {
			t.Fatalf("got %#x want %#x", got, want)
		}
	}
}

// waitQueued waits, within a deadline, until n acquirers are queued.
func waitQueued(t *testing.T, w *window, n int) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for {
		w.mu.Lock()
		got := w.waiters.Len()
		w.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d waiters queued, want %d", got, n)
		}
		runtime.Gosched()
	}
}
