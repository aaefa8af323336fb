package voice

import (
	"context"
	"time"

	"github.com/trunkline/trunkline/plivoxml"
)

// <Hangup>: end the call, now or on a schedule; unanswered, with a busy or
// rejected final response.
func init() {
	register(handler[plivoxml.Hangup]{run: func(ctx context.Context, c *Call, e plivoxml.Hangup, _ bool) (*plivoxml.Response, error) {
		return c.hangupElement(ctx, e)
	}})
}

func (c *Call) hangupElement(ctx context.Context, h plivoxml.Hangup) (*plivoxml.Response, error) {
	cause := CauseNormal.With(SourceAnswerXML)
	switch h.Reason {
	case "busy":
		cause = CauseBusy
	case "rejected":
		cause = CauseRejected
	}
	if h.Schedule > 0 {
		c.bg.Add(1)
		go func() {
			defer c.bg.Done()
			t := time.NewTimer(h.Schedule)
			defer t.Stop()
			select {
			case <-t.C:
				c.hangup(cause, "scheduled hangup")
			case <-ctx.Done():
			}
		}()
		return nil, nil
	}
	c.hangup(cause, "")
	return nil, errStop
}
