package plivoxml

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/trunkline/trunkline/internal/peer"
)

// oracle runs test/node/xml-oracle.js: documents built by Plivo's official
// Node SDK, and trees the SDK refuses. It skips when node or the SDK is
// missing, unless TRUNKLINE_REQUIRE_PEERS asks for the real peers.
func oracle(t *testing.T) oracleOutput {
	t.Helper()
	node, dir := peer.Node(t, "plivo")
	cmd := exec.Command(node, "xml-oracle.js")
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("node xml-oracle.js: %v\n%s", err, stderr.Bytes())
	}
	var out oracleOutput
	if err := json.Unmarshal(stdout, &out); err != nil {
		t.Fatalf("xml-oracle.js output: %v\n%s", err, stdout)
	}
	t.Logf("plivo (Node SDK) %s: %d valid, %d invalid, %d stricter", out.SDKVersion, len(out.Valid), len(out.Invalid), len(out.Stricter))
	return out
}

type oracleCase struct {
	Name         string `json:"name"`
	XML          string `json:"xml"`
	Raw          string `json:"raw"`
	RawMatches   bool   `json:"rawMatches"`
	Error        string `json:"error"`
	ErrorType    string `json:"errorType"`
	SDKDisagrees string `json:"sdkDisagrees"`
}

type oracleOutput struct {
	SDKVersion string       `json:"sdkVersion"`
	Valid      []oracleCase `json:"valid"`
	Invalid    []oracleCase `json:"invalid"`
	Stricter   []oracleCase `json:"stricter"`
}

const eu = "https://example.com"

func speak(text string) Speak { return Speak{Text: text, Voice: "WOMAN", Language: "en-US", Loop: 1} }

func getDigits(action string) GetDigits {
	return GetDigits{Action: action, Method: "POST", Timeout: 5 * sec, DigitTimeout: 2 * sec, FinishOnKey: "#",
		NumDigits: 99, Retries: 1, Redirect: true, ValidDigits: "1234567890*#", Log: true}
}

func dial(numbers ...string) Dial {
	d := Dial{Method: "POST", TimeLimit: 14400 * sec, Redirect: true, CallbackMethod: "POST", ConfirmTimeout: 120 * sec}
	for _, n := range numbers {
		d.Numbers = append(d.Numbers, Number{Digits: n})
	}
	return d
}

