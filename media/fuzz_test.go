package media

import (
	"errors"
	"strings"
	"testing"

	"github.com/trunkline/trunkline/audio"
)

// FuzzCheckOffer: any bytes as an SDP offer give an Offer or one of the two
// errors, never a panic, and an accepted offer always names a codec we speak.
func FuzzCheckOffer(f *testing.F) {
	for _, s := range []string{
		"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n",
		"v=0\nc=IN IP4 10.0.0.1\nm=audio 4000 RTP/AVP 8\n",
		"v=0\r\nc=IN IP6 ::1\r\nm=audio 4000 RTP/SAVP 96\r\na=rtpmap:96 PCMA/8000\r\n",
		"v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 4000 RTP/AVP 9\r\na=rtpmap:9 G722/8000\r\n",
		"v=0\r\nc=IN IP4 1.2.3.4\r\nm=video 0 RTP/AVP 96\r\nm=audio 4000/2 RTP/AVP 0\r\n",
		"garbage",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := CheckOffer(b)
		if err != nil {
			if err != ErrMalformedSDP && err != ErrNoCommonCode {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if !o.Audio || (o.Codec != "PCMU" && o.Codec != "PCMA") || o.PayloadTEL > 127 {
			t.Fatalf("accepted offer %+v", o)
		}
	})
}

// FuzzParseStreamEvent: any frame from a stream server gives an event we
// can act on or an ErrStreamEvent, never a panic; an accepted event is
// within the protocol's bounds, and its audio decodes.
func FuzzParseStreamEvent(f *testing.F) {
	for _, s := range []string{
		`{"event":"playAudio","media":{"contentType":"audio/x-l16","sampleRate":8000,"payload":"AAABAAIA"}}`,
		`{"event":"playAudio","media":{"contentType":"audio/x-mulaw","sampleRate":"8000","payload":"/39/fw=="}}`,
		`{"event":"playAudio","streamId":"b2f6","media":{"contentType":"audio/x-l16","sampleRate":16000,"payload":"AAAAAAAAAAA="}}`,
		`{"event":"playAudio","media":{"payload":"AAAA"}}`,
		`{"event":"checkpoint","streamId":"b2f6","name":"greeting"}`,
		`{"event":"clearAudio","streamId":"b2f6"}`,
		`{"event":"sendDTMF","dtmf":"12#"}`,
		`{"event":"muteStream"}`,
		`{"event":"playAudio","media":{"contentType":"audio/wav","payload":"AA=="}}`,
		`not json`,
		`[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := ParseStreamEvent(b)
		if err != nil {
			if !errors.Is(err, ErrStreamEvent) {
				t.Fatalf("error %v does not wrap ErrStreamEvent", err)
			}
			return
		}
		switch ev.Event {
		case "playAudio":
			f := StreamFormat{"audio/x-l16", 8000}
			if ev.HasFormat {
				f = ev.Format
			}
			if _, ok := checkFormat(f.Encoding, f.Rate); !ok {
				t.Fatalf("accepted format %+v", f)
			}
			rs, _ := audio.NewResampler(16000, 8000)
			DecodeStreamAudio(nil, ev.Payload, f, rs)
		case "checkpoint":
			if ev.Name == "" || len(ev.Name) > 256 {
				t.Fatalf("checkpoint name %q", ev.Name)
			}
		case "sendDTMF":
			if ev.DTMF == "" || strings.Trim(ev.DTMF, "0123456789*#ABCD") != "" {
				t.Fatalf("dtmf %q", ev.DTMF)
			}
		case "clearAudio":
		default:
			t.Fatalf("accepted event %q", ev.Event)
		}
	})
}
