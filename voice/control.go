package voice

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/media"
	"github.com/trunkline/trunkline/plivoxml"
)

// Live-call control: what the Call API does to a running call. Every
// command goes through Server.Command by call UUID, so a later version can
// carry it over the bus to the node that holds the call.

// Errors of Command besides trunkline.ErrNoLiveCall and trunkline.ErrNoBridgedLeg.
var (
	ErrNoMedia  = &trunkline.Error{Code: trunkline.EUNAVAILABLE, Message: "the call has no media yet"}
	ErrBadInput = &trunkline.Error{Code: trunkline.EINVALID, Message: "bad command"}
)

// transferB takes a bridged B leg out of its bridge to run url's XML.
func (c *Call) transferB(url, method string) error {
	if method == "" {
		method = "POST"
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.moveB == nil || c.xml.transfer != nil {
		return trunkline.ErrNoBridgedLeg
	}
	c.xml.transfer = &redirectTo{url: url, method: method}
	close(c.moveB)
	return nil
}

// redirectTo is a transfer: a URL to fetch, or (moving a call into a
// multi-party call) a document to run.
type redirectTo struct {
	url, method string
	doc         *plivoxml.Response
}

// transferDoc stops the running document and runs doc instead.
func (c *Call) transferDoc(doc *plivoxml.Response) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rec.AnsweredAt == nil {
		return ErrNoMedia
	}
	c.xml.transfer = &redirectTo{doc: doc}
	if c.xml.stop != nil {
		c.xml.stop()
	}
	return nil
}

// Command runs a live-call command on a call of this server (trunkline.CallService).
func (s *Server) Command(ctx context.Context, uuid string, cmd trunkline.CallCommand) (trunkline.CommandResult, error) {
	v, ok := s.calls.Load(uuid)
	if !ok {
		return trunkline.CommandResult{}, trunkline.ErrNoLiveCall
	}
	c := v.(*Call)
	if c.ctx.Err() != nil {
		return trunkline.CommandResult{}, trunkline.ErrNoLiveCall
	}
	if cmd.Kind == "transfer" {
		switch cmd.Legs {
		case "", "aleg":
			return trunkline.CommandResult{}, c.transferTo(cmd.URL, cmd.Method)
		case "bleg", "both":
			c.mu.Lock()
			b := c.bridged
			c.mu.Unlock()
			if b == nil {
				return trunkline.CommandResult{}, trunkline.ErrNoBridgedLeg
			}
			if err := b.transferB(cmd.BURL, cmd.BMethod); err != nil {
				return trunkline.CommandResult{}, err
			}
			if cmd.Legs == "both" {
				return trunkline.CommandResult{}, c.transferTo(cmd.URL, cmd.Method)
			}
			return trunkline.CommandResult{}, nil
		}
		return trunkline.CommandResult{}, ErrBadInput
	}
	ch := c.channel()
	if ch == nil {
		return trunkline.CommandResult{}, ErrNoMedia
	}
	switch cmd.Kind {
	case "play":
		var pcm []int16
		for _, u := range cmd.URLs {
			if s.o.Audio == nil {
				return trunkline.CommandResult{}, ErrBadInput
			}
			p, err := s.o.Audio.Get(ctx, u)
			if err != nil {
				return trunkline.CommandResult{}, err
			}
			pcm = append(pcm, p...)
		}
		ch.Overlay(pcm, cmd.Loop)
	case "speak":
		if s.o.TTS == nil {
			return trunkline.CommandResult{}, ErrBadInput
		}
		pcm, err := s.o.TTS.Synthesize(ctx, cmd.Text, cmd.Voice, cmd.Language)
		if err != nil {
			return trunkline.CommandResult{}, err
		}
		ch.Overlay(pcm, cmd.Loop)
	case "stop_play", "stop_speak":
		ch.Overlay(nil, false)
	case "dtmf":
		// The answer ("digits sent") comes once they are on the wire; about
		// 150 ms a key, bounded by the request and the call.
		dctx, cancel := context.WithCancel(ctx)
		stop := context.AfterFunc(c.ctx, cancel)
		err := ch.SendDigits(dctx, cmd.Digits)
		stop()
		cancel()
		if err != nil && c.ctx.Err() != nil {
			return trunkline.CommandResult{}, trunkline.ErrNoLiveCall
		}
	case "record":
		return c.startRecording(ch, cmd)
	case "stop_record":
		c.stopRecordings()
	default:
		return trunkline.CommandResult{}, ErrBadInput
	}
	return trunkline.CommandResult{}, nil
}

