package voice

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/emiago/diago"
	"github.com/emiago/sipgo/sip"
	"github.com/google/uuid"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/audit"
	"github.com/trunkline/trunkline/media"
	"github.com/trunkline/trunkline/plivoxml"
	"github.com/trunkline/trunkline/webhook"
)

// Call states (Plivo's CallStatus values).
const (
	StateRinging    = "ringing"
	StateInProgress = "in-progress"
	StateCompleted  = "completed"
)

// Call is one call and the owner of its state: ringing → in-progress →
// completed, with the cause and source of the hang-up decided once, by
// whoever ended it first. Later features (outbound legs, Dial, live-call
// control) act on a call through its methods.
type Call struct {
	s   *Server
	d   *diago.DialogServerSession // inbound: the caller's dialog
	out *diago.DialogClientSession // outbound: the callee's dialog, once answered
	ad  *admission
	rec trunkline.Call

	callerName string
	source     string // the peer's address, for the audit entry
	firstState string // CallStatus of the first answer_url request
	ringURL    string // outbound: told when the callee rings
	ringMethod string
	doc        *plivoxml.Response // outbound: the XML to run instead of the answer_url's

	ctx    context.Context // ends when the call ends, whoever ends it
	cancel context.CancelFunc

	// mu guards what follows.
	mu       sync.Mutex
	state    string
	m        callMedia
	pickedUp bool // outbound: the callee's 200 OK arrived (answered once the ACK is out)
	ended    ending
	xml      docRun
	attempts []Attempt     // outbound: one per target tried
	bridged  *Call         // the other leg while a Dial bridges this call
	moveB    chan struct{} // B leg: closed when a transfer takes it out of its bridge
	recs     []*liveRecording
	streams  streamSet // audio streams (stream.go); its own lock

	bg sync.WaitGroup // the call's background work (callbacks, async DTMF, recordings)
	// bgClosed (under mu): end is waiting for bg, so work started for this call
	// from elsewhere (another member's room event) runs on its own instead.
	bgClosed bool
}

// background runs f as the call's background work (end waits for it), or on
// its own once end waits already: a conference or multi-party call tells its
// events under a member's call from other members' goroutines, which must not
// add to bg while end waits on it (sync.WaitGroup forbids it).
func (c *Call) background(f func()) {
	c.mu.Lock()
	tracked := !c.bgClosed
	if tracked {
		c.bg.Add(1)
	}
	c.mu.Unlock()
	go func() {
		if tracked {
			defer c.bg.Done()
		}
		f()
	}()
}

// ending is how the call ends, decided once by whoever ends it first.
type ending struct {
	cause  Cause
	reason string
	set    bool
}

// docRun is the interpreter's state for the document running: where it came
// from (for actions without a URL), how to stop it, and a transfer (the Call
// API) waiting to replace it.
type docRun struct {
	url, method string
	stop        context.CancelFunc
	transfer    *redirectTo
}

func (s *Server) handle(d *diago.DialogServerSession) {
	v, ok := s.pending.LoadAndDelete(pendingKey(d.InviteRequest))
	if !ok {
		// Not admitted through the middleware (cannot happen for new INVITEs).
		d.Respond(sip.StatusInternalServerError, "Server Internal Error", nil)
		return
	}
	ad := v.(*admission)
	s.active.Add(1)
	defer s.active.Add(-1)

	now := s.o.Now().UTC()
	c := &Call{s: s, d: d, ad: ad, state: StateRinging, firstState: StateRinging,
		callerName: d.InviteRequest.From().DisplayName, source: d.InviteRequest.Source()}
	c.rec = trunkline.Call{
		UUID: newUUID(), AccountID: ad.accountID, Direction: "inbound",
		From: callerNumber(d), To: ad.to, State: trunkline.CallRinging,
		Trunk: ad.trunk, AppID: ad.app.ID, InitiatedAt: now,
	}
	if ad.from != "" {
		c.rec.From = ad.from // the authenticated endpoint, never the From header
	}
	c.ctx, c.cancel = context.WithCancel(s.ctx)
	defer c.cancel()
	s.calls.Store(c.rec.UUID, c)
	cid := ""
	if h := d.InviteRequest.CallID(); h != nil {
		cid = h.Value()
		s.byCID.Store(cid, c)
	}
	defer func() {
		s.calls.Delete(c.rec.UUID)
		if cid != "" {
			s.byCID.Delete(cid)
		}
	}()
	// The caller's BYE or CANCEL ends the dialog context.
	go func() {
		select {
		case <-d.Context().Done():
			if c.answered() {
				c.hangup(CauseNormal.With(SourceCaller), "caller hung up")
			} else {
				c.hangup(CauseCanceled, "caller hung up before the answer")
			}
		case <-c.ctx.Done():
		}
	}()
	c.run()
}

