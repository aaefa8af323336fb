package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/callerid"
	"github.com/trunkline/trunkline/message"
	"github.com/trunkline/trunkline/smpp/charset"
)

// Messages is the SMS service as the API uses it.
type Messages interface {
	Send(ctx context.Context, r message.Request) (*message.Accepted, error)
}

var messageParams = []string{"src", "dst", "text", "type", "url", "method", "log", "message_expiry", "trackable",
	"powerpack_uuid", "media_urls", "media_ids", "dlt_entity_id", "dlt_template_id", "dlt_template_category"}

// maxDestinations bounds one request's fan-out (Plivo: up to 1000 with "<").
const maxDestinations = 1000

func (s *Server) sendMessage(r *request) (int, map[string]any, error) {
	p := r.p
	switch t := strings.ToLower(p.Get("type")); t {
	case "", "sms":
	default:
		return 0, nil, badRequest("type " + safeName(t) + " is not supported: only sms")
	}
	if p.Has("powerpack_uuid") && p.Get("powerpack_uuid") != "" {
		return 0, nil, badRequest("powerpack_uuid is not supported: give src")
	}
	if len(p["media_urls"]) > 0 || len(p["media_ids"]) > 0 {
		return 0, nil, badRequest("media_urls are for mms, which is not supported")
	}
	src := strings.TrimPrefix(strings.TrimSpace(p.Get("src")), "+")
	if src == "" {
		return 0, nil, badRequest("src is required")
	}
	if err := s.checkCallerID(r, src, callerid.SMS); err != nil {
		return 0, nil, err
	}
	var dsts []string
	seen := map[string]bool{}
	for _, d := range strings.Split(p.Get("dst"), "<") {
		d = strings.TrimSpace(d)
		if d == "" {
			continue
		}
		n, err := normalizeNumber(d)
		if err != nil {
			return 0, nil, badRequest("dst " + safeName(d) + " is not a valid number: use E.164 digits")
		}
		if n == src {
			return 0, nil, badRequest("src and dst must differ")
		}
		if !seen[n] {
			seen[n] = true
			dsts = append(dsts, n)
		}
	}
	if len(dsts) == 0 {
		return 0, nil, badRequest("dst is required")
	}
	if len(dsts) > maxDestinations {
		return 0, nil, badRequest("dst lists more than 1000 numbers")
	}
	text := p.Get("text")
	if strings.TrimSpace(text) == "" {
		return 0, nil, badRequest("text is required")
	}
	coding, n := charset.Length(text)
	limit := 1600
	if coding == charset.UCS2 {
		limit = 737 // UCS-2 code units (Plivo: 737 characters; an emoji's surrogate pair counts two)
	}
	if n > limit || utf8.RuneCountInString(text) > 1600 {
		return 0, nil, badRequest("text is too long: at most 1600 GSM characters or 737 Unicode characters")
	}
	logMode := message.LogAll
	if p.Has("log") {
		switch v := strings.ToLower(p.Get("log")); v {
		case "true", "1":
			logMode = message.LogAll
		case "false", "0":
			logMode = message.LogNone
		case "number_only", "content_only":
			logMode = v
		default:
			return 0, nil, badRequest("log must be true, false, number_only or content_only")
		}
	}
	url, method := p.Get("url"), "POST"
	if url != "" {
		if err := checkURL("url", url); err != nil {
			return 0, nil, err
		}
	}
	if p.Has("method") {
		m, err := checkMethod("method", p.Get("method"))
		if err != nil {
			return 0, nil, err
		}
		method = m
	}
	expiry, err := p.Int("message_expiry", 0, 5, 10800)
	if err != nil {
		return 0, nil, err
	}
	if _, err := p.Bool("trackable", false); err != nil {
		return 0, nil, err
	}
	if s.opts.Messages == nil {
		return 0, nil, &Error{Status: http.StatusServiceUnavailable, Msg: "messaging is not enabled on this server"}
	}
	acc, err := s.opts.Messages.Send(r.Context(), message.Request{AccountID: r.acct.ID, Src: src, Dsts: dsts, Text: text,
		LogMode: logMode, URL: url, Method: method, Expiry: time.Duration(expiry) * time.Second, RequesterIP: r.source})
	if err != nil {
		return 0, nil, err
	}
	r.objectType, r.objectID = "message", acc.UUIDs[0]
	r.detail = map[string]string{"count": strconv.Itoa(len(acc.UUIDs)), "log": logMode}
	return http.StatusAccepted, map[string]any{"message": "message(s) queued", "message_uuid": acc.UUIDs}, nil
}

