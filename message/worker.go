package message

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"time"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/smpp/charset"
	"github.com/trunkline/trunkline/smpp/pdu"
	"github.com/trunkline/trunkline/smpp/session"
	"github.com/trunkline/trunkline/webhook"
)

// pollEvery bounds how long queued work waits if a wake-up is lost (another node
// queued it, or a retry came due).
const pollEvery = time.Second

// pool runs at most cap(pool) jobs at once.
type pool chan struct{}

// run starts f once a slot is free.
func (p pool) run(f func()) {
	p <- struct{}{}
	go func() {
		defer func() { <-p }()
		f()
	}()
}

// free waits until at least one slot is free and reports how many are.
func (p pool) free() int {
	p <- struct{}{}
	<-p
	return cap(p) - len(p)
}

// wait waits for every running job to finish.
func (p pool) wait() {
	for i := 0; i < cap(p); i++ {
		p <- struct{}{}
	}
}

// sendLoop claims due messages and sends them with at most Workers in flight.
func (s *Service) sendLoop(ctx context.Context) {
	jobs := make(pool, s.o.Workers)
	// Sends run on past ctx's end: they finish recording (leases cover a crash anyway).
	work := context.WithoutCancel(ctx)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			s.stopHandoff(work)
			jobs.wait()
			return
		case h := <-s.direct:
			jobs.run(func() { s.process(work, h.m, h.p) })
			continue
		case <-s.wake:
		case <-timer.C:
		}
		for ctx.Err() == nil {
			ms, err := s.o.DB.ClaimMessages(ctx, s.o.Fence.Owner(), s.o.Lease, min(jobs.free(), 128))
			if err != nil {
				if ctx.Err() == nil {
					s.log.Error("claim messages", "err", err)
				}
				break
			}
			if len(ms) == 0 {
				break
			}
			for _, m := range ms {
				jobs.run(func() { s.process(work, m, nil) })
			}
		}
		next := pollEvery
		if due, err := s.o.DB.NextMessageDue(ctx); err == nil && !due.IsZero() {
			if d := due.Sub(s.o.Now()); d < next {
				next = max(d, 10*time.Millisecond)
			}
		}
		timer.Reset(next)
	}
}

// process sends one claimed message and records the outcome, both only while the
// claim is this node's (Fence): a node given up for dead leaves the message to the
// node that took it over.
// process sends m; p is its payload when handed in the clear (else it is opened).
func (s *Service) process(ctx context.Context, m *trunkline.Message, p *payload) {
	now := s.o.Now()
	if !s.o.Fence.Holds(m.LeaseOwner) {
		s.fenced(ctx, m)
		return
	}
	fail := func(code string, attempts []trunkline.Attempt) {
		_, err := s.o.DB.RecordSend(ctx, m.UUID, trunkline.SendOutcome{State: trunkline.MsgFailed, ErrorCode: code, Attempts: attempts,
			Erase: true, Callback: s.statusCallback, RetryAt: now, Lease: m.LeaseOwner})
		if s.recorded(m, "record failed message", err) {
			s.o.Metrics.MessageState(trunkline.MsgFailed)
		}
	}
	if now.After(m.ExpiresAt) {
		fail(ErrExpired, nil)
		return
	}
	if p == nil {
		var err error
		if p, err = s.openPayload(m); err != nil {
			s.log.Error("message payload unreadable", "message_uuid", m.UUID, "err", err)
			fail(ErrUnknown, nil)
			return
		}
	}
	coding, parts, err := charset.Split(p.Text)
	if err != nil {
		fail(ErrTooLong, nil)
		return
	}
	sctx, cancel := context.WithTimeout(ctx, s.o.SendTimeout)
	// Asked again right before each submit_sm is written: the send may wait for a
	// window slot or the carrier's rate, and the node may be frozen meanwhile.
	sctx = session.WithGate(sctx, func() error {
		if !s.o.Fence.Holds(m.LeaseOwner) {
			return ErrFenced
		}
		return nil
	})
	res, err := s.o.Sender.Send(sctx, &Submission{MessageUUID: m.UUID, AccountID: m.AccountID, Src: m.From, Dst: p.Dst,
		Coding: coding, Parts: parts, Expires: m.ExpiresAt})
	cancel()
	if err != nil && !s.o.Fence.Holds(m.LeaseOwner) {
		s.fenced(ctx, m)
		return
	}
	if err != nil {
		var se *SendError
		if !errors.As(err, &se) {
			se = &SendError{Retry: true, Reason: err.Error()}
		}
		if se.Retry && s.o.Now().Add(backoff(m.Attempts)).Before(m.ExpiresAt) {
			_, rerr := s.o.DB.RecordSend(ctx, m.UUID, trunkline.SendOutcome{State: trunkline.MsgQueued, Attempts: se.Attempts,
				RetryAt: s.o.Now().Add(backoff(m.Attempts)), Lease: m.LeaseOwner})
			s.recorded(m, "requeue message", rerr)
			return
		}
		code := se.Code
		if code == "" {
			code = ErrNetwork
		}
		fail(code, se.Attempts)
		return
	}
	var ps []trunkline.Part
	for i, id := range res.IDs {
		ps = append(ps, trunkline.Part{Seq: i + 1, Keys: []string{pdu.MessageIDKey(id)}})
	}
	_, err = s.o.DB.RecordSend(ctx, m.UUID, trunkline.SendOutcome{State: trunkline.MsgSent, Carrier: res.Carrier, Parts: ps,
		Attempts: res.Attempts, Erase: true, Callback: s.statusCallback, RetryAt: now, Lease: m.LeaseOwner})
	// The SMSC has it; if this record is lost the lease runs out and it is sent
	// again, and if the lease was lost (this node given up for dead while the
	// submit was on the wire) the new owner sends it again: the at-least-once
	// window the issue allows.
	if s.recorded(m, "record sent message", err) {
		s.o.Metrics.MessageState(trunkline.MsgSent)
	}
}