func newUUID() string { return uuid.NewString() }

func callerNumber(d *diago.DialogServerSession) string {
	if n := normalizeNumber(d.FromUser()); n != "" {
		return n
	}
	return d.FromUser()
}

// UUID is the call's Plivo CallUUID.
func (c *Call) UUID() string { return c.rec.UUID }

func (c *Call) channel() *media.Channel {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m.ch
}

// hangup ends the call with cause unless it has ended already; the first
// cause wins.
func (c *Call) hangup(cause Cause, reason string) {
	c.mu.Lock()
	if !c.ended.set {
		c.ended.cause, c.ended.reason, c.ended.set = cause, reason, true
	}
	c.mu.Unlock()
	c.cancel()
}

func (c *Call) run() {
	ctx := c.ctx
	log := c.s.log.With("call", c.rec.UUID)
	c.keepHangupURL()
	if err := c.s.o.DB.InsertCall(ctx, &c.rec); err != nil {
		log.Error("store call", "err", err)
		c.d.Respond(sip.StatusServiceUnavailable, "Service Unavailable", nil)
		return
	}
	c.d.Trying()
	c.d.Ringing()

	c.interpret(ctx)
	c.end()
}

// end tears the call down: BYE an answered call, answer an unanswered
// inbound one with a final status that says why; then the CDR, the
// hangup_url and the audit entry.
func (c *Call) end() {
	log := c.s.log.With("call", c.rec.UUID)
	c.mu.Lock()
	if !c.ended.set {
		c.ended.cause, c.ended.reason, c.ended.set = CauseEndOfXML, "", true
	}
	cause, answered := c.ended.cause, c.rec.AnsweredAt != nil
	ch, med := c.m.ch, c.m.med
	c.m.ch = nil
	c.bgClosed = true
	c.mu.Unlock()
	if ch != nil {
		ch.Close()
		c.s.pacer.Remove(ch)
	}
	c.stopStreams()
	c.bg.Wait()
	byeCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	switch {
	case c.out != nil:
		// An answered outbound leg: BYE unless the far end already ended
		// it (its dialog context is done then). The cause alone cannot
		// say: a B leg ended because *our* caller hung up must get a BYE.
		if c.out.Context().Err() == nil {
			if err := c.out.Hangup(byeCtx); err != nil && c.out.Context().Err() == nil {
				log.Debug("bye", "err", err)
			}
		}
	case c.d == nil:
		// An outbound call that was never answered: nothing to end.
	case c.d.Context().Err() != nil || cause == CauseCanceled:
		// The caller already ended the dialog (BYE or CANCEL).
	case answered:
		if err := c.d.Hangup(byeCtx); err != nil && c.d.Context().Err() == nil {
			log.Debug("bye", "err", err)
		}
	default:
		code, reason := sip.StatusTemporarilyUnavailable, "Temporarily Unavailable"
		switch cause {
		case CauseBusy:
			code, reason = sip.StatusBusyHere, "Busy Here"
		case CauseRejected:
			code, reason = 603, "Decline"
		}
		if err := c.d.Respond(code, reason, nil); err != nil {
			log.Debug("final response", "err", err)
		}
	}
	if med != nil {
		med.Close()
	}
	if ch != nil {
		// The reader ends when the media session closes; wait for it so no
		// goroutine outlives the call.
		select {
		case <-ch.Done():
		case <-time.After(2 * time.Second):
			log.Warn("rtp reader did not stop")
		}
	}
	c.finish(cause)
	c.cancel() // the call's context ends with the call (B legs are counted until then)
}

