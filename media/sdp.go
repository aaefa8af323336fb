package media

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
)

// Offer is what the server needs to know of a caller's SDP offer before it
// answers: whether there is an audio stream it can speak, and in which codec.
type Offer struct {
	Audio      bool   // an m=audio line with a non-zero port
	Codec      string // first common audio codec in the caller's order: "PCMU" or "PCMA"
	PayloadTEL int    // telephone-event payload type offered; -1 when not offered
	SRTP       bool   // RTP/SAVP profile
}

// Errors of CheckOffer. A malformed offer gets 400; a well-formed one with
// nothing in common gets 488 (RFC 3261 §13.3.1.1), not the 480 a plain
// media stack answers (voice-notes trap 3).
var (
	ErrMalformedSDP = errors.New("malformed SDP")
	ErrNoCommonCode = errors.New("no common audio codec")
)

// MaxSDP bounds an offer; real offers are a few hundred bytes.
const MaxSDP = 16 << 10

// CheckOffer parses an SDP offer just enough to decide how to answer it.
func CheckOffer(body []byte) (Offer, error) {
	o := Offer{PayloadTEL: -1}
	if len(body) == 0 || len(body) > MaxSDP {
		return o, ErrMalformedSDP
	}
	var (
		sawVersion, sawConn, inAudio bool
		audioFmts                    []int
		rtpmap                       = map[int]string{}
	)
	for _, line := range bytes.Split(body, []byte("\n")) {
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			continue
		}
		if len(line) < 2 || line[1] != '=' || line[0] < 'a' || line[0] > 'z' {
			return o, ErrMalformedSDP
		}
		val := string(line[2:])
		switch line[0] {
		case 'v':
			if val != "0" {
				return o, ErrMalformedSDP
			}
			sawVersion = true
		case 'c':
			f := strings.Fields(val)
			if len(f) != 3 || f[0] != "IN" || (f[1] != "IP4" && f[1] != "IP6") {
				return o, ErrMalformedSDP
			}
			sawConn = true
		case 'm':
			f := strings.Fields(val)
			if len(f) < 4 {
				return o, ErrMalformedSDP
			}
			port, err := strconv.Atoi(strings.SplitN(f[1], "/", 2)[0])
			if err != nil || port < 0 || port > 65535 {
				return o, ErrMalformedSDP
			}
			inAudio = f[0] == "audio" && port != 0 && !o.Audio
			if !inAudio {
				continue
			}
			o.Audio = true
			o.SRTP = strings.Contains(f[2], "SAVP")
			for _, s := range f[3:] {
				pt, err := strconv.Atoi(s)
				if err != nil || pt < 0 || pt > 127 {
					return o, ErrMalformedSDP
				}
				audioFmts = append(audioFmts, pt)
			}
		case 'a':
			if !inAudio || !strings.HasPrefix(val, "rtpmap:") {
				continue
			}
			f := strings.Fields(strings.TrimPrefix(val, "rtpmap:"))
			if len(f) != 2 {
				return o, ErrMalformedSDP
			}
			pt, err := strconv.Atoi(f[0])
			if err != nil || pt < 0 || pt > 127 {
				return o, ErrMalformedSDP
			}
			rtpmap[pt] = strings.ToUpper(f[1])
		}
	}
	if !sawVersion || !sawConn {
		return o, ErrMalformedSDP
	}
	if !o.Audio {
		return o, ErrNoCommonCode
	}
	for _, pt := range audioFmts {
		enc := rtpmap[pt]
		switch {
		case o.Codec == "" && (pt == 0 || strings.HasPrefix(enc, "PCMU/8000")):
			o.Codec = "PCMU"
		case o.Codec == "" && (pt == 8 || strings.HasPrefix(enc, "PCMA/8000")):
			o.Codec = "PCMA"
		case strings.HasPrefix(enc, "TELEPHONE-EVENT/8000") && o.PayloadTEL < 0:
			o.PayloadTEL = pt
		}
	}
	if o.Codec == "" {
		return o, ErrNoCommonCode
	}
	return o, nil
}
