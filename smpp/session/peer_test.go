package session

import (
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trunkline/trunkline/smpp/pdu"
)

// Tests with a scripted peer for what no real implementation does on
// purpose: garbage, broken framing, silence.

// header encodes a bare PDU header.
func header(length uint32, id pdu.CommandID, status pdu.Status, seq uint32) []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint32(b[0:], length)
	binary.BigEndian.PutUint32(b[4:], uint32(id))
	binary.BigEndian.PutUint32(b[8:], uint32(status))
	binary.BigEndian.PutUint32(b[12:], seq)
	return b
}

func TestClientRecoversFromBrokenStreams(t *testing.T) {
	for _, tc := range []struct {
		name string
		send []byte
		// nack is the generic_nack status expected before the client
		// closes, or 0 if it just closes.
		nack pdu.Status
	}{
		{"oversized length", header(0x7FFFFFFF, pdu.CmdDeliverSM, 0, 9), pdu.ESME_RINVCMDLEN},
		{"length below a header", header(8, pdu.CmdDeliverSM, 0, 9), pdu.ESME_RINVCMDLEN},
		{"garbage bytes", []byte("GET / HTTP/1.1\r\nHost: smsc\r\n\r\n"), pdu.ESME_RINVCMDLEN},
		{"truncated PDU then close", append(header(200, pdu.CmdDeliverSM, 0, 9), 0, 0, 0), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			smsc := newRawSMSC(t)
			states := newStateLog()
			c := newTestClient(t, smsc.addr(), ClientOptions{OnState: states.record})
			r := smsc.accept()
			states.waitFor(t, StateBound, 1)
			r.writeRaw(tc.send)
			if tc.nack != 0 {
				p := r.readSkipping()
				if n, ok := p.(*pdu.GenericNack); !ok || n.Hdr.Status != tc.nack {
					t.Fatalf("got %v status %v, want generic_nack %v", p.CommandID(), p.Header().Status, tc.nack)
				}
				r.expectEOF()
			} else {
				r.nc.Close()
			}
			// The client reconnects and works on the new connection.
			r2 := smsc.accept()
			states.waitFor(t, StateBound, 2)
			done := make(chan error, 1)
			go func() {
				_, err := c.Submit(testCtx(t), submitTo("1"))
				done <- err
			}()
			p := r2.readSkipping()
			sm, ok := p.(*pdu.SubmitSM)
			if !ok {
				t.Fatalf("got %v, want submit_sm", p.CommandID())
			}
			r2.write(&pdu.SubmitSMResp{Hdr: pdu.Header{Seq: sm.Hdr.Seq}, MessageID: "x"})
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if st := c.Stats(); st.Reconnects != 1 {
				t.Errorf("reconnects %d", st.Reconnects)
			}
		})
	}
}

