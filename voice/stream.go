package voice

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/media"
	"github.com/trunkline/trunkline/plivoxml"
	"github.com/trunkline/trunkline/webhook"
)

// <Stream> and the Call Stream API: the call's audio to the customer's
// WebSocket server (media.Stream speaks the protocol), dialled through the
// webhook client's SSRF guard.

func init() {
	register(handler[plivoxml.Stream]{needsAnswer: true, run: func(ctx context.Context, c *Call, e plivoxml.Stream, _ bool) (*plivoxml.Response, error) {
		ls, err := c.startStream(trunkline.StreamStart{ServiceURL: e.URL, Bidirectional: e.Bidirectional, AudioTrack: e.AudioTrack,
			Timeout: e.StreamTimeout, StatusCallbackURL: e.StatusCallbackURL, StatusCallbackMethod: e.StatusCallbackMethod,
			ContentType: e.ContentType, ExtraHeaders: e.ExtraHeaders})
		if err != nil {
			// The stream could not start: its status callback says why, and
			// the call goes on with the next element.
			c.s.log.Warn("<Stream> not started", "call", c.rec.UUID, "err", err)
			if e.StatusCallbackURL != "" && ctx.Err() == nil {
				ls := &liveStream{spec: trunkline.StreamStart{StatusCallbackURL: e.StatusCallbackURL, StatusCallbackMethod: e.StatusCallbackMethod,
					Timeout: e.StreamTimeout}, info: trunkline.StreamInfo{StreamID: newUUID(), ServiceURL: e.URL, AudioTrack: e.AudioTrack,
					ContentType: e.ContentType, Bidirectional: e.Bidirectional}}
				c.streamCallback(ls, "DroppedStream", trunkline.ErrorMessage(err))
			}
			return nil, nil
		}
		if e.KeepCallAlive {
			// The next element runs once the stream ends; a transfer or
			// the caller's hang-up ends the wait.
			select {
			case <-ls.done:
			case <-ctx.Done():
			}
		}
		return nil, nil
	}})
}

// maxStreams bounds the streams running at once on one call.
const maxStreams = 4

// streamSet is a call's streams, running and ended.
type streamSet struct {
	mu   sync.Mutex
	list []*liveStream
}

type liveStream struct {
	info   trunkline.StreamInfo // guarded by streamSet.mu
	spec   trunkline.StreamStart
	stop   func(reason string) // set once connected
	cancel context.CancelFunc
	done   chan struct{}
	// lastCallback is closed when the stream's latest status callback is
	// done (guarded by streamSet.mu): the next one waits for it, so the
	// customer gets StartStream before StopStream or DroppedStream.
	lastCallback chan struct{}
}

// startStream checks the request, then connects and runs the stream in the
// background. An error means it never started (bad URL, too many streams).
func (c *Call) startStream(spec trunkline.StreamStart) (*liveStream, error) {
	ch := c.channel()
	if ch == nil {
		return nil, ErrNoMedia
	}
	format, ok := media.ParseStreamFormat(spec.ContentType)
	if spec.ContentType == "" {
		format, ok = media.StreamFormat{Encoding: "audio/x-l16", Rate: 8000}, true
	}
	if !ok {
		return nil, &trunkline.Error{Code: trunkline.EINVALID, Message: "content_type must be audio/x-l16;rate=8000, audio/x-l16;rate=16000 or audio/x-mulaw;rate=8000"}
	}
	if spec.AudioTrack == "" {
		spec.AudioTrack = "inbound"
	}
	own, main, err := c.s.o.Tokens.SigningTokens(c.ctx, c.rec.AccountID)
	if err != nil {
		return nil, fmt.Errorf("stream: signing tokens: %w", err)
	}
	dial, err := c.s.o.Webhooks.PrepareStream(spec.ServiceURL, own, main)
	if err != nil {
		return nil, &trunkline.Error{Code: trunkline.EINVALID, Message: "service_url: " + err.Error()}
	}
	now := c.s.o.Now().UTC()
	ls := &liveStream{spec: spec, done: make(chan struct{}), info: trunkline.StreamInfo{StreamID: newUUID(), CallUUID: c.rec.UUID,
		AccountID: c.rec.AccountID, ServiceURL: spec.ServiceURL, AudioTrack: spec.AudioTrack, ContentType: format.String(),
		Bidirectional: spec.Bidirectional, Status: "initiated", StatusCallbackURL: spec.StatusCallbackURL, CreatedAt: now}}
	set := &c.streams
	set.mu.Lock()
	running := 0
	for _, o := range set.list {
		if o.info.EndTime.IsZero() {
			running++
			if o.spec.ServiceURL == spec.ServiceURL {
				set.mu.Unlock()
				return nil, &trunkline.Error{Code: trunkline.EINVALID, Message: "the call is already streaming to this service_url"}
			}
		}
	}
	if running >= maxStreams {
		set.mu.Unlock()
		return nil, &trunkline.Error{Code: trunkline.EINVALID, Message: fmt.Sprintf("the call has %d streams running, the most it may", maxStreams)}
	}
	var sctx context.Context
	sctx, ls.cancel = context.WithCancel(c.ctx)
	set.list = append(set.list, ls)
	set.mu.Unlock()

	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		defer close(ls.done)
		defer ls.cancel()
		c.runStream(sctx, ch, ls, dial, format)
	}()
	return ls, nil
}

