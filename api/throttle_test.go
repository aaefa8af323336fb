package api

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestAuthThrottleSparesOwner: an attacker who names a victim's Auth ID (they are in
// every resource URL) is throttled at their own address; the right token from an address
// that has not been failing still works, also when the Auth ID is attacked from many
// addresses (slowed down, never locked).
func TestAuthThrottleSparesOwner(t *testing.T) {
	forEachStore(t, Options{FailsPerID: 3, FailsPerAddr: 6, FailWindow: time.Minute, MaxLockout: 10 * time.Minute}, func(t *testing.T, e *env) {
		a := e.mainAccount("victim")
		wrong := cred{a.id, "wrong"}
		// Ten wrong tokens from A: the third locks the pair (A, Auth ID) out.
		for i := 0; i < 10; i++ {
			r := e.doFrom("127.0.0.2", wrong, "GET", acctPath(a, ""), nil)
			if want := map[bool]int{true: 401, false: 429}[i < 3]; r.status != want {
				t.Fatalf("wrong token %d from A: status %d, want %d", i+1, r.status, want)
			}
		}
		// The attacker's address stays throttled, even with the right token.
		mustStatus(t, e.doFrom("127.0.0.2", a, "GET", acctPath(a, ""), nil), 429)
		// The owner, from B, is not locked out.
		mustStatus(t, e.doFrom("127.0.0.3", a, "GET", acctPath(a, ""), nil), 200)

		// More addresses, one guess each: none is locked, the Auth ID is slowed down.
		for i := 10; i < 13; i++ {
			mustStatus(t, e.doFrom(fmt.Sprintf("127.0.0.%d", i), wrong, "GET", acctPath(a, ""), nil), 401)
		}
		start := time.Now()
		r := e.doFrom("127.0.1.1", wrong, "GET", acctPath(a, ""), nil)
		if r.status != 401 || time.Since(start) < 100*time.Millisecond {
			t.Fatalf("an Auth ID attacked from many addresses: status %d after %v, want 401 slowed down", r.status, time.Since(start))
		}
		mustStatus(t, e.doFrom("127.0.2.1", a, "GET", acctPath(a, ""), nil), 200)
		// An address that authenticated before keeps working.
		mustStatus(t, e.doFrom("127.0.0.3", a, "GET", acctPath(a, ""), nil), 200)
	})
}

// TestAuthThrottleMemory: Auth IDs of no valid form are not kept (today each failed one
// was kept for at least the window, whatever its size), so many long junk IDs from many
// addresses cannot fill memory.
func TestAuthThrottleMemory(t *testing.T) {
	forEachStore(t, Options{}, func(t *testing.T, e *env) {
		junk := strings.Repeat("J", 22<<10)
		before := heapInUse()
		const sources, perSource = 20, 10
		for i := 0; i < sources; i++ {
			for j := 0; j < perSource; j++ {
				c := cred{fmt.Sprintf("%s%03d%03d", junk, i, j), "x"}
				mustStatus(t, e.doFrom(fmt.Sprintf("127.9.%d.1", i), c, "GET", "/v1/Account/MA00000000000000000000/", nil), 401)
			}
		}
		// Each address and its /24: nothing of the junk.
		if n := e.srv.authFail.Len(); n > 2*sources {
			t.Fatalf("the throttle holds %d entries after failures from %d addresses", n, sources)
		}
		if grown := heapInUse() - before; grown > 2<<20 {
			t.Fatalf("the heap grew by %d bytes after %d junk Auth IDs of 22 KB", grown, sources*perSource)
		}
	})
}

func heapInUse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse)
}
