package plivoxml

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

const sec = time.Second

// Each element with its defaults (plivo-api.md §3) and with every attribute set.
func TestParseResponseElements(t *testing.T) {
	tests := []struct {
		name string
		doc  string // inside <Response>
		want Element
	}{
		{"Speak defaults", `<Speak>Hello world</Speak>`,
			Speak{Text: "Hello world", Voice: "WOMAN", Language: "en-US", Loop: 1}},
		{"Speak attributes", `<Speak voice="MAN" language="fr-FR" loop="3">Bonjour</Speak>`,
			Speak{Text: "Bonjour", Voice: "MAN", Language: "fr-FR", Loop: 3}},
		{"Speak loop 0 and Polly", `<Speak voice="Polly.Joanna" loop="0">Hold</Speak>`,
			Speak{Text: "Hold", Voice: "Polly.Joanna", Language: "en-US", Loop: 0}},
		{"Speak whitespace and entities", "<Speak>\n   Tom &amp; Jerry\n\t&lt;3 &#65;\n</Speak>",
			Speak{Text: "Tom & Jerry <3 A", Voice: "WOMAN", Language: "en-US", Loop: 1}},
		{"Speak CDATA", `<Speak><![CDATA[a < b]]></Speak>`,
			Speak{Text: "a < b", Voice: "WOMAN", Language: "en-US", Loop: 1}},
		{"Speak SSML", `<Speak voice="Polly.Amy" language="en-GB">Hi <break time="1s"/><emphasis level="strong">there</emphasis> &amp; <lang xml:lang="fr-FR">bonjour</lang> <say-as interpret-as="digits">42</say-as></Speak>`,
			Speak{Text: "Hi there & bonjour 42", Voice: "Polly.Amy", Language: "en-GB", Loop: 1,
				SSML: `Hi <break time="1s"/><emphasis level="strong">there</emphasis> &amp; <lang xml:lang="fr-FR">bonjour</lang> <say-as interpret-as="digits">42</say-as>`}},
		{"Speak nested SSML", `<Speak><p>One <s>two <prosody rate="slow">three <w role="amazon:VB">four</w></prosody></s></p><phoneme alphabet="ipa" ph="x">five</phoneme><sub alias="six">6</sub></Speak>`,
			Speak{Text: "One two three four five 6", Voice: "WOMAN", Language: "en-US", Loop: 1,
				SSML: `<p>One <s>two <prosody rate="slow">three <w role="amazon:VB">four</w></prosody></s></p><phoneme alphabet="ipa" ph="x">five</phoneme><sub alias="six">6</sub>`}},

		{"Play defaults", ` <Play>
			https://example.com/a.mp3
		</Play>`, Play{URL: "https://example.com/a.mp3", Loop: 1}},
		{"Play loop", `<Play loop="0">http://example.com/b.wav?x=1&amp;y=2</Play>`,
			Play{URL: "http://example.com/b.wav?x=1&y=2", Loop: 0}},

		{"Wait defaults", `<Wait/>`, Wait{Length: 1 * sec, MinSilence: 2000 * time.Millisecond}},
		{"Wait attributes", `<Wait length="10" silence="true" minSilence="3000" beep="true"></Wait>`,
			Wait{Length: 10 * sec, Silence: true, MinSilence: 3 * sec, Beep: true}},
		{"Wait min_silence", `<Wait silence="TRUE" min_silence="500"/>`,
			Wait{Length: 1 * sec, Silence: true, MinSilence: 500 * time.Millisecond}},

		{"GetDigits defaults", `<GetDigits/>`, GetDigits{Method: "POST", Timeout: 5 * sec, DigitTimeout: 2 * sec,
			FinishOnKey: "#", NumDigits: 99, Retries: 1, Redirect: true, ValidDigits: "1234567890*#", Log: true}},
		{"GetDigits attributes", `<GetDigits action="https://e.com/d" method="get" timeout="10" digitTimeout="3" finishOnKey="*"
			numDigits="6" retries="3" redirect="false" playBeep="true" validDigits="123" invalidDigitsSound="https://e.com/i.mp3" log="false">
				<Speak>Code</Speak><Play>https://e.com/p.wav</Play><Wait length="2"/></GetDigits>`,
			GetDigits{Action: "https://e.com/d", Method: "GET", Timeout: 10 * sec, DigitTimeout: 3 * sec, FinishOnKey: "*",
				NumDigits: 6, Retries: 3, Redirect: false, PlayBeep: true, ValidDigits: "123", InvalidDigitsSound: "https://e.com/i.mp3", Log: false,
				Children: []Element{
					Speak{Text: "Code", Voice: "WOMAN", Language: "en-US", Loop: 1},
					Play{URL: "https://e.com/p.wav", Loop: 1},
					Wait{Length: 2 * sec, MinSilence: 2 * sec},
				}}},
		{"GetDigits finishOnKey none", `<GetDigits finishOnKey="none"/>`, GetDigits{Method: "POST", Timeout: 5 * sec, DigitTimeout: 2 * sec,
			FinishOnKey: "", NumDigits: 99, Retries: 1, Redirect: true, ValidDigits: "1234567890*#", Log: true}},
		{"GetDigits finishOnKey empty", `<GetDigits finishOnKey=""/>`, GetDigits{Method: "POST", Timeout: 5 * sec, DigitTimeout: 2 * sec,
			FinishOnKey: "", NumDigits: 99, Retries: 1, Redirect: true, ValidDigits: "1234567890*#", Log: true}},

		{"GetInput defaults", `<GetInput action="https://e.com/in" inputType="dtmf"/>`,
			GetInput{Action: "https://e.com/in", Method: "POST", InputType: "dtmf", ExecutionTimeout: 15 * sec,
				FinishOnKey: "#", Language: "en-US", InterimSpeechResultsCallbackMethod: "POST", Log: true, Redirect: true}},
		{"GetInput attributes", `<GetInput action="https://e.com/in" method="GET" inputType="dtmf speech" executionTimeout="60"
			digitEndTimeout="3" speechEndTimeout="auto" finishOnKey="" numDigits="4" speechModel="phone_call" hints="yes,no" language="es-US"
			interimSpeechResultsCallback="https://e.com/int" interimSpeechResultsCallbackMethod="GET" log="false" redirect="false"
			profanityFilter="true"><Speak>Go</Speak></GetInput>`,
			GetInput{Action: "https://e.com/in", Method: "GET", InputType: "dtmf speech", ExecutionTimeout: 60 * sec,
				DigitEndTimeout: 3 * sec, SpeechEndTimeout: 0, FinishOnKey: "", NumDigits: 4, SpeechModel: "phone_call",
				Hints: "yes,no", Language: "es-US", InterimSpeechResultsCallback: "https://e.com/int",
				InterimSpeechResultsCallbackMethod: "GET", Log: false, Redirect: false, ProfanityFilter: true,
				Children: []Element{Speak{Text: "Go", Voice: "WOMAN", Language: "en-US", Loop: 1}}}},

		{"Record defaults", `<Record/>`, Record{Method: "POST", FileFormat: "mp3", Redirect: true, Timeout: 15 * sec,
			MaxLength: 60 * sec, FinishOnKey: "#", PlayBeep: true, RecordChannelType: "stereo",
			TranscriptionMethod: "POST", CallbackMethod: "POST"}},
		{"Record attributes", `<Record action="https://e.com/r" method="GET" fileFormat="wav" redirect="false" timeout="5"
			maxLength="120" finishOnKey="1234567890*#" playBeep="false" recordSession="true" startOnDialAnswer="true"
			recordChannelType="mono" transcriptionType="auto" transcriptionUrl="https://e.com/t" transcriptionMethod="GET"
			callbackUrl="https://e.com/cb" callbackMethod="GET"/>`,
			Record{Action: "https://e.com/r", Method: "GET", FileFormat: "wav", Redirect: false, Timeout: 5 * sec,
				MaxLength: 120 * sec, FinishOnKey: "1234567890*#", PlayBeep: false, RecordSession: true, StartOnDialAnswer: true,
				RecordChannelType: "mono", TranscriptionType: "auto", TranscriptionURL: "https://e.com/t", TranscriptionMethod: "GET",
				CallbackURL: "https://e.com/cb", CallbackMethod: "GET"}},

		{"Dial defaults", `<Dial><Number>14155550101</Number></Dial>`,
			Dial{Method: "POST", TimeLimit: 14400 * sec, Redirect: true, CallbackMethod: "POST", ConfirmTimeout: 120 * sec,
				Numbers: []Number{{Digits: "14155550101"}}}},
		{"Dial attributes", `<Dial action="https://e.com/dial" method="GET" timeout="30" timeLimit="600" callerId="+14155550100"
			callerName="Trunkline Test" hangupOnStar="true" redirect="false" callbackUrl="https://e.com/dcb" callbackMethod="GET"
			confirmSound="https://e.com/confirm" confirmKey="5" confirmTimeout="20" dialMusic="real" digitsMatch="123,*9"
			digitsMatchBLeg="#1" sipHeaders="Tenant=acme,Tier=gold">
			  <Number sendDigits="1w2W3" sendOnPreanswer="true" sendDigitsMode="rtp" callerId="14155550199" callerName="Desk">+14155550101</Number>
			  <User sendDigits="9" sipHeaders="A=1" callerId="1" callerName="Alice">sip:alice@example.com</User>
			  <Number>442071838750</Number>
			</Dial>`,
			Dial{Action: "https://e.com/dial", Method: "GET", Timeout: 30 * sec, TimeLimit: 600 * sec, CallerID: "+14155550100",
				CallerName: "Trunkline Test", HangupOnStar: true, Redirect: false, CallbackURL: "https://e.com/dcb", CallbackMethod: "GET",
				ConfirmSound: "https://e.com/confirm", ConfirmKey: "5", ConfirmTimeout: 20 * sec, DialMusic: "real",
				DigitsMatch: []string{"123", "*9"}, DigitsMatchBLeg: []string{"#1"},
				SIPHeaders: []SIPHeader{{"Tenant", "acme"}, {"Tier", "gold"}},
				Numbers: []Number{
					{Digits: "+14155550101", SendDigits: "1w2W3", SendOnPreanswer: true, SendDigitsMode: "rtp", CallerID: "14155550199", CallerName: "Desk"},
					{Digits: "442071838750"},
				},
				Users: []User{{URI: "sip:alice@example.com", SendDigits: "9", SIPHeaders: []SIPHeader{{"A", "1"}}, CallerID: "1", CallerName: "Alice"}},
			}},
		{"Dial music URL", `<Dial dialMusic="https://e.com/ring"><User>sips:bob@example.com</User></Dial>`,
			Dial{Method: "POST", TimeLimit: 14400 * sec, Redirect: true, CallbackMethod: "POST", ConfirmTimeout: 120 * sec,
				DialMusic: "https://e.com/ring", Users: []User{{URI: "sips:bob@example.com"}}}},

		{"Message defaults", `<Message src="14155550100" dst="14155550101">Hi</Message>`,
			Message{Src: "14155550100", Dst: "14155550101", Type: "sms", CallbackMethod: "POST", Text: "Hi"}},
		{"Message attributes", `<Message src="1" dst="2&lt;3" type="sms" callbackUrl="https://e.com/s" callbackMethod="GET"> a &amp; b </Message>`,
			Message{Src: "1", Dst: "2<3", Type: "sms", CallbackURL: "https://e.com/s", CallbackMethod: "GET", Text: "a & b"}},

		{"Redirect defaults", `<Redirect>https://e.com/next</Redirect>`, Redirect{URL: "https://e.com/next", Method: "POST"}},
		{"Redirect method", `<Redirect method="GET">https://e.com/next?a=1&amp;b=2</Redirect>`, Redirect{URL: "https://e.com/next?a=1&b=2", Method: "GET"}},

		{"Hangup defaults", `<Hangup/>`, Hangup{}},
		{"Hangup attributes", `<Hangup reason="rejected" schedule="60"/>`, Hangup{Reason: "rejected", Schedule: 60 * sec}},
		{"Hangup busy", `<Hangup reason="busy"></Hangup>`, Hangup{Reason: "busy"}},

		{"PreAnswer empty", `<PreAnswer/>`, PreAnswer{}},
		{"PreAnswer children", `<PreAnswer><Speak>a</Speak><Play>https://e.com/p.mp3</Play><GetDigits><Speak>b</Speak></GetDigits>
			<Wait/><Redirect>https://e.com/r</Redirect><Message src="1" dst="2">m</Message><DTMF>1</DTMF></PreAnswer>`,
			PreAnswer{Children: []Element{
				Speak{Text: "a", Voice: "WOMAN", Language: "en-US", Loop: 1},
				Play{URL: "https://e.com/p.mp3", Loop: 1},
				GetDigits{Method: "POST", Timeout: 5 * sec, DigitTimeout: 2 * sec, FinishOnKey: "#", NumDigits: 99, Retries: 1,
					Redirect: true, ValidDigits: "1234567890*#", Log: true,
					Children: []Element{Speak{Text: "b", Voice: "WOMAN", Language: "en-US", Loop: 1}}},
				Wait{Length: sec, MinSilence: 2 * sec},
				Redirect{URL: "https://e.com/r", Method: "POST"},
				Message{Src: "1", Dst: "2", Type: "sms", CallbackMethod: "POST", Text: "m"},
				DTMF{Digits: "1", Async: true},
			}}},

		{"DTMF defaults", `<DTMF>12w34#W*</DTMF>`, DTMF{Digits: "12w34#W*", Async: true}},
		{"DTMF async", `<DTMF async="false">9</DTMF>`, DTMF{Digits: "9", Async: false}},
		{"DTMF digits attribute", `<DTMF digits="55"/>`, DTMF{Digits: "55", Async: true}},

		{"Conference defaults", `<Conference>my-room</Conference>`,
			Conference{Room: "my-room", StartConferenceOnEnter: true, MaxMembers: 20, TimeLimit: 86400 * sec, StayAlone: true,
				RecordFileFormat: "mp3", Method: "POST", Redirect: true, CallbackMethod: "POST", RelayDTMF: true, TranscriptionMethod: "POST"}},
		{"Conference attributes", `<Conference muted="true" startConferenceOnEnter="false" endConferenceOnExit="true"
			waitSound="https://e.com/w" enterSound="beep:1" exitSound="https://e.com/x" timeLimit="600" hangupOnStar="true"
			maxMembers="5" record="true" recordWhenAlone="true" recordFileFormat="wav" action="https://e.com/a" method="GET"
			redirect="false" digitsMatch="123,456" callbackUrl="https://e.com/cb" callbackMethod="GET" stayAlone="false"
			floorEvent="true" transcriptionType="auto" transcriptionUrl="https://e.com/t" transcriptionMethod="GET"
			relayDTMF="false" beep="true">Room 1</Conference>`,
			Conference{Room: "Room 1", Muted: true, StartConferenceOnEnter: false, EndConferenceOnExit: true,
				WaitSound: "https://e.com/w", EnterSound: "beep:1", ExitSound: "https://e.com/x", MaxMembers: 5, TimeLimit: 600 * sec,
				HangupOnStar: true, StayAlone: false, Record: true, RecordWhenAlone: true, RecordFileFormat: "wav",
				Action: "https://e.com/a", Method: "GET", Redirect: false, CallbackURL: "https://e.com/cb", CallbackMethod: "GET",
				DigitsMatch: []string{"123", "456"}, FloorEvent: true, RelayDTMF: false, TranscriptionType: "auto",
				TranscriptionURL: "https://e.com/t", TranscriptionMethod: "GET", Beep: "true"}},
		{"Conference beep", `<Conference beep="TRUE">r</Conference>`,
			Conference{Room: "r", StartConferenceOnEnter: true, MaxMembers: 20, TimeLimit: 86400 * sec, StayAlone: true, RecordFileFormat: "mp3",
				Method: "POST", Redirect: true, CallbackMethod: "POST", RelayDTMF: true, TranscriptionMethod: "POST", Beep: "true",
				EnterSound: "beep:1", ExitSound: "beep:1"}},
		{"Conference beep onExit", `<Conference beep="onExit">r</Conference>`,
			Conference{Room: "r", StartConferenceOnEnter: true, MaxMembers: 20, TimeLimit: 86400 * sec, StayAlone: true, RecordFileFormat: "mp3",
				Method: "POST", Redirect: true, CallbackMethod: "POST", RelayDTMF: true, TranscriptionMethod: "POST", Beep: "onExit",
				ExitSound: "beep:1"}},
		{"Conference beep sound, enterSound wins", `<Conference beep="beep:2" enterSound="none">r</Conference>`,
			Conference{Room: "r", StartConferenceOnEnter: true, MaxMembers: 20, TimeLimit: 86400 * sec, StayAlone: true, RecordFileFormat: "mp3",
				Method: "POST", Redirect: true, CallbackMethod: "POST", RelayDTMF: true, TranscriptionMethod: "POST", Beep: "beep:2",
				ExitSound: "beep:2"}},
		{"Conference beep false", `<Conference beep="false">r</Conference>`,
			Conference{Room: "r", StartConferenceOnEnter: true, MaxMembers: 20, TimeLimit: 86400 * sec, StayAlone: true, RecordFileFormat: "mp3",
				Method: "POST", Redirect: true, CallbackMethod: "POST", RelayDTMF: true, TranscriptionMethod: "POST", Beep: "false"}},

		{"Stream defaults", `<Stream>wss://s.example.com/a</Stream>`,
			Stream{URL: "wss://s.example.com/a", AudioTrack: "inbound", StreamTimeout: 86400 * sec,
				StatusCallbackMethod: "POST", ContentType: "audio/x-l16;rate=8000"}},
		{"Stream attributes", `<Stream bidirectional="true" audioTrack="both" streamTimeout="120" statusCallbackUrl="https://e.com/st"
			statusCallbackMethod="GET" contentType="audio/x-mulaw;rate=8000" extraHeaders="a=1,b=2" keepCallAlive="true">ws://s.example.com/a</Stream>`,
			Stream{URL: "ws://s.example.com/a", Bidirectional: true, AudioTrack: "both", StreamTimeout: 120 * sec,
				StatusCallbackURL: "https://e.com/st", StatusCallbackMethod: "GET", ContentType: "audio/x-mulaw;rate=8000",
				ExtraHeaders: "a=1,b=2", KeepCallAlive: true}},

		{"MultiPartyCall", `<MultiPartyCall role="Agent" maxParticipants="5" record="TRUE" waitMusicMethod="post" statusCallbackEvents="mpc-state-changes">team</MultiPartyCall>`,
			MultiPartyCall{MPCName: "team", Role: "agent", Attrs: map[string]string{"maxParticipants": "5", "record": "true",
				"waitMusicMethod": "POST", "statusCallbackEvents": "mpc-state-changes"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseResponse([]byte("<Response>" + tc.doc + "</Response>"))
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Elements) != 1 {
				t.Fatalf("got %d elements: %#v", len(r.Elements), r.Elements)
			}
			if !reflect.DeepEqual(r.Elements[0], tc.want) {
				t.Fatalf("got  %#v\nwant %#v", r.Elements[0], tc.want)
			}
			if r.Elements[0].Name() != reflect.TypeOf(tc.want).Name() {
				t.Fatalf("Name() = %q", r.Elements[0].Name())
			}
		})
	}
}

