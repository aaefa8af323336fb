package voice

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/emiago/diago"
	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/callerid"
	"github.com/trunkline/trunkline/media"
	"github.com/trunkline/trunkline/plivoxml"
)

// Target is one way out for a call: a trunk (or a registered phone) and
// its address. Report tells the trunk's health what happened.
type Target struct {
	Name               string
	URI                sip.Uri // sip:{number}@host:port;transport=…
	Username, Password string  // digest credentials, if the trunk asks
	// Destination ("host:port") overrides where the INVITE is sent: a phone
	// behind NAT registered a private Contact from a public address.
	Destination string
	Report      func(ok, timeout bool)
}

// Attempt is one try of a call on one target.
type Attempt struct {
	Target  string
	Status  int    // final SIP status; 0 when none arrived
	Outcome string // answered, failover, busy, no-answer, rejected, failed
	Early   bool   // early media was received
	Took    time.Duration
}

// failoverStatus says whether a final status lets the call try the next
// trunk. No answer at all always does. By default 408 and 5xx do (the trunk
// failed) and 404, 486, 603 and other 4xx end the attempt (the callee
// answered for itself); Options.FailoverCodes replaces the default list.
func (s *Server) failoverStatus(code int) bool {
	if code == 0 {
		return true
	}
	if s.o.FailoverCodes != nil {
		for _, c := range s.o.FailoverCodes {
			if c == code {
				return true
			}
		}
		return false
	}
	return code == 408 || (code >= 500 && code <= 599)
}

// Place places an outbound call (trunkline.CallService): see Originate.
func (s *Server) Place(_ context.Context, o trunkline.PlaceCall) error {
	_, err := s.Originate(o)
	return err
}

// Originate places an outbound call: it returns once the call is queued
// and runs it in the background (trying the targets in order), then the
// application's XML (o.App's answer_url, or o.Document) once the callee
// answers. Errors: trunkline.ErrNoRoute, trunkline.ErrTooManyCalls, the
// caller-ID rule's *callerid.Refused, or an internal one.
func (s *Server) Originate(o trunkline.PlaceCall) (*Call, error) {
	if s.draining.Load() {
		return nil, errors.New("the server is shutting down")
	}
	if o.App.AnswerURL == "" && o.Document == "" {
		return nil, errors.New("voice: an outbound call needs an application or a document")
	}
	var doc *plivoxml.Response
	if o.Document != "" {
		var err error
		if doc, err = plivoxml.ParseResponse([]byte(o.Document)); err != nil {
			// The document may hold a secret: the error says where, never what.
			return nil, &trunkline.Error{Code: trunkline.EINVALID, Message: "voice: the call's document is not valid XML"}
		}
	}
	var app *trunkline.Application
	if o.App.AnswerURL != "" {
		app = &o.App
	}
	if !o.Platform {
		// Every placed call asks the one caller-ID rule; the API asked already (for
		// its 400), this covers any other caller of Originate.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := s.o.CallerIDs.Check(ctx, o.AccountID, o.From, callerid.Voice)
		cancel()
		if err != nil {
			return nil, err
		}
	}
	if s.active.Load() >= int64(s.o.MaxCalls) {
		return nil, trunkline.ErrTooManyCalls
	}
	if s.o.Route == nil {
		return nil, trunkline.ErrNoRoute
	}
	targets := s.o.Route(o.To)
	if s.secureAccount(o.AccountID) {
		targets = secureTargets(targets)
	}
	if len(targets) == 0 {
		return nil, trunkline.ErrNoRoute
	}
	if o.RingTimeout <= 0 {
		o.RingTimeout = 120 * time.Second
	}
	if o.TimeLimit <= 0 {
		o.TimeLimit = 4 * time.Hour
	}
	now := s.o.Now().UTC()
	c := &Call{s: s, state: StateRinging, firstState: StateInProgress, callerName: o.CallerName,
		ringURL: o.RingURL, ringMethod: o.RingMethod, doc: doc,
		ad: &admission{app: app, offer: media.Offer{Codec: "PCMU", PayloadTEL: 101}}}
	c.rec = trunkline.Call{UUID: newUUID(), AccountID: o.AccountID, Direction: "outbound", From: o.From, To: o.To,
		RequestUUID: o.RequestUUID, ParentUUID: o.ParentUUID, State: trunkline.CallRinging, InitiatedAt: now}
	if app != nil {
		c.rec.AppID = app.ID
	}
	c.ctx, c.cancel = context.WithCancel(s.ctx)
	c.keepHangupURL()
	if err := s.o.DB.InsertCall(c.ctx, &c.rec); err != nil {
		c.cancel()
		return nil, fmt.Errorf("store call: %w", err)
	}
	s.active.Add(1)
	s.calls.Store(c.rec.UUID, c)
	if o.RequestUUID != "" {
		s.requests.Store(o.RequestUUID, c)
	}
	go func() {
		defer s.active.Add(-1)
		defer func() {
			s.calls.Delete(c.rec.UUID)
			if o.RequestUUID != "" {
				s.requests.Delete(o.RequestUUID)
			}
			c.cancel()
		}()
		c.runOutbound(o, targets)
	}()
	return c, nil
}

