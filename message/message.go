// Package message is Trunkline's SMS service: it accepts messages from the API (stored
// durably before the 202), sends them through carriers with a worker that claims work
// from the store, turns delivery receipts into states, takes inbound messages to the
// number's application, and delivers status and inbound callbacks from an outbox through
// the webhook client. Privacy modes (log=false, number_only, content_only) decide what is
// ever written in clear.
package message

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/callerid"
	"github.com/trunkline/trunkline/keys"
	"github.com/trunkline/trunkline/smpp/charset"
	"github.com/trunkline/trunkline/webhook"
)

// Plivo's SMS error codes (plivo-api.md §5).
const (
	ErrInvalidMessage     = "10"
	ErrNetwork            = "20"
	ErrInvalidSource      = "40"
	ErrInvalidDestination = "50"
	ErrPermanent          = "70"
	ErrTemporary          = "80"
	ErrNoRoute            = "90"
	ErrProhibited         = "100"
	ErrTooLong            = "110"
	ErrExpired            = "420"
	ErrUnknown            = "1000"
)

// Submission is one message as a carrier sends it.
type Submission struct {
	MessageUUID string
	AccountID   string
	Src, Dst    string
	Coding      byte     // SMPP data_coding
	Parts       [][]byte // encoded segments, without concatenation headers
	Expires     time.Time
}

// SendResult is a successful send: the carrier that took it and the SMSC's id per part.
type SendResult struct {
	Carrier  string
	IDs      []string
	Attempts []trunkline.Attempt
}

// SendError is a failed send. Retry says the failure is transient for every carrier
// (e.g. none is bound): the message stays queued and is tried again.
type SendError struct {
	Code     string // Plivo error code when final
	Retry    bool
	Reason   string
	Attempts []trunkline.Attempt
}

func (e *SendError) Error() string { return "send failed: " + e.Reason }

// Sender sends messages through carriers (package carrier's router).
type Sender interface {
	// Routable reports whether any carrier serves dst (E.164 digits).
	Routable(dst string) bool
	Send(ctx context.Context, s *Submission) (*SendResult, error)
}

// Tokens gives the account tokens that sign callbacks: the account's own and its main
// account's.
type Tokens interface {
	SigningTokens(ctx context.Context, accountID string) (own, main string, err error)
}

// Bus carries the "work queued" wake-up between API and workers, possibly across nodes.
type Bus interface {
	Publish(subject string, data []byte) error
}

// WakeSubject is published when messages are queued.
const WakeSubject = "message.queued"

// Metrics receives message state changes.
type Metrics interface{ MessageState(state string) }

type noMetrics struct{}

func (noMetrics) MessageState(string) {}

// Store is the message job queue and the numbers and applications inbound messages go
// to (package store implements it).
type Store interface {
	trunkline.MessageQueue
	NumberRentedBy(ctx context.Context, number string) (*trunkline.Number, error)
	Application(ctx context.Context, s trunkline.Scope, id string) (*trunkline.Application, error)
	callerid.Store // the default CallerIDs
}

// Options configure the service.
type Options struct {
	DB       Store
	Ring     *keys.Ring
	Sender   Sender
	Tokens   Tokens
	Webhooks *webhook.Client
	Bus      Bus
	Metrics  Metrics // optional
	// CallerIDs decides which sources an account may send from; default
	// callerid.New(DB), the rule every send path shares.
	CallerIDs CallerIDChecker
	Logger    *slog.Logger
	Now       func() time.Time

	Node string // this node's name (config node_name)
	// Fence names the owner this node's claims carry and says whether a claim is
	// still its own (cluster.Member in a cluster); default: Node, always.
	Fence         Fence
	Workers       int           // concurrent sends (default 256)
	Lease         time.Duration // how long a claimed message is ours (default 60 s)
	SendTimeout   time.Duration // per send through the carriers (default 30 s)
	DefaultExpiry time.Duration // message_expiry default (Plivo: 3 h)
	PruneEvery    time.Duration // how often stale early receipts are deleted (default 1 h)
}

