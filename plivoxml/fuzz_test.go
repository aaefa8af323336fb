package plivoxml

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzParseResponse: no panics; every refusal is a short, one-line *Error;
// every accepted document satisfies the invariants an interpreter relies on.
// Seeds: testdata/fuzz/FuzzParseResponse/ and the f.Add calls below.
func FuzzParseResponse(f *testing.F) {
	for _, s := range []string{
		`<Response/>`,
		`<Response><Speak>hi</Speak><Hangup/></Response>`,
		`<Response><GetDigits action="https://e.com/d" numDigits="1"><Play>https://e.com/a.mp3</Play></GetDigits></Response>`,
		`<Response><Dial><Number>1</Number><User>sip:a@e.com</User></Dial></Response>`,
		`<Response><Speak>a<p>b<s>c</s></p></Speak></Response>`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseResponse(b)
		if err != nil {
			if r != nil {
				t.Fatalf("a Response with an error")
			}
			var e *Error
			if !errors.As(err, &e) || e.Msg == "" {
				t.Fatalf("error %T %q", err, err)
			}
			msg := err.Error()
			if strings.ContainsAny(msg, "\r\n") || !utf8.ValidString(msg) || len(msg) > 4096 {
				t.Fatalf("unfit as a hangup reason (%d bytes): %q", len(msg), msg)
			}
			return
		}
		if err := checkElements("Response", r.Elements); err != nil {
			t.Fatalf("%v\ndocument: %q", err, b)
		}
		again, err := ParseResponse(b)
		if err != nil || !reflect.DeepEqual(r, again) {
			t.Fatalf("not deterministic: %v", err)
		}
	})
}

// TestInvariantsOnCorpus runs the invariant checker over documents known to
// be valid, so that a checker that rejects good documents is caught here
// and not only by the fuzzer.
func TestInvariantsOnCorpus(t *testing.T) {
	docs := []string{
		`<Response><GetDigits><Speak>a</Speak><Play>https://e.com/a.mp3</Play><Wait/></GetDigits>` +
			`<GetInput action="https://e.com/i" inputType="speech"><Wait/></GetInput><Record/><Dial><Number>+1</Number></Dial>` +
			`<Message src="1" dst="2">m</Message><Redirect>https://e.com/r</Redirect><Hangup reason="busy"/>` +
			`<PreAnswer><DTMF>1</DTMF></PreAnswer><Conference>c</Conference><DTMF>1w</DTMF>` +
			`<MultiPartyCall role="customer">m</MultiPartyCall><Stream>wss://e.com</Stream><Speak>x<break/></Speak></Response>`,
	}
	// The committed seeds named sdk-* (built by the Node SDK) and a few
	// others are valid documents.
	dir := filepath.Join("testdata", "fuzz", "FuzzParseResponse")
	files, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	validSeeds := 0
	for _, f := range files {
		name := f.Name()
		if !strings.HasPrefix(name, "sdk-") && !slices.Contains([]string{"declaration-comments", "cdata-mixed", "deep-ssml"}, name) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		lit := strings.TrimSpace(strings.TrimPrefix(string(b), "go test fuzz v1\n"))
		s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lit, "[]byte("), ")"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		docs = append(docs, s)
		validSeeds++
	}
	if validSeeds < 8 {
		t.Fatalf("only %d valid seeds in %s", validSeeds, dir)
	}
	for _, d := range docs {
		r, err := ParseResponse([]byte(d))
		if err != nil {
			t.Fatalf("%v\n%s", err, d)
		}
		if err := checkElements("Response", r.Elements); err != nil {
			t.Fatal(err)
		}
	}
}

// checkElements states what an interpreter may take for granted.
func checkElements(parent string, els []Element) error {
	allowed := map[string][]string{
		"Response":  {"Speak", "Play", "GetDigits", "GetInput", "Record", "Dial", "Message", "Redirect", "Wait", "Hangup", "PreAnswer", "Conference", "DTMF", "MultiPartyCall", "Stream"},
		"GetDigits": {"Speak", "Play", "Wait"},
		"GetInput":  {"Speak", "Play", "Wait"},
		"PreAnswer": {"Play", "Speak", "GetDigits", "Wait", "Redirect", "Message", "DTMF"},
	}[parent]
	for i, el := range els {
		if el == nil || !slices.Contains(allowed, el.Name()) {
			return fmt.Errorf("%s[%d]: %T in %s", parent, i, el, parent)
		}
		if err := checkElement(el); err != nil {
			return fmt.Errorf("%s[%d] %s: %v", parent, i, el.Name(), err)
		}
	}
	return nil
}