func (c *Call) runOutbound(o trunkline.PlaceCall, targets []Target) {
	limit := time.AfterFunc(o.TimeLimit, func() { c.hangup(CauseTimeLimit, "time_limit reached") })
	defer limit.Stop()
	if c.connect(o, targets) {
		if o.SendDigits != "" {
			if ch := c.channel(); ch != nil {
				ch.SendDigits(c.ctx, o.SendDigits)
			}
		}
		c.interpret(c.ctx)
	}
	c.end()
}

// connect tries the targets in order until one answers (true), the call is
// refused in a way that ends it, or they run out; the cause is then set.
func (c *Call) connect(o trunkline.PlaceCall, targets []Target) bool {
	for i, t := range targets {
		if c.ctx.Err() != nil {
			break
		}
		a, cause, reason, failover := c.try(o, t)
		c.mu.Lock()
		c.attempts = append(c.attempts, a)
		c.mu.Unlock()
		c.s.log.Info("outbound attempt", "call", c.rec.UUID, "trunk", t.Name, "status", a.Status, "outcome", a.Outcome, "why", reason)
		if a.Outcome == "answered" {
			return true
		}
		if !failover || i == len(targets)-1 {
			c.hangup(cause, reason)
			return false
		}
	}
	return false
}

// try places the call on one target.
func (c *Call) try(o trunkline.PlaceCall, t Target) (a Attempt, cause Cause, reason string, failover bool) {
	a = Attempt{Target: t.Name}
	start := time.Now()
	defer func() { a.Took = time.Since(start) }()
	// The ring context lives as long as the call (diago ties the dialog to
	// the context its INVITE was sent with); the ring timeout cancels it
	// only while the callee has not answered.
	ringCtx, cancelRing := context.WithCancel(c.ctx)
	var (
		mu       sync.Mutex
		ringing  bool
		answered bool
	)
	var responded bool
	timer := time.AfterFunc(o.RingTimeout, func() {
		mu.Lock()
		defer mu.Unlock()
		if !answered {
			cancelRing()
		}
	})
	defer timer.Stop()
	// A trunk that does not answer at all (not even 100 Trying) within
	// TrunkTimeout is down: the call moves on instead of waiting for the
	// INVITE transaction's 32 s.
	gaveUp := make(chan struct{})
	silent := time.AfterFunc(c.s.o.TrunkTimeout, func() {
		mu.Lock()
		defer mu.Unlock()
		if !responded && !answered {
			close(gaveUp)
			cancelRing()
		}
	})
	defer silent.Stop()
	d, err := c.s.dg.NewDialog(t.URI, diago.NewDialogOptions{Transport: t.URI.UriParams.GetOr("transport", "udp")})
	if err != nil {
		cancelRing()
		return a, CauseMediaFailure, "cannot create the dialog: " + err.Error(), false
	}
	if t.Destination != "" {
		// A registered phone: the INVITE goes where it registered from and
		// the requests in its dialog (ACK, BYE) where it answered from, over
		// its own connection for TCP and TLS; never to its Contact, which
		// behind NAT names an address nobody can reach.
		d.InviteRequest.SetDestination(t.Destination)
		d.UA.RewriteContact = true
	}
	opts := diago.InviteClientOptions{Username: t.Username, Password: t.Password}
	host := c.s.o.ExternalHost
	if host == "" {
		host = c.s.addr.Addr().String()
	}
	opts.WithCaller(o.CallerName, o.From, host)
	for _, h := range o.SIPHeaders {
		if k, v, ok := strings.Cut(h, ":"); ok {
			opts.Headers = append(opts.Headers, sip.NewHeader(strings.TrimSpace(k), strings.TrimSpace(v)))
		}
	}
	opts.OnResponse = func(res *sip.Response) error {
		mu.Lock()
		responded = true
		mu.Unlock()
		if res.StatusCode == 180 || res.StatusCode == 183 {
			mu.Lock()
			first := !ringing
			ringing = true
			if res.StatusCode == 183 && len(res.Body()) > 0 {
				a.Early = true
			}
			mu.Unlock()
			if first && c.ringURL != "" {
				c.bg.Add(1)
				go func() {
					defer c.bg.Done()
					if _, err := c.callback(c.ctx, "ring", c.ringURL, c.ringMethod, c.params(StateRinging)); err != nil {
						c.s.log.Warn("ring_url", "call", c.rec.UUID, "err", err)
					}
				}()
			}
		}
		return nil
	}
	type result struct {
		med *diago.DialogMedia
		err error
	}
	done := make(chan result, 1)
	go func() {
		med, err := d.Invite(ringCtx, opts)
		done <- result{med, err}
	}()
	var med *diago.DialogMedia
	select {
	case r := <-done:
		med, err = r.med, r.err
	case <-gaveUp:
		// sipgo waits out the INVITE transaction (up to 32 s) before it
		// returns; the call moves on now. Should the trunk answer after all,
		// that late call is ended at once.
		err = errors.New("no response within the trunk timeout")
		go func() {
			if r := <-done; r.err == nil {
				hctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				d.Ack(hctx)
				d.Hangup(hctx)
			}
			d.Close()
		}()
	}
	if err == nil {
		mu.Lock()
		answered = true
		mu.Unlock()
		c.mu.Lock()
		c.pickedUp = true
		c.mu.Unlock()
		err = d.Ack(ringCtx)
	}
	if err != nil {
		select {
		case <-gaveUp:
		default:
			d.Close()
		}
		mu.Lock()
		rang, early := ringing, a.Early
		mu.Unlock()
		var re *sipgo.ErrDialogResponse
		switch {
		case errors.As(err, &re):
			a.Status = re.Res.StatusCode
		case c.ctx.Err() != nil:
			a.Outcome = "canceled"
			return a, CauseCanceled.With(SourceAPI), "canceled before the answer", false
		case ringCtx.Err() != nil && rang:
			a.Outcome = "no-answer"
			return a, CauseNoAnswer, "no answer within ring_timeout", false
		}
		timeout := a.Status == 0 || a.Status == 408
		if t.Report != nil && c.s.failoverStatus(a.Status) {
			t.Report(false, timeout)
		}
		a.Outcome, cause, reason, failover = c.s.refusal(t, a.Status, early, err)
		return a, cause, reason, failover
	}
	if t.Report != nil {
		t.Report(true, false)
	}
	a.Status, a.Outcome = 200, "answered"
	c.connected(d, t, med)
	return a, Cause{}, "", false
}

