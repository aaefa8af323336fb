package plivoxml

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// ParseResponse parses and validates a call-control document (the reply of
// an answer_url, action URL or Redirect). Validation follows Plivo and its
// official SDKs: element and attribute names are case-sensitive; unknown
// elements and attributes, elements where they may not be nested, text
// where no text belongs and attribute values of the wrong type are
// refused. A leading <?xml?> declaration is accepted; DTDs and entity
// declarations are not; documents over MaxSize are refused.
//
// Every error is an *Error whose text can be shown to the application's
// developer as the reason the call ended.
func ParseResponse(b []byte) (*Response, error) {
	root, err := buildTree(b)
	if err != nil {
		return nil, err
	}
	if len(root.attrs) > 0 {
		return nil, root.errorf("not a valid attribute: %q for %q", show(qualified(root.attrs[0].Name)), "Response")
	}
	els, cerr := children(root)
	if cerr != nil {
		return nil, cerr
	}
	return &Response{Elements: els}, nil
}

// nestables lists, per element, the elements it may contain (the Node
// SDK's nestables, utils/plivoxml.js). Elements missing from the map take
// no child elements; Speak takes SSML, checked by ssml.go.
var nestables = map[string][]string{
	"Response":  {"Speak", "Play", "GetDigits", "GetInput", "Record", "Dial", "Message", "Redirect", "Wait", "Hangup", "PreAnswer", "Conference", "DTMF", "MultiPartyCall", "Stream"},
	"GetDigits": {"Speak", "Play", "Wait"},
	"GetInput":  {"Speak", "Play", "Wait"},
	"PreAnswer": {"Play", "Speak", "GetDigits", "Wait", "Redirect", "Message", "DTMF"},
	"Dial":      {"Number", "User"},
}

// validAttrs lists, per element, the attributes Plivo accepts (the Node
// SDK's valid_attributes).
var validAttrs = map[string][]string{
	"Response":       {},
	"Speak":          {"voice", "language", "loop"},
	"Play":           {"loop"},
	"Wait":           {"length", "silence", "min_silence", "minSilence", "beep"},
	"GetDigits":      {"action", "method", "timeout", "digitTimeout", "finishOnKey", "numDigits", "retries", "invalidDigitsSound", "validDigits", "playBeep", "redirect", "log"},
	"GetInput":       {"action", "method", "inputType", "executionTimeout", "digitEndTimeout", "speechEndTimeout", "finishOnKey", "numDigits", "speechModel", "hints", "language", "interimSpeechResultsCallback", "interimSpeechResultsCallbackMethod", "log", "redirect", "profanityFilter"},
	"Record":         {"action", "method", "timeout", "finishOnKey", "maxLength", "playBeep", "recordSession", "startOnDialAnswer", "redirect", "fileFormat", "callbackUrl", "callbackMethod", "transcriptionType", "transcriptionUrl", "transcriptionMethod", "recordChannelType"},
	"Dial":           {"action", "method", "timeout", "hangupOnStar", "timeLimit", "callerId", "callerName", "confirmSound", "dialMusic", "confirmKey", "redirect", "callbackUrl", "callbackMethod", "digitsMatch", "digitsMatchBLeg", "sipHeaders", "confirmTimeout"},
	"Number":         {"sendDigits", "sendOnPreanswer", "sendDigitsMode", "callerId", "callerName"},
	"User":           {"sendDigits", "sendOnPreanswer", "sipHeaders", "callerId", "callerName"},
	"Message":        {"src", "dst", "type", "callbackUrl", "callbackMethod"},
	"Redirect":       {"method"},
	"Hangup":         {"schedule", "reason"},
	"PreAnswer":      {},
	"DTMF":           {"digits", "async"},
	"Conference":     {"muted", "beep", "startConferenceOnEnter", "endConferenceOnExit", "waitSound", "enterSound", "exitSound", "timeLimit", "hangupOnStar", "maxMembers", "record", "recordWhenAlone", "recordFileFormat", "action", "method", "redirect", "digitsMatch", "callbackUrl", "callbackMethod", "stayAlone", "floorEvent", "transcriptionType", "transcriptionUrl", "transcriptionMethod", "relayDTMF"},
	"Stream":         {"bidirectional", "audioTrack", "streamTimeout", "statusCallbackUrl", "statusCallbackMethod", "contentType", "extraHeaders", "keepCallAlive"},
	"MultiPartyCall": {"role", "maxDuration", "maxParticipants", "recordMinMemberCount", "waitMusicUrl", "waitMusicMethod", "agentHoldMusicUrl", "agentHoldMusicMethod", "customerHoldMusicUrl", "customerHoldMusicMethod", "record", "recordFileFormat", "recordingCallbackUrl", "recordingCallbackMethod", "statusCallbackEvents", "statusCallbackUrl", "statusCallbackMethod", "stayAlone", "coachMode", "mute", "hold", "startMpcOnEnter", "endMpcOnExit", "enterSound", "enterSoundMethod", "exitSound", "exitSoundMethod", "onExitActionUrl", "onExitActionMethod", "relayDTMFInputs", "startRecordingAudio", "startRecordingAudioMethod", "stopRecordingAudio", "stopRecordingAudioMethod", "recordParticipantTrack"},
}

