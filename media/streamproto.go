package media

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/trunkline/trunkline/audio"
)

// The wire format of Plivo's audio streams (<Stream>, the Call Stream API):
// JSON text frames over a WebSocket. We send start, media, dtmf,
// playedStream, clearedAudio and stop; a bidirectional server sends
// playAudio, checkpoint, clearAudio and sendDTMF.

// StreamFormat is an audio stream's content type: audio/x-mulaw at 8 kHz, or
// audio/x-l16 (16-bit little-endian linear PCM) at 8 or 16 kHz.
type StreamFormat struct {
	Encoding string // audio/x-mulaw or audio/x-l16
	Rate     int    // 8000 or 16000 (l16 only)
}

// ParseStreamFormat reads a contentType attribute or parameter
// ("audio/x-l16;rate=8000"); false when it is none of the three Plivo takes.
func ParseStreamFormat(s string) (StreamFormat, bool) {
	enc, params, _ := strings.Cut(strings.ReplaceAll(strings.ToLower(s), " ", ""), ";")
	rate := 8000
	if params != "" {
		v, ok := strings.CutPrefix(params, "rate=")
		n, err := strconv.Atoi(v)
		if !ok || err != nil {
			return StreamFormat{}, false
		}
		rate = n
	}
	return checkFormat(enc, rate)
}

func checkFormat(enc string, rate int) (StreamFormat, bool) {
	switch {
	case enc == "audio/x-mulaw" && rate == 8000,
		enc == "audio/x-l16" && (rate == 8000 || rate == 16000):
		return StreamFormat{enc, rate}, true
	}
	return StreamFormat{}, false
}

// String is the contentType form, e.g. audio/x-l16;rate=8000.
func (f StreamFormat) String() string { return f.Encoding + ";rate=" + strconv.Itoa(f.Rate) }

// ServerEvent is one message a stream server sent us.
type ServerEvent struct {
	Event    string // playAudio, checkpoint, clearAudio or sendDTMF
	StreamID string // optional
	Name     string // checkpoint
	// playAudio: the audio, its format (the stream's own when the message
	// names none) and whether it named one.
	Format    StreamFormat
	HasFormat bool
	Payload   []byte
	DTMF      string // sendDTMF: the keys
}

// ErrStreamEvent is returned (wrapped) for a message we cannot act on. Its
// text never quotes the payload.
var ErrStreamEvent = errors.New("invalid stream message")

// MaxStreamMessage bounds one message from a stream server (Plivo's limit).
const MaxStreamMessage = 64 << 10

