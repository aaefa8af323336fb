package voice

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/trunkline/trunkline/audio"
	"github.com/trunkline/trunkline/media"
	"github.com/trunkline/trunkline/plivoxml"
	"github.com/trunkline/trunkline/webhook"
)

// maxDocuments bounds how many XML documents one call may fetch (Redirect,
// GetDigits and Record actions): an application that redirects to itself
// forever ends instead of looping.
const maxDocuments = 100

// errStop ends the document: the call is ending or a new document takes over.
var errStop = errors.New("stop")

// interpret runs the application: fetch the answer XML (or the fallback),
// then execute documents until one ends the call or runs out.
func (c *Call) interpret(ctx context.Context) {
	if c.doc != nil {
		// The platform's own document: nothing to fetch.
		c.runXML(ctx, c.doc, nil)
		return
	}
	app := c.ad.app
	if app == nil {
		c.hangup(CauseAnswerFailed, "no application to run")
		return
	}
	doc, err := c.fetch(ctx, "answer", app.AnswerURL, app.AnswerMethod, c.params(c.firstState))
	if err != nil && app.FallbackAnswerURL != "" && ctx.Err() == nil {
		c.s.log.Info("answer_url failed; using fallback_answer_url", "call", c.rec.UUID, "err", err)
		fdoc, ferr := c.fetch(ctx, "fallback", app.FallbackAnswerURL, app.FallbackMethod, c.params(c.firstState))
		if ferr == nil {
			doc, err = fdoc, nil
		}
		// When both fail, the answer_url's failure is the one to report.
	}
	c.runXML(ctx, doc, err)
}

// runXML executes documents, starting with doc (or ending at once on err),
// until one ends the call or runs out.
func (c *Call) runXML(ctx context.Context, doc *plivoxml.Response, err error) {
	for n := 0; ; n++ {
		if err != nil {
			if ctx.Err() == nil {
				var xe *xmlError
				if errors.As(err, &xe) {
					c.hangup(CauseInvalidXML, err.Error())
				} else {
					c.hangup(CauseAnswerFailed, err.Error())
				}
			}
			return
		}
		if doc == nil || ctx.Err() != nil {
			return
		}
		if n >= maxDocuments {
			c.hangup(CauseInvalidXML, fmt.Sprintf("more than %d XML documents in one call", maxDocuments))
			return
		}
		// Each document runs under its own context, so a transfer (the Call
		// API) can stop it wherever it is and start the new URL's XML.
		dctx, stop := context.WithCancel(ctx)
		c.mu.Lock()
		c.stopDoc = stop
		c.mu.Unlock()
		doc, err = c.runDocument(dctx, doc)
		stop()
		if t := c.takeTransfer(); t != nil && ctx.Err() == nil {
			doc, err = c.fetch(ctx, "transfer", t.url, t.method, c.params(c.status()))
			if err != nil {
				err = fmt.Errorf("transfer: %w", err)
			}
		}
	}
}

// xmlError is a reply that was not valid Plivo XML.
type xmlError struct{ err error }

func (e *xmlError) Error() string { return "invalid XML from the application: " + e.err.Error() }

// fetch requests a document and parses it.
func (c *Call) fetch(ctx context.Context, kind, rawURL, method string, p url.Values) (*plivoxml.Response, error) {
	res, err := c.callback(ctx, kind, rawURL, method, p)
	if err != nil {
		return nil, err
	}
	if res.Truncated {
		return nil, &xmlError{fmt.Errorf("reply is over %d bytes", plivoxml.MaxSize)}
	}
	doc, err := plivoxml.ParseResponse(res.Body)
	if err != nil {
		return nil, &xmlError{err}
	}
	c.mu.Lock()
	c.docURL, c.docMethod = rawURL, method
	c.mu.Unlock()
	return doc, nil
}

// callback sends one signed request about this call and wants a 2xx.
func (c *Call) callback(ctx context.Context, kind, rawURL, method string, p url.Values) (*webhook.Response, error) {
	own, main, err := c.s.o.Tokens.SigningTokens(ctx, c.rec.AccountID)
	if err != nil {
		return nil, fmt.Errorf("%s: signing tokens: %w", kind, err)
	}
	if method == "" {
		method = "POST"
	}
	res, err := c.s.o.Webhooks.Do(ctx, webhook.Request{AccountID: c.rec.AccountID, Kind: kind, ObjectID: c.rec.UUID,
		URL: rawURL, Method: method, Params: p, AuthToken: own, MainAuthToken: main})
	if err != nil {
		return nil, fmt.Errorf("%s URL failed: %w", kind, err)
	}
	if res.Status < 200 || res.Status > 299 {
		return nil, fmt.Errorf("%s URL answered HTTP %d", kind, res.Status)
	}
	return res, nil
}

// needsAnswer says whether an element needs the call off hook first. The
// ones that do not can reject a call unanswered (Hangup reason="busy") or
// play early media (PreAnswer).
func needsAnswer(el plivoxml.Element) bool {
	switch el.(type) {
	case *plivoxml.Hangup, plivoxml.Hangup, *plivoxml.PreAnswer, plivoxml.PreAnswer,
		*plivoxml.Redirect, plivoxml.Redirect, *plivoxml.Message, plivoxml.Message:
		return false
	}
	return true
}

// runDocument executes one document's elements in order. It returns the next
// document when an element hands over (Redirect, an action with
// redirect=true), or nil when this one ran out.
func (c *Call) runDocument(ctx context.Context, doc *plivoxml.Response) (*plivoxml.Response, error) {
	for _, el := range doc.Elements {
		if ctx.Err() != nil {
			return nil, nil
		}
		if needsAnswer(el) {
			if err := c.answer(); err != nil {
				return nil, nil
			}
		}
		next, err := c.exec(ctx, el, false)
		if err != nil || next != nil {
			return next, err
		}
	}
	return nil, nil
}

