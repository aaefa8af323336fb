package voice

import (
	"context"
	"time"

	"github.com/trunkline/trunkline/audio"
	"github.com/trunkline/trunkline/plivoxml"
)

// <Wait>: hold the line (a prompt of silence).
func init() {
	register(handler[plivoxml.Wait]{needsAnswer: true, prompt: true, run: runWait})
}

func runWait(ctx context.Context, c *Call, e plivoxml.Wait, _ bool) (*plivoxml.Response, error) {
	if c.channel() != nil {
		c.wait(ctx, e)
	}
	return nil, nil
}

// wait holds the line; silence="true" ends early once the caller has been
// quiet for minSilence. (beep="true", voicemail-beep detection, waits the
// full length.)
func (c *Call) wait(ctx context.Context, w plivoxml.Wait) {
	length := w.Length
	if length <= 0 {
		length = time.Second
	}
	t := time.NewTimer(length)
	defer t.Stop()
	var quiet chan struct{}
	if ch := c.channel(); w.Silence && ch != nil {
		quiet = make(chan struct{})
		var st audio.SilenceTimer
		fired := false
		remove := ch.Tap(func(f []int16) {
			if !fired && st.Add(f) >= w.MinSilence {
				fired = true
				close(quiet)
			}
		})
		defer remove()
	}
	select {
	case <-t.C:
	case <-quiet:
	case <-ctx.Done():
	}
}