func isAllDigits(s string) bool { return callerid.IsNumber(s) }

// checkCallerID asks the one source rule (package callerid) whether the account may send
// or call from src; a refusal is a 400 that says why.
func (s *Server) checkCallerID(r *request, src string, use callerid.Use) error {
	err := s.opts.CallerIDs.Check(r.Context(), r.acct.ID, src, use)
	var refused *callerid.Refused
	if errors.As(err, &refused) {
		return badRequest(refused.Reason)
	}
	return err
}

func plivoDateTime(t time.Time) string { return t.UTC().Format(dateTimeLayout) }

func (s *Server) messageObject(r *request, m *trunkline.Message) map[string]any {
	var code, sent any
	if m.ErrorCode != "" {
		code = m.ErrorCode
	}
	if m.SentAt != nil {
		sent = plivoDateTime(*m.SentAt)
	}
	return map[string]any{
		"error_code":           code,
		"error_message":        errorMessages[m.ErrorCode],
		"from_number":          m.From,
		"log":                  m.LogMode,
		"message_direction":    m.Direction,
		"message_state":        m.State,
		"message_time":         plivoDateTime(m.CreatedAt),
		"message_sent_time":    sent,
		"message_updated_time": plivoDateTime(m.UpdatedAt),
		"message_type":         m.Type,
		"message_uuid":         m.UUID,
		"powerpack_id":         nil,
		"requester_ip":         m.RequesterIP,
		"resource_uri":         r.uri("Message/" + m.UUID + "/"),
		"to_number":            m.To,
		"total_amount":         "0.00000",
		"total_rate":           "0.00000",
		"units":                m.Units,
	}
}

var errorMessages = map[string]any{
	"": nil, "000": nil, "10": "Invalid message", "20": "Network error", "30": "Spam detected",
	"40": "Invalid source number", "50": "Invalid destination number", "60": "Loop detected",
	"70": "Destination permanently unavailable", "80": "Destination temporarily unavailable",
	"90": "No route available", "100": "Prohibited by carrier", "110": "Message too long",
	"420": "Message expired", "1000": "Unknown error",
}

func (s *Server) getMessage(r *request) (int, map[string]any, error) {
	m, err := s.opts.DB.Message(r.Context(), r.scope(), r.vars["message_uuid"])
	if err != nil {
		return 0, nil, err
	}
	obj := s.messageObject(r, m)
	// Our extension: every carrier attempt of the message, so failovers are visible.
	attempts, err := s.opts.DB.MessageAttempts(r.Context(), m.UUID)
	if err != nil {
		return 0, nil, err
	}
	list := make([]map[string]any, len(attempts))
	for i, a := range attempts {
		list[i] = map[string]any{"carrier": a.Carrier, "status": a.Status, "latency_ms": float64(a.Latency.Microseconds()) / 1000,
			"time": plivoDateTime(a.At)}
	}
	obj["carrier_attempts"] = list
	return http.StatusOK, obj, nil
}

func (s *Server) listMessages(r *request) (int, map[string]any, error) {
	limit, offset, err := r.page()
	if err != nil {
		return 0, nil, err
	}
	p := r.p
	f := trunkline.MessageFilter{Subaccount: p.Get("subaccount"), Direction: p.Get("message_direction"), State: p.Get("message_state"),
		Type: p.Get("message_type"), ErrorCode: p.Get("error_code"), From: strings.TrimPrefix(p.Get("from_number"), "+"),
		To: strings.TrimPrefix(p.Get("to_number"), "+"), Limit: limit, Offset: offset}
	if f.Direction != "" && f.Direction != "inbound" && f.Direction != "outbound" {
		return 0, nil, badRequest("message_direction must be inbound or outbound")
	}
	if f.Since, f.Until, err = p.timeRange("message_time"); err != nil {
		return 0, nil, err
	}
	if v := p.Get("message_time"); v != "" { // an exact time: that second
		t, err := parseFilterTime("message_time", v)
		if err != nil {
			return 0, nil, err
		}
		f.Since, f.Until = t, t.Add(time.Second)
	}
	ms, total, err := s.opts.DB.ListMessages(r.Context(), r.scope(), f)
	if err != nil {
		return 0, nil, err
	}
	objs := make([]map[string]any, len(ms))
	for i, m := range ms {
		objs[i] = s.messageObject(r, m)
	}
	return http.StatusOK, r.listBody("Message/", limit, offset, total, objs), nil
}