// finish writes the CDR, tells the application, and audits the call.
func (c *Call) finish(cause Cause) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	end := c.s.o.Now().UTC()
	c.mu.Lock()
	c.state = StateCompleted
	r := c.rec
	reason := c.ended.reason
	c.mu.Unlock()
	r.EndedAt = &end
	r.State = trunkline.CallCompleted
	r.Duration = int(end.Sub(r.InitiatedAt).Round(time.Second) / time.Second)
	if r.AnsweredAt != nil {
		r.BillDuration = int(end.Sub(*r.AnsweredAt).Round(time.Second) / time.Second)
	}
	r.HangupCauseCode, r.HangupCauseName, r.HangupSource, r.HangupReason = cause.Code, cause.Name, cause.Source, reason
	if at := c.Attempts(); len(at) > 0 {
		type attempt struct {
			Trunk   string `json:"trunk"`
			Status  int    `json:"status"`
			Outcome string `json:"outcome"`
			Early   bool   `json:"early_media,omitempty"`
			Ms      int64  `json:"ms"`
		}
		list := make([]attempt, len(at))
		for i, a := range at {
			list[i] = attempt{a.Target, a.Status, a.Outcome, a.Early, a.Took.Milliseconds()}
		}
		if b, err := json.Marshal(list); err == nil {
			r.Attempts = string(b)
		}
	}
	told := false // the application heard of this end from another node already
	if err := c.s.o.DB.FinishCall(ctx, &r); errors.Is(err, trunkline.ErrConflict) {
		// Completed in the records by a survivor while this node was given up for
		// dead (cluster): its CDR stands, and it called hangup_url (EndLost).
		told = true
	} else if err != nil {
		c.s.log.Error("store call end", "call", r.UUID, "err", err)
	}
	if app := c.ad.app; app != nil && app.HangupURL != "" && !told {
		u := app.HangupURL
		p := c.params(StateCompleted)
		p.Set("Event", "Hangup")
		p.Set("HangupCause", cause.Telephony)
		p.Set("HangupCauseName", cause.Name)
		p.Set("HangupCauseCode", strconv.Itoa(cause.Code))
		p.Set("HangupSource", cause.Source)
		p.Set("Duration", strconv.Itoa(r.Duration))
		p.Set("BillDuration", strconv.Itoa(r.BillDuration))
		p.Set("StartTime", plivoTime(&r.InitiatedAt))
		p.Set("AnswerTime", plivoTime(r.AnsweredAt))
		p.Set("EndTime", plivoTime(r.EndedAt))
		p.Set("TotalCost", "0.00000")
		p.Set("BillRate", "0.00000")
		if _, err := c.callback(ctx, "hangup", u, app.HangupMethod, p); err != nil {
			c.s.log.Warn("hangup_url", "call", r.UUID, "err", err)
		}
	}
	if c.s.o.Audit != nil {
		// Numbers and timings only: never digits, never prompts.
		e := audit.Entry{AccountID: r.AccountID, Actor: "sip:" + r.Trunk, Action: "call." + r.Direction,
			ObjectType: "call", ObjectID: r.UUID, Source: c.source, Outcome: audit.Success,
			Detail: map[string]string{"from": r.From, "to": r.To, "app_id": r.AppID,
				"hangup_cause": cause.Name, "hangup_source": cause.Source, "bill_duration": strconv.Itoa(r.BillDuration)}}
		if _, err := c.s.o.Audit.Append(ctx, e); err != nil {
			c.s.log.Error("audit call", "call", r.UUID, "err", err)
		}
	}
}

// keepHangupURL stores the application's hangup URL with the call, so that if this
// node dies the survivor ending the call in the records can still call it.
func (c *Call) keepHangupURL() {
	if app := c.ad.app; app != nil {
		c.rec.HangupURL, c.rec.HangupMethod = app.HangupURL, app.HangupMethod
	}
}

// EndFenced ends, locally, every call this node still carries: it was given up for
// dead (frozen or cut off past the cluster's patience) and another node ended its
// calls in the records and told their applications. Each call ends as any does (BYE
// to an answered one) with CauseNodeLost; the records the survivor wrote stand (a
// completed CDR is not overwritten, and its hangup_url is not called again), while a
// call that began after the takeover is recorded as lost. It returns how many calls
// it ended.
func (s *Server) EndFenced() int {
	n := 0
	s.calls.Range(func(_, v any) bool {
		c := v.(*Call)
		if c.ctx.Err() == nil {
			c.hangup(CauseNodeLost, "this node was given up for dead by the cluster; its calls were ended")
			n++
		}
		return true
	})
	return n
}

