package media

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/rtp"

	"github.com/trunkline/trunkline/audio"
)

func TestParseStreamFormat(t *testing.T) {
	for in, want := range map[string]string{
		"audio/x-l16;rate=8000":     "audio/x-l16;rate=8000",
		"audio/x-l16; rate=16000":   "audio/x-l16;rate=16000",
		"AUDIO/X-MULAW;rate=8000":   "audio/x-mulaw;rate=8000",
		"audio/x-mulaw":             "audio/x-mulaw;rate=8000",
		"audio/x-mulaw;rate=16000":  "",
		"audio/x-l16;rate=44100":    "",
		"audio/wav":                 "",
		"audio/x-l16;bitrate=16000": "",
	} {
		f, ok := ParseStreamFormat(in)
		if got := map[bool]string{true: f.String(), false: ""}[ok]; got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}

// The media event is hand-built: it must be the JSON Plivo's SDKs parse.
func TestMediaEventJSON(t *testing.T) {
	b := appendMediaEvent(nil, 42, quote("6d1b4f0e-1111-2222-3333-444455556666"), "inbound", 1705312200000, 41, []byte{0xff, 0x7f, 0}, quote(`a="b";c=d`))
	var m struct {
		Event          string `json:"event"`
		SequenceNumber int    `json:"sequenceNumber"`
		StreamID       string `json:"streamId"`
		Media          struct {
			Track, Timestamp string
			Chunk            int
			Payload          []byte
		} `json:"media"`
		Extra string `json:"extra_headers"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	if m.Event != "media" || m.SequenceNumber != 42 || m.Media.Track != "inbound" || m.Media.Timestamp != "1705312200000" ||
		m.Media.Chunk != 41 || !bytes.Equal(m.Media.Payload, []byte{0xff, 0x7f, 0}) || m.Extra != `a="b";c=d` {
		t.Fatalf("%s → %+v", b, m)
	}
}

// The player plays queued audio in order, reaches checkpoints only once the
// audio before them has played, and a clear drops the rest and reaches
// every pending checkpoint.
func TestStreamPlayer(t *testing.T) {
	p := newStreamPlayer()
	p.mark("empty") // nothing queued: reached at once
	if r := p.takeReached(); !slices.Equal(r, []string{"empty"}) {
		t.Fatalf("reached %v", r)
	}
	p.add(audio.Tone(1000, 30, -10)) // 240 samples
	p.mark("a")
	p.add(audio.Tone(1000, 100, -10))
	p.mark("b")
	frame := make([]int16, frameSamples)
	p.fill(frame)
	if r := p.takeReached(); len(r) != 0 {
		t.Fatalf("after one frame: reached %v", r)
	}
	if audio.Level(frame) < -20 {
		t.Fatal("the frame holds no audio")
	}
	clear(frame)
	p.fill(frame)
	if r := p.takeReached(); !slices.Equal(r, []string{"a"}) {
		t.Fatalf("after two frames: reached %v", r)
	}
	select {
	case <-p.notify:
	default:
		t.Fatal("no notification")
	}
	p.clear()
	if r := p.takeReached(); !slices.Equal(r, []string{"b"}) {
		t.Fatalf("after clear: reached %v", r)
	}
	clear(frame)
	p.fill(frame)
	if audio.Level(frame) > -90 {
		t.Fatal("audio after clear")
	}
	if !p.add(make([]int16, maxPlayQueue)) || p.add(make([]int16, 10)) {
		t.Fatal("the 60 s bound does not hold")
	}
}

// fakeRTP feeds a Channel packets the benchmark sends, and notes when each
// was read (the RTP packet's arrival as the call's reader sees it).
type fakeRTP struct {
	in   chan []byte
	mu   sync.Mutex
	read map[uint16]time.Time
}

func (f *fakeRTP) ReadRTP(b []byte, p *rtp.Packet) (int, error) {
	pkt, ok := <-f.in
	if !ok {
		return 0, context.Canceled
	}
	if err := p.Unmarshal(pkt); err != nil {
		return 0, err
	}
	f.mu.Lock()
	f.read[p.SequenceNumber] = time.Now()
	f.mu.Unlock()
	return len(pkt), nil
}

func (f *fakeRTP) WriteRTP(*rtp.Packet) error { return nil }

// benchStream is one streamed call: a channel on fakeRTP, a Stream to a
// real WebSocket server on loopback that notes each media frame's arrival.
type benchStream struct {
	rtp  *fakeRTP
	mu   sync.Mutex
	lat  []time.Duration
	done chan struct{}
}

func startBenchStream(b *testing.B, srvURL string, conns chan *benchStream) (*benchStream, func()) {
	bs := &benchStream{rtp: &fakeRTP{in: make(chan []byte, 64), read: map[uint16]time.Time{}}, done: make(chan struct{})}
	ch := NewChannel(bs.rtp, "PCMU", -1, nil)
	ch.Start()
	conns <- bs
	conn, _, err := websocket.Dial(context.Background(), srvURL, nil)
	if err != nil {
		b.Fatal(err)
	}
	st := NewStream(ch, conn, StreamOptions{CallID: "c", StreamID: "s", Format: StreamFormat{"audio/x-mulaw", 8000}})
	ctx, cancel := context.WithCancel(context.Background())
	ended := make(chan struct{})
	go func() { st.Run(ctx); close(ended) }()
	return bs, func() { cancel(); close(bs.rtp.in); <-ended }
}

func benchServer(b *testing.B) (string, chan *benchStream) {
	conns := make(chan *benchStream, 1024)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		bs := <-conns
		for {
			_, msg, err := c.Read(context.Background())
			if err != nil {
				return
			}
			at := time.Now()
			i := bytes.Index(msg, []byte(`"chunk":`))
			if i < 0 {
				continue
			}
			j := i + 8
			for j < len(msg) && msg[j] >= '0' && msg[j] <= '9' {
				j++
			}
			n, _ := strconv.Atoi(string(msg[i+8 : j]))
			bs.rtp.mu.Lock()
			sent, ok := bs.rtp.read[uint16(n)]
			bs.rtp.mu.Unlock()
			if ok {
				bs.mu.Lock()
				bs.lat = append(bs.lat, at.Sub(sent))
				bs.mu.Unlock()
			}
		}
	}))
	b.Cleanup(srv.Close)
	return "ws" + srv.URL[len("http"):], conns
}

func packet(seq uint16) []byte {
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: seq, Timestamp: uint32(seq) * 160, SSRC: 1},
		Payload: audio.EncodeMulaw(nil, audio.Tone(700, 20, -10))}
	b, _ := p.Marshal()
	return b
}

// BenchmarkStreamCalls streams `calls` calls at once, each getting a
// packet every 20 ms in real time (inbound track, μ-law), for b.N rounds,
// and reports the process CPU per streamed call (the in-process WebSocket
// server that receives the frames included: an upper bound) and the delay
// from the RTP packet read to the WebSocket frame received (p50, p99).
// Run: go test ./media -run '^$' -bench StreamCalls -benchtime 500x
func BenchmarkStreamCalls(b *testing.B) {
	for _, calls := range []int{1, 100} {
		b.Run(strconv.Itoa(calls)+"calls", func(b *testing.B) {
			url, conns := benchServer(b)
			var streams []*benchStream
			var stops []func()
			for range calls {
				bs, stop := startBenchStream(b, url, conns)
				streams, stops = append(streams, bs), append(stops, stop)
			}
			pkts := make([][]byte, 1<<16)
			for i := range pkts {
				pkts[i] = packet(uint16(i + 1)) // chunk n is the n-th packet
			}
			var ru0, ru1 syscall.Rusage
			syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
			start := time.Now()
			tk := time.NewTicker(20 * time.Millisecond)
			b.ResetTimer()
			for i := range b.N {
				<-tk.C
				for _, bs := range streams {
					bs.rtp.in <- pkts[i%len(pkts)]
				}
			}
			b.StopTimer()
			tk.Stop()
			time.Sleep(100 * time.Millisecond) // the last frames arrive
			wall := time.Since(start)
			syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
			cpu := time.Duration(syscall.TimevalToNsec(ru1.Utime)-syscall.TimevalToNsec(ru0.Utime)) +
				time.Duration(syscall.TimevalToNsec(ru1.Stime)-syscall.TimevalToNsec(ru0.Stime))
			for _, stop := range stops {
				stop()
			}
			var lat []time.Duration
			for _, bs := range streams {
				bs.mu.Lock()
				lat = append(lat, bs.lat...)
				bs.mu.Unlock()
			}
			if len(lat) == 0 {
				b.Fatal("no frames arrived")
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
			b.ReportMetric(100*cpu.Seconds()/wall.Seconds()/float64(calls), "%core/call")
			b.ReportMetric(float64(len(lat))/float64(b.N*calls), "delivered")
		})
	}
}

// smallBuffers makes a socket's kernel buffers tiny, so that a peer that
// stops reading blocks our writes after a few kilobytes.
func smallBuffers(_, _ string, c syscall.RawConn) error {
	var serr error
	c.Control(func(fd uintptr) {
		if serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, 1024); serr == nil {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 1024)
		}
	})
	return serr
}

// floodServer is a stream server that never reads and sends msg n times:
// each message asks for an answer (clearedAudio, playedStream), which
// backs up behind the writes the server does not read. It returns the
// server's side of the connection once the flood is under way.
func floodServer(t *testing.T, msg string, n int) (string, chan *websocket.Conn) {
	t.Helper()
	lc := net.ListenConfig{Control: smallBuffers}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns := make(chan *websocket.Conn, 1)
	ctx, cancel := context.WithCancel(context.Background())
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		conns <- c
		for range n {
			if c.Write(ctx, websocket.MessageText, []byte(msg)) != nil {
				return
			}
		}
		<-ctx.Done()
	}))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(func() { cancel(); srv.Close() })
	return "ws" + srv.URL[len("http"):], conns
}

// A server that floods control events and stops reading must not leave the
// stream's goroutines blocked on its control queue: when the call ends, Run
// returns. (The reader used to wait on the full queue for ever, and Run for
// the reader.)
func TestStreamFloodedControlQueueEnds(t *testing.T) {
	for _, msg := range []string{`{"event":"clearAudio"}`, `{"event":"checkpoint","name":"c"}`} {
		t.Run(msg, func(t *testing.T) {
			url, conns := floodServer(t, msg, 20000)
			d := &net.Dialer{Control: smallBuffers}
			hc := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
			conn, _, err := websocket.Dial(context.Background(), url, &websocket.DialOptions{HTTPClient: hc})
			if err != nil {
				t.Fatal(err)
			}
			srvConn := <-conns
			ch := NewChannel(&fakeRTP{in: make(chan []byte)}, "PCMU", -1, nil)
			st := NewStream(ch, conn, StreamOptions{CallID: "c", StreamID: "s", Bidirectional: true})
			ctx, cancel := context.WithCancel(context.Background())
			ended := make(chan StreamEnd, 1)
			go func() { ended <- st.Run(ctx) }()
			// Wait (bounded) until the answers fill the control queue: the
			// writer is stuck on the server that does not read.
			for i := 0; len(st.ctl) < cap(st.ctl); i++ {
				if i == 1000 {
					t.Fatal("the control queue never filled")
				}
				time.Sleep(10 * time.Millisecond)
			}
			cancel() // the call ends
			srvConn.CloseNow()
			select {
			case <-ended:
			case <-time.After(20 * time.Second):
				t.Fatal("Run did not return after the call ended: a goroutine waits on the full control queue")
			}
		})
	}
}

// A server that floods sendDTMF gets a bounded queue of key presses, the
// rest refused as bad messages: not a goroutine per message (each press
// takes the call a tenth of a second or more to play).
func TestStreamSendDTMFFloodIsBounded(t *testing.T) {
	const n = 2000
	reached := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx := context.Background()
		for range n {
			if c.Write(ctx, websocket.MessageText, []byte(`{"event":"sendDTMF","dtmf":"1234567890*#ABCD"}`)) != nil {
				return
			}
		}
		// The checkpoint's answer comes once the reader has taken every
		// message before it.
		c.Write(ctx, websocket.MessageText, []byte(`{"event":"checkpoint","name":"end"}`))
		for {
			_, b, err := c.Read(ctx)
			if err != nil {
				return
			}
			if bytes.Contains(b, []byte(`"playedStream"`)) {
				close(reached)
				<-r.Context().Done()
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	conn, _, err := websocket.Dial(context.Background(), "ws"+srv.URL[len("http"):], nil)
	if err != nil {
		t.Fatal(err)
	}
	ch := NewChannel(&fakeRTP{in: make(chan []byte)}, "PCMU", 101, nil)
	var refused atomic.Int64
	st := NewStream(ch, conn, StreamOptions{CallID: "c", StreamID: "s", Bidirectional: true,
		OnBadMessage: func(error) { refused.Add(1) }})
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	ended := make(chan StreamEnd, 1)
	go func() { ended <- st.Run(ctx) }()
	select {
	case <-reached:
	case <-time.After(20 * time.Second):
		t.Fatal("the checkpoint after the flood was not answered")
	}
	if g := runtime.NumGoroutine() - before; g > 50 {
		t.Errorf("%d goroutines more while %d sendDTMF wait", g, n)
	}
	if refused.Load() == 0 {
		t.Error("no sendDTMF was refused: the queue is not bounded")
	}
	cancel()
	select {
	case <-ended:
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return")
	}
}
