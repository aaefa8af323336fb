package session

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trunkline/trunkline/smpp/pdu"
)

// BenchmarkSubmitLoopback measures submit_sm → submit_sm_resp round trips
// through one transceiver bind from our client to our server in the same
// process, window 64, with enough callers to keep the window full.
func BenchmarkSubmitLoopback(b *testing.B) {
	var ids atomic.Uint64
	srv := startServer(b, ServerOptions{
		Window: 256,
		OnSubmit: func(ctx context.Context, s *Session, m *pdu.SubmitSM) (string, pdu.Status) {
			return strconv.FormatUint(ids.Add(1), 16), pdu.ESME_ROK
		},
	})
	c := boundClient(b, srv.Addr().String(), ClientOptions{Window: 64})
	m := submitTo("14155550100")

	const callers = 128
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			ctx := context.Background()
			for next.Add(1) <= int64(b.N) {
				if _, err := c.Submit(ctx, m); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "submits/s")
}

// BenchmarkSubmitSerial measures one caller's round trip (latency, not
// throughput): what the write coalescing must not make worse.
func BenchmarkSubmitSerial(b *testing.B) {
	srv := startServer(b, ServerOptions{})
	c := boundClient(b, srv.Addr().String(), ClientOptions{})
	m := submitTo("14155550100")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Submit(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
}