// Fence is the lease ownership of this node's claims. In a cluster a node given up
// for dead (frozen, cut off) finds what it claimed given to others: Holds turns false
// for its claims, which it then neither sends nor records, and it claims again as a
// new Owner.
type Fence interface {
	Owner() string
	Holds(owner string) bool
}

// soleNode is the fence of a node alone: its claims are always its own.
type soleNode string

func (n soleNode) Owner() string           { return string(n) }
func (n soleNode) Holds(owner string) bool { return owner == string(n) }

// ErrFenced refuses a submit whose claim is no longer this node's (a Sender passes it
// back as it is: it says nothing about the carrier).
var ErrFenced = errors.New("message: lease lost (this node was given up for dead); left to the node that took it over")

// CallerIDChecker is the source rule (package callerid) as Prepare and Queue ask it.
type CallerIDChecker interface {
	Check(ctx context.Context, accountID, src string, use callerid.Use) error
}

// Service is the SMS service.
type Service struct {
	o      Options
	log    *slog.Logger
	wake   chan struct{}
	cbWake chan struct{}
	direct chan handed // new messages handed straight to this node's workers
	// handoff guards direct against the send loop's end: once stopped (a drain or a
	// stop), Queue hands nothing to direct but frees the lease for the other nodes, and
	// what direct still held has been freed the same way.
	handoff sync.RWMutex
	stopped bool
	// new callbacks handed straight to this node's callback workers by the store, after
	// the commit that stored them (takeCallbacks)
	cbDirect chan *trunkline.Callback
	joiner   *charset.Joiner
	exact    sync.Map // carrier name → true once its receipts matched by exact id (deliver.go)
}

// New returns the service; Run runs its workers.
func New(o Options) *Service {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Workers == 0 {
		o.Workers = 256
	}
	if o.PruneEvery <= 0 {
		o.PruneEvery = pruneEvery
	}
	if o.Lease == 0 {
		o.Lease = time.Minute
	}
	if o.SendTimeout == 0 {
		o.SendTimeout = 30 * time.Second
	}
	if o.DefaultExpiry == 0 {
		o.DefaultExpiry = 3 * time.Hour
	}
	if o.Metrics == nil {
		o.Metrics = noMetrics{}
	}
	if o.CallerIDs == nil {
		o.CallerIDs = callerid.New(o.DB)
	}
	if o.Node == "" {
		o.Node = "trunkline" // one node; the server passes config's node_name
	}
	if o.Fence == nil {
		o.Fence = soleNode(o.Node)
	}
	return &Service{o: o, log: o.Logger, wake: make(chan struct{}, 1), cbWake: make(chan struct{}, 1),
		direct: make(chan handed, 4096), cbDirect: make(chan *trunkline.Callback, 4096),
		joiner: charset.NewJoiner(charset.JoinerOptions{Now: o.Now})}
}

// Wake tells the workers there is work (the bus subscriber calls it).
func (s *Service) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// payload is what is kept encrypted until the message is sent.
type payload struct {
	Dst  string `json:"d"`
	Text string `json:"t"`
}

// handed is a new message handed to this node's workers with its payload in the
// clear, so the worker need not open what was sealed a moment before.
type handed struct {
	m *trunkline.Message
	p *payload
}

func PayloadAAD(uuid string) []byte { return []byte("message:" + uuid) }

// CallbackAAD binds a queued callback's sealed parameters to the object it reports on.
func CallbackAAD(objectID string) []byte { return []byte("callback:" + objectID) }

// Redact applies a log mode to a number and a text for storage and display.
func Redact(mode, number, text string) (string, string) {
	switch mode {
	case trunkline.LogNone:
		return MaskNumber(number), trunkline.RedactedText
	case trunkline.LogNumberOnly:
		return number, trunkline.RedactedText
	case trunkline.LogContentOnly:
		return MaskNumber(number), text
	}
	return number, text
}