// streamDialAttempts: a server that cannot be reached is tried this many
// times (Plivo retries twice) before the stream is dropped.
const streamDialAttempts = 3

func (c *Call) runStream(ctx context.Context, ch *media.Channel, ls *liveStream, dial webhook.StreamDial, format media.StreamFormat) {
	log := c.s.log.With("call", c.rec.UUID, "stream", ls.info.StreamID)
	var conn *websocket.Conn
	var err error
	for attempt := 1; ; attempt++ {
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		var res *http.Response
		conn, res, err = websocket.Dial(dctx, dial.URL.String(), &websocket.DialOptions{HTTPClient: dial.Client, HTTPHeader: dial.Header})
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			c.endStream(ls, "stopped", "", false)
			return
		}
		if attempt >= streamDialAttempts || !webhook.StreamRetryable(res, err) {
			err = webhook.StreamError(dial.URL, res, err)
			log.Warn("stream not connected", "err", err)
			c.endStream(ls, "failed", err.Error(), true)
			return
		}
		select {
		case <-time.After(time.Duration(attempt) * 500 * time.Millisecond):
		case <-ctx.Done():
			c.endStream(ls, "stopped", "", false)
			return
		}
	}
	st := media.NewStream(ch, conn, media.StreamOptions{CallID: c.rec.UUID, StreamID: ls.info.StreamID, AccountID: c.rec.AccountID,
		Tracks: ls.spec.AudioTrack, Format: format, Bidirectional: ls.spec.Bidirectional, ExtraHeaders: ls.spec.ExtraHeaders,
		Timeout: ls.spec.Timeout, Now: c.s.o.Now,
		// The reason names what was wrong, never the message's content.
		OnBadMessage: func(err error) { log.Warn("stream server message refused", "err", err) }})
	c.streams.mu.Lock()
	ls.stop = st.Stop
	ls.info.Status, ls.info.StartTime = "in-progress", c.s.o.Now().UTC()
	c.streams.mu.Unlock()
	c.streamCallback(ls, "StartStream", "")
	end := st.Run(ctx)
	if n := st.Dropped(); n > 0 {
		log.Warn("stream server too slow: audio frames dropped", "frames", n)
	}
	switch {
	case c.ctx.Err() != nil:
		// The call ended: Plivo sends no stream callback then.
		c.endStream(ls, "stopped", "", false)
	case end.Dropped:
		log.Warn("stream dropped", "reason", end.Reason)
		c.endStream(ls, "failed", end.Reason, true)
	default:
		c.endStream(ls, "stopped", end.Reason, true)
	}
}

// endStream records the end and, unless the call is ending, tells the
// status callback: StopStream, or DroppedStream when it failed.
func (c *Call) endStream(ls *liveStream, status, reason string, notify bool) {
	c.streams.mu.Lock()
	ls.info.Status, ls.info.EndTime = status, c.s.o.Now().UTC()
	c.streams.mu.Unlock()
	if !notify || c.ctx.Err() != nil {
		return
	}
	ev := "StopStream"
	if status == "failed" {
		ev = "DroppedStream"
	}
	c.streamCallback(ls, ev, reason)
}

