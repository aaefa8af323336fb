package trunkline

import (
	"context"
	"time"
)

// StreamService starts and controls the audio streams of live calls
// (<Stream> and the Call Stream API): the call's audio to a customer's
// WebSocket server and, bidirectional, the server's audio back into the
// call. A stream lives on the node that holds the call's media; the voice
// server implements it, and a cluster reaches that node over the bus behind
// the same interface, by call UUID.
type StreamService interface {
	// StartStream opens a stream on a live call; ErrNoLiveCall when the call
	// is not running, an EINVALID Error for a URL the policy refuses.
	StartStream(ctx context.Context, callUUID string, s StreamStart) (StreamInfo, error)
	// Streams lists the call's streams (running and ended), oldest first.
	Streams(callUUID string) ([]StreamInfo, error)
	Stream(callUUID, streamID string) (StreamInfo, error)
	// StopStream stops one stream, or every running one when streamID is "".
	StopStream(callUUID, streamID string) error
}

// StreamStart is a validated request for an audio stream.
type StreamStart struct {
	ServiceURL           string // wss:// (ws:// only where the operator allows)
	Bidirectional        bool
	AudioTrack           string        // inbound, outbound or both
	Timeout              time.Duration // streamTimeout
	StatusCallbackURL    string
	StatusCallbackMethod string
	ContentType          string // audio/x-l16;rate=8000 (default), audio/x-l16;rate=16000, audio/x-mulaw;rate=8000
	ExtraHeaders         string
}

// StreamInfo is what the API shows of a stream.
type StreamInfo struct {
	StreamID, CallUUID, AccountID string
	ServiceURL, AudioTrack        string
	ContentType                   string
	Bidirectional                 bool
	Status                        string // initiated, in-progress, stopped, failed
	StatusCallbackURL             string
	CreatedAt, StartTime, EndTime time.Time // StartTime: connected; zero until then; EndTime: zero while running
}

// ErrNoStream: no such stream on the call.
var ErrNoStream = &Error{Code: ENOTFOUND, Message: "no such stream"}
