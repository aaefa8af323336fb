package api

import (
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/account"
)

var appParams = []string{"app_name", "answer_url", "answer_method", "hangup_url", "hangup_method", "fallback_answer_url",
	"fallback_method", "message_url", "message_method", "default_number_app", "default_endpoint_app", "subaccount",
	"log_incoming_messages", "public_uri", "enabled"}

var appNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)

// checkURL accepts an absolute http(s) URL without user info. Where it points is checked
// again when it is called (the webhook client's SSRF guard dials only allowed addresses).
func checkURL(name, v string) error {
	if len(v) > 2048 {
		return badRequest(name + " is too long (at most 2048 characters)")
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return badRequest(name + " must be an absolute http or https URL")
	}
	if u.User != nil {
		return badRequest(name + " must not contain a user name or password")
	}
	return nil
}

func checkMethod(name, v string) (string, error) {
	m := strings.ToUpper(v)
	if m != "GET" && m != "POST" {
		return "", badRequest(name + " must be GET or POST")
	}
	return m, nil
}

// applyAppParams copies sent parameters onto a, validating each.
func applyAppParams(p Params, a *trunkline.Application) error {
	if p.Has("app_name") {
		if !appNameRE.MatchString(p.Get("app_name")) {
			return badRequest("app_name must be 1 to 255 letters, digits, '_' or '-'")
		}
		a.Name = p.Get("app_name")
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"answer_url", &a.AnswerURL}, {"hangup_url", &a.HangupURL}, {"fallback_answer_url", &a.FallbackAnswerURL}, {"message_url", &a.MessageURL}} {
		if !p.Has(f.name) {
			continue
		}
		v := p.Get(f.name)
		if v != "" {
			if err := checkURL(f.name, v); err != nil {
				return err
			}
		}
		*f.dst = v
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"answer_method", &a.AnswerMethod}, {"hangup_method", &a.HangupMethod}, {"fallback_method", &a.FallbackMethod}, {"message_method", &a.MessageMethod}} {
		if p.Has(f.name) {
			m, err := checkMethod(f.name, p.Get(f.name))
			if err != nil {
				return err
			}
			*f.dst = m
		}
	}
	for _, f := range []struct {
		name string
		dst  *bool
	}{{"default_number_app", &a.DefaultNumberApp}, {"default_endpoint_app", &a.DefaultEndpointApp},
		{"log_incoming_messages", &a.LogIncomingMessages}, {"public_uri", &a.PublicURI}, {"enabled", &a.Enabled}} {
		v, err := p.Bool(f.name, *f.dst)
		if err != nil {
			return err
		}
		*f.dst = v
	}
	return nil
}

// ownerFor resolves the optional subaccount parameter: main accounts may place objects
// in one of their subaccounts; the caller's own account otherwise.
func (s *Server) ownerFor(r *request) (string, error) {
	sub := r.p.Get("subaccount")
	if sub == "" {
		return r.acct.ID, nil
	}
	if r.acct.IsSub() {
		if sub == r.acct.ID {
			return sub, nil
		}
		return "", badRequest("subaccount must be one of your subaccounts")
	}
	sa, err := s.opts.DB.Account(r.Context(), sub)
	if errors.Is(err, trunkline.ErrNotFound) || (err == nil && sa.ParentID != r.acct.ID) {
		return "", badRequest("subaccount must be one of your subaccounts")
	}
	if err != nil {
		return "", err
	}
	return sa.ID, nil
}