// transferTo stops the running document and runs url's XML instead.
func (c *Call) transferTo(url, method string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rec.AnsweredAt == nil {
		return ErrNoMedia
	}
	if method == "" {
		method = "POST"
	}
	c.xml.transfer = &redirectTo{url: url, method: method}
	if c.xml.stop != nil {
		c.xml.stop()
	}
	return nil
}

func (c *Call) takeTransfer() *redirectTo {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.xml.transfer
	c.xml.transfer = nil
	return t
}

// liveRecording is a Call API recording: both directions of the call, mixed
// on the wall clock (media.TimeMix).
type liveRecording struct {
	id, format          string
	cb, cbMethod        string
	start               time.Time
	mix                 *media.TimeMix
	paused              atomic.Bool
	stopOnce            sync.Once
	done                chan struct{}
	removeIn, removeOut func()
}

func (c *Call) startRecording(ch *media.Channel, cmd trunkline.CallCommand) (trunkline.CommandResult, error) {
	if c.s.o.Recordings == nil {
		return trunkline.CommandResult{}, ErrBadInput
	}
	limit := cmd.TimeLimit
	if limit <= 0 {
		limit = 60 * time.Second
	}
	format := c.s.encoder(cmd.FileFormat).Format()
	r := &liveRecording{id: newUUID(), format: format, cb: cmd.CallbackURL, cbMethod: cmd.CallbackMethod,
		start: c.s.o.Now(), done: make(chan struct{})}
	r.mix = media.NewTimeMix(r.start, limit)
	add := func(f []int16) {
		if !r.paused.Load() {
			r.mix.Add(f)
		}
	}
	r.removeIn = ch.Tap(add)
	r.removeOut = ch.TapOut(add)
	c.mu.Lock()
	c.recs = append(c.recs, r)
	c.mu.Unlock()
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		t := time.NewTimer(limit)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.done:
		case <-c.ctx.Done():
		}
		c.finishRecording(r)
	}()
	res := trunkline.CommandResult{RecordingID: r.id}
	if c.s.o.RecordingURL != nil {
		res.URL = c.s.o.RecordingURL(c.rec.AccountID, r.id, format)
	}
	return res, nil
}

func (c *Call) stopRecordings() {
	c.mu.Lock()
	recs := c.recs
	c.recs = nil
	c.mu.Unlock()
	for _, r := range recs {
		r.stopOnce.Do(func() { close(r.done) })
	}
}

// pauseRecordings pauses (or resumes) the call's live recordings: paused,
// they keep the time but not the audio.
func (c *Call) pauseRecordings(v bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range c.recs {
		r.paused.Store(v)
	}
}

// finishRecording stores a live recording and calls its callback_url with
// Plivo's fields.
func (c *Call) finishRecording(r *liveRecording) {
	r.removeIn()
	r.removeOut()
	end := c.s.o.Now()
	pcm := r.mix.PCM()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rec, err := c.saveRecording(ctx, r.id, r.format, pcm, r.start, end)
	if err != nil {
		c.s.log.Error("live recording", "call", c.rec.UUID, "err", err)
		return
	}
	durMs := rec.DurationMs
	if r.cb == "" {
		return
	}
	p := c.params(c.status())
	url := ""
	if c.s.o.RecordingURL != nil {
		url = c.s.o.RecordingURL(c.rec.AccountID, r.id, r.format)
	}
	p.Set("record_url", url)
	p.Set("call_uuid", c.rec.UUID)
	p.Set("recording_id", r.id)
	p.Set("recording_duration", strconv.FormatInt((durMs+500)/1000, 10))
	p.Set("recording_duration_ms", strconv.FormatInt(durMs, 10))
	p.Set("recording_start_ms", strconv.FormatInt(rec.StartMs, 10))
	p.Set("recording_end_ms", strconv.FormatInt(rec.EndMs, 10))
	if _, err := c.callback(ctx, "record_callback", r.cb, strings.ToUpper(r.cbMethod), p); err != nil {
		c.s.log.Warn("recording callback_url", "call", c.rec.UUID, "err", err)
	}
}