func TestClientAnswersMalformedPDUsAndCarriesOn(t *testing.T) {
	smsc := newRawSMSC(t)
	states := newStateLog()
	delivered := make(chan *pdu.DeliverSM, 1)
	c := newTestClient(t, smsc.addr(), ClientOptions{
		OnState: states.record,
		OnDeliver: func(ctx context.Context, d *pdu.DeliverSM) pdu.Status {
			delivered <- d
			return pdu.ESME_ROK
		},
	})
	r := smsc.accept()
	states.waitFor(t, StateBound, 1)

	// An unknown command_id, well framed: generic_nack ESME_RINVCMDID.
	r.writeRaw(header(16, 0x00000077, 0, 41))
	if p := r.readSkipping(); p.CommandID() != pdu.CmdGenericNack || p.Header().Status != pdu.ESME_RINVCMDID || p.Header().Seq != 41 {
		t.Fatalf("unknown command: %v %v seq %d", p.CommandID(), p.Header().Status, p.Header().Seq)
	}

	// A deliver_sm whose sm_length runs past the PDU: answered with the
	// status the codec chose, on the deliver_sm's sequence number.
	good, _ := pdu.Marshal(&pdu.DeliverSM{Hdr: pdu.Header{Seq: 42}, SourceAddr: "1", DestinationAddr: "2", ShortMessage: []byte("hi")})
	bad := append([]byte(nil), good...)
	bad[len(bad)-3] = 200 // sm_length
	r.writeRaw(bad)
	p := r.readSkipping()
	if p.Header().Seq != 42 || p.Header().Status == pdu.ESME_ROK {
		t.Fatalf("malformed deliver_sm answered with %v %v seq %d", p.CommandID(), p.Header().Status, p.Header().Seq)
	}
	var se *pdu.StatusError
	if _, err := pdu.Unmarshal(bad); !errors.As(err, &se) || p.Header().Status != se.Status {
		t.Fatalf("answered %v; the codec says %v", p.Header().Status, err)
	}

	// An undecodable submit_sm_resp fails its submit at once, not at the
	// timeout.
	done := make(chan error, 1)
	go func() {
		_, err := c.Submit(testCtx(t), submitTo("1"))
		done <- err
	}()
	sm := r.readSkipping().(*pdu.SubmitSM)
	resp := header(16+3, pdu.CmdSubmitSMResp, 0, sm.Hdr.Seq)
	r.writeRaw(append(resp, 'a', 'b', 'c')) // message_id without its NUL
	if err := <-done; !errors.Is(err, ErrProtocol) || !Retryable(err) {
		t.Fatalf("bad resp: %v", err)
	}
	if p := r.readSkipping(); p.CommandID() != pdu.CmdGenericNack || p.Header().Seq != sm.Hdr.Seq {
		t.Fatalf("bad resp answered with %v", p.CommandID())
	}

	// The same connection still works: a good deliver_sm gets through.
	r.writeRaw(good)
	if d := <-delivered; string(d.Message()) != "hi" {
		t.Fatalf("delivered %q", d.Message())
	}
	if p := r.readSkipping(); p.CommandID() != pdu.CmdDeliverSMResp || p.Header().Status != pdu.ESME_ROK {
		t.Fatalf("good deliver_sm answered %v %v", p.CommandID(), p.Header().Status)
	}
	if st := c.Stats(); st.Reconnects != 0 || st.Delivers != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestClientSurvivesRandomBytes(t *testing.T) {
	// Random well-framed and unframed junk: the client must never panic,
	// and must keep coming back.
	smsc := newRawSMSC(t)
	states := newStateLog()
	newTestClient(t, smsc.addr(), ClientOptions{
		OnState:   states.record,
		OnDeliver: func(context.Context, *pdu.DeliverSM) pdu.Status { return pdu.ESME_ROK },
	})
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 30 {
		r := smsc.accept()
		states.waitFor(t, StateBound, i+1)
		for range 5 {
			n := 16 + rng.IntN(64)
			b := make([]byte, n)
			for j := range b {
				b[j] = byte(rng.UintN(256))
			}
			if i%2 == 0 {
				// Well framed, random inside.
				binary.BigEndian.PutUint32(b, uint32(n))
				binary.BigEndian.PutUint32(b[4:], uint32([]pdu.CommandID{pdu.CmdDeliverSM, pdu.CmdDataSM, pdu.CmdSubmitSMResp, pdu.CmdEnquireLink, pdu.CmdUnbind, 0x1234}[rng.IntN(6)]))
			}
			r.nc.Write(b)
		}
		r.nc.Close()
	}
}

func TestClientEnquireLinkBothWays(t *testing.T) {
	smsc := newRawSMSC(t)
	states := newStateLog()
	newTestClient(t, smsc.addr(), ClientOptions{
		EnquireLink: 10 * time.Millisecond, ResponseTimeout: 100 * time.Millisecond, OnState: states.record,
	})
	r := smsc.accept()

	// The client's keep-alive, answered.
	p := r.read()
	el, ok := p.(*pdu.EnquireLink)
	if !ok {
		t.Fatalf("got %v, want enquire_link", p.CommandID())
	}
	r.write(&pdu.EnquireLinkResp{Hdr: pdu.Header{Seq: el.Hdr.Seq}})

	// Ours, answered by the client.
	r.write(&pdu.EnquireLink{Hdr: pdu.Header{Seq: 7}})
	for {
		p := r.read()
		if _, ok := p.(*pdu.EnquireLink); ok {
			continue // the client's next one: leave it unanswered
		}
		if p.CommandID() != pdu.CmdEnquireLinkResp || p.Header().Seq != 7 || p.Header().Status != pdu.ESME_ROK {
			t.Fatalf("got %v seq %d", p.CommandID(), p.Header().Seq)
		}
		break
	}
	// Unanswered keep-alives make the client reconnect.
	r.expectEOF()
	smsc.accept()
	states.waitFor(t, StateBound, 2)
}

func TestClientAnswersUnbindAndReconnects(t *testing.T) {
	smsc := newRawSMSC(t)
	states := newStateLog()
	newTestClient(t, smsc.addr(), ClientOptions{OnState: states.record})
	r := smsc.accept()
	states.waitFor(t, StateBound, 1)
	r.write(&pdu.Unbind{Hdr: pdu.Header{Seq: 5}})
	if p := r.readSkipping(); p.CommandID() != pdu.CmdUnbindResp || p.Header().Seq != 5 {
		t.Fatalf("got %v", p.CommandID())
	}
	r.expectEOF()
	smsc.accept()
	states.waitFor(t, StateBound, 2)
}

func TestClientGenericNackFailsTheSubmit(t *testing.T) {
	smsc := newRawSMSC(t)
	c := newTestClient(t, smsc.addr(), ClientOptions{})
	r := smsc.accept()
	if err := c.WaitBound(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := c.Submit(testCtx(t), submitTo("1"))
		done <- err
	}()
	sm := r.readSkipping()
	r.write(&pdu.GenericNack{Hdr: pdu.Header{Seq: sm.Header().Seq, Status: pdu.ESME_RINVCMDLEN}})
	var se *StatusError
	if err := <-done; !errors.As(err, &se) || se.Status != pdu.ESME_RINVCMDLEN {
		t.Fatalf("err %v", err)
	}
}

func TestServerRefusesUnboundRequests(t *testing.T) {
	srv := startServer(t, ServerOptions{})
	r := dialRaw(t, srv.Addr())

	sm := submitTo("1")
	sm.Hdr.Seq = 3
	r.write(sm)
	if p := r.read(); p.CommandID() != pdu.CmdSubmitSMResp || p.Header().Status != pdu.ESME_RINVBNDSTS || p.Header().Seq != 3 {
		t.Fatalf("submit before bind: %v %v", p.CommandID(), p.Header().Status)
	}
	r.write(&pdu.QuerySM{Hdr: pdu.Header{Seq: 4}, MessageID: "1"})
	if p := r.read(); p.Header().Status != pdu.ESME_RINVBNDSTS || p.Header().Seq != 4 {
		t.Fatalf("query before bind: %v %v", p.CommandID(), p.Header().Status)
	}
	r.write(&pdu.EnquireLink{Hdr: pdu.Header{Seq: 5}})
	if p := r.read(); p.CommandID() != pdu.CmdEnquireLinkResp || p.Header().Status != pdu.ESME_ROK {
		t.Fatalf("enquire_link before bind: %v %v", p.CommandID(), p.Header().Status)
	}

	// A receiver may not submit, and may not bind twice.
	if st := r.bind(Receiver, testSystemID, testPassword); st != pdu.ESME_ROK {
		t.Fatalf("bind: %v", st)
	}
	sm.Hdr.Seq = 6
	r.write(sm)
	if p := r.read(); p.Header().Status != pdu.ESME_RINVBNDSTS {
		t.Fatalf("submit on a receiver: %v", p.Header().Status)
	}
	if st := r.bind(Transceiver, testSystemID, testPassword); st != pdu.ESME_RALYBND {
		t.Fatalf("second bind: %v", st)
	}
	// Commands the server does not offer are refused as such.
	r.write(&pdu.CancelSM{Hdr: pdu.Header{Seq: 8}, MessageID: "1"})
	if p := r.read(); p.CommandID() != pdu.CmdCancelSMResp || p.Header().Status != pdu.ESME_RINVCMDID {
		t.Fatalf("cancel_sm: %v %v", p.CommandID(), p.Header().Status)
	}
	// Garbage framing: generic_nack, then the server hangs up.
	r.writeRaw(header(1<<30, pdu.CmdSubmitSM, 0, 9))
	if p := r.read(); p.CommandID() != pdu.CmdGenericNack || p.Header().Status != pdu.ESME_RINVCMDLEN {
		t.Fatalf("oversized: %v %v", p.CommandID(), p.Header().Status)
	}
	r.expectEOF()
}

func TestServerClosesConnectionsThatDoNotBind(t *testing.T) {
	srv := startServer(t, ServerOptions{BindTimeout: 20 * time.Millisecond})
	r := dialRaw(t, srv.Addr())
	r.expectEOF()
}

func TestServerEnquireLinkBothWays(t *testing.T) {
	unbound := make(chan struct{})
	srv := startServer(t, ServerOptions{
		EnquireLink: 10 * time.Millisecond, ResponseTimeout: 50 * time.Millisecond,
		OnUnbind: func(*Session) { close(unbound) },
	})
	r := dialRaw(t, srv.Addr())
	if st := r.bind(Transceiver, testSystemID, testPassword); st != pdu.ESME_ROK {
		t.Fatal(st)
	}
	p := r.read()
	if p.CommandID() != pdu.CmdEnquireLink {
		t.Fatalf("got %v, want the server's enquire_link", p.CommandID())
	}
	r.write(&pdu.EnquireLinkResp{Hdr: pdu.Header{Seq: p.Header().Seq}})
	r.write(&pdu.EnquireLink{Hdr: pdu.Header{Seq: 99}})
	for {
		p := r.read()
		if p.CommandID() == pdu.CmdEnquireLink {
			continue // stop answering
		}
		if p.CommandID() != pdu.CmdEnquireLinkResp || p.Header().Seq != 99 {
			t.Fatalf("got %v", p.CommandID())
		}
		break
	}
	// Silent ESMEs are dropped.
	r.expectEOF()
	<-unbound
}

func TestServerThrottlesFailedBindsPerAddress(t *testing.T) {
	clock := newFakeClock()
	var checked atomic.Int32
	auth := StaticCredentials(map[string]string{testSystemID: testPassword})
	srv := startServer(t, ServerOptions{
		Now: clock.Now, MaxBindFailures: 3, BindFailureWindow: time.Minute,
		Authenticate: func(id, pw string, b BindType, a net.Addr) pdu.Status {
			checked.Add(1)
			return auth(id, pw, b, a)
		},
	})
	try := func(pw string) pdu.Status {
		r := dialRaw(t, srv.Addr())
		st := r.bind(Transceiver, testSystemID, pw)
		if st != pdu.ESME_ROK {
			r.expectEOF() // a failed bind costs the connection
		}
		r.nc.Close()
		return st
	}
	for i := range 3 {
		if st := try("guess"); st != pdu.ESME_RBINDFAIL {
			t.Fatalf("guess %d: %v", i, st)
		}
	}
	// Blocked: even the right password fails, and is not even checked.
	if st := try(testPassword); st != pdu.ESME_RBINDFAIL || checked.Load() != 3 {
		t.Fatalf("while blocked: %v, %d checks", st, checked.Load())
	}
	// Still trying keeps it blocked...
	clock.Advance(50 * time.Second)
	if st := try(testPassword); st != pdu.ESME_RBINDFAIL {
		t.Fatalf("still blocked: %v", st)
	}
	// ...a quiet window lifts it.
	clock.Advance(time.Minute)
	if st := try(testPassword); st != pdu.ESME_ROK || checked.Load() != 4 {
		t.Fatalf("after the window: %v, %d checks", st, checked.Load())
	}
}

func TestBindGuardIsBounded(t *testing.T) {
	clock := newFakeClock()
	g := newBindGuard(clock.Now, 1, time.Minute)
	for i := range guardMaxEntries + 100 {
		g.fail(string(rune(i)) + "x")
	}
	if len(g.m) != guardMaxEntries {
		t.Fatalf("%d entries", len(g.m))
	}
	clock.Advance(time.Minute)
	g.fail("new")
	if len(g.m) != 1 {
		t.Fatalf("expired entries not pruned: %d", len(g.m))
	}
}
