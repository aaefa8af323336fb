package console

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/identity"
	"github.com/trunkline/trunkline/keys"
)

// WebAuthn runs passkey registration and login (go-webauthn). A ceremony's challenge
// travels in a short-lived cookie sealed under the KEK and bound to the session, so any
// node can finish what another began.
type WebAuthn struct {
	hosts []string // host names the console may be reached by (the RP ID is one of them)
	ring  *keys.Ring
	db    trunkline.PasskeyService
}

// NewWebAuthn enables passkeys for the given host names (a WebAuthn RP ID must be a
// domain name, so a console reached by IP address offers no passkeys).
func NewWebAuthn(hosts []string, ring *keys.Ring, db trunkline.PasskeyService) *WebAuthn {
	return &WebAuthn{hosts: hosts, ring: ring, db: db}
}

const cookieCeremony = "__Host-tl_webauthn"

// config builds the relying party for the host the browser used, if it is ours.
func (w *WebAuthn) config(r *request) (*webauthn.WebAuthn, error) {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if net.ParseIP(host) != nil || !slices.Contains(w.hosts, strings.ToLower(host)) {
		return nil, &pageError{status: http.StatusBadRequest, msg: "Passkeys work only when the console is reached by its host name (e.g. https://localhost:PORT), not by an IP address."}
	}
	return webauthn.New(&webauthn.Config{RPID: strings.ToLower(host), RPDisplayName: "Trunkline", RPOrigins: []string{"https://" + r.Host}})
}

// waUser adapts a console user to go-webauthn.
type waUser struct {
	u     *trunkline.User
	creds []webauthn.Credential
}

