package api

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/trunkline/trunkline"
)

var messageParams = []string{"src", "dst", "text", "type", "url", "method", "log", "message_expiry", "trackable",
	"powerpack_uuid", "media_urls", "media_ids", "dlt_entity_id", "dlt_template_id", "dlt_template_category"}

func (s *Server) sendMessage(r *request) (int, map[string]any, error) {
	if s.opts.Messages == nil {
		return 0, nil, &Error{Status: http.StatusServiceUnavailable, Msg: "messaging is not enabled on this server"}
	}
	p := r.p
	d := trunkline.MessageDraft{AccountID: r.acct.ID, RequesterIP: r.source, Type: p.Get("type"), PowerpackUUID: p.Get("powerpack_uuid"),
		Media: len(p["media_urls"]) > 0 || len(p["media_ids"]) > 0, Src: p.Get("src"), Dst: p.Get("dst"), Text: p.Get("text"),
		URL: p.Get("url"), Expiry: p.Get("message_expiry"), Trackable: p.Get("trackable")}
	if p.Has("log") {
		d.Log = ptr(p.Get("log"))
	}
	if p.Has("method") {
		d.Method = ptr(p.Get("method"))
	}
	// The audit entry is stored with the messages (one commit for both).
	d.Audit = func(acc *trunkline.MessageAccepted) (trunkline.AuditBuild, error) {
		r.objectType, r.objectID = "message", acc.UUIDs[0]
		r.detail = map[string]string{"count": strconv.Itoa(len(acc.UUIDs)), "log": acc.LogMode}
		return s.auditWith(r, http.StatusAccepted)
	}
	acc, err := s.opts.Messages.Send(r.Context(), d)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusAccepted, map[string]any{"message": "message(s) queued", "message_uuid": acc.UUIDs}, nil
}

func ptr[T any](v T) *T { return &v }

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
