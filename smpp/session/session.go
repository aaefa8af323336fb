// Package session runs SMPP 3.4 sessions over TCP (or TLS): the ESME client
// role Trunkline uses towards carriers, and the SMSC server role used by the
// sandbox carrier, by tests, and later by customers who bind to us.
//
// Both roles share one connection engine: PDUs are framed and decoded by
// package pdu, requests are matched to responses by sequence number inside
// a window, and writes are coalesced through a buffered writer that is
// flushed whenever the send queue runs empty, so a busy session makes one
// syscall for many PDUs and an idle one never waits for a timer. TCP_NODELAY
// stays on (Go's default): with Nagle's algorithm a windowed SMPP session
// stalls on delayed ACKs, which is what makes stock Kannel slow.
//
// Nothing a peer sends can make a session panic: a malformed PDU is
// answered with the command_status the codec chose, in the PDU's own
// response type as SMPP 3.4 (4.3) asks, or in a generic_nack when its
// command_id is unknown; a stream whose framing cannot be trusted gets a
// generic_nack (ESME_RINVCMDLEN) and is closed, and the client reconnects.
//
// Message content is never logged, so privacy modes hold in the logs too.
package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/trunkline/trunkline/smpp/pdu"
)

// BindType is the kind of bind: what the session may do. The zero value is
// Transceiver, the usual choice towards carriers.
type BindType uint8

// Bind types of SMPP 3.4.
const (
	Transceiver BindType = iota // submits and receives
	Transmitter                 // submits only
	Receiver                    // receives only
)

func (b BindType) String() string {
	switch b {
	case Transceiver:
		return "transceiver"
	case Transmitter:
		return "transmitter"
	case Receiver:
		return "receiver"
	}
	return fmt.Sprintf("BindType(%d)", uint8(b))
}

// CanSubmit reports whether a session of this bind type may send
// submit_sm to the SMSC.
func (b BindType) CanSubmit() bool { return b == Transceiver || b == Transmitter }

// CanReceive reports whether the SMSC may send deliver_sm on a session of
// this bind type.
func (b BindType) CanReceive() bool { return b == Transceiver || b == Receiver }

// bindPDU returns the bind request for b.
func (b BindType) bindPDU(systemID, password, systemType string) pdu.PDU {
	body := pdu.BindTransmitter{
		SystemID:         systemID,
		Password:         password,
		SystemType:       systemType,
		InterfaceVersion: pdu.InterfaceVersion34,
	}
	switch b {
	case Transmitter:
		return &body
	case Receiver:
		r := pdu.BindReceiver(body)
		return &r
	default:
		t := pdu.BindTransceiver(body)
		return &t
	}
}

// bindTypeOf returns the bind type of a bind request and its fields.
func bindTypeOf(p pdu.PDU) (BindType, *pdu.BindTransmitter, bool) {
	switch v := p.(type) {
	case *pdu.BindTransmitter:
		return Transmitter, v, true
	case *pdu.BindReceiver:
		return Receiver, (*pdu.BindTransmitter)(v), true
	case *pdu.BindTransceiver:
		return Transceiver, (*pdu.BindTransmitter)(v), true
	}
	return 0, nil, false
}

// bindResp returns the response to a bind of type b.
func bindResp(b BindType, seq uint32, status pdu.Status, systemID string) pdu.PDU {
	body := pdu.BindTransmitterResp{Hdr: pdu.Header{Seq: seq, Status: status}}
	if status == pdu.ESME_ROK {
		// A failed bind_resp goes out as a bare header (SMPP 3.4, 4.1.2).
		body.SystemID = systemID
	}
	switch b {
	case Transmitter:
		return &body
	case Receiver:
		r := pdu.BindReceiverResp(body)
		return &r
	default:
		t := pdu.BindTransceiverResp(body)
		return &t
	}
}

// State is the state of a client's connection, reported to
// ClientOptions.OnState for carrier health.
type State int

// Client states. A client starts Down, goes Connecting → Bound, back to
// Down when the connection is lost or the bind is refused, and ends Closed.
const (
	StateDown State = iota
	StateConnecting
	StateBound
	StateClosed
)

