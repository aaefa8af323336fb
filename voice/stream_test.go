package voice_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/emiago/diago"
	"github.com/emiago/sipgo/sip"

	"github.com/trunkline/trunkline/audio"
)

// streamPeer is a customer's stream server in the test: a real WebSocket
// server (coder/websocket) on loopback. Each connection hands its socket
// and upgrade request to the test.
type streamPeer struct {
	srv   *httptest.Server
	conns chan streamConn
}

type streamConn struct {
	c   *websocket.Conn
	req *http.Request
	msg chan map[string]any // the JSON events we sent it, in order
}

func newStreamPeer(t *testing.T, listen string) *streamPeer {
	p := &streamPeer{conns: make(chan streamConn, 4)}
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		c.SetReadLimit(1 << 20)
		sc := streamConn{c: c, req: r, msg: make(chan map[string]any, 4096)}
		p.conns <- sc
		defer close(sc.msg)
		for {
			_, b, err := c.Read(context.Background())
			if err != nil {
				return
			}
			var m map[string]any
			if json.Unmarshal(b, &m) != nil {
				m = map[string]any{"event": "not-json", "raw": string(b)}
			}
			select {
			case sc.msg <- m:
			default:
			}
		}
	}))
	if listen != "" {
		p.srv.Listener.Close()
		ln, err := net.Listen("tcp", listen)
		if err != nil {
			t.Fatal(err)
		}
		p.srv.Listener = ln
	}
	p.srv.Start()
	t.Cleanup(p.srv.Close)
	return p
}

// url is the ws:// URL of path on the peer.
func (p *streamPeer) url(path string) string {
	return "ws" + strings.TrimPrefix(p.srv.URL, "http") + path
}

func (p *streamPeer) accept(t *testing.T, d time.Duration) streamConn {
	t.Helper()
	select {
	case c := <-p.conns:
		return c
	case <-time.After(d):
		t.Fatalf("no stream connection within %v", d)
		return streamConn{}
	}
}

// next returns the next event named name (skipping media unless asked for).
func (c streamConn) next(t *testing.T, name string, d time.Duration) map[string]any {
	t.Helper()
	return c.nextOf(t, d, name)
}

// nextOf returns the next event named one of names.
func (c streamConn) nextOf(t *testing.T, d time.Duration, names ...string) map[string]any {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case m, ok := <-c.msg:
			if !ok {
				t.Fatalf("the stream closed before a %v event", names)
			}
			for _, n := range names {
				if m["event"] == n {
					return m
				}
			}
		case <-deadline:
			t.Fatalf("no %v event within %v", names, d)
		}
	}
}

// inboundAudio collects d of the inbound track's audio (decoded to 8 kHz).
func (c streamConn) inboundAudio(t *testing.T, enc string, rate int, d time.Duration) []int16 {
	t.Helper()
	var pcm []int16
	want := int(d.Seconds() * float64(rate))
	var chunk float64
	for len(pcm) < want {
		m := c.next(t, "media", 5*time.Second)
		md := m["media"].(map[string]any)
		if md["track"] != "inbound" {
			continue
		}
		if ch := md["chunk"].(float64); ch <= chunk {
			t.Fatalf("media chunk %v after %v", ch, chunk)
		} else {
			chunk = ch
		}
		b, err := base64.StdEncoding.DecodeString(md["payload"].(string))
		if err != nil {
			t.Fatal(err)
		}
		if enc == "audio/x-mulaw" {
			pcm = audio.DecodeMulaw(pcm, b)
			continue
		}
		for i := 0; i+1 < len(b); i += 2 {
			pcm = append(pcm, int16(uint16(b[i])|uint16(b[i+1])<<8))
		}
	}
	return pcm
}

func (c streamConn) send(t *testing.T, v map[string]any) {
	t.Helper()
	b, _ := json.Marshal(v)
	if err := c.c.Write(context.Background(), websocket.MessageText, b); err != nil {
		t.Fatal(err)
	}
}

