package session

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trunkline/trunkline/smpp/pdu"
)

// maxSeq is the largest sequence number; SMPP 3.4 (5.1.4) allows
// 0x00000001 to 0x7FFFFFFF.
const maxSeq = 0x7FFFFFFF

// ioBufSize sizes the read and write buffers: a few dozen typical PDUs, so
// a busy session moves many per syscall.
const ioBufSize = 32 << 10

// outQueue is the depth of the send queue. It only has to absorb bursts
// between flushes; the window bounds what callers can have in flight.
const outQueue = 256

// errLocalClose is why a connection closed by this side (unbind, shutdown,
// a broken stream) ended.
var errLocalClose = errors.New("smpp: connection closed locally")

// frame is one encoded PDU in the send queue. A nil frame makes the writer
// flush what precedes it and then close the connection: how a session
// answers unbind or a broken stream and goes away without losing that
// last response.
type frame = *[]byte

var framePool = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// result is what a pending request receives: the response, or why none
// will come.
type result struct {
	p   pdu.PDU
	err error
}

// conn is one SMPP connection: framing, the writer, sequence numbers and
// the table of requests awaiting responses. The role code (client or
// server session) runs readLoop with a handler for requests from the peer.
type conn struct {
	nc     net.Conn
	br     *bufio.Reader
	log    *slog.Logger
	maxLen int

	out  chan frame
	done chan struct{} // closed when the connection is finished

	// ctx is cancelled when the connection closes; handlers of the peer's
	// requests run under it.
	ctx    context.Context
	cancel context.CancelFunc

	// handlers tracks goroutines answering the peer's requests, so a
	// graceful close can wait for their responses.
	handlers tracker

	seq atomic.Uint32 // last sequence number used

	mu      sync.Mutex
	pending map[uint32]chan result // nil once closed
	err     error                  // why the connection closed

	// lateResps counts responses that matched no pending request,
	// usually answers that came after their request timed out. It may
	// point at a counter of the owner.
	lateResps *atomic.Uint64
	// timeouts counts consecutive response timeouts, for the client's
	// decision to reconnect.
	timeouts atomic.Int32
}

func newConn(nc net.Conn, log *slog.Logger) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	c := &conn{
		nc:      nc,
		br:      bufio.NewReaderSize(nc, ioBufSize),
		log:     log,
		maxLen:  pdu.DefaultMaxLen,
		out:     make(chan frame, outQueue),
		done:    make(chan struct{}),
		ctx:     ctx,
		cancel:  cancel,
		pending: make(map[uint32]chan result),
	}
	c.lateResps = new(atomic.Uint64)
	go c.writeLoop()
	return c
}

// nextSeq returns the next sequence number, wrapping from 0x7FFFFFFF to 1
// and skipping any number still awaiting its response (possible only if
// a request outlives two billion others, but cheap to rule out).
func (c *conn) nextSeq() uint32 {
	for {
		old := c.seq.Load()
		n := old + 1
		if n > maxSeq || n == 0 {
			n = 1
		}
		if c.seq.CompareAndSwap(old, n) {
			return n
		}
	}
}

// closeWith closes the connection for reason err (the first reason wins),
// and fails every pending request with ErrConnectionLost at once: their
// callers must learn immediately that the outcome is unknown.
func (c *conn) closeWith(err error) {
	c.mu.Lock()
	if c.pending == nil {
		c.mu.Unlock()
		return
	}
	pending := c.pending
	c.pending = nil
	c.err = err
	c.mu.Unlock()

	close(c.done)
	c.cancel()
	c.nc.Close()
	for _, ch := range pending {
		ch <- result{err: ErrConnectionLost}
	}
}

// closed reports whether the connection is finished.
func (c *conn) closed() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// cause returns why the connection closed, or nil while it is open.
func (c *conn) cause() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// send encodes p and queues it. Encoding errors come back as the codec's
// *pdu.StatusError; a closed connection as ErrConnectionLost.
func (c *conn) send(ctx context.Context, p pdu.PDU) error {
	bp := framePool.Get().(*[]byte)
	b, err := pdu.AppendMarshal((*bp)[:0], p)
	if err != nil {
		framePool.Put(bp)
		return err
	}
	*bp = b
	return c.enqueue(ctx, bp)
}

