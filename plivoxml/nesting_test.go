package plivoxml

import (
	"slices"
	"strings"
	"testing"
)

// A minimal valid instance of every element Plivo defines.
var minimal = map[string]string{
	"Speak":          `<Speak>hi</Speak>`,
	"Play":           `<Play>https://e.com/a.mp3</Play>`,
	"Wait":           `<Wait/>`,
	"GetDigits":      `<GetDigits/>`,
	"GetInput":       `<GetInput action="https://e.com/i" inputType="dtmf"/>`,
	"Record":         `<Record/>`,
	"Dial":           `<Dial><Number>1</Number></Dial>`,
	"Message":        `<Message src="1" dst="2">hi</Message>`,
	"Redirect":       `<Redirect>https://e.com/r</Redirect>`,
	"Hangup":         `<Hangup/>`,
	"PreAnswer":      `<PreAnswer/>`,
	"Conference":     `<Conference>room</Conference>`,
	"DTMF":           `<DTMF>1</DTMF>`,
	"MultiPartyCall": `<MultiPartyCall role="agent">mpc</MultiPartyCall>`,
	"Stream":         `<Stream>wss://e.com/s</Stream>`,
	"Number":         `<Number>1</Number>`,
	"User":           `<User>sip:a@e.com</User>`,
	"break":          `<break/>`,
	"emphasis":       `<emphasis>x</emphasis>`,
	"lang":           `<lang xml:lang="fr-FR">x</lang>`,
	"p":              `<p>x</p>`,
	"phoneme":        `<phoneme ph="x">x</phoneme>`,
	"prosody":        `<prosody>x</prosody>`,
	"s":              `<s>x</s>`,
	"say-as":         `<say-as interpret-as="digits">1</say-as>`,
	"sub":            `<sub alias="x">x</sub>`,
	"w":              `<w>x</w>`,
}

// The nesting rules of plivo-api.md §3 and the Node SDK, written out here
// independently of the parser's tables. A parent not listed takes nothing.
var allowedIn = map[string][]string{
	"Response":  {"Speak", "Play", "GetDigits", "GetInput", "Record", "Dial", "Message", "Redirect", "Wait", "Hangup", "PreAnswer", "Conference", "DTMF", "MultiPartyCall", "Stream"},
	"GetDigits": {"Speak", "Play", "Wait"},
	"GetInput":  {"Speak", "Play", "Wait"},
	"PreAnswer": {"Play", "Speak", "GetDigits", "Wait", "Redirect", "Message", "DTMF"},
	"Dial":      {"Number", "User"},
	"Speak":     {"break", "emphasis", "lang", "p", "phoneme", "prosody", "s", "say-as", "sub", "w"},
	"emphasis":  {"break", "emphasis", "lang", "phoneme", "prosody", "say-as", "sub", "w"},
	"lang":      {"break", "emphasis", "lang", "p", "phoneme", "prosody", "s", "say-as", "sub", "w"},
	"p":         {"break", "emphasis", "lang", "prosody", "s", "say-as", "sub", "w"},
	"prosody":   {"break", "emphasis", "lang", "p", "phoneme", "prosody", "s", "say-as", "sub", "w"},
	"s":         {"break", "emphasis", "lang", "phoneme", "prosody", "say-as", "sub", "w"},
	"w":         {"break", "emphasis", "phoneme", "prosody", "say-as", "sub"},
}

// wrap puts child inside a minimal valid instance of parent, in a document.
func wrap(parent, child string) string {
	in := func(open, close string) string { return "<Response>" + open + child + close + "</Response>" }
	switch parent {
	case "Response":
		return "<Response>" + child + "</Response>"
	case "GetInput":
		return in(`<GetInput action="https://e.com/i" inputType="dtmf">`, `</GetInput>`)
	case "Dial":
		return in(`<Dial>`, `</Dial>`)
	case "Number", "User":
		m := minimal[parent]
		i := strings.Index(m, "</")
		return in(`<Dial>`+m[:i], m[i:]+`</Dial>`)
	case "Speak":
		return in(`<Speak>hi `, `</Speak>`)
	}
	if _, ssml := ssmlAttrs[parent]; ssml {
		m := minimal[parent]
		if strings.HasSuffix(m, "/>") { // break
			return in(`<Speak>hi <break>`, `</break></Speak>`)
		}
		i := strings.Index(m, "</")
		return in(`<Speak>hi `+m[:i], m[i:]+`</Speak>`)
	}
	m := minimal[parent]
	if strings.HasSuffix(m, "/>") {
		return in(strings.TrimSuffix(m, "/>")+">", "</"+parent+">")
	}
	i := strings.LastIndex(m, "</")
	return in(m[:i], m[i:])
}

func TestNestingRules(t *testing.T) {
	var names []string
	for n := range minimal {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names { // every minimal instance is valid where it belongs
		var home string
		switch {
		case n == "Number" || n == "User":
			home = "Dial"
		case slices.Contains(allowedIn["Response"], n):
			home = "Response"
		default:
			home = "Speak"
		}
		if _, err := ParseResponse([]byte(wrap(home, minimal[n]))); err != nil {
			t.Fatalf("minimal %s in %s: %v", n, home, err)
		}
	}
	parents := append([]string{"Response"}, names...)
	for _, parent := range parents {
		for _, child := range names {
			ok := slices.Contains(allowedIn[parent], child)
			t.Run(parent+"/"+child, func(t *testing.T) {
				doc := wrap(parent, minimal[child])
				_, err := ParseResponse([]byte(doc))
				if ok && err != nil {
					t.Fatalf("%s refused: %v", doc, err)
				}
				if !ok {
					want := child + " cannot be nested in " + parent
					if err == nil || !strings.Contains(err.Error(), want) {
						t.Fatalf("%s: got %v, want %q", doc, err, want)
					}
				}
			})
		}
	}
}

// Dial must hold at least one Number or User; text belongs in neither
// containers nor empty elements.
func TestNestingContent(t *testing.T) {
	bad := map[string]string{
		`<Response><Dial/></Response>`:                                                          "Dial needs at least one Number or User",
		`<Response><Dial> </Dial></Response>`:                                                   "Dial needs at least one Number or User",
		`<Response><Dial>14155550100</Dial></Response>`:                                         "text is not allowed directly in Dial",
		`<Response><GetDigits>Press 1</GetDigits></Response>`:                                   "text is not allowed directly in GetDigits",
		`<Response><PreAnswer>ringing</PreAnswer></Response>`:                                   "text is not allowed directly in PreAnswer",
		`<Response>hello<Speak>x</Speak></Response>`:                                            "text is not allowed directly in Response",
		`<Response><Wait>5</Wait></Response>`:                                                   "Wait takes no text",
		`<Response><Hangup>now</Hangup></Response>`:                                             "Hangup takes no text",
		`<Response><Record>x</Record></Response>`:                                               "Record takes no text",
		`<Response><Speak>a<break>b</break></Speak></Response>`:                                 "break takes no text",
		`<Response><Speak><break time="1s"/></Speak></Response>`:                                "Speak needs text to say",
		`<Response><GetInput action="https://e.com/i" inputType="dtmf">x</GetInput></Response>`: "text is not allowed directly in GetInput",
	}
	for doc, want := range bad {
		_, err := ParseResponse([]byte(doc))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", doc, err, want)
		}
	}
}