// connected makes the answered dialog d on target t this call's: answered
// now, its media up, and the callee's BYE ending it.
func (c *Call) connected(d *diago.DialogClientSession, t Target, med *diago.DialogMedia) {
	now := c.s.o.Now().UTC()
	c.mu.Lock()
	c.out = d
	c.rec.AnsweredAt, c.state, c.rec.Trunk = &now, StateInProgress, t.Name
	c.source = t.URI.HostPort()
	c.mu.Unlock()
	c.startMedia(med)
	if err := c.s.o.DB.MarkCallAnswered(c.ctx, c.rec.UUID, now); err != nil {
		c.s.log.Warn("store call answer", "call", c.rec.UUID, "err", err)
	}
	// The callee's BYE ends the call.
	go func() {
		select {
		case <-d.Context().Done():
			c.hangup(CauseNormal.With(SourceCallee), "callee hung up")
		case <-c.ctx.Done():
		}
	}()
}

// refusal is what a final status other than 200 means for the call: the
// attempt's outcome, the call's cause, and whether it tries the next target.
func (s *Server) refusal(t Target, status int, early bool, err error) (outcome string, cause Cause, reason string, failover bool) {
	switch {
	case s.failoverStatus(status) && !early:
		return "failover", CauseRoutingError, fmt.Sprintf("trunk %s: %s", t.Name, statusText(status, err)), true
	case status == 486 || status == 600:
		return "busy", CauseBusy.With(SourceCallee), "busy", false
	case status == 603:
		return "rejected", CauseRejected.With(SourceCallee), "declined", false
	case status == 404 || status == 484:
		return "failed", CauseNoApplication.With(SourceCarrier), "the carrier does not know the number", false
	case status == 480 || status == 487:
		return "no-answer", CauseNoAnswer.With(SourceCallee), "no answer", false
	}
	return "failed", CauseRoutingError, fmt.Sprintf("trunk %s: %s", t.Name, statusText(status, err)), false
}