func (c *conn) enqueue(ctx context.Context, f frame) error {
	select {
	case c.out <- f:
		return nil
	case <-c.done:
		return ErrConnectionLost
	case <-ctx.Done():
		return ctx.Err()
	}
}

// sendAndClose queues p (if not nil), then closes the connection once
// everything queued before has been written.
func (c *conn) sendAndClose(p pdu.PDU) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if p != nil {
		if err := c.send(ctx, p); err != nil {
			c.closeWith(errLocalClose)
			return
		}
	}
	if c.enqueue(ctx, nil) != nil {
		c.closeWith(errLocalClose)
	}
}

// respond answers a request of the peer; errors only mean the connection
// is gone, which the read loop learns by itself.
func (c *conn) respond(p pdu.PDU) {
	if err := c.send(context.Background(), p); err != nil && !errors.Is(err, ErrConnectionLost) {
		c.log.Warn("smpp: cannot encode response", "command", p.CommandID(), "err", err)
	}
}

// writeLoop writes queued frames through a buffered writer and flushes
// only when the queue is momentarily empty: under load many PDUs share a
// syscall, and a lone PDU still leaves at once.
func (c *conn) writeLoop() {
	bw := bufio.NewWriterSize(c.nc, ioBufSize)
	write := func(f frame) bool {
		if f == nil {
			if err := bw.Flush(); err != nil {
				c.closeWith(err)
			} else {
				c.closeWith(errLocalClose)
			}
			return false
		}
		_, err := bw.Write(*f)
		if cap(*f) <= 64<<10 {
			framePool.Put(f)
		}
		if err != nil {
			c.closeWith(err)
			return false
		}
		return true
	}
	for {
		var f frame
		select {
		case f = <-c.out:
		case <-c.done:
			return
		}
		if !write(f) {
			return
		}
		yielded := false
	drain:
		for {
			select {
			case f = <-c.out:
				if !write(f) {
					return
				}
			default:
				// Before paying for a syscall, let the goroutines that are
				// about to queue something run once: under load this
				// roughly triples the PDUs per write; when idle nothing
				// else is runnable and Gosched returns at once.
				if yielded {
					break drain
				}
				yielded = true
				runtime.Gosched()
			}
		}
		if err := bw.Flush(); err != nil {
			c.closeWith(err)
			return
		}
	}
}

// request sends p with a fresh sequence number and waits for the response
// with the same number, for at most timeout. A generic_nack for p is
// returned as the response; the caller checks its type and status.
func (c *conn) request(ctx context.Context, p pdu.PDU, timeout time.Duration) (pdu.PDU, error) {
	ch := make(chan result, 1)
	c.mu.Lock()
	if c.pending == nil {
		c.mu.Unlock()
		return nil, ErrConnectionLost
	}
	seq := c.nextSeq()
	for c.pending[seq] != nil {
		seq = c.nextSeq()
	}
	c.pending[seq] = ch
	c.mu.Unlock()
	p.Header().Seq = seq

	if err := c.send(ctx, p); err != nil {
		c.forget(seq, ch)
		var se *pdu.StatusError
		if errors.As(err, &se) {
			return nil, &StatusError{Status: se.Status, Local: true, Err: err}
		}
		if errors.Is(err, ErrConnectionLost) {
			// Not written at all: nothing is unknown, but the caller
			// sees the same retryable error as a drop just after.
			return nil, ErrConnectionLost
		}
		return nil, err
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case r := <-ch:
		return r.p, r.err
	case <-timer.C:
		if r, ok := c.forget(seq, ch); ok {
			return r.p, r.err
		}
		return nil, ErrTimeout
	case <-ctx.Done():
		if r, ok := c.forget(seq, ch); ok {
			return r.p, r.err
		}
		return nil, fmt.Errorf("smpp: %v sent, no response before the context ended (outcome unknown): %w", p.CommandID(), ctx.Err())
	}
}