// nthHit waits (bounded) for the n-th request to path and returns it,
// whatever other requests came in between.
func nthHit(t *testing.T, a *app, path string, n int, d time.Duration) url.Values {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		a.mu.Lock()
		hits := a.hit[path]
		a.mu.Unlock()
		if len(hits) >= n {
			return hits[n-1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d request(s) to %s within %v, want %d", len(hits), path, d, n)
		}
		select {
		case <-a.ch:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// streamHit waits for the status callback event of the stream whose service
// URL has path (bounded by d).
func streamHit(t *testing.T, a *app, path, event string, d time.Duration) url.Values {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		a.mu.Lock()
		hits := slices.Clone(a.hit["/stream"])
		a.mu.Unlock()
		for _, h := range hits {
			if u, err := url.Parse(h.Get("ServiceURL")); err == nil && u.Path == path && h.Get("Event") == event {
				return h
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s callback for the stream to %s within %v (got %v)", event, path, d, hits)
		}
		select {
		case <-a.ch:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// toneShare is the share of pcm's power at freq (Goertzel): near 1 for a
// pure tone at freq, near 0 for silence or other frequencies.
func toneShare(pcm []int16, freq float64, rate int) float64 {
	if len(pcm) == 0 {
		return 0
	}
	k := 2 * math.Cos(2*math.Pi*freq/float64(rate))
	var s1, s2, energy float64
	for _, v := range pcm {
		x := float64(v)
		s1, s2 = x+k*s1-s2, s1
		energy += x * x
	}
	if energy == 0 {
		return 0
	}
	power := s1*s1 + s2*s2 - k*s1*s2
	return 2 * power / (float64(len(pcm)) * energy)
}

// caller is a diago phone in a call to the stack's number: it sends a
// tone at 8 kHz μ-law in real time and keeps what it hears, timestamped.
type caller struct {
	d     *diago.DialogClientSession
	med   *diago.DialogMedia
	mu    sync.Mutex
	heard []heardFrame
	// wmu serialises writes to the call's RTP: diago's packet writer is
	// not safe for the tone and a DTMF key at once.
	wmu sync.Mutex
}

type heardFrame struct {
	at  time.Time
	pcm []int16
}

func dialStream(t *testing.T, s *stack, toneHz float64) *caller {
	t.Helper()
	dg := dialer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	uri := sip.Uri{User: s.number, Host: "127.0.0.1", Port: int(s.srv.Addr().Port())}
	d, med, err := dg.Invite(ctx, uri, diago.InviteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	cl := &caller{d: d, med: med}
	r, err := med.AudioReader()
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		buf := make([]byte, 1500)
		for {
			n, err := r.Read(buf)
			if err != nil {
				return
			}
			f := audio.DecodeMulaw(nil, buf[:n])
			cl.mu.Lock()
			cl.heard = append(cl.heard, heardFrame{time.Now(), f})
			cl.mu.Unlock()
		}
	}()
	w, err := med.AudioWriter()
	if err != nil {
		t.Fatal(err)
	}
	tone := audio.EncodeMulaw(nil, audio.Tone(toneHz, 1000, -10))
	go func() {
		tk := time.NewTicker(20 * time.Millisecond)
		defer tk.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-d.Context().Done():
				return
			case <-tk.C:
			}
			off := (i % 50) * 160
			cl.wmu.Lock()
			_, err := w.Write(tone[off : off+160])
			cl.wmu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return cl
}

// heardBetween is what the caller heard from a to b.
func (c *caller) heardBetween(a, b time.Time) []int16 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var pcm []int16
	for _, f := range c.heard {
		if !f.at.Before(a) && f.at.Before(b) {
			pcm = append(pcm, f.pcm...)
		}
	}
	return pcm
}

// playAudio sends pcm (8 kHz) in format enc/rate, in messages of at most
// half a second.
func playAudio(t *testing.T, c streamConn, pcm []int16, enc string, rate int) {
	t.Helper()
	if rate == 16000 {
		var err error
		if pcm, err = audio.Resample(pcm, 8000, 16000); err != nil {
			t.Fatal(err)
		}
	}
	step := rate / 2
	for i := 0; i < len(pcm); i += step {
		part := pcm[i:min(i+step, len(pcm))]
		var b []byte
		if enc == "audio/x-mulaw" {
			b = audio.EncodeMulaw(nil, part)
		} else {
			for _, v := range part {
				b = append(b, byte(v), byte(uint16(v)>>8))
			}
		}
		c.send(t, map[string]any{"event": "playAudio", "media": map[string]any{"contentType": enc, "sampleRate": rate,
			"payload": base64.StdEncoding.EncodeToString(b)}})
	}
}

// TestStreamBidirectional: a diago caller sends a 700 Hz tone; the stream
// server receives it (measured), plays audio back that the caller hears
// (measured), gets its checkpoint once that audio has played, clears a
// long clip mid-way (the caller stops hearing it; clearedAudio and the
// pending checkpoint arrive), sees the caller's key press, and ends the
// stream; the call goes on to the next element. Both content types.
func TestStreamBidirectional(t *testing.T) {
	for _, tc := range []struct {
		contentType, enc string
		rate             int
	}{
		{"audio/x-mulaw;rate=8000", "audio/x-mulaw", 8000},
		{"audio/x-l16;rate=16000", "audio/x-l16", 16000},
	} {
		t.Run(tc.enc+"@"+itoa(tc.rate), func(t *testing.T) {
			s := newStack(t, stackOptions{})
			peer := newStreamPeer(t, "")
			s.app.set("/answer", `<Response><Stream bidirectional="true" keepCallAlive="true" contentType="`+tc.contentType+
				`" extraHeaders="agent=42,lang=en" statusCallbackUrl="`+s.app.url("/stream")+`">`+peer.url("/ws?tok=hush")+
				`</Stream><Redirect>`+s.app.url("/after")+`</Redirect></Response>`)
			s.app.set("/after", `<Response><Hangup/></Response>`)
			s.app.set("/stream", "ok")
			s.app.set("/hangup", "ok")
			cl := dialStream(t, s, 700)
			conn := peer.accept(t, 10*time.Second)
			if conn.req.Header.Get("X-Plivo-Signature-V3") == "" || conn.req.Header.Get("X-Plivo-Signature-V3-Nonce") == "" {
				t.Errorf("upgrade not signed: %v", conn.req.Header)
			}
			start := conn.next(t, "start", 5*time.Second)
			st := start["start"].(map[string]any)
			mf := st["mediaFormat"].(map[string]any)
			streamID, _ := st["streamId"].(string)
			if mf["encoding"] != tc.enc || mf["sampleRate"] != float64(tc.rate) || st["callId"] == "" || streamID == "" ||
				start["extra_headers"] != "agent=42;lang=en" || start["sequenceNumber"] != float64(1) {
				t.Fatalf("start event: %v", start)
			}
			if ev := nthHit(t, s.app, "/stream", 1, 5*time.Second); ev.Get("Event") != "StartStream" || ev.Get("StreamID") != streamID {
				t.Fatalf("status callback: %v", ev)
			}
			// The caller's tone reaches the server.
			in := conn.inboundAudio(t, tc.enc, tc.rate, time.Second)
			if sh := toneShare(in, 700, tc.rate); sh < 0.6 {
				t.Fatalf("the stream server got %.2f of its audio at 700 Hz (level %.1f dBov)", sh, audio.Level(in))
			}
			// Audio back: 0.6 s of 1500 Hz, then a checkpoint.
			sent := time.Now()
			playAudio(t, conn, audio.Tone(1500, 600, -10), tc.enc, tc.rate)
			conn.send(t, map[string]any{"event": "checkpoint", "streamId": streamID, "name": "first"})
			if m := conn.next(t, "playedStream", 5*time.Second); m["name"] != "first" {
				t.Fatalf("playedStream %v", m)
			}
			played := time.Now()
			if d := played.Sub(sent); d < 500*time.Millisecond {
				t.Fatalf("checkpoint after %v: before its 600 ms of audio played", d)
			}
			time.Sleep(100 * time.Millisecond) // let the last frames reach the caller
			if sh := toneShare(cl.heardBetween(sent, played.Add(100*time.Millisecond)), 1500, 8000); sh < 0.3 {
				t.Fatalf("the caller heard %.2f of the played audio at 1500 Hz", sh)
			}
			// A long clip, cleared after about a second.
			long := time.Now()
			playAudio(t, conn, audio.Tone(1000, 6000, -10), tc.enc, tc.rate)
			conn.send(t, map[string]any{"event": "checkpoint", "streamId": streamID, "name": "second"})
			time.Sleep(time.Second)
			if sh := toneShare(cl.heardBetween(long.Add(200*time.Millisecond), time.Now()), 1000, 8000); sh < 0.3 {
				t.Fatalf("before the clear the caller heard %.2f at 1000 Hz", sh)
			}
			conn.send(t, map[string]any{"event": "clearAudio", "streamId": streamID})
			cleared := time.Now()
			got := map[string]bool{}
			for !got["clearedAudio"] || !got["second"] {
				m := conn.nextOf(t, 5*time.Second, "clearedAudio", "playedStream")
				if m["event"] == "playedStream" {
					got[m["name"].(string)] = true
				} else {
					got["clearedAudio"] = true
				}
			}
			// Once the clear is through, the caller no longer hears the clip
			// (which had about 5 s left).
			time.Sleep(time.Second)
			if sh := toneShare(cl.heardBetween(cleared.Add(300*time.Millisecond), time.Now()), 1000, 8000); sh > 0.1 {
				t.Fatalf("after clearAudio the caller still heard %.2f at 1000 Hz", sh)
			}
			// The caller's key press reaches the server.
			dw, err := cl.med.AudioWriterDTMF()
			if err != nil {
				t.Fatal(err)
			}
			cl.wmu.Lock()
			err = dw.WriteDTMF('5')
			cl.wmu.Unlock()
			if err != nil {
				t.Fatal(err)
			}
			if m := conn.next(t, "dtmf", 5*time.Second); m["dtmf"].(map[string]any)["digit"] != "5" {
				t.Fatalf("dtmf event %v", m)
			}
			// The server ends the stream; keepCallAlive lets the call go on.
			conn.c.Close(websocket.StatusNormalClosure, "done")
			if ev := nthHit(t, s.app, "/stream", 2, 10*time.Second); ev.Get("Event") != "StopStream" || ev.Get("StreamID") != streamID ||
				ev.Get("StatusReason") != "the stream server closed the stream" {
				t.Fatalf("status callback: %v", ev)
			}
			nthHit(t, s.app, "/after", 1, 10*time.Second)
			nthHit(t, s.app, "/hangup", 1, 10*time.Second)
		})
	}
}

// TestStreamLoopbackRefused: without the operator's allow setting for it, a
// stream to a loopback address is refused, wss or ws, before any
// connection; the status callback says why and the call goes on.
func TestStreamLoopbackRefused(t *testing.T) {
	// Callbacks may reach 127.0.0.1 (the test's application); the stream
	// server listens on 127.0.0.2, which the operator did not open.
	s := newStack(t, stackOptions{allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	peer := newStreamPeer(t, "127.0.0.2:0")
	port := peer.srv.Listener.Addr().(*net.TCPAddr).Port
	target := "127.0.0.2:" + itoa(port) + "/ws"
	cb := `statusCallbackUrl="` + s.app.url("/stream") + `"`
	s.app.set("/answer", `<Response><Stream keepCallAlive="true" `+cb+`>ws://`+target+`</Stream><Stream keepCallAlive="true" `+cb+`>wss://`+target+
		`</Stream><Redirect>`+s.app.url("/after")+`</Redirect></Response>`)
	s.app.set("/after", `<Response><Hangup/></Response>`)
	s.app.set("/stream", "ok")
	s.app.set("/hangup", "ok")
	dialStream(t, s, 700)
	for i, scheme := range []string{"ws", "wss"} {
		ev := nthHit(t, s.app, "/stream", i+1, 10*time.Second)
		if ev.Get("Event") != "DroppedStream" || !strings.Contains(ev.Get("StatusReason"), "loopback") {
			t.Fatalf("%s: status callback %v", scheme, ev)
		}
	}
	nthHit(t, s.app, "/after", 1, 10*time.Second)
	select {
	case <-peer.conns:
		t.Fatal("the refused stream reached the server")
	default:
	}
}

// TestStreamGarbageAndClose: a server that sends garbage has its stream
// dropped with a clear reason, one that closes the socket abruptly too;
// each time the call goes on. Nothing of the messages, the audio or the
// URL's query reaches the log.
func TestStreamGarbageAndClose(t *testing.T) {
	var logs lockedBuf
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := newStack(t, stackOptions{logger: logger})
	peer := newStreamPeer(t, "")
	cb := `statusCallbackUrl="` + s.app.url("/stream") + `"`
	s.app.set("/answer", `<Response><Stream bidirectional="true" keepCallAlive="true" `+cb+`>`+peer.url("/garbage?tok=hush")+
		`</Stream><Redirect>`+s.app.url("/after")+`</Redirect></Response>`)
	s.app.set("/after", `<Response><Stream keepCallAlive="true" `+cb+`>`+peer.url("/close?tok=hush")+
		`</Stream><Redirect>`+s.app.url("/after2")+`</Redirect></Response>`)
	s.app.set("/after2", `<Response><Hangup/></Response>`)
	s.app.set("/stream", "ok")
	s.app.set("/hangup", "ok")
	dialStream(t, s, 700)

	conn := peer.accept(t, 10*time.Second)
	conn.next(t, "start", 5*time.Second)
	garbage := []string{
		"SECRETPAYLOAD not json",
		`{"event":"playAudio","media":{"payload":"SECRETPAYLOAD!!"}}`,
		`{"event":"playAudio","media":{"contentType":"audio/wav","payload":"U0VDUkVUUEFZTE9BRA=="}}`,
		`{"event":"playAudio","media":{"contentType":"audio/x-l16","sampleRate":"8000","payload":"U0VDUkVUUEFZTE9BRA="}}`,
		`{"event":"checkpoint","name":""}`,
		`{"event":"sendDTMF","dtmf":"SECRETPAYLOAD"}`,
		`{"event":"","media":"SECRETPAYLOAD"}`,
		`["SECRETPAYLOAD"]`,
		`{"event":"someFutureEvent","x":"SECRETPAYLOAD"}`, // unknown: ignored, not counted
		`{"event":"playAudio"}`,
	}
	for _, g := range garbage {
		conn.c.Write(context.Background(), websocket.MessageText, []byte(g))
	}
	conn.c.Write(context.Background(), websocket.MessageBinary, []byte("SECRETPAYLOAD"))
	// Callbacks are in order per stream, not across the call's streams: the next
	// element's StartStream may come before this stream's DroppedStream.
	ev := streamHit(t, s.app, "/garbage", "DroppedStream", 10*time.Second)
	if !strings.Contains(ev.Get("StatusReason"), "sent 10 invalid messages") {
		t.Fatalf("status callback %v", ev)
	}
	nthHit(t, s.app, "/after", 1, 10*time.Second)

	conn = peer.accept(t, 10*time.Second)
	conn.next(t, "start", 5*time.Second)
	conn.inboundAudio(t, "audio/x-l16", 8000, 200*time.Millisecond)
	conn.c.CloseNow() // no close frame: the connection just goes
	ev = streamHit(t, s.app, "/close", "DroppedStream", 10*time.Second)
	if ev.Get("StatusReason") != "the stream server closed the connection" {
		t.Fatalf("status callback %v", ev)
	}
	nthHit(t, s.app, "/after2", 1, 10*time.Second)
	nthHit(t, s.app, "/hangup", 1, 10*time.Second)

	out := string(logs.Bytes())
	if !strings.Contains(out, "stream server message refused") || !strings.Contains(out, "stream dropped") {
		t.Fatalf("the log does not say what went wrong:\n%s", out)
	}
	for _, secret := range []string{"SECRETPAYLOAD", "U0VDUkVU", "hush", `"payload"`} {
		if strings.Contains(out, secret) {
			t.Fatalf("the log holds %q:\n%s", secret, out)
		}
	}
}

// TestStreamCallbacksInOrder: a stream's status callbacks reach the
// customer one after the other: DroppedStream is not posted while
// StartStream is still being answered (they used to race, each on its own
// goroutine, and could even arrive in the wrong order).
func TestStreamCallbacksInOrder(t *testing.T) {
	var mu sync.Mutex
	var events []string
	holding, overlap := false, false
	second := make(chan string, 4)
	cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		ev := r.Form.Get("Event")
		mu.Lock()
		events = append(events, ev)
		if holding {
			overlap = true
		}
		first := ev == "StartStream"
		holding = holding || first
		mu.Unlock()
		if !first {
			second <- ev
			return
		}
		// Answer StartStream slowly: long enough for the stream to end.
		select {
		case ev := <-second:
			second <- ev
		case <-time.After(3 * time.Second):
		}
		mu.Lock()
		holding = false
		mu.Unlock()
	}))
	t.Cleanup(cb.Close)
	s := newStack(t, stackOptions{})
	peer := newStreamPeer(t, "")
	s.app.set("/answer", `<Response><Stream keepCallAlive="true" statusCallbackUrl="`+cb.URL+`/stream">`+peer.url("/ws")+
		`</Stream><Redirect>`+s.app.url("/after")+`</Redirect></Response>`)
	s.app.set("/after", `<Response><Hangup/></Response>`)
	s.app.set("/hangup", "ok")
	dialStream(t, s, 700)
	conn := peer.accept(t, 10*time.Second)
	conn.next(t, "start", 5*time.Second)
	conn.c.CloseNow()
	select {
	case <-second:
	case <-time.After(15 * time.Second):
		t.Fatal("no second status callback")
	}
	mu.Lock()
	defer mu.Unlock()
	if overlap || len(events) != 2 || events[0] != "StartStream" || events[1] != "DroppedStream" {
		t.Fatalf("callbacks %v, the second while the first was unanswered: %v", events, overlap)
	}
}