// known reports whether name is an element Plivo defines anywhere.
func known(name string) bool {
	_, ok := validAttrs[name]
	_, ssml := ssmlAttrs[name]
	return ok || ssml
}

// allNames lists every element name, sorted, for hints.
func allNames() []string {
	var out []string
	for k := range validAttrs {
		out = append(out, k)
	}
	for k := range ssmlAttrs {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// checkChild reports whether kid may appear inside parent (whose allowed
// children are allowed).
func checkChild(parent, kid *node, allowed []string) *Error {
	name := kid.displayName()
	if kid.space != "" || !known(kid.name) {
		msg := fmt.Sprintf("unknown element %q", name)
		if kid.space == "" {
			if hint := caseHint(name, allNames()); hint != "" {
				msg += fmt.Sprintf("; names are case-sensitive: did you mean %q?", hint)
			}
		}
		return kid.errorf("%s", msg)
	}
	if !contains(allowed, kid.name) {
		return kid.errorf("%s cannot be nested in %s", name, parent.displayName())
	}
	return nil
}

// children converts the child elements of a container (Response,
// GetDigits, GetInput, PreAnswer), which holds no text of its own.
func children(n *node) ([]Element, *Error) {
	allowed := nestables[n.name]
	var out []Element
	for _, p := range n.parts {
		if p.kid == nil {
			if strings.TrimSpace(p.text) != "" {
				return nil, n.errorf("text is not allowed directly in %s", n.name)
			}
			continue
		}
		if err := checkChild(n, p.kid, allowed); err != nil {
			return nil, err
		}
		el, err := convert(p.kid)
		if err != nil {
			return nil, err
		}
		out = append(out, el)
	}
	return out, nil
}

// body returns the trimmed text of an element that holds text and no
// elements (Play, Redirect, Number ...).
func body(n *node) (string, *Error) {
	for _, k := range n.kids() {
		if err := checkChild(n, k, nil); err != nil {
			return "", err
		}
	}
	return strings.TrimSpace(n.text()), nil
}

// empty checks that an element without content model (Wait, Hangup,
// Record) holds neither text nor elements.
func empty(n *node) *Error {
	for _, p := range n.parts {
		if p.kid != nil {
			return checkChild(n, p.kid, nil)
		}
		if strings.TrimSpace(p.text) != "" {
			return n.errorf("%s takes no text", n.name)
		}
	}
	return nil
}

func convert(n *node) (Element, *Error) {
	a, aerr := newAttrs(n, validAttrs[n.name])
	if aerr != nil {
		return nil, aerr
	}
	var el Element
	var err *Error
	switch n.name {
	case "Speak":
		el, err = parseSpeak(n, a)
	case "Play":
		el, err = parsePlay(n, a)
	case "Wait":
		el, err = parseWait(n, a)
	case "GetDigits":
		el, err = parseGetDigits(n, a)
	case "GetInput":
		el, err = parseGetInput(n, a)
	case "Record":
		el, err = parseRecord(n, a)
	case "Dial":
		el, err = parseDial(n, a)
	case "Message":
		el, err = parseMessage(n, a)
	case "Redirect":
		el, err = parseRedirect(n, a)
	case "Hangup":
		el, err = parseHangup(n, a)
	case "PreAnswer":
		el, err = parsePreAnswer(n)
	case "DTMF":
		el, err = parseDTMF(n, a)
	case "Conference":
		el, err = parseConference(n, a)
	case "Stream":
		el, err = parseStream(n, a)
	case "MultiPartyCall":
		el, err = parseMultiPartyCall(n, a)
	default:
		// checkChild only lets through names nestable somewhere.
		err = n.errorf("%s cannot be used here", n.name)
	}
	// Attribute errors first: they are about the element's start tag.
	if e := a.err(); e != nil {
		return nil, e
	}
	if err != nil {
		return nil, err
	}
	return el, nil
}

var (
	languageTag = regexp.MustCompile(`^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$`)
	pollyVoice  = regexp.MustCompile(`^Polly\.[A-Za-z0-9_-]+$`)
	phoneNumber = regexp.MustCompile(`^\+?[0-9]{1,20}$`)
)

// maxLoop bounds loop attributes (Plivo's own framework used 10000).
const maxLoop = 10000

func parseSpeak(n *node, a *attrs) (Element, *Error) {
	s := Speak{
		Voice:    a.str("voice", "WOMAN"),
		Language: a.str("language", "en-US"),
		Loop:     a.integer("loop", 1, 0, maxLoop),
	}
	if s.Voice != "WOMAN" && s.Voice != "MAN" && !pollyVoice.MatchString(s.Voice) {
		a.fail("voice", s.Voice, `must be WOMAN, MAN or an Amazon Polly voice such as "Polly.Joanna"`)
	}
	if !languageTag.MatchString(s.Language) {
		a.fail("language", s.Language, `must be a language code such as "en-US"`)
	}
	if err := checkSSML(n); err != nil {
		return nil, err
	}
	if len(n.kids()) > 0 {
		s.SSML = strings.TrimSpace(n.innerXML())
	}
	s.Text = strings.Join(strings.Fields(n.text()), " ")
	if s.Text == "" {
		return nil, n.errorf("Speak needs text to say")
	}
	return s, nil
}

func parsePlay(n *node, a *attrs) (Element, *Error) {
	p := Play{Loop: a.integer("loop", 1, 0, maxLoop)}
	u, err := body(n)
	if err != nil {
		return nil, err
	}
	if u == "" {
		return nil, n.errorf("Play needs the URL of an audio file")
	}
	if msg := checkURL(u, "http", "https"); msg != "" {
		return nil, n.errorf("Play URL %q %s", show(u), msg)
	}
	p.URL = u
	return p, nil
}

func parseWait(n *node, a *attrs) (Element, *Error) {
	w := Wait{
		Length:  a.seconds("length", 1, 1, anyPositive),
		Silence: a.boolean("silence", false),
		Beep:    a.boolean("beep", false),
	}
	name := "minSilence"
	if a.has("min_silence") {
		if a.has("minSilence") {
			return nil, n.errorf("use minSilence or min_silence on Wait, not both")
		}
		name = "min_silence"
	}
	w.MinSilence = msDuration(a.integer(name, 2000, 1, anyPositive))
	return w, empty(n)
}

func parseGetDigits(n *node, a *attrs) (Element, *Error) {
	g := GetDigits{
		Action:             a.url("action"),
		Method:             a.method("method", "POST"),
		Timeout:            a.seconds("timeout", 5, 1, anyPositive),
		DigitTimeout:       a.seconds("digitTimeout", 2, 1, anyPositive),
		FinishOnKey:        a.finishKey("finishOnKey", "#", false),
		NumDigits:          a.integer("numDigits", 99, 1, anyPositive),
		Retries:            a.integer("retries", 1, 1, anyPositive),
		Redirect:           a.boolean("redirect", true),
		PlayBeep:           a.boolean("playBeep", false),
		ValidDigits:        a.keys("validDigits", "1234567890*#", dtmfKeys, "must be one or more of 0-9, * and #"),
		InvalidDigitsSound: a.url("invalidDigitsSound"),
		Log:                a.boolean("log", true),
	}
	if e := a.err(); e != nil {
		return nil, e
	}
	kids, err := children(n)
	if err != nil {
		return nil, err
	}
	g.Children = kids
	return g, nil
}

func parseGetInput(n *node, a *attrs) (Element, *Error) {
	g := GetInput{
		Action:                             a.url("action"),
		Method:                             a.method("method", "POST"),
		InputType:                          a.enum("inputType", "", "dtmf", "speech", "dtmf speech"),
		ExecutionTimeout:                   a.seconds("executionTimeout", 15, 5, 60),
		DigitEndTimeout:                    autoSeconds(a, "digitEndTimeout"),
		SpeechEndTimeout:                   autoSeconds(a, "speechEndTimeout"),
		FinishOnKey:                        a.finishKey("finishOnKey", "#", false),
		NumDigits:                          a.integer("numDigits", 0, 1, anyPositive),
		SpeechModel:                        a.str("speechModel", ""),
		Hints:                              a.str("hints", ""),
		Language:                           a.str("language", "en-US"),
		InterimSpeechResultsCallback:       a.url("interimSpeechResultsCallback"),
		InterimSpeechResultsCallbackMethod: a.method("interimSpeechResultsCallbackMethod", "POST"),
		Log:                                a.boolean("log", true),
		Redirect:                           a.boolean("redirect", true),
		ProfanityFilter:                    a.boolean("profanityFilter", false),
	}
	if !languageTag.MatchString(g.Language) {
		a.fail("language", g.Language, `must be a language code such as "en-US"`)
	}
	if e := a.err(); e != nil {
		return nil, e
	}
	if g.Action == "" {
		return nil, n.errorf("GetInput needs an action URL")
	}
	if g.InputType == "" {
		return nil, n.errorf(`GetInput needs an inputType: "dtmf", "speech" or "dtmf speech"`)
	}
	kids, err := children(n)
	if err != nil {
		return nil, err
	}
	g.Children = kids
	return g, nil
}

// autoSeconds reads digitEndTimeout / speechEndTimeout: "auto" (0) or 2–10.
func autoSeconds(a *attrs, name string) time.Duration {
	if v, ok := a.vals[name]; !ok || strings.EqualFold(v, "auto") {
		return 0
	}
	return a.seconds(name, 0, 2, 10)
}

func parseRecord(n *node, a *attrs) (Element, *Error) {
	r := Record{
		Action:              a.url("action"),
		Method:              a.method("method", "POST"),
		FileFormat:          a.enum("fileFormat", "mp3", "mp3", "wav"),
		Redirect:            a.boolean("redirect", true),
		Timeout:             a.seconds("timeout", 15, 1, anyPositive),
		MaxLength:           a.seconds("maxLength", 60, 1, anyPositive),
		FinishOnKey:         a.finishKey("finishOnKey", "#", true),
		PlayBeep:            a.boolean("playBeep", true),
		RecordSession:       a.boolean("recordSession", false),
		StartOnDialAnswer:   a.boolean("startOnDialAnswer", false),
		RecordChannelType:   a.enum("recordChannelType", "stereo", "stereo", "mono"),
		TranscriptionType:   a.enum("transcriptionType", "", "", "auto", "hybrid", "manual"),
		TranscriptionURL:    a.url("transcriptionUrl"),
		TranscriptionMethod: a.method("transcriptionMethod", "POST"),
		CallbackURL:         a.url("callbackUrl"),
		CallbackMethod:      a.method("callbackMethod", "POST"),
	}
	return r, empty(n)
}

func parseDial(n *node, a *attrs) (Element, *Error) {
	d := Dial{
		Action:          a.url("action"),
		Method:          a.method("method", "POST"),
		Timeout:         a.seconds("timeout", 0, 1, anyPositive),
		TimeLimit:       a.seconds("timeLimit", 14400, 1, anyPositive),
		CallerID:        a.maxLen("callerId", 128),
		CallerName:      a.maxLen("callerName", 50),
		HangupOnStar:    a.boolean("hangupOnStar", false),
		Redirect:        a.boolean("redirect", true),
		CallbackURL:     a.url("callbackUrl"),
		CallbackMethod:  a.method("callbackMethod", "POST"),
		ConfirmSound:    a.url("confirmSound"),
		ConfirmKey:      a.finishKey("confirmKey", "", false),
		ConfirmTimeout:  a.seconds("confirmTimeout", 120, 1, anyPositive),
		DialMusic:       a.urlOr("dialMusic", "real"),
		DigitsMatch:     a.patterns("digitsMatch"),
		DigitsMatchBLeg: a.patterns("digitsMatchBLeg"),
		SIPHeaders:      a.sipHeaders("sipHeaders"),
	}
	if e := a.err(); e != nil {
		return nil, e
	}
	for _, p := range n.parts {
		if p.kid == nil {
			if strings.TrimSpace(p.text) != "" {
				return nil, n.errorf("text is not allowed directly in Dial: put numbers in Number and SIP URIs in User")
			}
			continue
		}
		if err := checkChild(n, p.kid, nestables["Dial"]); err != nil {
			return nil, err
		}
		k := p.kid
		ka, err := newAttrs(k, validAttrs[k.name])
		if err != nil {
			return nil, err
		}
		text, err := body(k)
		if err != nil {
			return nil, err
		}
		sendDigits := ka.keys("sendDigits", "", dtmfKeys+"wW", "must be digits 0-9, * and #, with w (0.5 s) and W (1 s) pauses")
		sendOnPreanswer := ka.boolean("sendOnPreanswer", false)
		callerID := ka.maxLen("callerId", 128)
		callerName := ka.maxLen("callerName", 50)
		if k.name == "Number" {
			num := Number{Digits: text, SendDigits: sendDigits, SendOnPreanswer: sendOnPreanswer,
				SendDigitsMode: ka.str("sendDigitsMode", ""), CallerID: callerID, CallerName: callerName}
			if e := ka.err(); e != nil {
				return nil, e
			}
			if !phoneNumber.MatchString(num.Digits) {
				return nil, k.errorf("Number must be a phone number (digits with an optional leading +), not %q", show(num.Digits))
			}
			d.Numbers = append(d.Numbers, num)
		} else {
			u := User{URI: text, SendDigits: sendDigits, SendOnPreanswer: sendOnPreanswer,
				SIPHeaders: ka.sipHeaders("sipHeaders"), CallerID: callerID, CallerName: callerName}
			if e := ka.err(); e != nil {
				return nil, e
			}
			if !validSIPURI(u.URI) {
				return nil, k.errorf("User must be a SIP URI such as sip:alice@example.com, not %q", show(u.URI))
			}
			d.Users = append(d.Users, u)
		}
	}
	if len(d.Numbers)+len(d.Users) == 0 {
		return nil, n.errorf("Dial needs at least one Number or User")
	}
	return d, nil
}

func validSIPURI(s string) bool {
	scheme, rest, ok := strings.Cut(s, ":")
	if !ok || (!strings.EqualFold(scheme, "sip") && !strings.EqualFold(scheme, "sips")) || rest == "" {
		return false
	}
	return !strings.ContainsFunc(rest, func(r rune) bool { return isControl(r) || r == ' ' || r == '<' || r == '>' || r == '"' })
}

func parseMessage(n *node, a *attrs) (Element, *Error) {
	m := Message{
		Src:            a.str("src", ""),
		Dst:            a.str("dst", ""),
		Type:           a.enum("type", "sms", "sms"),
		CallbackURL:    a.url("callbackUrl"),
		CallbackMethod: a.method("callbackMethod", "POST"),
	}
	if e := a.err(); e != nil {
		return nil, e
	}
	text, err := body(n)
	if err != nil {
		return nil, err
	}
	m.Text = text
	if m.Src == "" || m.Dst == "" || m.Text == "" {
		return nil, n.errorf("Message needs src, dst and text")
	}
	return m, nil
}

func parseRedirect(n *node, a *attrs) (Element, *Error) {
	r := Redirect{Method: a.method("method", "POST")}
	u, err := body(n)
	if err != nil {
		return nil, err
	}
	if u == "" {
		return nil, n.errorf("Redirect needs a URL")
	}
	if msg := checkURL(u, "http", "https"); msg != "" {
		return nil, n.errorf("Redirect URL %q %s", show(u), msg)
	}
	r.URL = u
	return r, nil
}

func parseHangup(n *node, a *attrs) (Element, *Error) {
	h := Hangup{
		Reason:   a.enum("reason", "", "", "rejected", "busy"),
		Schedule: a.seconds("schedule", 0, 0, anyPositive),
	}
	return h, empty(n)
}

func parsePreAnswer(n *node) (Element, *Error) {
	kids, err := children(n)
	if err != nil {
		return nil, err
	}
	return PreAnswer{Children: kids}, nil
}

func parseDTMF(n *node, a *attrs) (Element, *Error) {
	d := DTMF{Async: a.boolean("async", true)}
	text, err := body(n)
	if err != nil {
		return nil, err
	}
	attr := a.str("digits", "")
	switch {
	case text != "" && attr != "" && text != attr:
		return nil, n.errorf("DTMF has digits both as text and as the digits attribute")
	case text == "":
		text = attr
	}
	if text == "" {
		return nil, n.errorf("DTMF needs digits to send")
	}
	if !onlyChars(text, dtmfKeys+"wW") {
		return nil, n.errorf("DTMF digits %q: only 0-9, *, # and the pauses w and W are allowed", show(text))
	}
	d.Digits = text
	return d, nil
}

func parseConference(n *node, a *attrs) (Element, *Error) {
	c := Conference{
		Muted:                  a.boolean("muted", false),
		StartConferenceOnEnter: a.boolean("startConferenceOnEnter", true),
		EndConferenceOnExit:    a.boolean("endConferenceOnExit", false),
		WaitSound:              a.url("waitSound"),
		EnterSound:             a.urlOr("enterSound", "beep:1", "beep:2", "none"),
		ExitSound:              a.urlOr("exitSound", "beep:1", "beep:2", "none"),
		MaxMembers:             a.integer("maxMembers", 20, 1, 20),
		TimeLimit:              a.seconds("timeLimit", 86400, 1, anyPositive),
		HangupOnStar:           a.boolean("hangupOnStar", false),
		StayAlone:              a.boolean("stayAlone", true),
		Record:                 a.boolean("record", false),
		RecordWhenAlone:        a.boolean("recordWhenAlone", false),
		RecordFileFormat:       a.enum("recordFileFormat", "mp3", "mp3", "wav"),
		Action:                 a.url("action"),
		Method:                 a.method("method", "POST"),
		Redirect:               a.boolean("redirect", true),
		CallbackURL:            a.url("callbackUrl"),
		CallbackMethod:         a.method("callbackMethod", "POST"),
		DigitsMatch:            a.patterns("digitsMatch"),
		FloorEvent:             a.boolean("floorEvent", false),
		RelayDTMF:              a.boolean("relayDTMF", true),
		TranscriptionType:      a.enum("transcriptionType", "", "", "auto", "hybrid", "manual"),
		TranscriptionURL:       a.url("transcriptionUrl"),
		TranscriptionMethod:    a.method("transcriptionMethod", "POST"),
		Beep:                   a.enum("beep", "", "true", "false", "onEnter", "onExit", "beep:1", "beep:2"),
	}
	// beep: Plivo's SDKs accept it and Plivo documents no values. It reads
	// as Twilio's (true, false, onEnter, onExit: a beep on entry and/or
	// exit), or names the sound for both (beep:1, beep:2). It fills
	// enterSound and exitSound only where they are not given.
	sound := "beep:1"
	if strings.HasPrefix(c.Beep, "beep:") {
		sound = c.Beep
	}
	if !a.has("enterSound") && (c.Beep == "true" || c.Beep == "onEnter" || c.Beep == sound) {
		c.EnterSound = sound
	}
	if !a.has("exitSound") && (c.Beep == "true" || c.Beep == "onExit" || c.Beep == sound) {
		c.ExitSound = sound
	}
	if c.EnterSound == "none" {
		c.EnterSound = ""
	}
	if c.ExitSound == "none" {
		c.ExitSound = ""
	}
	room, err := body(n)
	if err != nil {
		return nil, err
	}
	if room == "" {
		return nil, n.errorf("Conference needs a room name")
	}
	if utf8.RuneCountInString(room) > 256 || strings.ContainsFunc(room, isControl) {
		return nil, n.errorf("Conference room name must be at most 256 characters, without control characters")
	}
	c.Room = room
	return c, nil
}

func parseStream(n *node, a *attrs) (Element, *Error) {
	s := Stream{
		Bidirectional:        a.boolean("bidirectional", false),
		AudioTrack:           a.enum("audioTrack", "inbound", "inbound", "outbound", "both"),
		StreamTimeout:        a.seconds("streamTimeout", 86400, 1, anyPositive),
		StatusCallbackURL:    a.url("statusCallbackUrl"),
		StatusCallbackMethod: a.method("statusCallbackMethod", "POST"),
		ContentType:          a.enum("contentType", "audio/x-l16;rate=8000", "audio/x-l16;rate=8000", "audio/x-l16;rate=16000", "audio/x-mulaw;rate=8000"),
		ExtraHeaders:         a.str("extraHeaders", ""),
		KeepCallAlive:        a.boolean("keepCallAlive", false),
	}
	if len(s.ExtraHeaders) > 512 {
		a.fail("extraHeaders", s.ExtraHeaders, "at most 512 bytes")
	}
	u, err := body(n)
	if err != nil {
		return nil, err
	}
	if u == "" {
		return nil, n.errorf("Stream needs a WebSocket URL (wss://...)")
	}
	if msg := checkURL(u, "wss", "ws"); msg != "" {
		return nil, n.errorf("Stream URL %q %s", show(u), msg)
	}
	s.URL = u
	return s, nil
}

// mpcKind types a MultiPartyCall attribute, as the Node SDK checks them in
// addMultiPartyCall; attributes not in mpcKinds are free strings.
type mpcKind struct {
	kind   string // bool, method, url, sound, format or int
	lo, hi int    // for int
}

var mpcKinds = func() map[string]mpcKind {
	m := map[string]mpcKind{
		"maxDuration":          {"int", 300, 28800},
		"maxParticipants":      {"int", 2, 10},
		"recordMinMemberCount": {"int", 1, 2},
		"enterSound":           {kind: "sound"},
		"exitSound":            {kind: "sound"},
		"recordFileFormat":     {kind: "format"},
	}
	for _, n := range []string{"record", "stayAlone", "coachMode", "mute", "hold", "startMpcOnEnter", "endMpcOnExit", "relayDTMFInputs", "recordParticipantTrack"} {
		m[n] = mpcKind{kind: "bool"}
	}
	for _, n := range []string{"waitMusicMethod", "agentHoldMusicMethod", "customerHoldMusicMethod", "recordingCallbackMethod", "statusCallbackMethod", "enterSoundMethod", "exitSoundMethod", "onExitActionMethod", "startRecordingAudioMethod", "stopRecordingAudioMethod"} {
		m[n] = mpcKind{kind: "method"}
	}
	for _, n := range []string{"waitMusicUrl", "agentHoldMusicUrl", "customerHoldMusicUrl", "recordingCallbackUrl", "statusCallbackUrl", "onExitActionUrl", "startRecordingAudio", "stopRecordingAudio"} {
		m[n] = mpcKind{kind: "url"}
	}
	return m
}()

func parseMultiPartyCall(n *node, a *attrs) (Element, *Error) {
	m := MultiPartyCall{Attrs: map[string]string{}}
	if !a.has("role") {
		return nil, n.errorf("MultiPartyCall needs a role: agent, supervisor or customer")
	}
	m.Role = a.enum("role", "", "agent", "supervisor", "customer")
	for _, at := range n.attrs {
		name := qualified(at.Name)
		v := at.Value
		if name == "role" {
			continue
		}
		switch k := mpcKinds[name]; k.kind {
		case "bool":
			v = fmt.Sprint(a.boolean(name, false))
		case "method":
			v = a.method(name, "")
		case "url":
			v = a.url(name)
		case "sound":
			v = a.urlOr(name, "beep:1", "beep:2", "none")
		case "format":
			v = a.enum(name, "", "mp3", "wav")
		case "int":
			v = fmt.Sprint(a.integer(name, 0, k.lo, k.hi))
		default:
			v = a.str(name, "")
		}
		m.Attrs[name] = v
	}
	name, err := body(n)
	if err != nil {
		return nil, err
	}
	if name == "" {
		return nil, n.errorf("MultiPartyCall needs a name")
	}
	m.MPCName = name
	return m, nil
}

func msDuration(ms int) time.Duration { return time.Duration(ms) * time.Millisecond }
