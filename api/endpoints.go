package api

import (
	"net/http"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/endpoint"
)

// Endpoints are an account's SIP users (Plivo's Endpoint API). The password is never
// stored or shown: the store keeps the digest HA1 the registrar needs and Plivo's
// MD5(password), both sealed under the KEK (package account), and audit entries name the
// fields that changed, never their values.

var endpointParams = []string{"username", "password", "alias", "app_id"}

func (s *Server) createEndpoint(r *request) (int, map[string]any, error) {
	if !r.p.Has("username") || !r.p.Has("password") || !r.p.Has("alias") {
		return 0, nil, badRequest("username, password and alias are required")
	}
	e, err := s.opts.Endpoints.Create(r.Context(), r.acct.ID, endpoint.Draft{Username: r.p.Get("username"),
		Password: r.p.Get("password"), Alias: r.p.Get("alias"), AppID: r.p.Get("app_id")})
	if err != nil {
		return 0, nil, err
	}
	r.objectID = e.ID
	r.detail = map[string]string{"username": e.Username}
	return http.StatusCreated, map[string]any{"username": e.Username, "alias": e.Alias, "message": "created",
		"endpoint_id": e.ID}, nil
}

func (s *Server) endpointObject(r *request, e *trunkline.Endpoint) (map[string]any, error) {
	md, err := s.opts.Accounts.EndpointPasswordMD5(e.Username, e.PasswordMD5Enc)
	if err != nil {
		return nil, err
	}
	var sub any
	if e.AccountID != r.acct.ID { // see appObject
		sub = r.uri("Subaccount/" + e.AccountID + "/")
	}
	app := ""
	if e.AppID != "" {
		app = r.uri("Application/" + e.AppID + "/")
	}
	registered := e.Registered(s.opts.Now())
	contact, ua, expires := "", "", ""
	if registered {
		contact, ua, expires = e.SIPContact, e.SIPUserAgent, plivoDateTime(*e.SIPExpiresAt)
	}
	return map[string]any{
		"alias":          e.Alias,
		"application":    app,
		"endpoint_id":    e.ID,
		"password":       md,
		"resource_uri":   r.uri("Endpoint/" + e.ID + "/"),
		"sip_contact":    contact,
		"sip_expires":    expires,
		"sip_registered": map[bool]string{true: "true", false: "false"}[registered],
		"sip_uri":        "sip:" + e.Username + "@" + s.opts.SIPDomain,
		"sip_user_agent": ua,
		"sub_account":    sub,
		"username":       e.Username,
	}, nil
}

func (s *Server) listEndpoints(r *request) (int, map[string]any, error) {
	limit, offset, err := r.page()
	if err != nil {
		return 0, nil, err
	}
	eps, total, err := s.opts.Endpoints.List(r.Context(), r.scope(), trunkline.EndpointFilter{Limit: limit, Offset: offset})
	if err != nil {
		return 0, nil, err
	}
	objs := make([]map[string]any, len(eps))
	for i, e := range eps {
		if objs[i], err = s.endpointObject(r, e); err != nil {
			return 0, nil, err
		}
	}
	return http.StatusOK, r.listBody("Endpoint/", limit, offset, total, objs), nil
}

func (s *Server) getEndpoint(r *request) (int, map[string]any, error) {
	e, err := s.opts.Endpoints.Get(r.Context(), r.scope(), r.vars["endpoint_id"])
	if err != nil {
		return 0, nil, err
	}
	obj, err := s.endpointObject(r, e)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, obj, nil
}

func (s *Server) updateEndpoint(r *request) (int, map[string]any, error) {
	var c endpoint.Change
	for _, f := range []struct {
		name string
		dst  **string
	}{{"password", &c.Password}, {"alias", &c.Alias}, {"app_id", &c.AppID}} {
		if r.p.Has(f.name) {
			v := r.p.Get(f.name)
			*f.dst = &v
		}
	}
	cur, err := s.opts.Endpoints.Update(r.Context(), r.scope(), r.vars["endpoint_id"], c)
	if err != nil {
		return 0, nil, err
	}
	r.detail = map[string]string{"username": cur.Username}
	return http.StatusAccepted, map[string]any{"message": "changed"}, nil
}

func (s *Server) deleteEndpoint(r *request) (int, map[string]any, error) {
	if err := s.opts.Endpoints.Delete(r.Context(), r.scope(), r.vars["endpoint_id"]); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}
