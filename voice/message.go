package voice

import (
	"context"
	"strings"

	"github.com/trunkline/trunkline/plivoxml"
)

// <Message>: send an SMS during the call.
func init() {
	register(handler[plivoxml.Message]{run: func(ctx context.Context, c *Call, e plivoxml.Message, _ bool) (*plivoxml.Response, error) {
		c.message(ctx, e)
		return nil, nil
	}})
}

func (c *Call) message(ctx context.Context, m plivoxml.Message) {
	if c.s.o.Messages == nil {
		c.s.log.Warn("<Message> skipped: messaging is off", "call", c.rec.UUID)
		return
	}
	src := m.Src
	if src == "" {
		src = c.rec.To
	}
	for _, dst := range strings.Split(m.Dst, "<") {
		if err := c.s.o.Messages.SendSMS(ctx, c.rec.AccountID, src, dst, m.Text, m.CallbackURL, m.CallbackMethod); err != nil {
			c.s.log.Warn("<Message> not sent", "call", c.rec.UUID, "err", err)
		}
	}
}
