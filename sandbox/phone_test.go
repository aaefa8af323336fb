package sandbox_test

import (
	"context"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/diago"
	"github.com/emiago/sipgo/sip"

	"github.com/trunkline/trunkline/audio"
	"github.com/trunkline/trunkline/internal/peer"
	"github.com/trunkline/trunkline/sandbox"
)

// uac is a SIP phone built on diago that calls the sandbox phone.
func uac(t *testing.T) *diago.Diago { return peer.DiagoPhone(t, "test-caller") }

func startPhone(t *testing.T, o sandbox.PhoneOptions) *sandbox.Phone {
	t.Helper()
	p := sandbox.NewPhone(o)
	if err := p.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	if !strings.HasPrefix(p.Addr().String(), "127.0.0.1:") || strings.HasSuffix(p.Addr().String(), ":0") {
		t.Fatalf("Addr %q", p.Addr())
	}
	return p
}

func dial(t *testing.T, dg *diago.Diago, p *sandbox.Phone, number string) (*diago.DialogClientSession, *diago.DialogMedia) {
	t.Helper()
	host, port, _ := net.SplitHostPort(p.Addr().String())
	pn, _ := strconv.Atoi(port)
	// The dialog lives as long as this context: the test's bound.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	d, med, err := dg.Invite(ctx, sip.Uri{User: number, Host: host, Port: pn}, diago.InviteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, med
}