func checkElement(el Element) error {
	isMethod := func(m string) bool { return m == "GET" || m == "POST" }
	isURL := func(u string, empty bool) bool {
		return (empty && u == "") || checkURL(u, "http", "https") == ""
	}
	isKeys := func(s string, max int) bool { return len(s) <= max && onlyChars(s, dtmfKeys) }
	switch e := el.(type) {
	case Speak:
		if e.Text == "" || e.Text != strings.Join(strings.Fields(e.Text), " ") {
			return fmt.Errorf("text %q", e.Text)
		}
		if e.Voice != "WOMAN" && e.Voice != "MAN" && !strings.HasPrefix(e.Voice, "Polly.") {
			return fmt.Errorf("voice %q", e.Voice)
		}
		if e.Loop < 0 || e.Loop > maxLoop || !languageTag.MatchString(e.Language) {
			return fmt.Errorf("loop %d language %q", e.Loop, e.Language)
		}
	case Play:
		if !isURL(e.URL, false) || e.Loop < 0 || e.Loop > maxLoop {
			return fmt.Errorf("%+v", e)
		}
	case Wait:
		if e.Length < time.Second || e.MinSilence < time.Millisecond {
			return fmt.Errorf("%+v", e)
		}
	case GetDigits:
		if e.NumDigits < 1 || e.Retries < 1 || e.Timeout < time.Second || e.DigitTimeout < time.Second ||
			!isMethod(e.Method) || !isKeys(e.FinishOnKey, 1) || e.ValidDigits == "" || !isKeys(e.ValidDigits, 1<<20) ||
			!isURL(e.Action, true) || !isURL(e.InvalidDigitsSound, true) {
			return fmt.Errorf("%+v", e)
		}
		return checkElements("GetDigits", e.Children)
	case GetInput:
		if !isURL(e.Action, false) || !slices.Contains([]string{"dtmf", "speech", "dtmf speech"}, e.InputType) ||
			e.ExecutionTimeout < 5*time.Second || e.ExecutionTimeout > 60*time.Second || !isMethod(e.Method) ||
			(e.DigitEndTimeout != 0 && (e.DigitEndTimeout < 2*time.Second || e.DigitEndTimeout > 10*time.Second)) ||
			e.NumDigits < 0 || !isKeys(e.FinishOnKey, 1) {
			return fmt.Errorf("%+v", e)
		}
		return checkElements("GetInput", e.Children)
	case Record:
		if (e.FileFormat != "mp3" && e.FileFormat != "wav") || e.Timeout < time.Second || e.MaxLength < time.Second ||
			!isMethod(e.Method) || !isMethod(e.CallbackMethod) || !isKeys(e.FinishOnKey, 12) || !isURL(e.Action, true) ||
			!isURL(e.CallbackURL, true) {
			return fmt.Errorf("%+v", e)
		}
	case Dial:
		if len(e.Numbers)+len(e.Users) == 0 {
			return fmt.Errorf("no Number or User")
		}
		if e.TimeLimit < time.Second || e.Timeout < 0 || !isMethod(e.Method) || utf8.RuneCountInString(e.CallerName) > 50 ||
			!isURL(e.Action, true) || !isKeys(e.ConfirmKey, 1) {
			return fmt.Errorf("%+v", e)
		}
		for _, n := range e.Numbers {
			if !phoneNumber.MatchString(n.Digits) || !onlyChars(n.SendDigits, dtmfKeys+"wW") {
				return fmt.Errorf("number %+v", n)
			}
		}
		for _, u := range e.Users {
			if !strings.HasPrefix(strings.ToLower(u.URI), "sip") || !strings.Contains(u.URI, ":") {
				return fmt.Errorf("user %+v", u)
			}
		}
		for _, h := range e.SIPHeaders {
			if h.Name == "" || h.Value == "" {
				return fmt.Errorf("header %+v", h)
			}
		}
	case Message:
		if e.Src == "" || e.Dst == "" || e.Text == "" || e.Type != "sms" || !isMethod(e.CallbackMethod) {
			return fmt.Errorf("%+v", e)
		}
	case Redirect:
		if !isURL(e.URL, false) || !isMethod(e.Method) {
			return fmt.Errorf("%+v", e)
		}
	case Hangup:
		if (e.Reason != "" && e.Reason != "rejected" && e.Reason != "busy") || e.Schedule < 0 {
			return fmt.Errorf("%+v", e)
		}
	case PreAnswer:
		return checkElements("PreAnswer", e.Children)
	case DTMF:
		if e.Digits == "" || !onlyChars(e.Digits, dtmfKeys+"wW") {
			return fmt.Errorf("%+v", e)
		}
	case Conference:
		if e.Room == "" || e.MaxMembers < 1 || e.MaxMembers > 20 || !isMethod(e.Method) {
			return fmt.Errorf("%+v", e)
		}
	case Stream:
		if checkURL(e.URL, "wss", "ws") != "" || !slices.Contains([]string{"inbound", "outbound", "both"}, e.AudioTrack) {
			return fmt.Errorf("%+v", e)
		}
	case MultiPartyCall:
		if e.MPCName == "" || !slices.Contains([]string{"agent", "supervisor", "customer"}, e.Role) {
			return fmt.Errorf("%+v", e)
		}
	default:
		return fmt.Errorf("unexpected type %T", el)
	}
	return nil
}
