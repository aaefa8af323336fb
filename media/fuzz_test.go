package media

import "testing"

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