func (s *Server) appObject(r *request, a *trunkline.Application) map[string]any {
	// Only a main account sees objects that are not its own (its subaccounts'); to a
	// subaccount its objects are simply its own, and the parent's Auth ID is not shown.
	var sub any
	if a.AccountID != r.acct.ID {
		sub = r.uri("Subaccount/" + a.AccountID + "/")
	}
	return map[string]any{
		"answer_method":         a.AnswerMethod,
		"answer_url":            a.AnswerURL,
		"app_id":                a.ID,
		"app_name":              a.Name,
		"default_app":           a.DefaultNumberApp,
		"default_number_app":    a.DefaultNumberApp,
		"default_endpoint_app":  a.DefaultEndpointApp,
		"enabled":               a.Enabled,
		"fallback_answer_url":   a.FallbackAnswerURL,
		"fallback_method":       a.FallbackMethod,
		"hangup_method":         a.HangupMethod,
		"hangup_url":            a.HangupURL,
		"log_incoming_messages": a.LogIncomingMessages,
		"message_method":        a.MessageMethod,
		"message_url":           a.MessageURL,
		"public_uri":            a.PublicURI,
		"resource_uri":          r.uri("Application/" + a.ID + "/"),
		"sip_uri":               "sip:" + a.ID + "@" + s.opts.SIPDomain,
		"sub_account":           sub,
	}
}

func (s *Server) createApplication(r *request) (int, map[string]any, error) {
	if !r.p.Has("app_name") {
		return 0, nil, badRequest("app_name is required")
	}
	owner, err := s.ownerFor(r)
	if err != nil {
		return 0, nil, err
	}
	a := &trunkline.Application{ID: account.NewNumericID(17), AccountID: owner, AnswerMethod: "POST", HangupMethod: "POST",
		FallbackMethod: "POST", MessageMethod: "POST", LogIncomingMessages: true, Enabled: true}
	if err := applyAppParams(r.p, a); err != nil {
		return 0, nil, err
	}
	// Plivo requires answer_url; a messaging-only application has message_url instead.
	if a.AnswerURL == "" && a.MessageURL == "" {
		return 0, nil, badRequest("answer_url is required (or message_url for a messaging application)")
	}
	if a.HangupURL == "" && !r.p.Has("hangup_url") {
		a.HangupURL = a.AnswerURL
	}
	if err := s.opts.DB.CreateApplication(r.Context(), a); err != nil {
		return 0, nil, err
	}
	r.objectID = a.ID
	return http.StatusCreated, map[string]any{"app_id": a.ID, "message": "created"}, nil
}

func (s *Server) listApplications(r *request) (int, map[string]any, error) {
	limit, offset, err := r.page()
	if err != nil {
		return 0, nil, err
	}
	f := trunkline.ApplicationFilter{Subaccount: r.p.Get("subaccount"), Limit: limit, Offset: offset}
	apps, total, err := s.opts.DB.ListApplications(r.Context(), r.scope(), f)
	if err != nil {
		return 0, nil, err
	}
	objs := make([]map[string]any, len(apps))
	for i, a := range apps {
		objs[i] = s.appObject(r, a)
	}
	return http.StatusOK, r.listBody("Application/", limit, offset, total, objs), nil
}

func notFound(err error) error {
	if errors.Is(err, trunkline.ErrNotFound) {
		return errNotFound
	}
	return err
}

func (s *Server) getApplication(r *request) (int, map[string]any, error) {
	a, err := s.opts.DB.Application(r.Context(), r.scope(), r.vars["app_id"])
	if err != nil {
		return 0, nil, notFound(err)
	}
	return http.StatusOK, s.appObject(r, a), nil
}

func (s *Server) updateApplication(r *request) (int, map[string]any, error) {
	var owner string
	if r.p.Has("subaccount") {
		var err error
		if owner, err = s.ownerFor(r); err != nil {
			return 0, nil, err
		}
	}
	_, err := s.opts.DB.UpdateApplication(r.Context(), r.scope(), r.vars["app_id"], func(a *trunkline.Application) error {
		if owner != "" {
			a.AccountID = owner
		}
		return applyAppParams(r.p, a)
	})
	if err != nil {
		return 0, nil, notFound(err)
	}
	return http.StatusAccepted, map[string]any{"message": "changed"}, nil
}

func (s *Server) deleteApplication(r *request) (int, map[string]any, error) {
	if err := s.opts.DB.DeleteApplication(r.Context(), r.scope(), r.vars["app_id"]); err != nil {
		return 0, nil, notFound(err)
	}
	return http.StatusNoContent, nil, nil
}
