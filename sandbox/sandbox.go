// Package sandbox is the carrier a fresh install sends through: an in-process SMSC (the
// same SMPP server code that tests and customer binds use) that accepts every message,
// "delivers" it and returns a DELIVRD receipt, so the quickstart's first message reaches
// status delivered without any carrier contract. It keeps the last messages it took in
// memory for the operator (and tests) to read; nothing leaves the machine.
//
// Phone is the voice side: a SIP phone on loopback that outbound calls reach when no
// trunk is configured. It answers every call, listens until the caller hangs up, and
// keeps a record of each call (how much speech it heard, and what the platform said it
// spoke), so a phone verification call can be checked without a phone network.
package sandbox

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trunkline/trunkline/smpp/charset"
	"github.com/trunkline/trunkline/smpp/pdu"
	"github.com/trunkline/trunkline/smpp/session"
)

// Name is the sandbox carrier's name in routes and records.
const Name = "sandbox"

// Message is one message the sandbox took.
type Message struct {
	ID       string
	Src, Dst string
	Text     string // decoded; segments are kept as sent
	At       time.Time
}

// Options configure the sandbox SMSC.
type Options struct {
	// Listen is the SMPP address (default 127.0.0.1:0: the sandbox is for this
	// machine only).
	Listen string
	Keep   int       // messages remembered (default 1000)
	Notify *Notifier // optional: told of every message taken
	Logger *slog.Logger
	Now    func() time.Time
}

// SMSC is the sandbox carrier.
type SMSC struct {
	SystemID, Password string // the credentials its one ESME binds with

	o      Options
	srv    *session.Server
	seq    atomic.Uint64
	mu     sync.Mutex
	recent []Message
	wg     sync.WaitGroup
	stop   chan struct{}
	// stopOnce closes stop: Shutdown then Close is allowed.
	stopOnce sync.Once
}

// New makes a sandbox SMSC with fresh random credentials.
func New(o Options) *SMSC {
	if o.Keep == 0 {
		o.Keep = 1000
	}
	if o.Listen == "" {
		o.Listen = "127.0.0.1:0"
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	var b [4]byte
	rand.Read(b[:])
	s := &SMSC{SystemID: "sandbox", Password: hex.EncodeToString(b[:]), o: o, stop: make(chan struct{})}
	// Message IDs start at a random point (below 2^31: "SB" and at most 8 hex digits,
	// the 10 characters of a receipt's id field), so the sandboxes of nodes sharing one
	// database do not hand out the same IDs and match each other's receipts.
	var start [4]byte
	rand.Read(start[:])
	s.seq.Store(uint64(binary.BigEndian.Uint32(start[:]) >> 1))
	s.srv = session.NewServer(session.ServerOptions{
		Listen:       o.Listen,
		Authenticate: s.authenticate,
		OnSubmit:     s.onSubmit,
		Logger:       o.Logger,
		Now:          o.Now,
	})
	return s
}

func (s *SMSC) authenticate(systemID, password string, _ session.BindType, _ net.Addr) pdu.Status {
	if systemID != s.SystemID || password != s.Password {
		return pdu.ESME_RINVPASWD
	}
	return pdu.ESME_ROK
}

// Start listens on Options.Listen (binding synchronously).
func (s *SMSC) Start(ctx context.Context) error { return s.srv.Start(ctx) }

// Addr is the listening address.
func (s *SMSC) Addr() netip.AddrPort { return s.srv.Addr() }

// Shutdown unbinds the sessions (waiting for them until ctx ends) and stops the SMSC.
func (s *SMSC) Shutdown(ctx context.Context) error {
	return s.halt(func() error { return s.srv.Shutdown(ctx) })
}

// Close stops the SMSC at once.
func (s *SMSC) Close() error { return s.halt(s.srv.Close) }

// halt tells the SMSC's own goroutines (receipts) to stop, stops the server and waits
// for them.
func (s *SMSC) halt(stopServer func() error) error {
	s.stopOnce.Do(func() { close(s.stop) })
	err := stopServer()
	s.wg.Wait()
	return err
}

func (s *SMSC) onSubmit(ctx context.Context, sess *session.Session, m *pdu.SubmitSM) (string, pdu.Status) {
	// "SB" + hex: never all digits, so the id has one reading and receipts match it exactly.
	id := "SB" + strings.ToUpper(strconv.FormatUint(s.seq.Add(1), 16))
	body := m.Message()
	if m.ESMClass&pdu.ESMClassUDHI != 0 {
		if _, _, _, rest, ok := charset.ParseUDH(body); ok {
			body = rest
		}
	}
	text, _ := charset.Decode(m.DataCoding, body)
	now := s.o.Now()
	s.mu.Lock()
	s.recent = append(s.recent, Message{ID: id, Src: m.SourceAddr, Dst: m.DestinationAddr, Text: text, At: now})
	if len(s.recent) > s.o.Keep {
		s.recent = s.recent[len(s.recent)-s.o.Keep:]
	}
	s.mu.Unlock()
	s.o.Notify.notify()
	if m.RegisteredDelivery&0x03 != 0 {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.receipt(sess, m, id, now)
		}()
	}
	return id, pdu.ESME_ROK
}