// MaskNumber replaces the last three digits with *** (Plivo: +12025550***).
func MaskNumber(n string) string {
	if len(n) <= 3 {
		return "***"
	}
	return n[:len(n)-3] + "***"
}

var _ trunkline.MessageSender = (*Service)(nil)

// Send applies the send rules to d (Prepare) and queues the messages (Queue): what the
// API calls.
func (s *Service) Send(ctx context.Context, d trunkline.MessageDraft) (*trunkline.MessageAccepted, error) {
	r, err := Prepare(ctx, d, s.o.CallerIDs)
	if err != nil {
		return nil, err
	}
	return s.queue(ctx, r, true) // Prepare has applied the source rule
}

// Queue stores one message per destination of a validated request; when it returns,
// they are durable.
// Destinations no carrier serves are stored as failed with error 90 (and get their
// status callback) rather than silently dropped. A source the account may not use
// (package callerid) fails every message with error 40, Invalid source number, and
// sends none: the XML paths (<Message> in call XML, replies to an inbound SMS) have no
// caller to answer with a 400, so the record carries the refusal.
func (s *Service) Queue(ctx context.Context, r trunkline.SendRequest) (*trunkline.MessageAccepted, error) {
	return s.queue(ctx, r, r.Platform)
}

// queue is Queue; sourceChecked says the source rule needs no second look (the
// platform's own codes, or a request Prepare has already checked).
func (s *Service) queue(ctx context.Context, r trunkline.SendRequest, sourceChecked bool) (*trunkline.MessageAccepted, error) {
	coding, parts, err := charset.Split(r.Text)
	if err != nil {
		return nil, err
	}
	out := &trunkline.MessageAccepted{LogMode: r.LogMode}
	if !sourceChecked {
		err := s.o.CallerIDs.Check(ctx, r.AccountID, r.Src, callerid.SMS)
		var refused *callerid.Refused
		if errors.As(err, &refused) {
			out.Refused = refused.Reason
		} else if err != nil {
			return nil, err
		}
	}
	now := s.o.Now()
	owner := s.o.Fence.Owner()
	if r.Expiry == 0 {
		r.Expiry = s.o.DefaultExpiry
	}
	var ms []*trunkline.Message
	var pls []*payload // by index of ms; nil: not to be sent
	var cbs []*trunkline.Callback
	for _, dst := range r.Dsts {
		id := newMessageUUID()
		var pl *payload
		to, body := Redact(r.LogMode, dst, r.Text)
		m := &trunkline.Message{UUID: id, AccountID: r.AccountID, Direction: "outbound", Type: "sms", LogMode: r.LogMode,
			From: r.Src, To: to, Body: body, Coding: int(coding), Units: len(parts), State: trunkline.MsgQueued,
			CallbackURL: r.URL, CallbackMethod: r.Method, RequesterIP: r.RequesterIP, ExpiresAt: now.Add(r.Expiry)}
		if out.Refused != "" || s.o.Sender == nil || !s.o.Sender.Routable(dst) {
			m.State, m.ErrorCode = trunkline.MsgFailed, ErrNoRoute
			if out.Refused != "" {
				m.ErrorCode = ErrInvalidSource
			}
			if cb := s.statusCallback(m); cb != nil {
				cbs = append(cbs, cb)
			}
		} else {
			pl = &payload{Dst: dst, Text: r.Text}
			b, _ := json.Marshal(pl)
			if m.PayloadEnc, err = s.o.Ring.Seal(b, PayloadAAD(id)); err != nil {
				return nil, err
			}
			// Stored already leased to this node, and handed to its workers below: no
			// claim query. If this node dies, the lease frees it for any node.
			m.LeaseOwner, m.LeaseUntil, m.Attempts = owner, now.Add(s.o.Lease), 1
		}
		ms, pls = append(ms, m), append(pls, pl)
		out.UUIDs = append(out.UUIDs, id)
	}
	var build trunkline.AuditBuild
	if r.Audit != nil {
		if build, err = r.Audit(out); err != nil {
			return nil, err
		}
	}
	if err := s.o.DB.InsertMessagesAudited(ctx, ms, cbs, build); err != nil {
		return nil, err
	}
	handedOff := true
	s.handoff.RLock()
	for i, m := range ms {
		s.o.Metrics.MessageState(m.State)
		if m.LeaseOwner == "" {
			continue
		}
		if !s.stopped {
			select {
			case s.direct <- handed{m, pls[i]}:
				continue
			default:
			}
		}
		// Workers are saturated or stopped (the node drains): free the lease so a claim
		// loop, this node's or another's, takes it.
		s.releaseLease(ctx, m.UUID, m.LeaseOwner)
		handedOff = false
	}
	s.handoff.RUnlock()
	if !handedOff {
		s.Wake()
		if s.o.Bus != nil {
			s.o.Bus.Publish(WakeSubject, nil) // other nodes may have idle workers
		}
	}
	return out, nil
}