// ParseStreamEvent decodes one text frame from a stream server. Events it
// does not know give an error wrapping ErrUnknownStreamEvent, which a
// caller may ignore (newer servers may send more).
func ParseStreamEvent(b []byte) (ServerEvent, error) {
	var m struct {
		Event    string          `json:"event"`
		StreamID string          `json:"streamId"`
		Name     string          `json:"name"`
		DTMF     json.RawMessage `json:"dtmf"`
		Media    *struct {
			ContentType string          `json:"contentType"`
			SampleRate  json.RawMessage `json:"sampleRate"`
			Payload     string          `json:"payload"`
		} `json:"media"`
	}
	if len(b) > MaxStreamMessage {
		return ServerEvent{}, fmt.Errorf("%w: over %d bytes", ErrStreamEvent, MaxStreamMessage)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return ServerEvent{}, fmt.Errorf("%w: not a JSON object", ErrStreamEvent)
	}
	ev := ServerEvent{Event: m.Event, StreamID: m.StreamID}
	if len(ev.StreamID) > 64 {
		return ServerEvent{}, fmt.Errorf("%w: streamId over 64 bytes", ErrStreamEvent)
	}
	switch m.Event {
	case "playAudio":
		if m.Media == nil || m.Media.Payload == "" {
			return ServerEvent{}, fmt.Errorf("%w: playAudio without media.payload", ErrStreamEvent)
		}
		p, err := base64.StdEncoding.DecodeString(m.Media.Payload)
		if err != nil {
			return ServerEvent{}, fmt.Errorf("%w: playAudio payload is not base64", ErrStreamEvent)
		}
		ev.Payload = p
		if ct := m.Media.ContentType; ct != "" || len(m.Media.SampleRate) > 0 {
			rate := 8000
			if raw := strings.Trim(string(m.Media.SampleRate), `"`); raw != "" {
				n, err := strconv.Atoi(raw)
				if err != nil {
					return ServerEvent{}, fmt.Errorf("%w: playAudio sampleRate must be 8000 or 16000", ErrStreamEvent)
				}
				rate = n
			}
			if ct == "" {
				ct = "audio/x-l16"
			}
			f, ok := checkFormat(strings.ToLower(ct), rate)
			if !ok {
				return ServerEvent{}, fmt.Errorf("%w: playAudio format must be audio/x-mulaw at 8000 or audio/x-l16 at 8000 or 16000", ErrStreamEvent)
			}
			ev.Format, ev.HasFormat = f, true
			if f.Encoding == "audio/x-l16" && len(p)%2 != 0 {
				return ServerEvent{}, fmt.Errorf("%w: audio/x-l16 payload of an odd number of bytes", ErrStreamEvent)
			}
		}
	case "checkpoint":
		if m.Name == "" || len(m.Name) > 256 {
			return ServerEvent{}, fmt.Errorf("%w: checkpoint needs a name of 1 to 256 bytes", ErrStreamEvent)
		}
		ev.Name = m.Name
	case "clearAudio":
	case "sendDTMF":
		var d string
		if json.Unmarshal(m.DTMF, &d) != nil || d == "" || len(d) > 64 || strings.Trim(d, "0123456789*#ABCDabcd") != "" {
			return ServerEvent{}, fmt.Errorf("%w: sendDTMF needs dtmf of 1 to 64 keys (0-9, *, #, A-D)", ErrStreamEvent)
		}
		ev.DTMF = strings.ToUpper(d)
	case "":
		return ServerEvent{}, fmt.Errorf("%w: no event name", ErrStreamEvent)
	default:
		return ServerEvent{}, fmt.Errorf("%w: %w", ErrStreamEvent, ErrUnknownStreamEvent)
	}
	return ev, nil
}

// ErrUnknownStreamEvent: a well-formed message with an event we do not know.
var ErrUnknownStreamEvent = errors.New("unknown event")

// DecodeStreamAudio turns a playAudio payload in format f into 8 kHz PCM
// (down, when 16 kHz, through rs, which keeps the filter state between
// messages). A trailing odd byte of l16 is dropped.
func DecodeStreamAudio(dst []int16, p []byte, f StreamFormat, rs *audio.Resampler) []int16 {
	if f.Encoding == "audio/x-mulaw" {
		return audio.DecodeMulaw(dst, p)
	}
	pcm := make([]int16, len(p)/2)
	for i := range pcm {
		pcm[i] = int16(uint16(p[2*i]) | uint16(p[2*i+1])<<8)
	}
	if f.Rate == 16000 && rs != nil {
		return rs.ProcessInt16(dst, pcm)
	}
	return append(dst, pcm...)
}

// appendMediaEvent appends a media event: hand-built, since it is 50 (or
// 100) messages a second per streamed call. streamID and the escaped extra
// headers are JSON strings already quoted.
func appendMediaEvent(b []byte, seq uint64, streamQ, track string, tsMs int64, chunk uint64, payload []byte, extraQ string) []byte {
	b = append(b, `{"event":"media","sequenceNumber":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"streamId":`...)
	b = append(b, streamQ...)
	b = append(b, `,"media":{"track":"`...)
	b = append(b, track...)
	b = append(b, `","timestamp":"`...)
	b = strconv.AppendInt(b, tsMs, 10)
	b = append(b, `","chunk":`...)
	b = strconv.AppendUint(b, chunk, 10)
	b = append(b, `,"payload":"`...)
	b = base64.StdEncoding.AppendEncode(b, payload)
	b = append(b, `"},"extra_headers":`...)
	b = append(b, extraQ...)
	return append(b, '}')
}
