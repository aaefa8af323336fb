package session

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/trunkline/trunkline/smpp/pdu"
)

// A submit waiting for a window slot is asked again, at the last moment, whether it
// may go out: one whose sender lost the right meanwhile (a cluster node given up for
// dead) fails with the gate's error and never reaches the SMSC; one that may goes out.
func TestGateChecksRightBeforeTheWire(t *testing.T) {
	release, arrived := make(chan struct{}), make(chan struct{})
	var got atomic.Int32
	srv := startServer(t, ServerOptions{
		OnSubmit: func(ctx context.Context, s *Session, m *pdu.SubmitSM) (string, pdu.Status) {
			got.Add(1)
			if m.DestinationAddr == "1" {
				close(arrived)
				<-release // holds the one window slot
			}
			return "id-" + m.DestinationAddr, pdu.ESME_ROK
		},
	})
	c := boundClient(t, srv.Addr().String(), ClientOptions{Window: 1})
	first := make(chan error, 1)
	go func() {
		_, err := c.Submit(testCtx(t), submitTo("1"))
		first <- err
	}()
	select {
	case <-arrived:
	case <-testCtx(t).Done():
		t.Fatal("the first submit never arrived")
	}
	var allowed atomic.Bool
	allowed.Store(true)
	fenced := errors.New("fenced")
	ctx := WithGate(testCtx(t), func() error {
		if !allowed.Load() {
			return fenced
		}
		return nil
	})
	second := make(chan error, 1)
	go func() {
		_, err := c.Submit(ctx, submitTo("2"))
		second <- err
	}()
	// The second waits for the slot; meanwhile its sender loses the right to send.
	allowed.Store(false)
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-second; !errors.Is(err, fenced) {
		t.Fatalf("a gated submit: %v, want the gate's error", err)
	}
	if n := got.Load(); n != 1 {
		t.Fatalf("the SMSC got %d submits, want only the ungated one", n)
	}
	allowed.Store(true)
	if resp, err := c.Submit(ctx, submitTo("3")); err != nil || resp.MessageID != "id-3" {
		t.Fatalf("an allowed gated submit: %v %v", resp, err)
	}
}
