package voice

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"reflect"

	"github.com/trunkline/trunkline/audio"
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
		c.xml.stop = stop
		c.mu.Unlock()
		doc, err = c.runDocument(dctx, doc)
		stop()
		if t := c.takeTransfer(); t != nil && t.doc != nil && ctx.Err() == nil {
			doc, err = t.doc, nil
		} else if t != nil && ctx.Err() == nil {
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
	c.xml.url, c.xml.method = rawURL, method
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

// runDocument executes one document's elements in order. It returns the next
// document when an element hands over (Redirect, an action with
// redirect=true), or nil when this one ran out.
func (c *Call) runDocument(ctx context.Context, doc *plivoxml.Response) (*plivoxml.Response, error) {
	for _, el := range doc.Elements {
		if ctx.Err() != nil {
			return nil, nil
		}
		if h, _, ok := lookup(el); !ok || h.needsAnswer {
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

// beep is the tone before a recording or after GetDigits prompts.
var beep = audio.Tone(1000, 250, -12)

// element is how the interpreter runs one kind of XML element. Each element's
// file registers its handler in elements (register, in an init func): adding an
// element to the interpreter is adding its file.
type element struct {
	// needsAnswer: the call goes off hook before the element runs. The ones
	// that need not can reject a call unanswered (Hangup reason="busy") or
	// play early media (PreAnswer).
	needsAnswer bool
	// prompt: the element may play as a prompt (GetDigits' and GetInput's
	// children, Dial's confirmSound and dialMusic documents).
	prompt bool
	// run executes the element (inPre: inside PreAnswer). It returns the next
	// document when the element hands over (Redirect, an action with
	// redirect=true), or errStop when the document must end.
	run func(ctx context.Context, c *Call, el plivoxml.Element, inPre bool) (*plivoxml.Response, error)
}

// elements is the interpreter's table: one handler per element type.
var elements = map[reflect.Type]element{}

// handler is an element's handler as its file writes it, typed by the element.
type handler[E plivoxml.Element] struct {
	needsAnswer, prompt bool
	run                 func(ctx context.Context, c *Call, e E, inPre bool) (*plivoxml.Response, error)
}

// register puts E's handler in the table.
func register[E plivoxml.Element](h handler[E]) {
	elements[reflect.TypeFor[E]()] = element{needsAnswer: h.needsAnswer, prompt: h.prompt,
		run: func(ctx context.Context, c *Call, el plivoxml.Element, inPre bool) (*plivoxml.Response, error) {
			return h.run(ctx, c, el.(E), inPre)
		}}
}

// lookup finds el's handler, and el as the value it is registered under
// (the parser may hand out values or pointers).
func lookup(el plivoxml.Element) (element, plivoxml.Element, bool) {
	if v := reflect.ValueOf(el); v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return element{}, el, false
		}
		e, ok := v.Elem().Interface().(plivoxml.Element)
		if !ok {
			return element{}, el, false
		}
		el = e
	}
	h, ok := elements[reflect.TypeOf(el)]
	return h, el, ok
}

// exec runs one element. inPre is true inside PreAnswer.
func (c *Call) exec(ctx context.Context, el plivoxml.Element, inPre bool) (*plivoxml.Response, error) {
	h, e, ok := lookup(el)
	if !ok {
		c.hangup(CauseUnsupported, fmt.Sprintf("<%s> is not available on this server yet", el.Name()))
		return nil, errStop
	}
	return h.run(ctx, c, e, inPre)
}

// prompt plays el if it is a prompt element (Speak, Play, Wait), and says
// whether it was one.
func (c *Call) prompt(ctx context.Context, el plivoxml.Element) bool {
	h, e, ok := lookup(el)
	if !ok || !h.prompt {
		return false
	}
	h.run(ctx, c, e, false)
	return true
}

// playPrompt plays the audio pcmOf fetches or synthesises, loop times (0:
// until the call ends or the prompt is barged in on); ready, when set, is
// called once there is audio to play. Errors in fetching or synthesising a
// prompt skip it (and are logged without its text), as a prompt that cannot
// play should not drop the caller.
func (c *Call) playPrompt(ctx context.Context, name string, loop int, pcmOf func() ([]int16, error), ready func()) {
	ch := c.channel()
	if ch == nil {
		return
	}
	pcm, err := pcmOf()
	if err != nil {
		if ctx.Err() == nil {
			c.s.log.Warn("prompt skipped", "call", c.rec.UUID, "element", name, "err", err)
		}
		return
	}
	if len(pcm) > 0 && ready != nil {
		ready()
	}
	for i := 0; len(pcm) > 0 && (loop == 0 || i < loop); i++ {
		if ch.Play(ctx, pcm) != nil {
			return
		}
	}
}
