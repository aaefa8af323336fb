package api

import (
	"net/http"
	"strings"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/number"
)

// normalizeNumber accepts an E.164 number with or without "+" and returns its digits.
func normalizeNumber(v string) (string, error) {
	n, ok := number.Parse(v)
	if !ok {
		return "", badRequest("invalid number: use E.164 digits, e.g. 14155550100")
	}
	return n, nil
}

func services(p Params) ([]string, error) {
	var out []string
	for _, v := range p["services"] {
		for _, s := range strings.Split(v, ",") {
			s = strings.ToLower(strings.TrimSpace(s))
			switch s {
			case "":
			case "voice", "sms", "mms":
				out = append(out, s)
			default:
				return nil, badRequest("services must list voice, sms or mms")
			}
		}
	}
	return out, nil
}

func (s *Server) searchNumbers(r *request) (int, map[string]any, error) {
	limit, offset, err := r.page()
	if err != nil {
		return 0, nil, err
	}
	country := strings.ToUpper(r.p.Get("country_iso"))
	if !number.ValidCountry(country) {
		return 0, nil, badRequest("country_iso is required: a two-letter ISO country code such as US")
	}
	typ := strings.ToLower(r.p.Get("type"))
	if typ != "" && !number.ValidType(typ) {
		return 0, nil, badRequest("type must be one of local, mobile, tollfree, fixed, national, any")
	}
	pattern := r.p.Get("pattern")
	if !number.ValidPattern(pattern) {
		return 0, nil, badRequest("pattern must be digits")
	}
	svc, err := services(r.p)
	if err != nil {
		return 0, nil, err
	}
	ns, total, err := s.opts.Numbers.Search(r.Context(), trunkline.NumberSearch{CountryISO: country, Type: typ, Pattern: pattern,
		Region: r.p.Get("region"), Services: svc, Limit: limit, Offset: offset})
	if err != nil {
		return 0, nil, err
	}
	objs := make([]map[string]any, len(ns))
	for i, n := range ns {
		objs[i] = map[string]any{
			"number":              n.Number,
			"prefix":              n.Prefix,
			"country":             n.CountryISO,
			"region":              n.Region,
			"type":                n.Type,
			"monthly_rental_rate": n.MonthlyRentalRate,
			"setup_rate":          n.SetupRate,
			"sms_enabled":         n.SMSEnabled,
			"sms_rate":            n.SMSRate,
			"voice_enabled":       n.VoiceEnabled,
			"voice_rate":          n.VoiceRate,
			"mms_enabled":         n.MMSEnabled,
			"restriction":         nil,
			"resource_uri":        r.uri("PhoneNumber/" + n.Number + "/"),
		}
	}
	return http.StatusOK, r.listBody("PhoneNumber/", limit, offset, total, objs), nil
}

func (s *Server) rentNumber(r *request) (int, map[string]any, error) {
	n, err := normalizeNumber(r.vars["number"])
	if err != nil {
		return 0, nil, err
	}
	if _, err := s.opts.Numbers.Rent(r.Context(), r.acct, n, r.p.Get("app_id")); err != nil {
		return 0, nil, err
	}
	r.objectID = n
	return http.StatusCreated, map[string]any{
		"message": "created", "status": "fulfilled",
		"numbers": []map[string]any{{"number": n, "status": "Success"}},
	}, nil
}

func (s *Server) numberObject(r *request, n *trunkline.Number) map[string]any {
	var app, sub any
	if n.AppID != "" {
		app = r.uri("Application/" + n.AppID + "/")
	}
	if n.AccountID != r.acct.ID { // see appObject
		sub = r.uri("Subaccount/" + n.AccountID + "/")
	}
	var added, renewal any
	if n.RentedAt != nil {
		added = n.RentedAt.Format(dateLayout)
	}
	if n.RenewalAt != nil {
		renewal = n.RenewalAt.Format(dateLayout)
	}
	return map[string]any{
		"active":              true,
		"added_on":            added,
		"alias":               n.Alias,
		"application":         app,
		"carrier":             n.Carrier,
		"country":             n.CountryISO,
		"monthly_rental_rate": n.MonthlyRentalRate,
		"mms_enabled":         n.MMSEnabled,
		"number":              n.Number,
		"number_type":         n.Type,
		"region":              n.Region,
		"renewal_date":        renewal,
		"resource_uri":        r.uri("Number/" + n.Number + "/"),
		"sms_enabled":         n.SMSEnabled,
		"sms_rate":            n.SMSRate,
		"sub_account":         sub,
		"voice_enabled":       n.VoiceEnabled,
		"voice_rate":          n.VoiceRate,
	}
}

func (s *Server) listNumbers(r *request) (int, map[string]any, error) {
	limit, offset, err := r.page()
	if err != nil {
		return 0, nil, err
	}
	svc, err := services(r.p)
	if err != nil {
		return 0, nil, err
	}
	prefix := strings.TrimPrefix(r.p.Get("number_startswith"), "+")
	if strings.Trim(prefix, "0123456789") != "" || len(prefix) > 15 {
		return 0, nil, badRequest("number_startswith must be digits")
	}
	ns, total, err := s.opts.Numbers.List(r.Context(), r.scope(), trunkline.RentedFilter{Type: strings.ToLower(r.p.Get("type")),
		NumberStartsWith: prefix, Subaccount: r.p.Get("subaccount"), Alias: r.p.Get("alias"), Services: svc, Limit: limit, Offset: offset})
	if err != nil {
		return 0, nil, err
	}
	objs := make([]map[string]any, len(ns))
	for i, n := range ns {
		objs[i] = s.numberObject(r, n)
	}
	return http.StatusOK, r.listBody("Number/", limit, offset, total, objs), nil
}

func (s *Server) getNumber(r *request) (int, map[string]any, error) {
	num, err := normalizeNumber(r.vars["number"])
	if err != nil {
		return 0, nil, errNotFound
	}
	n, err := s.opts.Numbers.Get(r.Context(), r.scope(), num)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, s.numberObject(r, n), nil
}

func (s *Server) updateNumber(r *request) (int, map[string]any, error) {
	num, err := normalizeNumber(r.vars["number"])
	if err != nil {
		return 0, nil, errNotFound
	}
	var owner string
	if r.p.Has("subaccount") {
		if owner, err = s.ownerFor(r); err != nil {
			return 0, nil, err
		}
	}
	alias, err := r.p.StrPtr("alias", 256)
	if err != nil {
		return 0, nil, err
	}
	c := number.Change{Alias: alias, Owner: owner}
	if r.p.Has("app_id") {
		appID := r.p.Get("app_id")
		if appID == "null" {
			appID = ""
		}
		c.AppID = &appID
	}
	if _, err := s.opts.Numbers.Update(r.Context(), r.scope(), num, c); err != nil {
		return 0, nil, err
	}
	return http.StatusAccepted, map[string]any{"message": "changed"}, nil
}

func (s *Server) unrentNumber(r *request) (int, map[string]any, error) {
	num, err := normalizeNumber(r.vars["number"])
	if err != nil {
		return 0, nil, errNotFound
	}
	if err := s.opts.Numbers.Unrent(r.Context(), r.scope(), num); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}
