package voice

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/audio"
	"github.com/trunkline/trunkline/plivoxml"
)

// silenceDBov is the level at or below which a frame counts as silence for
// <Record timeout>: line noise and comfort noise stay under it, speech does not.
const silenceDBov = -45

// <Record>: capture the caller's audio, store it encrypted, tell the action URL.
func init() {
	register(handler[plivoxml.Record]{needsAnswer: true, run: func(ctx context.Context, c *Call, e plivoxml.Record, _ bool) (*plivoxml.Response, error) {
		return c.record(ctx, e)
	}})
}

// record captures the caller's audio until maxLength, a silence of timeout,
// a finishOnKey press, or the caller hanging up, and stores it encrypted.
// A recording cut short by a hang-up is kept: for voicemail it is the
// message.
func (c *Call) record(ctx context.Context, r plivoxml.Record) (*plivoxml.Response, error) {
	ch := c.channel()
	if ch == nil || c.s.o.Recordings == nil {
		if c.s.o.Recordings == nil {
			c.s.log.Warn("<Record> skipped: recordings are off", "call", c.rec.UUID)
		}
		return nil, nil
	}
	maxLen := r.MaxLength
	if maxLen <= 0 {
		maxLen = 60 * time.Second
	}
	silence := r.Timeout
	if silence <= 0 {
		silence = 15 * time.Second
	}
	if r.PlayBeep {
		if ch.Play(ctx, beep) != nil {
			return nil, errStop
		}
	}
	ch.FlushDigits()

	var (
		mu       sync.Mutex
		pcm      = make([]int16, 0, 8000*10)
		limit    = int(maxLen.Seconds() * audio.SampleRate)
		full     = make(chan struct{})
		closed   bool
		lastLoud = c.s.o.Now()
	)
	start := c.s.o.Now()
	remove := ch.Tap(func(f []int16) {
		mu.Lock()
		defer mu.Unlock()
		if closed {
			return
		}
		n := min(len(f), limit-len(pcm))
		pcm = append(pcm, f[:n]...)
		if audio.Level(f) > silenceDBov {
			lastLoud = c.s.o.Now()
		}
		if len(pcm) >= limit {
			closed = true
			close(full)
		}
	})
	// Silence is measured on the wall clock since the last loud frame, so a
	// caller who stops sending RTP altogether is silent too.
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(maxLen + time.Second) // maxLength even without any RTP
	var finishKey string
loop:
	for {
		select {
		case <-full:
			break loop
		case <-tick.C:
			mu.Lock()
			quiet := c.s.o.Now().Sub(lastLoud) >= silence
			mu.Unlock()
			if quiet {
				break loop
			}
		case <-deadline.C:
			break loop
		case <-ctx.Done():
			break loop
		case d := <-ch.Digits():
			if r.FinishOnKey != "" && r.FinishOnKey != "none" && strings.ContainsRune(r.FinishOnKey, d) {
				finishKey = string(d)
				break loop
			}
		}
	}
	deadline.Stop()
	remove()
	end := c.s.o.Now()
	mu.Lock()
	closed = true
	got := pcm
	mu.Unlock()

	// Store it, even if the caller has gone (a background context).
	sctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rec, err := c.saveRecording(sctx, uuid.NewString(), r.FileFormat, got, start, end)
	if err != nil {
		c.s.log.Error("recording", "call", c.rec.UUID, "err", err)
		return nil, nil
	}
	return c.recorded(ctx, sctx, r, rec, finishKey)
}

// recorded tells <Record>'s callbackUrl (in the background) and action URL
// about a stored recording, and returns the action's XML when redirect="true"
// and the caller is still there. sctx outlives the call.
func (c *Call) recorded(ctx, sctx context.Context, r plivoxml.Record, rec *trunkline.Recording, finishKey string) (*plivoxml.Response, error) {
	id, durMs := rec.ID, rec.DurationMs
	p := c.params(c.status())
	recURL := ""
	if c.s.o.RecordingURL != nil {
		recURL = c.s.o.RecordingURL(c.rec.AccountID, id, rec.Format)
	}
	p.Set("RecordUrl", recURL)
	p.Set("RecordingID", id)
	p.Set("RecordingDuration", strconv.FormatInt((durMs+500)/1000, 10))
	p.Set("RecordingDurationMs", strconv.FormatInt(durMs, 10))
	p.Set("RecordingStartMs", strconv.FormatInt(rec.StartMs, 10))
	p.Set("RecordingEndMs", strconv.FormatInt(rec.EndMs, 10))
	if finishKey != "" {
		p.Set("Digits", finishKey)
	}
	if r.CallbackURL != "" {
		cp := make(map[string][]string, len(p))
		for k, v := range p {
			cp[k] = v
		}
		c.bg.Add(1)
		go func() {
			defer c.bg.Done()
			cctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			if _, err := c.callback(cctx, "record_callback", r.CallbackURL, r.CallbackMethod, cp); err != nil {
				c.s.log.Warn("record callbackUrl", "call", c.rec.UUID, "err", err)
			}
		}()
	}
	if r.Action == "" {
		return nil, nil
	}
	if ctx.Err() != nil || !r.Redirect {
		// The caller is gone (or the app asked for no redirect): tell the
		// action URL anyway, and ignore any XML it returns.
		if _, err := c.callback(sctx, "record", r.Action, r.Method, p); err != nil {
			c.s.log.Warn("record action", "call", c.rec.UUID, "err", err)
		}
		if ctx.Err() != nil {
			return nil, errStop
		}
		return nil, nil
	}
	return c.fetch(ctx, "record", r.Action, r.Method, p)
}

// encoder is the recording encoder for a format: MP3 when asked for and
// available, else WAV.
func (s *Server) encoder(format string) audio.Encoder {
	if format != "wav" && s.o.MP3 != nil {
		return s.o.MP3
	}
	return audio.WAVEncoder{}
}

// saveRecording encodes pcm, stores it encrypted and records it: the one
// path for <Record> and the Call API's recordings.
func (c *Call) saveRecording(ctx context.Context, id, format string, pcm []int16, start, end time.Time) (*trunkline.Recording, error) {
	rec := &trunkline.Recording{ID: id, AccountID: c.rec.AccountID, CallUUID: c.rec.UUID, Type: "call",
		StartMs: start.UnixMilli(), EndMs: end.UnixMilli(), From: c.rec.From, To: c.rec.To}
	if err := c.s.storeRecording(ctx, rec, format, pcm, end); err != nil {
		return nil, err
	}
	return rec, nil
}

// storeRecording encodes pcm as format, stores it encrypted and records rec
// (its format, duration, size and time filled in here): calls' and
// conferences' recordings alike.
func (s *Server) storeRecording(ctx context.Context, rec *trunkline.Recording, format string, pcm []int16, end time.Time) error {
	enc := s.encoder(format)
	var buf bytes.Buffer
	if err := enc.Encode(ctx, &buf, pcm); err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	w, err := s.o.Recordings.Create(ctx, rec.AccountID, rec.ID)
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		w.Abort()
		return fmt.Errorf("write: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	rec.Format, rec.DurationMs, rec.Size, rec.CreatedAt = enc.Format(), int64(len(pcm))*1000/audio.SampleRate, int64(buf.Len()), end.UTC()
	if err := s.o.DB.InsertRecording(ctx, rec); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}
