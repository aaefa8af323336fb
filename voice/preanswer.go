package voice

import (
	"context"

	"github.com/trunkline/trunkline/plivoxml"
)

// <PreAnswer>: run the children as early media (183), before the answer.
func init() {
	register(handler[plivoxml.PreAnswer]{run: runPreAnswer})
}

func runPreAnswer(ctx context.Context, c *Call, e plivoxml.PreAnswer, _ bool) (*plivoxml.Response, error) {
	if c.answered() {
		// Already answered: the children simply run.
	} else if err := c.preAnswer(); err != nil {
		c.hangup(CauseMediaFailure, "early media failed: "+err.Error())
		return nil, errStop
	}
	for _, ch := range e.Children {
		next, err := c.exec(ctx, ch, true)
		if err != nil || next != nil {
			return next, err
		}
	}
	return nil, nil
}
