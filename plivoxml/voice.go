package plivoxml

import "time"

// Response is a validated call-control document: the elements to execute,
// top to bottom. An empty Response is valid (the call ends: end of XML).
type Response struct {
	Elements []Element
}

// Element is one instruction of a Response. The concrete types are
// Speak, Play, Wait, GetDigits, GetInput, Record, Dial, Message, Redirect,
// Hangup, PreAnswer, DTMF, Conference, Stream and MultiPartyCall (values,
// not pointers), so an interpreter is a type switch. Every field holds the
// attribute's value or Plivo's default for it; none needs a second look.
type Element interface {
	// Name is the XML element name ("Speak", "GetDigits", ...).
	Name() string
	isElement()
}

// Speak is <Speak>: text to speech.
type Speak struct {
	// Text is what to say, with SSML tags removed and whitespace collapsed.
	Text string
	// SSML is the element's inner XML as written when it holds SSML
	// elements (break, emphasis, lang, p, phoneme, prosody, s, say-as,
	// sub, w), already checked against Plivo's SSML rules; "" for plain
	// text. Entities are left escaped, so it can go to an SSML engine as is.
	SSML     string
	Voice    string // WOMAN (default), MAN, or an Amazon Polly voice "Polly.Name"
	Language string // default en-US
	Loop     int    // default 1; 0 repeats until the call ends
}

// Play is <Play>: an MP3 or WAV file by URL.
type Play struct {
	URL  string // absolute http(s) URL
	Loop int    // default 1; 0 repeats until the call ends
}

// Wait is <Wait>: silence. As the first element it delays the answer.
type Wait struct {
	Length     time.Duration // default 1 s
	Silence    bool          // end early after MinSilence of silence (machine detection)
	MinSilence time.Duration // default 2000 ms
	Beep       bool          // end at a voicemail beep
}

// GetDigits is <GetDigits>: collect DTMF while the nested prompts play.
type GetDigits struct {
	Action       string        // where the digits go; "" = no request
	Method       string        // GET or POST (default)
	Timeout      time.Duration // for the first digit; default 5 s
	DigitTimeout time.Duration // between digits; default 2 s
	// FinishOnKey is the key that submits the input, default "#";
	// "" when disabled (finishOnKey="" or "none").
	FinishOnKey        string
	NumDigits          int    // default 99, at least 1
	Retries            int    // default 1, at least 1
	Redirect           bool   // default true: continue with the action URL's XML
	PlayBeep           bool   // default false
	ValidDigits        string // default "1234567890*#"
	InvalidDigitsSound string // URL played on an invalid digit; "" = none
	// Log false keeps the digits out of every log, store and audit entry:
	// they go to Action and nowhere else. Default true.
	Log      bool
	Children []Element // Speak, Play and Wait prompts
}

// GetInput is <GetInput>. Only inputType dtmf is executed by Trunkline;
// speech is parsed so the interpreter can refuse it by name.
type GetInput struct {
	Action           string        // required
	Method           string        // GET or POST (default)
	InputType        string        // "dtmf", "speech" or "dtmf speech" (required)
	ExecutionTimeout time.Duration // 5–60 s, default 15 s
	DigitEndTimeout  time.Duration // 2–10 s, 0 = auto (default)
	SpeechEndTimeout time.Duration // 2–10 s, 0 = auto (default)
	FinishOnKey      string        // default "#"; "" when disabled
	NumDigits        int           // 0 = no limit (default)
	SpeechModel      string
	Hints            string
	Language         string // default en-US
	// InterimSpeechResultsCallback receives partial speech results.
	InterimSpeechResultsCallback       string
	InterimSpeechResultsCallbackMethod string // default POST
	Log                                bool   // default true; see GetDigits.Log
	Redirect                           bool   // default true
	ProfanityFilter                    bool   // default false
	Children                           []Element
}

// Record is <Record>.
type Record struct {
	Action     string
	Method     string        // default POST
	FileFormat string        // mp3 (default) or wav
	Redirect   bool          // default true
	Timeout    time.Duration // of silence that ends the recording; default 15 s
	MaxLength  time.Duration // default 60 s
	// FinishOnKey holds the keys that stop the recording, default "#";
	// "" when disabled. Several keys are allowed (legacy "1234567890*#").
	FinishOnKey         string
	PlayBeep            bool   // default true
	RecordSession       bool   // record the whole call in the background
	StartOnDialAnswer   bool   // record the bridged call of the next Dial
	RecordChannelType   string // stereo (default) or mono
	TranscriptionType   string // "", auto, hybrid or manual
	TranscriptionURL    string
	TranscriptionMethod string // default POST
	CallbackURL         string
	CallbackMethod      string // default POST
}

// Dial is <Dial>: call one or more Numbers and Users at once and bridge
// the first to answer. At least one Number or User is present.
type Dial struct {
	Action         string
	Method         string        // default POST
	Timeout        time.Duration // ring timeout; 0 = none (default)
	TimeLimit      time.Duration // default 14400 s
	CallerID       string        // "" = the caller's number
	CallerName     string        // at most 50 characters
	HangupOnStar   bool
	Redirect       bool // default true
	CallbackURL    string
	CallbackMethod string // default POST
	ConfirmSound   string // URL returning Play/Speak/Wait XML for the called party
	ConfirmKey     string // key the called party presses to accept; "" = none
	ConfirmTimeout time.Duration
	// DialMusic is a URL returning XML to play while ringing, or "real"
	// for the real ringback; "" = default ringing.
	DialMusic       string
	DigitsMatch     []string // DTMF patterns reported from the caller
	DigitsMatchBLeg []string // DTMF patterns reported from the called party
	SIPHeaders      []SIPHeader
	Numbers         []Number
	Users           []User
}

