package voice

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/audio"
	"github.com/trunkline/trunkline/callerid"
	"github.com/trunkline/trunkline/media"
	"github.com/trunkline/trunkline/plivoxml"
)

// <Dial>: ring numbers and registered phones, bridge the first to answer.
func init() {
	register(handler[plivoxml.Dial]{needsAnswer: true, run: func(ctx context.Context, c *Call, e plivoxml.Dial, inPre bool) (*plivoxml.Response, error) {
		if inPre {
			c.hangup(CauseUnsupported, "<Dial> is not allowed inside <PreAnswer>")
			return nil, errStop
		}
		return c.dial(ctx, e)
	}})
}

// dial runs <Dial>: it rings every Number (through the trunks, with
// failover) and User at once, bridges the first to answer with this call
// (audio both ways through our own pipeline, key presses regenerated as
// RFC 4733 on the other leg), cancels the rest, and reports the outcome to
// the action URL and callbackUrl.
func (c *Call) dial(ctx context.Context, d plivoxml.Dial) (*plivoxml.Response, error) {
	a := c.channel()
	if a == nil {
		return nil, nil
	}
	callerID := d.CallerID
	if callerID == "" {
		callerID = c.rec.From
	}
	ring := d.Timeout
	if ring <= 0 {
		ring = 120 * time.Second
	}
	limit := d.TimeLimit
	if limit <= 0 {
		limit = 4 * time.Hour
	}
	children := c.dialChildren(d)

	// Ring them all; the first answer wins.
	dctx, stopRinging := context.WithCancel(ctx)
	defer stopRinging()
	var (
		mu     sync.Mutex
		winner *Call
		legs   []*Call
		wg     sync.WaitGroup
	)
	won := make(chan *Call, 1)
	if reason := c.refusedCallerID(ctx, d.CallerID); reason != "" {
		// No leg is placed; each gets a CDR that says why, and the action hears
		// DialStatus=failed. The call itself goes on with its XML.
		c.s.log.Warn("<Dial> refused: callerId not allowed", "call", c.rec.UUID)
		for _, ch := range children {
			if leg := c.s.newLeg(c, ch.to, callerID, d.CallerName); leg != nil {
				leg.hangup(CauseCallerIDRefused, reason)
				leg.end()
				legs = append(legs, leg)
			}
		}
		children = nil
	}
	for _, ch := range children {
		if len(ch.targets) == 0 {
			continue
		}
		if c.s.active.Load() >= int64(c.s.o.MaxCalls) {
			continue // at max_calls: the leg is not placed (DialStatus failed)
		}
		leg := c.s.newLeg(c, ch.to, callerID, d.CallerName)
		if leg == nil {
			continue
		}
		legs = append(legs, leg)
		wg.Add(1)
		go func(leg *Call, ch dialChild) {
			defer wg.Done()
			stop := context.AfterFunc(dctx, func() {
				mu.Lock()
				lost := winner != leg
				mu.Unlock()
				switch {
				case !lost:
				case c.ctx.Err() != nil:
					// The caller hung up: the same cause the leg's own
					// watch on its parent gives, whichever comes first.
					leg.hangup(leg.parentEnded())
				default:
					leg.hangup(CauseCanceled.With(SourcePlatform), "another leg answered first")
				}
			})
			defer stop()
			o := trunkline.PlaceCall{AccountID: c.rec.AccountID, From: callerID, To: ch.to, CallerName: d.CallerName, RingTimeout: ring}
			if leg.connect(o, ch.targets) && leg.sendDigits(ch.digits) && c.confirm(leg, d) {
				mu.Lock()
				first := winner == nil
				if first {
					winner = leg
				}
				mu.Unlock()
				if first {
					won <- leg
					return
				}
				leg.hangup(CauseCanceled.With(SourcePlatform), "another leg answered first")
			}
			leg.end()
		}(leg, ch)
	}
	allDone := make(chan struct{})
	go func() { wg.Wait(); close(allDone) }()

	var music context.CancelFunc
	if d.DialMusic != "" {
		var mctx context.Context
		mctx, music = context.WithCancel(ctx)
		go c.ringback(mctx, a, d.DialMusic)
	}
	var b *Call
	select {
	case b = <-won:
	case <-allDone:
	case <-ctx.Done():
	}
	if music != nil {
		music()
	}
	stopRinging() // cancels the legs still ringing (winner excluded)
	if b == nil {
		// A leg may have won just as the caller hung up (or as the last leg
		// finished): it is this Dial's B leg all the same, and must be hung
		// up and filed like one rather than left answered with nobody on it.
		<-allDone
		select {
		case b = <-won:
		default:
		}
	}

	status, cause := "failed", ""
	if b != nil {
		status = "completed"
		if d.CallbackURL != "" {
			c.dialEvent(d, "DialAnswer", b, "")
		}
		c.mu.Lock()
		c.bridged = b
		c.mu.Unlock()
		b.mu.Lock()
		b.moveB = make(chan struct{})
		b.mu.Unlock()
		cause = c.bridge(ctx, a, b, d, limit)
		c.mu.Lock()
		c.bridged = nil
		c.mu.Unlock()
		if t := b.takeTransfer(); t != nil && b.ctx.Err() == nil {
			// legs=bleg: the B leg leaves the bridge and runs its own XML; this
			// call goes on with the XML after the Dial.
			cause = "TRANSFERRED"
			go func() {
				doc, err := b.fetch(b.ctx, "transfer", t.url, t.method, b.params(StateInProgress))
				b.runXML(b.ctx, doc, err)
				b.end()
			}()
		} else {
			b.end()
		}
	} else {
		status = dialStatus(legs)
		if len(legs) > 0 {
			cause = legs[len(legs)-1].causeName()
		}
	}
	<-allDone
	if b != nil && d.CallbackURL != "" {
		c.dialEvent(d, "DialHangup", b, cause)
	}
	return c.dialAction(ctx, d, status, cause, b, legs)
}