// newMessageUUID returns a time-ordered UUID (version 7): messages, their parts, attempts
// and callbacks are keyed and indexed by it, and random keys (version 4) would put each
// new message on a different B-tree page of every such index, so each commit would
// rewrite as many pages as it has messages. Consecutive ones share pages instead. Its
// 74 random bits keep it unguessable; the time it carries is the message's created time,
// which the API shows anyway.
func newMessageUUID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString()
	}
	return id.String()
}

// plivoTime is the time form of Plivo's callbacks.
func plivoTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000000") }

// statusCallback builds the status callback of m (nil without a url). Its parameters
// carry the message as stored, so redactions hold in callbacks too.
func (s *Service) statusCallback(m *trunkline.Message) *trunkline.Callback {
	if m.CallbackURL == "" {
		return nil
	}
	p := map[string]string{
		"MessageUUID": m.UUID, "To": m.To, "From": m.From, "Type": m.Type, "Status": m.State,
		"Units": fmt.Sprint(m.Units), "TotalRate": "0.00000", "TotalAmount": "0.00000", "MCC": "", "MNC": "",
		"ParentMessageUUID": m.UUID, "PartInfo": fmt.Sprintf("1 of %d", m.Units), "Sequence": "1",
		"MessageTime": plivoTime(m.CreatedAt), "QueuedTime": plivoTime(m.CreatedAt), "PowerpackUUID": "",
		"requester_ip": m.RequesterIP,
	}
	if m.SentAt != nil {
		p["SentTime"] = plivoTime(*m.SentAt)
	}
	if m.State == trunkline.MsgDelivered || m.State == trunkline.MsgUndelivered {
		p["DeliveryReportTime"] = plivoTime(m.UpdatedAt)
	}
	if m.State == trunkline.MsgFailed || m.State == trunkline.MsgUndelivered {
		p["ErrorCode"] = m.ErrorCode
	}
	return s.callback(m.AccountID, "message_status", m.UUID, m.CallbackURL, m.CallbackMethod, p)
}

func (s *Service) callback(accountID, kind, objectID, url, method string, params map[string]string) *trunkline.Callback {
	b := paramsJSON(params)
	enc, err := s.o.Ring.Seal(b, CallbackAAD(objectID))
	if err != nil {
		s.log.Error("seal callback", "err", err)
		return nil
	}
	if method == "" {
		method = "POST"
	}
	return &trunkline.Callback{AccountID: accountID, Kind: kind, ObjectID: objectID, URL: url, Method: method, ParamsEnc: enc, Params: params}
}

