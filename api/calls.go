package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/trunkline/trunkline"
)

// Call detail records (CDRs): completed calls, as Plivo's Call API lists them. With
// ?status=live|queued the same routes list calls in progress (callcontrol.go).

var callListParams = []string{"subaccount", "call_direction", "from_number", "to_number", "parent_call_uuid",
	"bill_duration", "bill_duration__gt", "bill_duration__gte", "bill_duration__lt", "bill_duration__lte",
	"end_time", "end_time__gt", "end_time__gte", "end_time__lt", "end_time__lte",
	"hangup_cause_code", "hangup_source", "status", "limit", "offset"}

// Plivo's CDR search window: the last 7 days unless end_time says otherwise, and never
// more than 30 days at once.
const (
	defaultCallWindow = 7 * 24 * time.Hour
	maxCallWindow     = 30 * 24 * time.Hour
)

// checkStatus: ?status= selects live or queued calls instead of CDRs.
func checkStatus(p Params) error {
	switch p.Get("status") {
	case "live", "queued":
		return nil
	}
	return badRequest("status must be live or queued; leave it out for call detail records")
}

func (s *Server) getCall(r *request) (int, map[string]any, error) {
	if r.p.Has("status") {
		if err := checkStatus(r.p); err != nil {
			return 0, nil, err
		}
		return s.liveCall(r)
	}
	c, err := s.opts.DB.GetCall(r.Context(), r.scope(), r.vars["call_uuid"])
	if err != nil {
		return 0, nil, err
	}
	// A call still ringing or in progress has no CDR yet (Plivo serves it with
	// ?status=live), so it is not found here.
	if c.State != trunkline.CallCompleted {
		return 0, nil, errNotFound
	}
	return http.StatusOK, s.callObject(r, c), nil
}

func (s *Server) listCalls(r *request) (int, map[string]any, error) {
	if r.p.Has("status") {
		if err := checkStatus(r.p); err != nil {
			return 0, nil, err
		}
		return s.liveCalls(r)
	}
	limit, offset, err := r.page()
	if err != nil {
		return 0, nil, err
	}
	p := r.p
	f := trunkline.CallFilter{Subaccount: p.Get("subaccount"), Direction: p.Get("call_direction"),
		From: strings.TrimPrefix(p.Get("from_number"), "+"), To: strings.TrimPrefix(p.Get("to_number"), "+"),
		ParentUUID: p.Get("parent_call_uuid"), HangupSource: p.Get("hangup_source"), Limit: limit, Offset: offset}
	if f.Direction != "" && f.Direction != "inbound" && f.Direction != "outbound" {
		return 0, nil, badRequest("call_direction must be inbound or outbound")
	}
	if p.Get("hangup_cause_code") != "" {
		code, err := p.Int("hangup_cause_code", 0, 0, 99999)
		if err != nil {
			return 0, nil, err
		}
		f.HangupCauseCode = &code
	}
	if f.BillDurationMin, f.BillDurationMax, err = billDurationRange(p); err != nil {
		return 0, nil, err
	}
	if f.EndFrom, f.EndTo, err = endTimeWindow(p, s.opts.Now()); err != nil {
		return 0, nil, err
	}
	calls, total, err := s.opts.DB.ListCalls(r.Context(), r.scope(), f)
	if err != nil {
		return 0, nil, err
	}
	objs := make([]map[string]any, len(calls))
	for i, c := range calls {
		objs[i] = s.callObject(r, c)
	}
	return http.StatusOK, r.listBody("Call/", limit, offset, total, objs), nil
}

// billDurationRange reads bill_duration and its __gt/__gte/__lt/__lte forms as inclusive
// bounds (durations are whole seconds, so > n is >= n+1). Several bounds narrow together.
func billDurationRange(p Params) (lo, hi *int, err error) {
	const maxSecs = 1 << 30
	tighten := func(dst **int, v int, lower bool) {
		if *dst == nil || (lower && v > **dst) || (!lower && v < **dst) {
			*dst = &v
		}
	}
	for _, b := range []struct {
		suffix string
		shift  int
		lower  bool
		upper  bool
	}{{"", 0, true, true}, {"__gt", 1, true, false}, {"__gte", 0, true, false}, {"__lt", -1, false, true}, {"__lte", 0, false, true}} {
		name := "bill_duration" + b.suffix
		if p.Get(name) == "" {
			continue
		}
		v, err := p.Int(name, 0, 0, maxSecs)
		if err != nil {
			return nil, nil, err
		}
		if b.lower {
			tighten(&lo, v+b.shift, true)
		}
		if b.upper {
			tighten(&hi, v+b.shift, false)
		}
	}
	return lo, hi, nil
}