// exec runs one element. inPre is true inside PreAnswer.
func (c *Call) exec(ctx context.Context, el plivoxml.Element, inPre bool) (*plivoxml.Response, error) {
	switch e := deref(el).(type) {
	case plivoxml.Speak, plivoxml.Play, plivoxml.Wait:
		c.prompt(ctx, e)
	case plivoxml.GetDigits:
		return c.getDigits(ctx, digitSpec{
			action: e.Action, method: e.Method, timeout: e.Timeout, digitTimeout: e.DigitTimeout,
			finishOnKey: e.FinishOnKey, numDigits: e.NumDigits, retries: e.Retries, redirect: e.Redirect,
			playBeep: e.PlayBeep, validDigits: e.ValidDigits, invalidSound: e.InvalidDigitsSound, prompts: e.Children,
		})
	case plivoxml.GetInput:
		if !strings.Contains(e.InputType, "dtmf") {
			c.hangup(CauseUnsupported, "GetInput inputType=\"speech\" needs speech recognition, which this server does not have")
			return nil, errStop
		}
		// Speech in "dtmf speech" is not recognised; key presses are.
		digitTimeout := e.DigitEndTimeout
		if digitTimeout == 0 {
			digitTimeout = 5 * time.Second
		}
		numDigits := e.NumDigits
		if numDigits == 0 {
			numDigits = 99
		}
		return c.getDigits(ctx, digitSpec{
			action: e.Action, method: e.Method, timeout: e.ExecutionTimeout, digitTimeout: digitTimeout,
			finishOnKey: e.FinishOnKey, numDigits: numDigits, retries: 1, redirect: e.Redirect,
			validDigits: "1234567890*#", prompts: e.Children, input: true,
		})
	case plivoxml.Record:
		return c.record(ctx, e)
	case plivoxml.Hangup:
		return c.hangupElement(ctx, e)
	case plivoxml.Redirect:
		return c.fetch(ctx, "redirect", e.URL, e.Method, c.params(c.status()))
	case plivoxml.PreAnswer:
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
	case plivoxml.DTMF:
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
	case plivoxml.Message:
		c.message(ctx, e)
	case plivoxml.Dial:
		if inPre {
			c.hangup(CauseUnsupported, "<Dial> is not allowed inside <PreAnswer>")
			return nil, errStop
		}
		return c.dial(ctx, e)
	default:
		c.hangup(CauseUnsupported, fmt.Sprintf("<%s> is not available on this server yet", el.Name()))
		return nil, errStop
	}
	return nil, nil
}

// deref lets the interpreter switch on values whether the parser hands out
// values or pointers.
func deref(el plivoxml.Element) plivoxml.Element {
	switch e := el.(type) {
	case *plivoxml.Speak:
		return *e
	case *plivoxml.Play:
		return *e
	case *plivoxml.Wait:
		return *e
	case *plivoxml.GetDigits:
		return *e
	case *plivoxml.GetInput:
		return *e
	case *plivoxml.Record:
		return *e
	case *plivoxml.Hangup:
		return *e
	case *plivoxml.Redirect:
		return *e
	case *plivoxml.PreAnswer:
		return *e
	case *plivoxml.DTMF:
		return *e
	case *plivoxml.Message:
		return *e
	case *plivoxml.Dial:
		return *e
	}
	return el
}

func (c *Call) status() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

func (c *Call) answered() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rec.AnsweredAt != nil
}

// prompt plays one Speak, Play or Wait. Errors in fetching or synthesising a
// prompt skip it (and are logged without its text), as a prompt that cannot
// play should not drop the caller.
func (c *Call) prompt(ctx context.Context, el plivoxml.Element) {
	ch := c.channel()
	if ch == nil {
		return
	}
	var (
		pcm  []int16
		loop int
		err  error
	)
	switch e := deref(el).(type) {
	case plivoxml.Speak:
		loop = e.Loop
		if c.s.o.TTS == nil {
			err = errors.New("no text-to-speech engine")
		} else {
			pcm, err = c.s.o.TTS.Synthesize(ctx, e.Text, e.Voice, e.Language)
		}
	case plivoxml.Play:
		loop = e.Loop
		if c.s.o.Audio == nil {
			err = errors.New("no audio fetcher")
		} else {
			pcm, err = c.s.o.Audio.Get(ctx, e.URL)
		}
	case plivoxml.Wait:
		c.wait(ctx, e)
		return
	default:
		return
	}
	if err != nil {
		if ctx.Err() == nil {
			c.s.log.Warn("prompt skipped", "call", c.rec.UUID, "element", el.Name(), "err", err)
		}
		return
	}
	if len(pcm) == 0 {
		return
	}
	if sp, ok := deref(el).(plivoxml.Speak); ok && c.s.o.Spoken != nil {
		c.mu.Lock()
		trunk := c.rec.Trunk
		c.mu.Unlock()
		c.s.o.Spoken(trunk, c.rec.UUID, c.rec.To, sp.Text)
	}
	// loop 0 repeats until the call ends (or the prompt is barged in on).
	for i := 0; loop == 0 || i < loop; i++ {
		if ch.Play(ctx, pcm) != nil {
			return
		}
	}
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
		action, method = c.docURL, c.docMethod
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

// beep is the tone before a recording or after GetDigits prompts.
var beep = audio.Tone(1000, 250, -12)

var _ = strconv.Itoa
