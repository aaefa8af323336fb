package api

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/call"
)

var callParams = []string{"from", "to", "answer_url", "answer_method", "ring_url", "ring_method", "hangup_url",
	"hangup_method", "fallback_url", "fallback_method", "caller_name", "send_digits", "send_on_preanswer",
	"time_limit", "hangup_on_ring", "ring_timeout", "sip_headers", "parent_call_uuid", "machine_detection",
	"machine_detection_time", "machine_detection_url", "machine_detection_method", "callback_url", "callback_method"}

// makeCall is POST Call/: one request per destination ("to" may list several
// with "<"); the reply carries the request_uuid(s) and the XML runs when the
// callee answers.
func (s *Server) makeCall(r *request) (int, map[string]any, error) {
	if s.opts.Calls == nil {
		return 0, nil, &Error{Status: http.StatusServiceUnavailable, Msg: "voice is not available on this server"}
	}
	p := r.p
	d := call.Draft{AccountID: r.acct.ID, MachineDetection: p.Get("machine_detection"), From: p.Get("from"), To: p.Get("to"),
		CallerName: p.Get("caller_name"), SendDigits: p.Get("send_digits"), ParentUUID: p.Get("parent_call_uuid"),
		AnswerURL: p.Get("answer_url"), HangupURL: p.Get("hangup_url"), FallbackURL: p.Get("fallback_url"), RingURL: p.Get("ring_url"),
		AnswerMethod: p.Get("answer_method"), HangupMethod: p.Get("hangup_method"), FallbackMethod: p.Get("fallback_method"),
		RingMethod: p.Get("ring_method"), SIPHeaders: p.Get("sip_headers")}
	if p.Get("time_limit") != "" {
		n, err := p.Int("time_limit", 0, 1, 86400*30)
		if err != nil {
			return 0, nil, err
		}
		d.TimeLimit = time.Duration(min(n, 86400)) * time.Second // Plivo: ≥ 86400 is cut at 24 h
	}
	if p.Get("ring_timeout") != "" {
		n, err := p.Int("ring_timeout", 0, 1, 86400)
		if err != nil {
			return 0, nil, err
		}
		d.RingTimeout = time.Duration(n) * time.Second
	}
	ids, err := call.Place(r.Context(), s.opts.Calls, s.opts.CallerIDs, d)
	if err != nil {
		return 0, nil, err
	}
	r.objectType, r.objectID = "call", ids[0]
	body := map[string]any{"message": "call fired"}
	if len(ids) == 1 {
		body["request_uuid"] = ids[0]
	} else {
		body["request_uuid"] = ids
	}
	return http.StatusCreated, body, nil
}

// visible says whether a call's account is the caller's or (for a main
// account) one of its subaccounts'.
func (s *Server) visible(r *request) func(string) bool {
	sc := r.scope()
	subs := map[string]bool{}
	if sc.IncludeSubs {
		if ids, err := s.opts.DB.SubaccountIDs(r.Context(), sc.AccountID); err == nil {
			for _, id := range ids {
				subs[id] = true
			}
		}
	}
	return func(id string) bool { return id == sc.AccountID || subs[id] }
}

func liveObject(c trunkline.LiveCall) map[string]any {
	return map[string]any{"call_status": c.Status, "call_uuid": c.CallUUID, "caller_name": c.CallerName,
		"direction": c.Direction, "from": c.From, "to": c.To, "request_uuid": c.RequestUUID,
		"session_start": c.SessionStart.UTC().Format("2006-01-02 15:04:05.000000")}
}

// liveCalls answers GET Call/?status=live|queued.
func (s *Server) liveCalls(r *request) (int, map[string]any, error) {
	if s.opts.Calls == nil {
		return http.StatusOK, map[string]any{"calls": []string{}}, nil
	}
	calls := s.opts.Calls.Live(s.visible(r), r.p.Get("status") == "queued")
	ids := make([]string, 0, len(calls))
	for _, c := range calls {
		ids = append(ids, c.CallUUID)
	}
	return http.StatusOK, map[string]any{"calls": ids}, nil
}

// liveCall answers GET Call/{uuid}/?status=live|queued.
func (s *Server) liveCall(r *request) (int, map[string]any, error) {
	if s.opts.Calls == nil {
		return 0, nil, errNotFound
	}
	c, ok := s.opts.Calls.Get(r.vars["call_uuid"])
	if !ok || !s.visible(r)(c.AccountID) {
		return 0, nil, errNotFound
	}
	if queued := r.p.Get("status") == "queued"; queued != (c.Status != "in-progress") {
		return 0, nil, errNotFound
	}
	return http.StatusOK, liveObject(c), nil
}

