package api

import (
	"errors"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/account"
)

// Endpoints are an account's SIP users (Plivo's Endpoint API). The password is never
// stored or shown: the store keeps the digest HA1 the registrar needs and Plivo's
// MD5(password), both sealed under the KEK (package account), and audit entries name the
// fields that changed, never their values.

var endpointParams = []string{"username", "password", "alias", "app_id"}

const (
	maxEndpointUser  = 32  // before the 12 digits Plivo appends
	minEndpointPass  = 5   // Plivo's minimum
	maxEndpointPass  = 128 // enough for any generated password; bounds hashing work
	maxEndpointAlias = 256
	endpointSuffix   = 12
)

// checkEndpointUsername accepts Plivo's form: letters and digits, a letter first.
func checkEndpointUsername(u string) error {
	bad := len(u) == 0 || len(u) > maxEndpointUser || !isASCIILetter(u[0])
	for i := 0; i < len(u) && !bad; i++ {
		bad = !isASCIILetter(u[i]) && !(u[i] >= '0' && u[i] <= '9')
	}
	if bad {
		return badRequest("username must be 1 to 32 letters or digits, starting with a letter")
	}
	return nil
}

func isASCIILetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// checkEndpointPassword enforces the length bounds and refuses what SIP crackers try
// first: the user name itself.
func checkEndpointPassword(password string, usernames ...string) error {
	n := utf8.RuneCountInString(password)
	if n < minEndpointPass || n > maxEndpointPass {
		return badRequest("password must be 5 to 128 characters")
	}
	if strings.IndexFunc(password, unicode.IsControl) >= 0 {
		return badRequest("password must not contain control characters")
	}
	for _, u := range usernames {
		if strings.EqualFold(password, u) {
			return badRequest("password must not be the username")
		}
	}
	return nil
}

func checkAlias(alias string) error {
	if utf8.RuneCountInString(alias) > maxEndpointAlias {
		return badRequest("alias is too long (at most 256 characters)")
	}
	if strings.IndexFunc(alias, unicode.IsControl) >= 0 {
		return badRequest("alias must not contain control characters")
	}
	return nil
}

// endpointApp checks that appID names an application of the endpoint's own account: its
// calls run that application, signed with that account's token.
func (s *Server) endpointApp(r *request, owner, appID string) (string, error) {
	if appID == "" || appID == "null" {
		return "", nil
	}
	if _, err := s.opts.DB.Application(r.Context(), trunkline.Scope{AccountID: owner}, appID); err != nil {
		if errors.Is(err, trunkline.ErrNotFound) {
			return "", badRequest("app_id does not name one of your applications")
		}
		return "", err
	}
	return appID, nil
}

func (s *Server) createEndpoint(r *request) (int, map[string]any, error) {
	user, password, alias := r.p.Get("username"), r.p.Get("password"), r.p.Get("alias")
	if !r.p.Has("username") || !r.p.Has("password") || !r.p.Has("alias") {
		return 0, nil, badRequest("username, password and alias are required")
	}
	if err := checkEndpointUsername(user); err != nil {
		return 0, nil, err
	}
	if err := checkEndpointPassword(password, user); err != nil {
		return 0, nil, err
	}
	if err := checkAlias(alias); err != nil {
		return 0, nil, err
	}
	owner := r.acct.ID
	appID, err := s.endpointApp(r, owner, r.p.Get("app_id"))
	if err != nil {
		return 0, nil, err
	}
	// Plivo appends 12 random digits, which also keeps SIP user names unguessable from
	// the name alone; a collision (one in 10^12) just draws again.
	for range 5 {
		e := &trunkline.Endpoint{ID: account.NewNumericID(14), AccountID: owner, Alias: alias, AppID: appID,
			Username: user + account.RandomString("0123456789", endpointSuffix)}
		sec, err := s.opts.Accounts.SealEndpointPassword(e.Username, s.opts.SIPDomain, password)
		if err != nil {
			return 0, nil, err
		}
		e.Realm, e.HA1Enc, e.PasswordMD5Enc = sec.Realm, sec.HA1Enc, sec.PasswordMD5Enc
		err = s.opts.DB.CreateEndpoint(r.Context(), e)
		if errors.Is(err, trunkline.ErrConflict) {
			continue
		}
		if err != nil {
			return 0, nil, err
		}
		r.objectID = e.ID
		r.detail = map[string]string{"username": e.Username}
		return http.StatusCreated, map[string]any{"username": e.Username, "alias": e.Alias, "message": "created",
			"endpoint_id": e.ID}, nil
	}
	return 0, nil, errors.New("endpoint: no free username after 5 draws")
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
	eps, total, err := s.opts.DB.ListEndpoints(r.Context(), r.scope(), trunkline.EndpointFilter{Limit: limit, Offset: offset})
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
	e, err := s.opts.DB.Endpoint(r.Context(), r.scope(), r.vars["endpoint_id"])
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
	// Read first, so a foreign id is 404 whatever the parameters say, and parameters are
	// checked against the endpoint's own account and name. (Checks stay out of the write
	// transaction: no reads on the pool while it holds the writer.)
	cur, err := s.opts.DB.Endpoint(r.Context(), r.scope(), r.vars["endpoint_id"])
	if err != nil {
		return 0, nil, err
	}
	var sec *account.EndpointSecrets
	if r.p.Has("password") {
		password := r.p.Get("password")
		chosen := cur.Username[:max(1, len(cur.Username)-endpointSuffix)]
		if err := checkEndpointPassword(password, chosen, cur.Username); err != nil {
			return 0, nil, err
		}
		sealed, err := s.opts.Accounts.SealEndpointPassword(cur.Username, s.opts.SIPDomain, password)
		if err != nil {
			return 0, nil, err
		}
		sec = &sealed
	}
	var alias *string
	if r.p.Has("alias") {
		a := r.p.Get("alias")
		if err := checkAlias(a); err != nil {
			return 0, nil, err
		}
		alias = &a
	}
	var appID *string
	if r.p.Has("app_id") {
		app, err := s.endpointApp(r, cur.AccountID, r.p.Get("app_id"))
		if err != nil {
			return 0, nil, err
		}
		appID = &app
	}
	_, err = s.opts.DB.UpdateEndpoint(r.Context(), r.scope(), cur.ID, func(e *trunkline.Endpoint) error {
		if sec != nil {
			e.Realm, e.HA1Enc, e.PasswordMD5Enc = sec.Realm, sec.HA1Enc, sec.PasswordMD5Enc
		}
		if alias != nil {
			e.Alias = *alias
		}
		if appID != nil {
			e.AppID = *appID
		}
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	r.detail = map[string]string{"username": cur.Username}
	return http.StatusAccepted, map[string]any{"message": "changed"}, nil
}

func (s *Server) deleteEndpoint(r *request) (int, map[string]any, error) {
	if err := s.opts.DB.DeleteEndpoint(r.Context(), r.scope(), r.vars["endpoint_id"]); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}
