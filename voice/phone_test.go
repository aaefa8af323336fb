package voice_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/emiago/diago"
	"github.com/emiago/sipgo/sip"

	"github.com/trunkline/trunkline/audio"
)

// phone is one answered test call from the diago dialer: it keeps what it
// hears, presses keys, can talk, and hangs up.
type phone struct {
	d     *diago.DialogClientSession
	med   *diago.DialogMedia
	mu    sync.Mutex
	heard []int16
	done  chan struct{}
}

func call(t *testing.T, s *stack, number string) (*phone, error) {
	t.Helper()
	if s.phones == nil {
		s.phones = dialer(t)
	}
	dg := s.phones
	// The dialog lives as long as the context given to Invite: keep it for
	// the test (the 2 minute bound only stops a stuck test).
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	d, med, err := dg.Invite(ctx, sip.Uri{User: number, Host: "127.0.0.1", Port: int(s.srv.Addr().Port())}, diago.InviteOptions{})
	if err != nil {
		return nil, err
	}
	p := &phone{d: d, med: med, done: make(chan struct{})}
	t.Cleanup(func() { d.Close() })
	r, err := med.AudioReader()
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		buf := make([]byte, 1500)
		for {
			n, err := r.Read(buf)
			if err != nil {
				return
			}
			p.mu.Lock()
			p.heard = audio.DecodeMulaw(p.heard, buf[:n])
			p.mu.Unlock()
		}
	}()
	return p, nil
}

// listen waits until d of audio has arrived (bounded) and returns all heard.
func (p *phone) listen(t *testing.T, d time.Duration) []int16 {
	t.Helper()
	want := int(d.Seconds() * audio.SampleRate)
	deadline := time.Now().Add(d + 10*time.Second)
	for time.Now().Before(deadline) {
		p.mu.Lock()
		n := len(p.heard)
		p.mu.Unlock()
		if n >= want {
			break
		}
		select {
		case <-p.done:
			deadline = time.Now()
		case <-time.After(20 * time.Millisecond):
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int16(nil), p.heard...)
}

func (p *phone) press(t *testing.T, keys string) {
	t.Helper()
	w, err := p.med.AudioWriterDTMF()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if err := w.WriteDTMF(k); err != nil {
			t.Log(err)
		}
	}
}

// talk sends pcm as PCMU in real time.
func (p *phone) talk(t *testing.T, pcm []int16) {
	t.Helper()
	w, err := p.med.AudioWriter()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, 160)
	for f := range audio.Frames(pcm) {
		buf = audio.EncodeMulaw(buf[:0], f)
		if _, err := w.Write(buf); err != nil {
			t.Logf("talk stopped: %v", err)
			return
		}
	}
}

func (p *phone) hangup() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p.d.Hangup(ctx)
	p.d.Close()
}

// ended waits for the server's BYE.
func (p *phone) ended(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case <-p.d.Context().Done():
	case <-time.After(d):
		t.Fatalf("the server did not hang up within %v", d)
	}
}

// speechFraction is the share of 20 ms frames above -40 dBov.
func speechFraction(pcm []int16) float64 {
	n, loud := 0, 0
	for f := range audio.Frames(pcm) {
		n++
		if audio.Level(f) > -40 {
			loud++
		}
	}
	if n == 0 {
		return 0
	}
	return float64(loud) / float64(n)
}
