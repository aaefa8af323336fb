package voice

import (
	"context"
	"errors"

	"github.com/trunkline/trunkline/plivoxml"
)

// <Play>: an audio file from a URL, played as a prompt.
func init() {
	register(handler[plivoxml.Play]{needsAnswer: true, prompt: true, run: runPlay})
}

func runPlay(ctx context.Context, c *Call, e plivoxml.Play, _ bool) (*plivoxml.Response, error) {
	c.playPrompt(ctx, e.Name(), e.Loop, func() ([]int16, error) {
		if c.s.o.Audio == nil {
			return nil, errors.New("no audio fetcher")
		}
		return c.s.o.Audio.Get(ctx, e.URL)
	}, nil)
	return nil, nil
}
