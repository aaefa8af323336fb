package api

import (
	"net/http"
	"time"

	"github.com/trunkline/trunkline/audit"
)

// Time forms accepted in filters: Plivo's "YYYY-MM-DD HH:MM[:ss[.uuuuuu]]" (UTC) and RFC 3339.
var filterLayouts = []string{"2006-01-02 15:04:05.999999", "2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02", time.RFC3339Nano}

func parseFilterTime(name, v string) (time.Time, error) {
	for _, l := range filterLayouts {
		if t, err := time.ParseInLocation(l, v, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, badRequest(name + " must be a time like 2026-01-31 13:45[:05] (UTC) or RFC 3339")
}

// timeRange reads the filters field__gte, __gt, __lt and __lte (Plivo's convention) as a
// half-open range [from, to); zero times leave a side open. Strict bounds shift by 1 µs,
// the stores' time resolution.
func (p Params) timeRange(field string) (from, to time.Time, err error) {
	for _, b := range []struct {
		suffix string
		dst    *time.Time
		add    time.Duration
	}{{"__gte", &from, 0}, {"__gt", &from, time.Microsecond}, {"__lt", &to, 0}, {"__lte", &to, time.Microsecond}} {
		if v := p.Get(field + b.suffix); v != "" {
			t, err := parseFilterTime(field+b.suffix, v)
			if err != nil {
				return time.Time{}, time.Time{}, err
			}
			*b.dst = t.Add(b.add)
		}
	}
	return from, to, nil
}

// listAudit serves the caller's own audit entries (a main account also sees its
// subaccounts'), newest first, filterable by time and action.
func (s *Server) listAudit(r *request) (int, map[string]any, error) {
	limit, offset, err := r.page()
	if err != nil {
		return 0, nil, err
	}
	ids := []string{r.acct.ID}
	if !r.acct.IsSub() {
		subs, err := s.opts.DB.SubaccountIDs(r.Context(), r.acct.ID)
		if err != nil {
			return 0, nil, err
		}
		ids = append(ids, subs...)
	}
	if sub := r.p.Get("subaccount"); sub != "" {
		found := false
		for _, id := range ids {
			found = found || id == sub
		}
		if !found {
			return 0, nil, badRequest("subaccount must be one of your subaccounts")
		}
		ids = []string{sub}
	}
	f := audit.Filter{AccountIDs: ids, Action: r.p.Get("action"), Limit: limit, Offset: offset}
	if f.From, f.To, err = r.p.timeRange("time"); err != nil {
		return 0, nil, err
	}
	recs, total, err := s.opts.Audit.List(r.Context(), f)
	if err != nil {
		return 0, nil, err
	}
	objs := make([]map[string]any, len(recs))
	for i, e := range recs {
		detail := e.Detail
		if detail == nil {
			detail = map[string]string{}
		}
		objs[i] = map[string]any{
			"seq":           e.Seq,
			"time":          e.At.UTC().Format("2006-01-02 15:04:05.000000"),
			"account_id":    e.AccountID,
			"actor":         e.Actor,
			"credential_id": e.CredentialID,
			"action":        e.Action,
			"object_type":   e.ObjectType,
			"object_id":     e.ObjectID,
			"source":        e.Source,
			"outcome":       e.Outcome,
			"detail":        detail,
			"node":          e.Node,
		}
	}
	return http.StatusOK, r.listBody("AuditLog/", limit, offset, total, objs), nil
}