// EndLost tells the applications of calls that were live on a node that died, which
// another node (this one's caller) has already completed in the records: their
// hangup_url gets the usual hangup callback, signed, with the calls' stored cause.
func (s *Server) EndLost(ctx context.Context, calls []*trunkline.Call) {
	for _, r := range calls {
		if r.HangupURL == "" {
			continue
		}
		own, main, err := s.o.Tokens.SigningTokens(ctx, r.AccountID)
		if err != nil {
			s.log.Warn("hangup_url of a lost call: signing tokens", "call", r.UUID, "err", err)
			continue
		}
		v := url.Values{}
		for k, val := range map[string]string{"CallUUID": r.UUID, "From": r.From, "To": r.To, "Direction": r.Direction,
			"CallStatus": StateCompleted, "ALegUUID": r.UUID, "ALegRequestUUID": r.RequestUUID, "RequestUUID": r.RequestUUID,
			"Event": "Hangup", "HangupCause": CauseNodeLost.Telephony, "HangupCauseName": r.HangupCauseName,
			"HangupCauseCode": strconv.Itoa(r.HangupCauseCode), "HangupSource": r.HangupSource,
			"Duration": strconv.Itoa(r.Duration), "BillDuration": strconv.Itoa(r.BillDuration),
			"StartTime": plivoTime(&r.InitiatedAt), "AnswerTime": plivoTime(r.AnsweredAt), "EndTime": plivoTime(r.EndedAt),
			"SessionStart": plivoTime(&r.InitiatedAt), "TotalCost": "0.00000", "BillRate": "0.00000"} {
			v.Set(k, val)
		}
		method := r.HangupMethod
		if method == "" {
			method = "POST"
		}
		if _, err := s.o.Webhooks.Do(ctx, webhook.Request{AccountID: r.AccountID, Kind: "hangup", ObjectID: r.UUID,
			URL: r.HangupURL, Method: method, Params: v, AuthToken: own, MainAuthToken: main}); err != nil {
			s.log.Warn("hangup_url of a lost call", "call", r.UUID, "err", err)
		}
	}
}

// plivoTime formats like Plivo's CDR times; "" for unset.
func plivoTime(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05")
}

// params are what every request about this call carries.
func (c *Call) params(status string) url.Values {
	v := url.Values{}
	v.Set("CallUUID", c.rec.UUID)
	v.Set("From", c.rec.From)
	v.Set("To", c.rec.To)
	v.Set("Direction", c.rec.Direction)
	v.Set("CallStatus", status)
	v.Set("ALegUUID", c.rec.UUID)
	v.Set("ALegRequestUUID", "")
	v.Set("CallerName", c.callerName)
	if c.rec.RequestUUID != "" {
		v.Set("RequestUUID", c.rec.RequestUUID)
		v.Set("ALegRequestUUID", c.rec.RequestUUID)
	}
	v.Set("ForwardedFrom", "")
	v.Set("SessionStart", plivoTime(&c.rec.InitiatedAt))
	return v
}

// answer takes the call off hook (200 OK with SDP), or turns early media into
// an answered call.
func (c *Call) answer() error {
	c.mu.Lock()
	if c.rec.AnsweredAt != nil || c.d == nil {
		c.mu.Unlock()
		return nil
	}
	early, med := c.m.early, c.m.med
	c.mu.Unlock()
	if err := c.ctx.Err(); err != nil {
		return err
	}
	var err error
	if early {
		err = c.d.AnswerEarlyMedia(med, diago.AnswerOptions{Codecs: c.codecs()})
	} else if c.ad.late {
		med, err = c.d.AnswerLate()
		if err != nil && med != nil && med.RTPSession() != nil && c.d.LoadState() >= sip.DialogStateConfirmed {
			// diago v0.42.1 applies the ACK's SDP to a fresh RTP session (already
			// monitored) and then fails to start monitoring the first one, which
			// never learnt the remote address: the call itself is fine.
			err = nil
		}
	} else {
		med, err = c.d.Answer(diago.AnswerOptions{Codecs: c.codecs()})
	}
	if err != nil {
		if c.ctx.Err() == nil {
			c.hangup(CauseMediaFailure, "answer failed: "+err.Error())
		}
		return err
	}
	now := c.s.o.Now().UTC()
	c.mu.Lock()
	c.rec.AnsweredAt, c.state = &now, StateInProgress
	c.mu.Unlock()
	if !early {
		c.startMedia(med)
	}
	if err := c.s.o.DB.MarkCallAnswered(c.ctx, c.rec.UUID, now); err != nil {
		c.s.log.Warn("store call answer", "call", c.rec.UUID, "err", err)
	}
	return nil
}

// preAnswer opens early media (183 Session Progress).
func (c *Call) preAnswer() error {
	c.mu.Lock()
	if c.m.med != nil || c.d == nil {
		c.mu.Unlock()
		return nil
	}
	c.mu.Unlock()
	if c.ad.late {
		return errors.New("PreAnswer needs an SDP offer in the INVITE")
	}
	med, err := c.d.ProgressMedia(diago.ProgressMediaOptions{Codecs: c.codecs()})
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.m.early = true
	c.mu.Unlock()
	c.startMedia(med)
	return nil
}