// forget removes the pending request seq whose channel is ch. If its
// result was already taken by complete or closeWith, forget waits for it
// (both send at once on the buffered channel) and returns it, so that a
// response racing with a timeout is not lost.
func (c *conn) forget(seq uint32, ch chan result) (result, bool) {
	c.mu.Lock()
	if c.pending != nil && c.pending[seq] == ch {
		delete(c.pending, seq)
		c.mu.Unlock()
		return result{}, false
	}
	c.mu.Unlock()
	return <-ch, true
}

// complete hands a response to the request waiting for it.
func (c *conn) complete(seq uint32, r result) bool {
	c.mu.Lock()
	ch, ok := c.pending[seq]
	if ok {
		delete(c.pending, seq)
	}
	c.mu.Unlock()
	if !ok {
		return false
	}
	ch <- r
	return true
}

// inflight returns the number of requests awaiting a response.
func (c *conn) inflight() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending)
}

// handler answers one request of the peer. It runs on the read loop and
// must not block for long; slow work goes to a goroutine tracked by
// c.handlers.
type handler func(p pdu.PDU)

// readLoop reads PDUs until the connection fails, completing pending
// requests with their responses and passing requests to h. It returns the
// reason the connection ended, after closing it.
func (c *conn) readLoop(h handler) error {
	for {
		raw, err := pdu.ReadPDU(c.br, c.maxLen)
		if err != nil {
			var se *pdu.StatusError
			if errors.As(err, &se) {
				// A command_length out of range: the framing is lost and
				// nothing after this can be trusted. Say why, then go.
				c.log.Warn("smpp: peer sent an unframeable PDU; closing", "len", se.Header.Length, "err", err)
				c.sendAndClose(&pdu.GenericNack{Hdr: pdu.Header{Status: se.Status, Seq: se.Header.Seq}})
				<-c.done
				return fmt.Errorf("%w: %v", ErrProtocol, err)
			}
			c.closeWith(err)
			return err
		}
		p, err := pdu.Unmarshal(raw)
		if err != nil {
			c.badPDU(err)
			continue
		}
		hdr := p.Header()
		if hdr.ID.IsResponse() {
			if !c.complete(hdr.Seq, result{p: p}) {
				c.lateResps.Add(1)
				c.log.Debug("smpp: response matches no outstanding request", "command", hdr.ID, "seq", hdr.Seq)
			}
			continue
		}
		h(p)
	}
}

// badPDU answers a well-framed PDU that did not decode. The stream is
// still in step, so the session carries on.
func (c *conn) badPDU(err error) {
	var se *pdu.StatusError
	if !errors.As(err, &se) {
		// Unmarshal promises *StatusError; be safe anyway.
		se = &pdu.StatusError{Status: pdu.ESME_RSYSERR}
	}
	c.log.Warn("smpp: malformed PDU from peer", "command", se.Header.ID, "seq", se.Header.Seq, "status", se.Status, "err", err)
	if se.Header.ID.IsResponse() {
		// Fail the request it answers now rather than at its timeout.
		c.complete(se.Header.Seq, result{err: fmt.Errorf("%w: %v", ErrProtocol, err)})
	}
	c.respond(pdu.Response(se.Header, se.Status))
}

// guard runs f, turning a panic into an error log, so a bug in a caller's
// callback fed by peer input cannot take the process down.
func guard(log *slog.Logger, what string, f func()) (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			log.Error("smpp: panic in "+what, "panic", r, "stack", string(debug.Stack()))
			ok = false
		}
	}()
	f()
	return true
}

// tracker counts running goroutines, like a sync.WaitGroup that may
// gain members while someone waits and whose wait can be cut short.
type tracker struct {
	mu   sync.Mutex
	n    int
	idle chan struct{}
}

func (t *tracker) add() {
	t.mu.Lock()
	t.n++
	t.mu.Unlock()
}

func (t *tracker) done() {
	t.mu.Lock()
	t.n--
	if t.n == 0 && t.idle != nil {
		close(t.idle)
		t.idle = nil
	}
	t.mu.Unlock()
}

// wait waits until none are running or ctx ends.
func (t *tracker) wait(ctx context.Context) error {
	t.mu.Lock()
	if t.n == 0 {
		t.mu.Unlock()
		return nil
	}
	if t.idle == nil {
		t.idle = make(chan struct{})
	}
	idle := t.idle
	t.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