func statusText(code int, err error) string {
	if code == 0 {
		return "no answer from the trunk (" + err.Error() + ")"
	}
	return fmt.Sprintf("SIP %d", code)
}

func (c *Call) live() trunkline.LiveCall {
	c.mu.Lock()
	defer c.mu.Unlock()
	return trunkline.LiveCall{AccountID: c.rec.AccountID, CallUUID: c.rec.UUID, RequestUUID: c.rec.RequestUUID,
		Direction: c.rec.Direction, From: c.rec.From, To: c.rec.To, CallerName: c.callerName,
		Status: c.state, SessionStart: c.rec.InitiatedAt}
}

// LiveCalls lists the calls running on this server for which keep is true.
func (s *Server) LiveCalls(keep func(trunkline.LiveCall) bool) []trunkline.LiveCall {
	var out []trunkline.LiveCall
	s.calls.Range(func(_, v any) bool {
		if l := v.(*Call).live(); l.Status != StateCompleted && keep(l) {
			out = append(out, l)
		}
		return true
	})
	return out
}

// Live lists the running calls of the accounts visible accepts: the answered
// ones, or (queued) the outbound ones not answered yet (trunkline.CallService).
func (s *Server) Live(visible func(accountID string) bool, queued bool) []trunkline.LiveCall {
	return s.LiveCalls(func(l trunkline.LiveCall) bool {
		return visible(l.AccountID) && queued == (l.Status != StateInProgress)
	})
}

// Get returns a running call (trunkline.CallService).
func (s *Server) Get(uuid string) (trunkline.LiveCall, bool) {
	v, ok := s.calls.Load(uuid)
	if !ok {
		return trunkline.LiveCall{}, false
	}
	l := v.(*Call).live()
	return l, l.Status != StateCompleted
}

// Hangup ends a running call (the Call API's DELETE Call/{uuid}/).
func (s *Server) Hangup(uuid string) bool {
	v, ok := s.calls.Load(uuid)
	if !ok {
		return false
	}
	c := v.(*Call)
	if c.ctx.Err() != nil {
		// Ended, but not yet out of the map (its CDR and hangup_url may still be on
		// their way): no live call, as Command says.
		return false
	}
	c.hangup(CauseNormal.With(SourceAPI), "hung up by an API request")
	return true
}

// Cancel ends an outbound call that has not been answered yet
// (DELETE Request/{request_uuid}/).
func (s *Server) Cancel(requestUUID string) bool {
	v, ok := s.requests.Load(requestUUID)
	if !ok {
		return false
	}
	c := v.(*Call)
	if c.answered() {
		return false
	}
	c.hangup(CauseCanceled.With(SourceAPI), "canceled by an API request")
	return true
}

// The voice server is the live-call service of one node.
var _ trunkline.CallService = (*Server)(nil)

// Attempts lists the targets a call tried.
func (c *Call) Attempts() []Attempt {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Attempt(nil), c.attempts...)
}
