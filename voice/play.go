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
	ch := c.channel()
	if ch == nil {
		return nil, nil
	}
	var (
		pcm []int16
		err error
	)
	if c.s.o.Audio == nil {
		err = errors.New("no audio fetcher")
	} else {
		pcm, err = c.s.o.Audio.Get(ctx, e.URL)
	}
	c.playPrompt(ctx, ch, e.Name(), pcm, e.Loop, err)
	return nil, nil
}