// SIPHeader is one name=value pair of a sipHeaders attribute; Plivo sends
// it as X-PH-Name.
type SIPHeader struct {
	Name, Value string
}

// Number is a phone number to dial inside Dial.
type Number struct {
	Digits          string // the number, digits with an optional leading +
	SendDigits      string // DTMF after answer; w = 0.5 s pause, W = 1 s
	SendOnPreanswer bool
	SendDigitsMode  string
	CallerID        string
	CallerName      string
}

// User is a SIP endpoint to dial inside Dial.
type User struct {
	URI             string // sip:user@domain
	SendDigits      string
	SendOnPreanswer bool
	SIPHeaders      []SIPHeader
	CallerID        string
	CallerName      string
}

// Redirect is <Redirect>: fetch and run another document.
type Redirect struct {
	URL    string
	Method string // default POST
}

// Hangup is <Hangup>.
type Hangup struct {
	Reason   string        // "" (normal), rejected or busy
	Schedule time.Duration // hang up after this long and go on with the next element; 0 = now
}

// PreAnswer is <PreAnswer>: its children run in early media, before the
// call is answered.
type PreAnswer struct {
	Children []Element // Play, Speak, GetDigits, Wait, Redirect, Message, DTMF
}

// DTMF is <DTMF>: send digits on the call.
type DTMF struct {
	Digits string // 0-9 * # and w (0.5 s) / W (1 s) pauses
	Async  bool   // default true: go on after the first digit is sent
}

// Conference is <Conference>: join the account's room named Room.
type Conference struct {
	Room                   string
	Muted                  bool
	StartConferenceOnEnter bool // default true
	EndConferenceOnExit    bool
	WaitSound              string // URL
	EnterSound             string // "", beep:1, beep:2 or a URL
	ExitSound              string // "", beep:1, beep:2 or a URL
	MaxMembers             int    // 1–20, default 20
	TimeLimit              time.Duration
	HangupOnStar           bool
	StayAlone              bool // default true
	Record                 bool
	RecordWhenAlone        bool   // record from the first member; else from the second
	RecordFileFormat       string // mp3 (default) or wav
	Action                 string
	Method                 string // default POST
	Redirect               bool   // default true
	CallbackURL            string
	CallbackMethod         string // default POST
	DigitsMatch            []string
	FloorEvent             bool
	RelayDTMF              bool // default true
	TranscriptionType      string
	TranscriptionURL       string
	TranscriptionMethod    string // default POST
	Beep                   string // "", true, false, onEnter, onExit, beep:1, beep:2: sets EnterSound/ExitSound where not given
}

// Stream is <Stream>: the call's audio over a WebSocket (voice/stream.go
// runs it).
type Stream struct {
	URL                  string // ws:// or wss://
	Bidirectional        bool
	AudioTrack           string        // inbound (default), outbound or both
	StreamTimeout        time.Duration // default 86400 s
	StatusCallbackURL    string
	StatusCallbackMethod string // default POST
	ContentType          string // default audio/x-l16;rate=8000
	ExtraHeaders         string // at most 512 bytes
	KeepCallAlive        bool
}

// MultiPartyCall is <MultiPartyCall>, parsed minimally: the name, the
// role, and the other attributes (names and value types checked) verbatim.
type MultiPartyCall struct {
	MPCName string // the element's text: the multi-party call's name
	Role    string // agent, supervisor or customer
	Attrs   map[string]string
}

func (Speak) Name() string          { return "Speak" }
func (Play) Name() string           { return "Play" }
func (Wait) Name() string           { return "Wait" }
func (GetDigits) Name() string      { return "GetDigits" }
func (GetInput) Name() string       { return "GetInput" }
func (Record) Name() string         { return "Record" }
func (Dial) Name() string           { return "Dial" }
func (Message) Name() string        { return "Message" }
func (Redirect) Name() string       { return "Redirect" }
func (Hangup) Name() string         { return "Hangup" }
func (PreAnswer) Name() string      { return "PreAnswer" }
func (DTMF) Name() string           { return "DTMF" }
func (Conference) Name() string     { return "Conference" }
func (Stream) Name() string         { return "Stream" }
func (MultiPartyCall) Name() string { return "MultiPartyCall" }

func (Speak) isElement()          {}
func (Play) isElement()           {}
func (Wait) isElement()           {}
func (GetDigits) isElement()      {}
func (GetInput) isElement()       {}
func (Record) isElement()         {}
func (Dial) isElement()           {}
func (Message) isElement()        {}
func (Redirect) isElement()       {}
func (Hangup) isElement()         {}
func (PreAnswer) isElement()      {}
func (DTMF) isElement()           {}
func (Conference) isElement()     {}
func (Stream) isElement()         {}
func (MultiPartyCall) isElement() {}