// receipt sends the DELIVRD receipt, retrying briefly if the ESME is busy reconnecting.
func (s *SMSC) receipt(sess *session.Session, m *pdu.SubmitSM, id string, at time.Time) {
	d := &pdu.DeliverSM{SourceAddrTON: m.DestAddrTON, SourceAddrNPI: m.DestAddrNPI, SourceAddr: m.DestinationAddr,
		DestAddrTON: m.SourceAddrTON, DestAddrNPI: m.SourceAddrNPI, DestinationAddr: m.SourceAddr, ESMClass: pdu.ESMClassReceipt,
		ShortMessage: pdu.FormatReceipt(pdu.Receipt{ID: id, Sub: 1, Dlvrd: 1, SubmitDate: at, DoneDate: s.o.Now(), Stat: "DELIVRD", Err: "000"})}
	d.TLVs.SetReceiptedMessageID(id)
	d.TLVs.SetMessageState(pdu.StateDelivered)
	for attempt := 0; attempt < 5; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		status, err := sess.Deliver(ctx, d)
		cancel()
		if err == nil && status == pdu.ESME_ROK {
			return
		}
		select {
		case <-s.stop:
			return
		case <-time.After(time.Duration(attempt+1) * 200 * time.Millisecond):
		}
	}
	s.o.Logger.Warn("sandbox: receipt not delivered", "id", id)
}

// Recent returns the messages taken, oldest first.
func (s *SMSC) Recent() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.recent...)
}

// Inbound makes the sandbox deliver an SMS from src to dst (a rented number) to the bound
// ESME, as a carrier delivers a message from a phone: the operator's and the tests' way
// to exercise inbound messaging without a phone network. Long texts go as concatenated
// segments. It returns the deliver_sm_resp status of the last segment.
func (s *SMSC) Inbound(ctx context.Context, src, dst, text string) (pdu.Status, error) {
	var sess *session.Session
	for _, ss := range s.srv.Sessions(s.SystemID) {
		if ss.Bind().CanReceive() {
			sess = ss
			break
		}
	}
	if sess == nil {
		return 0, session.ErrNotBound
	}
	coding, parts, err := charset.Split(text)
	if err != nil {
		return 0, err
	}
	ref := byte(s.seq.Add(1))
	var status pdu.Status
	for i, part := range parts {
		d := &pdu.DeliverSM{SourceAddrTON: 1, SourceAddrNPI: 1, SourceAddr: src, DestAddrTON: 1, DestAddrNPI: 1,
			DestinationAddr: dst, DataCoding: coding, ShortMessage: part}
		if len(parts) > 1 {
			d.ESMClass = pdu.ESMClassUDHI
			d.ShortMessage = append(charset.ConcatUDH8(ref, byte(len(parts)), byte(i+1)), part...)
		}
		if status, err = sess.Deliver(ctx, d); err != nil {
			return status, err
		}
		if status != pdu.ESME_ROK {
			return status, nil
		}
	}
	return status, nil
}
