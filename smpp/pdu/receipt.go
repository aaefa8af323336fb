package pdu

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Receipt is a delivery receipt as carried in the short_message of a
// deliver_sm: the de-facto format of SMPP 3.4 appendix B,
//
//	id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DDDDDDD err:E text:...
type Receipt struct {
	ID         string
	Sub        int // messages submitted (usually 1)
	Dlvrd      int // messages delivered
	SubmitDate time.Time
	DoneDate   time.Time
	Stat       string // DELIVRD, EXPIRED, DELETED, UNDELIV, ACCEPTD, UNKNOWN, REJECTD, ENROUTE; upper case
	Err        string // network or SMSC error code, as sent
	Text       string // first characters of the message
}

// State maps Stat to a MessageState, accepting the long spellings some
// SMSCs use (DELIVERED, UNDELIVERABLE ...).
func (r Receipt) State() (MessageState, bool) {
	for s, w := range stats {
		if w != "" && (r.Stat == w || r.Stat == stateNames[s]) {
			return MessageState(s), true
		}
	}
	return 0, false
}

// ErrNotReceipt is returned by ParseReceipt for text with neither an id
// nor a stat field.
var ErrNotReceipt = errors.New("smpp: not a delivery receipt")

type receiptKey int

const (
	keyNone receiptKey = iota
	keyID
	keySub
	keyDlvrd
	keySubmitDate
	keyDoneDate
	keyStat
	keyErr
	keyText
)

// ParseReceipt parses receipt text. It tolerates what SMSCs send in
// practice: fields missing or in another order, keys in any case, extra
// spaces, "submit_date" for "submit date", dates of 10 (YYMMDDhhmm) or 12
// (YYMMDDhhmmss) digits. A date it cannot read is left zero rather than
// failing the receipt, whose id and stat matter most. Dates are UTC.
func ParseReceipt(text []byte) (Receipt, error) {
	var r Receipt
	var seenID, seenStat bool
	s := string(text)
	for {
		s = strings.TrimLeft(s, " \t\r\n")
		if s == "" {
			break
		}
		key, rest := matchReceiptKey(s)
		if key == keyNone {
			// Unknown token: skip it.
			s = s[tokenEnd(s):]
			continue
		}
		if key == keyText {
			r.Text = rest
			break
		}
		rest = strings.TrimLeft(rest, " \t")
		var val string
		if k, _ := matchReceiptKey(rest); k == keyNone {
			n := tokenEnd(rest)
			val, rest = rest[:n], rest[n:]
		}
		s = rest
		switch key {
		case keyID:
			r.ID, seenID = val, true
		case keySub:
			r.Sub = receiptCount(val)
		case keyDlvrd:
			r.Dlvrd = receiptCount(val)
		case keySubmitDate:
			r.SubmitDate = receiptDate(val)
		case keyDoneDate:
			r.DoneDate = receiptDate(val)
		case keyStat:
			r.Stat, seenStat = asciiUpper(val), true
		case keyErr:
			r.Err = val
		}
	}
	if !seenID && !seenStat {
		return Receipt{}, ErrNotReceipt
	}
	return r, nil
}

type keyWord struct {
	w string
	k receiptKey
}

var (
	simpleKeys = []keyWord{{"id", keyID}, {"sub", keySub}, {"dlvrd", keyDlvrd}, {"stat", keyStat}, {"err", keyErr}, {"text", keyText}}
	dateKeys   = []keyWord{{"submit", keySubmitDate}, {"done", keyDoneDate}}
)

// matchReceiptKey reports which key s starts with, and the text after
// its colon.
func matchReceiptKey(s string) (receiptKey, string) {
	word := func(w string) (string, bool) {
		if hasPrefixFold(s, w) {
			return s[len(w):], true
		}
		return "", false
	}
	colon := func(rest string) (string, bool) {
		if strings.HasPrefix(rest, ":") {
			return rest[1:], true
		}
		return "", false
	}
	for _, c := range simpleKeys {
		if rest, ok := word(c.w); ok {
			if rest, ok := colon(rest); ok {
				return c.k, rest
			}
		}
	}
	// "submit date" and "done date", with any run of spaces or
	// underscores between the words, or none.
	for _, c := range dateKeys {
		rest, ok := word(c.w)
		if !ok {
			continue
		}
		rest = strings.TrimLeft(rest, " _")
		if hasPrefixFold(rest, "date") {
			if rest, ok := colon(rest[4:]); ok {
				return c.k, rest
			}
		}
	}
	return keyNone, s
}

// hasPrefixFold is strings.HasPrefix ignoring ASCII case only, so that
// Unicode folding (the Kelvin sign is a "k") cannot make a key.
func hasPrefixFold(s, prefix string) bool {
	if len(s) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		if lowerASCII(s[i]) != lowerASCII(prefix[i]) {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - ('a' - 'A')
		}
	}
	return string(b)
}

func tokenEnd(s string) int {
	if i := strings.IndexAny(s, " \t\r\n"); i >= 0 {
		return i
	}
	return len(s)
}

func receiptCount(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

func receiptDate(s string) time.Time {
	var layout string
	switch len(s) {
	case 10:
		layout = "0601021504"
	case 12:
		layout = "060102150405"
	default:
		return time.Time{}
	}
	t, err := time.Parse(layout, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// FormatReceipt writes r in the de-facto format, for the SMSC side. Dates
// have 10 digits (seconds are dropped), a zero date is written as ten
// zeros, an empty Err as "000". Text is written as given; by convention
// it holds at most the first 20 characters of the message.
func FormatReceipt(r Receipt) []byte {
	date := func(t time.Time) string {
		if t.IsZero() {
			return "0000000000"
		}
		return t.UTC().Format("0601021504")
	}
	errCode := r.Err
	if errCode == "" {
		errCode = "000"
	}
	return fmt.Appendf(nil, "id:%s sub:%03d dlvrd:%03d submit date:%s done date:%s stat:%s err:%s text:%s",
		r.ID, r.Sub, r.Dlvrd, date(r.SubmitDate), date(r.DoneDate), r.Stat, errCode, r.Text)
}