// hangupCall is DELETE Call/{uuid}/.
func (s *Server) hangupCall(r *request) (int, map[string]any, error) {
	id := r.vars["call_uuid"]
	if s.opts.Calls != nil {
		if c, ok := s.opts.Calls.Get(id); ok && s.visible(r)(c.AccountID) && s.opts.Calls.Hangup(id) {
			return http.StatusNoContent, nil, nil
		}
	}
	return 0, nil, errNotFound
}

// cancelRequest is DELETE Request/{request_uuid}/: a call not answered yet.
func (s *Server) cancelRequest(r *request) (int, map[string]any, error) {
	id := r.vars["request_uuid"]
	if s.opts.Calls != nil {
		for _, c := range s.opts.Calls.Live(s.visible(r), true) {
			if c.RequestUUID == id && s.opts.Calls.Cancel(id) {
				return http.StatusNoContent, nil, nil
			}
		}
	}
	return 0, nil, errNotFound
}

var (
	transferParams = []string{"legs", "aleg_url", "aleg_method", "bleg_url", "bleg_method"}
	playParams     = []string{"urls", "length", "legs", "loop", "mix"}
	speakParams    = []string{"text", "voice", "language", "legs", "loop", "mix"}
	dtmfParams     = []string{"digits", "leg"}
	recordParams   = []string{"time_limit", "file_format", "transcription_type", "transcription_url", "transcription_method",
		"callback_url", "callback_method", "record_channel_type"}
)

// callCommand runs a live-call command on the path's call; the handler has
// checked with ownLiveCall that the caller may see it.
func (s *Server) callCommand(r *request, cmd trunkline.CallCommand) (trunkline.CommandResult, error) {
	res, err := s.opts.Calls.Command(r.Context(), r.vars["call_uuid"], cmd)
	if trunkline.ErrorCode(err) == trunkline.ENOTFOUND {
		return res, errNotFound
	}
	return res, err
}

// ownLiveCall answers 404 unless the path names a running call the caller
// may see: first, so a stranger learns nothing from validation errors.
func (s *Server) ownLiveCall(r *request) error {
	if s.opts.Calls == nil {
		return errNotFound
	}
	c, ok := s.opts.Calls.Get(r.vars["call_uuid"])
	if !ok || !s.visible(r)(c.AccountID) {
		return errNotFound
	}
	return nil
}

func legsOnlyA(p Params, name string) error {
	if v := p.Get(name); v != "" && v != "aleg" {
		return badRequest(name + "=" + safeName(v) + " is not supported yet: only aleg")
	}
	return nil
}

func methodOr(p Params, name string) (string, error) {
	if v := p.Get(name); v != "" {
		return checkMethod(name, v)
	}
	return "POST", nil
}

// optionalCallback reads an optional callback URL parameter and its method
// (default POST): "", "" when the URL is not given.
func optionalCallback(p Params, urlName, methodName string) (u, method string, err error) {
	if u = p.Get(urlName); u == "" {
		return "", "", nil
	}
	if err := checkURL(urlName, u); err != nil {
		return "", "", err
	}
	if method, err = methodOr(p, methodName); err != nil {
		return "", "", err
	}
	return u, method, nil
}

// transferCall is POST Call/{uuid}/: the A leg runs aleg_url's XML.
func (s *Server) transferCall(r *request) (int, map[string]any, error) {
	if err := s.ownLiveCall(r); err != nil {
		return 0, nil, err
	}
	cmd := trunkline.CallCommand{Kind: "transfer", Legs: r.p.Get("legs")}
	switch cmd.Legs {
	case "", "aleg", "bleg", "both":
	default:
		return 0, nil, badRequest("legs must be aleg, bleg or both")
	}
	for _, leg := range []struct {
		name      string
		url, meth *string
		needed    bool
	}{{"aleg", &cmd.URL, &cmd.Method, cmd.Legs != "bleg"}, {"bleg", &cmd.BURL, &cmd.BMethod, cmd.Legs == "bleg" || cmd.Legs == "both"}} {
		if !leg.needed {
			continue
		}
		u := r.p.Get(leg.name + "_url")
		if u == "" {
			return 0, nil, badRequest(leg.name + "_url is required")
		}
		if err := checkURL(leg.name+"_url", u); err != nil {
			return 0, nil, err
		}
		m, err := methodOr(r.p, leg.name+"_method")
		if err != nil {
			return 0, nil, err
		}
		*leg.url, *leg.meth = u, m
	}
	if _, err := s.callCommand(r, cmd); err != nil {
		if errors.Is(err, trunkline.ErrNoBridgedLeg) {
			return 0, nil, badRequest("the call has no bridged leg to transfer")
		}
		return 0, nil, err
	}
	return http.StatusAccepted, map[string]any{"message": "call transferred"}, nil
}

