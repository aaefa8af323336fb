// Package plivoxml parses Plivo's XML documents: the <Response> an application returns
// from its message_url (ParseMessageResponse), and the call-control <Response> of an
// answer_url, action URL or Redirect (ParseResponse), which it validates into typed
// elements for the voice interpreter. Parsing is strict in the ways Plivo and its SDKs
// are strict (element and attribute names are case-sensitive; unknown ones are errors;
// nesting and attribute values are checked) and bounded (documents over MaxSize, DTDs
// and entity declarations are refused).
package plivoxml

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// MaxSize is the largest document accepted (Plivo: 100 KB).
const MaxSize = 100 << 10

// Message is a <Message> element: an SMS to send.
type Message struct {
	Src, Dst       string
	Type           string // sms
	CallbackURL    string
	CallbackMethod string
	Text           string
}

var messageAttrs = map[string]bool{"src": true, "dst": true, "type": true, "callbackUrl": true, "callbackMethod": true}

// ParseMessageResponse parses the reply to an inbound-message callback: a <Response>
// holding only <Message> elements (an empty reply or an empty Response means "no reply").
func ParseMessageResponse(b []byte) ([]Message, error) {
	if len(b) > MaxSize {
		return nil, fmt.Errorf("document larger than %d bytes", MaxSize)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, nil
	}
	dec := xml.NewDecoder(bytes.NewReader(b))
	dec.Strict = true
	var out []Message
	depth := 0
	var cur *Message
	sawRoot := false
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("invalid XML: %v", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			switch depth {
			case 1:
				if t.Name.Local != "Response" || sawRoot {
					return nil, fmt.Errorf("the root element must be Response, not %s", t.Name.Local)
				}
				sawRoot = true
				if len(t.Attr) > 0 {
					return nil, errors.New("Response takes no attributes")
				}
			case 2:
				if t.Name.Local != "Message" {
					return nil, fmt.Errorf("%s is not allowed in a message reply: only Message", t.Name.Local)
				}
				cur = &Message{Type: "sms", CallbackMethod: "POST"}
				for _, a := range t.Attr {
					if !messageAttrs[a.Name.Local] || a.Name.Space != "" {
						return nil, fmt.Errorf("not a valid attribute: %q for Message", a.Name.Local)
					}
					switch a.Name.Local {
					case "src":
						cur.Src = a.Value
					case "dst":
						cur.Dst = a.Value
					case "type":
						cur.Type = a.Value
					case "callbackUrl":
						cur.CallbackURL = a.Value
					case "callbackMethod":
						cur.CallbackMethod = strings.ToUpper(a.Value)
					}
				}
				if cur.Type != "sms" {
					return nil, fmt.Errorf("Message type %q is not supported", cur.Type)
				}
				if cur.CallbackMethod != "GET" && cur.CallbackMethod != "POST" {
					return nil, errors.New("Message callbackMethod must be GET or POST")
				}
			default:
				return nil, fmt.Errorf("%s cannot be nested in Message", t.Name.Local)
			}
		case xml.EndElement:
			if depth == 2 && cur != nil {
				cur.Text = strings.TrimSpace(cur.Text)
				if cur.Src == "" || cur.Dst == "" || cur.Text == "" {
					return nil, errors.New("Message needs src, dst and text")
				}
				out = append(out, *cur)
				cur = nil
			}
			depth--
		case xml.CharData:
			if depth == 2 && cur != nil {
				cur.Text += string(t)
			} else if len(bytes.TrimSpace(t)) > 0 {
				return nil, errors.New("text outside a Message element")
			}
		case xml.Directive:
			return nil, errors.New("DTDs and directives are not allowed")
		}
	}
	if !sawRoot {
		return nil, errors.New("no Response element")
	}
	return out, nil
}
