package plivoxml

import (
	"errors"
	"strings"
	"testing"
)

// Bad documents and the error each must give (the text is user-facing: it
// is recorded on the call as the reason it ended).
func TestParseResponseErrors(t *testing.T) {
	const big = 2000
	tests := []struct {
		name, doc, want string
	}{
		// the document
		{"empty", ``, "empty document: expected a Response element"},
		{"blank", " \n\t", "empty document: expected a Response element"},
		{"not XML", `hello`, "text outside the Response element"},
		{"HTML", `<html><body>Not found</body></html>`, "the root element must be Response, not html"},
		{"JSON", `{"speak":"hi"}`, "text outside the Response element"},
		{"lowercase root", `<response/>`, "the root element must be Response, not response"},
		{"namespaced root", `<x:Response xmlns:x="urn:x"/>`, "the root element must be Response, not urn:x:Response"},
		{"two roots", `<Response/><Response/>`, "only one root element is allowed; found Response after Response"},
		{"text after root", `<Response/>trailing`, "text outside the Response element"},
		{"unclosed", `<Response><Speak>hi</Speak>`, "invalid XML: unexpected EOF"},
		{"mismatched tags", `<Response><Speak>hi</Play></Response>`, "invalid XML: element <Speak> closed by </Play>"},
		{"bad entity", `<Response><Speak>a &nbsp; b</Speak></Response>`, "invalid XML: invalid character entity &nbsp;"},
		{"DTD", `<!DOCTYPE Response><Response/>`, "DTDs, entity declarations and other <!...> directives are not allowed"},
		{"entity declaration", `<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x "boom">]><Response><Speak>&x;</Speak></Response>`, "DTDs, entity declarations"},
		{"late declaration", `<Response/><?xml version="1.0"?>`, "processing instruction <?xml?> is not allowed here"},
		{"other PI", `<?php echo 1; ?><Response/>`, "processing instruction <?php?> is not allowed here"},
		{"latin-1", `<?xml version="1.0" encoding="ISO-8859-1"?><Response/>`, `only UTF-8 documents are accepted: encoding "ISO-8859-1" declared (line 1)`},
		{"invalid UTF-8", "<Response><Speak>caf\xe9</Speak></Response>", "document is not valid UTF-8"},
		{"too large", "<Response>" + strings.Repeat("<Wait/>", MaxSize/7) + "</Response>", "document larger than 102400 bytes"},
		{"too deep", "<Response><Speak>a" + strings.Repeat("<prosody>", 40) + strings.Repeat("</prosody>", 40) + "</Speak></Response>", "elements are nested more than 32 deep"},
		{"Response attribute", `<Response version="2"/>`, `not a valid attribute: "version" for "Response"`},
		// names
		{"unknown element", `<Response><Say>hi</Say></Response>`, `unknown element "Say"`},
		{"lowercase element", `<Response><speak>hi</speak></Response>`, `unknown element "speak"; names are case-sensitive: did you mean "Speak"?`},
		{"Twilio Gather", `<Response><Gather/></Response>`, `unknown element "Gather"`},
		{"unknown in GetDigits", `<Response><GetDigits><Pause/></GetDigits></Response>`, `unknown element "Pause"`},
		{"Sip in Dial", `<Response><Dial><Sip>sip:a@e.com</Sip></Dial></Response>`, `unknown element "Sip"`},
		{"namespaced element", `<Response><t:Speak xmlns:t="urn:t">hi</t:Speak></Response>`, `unknown element "urn:t:Speak"`},
		{"SSML audio", `<Response><Speak>a<audio src="https://e.com/a.mp3"/></Speak></Response>`, `unknown element "audio"`},
		{"unknown attribute", `<Response><Speak foo="1">hi</Speak></Response>`, `not a valid attribute: "foo" for "Speak"`},
		{"attribute case", `<Response><GetDigits NumDigits="4"/></Response>`, `not a valid attribute: "NumDigits" for "GetDigits"; names are case-sensitive: did you mean "numDigits"?`},
		{"Message log", `<Response><Message src="1" dst="2" log="false">x</Message></Response>`, `not a valid attribute: "log" for "Message"`},
		{"callerID spelling", `<Response><Dial callerID="1"><Number>2</Number></Dial></Response>`, `not a valid attribute: "callerID" for "Dial"; names are case-sensitive: did you mean "callerId"?`},
		{"repeated attribute", `<Response><Wait length="1" length="2"/></Response>`, `attribute "length" is repeated on Wait`},
		{"xmlns attribute", `<Response><Speak xmlns="urn:x">hi</Speak></Response>`, `unknown element "urn:x:Speak"`},
		{"PreAnswer attribute", `<Response><PreAnswer timeout="5"/></Response>`, `not a valid attribute: "timeout" for "PreAnswer"`},
		{"SSML attribute", `<Response><Speak>a<break duration="1s"/></Speak></Response>`, `not a valid attribute: "duration" for "break"`},
		// nesting
		{"Speak in Dial", `<Response><Dial><Number>1</Number><Speak>x</Speak></Dial></Response>`, "Speak cannot be nested in Dial"},
		{"Record in GetDigits", `<Response><GetDigits><Record/></GetDigits></Response>`, "Record cannot be nested in GetDigits"},
		{"Hangup in PreAnswer", `<Response><PreAnswer><Hangup/></PreAnswer></Response>`, "Hangup cannot be nested in PreAnswer"},
		{"Number at top", `<Response><Number>1</Number></Response>`, "Number cannot be nested in Response"},
		{"Play in Speak", `<Response><Speak>a<Play>https://e.com/a.mp3</Play></Speak></Response>`, "Play cannot be nested in Speak"},
		{"Dial empty", `<Response><Dial callerId="1"/></Response>`, "Dial needs at least one Number or User"},
		// values
		{"integer", `<Response><GetDigits timeout="five"/></Response>`, `invalid value "five" for attribute "timeout" of GetDigits: must be an integer, 1 or more`},
		{"negative", `<Response><Wait length="-1"/></Response>`, `invalid value "-1" for attribute "length" of Wait: must be an integer, 1 or more`},
		{"numDigits 0", `<Response><GetDigits numDigits="0"/></Response>`, `invalid value "0" for attribute "numDigits" of GetDigits: must be an integer, 1 or more`},
		{"retries 0", `<Response><GetDigits retries="0"/></Response>`, `invalid value "0" for attribute "retries" of GetDigits`},
		{"float", `<Response><Record maxLength="1.5"/></Response>`, `invalid value "1.5" for attribute "maxLength" of Record`},
		{"huge", `<Response><Dial timeLimit="99999999999999999999"><Number>1</Number></Dial></Response>`, `invalid value "99999999999999999999" for attribute "timeLimit" of Dial`},
		{"loop range", `<Response><Play loop="10001">https://e.com/a.mp3</Play></Response>`, `must be an integer from 0 to 10000`},
		{"executionTimeout range", `<Response><GetInput action="https://e.com/i" inputType="dtmf" executionTimeout="61"/></Response>`, `must be an integer from 5 to 60`},
		{"digitEndTimeout", `<Response><GetInput action="https://e.com/i" inputType="dtmf" digitEndTimeout="1"/></Response>`, `invalid value "1" for attribute "digitEndTimeout" of GetInput: must be an integer from 2 to 10`},
		{"maxMembers", `<Response><Conference maxMembers="21">r</Conference></Response>`, `must be an integer from 1 to 20`},
		{"boolean", `<Response><GetDigits log="no"/></Response>`, `invalid value "no" for attribute "log" of GetDigits: must be true or false`},
		{"boolean 1", `<Response><Record playBeep="1"/></Response>`, `invalid value "1" for attribute "playBeep" of Record: must be true or false`},
		{"method", `<Response><Redirect method="PUT">https://e.com/r</Redirect></Response>`, `invalid value "PUT" for attribute "method" of Redirect: must be GET or POST`},
		{"relative action", `<Response><GetDigits action="/digits"/></Response>`, `invalid value "/digits" for attribute "action" of GetDigits: must be an absolute http or https URL`},
		{"ftp action", `<Response><Record action="ftp://e.com/r"/></Response>`, `must be an absolute http or https URL`},
		{"Hangup reason", `<Response><Hangup reason="angry"/></Response>`, `invalid value "angry" for attribute "reason" of Hangup: must be one of "", "rejected", "busy"`},
		{"fileFormat", `<Response><Record fileFormat="ogg"/></Response>`, `invalid value "ogg" for attribute "fileFormat" of Record: must be one of "mp3", "wav"`},
		{"voice", `<Response><Speak voice="Robot">hi</Speak></Response>`, `invalid value "Robot" for attribute "voice" of Speak: must be WOMAN, MAN or an Amazon Polly voice`},
		{"voice lowercase", `<Response><Speak voice="woman">hi</Speak></Response>`, `invalid value "woman" for attribute "voice" of Speak`},
		{"language", `<Response><Speak language="english">hi</Speak></Response>`, `invalid value "english" for attribute "language" of Speak: must be a language code`},
		{"finishOnKey two", `<Response><GetDigits finishOnKey="#*"/></Response>`, `invalid value "#*" for attribute "finishOnKey" of GetDigits: must be one key`},
		{"finishOnKey letter", `<Response><Record finishOnKey="a"/></Response>`, `invalid value "a" for attribute "finishOnKey" of Record: must be keys from 0-9`},
		{"validDigits", `<Response><GetDigits validDigits="12a"/></Response>`, `invalid value "12a" for attribute "validDigits" of GetDigits`},
		{"validDigits empty", `<Response><GetDigits validDigits=""/></Response>`, `invalid value "" for attribute "validDigits" of GetDigits`},
		{"sendDigits", `<Response><Dial><Number sendDigits="12x">1</Number></Dial></Response>`, `invalid value "12x" for attribute "sendDigits" of Number`},
		{"sipHeaders", `<Response><Dial><User sipHeaders="X-Foo=bar baz">sip:a@e.com</User></Dial></Response>`, `invalid value "X-Foo=bar baz" for attribute "sipHeaders" of User`},
		{"callerName long", `<Response><Dial callerName="` + strings.Repeat("n", 51) + `"><Number>1</Number></Dial></Response>`, `for attribute "callerName" of Dial: at most 50 characters`},
		{"digitsMatch", `<Response><Dial digitsMatch="12,ab"><Number>1</Number></Dial></Response>`, `invalid value "12,ab" for attribute "digitsMatch" of Dial`},
		{"control character", `<Response><Dial callerName="a&#10;b"><Number>1</Number></Dial></Response>`, `control characters are not allowed`},
		{"inputType", `<Response><GetInput action="https://e.com/i" inputType="voice"/></Response>`, `invalid value "voice" for attribute "inputType" of GetInput`},
		{"enterSound", `<Response><Conference enterSound="beep:3">r</Conference></Response>`, `invalid value "beep:3" for attribute "enterSound" of Conference: must be "beep:1", "beep:2", "none" or an absolute http(s) URL`},
		{"beep", `<Response><Conference beep="loud">r</Conference></Response>`, `invalid value "loud" for attribute "beep" of Conference: must be one of "true", "false", "onEnter", "onExit", "beep:1", "beep:2"`},
		{"contentType", `<Response><Stream contentType="audio/wav">wss://s.e.com</Stream></Response>`, `invalid value "audio/wav" for attribute "contentType" of Stream`},
		{"SSML break time", `<Response><Speak>a<break time="soon"/></Speak></Response>`, `invalid value "soon" for attribute "time" of break`},
		{"min_silence twice", `<Response><Wait minSilence="1" min_silence="2"/></Response>`, "use minSilence or min_silence on Wait, not both"},
		// bodies and required parts
		{"Speak empty", `<Response><Speak>  </Speak></Response>`, "Speak needs text to say"},
		{"Play empty", `<Response><Play/></Response>`, "Play needs the URL of an audio file"},
		{"Play relative", `<Response><Play>/a.mp3</Play></Response>`, `Play URL "/a.mp3" must be an absolute http or https URL`},
		{"Play with space", `<Response><Play>https://e.com/a b.mp3</Play></Response>`, `must be an absolute http or https URL`},
		{"Redirect empty", `<Response><Redirect method="GET"/></Response>`, "Redirect needs a URL"},
		{"Redirect file", `<Response><Redirect>file:///etc/passwd</Redirect></Response>`, `Redirect URL "file:///etc/passwd" must be an absolute http or https URL`},
		{"Number letters", `<Response><Dial><Number>call-me</Number></Dial></Response>`, `Number must be a phone number (digits with an optional leading +), not "call-me"`},
		{"User not SIP", `<Response><Dial><User>alice</User></Dial></Response>`, `User must be a SIP URI such as sip:alice@example.com, not "alice"`},
		{"Message no dst", `<Response><Message src="1">x</Message></Response>`, "Message needs src, dst and text"},
		{"Message mms", `<Response><Message src="1" dst="2" type="mms">x</Message></Response>`, `invalid value "mms" for attribute "type" of Message`},
		{"DTMF empty", `<Response><DTMF async="true"/></Response>`, "DTMF needs digits to send"},
		{"DTMF letters", `<Response><DTMF>12x</DTMF></Response>`, `DTMF digits "12x": only 0-9, *, # and the pauses w and W are allowed`},
		{"Conference no room", `<Response><Conference/></Response>`, "Conference needs a room name"},
		{"Conference long room", `<Response><Conference>` + strings.Repeat("r", big) + `</Conference></Response>`, "Conference room name must be at most 256 characters"},
		{"GetInput no action", `<Response><GetInput inputType="dtmf"/></Response>`, "GetInput needs an action URL"},
		{"GetInput no inputType", `<Response><GetInput action="https://e.com/i"/></Response>`, "GetInput needs an inputType"},
		{"Stream no URL", `<Response><Stream/></Response>`, "Stream needs a WebSocket URL"},
		{"Stream http", `<Response><Stream>https://s.e.com</Stream></Response>`, `Stream URL "https://s.e.com" must be an absolute wss or ws URL`},
		{"MultiPartyCall no role", `<Response><MultiPartyCall>m</MultiPartyCall></Response>`, "MultiPartyCall needs a role"},
		{"MultiPartyCall role", `<Response><MultiPartyCall role="boss">m</MultiPartyCall></Response>`, `invalid value "boss" for attribute "role" of MultiPartyCall`},
		{"MultiPartyCall range", `<Response><MultiPartyCall role="agent" maxParticipants="11">m</MultiPartyCall></Response>`, `invalid value "11" for attribute "maxParticipants" of MultiPartyCall: must be an integer from 2 to 10`},
		{"MultiPartyCall unknown", `<Response><MultiPartyCall role="agent" colour="red">m</MultiPartyCall></Response>`, `not a valid attribute: "colour" for "MultiPartyCall"`},
		{"phoneme without ph", `<Response><Speak>a<phoneme alphabet="ipa">b</phoneme></Speak></Response>`, "phoneme needs a ph attribute"},
		{"lang without xml:lang", `<Response><Speak>a<lang>b</lang></Speak></Response>`, `invalid value "" for attribute "xml:lang" of lang`},
		{"lang with plain lang", `<Response><Speak>a<lang lang="fr">b</lang></Speak></Response>`, `not a valid attribute: "lang" for "lang"`},
	}
	seen := map[string]bool{}
	for _, tc := range tests {
		if seen[tc.name] {
			t.Fatalf("duplicate case %q", tc.name)
		}
		seen[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseResponse([]byte(tc.doc))
			if err == nil {
				t.Fatalf("accepted: %#v", r)
			}
			if r != nil {
				t.Fatalf("returned a Response with the error")
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error is %T, not *Error: %v", err, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got  %s\nwant %s", err, tc.want)
			}
		})
	}
	if len(tests) < 30 {
		t.Fatalf("only %d bad documents", len(tests))
	}
}