// dialChild is one Number or User of a Dial: where it goes and the targets
// (trunks, or the registered phone) that reach it.
type dialChild struct {
	to      string
	targets []Target
	digits  string
}

// dialChildren resolves the Dial's Numbers (by route) and Users (by
// registration); an account that requires TLS keeps only TLS targets.
func (c *Call) dialChildren(d plivoxml.Dial) []dialChild {
	var children []dialChild
	secure := c.s.secureAccount(c.rec.AccountID)
	for _, n := range d.Numbers {
		to := strings.TrimPrefix(n.Digits, "+")
		var targets []Target
		if c.s.o.Route != nil {
			targets = c.s.o.Route(to)
		}
		if secure {
			targets = secureTargets(targets)
		}
		children = append(children, dialChild{to: to, targets: targets, digits: n.SendDigits})
	}
	for _, u := range d.Users {
		var targets []Target
		if c.s.o.Locate != nil {
			if t, ok := c.s.o.Locate(u.URI); ok && (!secure || len(secureTargets([]Target{t})) == 1) {
				targets = []Target{t}
			}
		}
		children = append(children, dialChild{to: u.URI, targets: targets, digits: u.SendDigits})
	}
	return children
}

// dialAction tells the Dial's action URL how it ended (b: the B leg that
// answered, if any) and returns its XML when redirect="true" and the call
// is still up.
func (c *Call) dialAction(ctx context.Context, d plivoxml.Dial, status, cause string, b *Call, legs []*Call) (*plivoxml.Response, error) {
	if d.Action == "" {
		return nil, nil
	}
	p := c.params(c.status())
	p.Set("DialStatus", status)
	p.Set("DialRingStatus", strconv.FormatBool(b != nil || anyRang(legs)))
	p.Set("DialHangupCause", cause)
	p.Set("DialALegUUID", c.rec.UUID)
	if b != nil {
		p.Set("DialBLegUUID", b.rec.UUID)
	} else {
		p.Set("DialBLegUUID", "")
	}
	if !d.Redirect || ctx.Err() != nil {
		// The action hears how the Dial ended even when the caller has gone;
		// its XML runs only on a live call.
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := c.callback(cctx, "dial", d.Action, d.Method, p); err != nil {
			c.s.log.Warn("dial action", "call", c.rec.UUID, "err", err)
		}
		if ctx.Err() != nil {
			return nil, errStop
		}
		return nil, nil
	}
	return c.fetch(ctx, "dial", d.Action, d.Method, p)
}

// refusedCallerID says why a <Dial callerId> may not be used ("" when it may). No
// callerId, or the caller's own number on an inbound call (the default Plivo passes
// through), needs no check: the number is the real caller's. Anything else asks the
// account's caller-ID rule; a failed lookup refuses too (fail closed).
func (c *Call) refusedCallerID(ctx context.Context, callerID string) string {
	if callerID == "" || (c.rec.Direction == "inbound" && callerid.Normalize(callerID) == c.rec.From) {
		return ""
	}
	err := c.s.o.CallerIDs.Check(ctx, c.rec.AccountID, callerID, callerid.Voice)
	var refused *callerid.Refused
	switch {
	case err == nil:
		return ""
	case errors.As(err, &refused):
		return refused.Reason
	}
	c.s.log.Error("check <Dial> callerId", "call", c.rec.UUID, "err", err)
	return "the caller ID could not be checked"
}