func TestParseResponseDocument(t *testing.T) {
	ok := map[string]int{ // document → number of elements
		"empty Response":          0,
		"self-closed Response":    0,
		"declaration":             2,
		"declaration utf-8 lower": 1,
		"BOM":                     1,
		"comments and spaces":     1,
		"order kept":              5,
	}
	docs := map[string]string{
		"empty Response":          `<Response></Response>`,
		"self-closed Response":    "\n<Response/>\n",
		"declaration":             `<?xml version="1.0" encoding="UTF-8"?>` + "\n<Response>\n  <Speak>a</Speak>\n  <Hangup/>\n</Response>\n",
		"declaration utf-8 lower": `<?xml version="1.0" encoding="utf-8" standalone="yes"?><Response><Wait/></Response>`,
		"BOM":                     "\ufeff<Response><Wait/></Response>",
		"comments and spaces":     "<!-- app v2 --><Response><!-- greet --><Speak>hi<!-- inside --></Speak></Response><!-- end -->",
		"order kept":              `<Response><Wait/><Speak>a</Speak><Play>https://e.com/a.mp3</Play><Hangup/><Redirect>https://e.com/r</Redirect></Response>`,
	}
	for name, doc := range docs {
		t.Run(name, func(t *testing.T) {
			r, err := ParseResponse([]byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Elements) != ok[name] {
				t.Fatalf("got %d elements, want %d", len(r.Elements), ok[name])
			}
		})
	}
	r, _ := ParseResponse([]byte(docs["order kept"]))
	var names []string
	for _, e := range r.Elements {
		names = append(names, e.Name())
	}
	if got := strings.Join(names, ","); got != "Wait,Speak,Play,Hangup,Redirect" {
		t.Fatalf("order %s", got)
	}
}

func TestErrorLocation(t *testing.T) {
	doc := "<Response>\n  <GetDigits>\n    <Speak>a</Speak>\n    <Speak loop=\"x\">b</Speak>\n  </GetDigits>\n</Response>"
	_, err := ParseResponse([]byte(doc))
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("%T %v", err, err)
	}
	if e.Path != "Response/GetDigits[1]/Speak[2]" || e.Line != 4 || !strings.Contains(e.Msg, `"loop"`) {
		t.Fatalf("%+v", e)
	}
	want := `invalid value "x" for attribute "loop" of Speak: must be an integer from 0 to 10000 (at Response/GetDigits[1]/Speak[2], line 4)`
	if err.Error() != want {
		t.Fatalf("got  %s\nwant %s", err, want)
	}
	_, err = ParseResponse([]byte("<Response>\n<Speak>x</Response>"))
	if !errors.As(err, &e) || e.Line != 2 || e.Path != "" || !strings.HasPrefix(e.Msg, "invalid XML: ") {
		t.Fatalf("%+v", err)
	}
	_, err = ParseResponse(make([]byte, MaxSize+1))
	if !errors.As(err, &e) || err.Error() != "document larger than 102400 bytes" {
		t.Fatalf("%v", err)
	}
}
