package voice

import (
	"strings"

	"github.com/emiago/sipgo/sip"
)

// info takes a SIP INFO key press (application/dtmf-relay "Signal=5" or
// application/dtmf "5") for one of our calls.
func (s *Server) info(req *sip.Request, tx sip.ServerTransaction) bool {
	ct := req.ContentType()
	if ct == nil {
		return false
	}
	kind := strings.ToLower(strings.TrimSpace(strings.SplitN(ct.Value(), ";", 2)[0]))
	if kind != "application/dtmf-relay" && kind != "application/dtmf" {
		return false
	}
	cid := req.CallID()
	if cid == nil {
		return false
	}
	v, ok := s.byCID.Load(cid.Value())
	if !ok {
		return false
	}
	d, ok := ParseINFODigit(kind, req.Body())
	if !ok {
		tx.Respond(sip.NewResponseFromRequest(req, sip.StatusBadRequest, "Bad Request", nil))
		return true
	}
	if ch := v.(*Call).channel(); ch != nil {
		ch.PushDigit(d)
	}
	tx.Respond(sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
	return true
}

// ParseINFODigit reads the key of a SIP INFO body.
func ParseINFODigit(kind string, body []byte) (rune, bool) {
	if len(body) > 1024 {
		return 0, false
	}
	val := strings.TrimSpace(string(body))
	if kind == "application/dtmf-relay" {
		val = ""
		for _, line := range strings.Split(string(body), "\n") {
			k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "Signal") {
				val = strings.TrimSpace(v)
			}
		}
	}
	switch {
	case len(val) == 1 && strings.ContainsRune("0123456789*#ABCDabcd", rune(val[0])):
		return rune(strings.ToUpper(val)[0]), true
	case val == "10":
		return '*', true
	case val == "11":
		return '#', true
	}
	return 0, false
}