func (u *waUser) WebAuthnID() []byte                         { return []byte(u.u.ID) }
func (u *waUser) WebAuthnName() string                       { return u.u.Email }
func (u *waUser) WebAuthnDisplayName() string                { return u.u.Email }
func (u *waUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

func (w *WebAuthn) user(r *request, u *trunkline.User) (*waUser, error) {
	recs, err := w.db.WebAuthnCredentials(r.Context(), u.ID)
	if err != nil {
		return nil, err
	}
	wu := &waUser{u: u}
	for _, rec := range recs {
		var c webauthn.Credential
		if err := json.Unmarshal(rec.Data, &c); err != nil {
			return nil, err
		}
		wu.creds = append(wu.creds, c)
	}
	return wu, nil
}

func (w *WebAuthn) count(r *request, userID string) (int, error) {
	recs, err := w.db.WebAuthnCredentials(r.Context(), userID)
	return len(recs), err
}

func (w *WebAuthn) list(r *request, userID string) ([]*trunkline.WebAuthnCredential, error) {
	return w.db.WebAuthnCredentials(r.Context(), userID)
}

// saveCeremony seals the ceremony's session data into a cookie for five minutes.
func (w *WebAuthn) saveCeremony(r *request, kind string, sd *webauthn.SessionData) error {
	raw, err := json.Marshal(sd)
	if err != nil {
		return err
	}
	sealed, err := w.ring.Seal(raw, []byte("webauthn:"+kind+":"+r.sess.Rec.ID))
	if err != nil {
		return err
	}
	http.SetCookie(r.w, &http.Cookie{Name: cookieCeremony, Value: base64.RawURLEncoding.EncodeToString(sealed), Path: "/",
		HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode, MaxAge: 300})
	return nil
}

var errCeremony = &identity.Error{Msg: "The passkey step expired or did not match. Try again."}

func (w *WebAuthn) loadCeremony(r *request, kind string) (*webauthn.SessionData, error) {
	c, err := r.Cookie(cookieCeremony)
	if err != nil {
		return nil, errCeremony
	}
	http.SetCookie(r.w, &http.Cookie{Name: cookieCeremony, Value: "", Path: "/", HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	sealed, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil {
		return nil, errCeremony
	}
	raw, err := w.ring.Open(sealed, []byte("webauthn:"+kind+":"+r.sess.Rec.ID))
	if err != nil {
		return nil, errCeremony
	}
	var sd webauthn.SessionData
	if err := json.Unmarshal(raw, &sd); err != nil || time.Now().After(sd.Expires) && !sd.Expires.IsZero() {
		return nil, errCeremony
	}
	return &sd, nil
}

// finishing loads what finishing a ceremony needs: its sealed session data, the
// relying party for this host, and the user with their passkeys.
func (w *WebAuthn) finishing(r *request, kind string) (*webauthn.SessionData, *webauthn.WebAuthn, *waUser, error) {
	sd, err := w.loadCeremony(r, kind)
	if err != nil {
		return nil, nil, nil, err
	}
	cfg, err := w.config(r)
	if err != nil {
		return nil, nil, nil, err
	}
	u, err := w.user(r, r.sess.User)
	return sd, cfg, u, err
}

// failOr shows a user's error with fail and returns any other error as is.
func failOr(err error, fail func(error) error) error {
	if _, _, ok := userError(err); ok {
		return fail(err)
	}
	return err
}

func (s *Server) webauthnRoutes() {
	s.handle("POST /console/security/passkey/options", member, s.passkeyRegisterOptions)
	s.handle("POST /console/security/passkey", member, s.passkeyRegister)
	s.handle("POST /console/security/passkey/remove", member, s.passkeyRemove)
	s.handle("POST /console/login/passkey/options", pending, s.passkeyLoginOptions)
	s.handle("POST /console/login/passkey", pending, s.passkeyLogin)
	s.handle("POST /console/security/reauth/passkey/options", member, s.passkeyLoginOptions)
	s.handle("POST /console/security/reauth/passkey", member, s.passkeyLogin)
}

func writeJSON(r *request, v any) error {
	r.w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(r.w).Encode(v)
}

func (s *Server) passkeyRegisterOptions(r *request) error {
	if err := s.id.RequireFresh(r.Context(), r.sess); err != nil {
		r.w.WriteHeader(http.StatusForbidden)
		return writeJSON(r, map[string]string{"error": err.Error()})
	}
	w := s.o.WebAuthn
	cfg, err := w.config(r)
	if err != nil {
		return err
	}
	u, err := w.user(r, r.sess.User)
	if err != nil {
		return err
	}
	var exclude []protocol.CredentialDescriptor
	for _, c := range u.creds {
		exclude = append(exclude, c.Descriptor())
	}
	opts, sd, err := cfg.BeginRegistration(u, webauthn.WithExclusions(exclude),
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementPreferred))
	if err != nil {
		return err
	}
	if err := w.saveCeremony(r, "register", sd); err != nil {
		return err
	}
	return writeJSON(r, opts)
}

func (s *Server) passkeyRegister(r *request) error {
	w := s.o.WebAuthn
	fail := func(err error) error { return s.securityResult(r, err, "") }
	if err := s.id.RequireFresh(r.Context(), r.sess); err != nil {
		return fail(err)
	}
	sd, cfg, u, err := w.finishing(r, "register")
	if err != nil {
		return failOr(err, fail)
	}
	parsed, err := protocol.ParseCredentialCreationResponseBody(strings.NewReader(r.PostFormValue("credential")))
	if err != nil {
		return fail(errCeremony)
	}
	cred, err := cfg.CreateCredential(u, *sd, parsed)
	if err != nil {
		s.log.Info("passkey registration refused", "user", r.sess.User.ID, "err", err)
		return fail(errCeremony)
	}
	had, err := s.id.HasSecondFactor(r.Context(), r.sess.User)
	if err != nil {
		return err
	}
	data, err := json.Marshal(cred)
	if err != nil {
		return err
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	if name == "" {
		name = "Passkey"
	}
	if len([]rune(name)) > 60 {
		name = string([]rune(name)[:60])
	}
	rec := &trunkline.WebAuthnCredential{ID: base64.RawURLEncoding.EncodeToString(cred.ID), UserID: r.sess.User.ID, Name: name, Data: data}
	if err := w.db.AddWebAuthn(r.Context(), rec); err != nil {
		if errors.Is(err, trunkline.ErrConflict) {
			return fail(&identity.Error{Msg: "That passkey is already registered."})
		}
		return err
	}
	codes, err := s.id.FactorAdded(r.Context(), r.sess, "passkey", had)
	if err != nil {
		return err
	}
	if len(codes) > 0 {
		s.render(r, "codes", 0, map[string]any{"Title": "Recovery codes", "Nav": "security", "Codes": codes, "Notice": "Your passkey was added."})
		return nil
	}
	return s.securityResult(r, nil, "Your passkey was added.")
}

func (s *Server) passkeyRemove(r *request) error {
	if err := s.id.RequireFresh(r.Context(), r.sess); err != nil {
		return s.securityResult(r, err, "")
	}
	if err := s.o.WebAuthn.db.DeleteWebAuthn(r.Context(), r.sess.User.ID, r.PostFormValue("id")); err != nil {
		if errors.Is(err, trunkline.ErrNotFound) {
			return s.securityResult(r, &identity.Error{Msg: "That passkey was already removed."}, "")
		}
		return err
	}
	s.id.FactorRemoved(r.Context(), r.sess, "passkey")
	return s.securityResult(r, nil, "The passkey was removed.")
}

func (s *Server) passkeyLoginOptions(r *request) error {
	w := s.o.WebAuthn
	cfg, err := w.config(r)
	if err != nil {
		return err
	}
	u, err := w.user(r, r.sess.User)
	if err != nil {
		return err
	}
	if len(u.creds) == 0 {
		return errNotFound
	}
	opts, sd, err := cfg.BeginLogin(u)
	if err != nil {
		return err
	}
	if err := w.saveCeremony(r, "login", sd); err != nil {
		return err
	}
	return writeJSON(r, opts)
}

func (s *Server) passkeyLogin(r *request) error {
	w := s.o.WebAuthn
	pendingLogin := r.sess.Pending()
	fail := func(err error) error {
		if pendingLogin {
			s.formError(r, "login2fa", s.secondFactorData(r, safeNext(r.PostFormValue("next"))), "form", err.Error())
			return nil
		}
		return s.securityResult(r, err, "")
	}
	sd, cfg, u, err := w.finishing(r, "login")
	if err != nil {
		return failOr(err, fail)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBody(strings.NewReader(r.PostFormValue("credential")))
	if err != nil {
		return fail(errCeremony)
	}
	cred, err := cfg.ValidateLogin(u, *sd, parsed)
	if err != nil {
		s.log.Info("passkey login refused", "user", r.sess.User.ID, "err", err)
		return fail(errCeremony)
	}
	data, err := json.Marshal(cred)
	if err != nil {
		return err
	}
	if err := w.db.UseWebAuthn(r.Context(), r.sess.User.ID, base64.RawURLEncoding.EncodeToString(cred.ID), data); err != nil {
		return err
	}
	_, token, err := s.id.PresentedFactor(r.Context(), r.sess, "passkey", r.UserAgent())
	if err != nil {
		return err
	}
	if pendingLogin {
		s.setCookie(r, cookieSession, token)
		return &errRedirect{safeNext(r.PostFormValue("next"))}
	}
	return s.securityResult(r, nil, "Confirmed with your passkey. You can change your security settings for the next few minutes.")
}
