package voice

import (
	"context"
	"strings"
	"time"

	"github.com/trunkline/trunkline/media"
	"github.com/trunkline/trunkline/plivoxml"
)

// <GetDigits>: collect key presses while prompts play, and post them to the action URL.
func init() {
	register(handler[plivoxml.GetDigits]{needsAnswer: true, run: func(ctx context.Context, c *Call, e plivoxml.GetDigits, _ bool) (*plivoxml.Response, error) {
		return c.getDigits(ctx, digitSpec{
			action: e.Action, method: e.Method, timeout: e.Timeout, digitTimeout: e.DigitTimeout,
			finishOnKey: e.FinishOnKey, numDigits: e.NumDigits, retries: e.Retries, redirect: e.Redirect,
			playBeep: e.PlayBeep, validDigits: e.ValidDigits, invalidSound: e.InvalidDigitsSound, prompts: e.Children,
		})
	}})
}

// digitSpec is GetDigits and GetInput's common shape.
type digitSpec struct {
	action, method        string
	timeout, digitTimeout time.Duration
	finishOnKey           string
	numDigits, retries    int
	redirect, playBeep    bool
	validDigits           string
	invalidSound          string
	prompts               []plivoxml.Element
	input                 bool // GetInput: posts InputType
}

// getDigits collects key presses. Prompts play until the first key (barge-in);
// the first-key timeout starts when they end. Digits never reach a log, a
// store or the audit trail: they go to the action URL only (log="false"
// therefore holds by construction, for every call).
func (c *Call) getDigits(ctx context.Context, g digitSpec) (*plivoxml.Response, error) {
	ch := c.channel()
	if ch == nil {
		return nil, nil
	}
	if g.timeout <= 0 {
		g.timeout = 5 * time.Second
	}
	if g.digitTimeout <= 0 {
		g.digitTimeout = 2 * time.Second
	}
	if g.numDigits <= 0 {
		g.numDigits = 99
	}
	if g.retries <= 0 {
		g.retries = 1
	}
	finish := g.finishOnKey
	if finish == "none" {
		finish = ""
	}
	var digits []rune
	for try := 0; try < g.retries && len(digits) == 0; try++ {
		ch.FlushDigits()
		var invalid bool
		digits, invalid = c.collect(ctx, ch, g, finish)
		if ctx.Err() != nil {
			return nil, errStop
		}
		if invalid {
			digits = nil
			if g.invalidSound != "" {
				c.prompt(ctx, plivoxml.Play{URL: g.invalidSound, Loop: 1})
			}
		}
	}
	if len(digits) == 0 {
		return nil, nil // no input: the next element runs
	}
	action, method := g.action, g.method
	if action == "" {
		c.mu.Lock()
		action, method = c.xml.url, c.xml.method
		c.mu.Unlock()
	}
	p := c.params(c.status())
	p.Set("Digits", string(digits))
	if g.input {
		p.Set("InputType", "dtmf")
		p.Set("Speech", "")
	}
	if !g.redirect {
		if _, err := c.callback(ctx, "digits", action, method, p); err != nil && ctx.Err() == nil {
			c.s.log.Warn("digits action failed", "call", c.rec.UUID, "err", err)
		}
		return nil, nil
	}
	return c.fetch(ctx, "digits", action, method, p)
}

// collect runs one try: it returns the keys pressed (without the finish
// key), or invalid when a key outside validDigits was pressed.
func (c *Call) collect(ctx context.Context, ch *media.Channel, g digitSpec, finish string) (digits []rune, invalid bool) {
	pctx, stopPrompts := context.WithCancel(ctx)
	promptsDone := make(chan struct{})
	go func() {
		defer close(promptsDone)
		for _, el := range g.prompts {
			if pctx.Err() != nil {
				return
			}
			c.prompt(pctx, el)
		}
		if g.playBeep && pctx.Err() == nil {
			ch.Play(pctx, beep)
		}
	}()
	defer func() {
		stopPrompts()
		<-promptsDone
	}()
	var timer *time.Timer
	var timeout <-chan time.Time
	prompts := promptsDone
	for {
		select {
		case <-ctx.Done():
			return nil, false
		case <-prompts:
			prompts = nil
			if len(digits) == 0 {
				timer = time.NewTimer(g.timeout)
				defer timer.Stop()
				timeout = timer.C
			}
		case <-timeout:
			return digits, false
		case d := <-ch.Digits():
			stopPrompts()
			if finish != "" && strings.ContainsRune(finish, d) {
				return digits, false
			}
			if !strings.ContainsRune(g.validDigits, d) {
				return nil, true
			}
			digits = append(digits, d)
			if len(digits) >= g.numDigits {
				return digits, false
			}
			if timer != nil {
				timer.Stop()
			}
			timer = time.NewTimer(g.digitTimeout)
			defer timer.Stop()
			timeout = timer.C
		}
	}
}