// streamCallback posts a stream event to its statusCallbackUrl (in the
// background; the call goes on whatever it answers).
func (c *Call) streamCallback(ls *liveStream, event, reason string) {
	if ls.spec.StatusCallbackURL == "" {
		return
	}
	c.streams.mu.Lock()
	info := ls.info
	prev, done := ls.lastCallback, make(chan struct{})
	ls.lastCallback = done
	c.streams.mu.Unlock()
	p := url.Values{}
	p.Set("Event", event)
	p.Set("CallUUID", c.rec.UUID)
	p.Set("StreamID", info.StreamID)
	p.Set("From", c.rec.From)
	p.Set("To", c.rec.To)
	p.Set("Direction", c.rec.Direction)
	p.Set("Timestamp", c.s.o.Now().UTC().Format("2006-01-02 15:04:05"))
	p.Set("ServiceURL", info.ServiceURL)
	p.Set("AudioTrack", info.AudioTrack)
	p.Set("Bidirectional", strconv.FormatBool(info.Bidirectional))
	p.Set("ContentType", info.ContentType)
	p.Set("StreamTimeout", strconv.Itoa(int(ls.spec.Timeout/time.Second)))
	p.Set("StatusReason", reason)
	if !info.StartTime.IsZero() {
		end := info.EndTime
		if end.IsZero() {
			end = c.s.o.Now()
		}
		p.Set("Duration", strconv.Itoa(int(end.Sub(info.StartTime)/time.Second)))
	}
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		defer close(done)
		if prev != nil {
			<-prev
		}
		cctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if _, err := c.callback(cctx, "stream_status", ls.spec.StatusCallbackURL, strings.ToUpper(ls.spec.StatusCallbackMethod), p); err != nil {
			c.s.log.Warn("stream statusCallbackUrl", "call", c.rec.UUID, "err", err)
		}
	}()
}

// stopStreams ends every stream as the call ends (no callbacks).
func (c *Call) stopStreams() {
	c.streams.mu.Lock()
	defer c.streams.mu.Unlock()
	for _, ls := range c.streams.list {
		ls.cancel()
	}
}

// stopStream stops one running stream (or all with id ""): false when no
// such stream runs.
func (c *Call) stopStream(id string) bool {
	c.streams.mu.Lock()
	var stop []*liveStream
	for _, ls := range c.streams.list {
		if (id == "" || ls.info.StreamID == id) && ls.info.EndTime.IsZero() {
			stop = append(stop, ls)
		}
	}
	c.streams.mu.Unlock()
	for _, ls := range stop {
		c.streams.mu.Lock()
		f := ls.stop
		c.streams.mu.Unlock()
		if f != nil {
			f("stopped by the API")
		} else {
			ls.cancel() // still connecting
		}
	}
	return len(stop) > 0 || id == ""
}

// liveCall finds a running call for the StreamService methods.
func (s *Server) liveCall(uuid string) (*Call, error) {
	v, ok := s.calls.Load(uuid)
	if !ok {
		return nil, trunkline.ErrNoLiveCall
	}
	c := v.(*Call)
	if c.ctx.Err() != nil {
		return nil, trunkline.ErrNoLiveCall
	}
	return c, nil
}

// StartStream opens an audio stream on a live call (trunkline.StreamService).
func (s *Server) StartStream(ctx context.Context, uuid string, spec trunkline.StreamStart) (trunkline.StreamInfo, error) {
	c, err := s.liveCall(uuid)
	if err != nil {
		return trunkline.StreamInfo{}, err
	}
	ls, err := c.startStream(spec)
	if err != nil {
		return trunkline.StreamInfo{}, err
	}
	c.streams.mu.Lock()
	defer c.streams.mu.Unlock()
	return ls.info, nil
}

// Streams lists a live call's streams.
func (s *Server) Streams(uuid string) ([]trunkline.StreamInfo, error) {
	c, err := s.liveCall(uuid)
	if err != nil {
		return nil, err
	}
	c.streams.mu.Lock()
	defer c.streams.mu.Unlock()
	out := make([]trunkline.StreamInfo, 0, len(c.streams.list))
	for _, ls := range c.streams.list {
		out = append(out, ls.info)
	}
	return out, nil
}

// Stream gets one of a live call's streams.
func (s *Server) Stream(uuid, id string) (trunkline.StreamInfo, error) {
	list, err := s.Streams(uuid)
	if err != nil {
		return trunkline.StreamInfo{}, err
	}
	for _, st := range list {
		if st.StreamID == id {
			return st, nil
		}
	}
	return trunkline.StreamInfo{}, trunkline.ErrNoStream
}

// StopStream stops one of a live call's streams, or all of them (id "").
func (s *Server) StopStream(uuid, id string) error {
	c, err := s.liveCall(uuid)
	if err != nil {
		return err
	}
	if !c.stopStream(id) {
		return trunkline.ErrNoStream
	}
	return nil
}

var _ trunkline.StreamService = (*Server)(nil)
