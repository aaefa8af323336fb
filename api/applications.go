package api

import (
	"net/http"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/application"
)

var appParams = []string{"app_name", "answer_url", "answer_method", "hangup_url", "hangup_method", "fallback_answer_url",
	"fallback_method", "message_url", "message_method", "default_number_app", "default_endpoint_app", "subaccount",
	"log_incoming_messages", "public_uri", "enabled"}

// checkURL applies the application URL rule (package application) to parameter name.
func checkURL(name, v string) error {
	if err := application.CheckURL(v); err != nil {
		return badRequest(name + " " + trunkline.ErrorMessage(err))
	}
	return nil
}

func checkMethod(name, v string) (string, error) {
	m, err := application.CheckMethod(v)
	if err != nil {
		return "", badRequest(name + " " + trunkline.ErrorMessage(err))
	}
	return m, nil
}

// applyAppParams copies sent parameters onto a, validating each.
func applyAppParams(p Params, a *trunkline.Application) error {
	if p.Has("app_name") {
		if err := application.CheckName(p.Get("app_name")); err != nil {
			return err
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
	return s.opts.Applications.Owner(r.Context(), r.acct, r.p.Get("subaccount"))
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
	a := application.Defaults(owner)
	if err := applyAppParams(r.p, a); err != nil {
		return 0, nil, err
	}
	// The audit entry is stored with the application (one commit for both).
	r.objectID = a.ID
	build, err := s.auditWith(r, http.StatusCreated)
	if err != nil {
		return 0, nil, err
	}
	if err := s.opts.Applications.CreateAudited(r.Context(), a, r.p.Has("hangup_url"), build); err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, map[string]any{"app_id": a.ID, "message": "created"}, nil
}

func (s *Server) listApplications(r *request) (int, map[string]any, error) {
	limit, offset, err := r.page()
	if err != nil {
		return 0, nil, err
	}
	f := trunkline.ApplicationFilter{Subaccount: r.p.Get("subaccount"), Limit: limit, Offset: offset}
	apps, total, err := s.opts.Applications.List(r.Context(), r.scope(), f)
	if err != nil {
		return 0, nil, err
	}
	objs := make([]map[string]any, len(apps))
	for i, a := range apps {
		objs[i] = s.appObject(r, a)
	}
	return http.StatusOK, r.listBody("Application/", limit, offset, total, objs), nil
}

func (s *Server) getApplication(r *request) (int, map[string]any, error) {
	a, err := s.opts.Applications.Get(r.Context(), r.scope(), r.vars["app_id"])
	if err != nil {
		return 0, nil, err
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
	_, err := s.opts.Applications.Update(r.Context(), r.scope(), r.vars["app_id"], owner, func(a *trunkline.Application) error {
		return applyAppParams(r.p, a)
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusAccepted, map[string]any{"message": "changed"}, nil
}

func (s *Server) deleteApplication(r *request) (int, map[string]any, error) {
	if err := s.opts.Applications.Delete(r.Context(), r.scope(), r.vars["app_id"]); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}
