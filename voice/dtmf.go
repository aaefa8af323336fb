package voice

import (
	"context"

	"github.com/trunkline/trunkline/plivoxml"
)

// <DTMF>: send key presses (RFC 4733) to the caller, optionally in the background.
func init() {
	register(handler[plivoxml.DTMF]{needsAnswer: true, run: runDTMF})
}

func runDTMF(ctx context.Context, c *Call, e plivoxml.DTMF, _ bool) (*plivoxml.Response, error) {
	ch := c.channel()
	if ch == nil {
		return nil, nil
	}
	if e.Async {
		c.bg.Add(1)
		go func() {
			defer c.bg.Done()
			ch.SendDigits(ctx, e.Digits)
		}()
	} else {
		ch.SendDigits(ctx, e.Digits)
	}
	return nil, nil
}
