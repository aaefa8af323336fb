package voice

import (
	"context"
	"errors"

	"github.com/trunkline/trunkline/plivoxml"
)

// <Speak>: text-to-speech, played as a prompt.
func init() {
	register(handler[plivoxml.Speak]{needsAnswer: true, prompt: true, run: runSpeak})
}

func runSpeak(ctx context.Context, c *Call, e plivoxml.Speak, _ bool) (*plivoxml.Response, error) {
	synthesize := func() ([]int16, error) {
		if c.s.o.TTS == nil {
			return nil, errors.New("no text-to-speech engine")
		}
		return c.s.o.TTS.Synthesize(ctx, e.Text, e.Voice, e.Language)
	}
	spoken := func() {
		if c.s.o.Spoken != nil {
			c.mu.Lock()
			trunk := c.rec.Trunk
			c.mu.Unlock()
			c.s.o.Spoken(trunk, c.rec.UUID, c.rec.To, e.Text)
		}
	}
	c.playPrompt(ctx, e.Name(), e.Loop, synthesize, spoken)
	return nil, nil
}