// sendDigits sends a Number's sendDigits once the leg answers.
func (leg *Call) sendDigits(digits string) bool {
	if digits == "" {
		return true
	}
	if ch := leg.channel(); ch != nil {
		ch.SendDigits(leg.ctx, digits)
	}
	return leg.ctx.Err() == nil
}

// confirm plays confirmSound's prompts to the answered leg and, with a
// confirmKey, waits for that key from it (confirmTimeout): a leg that does
// not confirm is hung up and does not win.
func (c *Call) confirm(leg *Call, d plivoxml.Dial) bool {
	if d.ConfirmSound == "" && d.ConfirmKey == "" {
		return true
	}
	ch := leg.channel()
	if ch == nil {
		return false
	}
	ctx := leg.ctx
	timeout := d.ConfirmTimeout
	if timeout <= 0 {
		timeout = 120 * time.Second
	}
	ch.FlushDigits()
	prompts := make(chan struct{})
	go func() {
		defer close(prompts)
		if d.ConfirmSound == "" {
			return
		}
		doc, err := c.fetch(ctx, "confirm_sound", d.ConfirmSound, "POST", leg.params(StateInProgress))
		if err != nil {
			return
		}
		for _, el := range doc.Elements {
			leg.prompt(ctx, el) // Play, Speak and Wait; nothing else
		}
	}()
	if d.ConfirmKey == "" {
		<-prompts
		return ctx.Err() == nil
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case k := <-ch.Digits():
			if strings.ContainsRune(d.ConfirmKey, k) {
				return true
			}
		case <-t.C:
			leg.hangup(CauseNoAnswer.With(SourcePlatform), "the called party did not press confirmKey")
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// newLeg makes the B leg of a Dial: an outbound call with the A leg as
// parent and no XML of its own.
func (s *Server) newLeg(parent *Call, to, from, callerName string) *Call {
	now := s.o.Now().UTC()
	c := &Call{s: s, state: StateRinging, callerName: callerName,
		ad: &admission{app: &trunkline.Application{AccountID: parent.rec.AccountID}, offer: media.Offer{Codec: "PCMU", PayloadTEL: 101}}}
	c.rec = trunkline.Call{UUID: newUUID(), AccountID: parent.rec.AccountID, Direction: "outbound", From: from, To: to,
		ParentUUID: parent.rec.UUID, State: trunkline.CallRinging, InitiatedAt: now}
	// The leg ends with its parent, but through hangup, so that its cause is
	// set before its context ends. As a child context it would end with the
	// parent's and no cause: whoever saw it end first (the bridge, the CDR)
	// found none, and the leg was filed as "End Of XML Instructions".
	c.ctx, c.cancel = context.WithCancel(context.WithoutCancel(parent.ctx))
	stopFollow := context.AfterFunc(parent.ctx, func() { c.hangup(c.parentEnded()) })
	context.AfterFunc(c.ctx, func() { stopFollow() })
	if err := s.o.DB.InsertCall(c.ctx, &c.rec); err != nil {
		s.log.Error("store call", "err", err)
		c.cancel()
		return nil
	}
	s.calls.Store(c.rec.UUID, c)
	s.active.Add(1) // B legs count toward max_calls too
	context.AfterFunc(c.ctx, func() {
		s.calls.Delete(c.rec.UUID)
		s.active.Add(-1)
	})
	return c
}

// parentEnded is why a B leg ends when its A leg (the caller) has ended:
// a normal hang-up by the caller once the callee picked up (its 200 OK
// arrived, even if the leg is not yet marked answered), a cancel while
// ringing.
func (leg *Call) parentEnded() (Cause, string) {
	leg.mu.Lock()
	pickedUp := leg.pickedUp || leg.rec.AnsweredAt != nil
	leg.mu.Unlock()
	if pickedUp {
		return CauseNormal.With(SourceCaller), "the caller hung up"
	}
	return CauseCanceled.With(SourceCaller), "the caller hung up before the answer"
}

// bridge connects the two legs until one hangs up or the time limit; it
// returns the B leg's hangup cause name.
func (c *Call) bridge(ctx context.Context, a *media.Channel, bc *Call, d plivoxml.Dial, limit time.Duration) string {
	b := bc.channel()
	if b == nil {
		bc.hangup(CauseMediaFailure, "the answered leg has no media")
		return bc.causeName()
	}
	fa, fb := &media.FIFO{}, &media.FIFO{}
	b.SetFeed(fa)
	a.SetFeed(fb)
	offA := a.Tap(fa.Push)
	offB := b.Tap(fb.Push)
	defer func() {
		offA()
		offB()
		a.SetFeed(nil)
		b.SetFeed(nil)
	}()
	a.FlushDigits()
	var typedA, typedB string // keys typed so far, for digitsMatch
	t := time.NewTimer(limit)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			select {
			case <-bc.moveB: // legs=both: the B leg was transferred too
				return ""
			default:
			}
			bc.hangup(CauseNormal.With(SourceCaller), "the caller hung up or was transferred")
			return bc.causeName()
		case <-bc.ctx.Done():
			return bc.causeName()
		case <-bc.moveB:
			return "" // a transfer took the B leg away
		case <-t.C:
			bc.hangup(CauseTimeLimit, "Dial timeLimit reached")
			return bc.causeName()
		case k := <-a.Digits():
			if d.HangupOnStar && k == '*' {
				bc.hangup(CauseNormal.With(SourceCaller), "the caller pressed * (hangupOnStar)")
				return bc.causeName()
			}
			typedA = c.matchDigits(d, d.DigitsMatch, typedA+string(k), bc, "aleg")
			go b.SendDigits(bc.ctx, string(k))
		case k := <-b.Digits():
			typedB = c.matchDigits(d, d.DigitsMatchBLeg, typedB+string(k), bc, "bleg")
			go a.SendDigits(ctx, string(k))
		}
	}
}

