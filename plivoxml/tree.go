package plivoxml

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// maxDepth bounds element nesting. Real documents use four levels at most
// (Response/PreAnswer/GetDigits/Speak) plus a few of SSML; the bound keeps
// the recursive validation cheap on hostile input.
const maxDepth = 32

// xmlNamespace is what encoding/xml puts in Name.Space for the reserved
// "xml:" prefix (xml:lang on the SSML <lang> element).
const xmlNamespace = "http://www.w3.org/XML/1998/namespace"

// node is one element of the document as written, before validation.
type node struct {
	name   string // local name
	space  string // namespace or unbound prefix; Plivo names have none
	attrs  []xml.Attr
	parent *node
	index  int // 1-based among same-name siblings, for paths
	line   int
	parts  []part // character data and child elements, in document order
	inner  [2]int // byte offsets of the raw inner XML in the source
	src    []byte // the whole source, for inner
	counts map[string]int
}

// part is either a run of character data or a child element.
type part struct {
	text string
	kid  *node
}

// displayName is the element's name for messages, clipped.
func (n *node) displayName() string { return show(qualified(xml.Name{Space: n.space, Local: n.name})) }

func qualified(name xml.Name) string {
	switch name.Space {
	case "":
		return name.Local
	case xmlNamespace:
		return "xml:" + name.Local
	}
	return name.Space + ":" + name.Local
}

func (n *node) path() string {
	var segs []string
	for p := n; p != nil; p = p.parent {
		if p.parent == nil {
			segs = append(segs, p.displayName())
		} else {
			segs = append(segs, fmt.Sprintf("%s[%d]", p.displayName(), p.index))
		}
	}
	for i, j := 0, len(segs)-1; i < j; i, j = i+1, j-1 {
		segs[i], segs[j] = segs[j], segs[i]
	}
	return strings.Join(segs, "/")
}

func (n *node) errorf(format string, args ...any) *Error {
	return &Error{Path: n.path(), Line: n.line, Msg: fmt.Sprintf(format, args...)}
}

// kids returns the child elements.
func (n *node) kids() []*node {
	var out []*node
	for _, p := range n.parts {
		if p.kid != nil {
			out = append(out, p.kid)
		}
	}
	return out
}

// innerXML is the element's content exactly as written (entities unexpanded).
func (n *node) innerXML() string { return string(n.src[n.inner[0]:n.inner[1]]) }

// text is all character data of the element and its descendants, in order.
func (n *node) text() string {
	var b strings.Builder
	var walk func(*node)
	walk = func(n *node) {
		for _, p := range n.parts {
			if p.kid != nil {
				b.WriteByte(' ') // an SSML tag separates words
				walk(p.kid)
				b.WriteByte(' ')
			} else {
				b.WriteString(p.text)
			}
		}
	}
	walk(n)
	return b.String()
}

// buildTree reads the document into nodes, enforcing the rules that are about
// XML itself rather than Plivo: size, UTF-8, no DTD or entities, one root,
// an XML declaration only at the start, no text outside the root.
func buildTree(b []byte) (*node, error) {
	if len(b) > MaxSize {
		return nil, &Error{Msg: fmt.Sprintf("document larger than %d bytes", MaxSize)}
	}
	b = bytes.TrimPrefix(b, []byte("\ufeff"))
	if !utf8.Valid(b) {
		return nil, &Error{Msg: "document is not valid UTF-8"}
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, &Error{Msg: "empty document: expected a Response element"}
	}
	dec := xml.NewDecoder(bytes.NewReader(b))
	dec.Strict = true
	var root, cur *node
	sawToken := false
	for {
		before := int(dec.InputOffset())
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				return nil, &Error{Line: se.Line, Msg: "invalid XML: " + clip(se.Msg, 200)}
			}
			line, _ := dec.InputPos()
			if strings.Contains(err.Error(), "CharsetReader") { // a declared encoding other than UTF-8
				return nil, &Error{Line: line, Msg: "only UTF-8 documents are accepted: " + clip(strings.TrimSuffix(strings.TrimPrefix(err.Error(), "xml: "), " but Decoder.CharsetReader is nil"), 100)}
			}
			return nil, &Error{Line: line, Msg: "invalid XML: " + clip(strings.TrimPrefix(err.Error(), "xml: "), 200)}
		}
		line, _ := dec.InputPos()
		first := !sawToken
		if _, ws := tok.(xml.CharData); !ws || len(bytes.TrimSpace(tok.(xml.CharData))) > 0 {
			sawToken = true
		}
		switch t := tok.(type) {
		case xml.StartElement:
			n := &node{name: t.Name.Local, space: t.Name.Space, attrs: t.Attr, line: line, src: b}
			n.inner[0] = int(dec.InputOffset())
			if cur == nil {
				if root != nil {
					return nil, &Error{Line: line, Msg: fmt.Sprintf("only one root element is allowed; found %s after Response", n.displayName())}
				}
				if n.space != "" || n.name != "Response" {
					return nil, &Error{Line: line, Msg: fmt.Sprintf("the root element must be Response, not %s", n.displayName())}
				}
				root = n
			} else {
				depth := 1
				for p := cur; p != nil; p = p.parent {
					depth++
				}
				if depth > maxDepth {
					return nil, &Error{Path: cur.path(), Line: line, Msg: fmt.Sprintf("elements are nested more than %d deep", maxDepth)}
				}
				n.parent = cur
				if cur.counts == nil {
					cur.counts = map[string]int{}
				}
				cur.counts[n.displayName()]++
				n.index = cur.counts[n.displayName()]
				cur.parts = append(cur.parts, part{kid: n})
			}
			cur = n
		case xml.EndElement:
			cur.inner[1] = before
			cur = cur.parent
		case xml.CharData:
			if cur == nil {
				if len(bytes.TrimSpace(t)) > 0 {
					return nil, &Error{Line: line, Msg: "text outside the Response element"}
				}
				continue
			}
			cur.parts = append(cur.parts, part{text: string(t)})
		case xml.ProcInst:
			// encoding/xml has already checked version and encoding.
			if t.Target != "xml" || !first || root != nil {
				return nil, &Error{Line: line, Msg: fmt.Sprintf("processing instruction <?%s?> is not allowed here; only an XML declaration at the very start", show(t.Target))}
			}
		case xml.Directive:
			return nil, &Error{Line: line, Msg: "DTDs, entity declarations and other <!...> directives are not allowed"}
		case xml.Comment:
			// Comments are ignored (and kept in Speak's raw SSML).
		}
	}
	if root == nil {
		return nil, &Error{Msg: "no Response element"}
	}
	return root, nil
}
