package plivoxml

import (
	"strings"
	"testing"
)

func TestParseMessageResponse(t *testing.T) {
	got, err := ParseMessageResponse([]byte(`<?xml version="1.0"?><Response><Message src="14155550100" dst="14155550101&lt;14155550102" callbackUrl="https://e.com/s">Thanks &amp; bye</Message></Response>`))
	if err != nil || len(got) != 1 {
		t.Fatalf("%v %v", got, err)
	}
	m := got[0]
	if m.Src != "14155550100" || m.Dst != "14155550101<14155550102" || m.Text != "Thanks & bye" || m.CallbackMethod != "POST" || m.Type != "sms" {
		t.Fatalf("%+v", m)
	}
	for _, ok := range []string{"", "  ", "<Response/>", "<Response></Response>"} {
		if got, err := ParseMessageResponse([]byte(ok)); err != nil || len(got) != 0 {
			t.Fatalf("%q: %v %v", ok, got, err)
		}
	}
	bad := map[string]string{
		"not xml":        "hello",
		"wrong root":     "<Reply/>",
		"speak":          "<Response><Speak>hi</Speak></Response>",
		"bad attribute":  `<Response><Message src="1" dst="2" log="false">x</Message></Response>`,
		"lowercase":      `<response><Message src="1" dst="2">x</Message></response>`,
		"missing dst":    `<Response><Message src="1">x</Message></Response>`,
		"empty text":     `<Response><Message src="1" dst="2"> </Message></Response>`,
		"mms":            `<Response><Message src="1" dst="2" type="mms">x</Message></Response>`,
		"nested":         `<Response><Message src="1" dst="2"><b>x</b></Message></Response>`,
		"doctype":        `<!DOCTYPE x [<!ENTITY a "b">]><Response/>`,
		"two roots":      `<Response/><Response/>`,
		"unclosed":       `<Response><Message src="1" dst="2">x`,
		"stray text":     `<Response>hello</Response>`,
		"too big":        "<Response>" + strings.Repeat(" ", MaxSize) + "</Response>",
		"bad method":     `<Response><Message src="1" dst="2" callbackMethod="PUT">x</Message></Response>`,
		"root attribute": `<Response a="1"/>`,
	}
	for name, doc := range bad {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseMessageResponse([]byte(doc)); err == nil {
				t.Fatalf("accepted %q", doc)
			}
		})
	}
}

func FuzzParseMessageResponse(f *testing.F) {
	f.Add([]byte(`<Response><Message src="1" dst="2">hi</Message></Response>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ms, err := ParseMessageResponse(b)
		if err != nil {
			return
		}
		for _, m := range ms {
			if m.Src == "" || m.Dst == "" || m.Text == "" {
				t.Fatalf("accepted an incomplete Message %+v", m)
			}
		}
	})
}