// fenced lets go of a claim that is no longer this node's: not sent, not recorded.
// Its lease is freed if it is somehow still this node's (a heartbeat late but not
// given up for dead), so that it is not held until the lease runs out.
func (s *Service) fenced(ctx context.Context, m *trunkline.Message) {
	s.log.Warn("claimed message left to the node that took it over (this node was given up for dead)", "message_uuid", m.UUID)
	if err := s.o.DB.ReleaseLease(ctx, m.UUID, m.LeaseOwner); err != nil {
		s.log.Warn("release a fenced claim; it waits for its lease to run out", "message_uuid", m.UUID, "err", err)
	}
}

// recorded logs a failed RecordSend and reports whether it recorded. A lost lease is
// no failure: the node that took the message over records its own outcome.
func (s *Service) recorded(m *trunkline.Message, what string, err error) bool {
	switch {
	case errors.Is(err, trunkline.ErrLeaseLost):
		s.log.Warn(what+": refused, the message went to another node (this node was given up for dead)", "message_uuid", m.UUID)
		return false
	case err != nil:
		s.log.Error(what, "message_uuid", m.UUID, "err", err)
	}
	return true
}

// backoff is the wait before retrying a message no carrier could take.
func backoff(attempt int) time.Duration {
	d := time.Second << min(attempt, 6)
	return min(d, time.Minute)
}

// callbackLoop delivers the outbox, at most callbackWorkers at once: new callbacks as
// the store hands them over after their commit (takeCallbacks), and what the claim
// query finds (retries, callbacks of other nodes or freed ones) when woken or polling.
func (s *Service) callbackLoop(ctx context.Context) {
	jobs := make(pool, callbackWorkers)
	work := context.WithoutCancel(ctx)
	ticker := time.NewTicker(pollEvery)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			jobs.wait()
			return
		case c := <-s.cbDirect:
			jobs.run(func() { s.deliver(work, c) })
			continue
		case <-s.cbWake:
		case <-ticker.C:
		}
		for ctx.Err() == nil {
			cbs, err := s.o.DB.ClaimCallbacks(ctx, s.o.Fence.Owner(), callbackLease, min(jobs.free(), 128))
			if err != nil || len(cbs) == 0 {
				break
			}
			for _, c := range cbs {
				jobs.run(func() { s.deliver(work, c) })
			}
		}
	}
}

// callbackWorkers bounds concurrent callback deliveries.
const callbackWorkers = 256

