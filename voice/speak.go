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
	ch := c.channel()
	if ch == nil {
		return nil, nil
	}
	var (
		pcm []int16
		err error
	)
	if c.s.o.TTS == nil {
		err = errors.New("no text-to-speech engine")
	} else {
		pcm, err = c.s.o.TTS.Synthesize(ctx, e.Text, e.Voice, e.Language)
	}
	if err == nil && len(pcm) > 0 && c.s.o.Spoken != nil {
		c.mu.Lock()
		trunk := c.rec.Trunk
		c.mu.Unlock()
		c.s.o.Spoken(trunk, c.rec.UUID, c.rec.To, e.Text)
	}
	c.playPrompt(ctx, ch, e.Name(), pcm, e.Loop, err)
	return nil, nil
}