// ended waits until the phone's record of the call to number is complete.
func ended(t *testing.T, p *sandbox.Phone, number string, d time.Duration) sandbox.PhoneCall {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		for _, c := range p.Recent() {
			if c.To == number && !c.EndedAt.IsZero() && c.HungUpBy != "" {
				return c
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no finished call to %s within %v: %+v", number, d, p.Recent())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// allEnded waits until the phone has n calls, all complete.
func allEnded(t *testing.T, p *sandbox.Phone, n int, d time.Duration) []sandbox.PhoneCall {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		calls := p.Recent()
		done := len(calls) == n
		for _, c := range calls {
			done = done && !c.EndedAt.IsZero() && c.HungUpBy != ""
		}
		if done {
			return calls
		}
		if time.Now().After(deadline) {
			t.Fatalf("want %d finished calls within %v: %+v", n, d, calls)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// byeFromPhone waits for the phone to end the dialog.
func byeFromPhone(t *testing.T, d *diago.DialogClientSession, within time.Duration) {
	t.Helper()
	select {
	case <-d.Context().Done():
	case <-time.After(within):
		t.Fatalf("the phone did not hang up within %v", within)
	}
}

// A caller talks (a 440 Hz tone) for 2 s and hangs up.
func TestPhoneHearsCallerUntilBye(t *testing.T) {
	p := startPhone(t, sandbox.PhoneOptions{})
	dg := uac(t)
	d, med := dial(t, dg, p, "14155550101")
	w, err := med.AudioWriter()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, 160)
	for f := range audio.Frames(audio.Tone(440, 2000, -12)) {
		buf = audio.EncodeMulaw(buf[:0], f)
		if _, err := w.Write(buf); err != nil { // paced at 20 ms by diago
			t.Fatal(err)
		}
	}
	hctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.Hangup(hctx); err != nil {
		t.Fatal(err)
	}
	c := ended(t, p, "14155550101", 5*time.Second)
	if c.AnsweredAt.IsZero() || c.AnsweredAt.Before(c.At) || c.EndedAt.Before(c.AnsweredAt) {
		t.Fatalf("times: %+v", c)
	}
	if c.HungUpBy != "caller" {
		t.Fatalf("HungUpBy %q", c.HungUpBy)
	}
	if c.SpeechSeconds < 1.5 || c.SpeechSeconds > 2.5 {
		t.Fatalf("SpeechSeconds %.2f, want about 2", c.SpeechSeconds)
	}
	if !strings.HasPrefix(c.ID, "PH") {
		t.Fatalf("ID %q", c.ID)
	}
}

// A silent caller who never hangs up: the phone ends the call at
// MaxCallTime. Spoken attaches to the newest call to the number, live or
// just ended, and to nothing else.
func TestPhoneMaxCallTimeAndSpoken(t *testing.T) {
	var clock struct {
		sync.Mutex
		skew time.Duration
	}
	now := func() time.Time {
		clock.Lock()
		defer clock.Unlock()
		return time.Now().Add(clock.skew)
	}
	p := startPhone(t, sandbox.PhoneOptions{MaxCallTime: time.Second, Now: now})
	dg := uac(t)
	first, _ := dial(t, dg, p, "14155550102")
	second, _ := dial(t, dg, p, "14155550102")
	other, _ := dial(t, dg, p, "14155550103")
	p.Spoken("14155550102", "Your code is 4 5 6") // both live: the newest gets it
	p.Spoken("19999999999", "nobody")             // no call to this number
	for _, d := range []*diago.DialogClientSession{first, second, other} {
		byeFromPhone(t, d, 5*time.Second)
	}
	ended(t, p, "14155550103", 5*time.Second)
	p.Spoken("14155550103", "after the end") // ended moments ago: still attached

	calls := allEnded(t, p, 3, 5*time.Second)
	// Newest first.
	if calls[0].To != "14155550103" || calls[1].To != "14155550102" || calls[2].To != "14155550102" || calls[1].At.Before(calls[2].At) {
		t.Fatalf("order: %+v", calls)
	}
	for _, c := range calls {
		if c.HungUpBy != "phone" || c.AnsweredAt.IsZero() {
			t.Fatalf("call %+v: want hung up by the phone", c)
		}
		if c.SpeechSeconds >= 0.2 {
			t.Fatalf("silent caller: SpeechSeconds %.2f", c.SpeechSeconds)
		}
		if d := c.EndedAt.Sub(c.AnsweredAt); d < 900*time.Millisecond || d > 4*time.Second {
			t.Fatalf("call lasted %v, MaxCallTime is 1 s", d)
		}
	}
	if got := strings.Join(calls[1].Spoken, "|"); got != "Your code is 4 5 6" {
		t.Fatalf("newest call to the number heard %q", got)
	}
	if len(calls[2].Spoken) != 0 {
		t.Fatalf("older call got %q", calls[2].Spoken)
	}
	if got := strings.Join(calls[0].Spoken, "|"); got != "after the end" {
		t.Fatalf("just-ended call got %q", got)
	}
	// A minute after the end, nothing attaches any more.
	clock.Lock()
	clock.skew = 2 * time.Minute
	clock.Unlock()
	p.Spoken("14155550103", "too late")
	if got := p.Recent()[0].Spoken; len(got) != 1 {
		t.Fatalf("a call over for minutes got more text: %q", got)
	}
	// Recent hands out copies.
	r := p.Recent()
	r[0].Spoken[0] = "changed"
	if p.Recent()[0].Spoken[0] != "after the end" {
		t.Fatal("Recent shares its slices")
	}
}

// Close hangs up live calls and waits for them.
func TestPhoneCloseHangsUp(t *testing.T) {
	p := sandbox.NewPhone(sandbox.PhoneOptions{Keep: 1})
	if err := p.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	dg := uac(t)
	dial(t, dg, p, "14155550104")
	d, _ := dial(t, dg, p, "14155550105")
	done := make(chan error, 1)
	go func() { done <- p.Close() }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("Close did not return")
	}
	byeFromPhone(t, d, 5*time.Second)
	calls := p.Recent()
	if len(calls) != 1 || calls[0].To != "14155550105" { // Keep: 1
		t.Fatalf("calls %+v", calls)
	}
	if c := calls[0]; c.HungUpBy != "phone" || c.EndedAt.IsZero() {
		t.Fatalf("call %+v", c)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// A caller who hangs up the moment the call is answered (its BYE may
// overtake its ACK): the record still shows an answered call the caller
// ended.
func TestPhoneCallerHangsUpAtOnce(t *testing.T) {
	p := startPhone(t, sandbox.PhoneOptions{})
	dg := uac(t)
	for i := range 3 {
		number := "1415555020" + strconv.Itoa(i)
		d, _ := dial(t, dg, p, number)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := d.Hangup(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		c := ended(t, p, number, 5*time.Second)
		if c.AnsweredAt.IsZero() || c.HungUpBy != "caller" {
			t.Fatalf("call %+v", c)
		}
	}
}