func (s State) String() string {
	switch s {
	case StateDown:
		return "down"
	case StateConnecting:
		return "connecting"
	case StateBound:
		return "bound"
	case StateClosed:
		return "closed"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Errors of sessions. None says anything against the message itself, so
// Retryable reports them all as retryable (later, or on another carrier).
var (
	// ErrClosed: the client or session was closed; nothing was sent.
	ErrClosed = errors.New("smpp: session closed")
	// ErrNotBound: the client has no bound connection right now; nothing
	// was sent. Submit does not wait for a bind, so that a router can pick
	// another carrier at once; call WaitBound to wait.
	ErrNotBound = errors.New("smpp: not bound")

	// ErrBusy: the message waited longer than MaxThrottleWait for a window
	// slot or the pace of a throttled SMSC, and was not sent.
	ErrBusy = errors.New("smpp: carrier busy; not sent")
	// ErrConnectionLost: the connection dropped while the request was
	// outstanding. The outcome is UNKNOWN: the peer may or may not have
	// accepted the request before the connection went away, so a resend
	// may duplicate the message.
	ErrConnectionLost = errors.New("smpp: connection lost with the request outstanding (outcome unknown)")
	// ErrTimeout: no response arrived within the response timeout. The
	// outcome is UNKNOWN, as for ErrConnectionLost.
	ErrTimeout = errors.New("smpp: no response in time (outcome unknown)")
	// ErrBindType: the bind type does not allow the operation (submit on a
	// receiver bind, deliver to a transmitter bind).
	ErrBindType = errors.New("smpp: operation not allowed by the bind type")
	// ErrProtocol: the peer answered with a PDU that does not fit the
	// request (wrong response type, undecodable body). The outcome is
	// unknown.
	ErrProtocol = errors.New("smpp: protocol error from peer")
)

// StatusError is a request the peer (or, for Local errors, the encoder)
// refused with a non-zero command_status.
type StatusError struct {
	Status pdu.Status
	// Local is true when the PDU was never sent because it could not be
	// encoded (e.g. a destination address too long): Status is then the
	// status an SMSC would have answered with.
	Local bool
	// Err is the underlying cause, if any: the codec's error for Local
	// errors, the context's error when Submit gave up retrying a
	// throttled submit.
	Err error
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("smpp: refused with %v (0x%08X)", e.Status, uint32(e.Status))
	if e.Local {
		s = fmt.Sprintf("smpp: not sent, %v (0x%08X)", e.Status, uint32(e.Status))
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *StatusError) Unwrap() error { return e.Err }

// Retryable reports whether a failed request may succeed if tried again,
// on this carrier later or on another one: network failures, timeouts,
// lost connections, not being bound, and the statuses that describe the
// SMSC's state rather than the message (system error, submit failed,
// throttling, queue full, temporary application error). It is false for
// statuses that say the message itself is wrong (invalid addresses,
// length, parameters) or rejected for good, and for context errors, since
// the caller has given up.
//
// A true result does not mean the first attempt failed: after ErrTimeout
// and ErrConnectionLost the SMSC may have accepted the message.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	var se *StatusError
	if errors.As(err, &se) {
		return retryableStatus(se.Status)
	}
	switch {
	case errors.Is(err, ErrConnectionLost), errors.Is(err, ErrTimeout),
		errors.Is(err, ErrNotBound), errors.Is(err, ErrClosed), errors.Is(err, ErrBusy),
		errors.Is(err, ErrBindType), errors.Is(err, ErrProtocol):
		return true
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return true
	}
	var ne net.Error
	return errors.As(err, &ne)
}

// retryableStatus is the part of Retryable about command_status values.
func retryableStatus(s pdu.Status) bool {
	switch s {
	case pdu.ESME_RSYSERR, pdu.ESME_RSUBMITFAIL, pdu.ESME_RTHROTTLED,
		pdu.ESME_RMSGQFUL, pdu.ESME_RX_T_APPN, pdu.ESME_RINVBNDSTS,
		pdu.ESME_RUNKNOWNERR, pdu.ESME_RDELIVERYFAILURE:
		return true
	}
	return false
}

// throttling reports whether s asks the ESME to slow down.
func throttling(s pdu.Status) bool {
	return s == pdu.ESME_RTHROTTLED || s == pdu.ESME_RMSGQFUL
}
