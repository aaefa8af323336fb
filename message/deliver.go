package message

import (
	"context"
	"fmt"
	"strings"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/input"
	"github.com/trunkline/trunkline/plivoxml"
	"github.com/trunkline/trunkline/smpp/charset"
	"github.com/trunkline/trunkline/smpp/pdu"
)

// receiptKeys are the keys a receipt quoting an SMSC message id may find its segment
// under, its own first; a segment is stored under one, pdu.MessageIDKey of the id its
// submit got (see pdu.MessageIDKeys).
func receiptKeys(id string) []string { return pdu.MessageIDKeys(id) }

// exactIDs reports whether carrier is known to quote ids in receipts as it gave them.
func (s *Service) exactIDs(carrier string) bool {
	_, ok := s.exact.Load(carrier)
	return ok
}

// receiptState maps a receipt's stat to a segment state and Plivo error code; ok is false
// for intermediate states (ENROUTE, ACCEPTD), which change nothing.
func receiptState(stat string) (state, code string, ok bool) {
	switch strings.ToUpper(stat) {
	case "DELIVRD":
		return trunkline.MsgDelivered, "000", true
	case "EXPIRED":
		return trunkline.MsgUndelivered, ErrTemporary, true
	case "UNDELIV":
		return trunkline.MsgUndelivered, ErrPermanent, true
	case "REJECTD":
		return trunkline.MsgUndelivered, ErrProhibited, true
	case "DELETED", "UNKNOWN":
		return trunkline.MsgUndelivered, ErrUnknown, true
	}
	return "", "", false
}

// stateFromTLV maps the message_state TLV (used when the receipt text is missing).
func stateFromTLV(s pdu.MessageState) string {
	switch s {
	case pdu.StateDelivered:
		return "DELIVRD"
	case pdu.StateExpired:
		return "EXPIRED"
	case pdu.StateUndeliverable:
		return "UNDELIV"
	case pdu.StateRejected:
		return "REJECTD"
	case pdu.StateDeleted:
		return "DELETED"
	case pdu.StateUnknown:
		return "UNKNOWN"
	}
	return ""
}

// HandleDeliver takes a deliver_sm that carrier received: a delivery receipt or an
// inbound message. It returns the command_status to answer with: ESME_ROK once what it
// carries is durably stored, ESME_RX_T_APPN (try again) when storing failed — so the SMSC
// keeps it and nothing is lost — and ESME_RX_R_APPN for messages to numbers nobody rents.
func (s *Service) HandleDeliver(ctx context.Context, carrier string, d *pdu.DeliverSM) pdu.Status {
	if d.ESMClass&0x3C == pdu.ESMClassReceipt || d.ESMClass&0x3C == 0x08 /* SME ack */ {
		return s.handleReceipt(ctx, carrier, d)
	}
	return s.handleInbound(ctx, carrier, d)
}

// deliverStatus is the one mapping of a store error to the command_status of a
// deliver_sm: a missing number is permanent (nobody rents it), anything else is worth
// the SMSC's retry, so nothing it holds is lost.
func deliverStatus(err error) pdu.Status {
	switch trunkline.ErrorCode(err) {
	case "":
		return pdu.ESME_ROK
	case trunkline.ENOTFOUND:
		return pdu.ESME_RX_R_APPN
	}
	return pdu.ESME_RX_T_APPN
}

func (s *Service) handleReceipt(ctx context.Context, carrier string, d *pdu.DeliverSM) pdu.Status {
	var id, stat, errCode string
	if r, err := pdu.ParseReceipt(d.Message()); err == nil {
		id, stat, errCode = r.ID, r.Stat, r.Err
	}
	// The TLVs, when present, are authoritative (SMPP 3.4 §5.3.2.12, .35).
	if v, ok := d.TLVs.ReceiptedMessageID(); ok && v != "" {
		id = v
	}
	if v, ok := d.TLVs.MessageState(); ok {
		if st := stateFromTLV(v); st != "" {
			stat = st
		}
	}
	if id == "" {
		s.log.Warn("receipt without a message id", "carrier", carrier)
		return pdu.ESME_ROK // nothing to correlate; retrying would not help
	}
	state, code, final := receiptState(stat)
	if !final {
		return pdu.ESME_ROK
	}
	_ = errCode // the network error is carrier-specific; Plivo's code comes from the state
	keys := receiptKeys(id)
	// A digits-only id reads as decimal and as hex, so the keys of different messages
	// can meet (decimal "10" is hex "a", another submit's id). Once a carrier's receipts
	// have matched a submit by the id's own key, only that key is used for it, so an
	// early receipt can never be taken for another message.
	if s.exactIDs(carrier) {
		keys = keys[:1]
	}
	out, err := s.o.DB.ApplyReceipt(ctx, carrier, keys, state, code, true, s.statusCallback)
	if err != nil {
		s.log.Error("store receipt", "carrier", carrier, "err", err)
		return pdu.ESME_RX_T_APPN
	}
	if out.Exact {
		s.exact.Store(carrier, true)
	}
	if out.Final {
		s.o.Metrics.MessageState(out.Message.State)
	}
	return pdu.ESME_ROK
}