// What ParseResponse must return for each document the SDK builds.
var oracleWant = map[string][]Element{
	"empty": nil,
	"pin-ivr": {
		func() GetDigits {
			g := getDigits(eu + "/d")
			g.NumDigits, g.Log, g.Children = 4, false, []Element{speak("Enter PIN")}
			return g
		}(),
		func() Dial {
			d := dial()
			d.CallerID = "14155550100"
			d.Numbers = []Number{{Digits: "14155550101", SendDigits: "wwww2410"}}
			return d
		}(),
		Message{Src: "14155550100", Dst: "14155550101", Type: "sms", CallbackMethod: "POST", Text: "hello"},
		Wait{Length: 3 * sec, MinSilence: 2 * sec},
		Hangup{Reason: "busy"},
	},
	"speak-defaults":     {speak("Hello world")},
	"speak-attrs":        {Speak{Text: "Bonjour", Voice: "MAN", Language: "fr-FR", Loop: 3}},
	"speak-loop-forever": {Speak{Text: "Please hold", Voice: "WOMAN", Language: "en-US", Loop: 0}},
	"speak-escaping":     {speak("Tom & Jerry <3 > 2")},
	"speak-polly-ssml": {Speak{Voice: "Polly.Joanna", Language: "en-US", Loop: 1,
		Text: "Hello really and slowly 12345 Bonjour A paragraph A sentence W3C read pecan",
		SSML: `Hello<break time="500ms" strength="medium"/><emphasis level="strong">really</emphasis> and ` +
			`<prosody rate="slow" pitch="low" volume="loud">slowly</prosody><say-as interpret-as="digits">12345</say-as>` +
			`<lang xml:lang="fr-FR">Bonjour</lang><p>A paragraph<s>A sentence</s></p>` +
			`<sub alias="World Wide Web Consortium">W3C</sub><w role="amazon:VBD">read</w><phoneme alphabet="ipa" ph="pɪˈkɑːn">pecan</phoneme>`}},
	"play-defaults":    {Play{URL: eu + "/a.mp3", Loop: 1}},
	"play-loop":        {Play{URL: eu + "/b.wav", Loop: 3}},
	"wait-defaults":    {Wait{Length: sec, MinSilence: 2 * sec}},
	"wait-all":         {Wait{Length: 10 * sec, Silence: true, MinSilence: 3 * sec, Beep: true}},
	"wait-min_silence": {Wait{Length: 5 * sec, Silence: true, MinSilence: 500 * time.Millisecond}},
	"getdigits-defaults": {func() GetDigits {
		g := getDigits(eu + "/d")
		g.Children = []Element{speak("Press 1")}
		return g
	}()},
	"getdigits-all": {GetDigits{Action: eu + "/digits", Method: "GET", Timeout: 10 * sec, DigitTimeout: 3 * sec, FinishOnKey: "*",
		NumDigits: 6, Retries: 3, Redirect: false, PlayBeep: true, ValidDigits: "123", InvalidDigitsSound: eu + "/invalid.mp3", Log: false,
		Children: []Element{speak("Enter your code"), Play{URL: eu + "/beep.wav", Loop: 1}, Wait{Length: 2 * sec, MinSilence: 2 * sec}}}},
	"getdigits-finish-none": {
		func() GetDigits { g := getDigits(eu + "/d"); g.FinishOnKey = ""; return g }(),
		func() GetDigits { g := getDigits(eu + "/d"); g.FinishOnKey = ""; return g }(),
	},
	"getinput-defaults": {GetInput{Action: eu + "/in", Method: "POST", InputType: "dtmf speech", ExecutionTimeout: 15 * sec,
		FinishOnKey: "#", Language: "en-US", InterimSpeechResultsCallbackMethod: "POST", Log: true, Redirect: true,
		Children: []Element{speak("Say or press")}}},
	"getinput-all": {GetInput{Action: eu + "/in", Method: "GET", InputType: "dtmf", ExecutionTimeout: 20 * sec,
		DigitEndTimeout: 3 * sec, FinishOnKey: "#", NumDigits: 4, SpeechModel: "default", Hints: "yes,no", Language: "en-GB",
		InterimSpeechResultsCallback: eu + "/interim", InterimSpeechResultsCallbackMethod: "GET", Log: false, Redirect: false,
		ProfanityFilter: true, Children: []Element{speak("Enter four digits"), Play{URL: eu + "/p.mp3", Loop: 1}, Wait{Length: sec, MinSilence: 2 * sec}}}},
	"record-defaults": {Record{Action: eu + "/rec", Method: "POST", FileFormat: "mp3", Redirect: true, Timeout: 15 * sec,
		MaxLength: 60 * sec, FinishOnKey: "#", PlayBeep: true, RecordChannelType: "stereo", TranscriptionMethod: "POST", CallbackMethod: "POST"}},
	"record-all": {Record{Action: eu + "/rec", Method: "GET", FileFormat: "wav", Redirect: false, Timeout: 5 * sec, MaxLength: 120 * sec,
		FinishOnKey: "1234567890*#", PlayBeep: false, RecordSession: true, StartOnDialAnswer: true, RecordChannelType: "mono",
		TranscriptionType: "auto", TranscriptionURL: eu + "/tr", TranscriptionMethod: "GET", CallbackURL: eu + "/cb", CallbackMethod: "GET"}},
	"dial-defaults": {dial("14155550101")},
	"dial-all": {Dial{Action: eu + "/dial", Method: "GET", Timeout: 30 * sec, TimeLimit: 600 * sec, CallerID: "+14155550100",
		CallerName: "Trunkline Test", HangupOnStar: true, Redirect: false, CallbackURL: eu + "/dialcb", CallbackMethod: "GET",
		ConfirmSound: eu + "/confirm", ConfirmKey: "5", ConfirmTimeout: 20 * sec, DialMusic: "real",
		DigitsMatch: []string{"123", "*9"}, DigitsMatchBLeg: []string{"#1"}, SIPHeaders: []SIPHeader{{"Tenant", "acme"}, {"Tier", "gold"}},
		Numbers: []Number{{Digits: "14155550101", SendDigits: "1w2W3", SendOnPreanswer: true, SendDigitsMode: "rtp", CallerID: "14155550199", CallerName: "Desk"}},
		Users:   []User{{URI: "sip:alice@example.com", SendDigits: "9", SIPHeaders: []SIPHeader{{"A", "1"}, {"B", "two"}}, CallerID: "14155550100", CallerName: "Alice"}}}},
	"dial-simultaneous": {func() Dial {
		d := dial("14155550101", "+442071838750")
		d.Users = []User{{URI: "sip:bob@example.com"}}
		return d
	}()},
	"message":           {Message{Src: "14155550100", Dst: "14155550101<14155550102", Type: "sms", CallbackURL: eu + "/sms", CallbackMethod: "GET", Text: "Thanks & bye <3"}},
	"redirect":          {Redirect{URL: eu + "/next?x=1&y=2", Method: "GET"}},
	"redirect-defaults": {Redirect{URL: eu + "/next", Method: "POST"}},
	"hangup-defaults":   {Hangup{}},
	"hangup-schedule":   {Hangup{Reason: "rejected", Schedule: 60 * sec}, speak("This call ends in a minute")},
	"preanswer": {PreAnswer{Children: []Element{
		speak("Early media"), Play{URL: eu + "/ring.mp3", Loop: 1},
		func() GetDigits { g := getDigits(eu + "/pre"); g.Children = []Element{speak("Press a key")}; return g }(),
		Wait{Length: 2 * sec, MinSilence: 2 * sec}, Message{Src: "1", Dst: "2", Type: "sms", CallbackMethod: "POST", Text: "hi"},
		DTMF{Digits: "1", Async: true}, Redirect{URL: eu + "/pre-next", Method: "POST"},
	}}, speak("Answered")},
	"dtmf":          {DTMF{Digits: "12w34#W*", Async: false}},
	"dtmf-defaults": {DTMF{Digits: "1", Async: true}},
	"conference-defaults": {Conference{Room: "my-room", StartConferenceOnEnter: true, MaxMembers: 20, TimeLimit: 86400 * sec,
		StayAlone: true, RecordFileFormat: "mp3", Method: "POST", Redirect: true, CallbackMethod: "POST", RelayDTMF: true, TranscriptionMethod: "POST"}},
	"conference-all": {Conference{Room: "Room 1", Muted: true, StartConferenceOnEnter: false, EndConferenceOnExit: true,
		WaitSound: eu + "/wait", EnterSound: "beep:1", ExitSound: "beep:2", MaxMembers: 5, TimeLimit: 600 * sec, HangupOnStar: true,
		StayAlone: false, Record: true, RecordWhenAlone: true, RecordFileFormat: "wav", Action: eu + "/conf", Method: "GET",
		Redirect: false, CallbackURL: eu + "/confcb", CallbackMethod: "GET", DigitsMatch: []string{"123", "456"}, FloorEvent: true,
		RelayDTMF: false, TranscriptionType: "auto", TranscriptionURL: eu + "/ctr", TranscriptionMethod: "GET"}},
	"stream-defaults": {Stream{URL: "wss://stream.example.com/audio", AudioTrack: "inbound", StreamTimeout: 86400 * sec,
		StatusCallbackMethod: "POST", ContentType: "audio/x-l16;rate=8000"}},
	"stream-all": {Stream{URL: "wss://stream.example.com/audio", Bidirectional: true, AudioTrack: "both", StreamTimeout: 120 * sec,
		StatusCallbackURL: eu + "/st", StatusCallbackMethod: "GET", ContentType: "audio/x-mulaw;rate=8000", ExtraHeaders: "a=1,b=2", KeepCallAlive: true}},
	// The SDK fills in MultiPartyCall defaults itself (addMultiPartyCall).
	"multipartycall": {MultiPartyCall{MPCName: "team-call", Role: "agent", Attrs: map[string]string{
		"maxParticipants": "5", "maxDuration": "14400", "recordMinMemberCount": "1", "waitMusicMethod": "GET",
		"agentHoldMusicMethod": "GET", "customerHoldMusicMethod": "GET", "record": "false", "recordFileFormat": "mp3",
		"recordingCallbackMethod": "GET", "statusCallbackEvents": "mpc-state-changes,participant-state-changes",
		"statusCallbackMethod": "POST", "stayAlone": "false", "coachMode": "true", "mute": "false", "hold": "false",
		"startMpcOnEnter": "true", "endMpcOnExit": "false", "enterSound": "beep:1", "enterSoundMethod": "GET",
		"exitSound": "beep:2", "exitSoundMethod": "GET", "onExitActionMethod": "POST", "relayDTMFInputs": "false",
		"startRecordingAudioMethod": "GET", "stopRecordingAudioMethod": "GET", "recordParticipantTrack": "false",
	}}},
}

