package carrier

import (
	"testing"
	"time"
)

func TestHealthHysteresis(t *testing.T) {
	now := time.Unix(1000, 0)
	h := NewHealth(HealthOptions{Now: func() time.Time { return now }})
	// A few failures among successes do not take it down (ratio under 50%).
	for i := 0; i < 10; i++ {
		h.Success()
		if i%3 == 0 && h.Failure(false, "x") {
			t.Fatalf("down after %d mixed results", i)
		}
	}
	if !h.Usable() {
		t.Fatal("healthy carrier unusable")
	}
	// Three consecutive timeouts: down.
	h.Failure(true, "timeout")
	h.Failure(true, "timeout")
	if !h.Failure(true, "timeout") || h.Usable() {
		t.Fatal("three timeouts did not mark down")
	}
	// During the cool-down it gets no traffic; after it, trial traffic.
	now = now.Add(4 * time.Second)
	if h.Usable() {
		t.Fatal("usable during cool-down")
	}
	now = now.Add(2 * time.Second)
	if !h.Usable() || !h.Snapshot().HalfOpen {
		t.Fatal("no trial after cool-down")
	}
	// A failed trial restarts the cool-down.
	h.Failure(false, "refused")
	if h.Usable() {
		t.Fatal("usable right after a failed trial")
	}
	now = now.Add(6 * time.Second)
	// Up only after three consecutive successes.
	if h.Success() || h.Success() {
		t.Fatal("up too early")
	}
	if !h.Success() || !h.Snapshot().Up {
		t.Fatal("not up after three successes")
	}
	// Ratio rule: 5 failures of 8 results.
	for i := 0; i < 3; i++ {
		h.Success()
	}
	went := false
	for i := 0; i < 5; i++ {
		went = h.Failure(false, "syserr") || went
	}
	if !went {
		t.Fatal("a majority of failures did not mark down")
	}
	// Losing the bind takes it down at once.
	now = now.Add(10 * time.Second)
	for i := 0; i < 3; i++ {
		h.Success()
	}
	if !h.Unbound("connection closed") || h.Usable() {
		t.Fatal("unbind did not mark down")
	}
}