// ReleaseOldLeases frees the messages this node's previous run had claimed when it
// died, so they are sent at once rather than when their leases run out. Call it once at
// startup, before this node takes sends: a new message is stored leased to this node,
// and a release after that would free it for a second send. A failure is logged: those
// messages wait for their leases to run out.
func (s *Service) ReleaseOldLeases(ctx context.Context) {
	keep := s.o.Fence.Owner() // in a cluster this run's incarnation, none of the previous run's
	if keep == s.o.Node {
		keep = "" // one node: the previous run claimed under the same owner
	}
	if n, err := s.o.DB.ReleaseLeases(ctx, s.o.Node, keep); err != nil {
		s.log.Error("release old leases", "err", err)
	} else if n > 0 {
		s.log.Warn("messages claimed by this node's previous run are queued again", "count", n)
	}
}

// Early receipts (a receipt that came before its submit result was recorded) are met
// within seconds; those still there after earlyReceiptTTL never will be, and are
// deleted every pruneEvery.
const (
	earlyReceiptTTL = 24 * time.Hour
	pruneEvery      = time.Hour
)

// pruneLoop deletes stale early receipts at start and then every o.PruneEvery, until
// ctx ends.
func (s *Service) pruneLoop(ctx context.Context) {
	t := time.NewTicker(s.o.PruneEvery)
	defer t.Stop()
	for {
		n, err := s.o.DB.PruneEarlyReceipts(ctx, s.o.Now().Add(-earlyReceiptTTL))
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Error("prune early receipts", "err", err)
		case n > 0:
			s.log.Info("deleted receipts that never met their message", "count", n, "older_than", earlyReceiptTTL.String())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Run runs the send and callback workers until ctx ends, then waits for the sends and
// deliveries in flight to finish recording, and returns nil.
func (s *Service) Run(ctx context.Context) error {
	// New callbacks come from the store's commits in memory; the claim query is for
	// retries, other nodes' callbacks and those this node could not take.
	s.o.DB.HandCallbacks(s.o.Fence.Owner, callbackLease, s.takeCallbacks)
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); s.sendLoop(ctx) }()
	go func() { defer wg.Done(); s.callbackLoop(ctx) }()
	go func() { defer wg.Done(); s.pruneLoop(ctx) }()
	wg.Wait()
	// The sends have finished recording: no more callbacks come. Those handed over
	// but not delivered are freed for the claim query (of this node's next run or
	// another node) rather than left to wait for their leases.
	s.o.DB.HandCallbacks(nil, 0, nil)
	var left []*trunkline.Callback
	for len(s.cbDirect) > 0 {
		left = append(left, <-s.cbDirect)
	}
	s.releaseCallbacks(left)
	return nil
}

// stopHandoff ends the hand-off of new messages to this node's workers (their loop has
// ended) and frees the leases of those handed off but never taken, so other nodes
// claim them at once instead of when the leases run out.
func (s *Service) stopHandoff(ctx context.Context) {
	s.handoff.Lock()
	defer s.handoff.Unlock()
	s.stopped = true
	freed := false
	for {
		select {
		case h := <-s.direct:
			s.releaseLease(ctx, h.m.UUID, h.m.LeaseOwner)
			freed = true
			continue
		default:
		}
		break
	}
	if freed && s.o.Bus != nil {
		s.o.Bus.Publish(WakeSubject, nil)
	}
}

// releaseLease frees a queued message's lease if owner still holds it; a failure
// leaves it to the lease's end.
func (s *Service) releaseLease(ctx context.Context, id, owner string) {
	if err := s.o.DB.ReleaseLease(ctx, id, owner); err != nil {
		s.log.Warn("release lease of a queued message; it waits for its lease to run out", "message_uuid", id, "err", err)
	}
}

var errNoPayload = errors.New("message has no payload")

func (s *Service) openPayload(m *trunkline.Message) (*payload, error) {
	if m.PayloadEnc == nil {
		return nil, errNoPayload
	}
	b, err := s.o.Ring.Open(m.PayloadEnc, PayloadAAD(m.UUID))
	if err != nil {
		return nil, err
	}
	var p payload
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// normalizeSender cleans a source like Plivo: digits for numbers, alphanumerics for IDs.
func normalizeSender(src string) string {
	return strings.TrimPrefix(strings.TrimSpace(src), "+")
}