func (s *Server) playOnCall(r *request) (int, map[string]any, error) {
	if err := s.ownLiveCall(r); err != nil {
		return 0, nil, err
	}
	if err := legsOnlyA(r.p, "legs"); err != nil {
		return 0, nil, err
	}
	var urls []string
	for _, u := range strings.Split(r.p.Get("urls"), ",") {
		if u = strings.TrimSpace(u); u != "" {
			if err := checkURL("urls", u); err != nil {
				return 0, nil, err
			}
			urls = append(urls, u)
		}
	}
	if len(urls) == 0 {
		return 0, nil, badRequest("urls is required")
	}
	if _, err := s.callCommand(r, trunkline.CallCommand{Kind: "play", URLs: urls, Loop: r.p.Get("loop") == "true"}); err != nil {
		return 0, nil, err
	}
	return http.StatusAccepted, map[string]any{"message": "play started"}, nil
}

func (s *Server) speakOnCall(r *request) (int, map[string]any, error) {
	if err := s.ownLiveCall(r); err != nil {
		return 0, nil, err
	}
	if err := legsOnlyA(r.p, "legs"); err != nil {
		return 0, nil, err
	}
	text := r.p.Get("text")
	if strings.TrimSpace(text) == "" {
		return 0, nil, badRequest("text is required")
	}
	if len(text) > 4096 {
		return 0, nil, badRequest("text is at most 4096 bytes")
	}
	voiceName, lang := r.p.Get("voice"), r.p.Get("language")
	if voiceName == "" {
		voiceName = "WOMAN"
	}
	if lang == "" {
		lang = "en-US"
	}
	if _, err := s.callCommand(r, trunkline.CallCommand{Kind: "speak", Text: text, Voice: voiceName, Language: lang, Loop: r.p.Get("loop") == "true"}); err != nil {
		return 0, nil, err
	}
	return http.StatusAccepted, map[string]any{"message": "speak started"}, nil
}

func (s *Server) stopMedia(kind string) handlerFunc {
	return func(r *request) (int, map[string]any, error) {
		if err := s.ownLiveCall(r); err != nil {
			return 0, nil, err
		}
		if _, err := s.callCommand(r, trunkline.CallCommand{Kind: kind}); err != nil {
			return 0, nil, err
		}
		return http.StatusNoContent, nil, nil
	}
}

func (s *Server) dtmfOnCall(r *request) (int, map[string]any, error) {
	if err := s.ownLiveCall(r); err != nil {
		return 0, nil, err
	}
	if err := legsOnlyA(r.p, "leg"); err != nil {
		return 0, nil, err
	}
	d := r.p.Get("digits")
	if d == "" || len(d) > 64 || strings.Trim(d, "0123456789*#ABCDwW") != "" {
		return 0, nil, badRequest("digits takes 1 to 64 of 0-9, *, #, A-D, w and W")
	}
	if _, err := s.callCommand(r, trunkline.CallCommand{Kind: "dtmf", Digits: d}); err != nil {
		return 0, nil, err
	}
	return http.StatusAccepted, map[string]any{"message": "digits sent"}, nil
}

func (s *Server) recordCall(r *request) (int, map[string]any, error) {
	if err := s.ownLiveCall(r); err != nil {
		return 0, nil, err
	}
	cmd := trunkline.CallCommand{Kind: "record", TimeLimit: 60 * time.Second, FileFormat: "mp3"}
	if r.p.Get("time_limit") != "" {
		n, err := r.p.Int("time_limit", 0, 1, 86400)
		if err != nil {
			return 0, nil, err
		}
		cmd.TimeLimit = time.Duration(n) * time.Second
	}
	switch f := r.p.Get("file_format"); f {
	case "", "mp3":
	case "wav":
		cmd.FileFormat = "wav"
	default:
		return 0, nil, badRequest("file_format must be mp3 or wav")
	}
	var err error
	if cmd.CallbackURL, cmd.CallbackMethod, err = optionalCallback(r.p, "callback_url", "callback_method"); err != nil {
		return 0, nil, err
	}
	res, err := s.callCommand(r, cmd)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusAccepted, map[string]any{"message": "call recording started", "recording_id": res.RecordingID, "url": res.URL}, nil
}