// callbackLease is how long a callback handed to or claimed by this node is its own: a
// delivery round (the webhook client's attempts and back-off) ends well inside it.
const callbackLease = 3 * time.Minute

// takeCallbacks is the store's hand-off of new callbacks (HandCallbacks). It runs on the
// store's writer, so it never waits: callbacks that do not fit in the queue are freed
// for the claim query, by another goroutine.
func (s *Service) takeCallbacks(cbs []*trunkline.Callback) {
	var left []*trunkline.Callback
	for _, c := range cbs {
		select {
		case s.cbDirect <- c:
		default:
			left = append(left, c)
		}
	}
	if len(left) > 0 {
		go s.releaseCallbacks(left)
	}
}

// releaseCallbacks frees the leases of callbacks handed over but not delivered and
// wakes the claim loop. A failure is logged: those wait for their leases to run out.
func (s *Service) releaseCallbacks(cbs []*trunkline.Callback) {
	if len(cbs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, c := range cbs {
		if err := s.o.DB.ReleaseCallback(ctx, c.ID, c.LeaseOwner); err != nil {
			s.log.Warn("release a callback's lease; it waits for the lease to run out", "id", c.ID, "err", err)
		}
	}
	s.wakeCallbacks()
}

// wakeCallbacks tells the callback loop there is work.
func (s *Service) wakeCallbacks() {
	select {
	case s.cbWake <- struct{}{}:
	default:
	}
}

// maxCallbackRounds bounds how often a callback is retried (each round is itself up to
// the webhook client's attempts).
const maxCallbackRounds = 5

func (s *Service) deliver(ctx context.Context, c *trunkline.Callback) {
	if !s.o.Fence.Holds(c.LeaseOwner) {
		// Given up for dead: the node that took it over delivers it.
		s.o.DB.RetryCallback(ctx, c.ID, c.LeaseOwner, s.o.Now())
		return
	}
	params, err := c.Params, error(nil)
	if params == nil { // read from the store: open the sealed parameters
		var b []byte
		if b, err = s.o.Ring.Open(c.ParamsEnc, CallbackAAD(c.ObjectID)); err == nil {
			err = json.Unmarshal(b, &params)
		}
	}
	if err != nil {
		s.log.Error("callback unreadable; dropped", "id", c.ID, "err", err)
		s.o.DB.FinishCallback(ctx, c.ID, c.LeaseOwner)
		return
	}
	req := webhook.Request{AccountID: c.AccountID, Kind: c.Kind, ObjectID: c.ObjectID, URL: c.URL, Method: c.Method,
		Params: make(url.Values, len(params)), Redelivery: c.Attempts > 1}
	// One backing array for the values (one []string per key was an allocation apiece).
	vals := make([]string, 0, len(params))
	for k, v := range params {
		vals = append(vals, v)
		req.Params[k] = vals[len(vals)-1 : len(vals) : len(vals)]
	}
	if req.AuthToken, req.MainAuthToken, err = s.o.Tokens.SigningTokens(ctx, c.AccountID); err != nil {
		s.log.Error("callback: no token to sign with", "account", c.AccountID, "err", err)
		s.o.DB.RetryCallback(ctx, c.ID, c.LeaseOwner, s.o.Now().Add(time.Minute))
		return
	}
	resp, err := s.o.Webhooks.Do(ctx, req)
	if err == nil {
		if c.Kind == "message_inbound" && resp != nil {
			s.replyFromXML(ctx, c, resp.Body)
		}
		s.o.DB.FinishCallback(ctx, c.ID, c.LeaseOwner)
		return
	}
	var we *webhook.Error
	retry := errors.As(err, &we) && (we.Class == "timeout" || we.Class == "network" || we.Class == "http_5xx" || we.Class == "http_429")
	if retry && c.Attempts < maxCallbackRounds {
		s.o.DB.RetryCallback(ctx, c.ID, c.LeaseOwner, s.o.Now().Add(time.Duration(c.Attempts)*30*time.Second))
		return
	}
	s.log.Warn("callback abandoned", "kind", c.Kind, "object", c.ObjectID, "err", err)
	s.o.DB.FinishCallback(ctx, c.ID, c.LeaseOwner)
}