// endTimeWindow reads end_time (an exact time: the second, minute or day it names, by
// its precision) or its __gt/__gte/__lt/__lte forms as a half-open window. Plivo's
// rules: no end_time filter means the last 7 days; a window may span at most 30 days.
// With only an upper bound the window is the 7 days before it; with only a lower bound it
// runs to now (so a lower bound more than 30 days back is refused).
func endTimeWindow(p Params, now time.Time) (from, to time.Time, err error) {
	if v := p.Get("end_time"); v != "" {
		t, unit, err := parseExactTime("end_time", v)
		if err != nil {
			return time.Time{}, time.Time{}, err
		}
		return t, t.Add(unit), nil
	}
	if from, to, err = p.timeRange("end_time"); err != nil {
		return time.Time{}, time.Time{}, err
	}
	switch {
	case from.IsZero() && to.IsZero():
		return now.Add(-defaultCallWindow), time.Time{}, nil
	case from.IsZero():
		from = to.Add(-defaultCallWindow)
	case to.IsZero():
		if now.Sub(from) > maxCallWindow {
			return time.Time{}, time.Time{}, badRequest("end_time filters may span at most 30 days: this one runs from " +
				from.UTC().Format("2006-01-02 15:04:05") + " to now; add end_time__lt or end_time__lte")
		}
		return from, time.Time{}, nil
	}
	// Strict and inclusive bounds shift the ends by 1 µs (timeRange): a span of exactly
	// 30 days written with __gte and __lte is allowed.
	if to.Sub(from) > maxCallWindow+time.Microsecond {
		return time.Time{}, time.Time{}, badRequest("end_time filters may span at most 30 days")
	}
	return from, to, nil
}

// parseExactTime reads an exact-time filter and the span it covers: a date names a day,
// "YYYY-MM-DD HH:MM" a minute, with seconds a second, with a fraction one microsecond.
func parseExactTime(name, v string) (time.Time, time.Duration, error) {
	t, err := parseFilterTime(name, v)
	if err != nil {
		return time.Time{}, 0, err
	}
	switch {
	case strings.Contains(v, "."):
		return t, time.Microsecond, nil
	case len(v) == len("2006-01-02"):
		return t, 24 * time.Hour, nil
	case len(v) == len("2006-01-02 15:04"):
		return t, time.Minute, nil
	}
	return t, time.Second, nil
}

// callState is Plivo's CDR call_state. Plivo documents "ANSWER" for answered calls (its
// CDR samples); the values for calls never answered are not documented in what we have
// read, so these follow the same spelling: BUSY (busy or rejected), NOANSWER (no answer,
// ring timeout, canceled), FAILED (anything else).
func callState(c *trunkline.Call) string {
	if c.AnsweredAt != nil {
		return "ANSWER"
	}
	name := strings.ToLower(c.HangupCauseName)
	switch {
	case strings.Contains(name, "busy") || strings.Contains(name, "reject"):
		return "BUSY"
	case strings.Contains(name, "no answer") || strings.Contains(name, "timeout") || strings.Contains(name, "cancel") ||
		(c.HangupCauseCode >= 1000 && c.HangupCauseCode < 2000): // Plivo's 1xxx codes are cancellations
		return "NOANSWER"
	}
	return "FAILED"
}

func optTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return plivoDateTime(*t)
}

func optString(v string) any {
	if v == "" {
		return nil
	}
	return v
}

func (s *Server) callObject(r *request, c *trunkline.Call) map[string]any {
	// trunk_attempts (our extension): the trunks an outbound call tried, in order.
	attempts := []any{}
	if c.Attempts != "" {
		json.Unmarshal([]byte(c.Attempts), &attempts)
	}
	return map[string]any{
		"trunk_attempts": attempts,
		"answer_time":    optTime(c.AnsweredAt),
		"bill_duration":  c.BillDuration,
		// Plivo rounds billed_duration up to the rate's billing increment; there are no
		// rates yet, so it is the bill duration itself.
		"billed_duration":   c.BillDuration,
		"call_direction":    c.Direction,
		"call_duration":     c.Duration,
		"call_state":        callState(c),
		"call_uuid":         c.UUID,
		"conference_uuid":   nil,
		"end_time":          optTime(c.EndedAt),
		"from_number":       c.From,
		"hangup_cause_code": c.HangupCauseCode,
		"hangup_cause_name": c.HangupCauseName,
		"hangup_source":     c.HangupSource,
		// Our extension: why the call ended, in plain words.
		"hangup_reason":    c.HangupReason,
		"initiation_time":  plivoDateTime(c.InitiatedAt),
		"parent_call_uuid": optString(c.ParentUUID),
		"resource_uri":     r.uri("Call/" + c.UUID + "/"),
		"to_number":        c.To,
		"total_amount":     "0.00000",
		"total_rate":       "0.00000",
	}
}