// ringback plays dialMusic while the legs ring: "real" is a ringing tone;
// a URL names XML whose Play and Speak prompts loop.
func (c *Call) ringback(ctx context.Context, a *media.Channel, music string) {
	if music == "real" || music == "true" {
		tone := append(audio.Tone(425, 1000, -16), make([]int16, 8000*4)...)
		for ctx.Err() == nil {
			if a.Play(ctx, tone) != nil {
				return
			}
		}
		return
	}
	doc, err := c.fetch(ctx, "dial_music", music, "POST", c.params(c.status()))
	if err != nil {
		return
	}
	for ctx.Err() == nil {
		played := false
		for _, el := range doc.Elements {
			if c.prompt(ctx, el) { // Play, Speak and Wait; nothing else
				played = true
			}
		}
		if !played {
			return
		}
	}
}

// matchDigits reports a digitsMatch pattern the typed keys end with to the
// Dial's callbackUrl (Event=DialDigitsMatch) and returns the keys still
// worth keeping. Keys are relayed to the other leg either way.
func (c *Call) matchDigits(d plivoxml.Dial, patterns []string, typed string, b *Call, leg string) string {
	if len(patterns) == 0 {
		return ""
	}
	for _, p := range patterns {
		if p != "" && strings.HasSuffix(typed, p) {
			if d.CallbackURL != "" {
				c.dialEvent(d, "DialDigitsMatch", b, "", "DialDigitsMatch", p, "DialDigitsMatchLeg", leg)
			}
			return ""
		}
	}
	if len(typed) > 32 {
		typed = typed[len(typed)-32:]
	}
	return typed
}

func (c *Call) dialEvent(d plivoxml.Dial, event string, b *Call, cause string, extra ...string) {
	p := c.params(c.status())
	for i := 0; i+1 < len(extra); i += 2 {
		p.Set(extra[i], extra[i+1])
	}
	p.Set("DialAction", strings.TrimPrefix(event, "Dial"))
	p.Set("Event", event)
	p.Set("DialALegUUID", c.rec.UUID)
	p.Set("DialBLegUUID", b.rec.UUID)
	p.Set("DialBLegTo", b.rec.To)
	if cause != "" {
		p.Set("DialBLegHangupCause", cause)
	}
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c.callback(cctx, "dial_callback", d.CallbackURL, d.CallbackMethod, p)
	}()
}

func (c *Call) causeName() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.ended.set {
		return ""
	}
	return c.ended.cause.Telephony
}

// dialStatus is Plivo's DialStatus for a Dial nobody answered.
func dialStatus(legs []*Call) string {
	status := "failed"
	for _, l := range legs {
		l.mu.Lock()
		cause := l.ended.cause.Name
		l.mu.Unlock()
		switch cause {
		case CauseBusy.Name:
			status = "busy"
		case CauseNoAnswer.Name:
			if status != "busy" {
				status = "no-answer"
			}
		}
		for _, a := range l.Attempts() {
			switch a.Outcome {
			case "busy":
				status = "busy"
			case "no-answer":
				if status != "busy" {
					status = "no-answer"
				}
			}
		}
	}
	return status
}

func anyRang(legs []*Call) bool {
	for _, l := range legs {
		for _, a := range l.Attempts() {
			if a.Outcome == "no-answer" || a.Outcome == "busy" || a.Early {
				return true
			}
		}
	}
	return false
}