// TestNodeSDKOracle parses what Plivo's Node SDK builds (it must be
// accepted, with the expected values) and what the SDK refuses (it must be
// refused, for the same reason where the SDK says one).
func TestNodeSDKOracle(t *testing.T) {
	out := oracle(t)
	if len(out.Valid) < 30 || len(out.Invalid) < 30 {
		t.Fatalf("oracle produced %d valid and %d invalid cases", len(out.Valid), len(out.Invalid))
	}
	seen := map[string]bool{}
	for _, c := range out.Valid {
		seen[c.Name] = true
		t.Run("valid/"+c.Name, func(t *testing.T) {
			if c.SDKDisagrees != "" {
				t.Fatalf("xml-oracle.js: %s", c.SDKDisagrees)
			}
			if !c.RawMatches {
				t.Fatalf("xml-oracle.js serializes differently from the SDK:\nsdk %s\nraw %s", c.XML, c.Raw)
			}
			want, ok := oracleWant[c.Name]
			if !ok {
				t.Fatalf("no expectation for %s in oracleWant", c.XML)
			}
			r, err := ParseResponse([]byte(c.XML))
			if err != nil {
				t.Fatalf("refused a document the SDK built: %v\n%s", err, c.XML)
			}
			if !reflect.DeepEqual(r.Elements, want) {
				t.Fatalf("%s\ngot  %#v\nwant %#v", c.XML, r.Elements, want)
			}
		})
	}
	for name := range oracleWant {
		if !seen[name] {
			t.Errorf("oracleWant[%q] has no document in xml-oracle.js", name)
		}
	}

	attrRe := regexp.MustCompile(`^Not a valid attribute : "(.+)" for "(.+)" Element$`)
	nestRe := regexp.MustCompile(`^(\S+) cannot be nested in (\S+)\.$`)
	valueRe := regexp.MustCompile(`^Invalid attribute value (.+) for (\S+)$`)
	noTextRe := regexp.MustCompile(`^No text set for (\S+)\.$`)
	for _, c := range out.Invalid {
		t.Run("invalid/"+c.Name, func(t *testing.T) {
			if c.SDKDisagrees != "" {
				t.Fatalf("xml-oracle.js: %s: %s", c.SDKDisagrees, c.XML)
			}
			_, err := ParseResponse([]byte(c.XML))
			if err == nil {
				t.Fatalf("accepted what the SDK refuses (%s): %s", c.Error, c.XML)
			}
			var want string
			switch m := []string(nil); {
			case attrRe.MatchString(c.Error):
				m = attrRe.FindStringSubmatch(c.Error)
				want = fmt.Sprintf("not a valid attribute: %q for %q", m[1], m[2])
			case nestRe.MatchString(c.Error):
				m = nestRe.FindStringSubmatch(c.Error)
				want = m[1] + " cannot be nested in " + m[2]
			case valueRe.MatchString(c.Error):
				m = valueRe.FindStringSubmatch(c.Error)
				want = fmt.Sprintf("invalid value %q for attribute %q", m[1], m[2])
			case noTextRe.MatchString(c.Error):
				want = noTextRe.FindStringSubmatch(c.Error)[1] + " needs"
			case strings.HasPrefix(c.Error, "role not mentioned"):
				want = "MultiPartyCall needs a role"
			default:
				// The SDK's PlivoXMLValidationError cannot be constructed
				// from a message (it throws a TypeError instead): the SDK
				// refuses, without a reason to compare.
				t.Logf("SDK: %s: %s; us: %v", c.ErrorType, c.Error, err)
				return
			}
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("SDK says %q; we say %q (want it to contain %q)\n%s", c.Error, err, want, c.XML)
			}
		})
	}
	for _, c := range out.Stricter {
		t.Run("stricter/"+c.Name, func(t *testing.T) {
			if c.SDKDisagrees != "" {
				t.Fatalf("xml-oracle.js: %s", c.SDKDisagrees)
			}
			_, err := ParseResponse([]byte(c.XML))
			if err == nil {
				t.Fatalf("accepted a value Plivo documents as invalid: %s", c.XML)
			}
			t.Logf("%s: %v", c.XML, err)
		})
	}
}