func (s *Service) handleInbound(ctx context.Context, carrier string, d *pdu.DeliverSM) pdu.Status {
	body := d.Message()
	coding := d.DataCoding
	src, dst := normalizeSender(d.SourceAddr), normalizeSender(d.DestinationAddr)
	// Concatenated: UDH (esm_class UDHI) or sar_* TLVs; join before anything else.
	key := carrier + "|" + src + "|" + dst
	if d.ESMClass&0x40 != 0 {
		ref, total, seq, rest, ok := charset.ParseUDH(body)
		if !ok {
			return pdu.ESME_RINVESMCLASS
		}
		whole, done := s.joiner.Add(key, ref, total, seq, rest)
		if !done {
			return pdu.ESME_ROK
		}
		body = whole
	} else if ref, total, seq, ok := d.TLVs.SAR(); ok && total > 1 {
		whole, done := s.joiner.Add(key, int(ref), int(total), int(seq), body)
		if !done {
			return pdu.ESME_ROK
		}
		body = whole
	}
	text, ok := charset.Decode(coding, body)
	if !ok {
		s.log.Warn("inbound message in an unsupported data_coding", "carrier", carrier, "coding", coding)
	}
	n, err := s.o.DB.NumberRentedBy(ctx, dst)
	if err != nil {
		return deliverStatus(err)
	}
	logIt, msgURL, method := true, "", "POST"
	if n.AppID != "" {
		if app, err := s.o.DB.Application(ctx, trunkline.Scope{AccountID: n.AccountID}, n.AppID); err == nil {
			logIt, msgURL, method = app.LogIncomingMessages, app.MessageURL, app.MessageMethod
		}
	}
	id := newMessageUUID()
	units := charset.Units(text)
	// A UCS-2, Latin-1 or IA5 text can carry NUL and other control characters; the
	// message was received, so they are replaced (U+FFFD) rather than refused: PostgreSQL
	// cannot store a NUL, and the application gets the text as it is stored.
	text = input.Scrub(text)
	m := &trunkline.Message{UUID: id, AccountID: n.AccountID, Direction: "inbound", Type: "sms", LogMode: trunkline.LogAll,
		From: src, To: dst, Body: text, Coding: int(coding), Units: units, State: trunkline.MsgReceived, Carrier: carrier,
		ExpiresAt: s.o.Now()}
	if !logIt {
		// log_incoming_messages=false: the text is not kept and the sender is masked.
		m.LogMode, m.From, m.Body = trunkline.LogNone, MaskNumber(src), trunkline.RedactedText
	}
	var cbs []*trunkline.Callback
	if msgURL != "" {
		// The application gets the real values; the outbox keeps them encrypted and
		// drops them once delivered.
		cb := s.callback(n.AccountID, "message_inbound", id, msgURL, method, map[string]string{
			"From": src, "To": dst, "Text": text, "Type": "sms", "MessageUUID": id, "Units": fmt.Sprint(units),
			"TotalRate": "0.00000", "TotalAmount": "0.00000", "MessageIntent": intent(text), "PowerpackUUID": "",
		})
		if cb != nil {
			cbs = append(cbs, cb)
		}
	}
	if err := s.o.DB.InsertMessages(ctx, []*trunkline.Message{m}, cbs); err != nil {
		s.log.Error("store inbound message", "carrier", carrier, "err", err)
		return pdu.ESME_RX_T_APPN
	}
	s.o.Metrics.MessageState(trunkline.MsgReceived)
	return pdu.ESME_ROK
}

// intent classifies opt-out/opt-in/help keywords as Plivo's MessageIntent does.
func intent(text string) string {
	switch strings.ToUpper(strings.TrimSpace(text)) {
	case "STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT":
		return "optout"
	case "START", "YES", "UNSTOP":
		return "optin"
	case "HELP", "INFO":
		return "help"
	}
	return ""
}

// replyFromXML sends the <Message> elements an application returned for an inbound
// message, from the account that owns the number.
func (s *Service) replyFromXML(ctx context.Context, c *trunkline.Callback, body []byte) {
	ms, err := plivoxml.ParseMessageResponse(body)
	if err != nil {
		s.log.Warn("message_url reply is not valid Plivo XML; no reply sent", "message_uuid", c.ObjectID, "err", err)
		return
	}
	for _, x := range ms {
		src := normalizeSender(x.Src)
		var dsts []string
		for _, d := range strings.Split(x.Dst, "<") {
			if d = normalizeSender(d); d != "" {
				dsts = append(dsts, d)
			}
		}
		// Queue applies the source rule: a src the account may not use is stored as a
		// failed message (error 40) and nothing goes out.
		acc, err := s.Queue(ctx, trunkline.SendRequest{AccountID: c.AccountID, Src: src, Dsts: dsts, Text: x.Text, LogMode: trunkline.LogAll,
			URL: x.CallbackURL, Method: x.CallbackMethod})
		if err != nil {
			s.log.Error("send reply message", "message_uuid", c.ObjectID, "err", err)
		} else if acc.Refused != "" {
			s.log.Warn("reply Message not sent: its src is refused", "message_uuid", c.ObjectID, "reason", acc.Refused)
		}
	}
}
