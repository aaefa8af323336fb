package console

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/trunkline/trunkline/identity"
)

func (s *Server) routes() {
	s.handle("GET /console/login", public, s.loginPage)
	s.handle("POST /console/login", public, s.login)
	s.handle("GET /console/login/2fa", pending, s.secondFactorPage)
	s.handle("POST /console/login/2fa", pending, s.secondFactor)
	s.handle("GET /console/signup", public, s.signupPage)
	s.handle("POST /console/signup", public, s.signup)
	s.handle("GET /console/verify", public, s.verifyPage)
	s.handle("POST /console/verify", public, s.verify)
	s.handle("POST /console/verify/resend", public, s.resend)
	s.handle("GET /console/invite", public, s.invitePage)
	s.handle("POST /console/invite", public, s.inviteStart)
	s.handle("POST /console/logout", member, s.logout)
	s.handle("GET /console/sandbox", public, s.sandboxPage)
	s.securityRoutes()
	s.pageRoutes()
	s.staffRoutes()
	s.customerStaffRoutes()
}

func (s *Server) loginPage(r *request) error {
	if r.sess != nil && !r.sess.Pending() {
		return &errRedirect{safeNext(r.URL.Query().Get("next"))}
	}
	data := map[string]any{"Title": "Log in", "Next": safeNext(r.URL.Query().Get("next"))}
	if r.URL.Query().Get("ended") != "" {
		data["Notice"] = "You have been logged out."
	}
	s.render(r, "login", 0, data)
	return nil
}

func (s *Server) login(r *request) error {
	next := safeNext(r.PostFormValue("next"))
	data := map[string]any{"Title": "Log in", "Next": next}
	sess, token, err := s.id.Login(r.Context(), r.PostFormValue("email"), r.PostFormValue("passphrase"), r.source, r.UserAgent())
	if err != nil {
		if _, msg, ok := userError(err); ok {
			s.formError(r, "login", data, "form", msg)
			return nil
		}
		return err
	}
	// The old session, if any, ends: a new id at every login.
	if r.sess != nil {
		s.id.Logout(r.Context(), r.sess)
	}
	s.setCookie(r, cookieSession, token)
	s.clearCookie(r, cookiePre)
	if sess.Pending() {
		return &errRedirect{"/console/login/2fa?next=" + url.QueryEscape(next)}
	}
	return &errRedirect{next}
}

func (s *Server) secondFactorPage(r *request) error {
	s.render(r, "login2fa", 0, s.secondFactorData(r, safeNext(r.URL.Query().Get("next"))))
	return nil
}

func (s *Server) secondFactorData(r *request, next string) map[string]any {
	data := map[string]any{"Title": "Second step", "Next": next}
	if s.o.WebAuthn != nil {
		if n, err := s.o.WebAuthn.count(r, r.sess.User.ID); err == nil && n > 0 {
			data["Passkeys"] = true
		}
	}
	return data
}

func (s *Server) secondFactor(r *request) error {
	next := safeNext(r.PostFormValue("next"))
	sess, token, err := s.id.SecondFactor(r.Context(), r.sess, r.PostFormValue("code"), r.UserAgent())
	if err != nil {
		if errors.Is(err, identity.ErrSession) {
			return &errRedirect{"/console/login"}
		}
		if field, msg, ok := userError(err); ok {
			s.formError(r, "login2fa", s.secondFactorData(r, next), field, msg)
			return nil
		}
		return err
	}
	_ = sess
	s.setCookie(r, cookieSession, token)
	return &errRedirect{next}
}

func (s *Server) logout(r *request) error {
	if err := s.id.Logout(r.Context(), r.sess); err != nil {
		return err
	}
	s.clearCookie(r, cookieSession)
	return &errRedirect{"/console/login?ended=1"}
}

func (s *Server) signupPage(r *request) error {
	s.render(r, "signup", 0, map[string]any{"Title": "Create an account"})
	return nil
}

func (s *Server) signup(r *request) error {
	flow, err := s.id.StartSignup(r.Context(), identity.SignupRequest{
		Email: r.PostFormValue("email"), Passphrase: r.PostFormValue("passphrase"), Phone: r.PostFormValue("phone"),
		Channel: r.PostFormValue("channel"), AccountName: r.PostFormValue("account_name"), Source: r.source,
	})
	if err != nil {
		if field, msg, ok := userError(err); ok {
			s.formError(r, "signup", map[string]any{"Title": "Create an account"}, field, msg)
			return nil
		}
		return err
	}
	s.setCookie(r, cookieFlow, flow.Token)
	return &errRedirect{"/console/verify"}
}

func (s *Server) flowToken(r *request) string {
	if c, err := r.Cookie(cookieFlow); err == nil {
		return c.Value
	}
	return ""
}

func (s *Server) verifyData(r *request, flow *identity.Flow) map[string]any {
	return map[string]any{"Title": "Enter your code", "Flow": flow, "Action": "/console/verify"}
}

func (s *Server) verifyPage(r *request) error {
	flow, err := s.id.FlowState(r.Context(), s.flowToken(r))
	if err != nil {
		if _, _, ok := userError(err); ok {
			return &errRedirect{"/console/signup"}
		}
		return err
	}
	if flow.Purpose == identity.PurposePhone {
		return &errRedirect{"/console/security/phone"}
	}
	s.render(r, "verify", 0, s.verifyData(r, flow))
	return nil
}

func (s *Server) verify(r *request) error {
	token := s.flowToken(r)
	sess, stoken, err := s.id.CompleteSignup(r.Context(), token, r.PostFormValue("code"), r.source, r.UserAgent())
	if err != nil {
		field, msg, ok := userError(err)
		if !ok {
			return err
		}
		flow, ferr := s.id.FlowState(r.Context(), token)
		if ferr != nil {
			// The flow ended (used, or the account could not be made): back to signup.
			s.clearCookie(r, cookieFlow)
			s.formError(r, "signup", map[string]any{"Title": "Create an account"}, field, msg)
			return nil
		}
		s.formError(r, "verify", s.verifyData(r, flow), field, msg)
		return nil
	}
	_ = sess
	s.clearCookie(r, cookieFlow)
	s.clearCookie(r, cookiePre)
	s.setCookie(r, cookieSession, stoken)
	return &errRedirect{"/console/?welcome=1"}
}

func (s *Server) resend(r *request) error {
	token := s.flowToken(r)
	flow, err := s.id.Resend(r.Context(), token, r.PostFormValue("channel"), r.source)
	if err != nil {
		_, msg, ok := userError(err)
		if !ok {
			return err
		}
		cur, ferr := s.id.FlowState(r.Context(), token)
		if ferr != nil {
			return &errRedirect{"/console/signup"}
		}
		s.formError(r, "verify", s.verifyData(r, cur), "form", msg)
		return nil
	}
	data := s.verifyData(r, flow)
	data["Notice"] = "A new code is on its way; the previous one no longer works."
	s.render(r, "verify", 0, data)
	return nil
}

// sandboxPage shows the sandbox carrier's SMS inbox and phone calls. What it holds would
// have reached real phones, so only this machine's own browser may look, and only while
// the sandbox carrier runs.
func (s *Server) sandboxPage(r *request) error {
	// Both the connection and the name the browser used must be this machine's: a
	// reverse proxy on the same host makes every connection loopback, but forwards its
	// public host name.
	if s.o.Sandbox == nil || !isLoopback(r.source) || !loopbackHost(r.Host) {
		return errNotFound
	}
	// ?wait=NUMBER holds the answer (at most sandboxWait) until a text to that number,
	// or words spoken on a call to it, has arrived: a page, or a test, can wait for a
	// verification code without polling.
	if want := r.URL.Query().Get("wait"); want != "" {
		timeout := time.NewTimer(sandboxWait)
		defer timeout.Stop()
		for {
			// The channel is taken before looking, so a change in between is not missed.
			changed := s.o.Sandbox.Changed()
			if s.sandboxHas(want) {
				break
			}
			select {
			case <-changed:
			case <-timeout.C:
				return &pageError{status: http.StatusGatewayTimeout, msg: "Nothing has reached " + want + " yet."}
			case <-r.Context().Done():
				return nil
			}
		}
	}
	s.render(r, "sandbox", 0, map[string]any{"Title": "Sandbox phone", "Wide": true, "Messages": s.o.Sandbox.Messages(), "Calls": s.o.Sandbox.Calls()})
	return nil
}

// sandboxWait bounds a ?wait= request to the sandbox page.
const sandboxWait = 15 * time.Second

// sandboxHas reports whether a text to number, or speech on a call to it, has arrived.
func (s *Server) sandboxHas(number string) bool {
	for _, m := range s.o.Sandbox.Messages() {
		if m.Dst == number {
			return true
		}
	}
	for _, c := range s.o.Sandbox.Calls() {
		if c.To == number && len(c.Spoken) > 0 {
			return true
		}
	}
	return false
}

// inviteData is the invitation page's content for the link's token.
func (s *Server) inviteData(r *request, token string) (map[string]any, error) {
	inv, err := s.id.InviteByToken(r.Context(), token)
	if err != nil {
		return nil, err
	}
	a, err := s.db.Account(r.Context(), inv.AccountID)
	if err != nil {
		return nil, err
	}
	return map[string]any{"Title": "Join " + a.Name, "Invite": inv, "AccountName": a.Name, "Token": token}, nil
}

func (s *Server) invitePage(r *request) error {
	data, err := s.inviteData(r, r.URL.Query().Get("token"))
	if err != nil {
		if _, msg, ok := userError(err); ok {
			return &pageError{status: http.StatusNotFound, msg: msg}
		}
		return err
	}
	s.render(r, "invite", 0, data)
	return nil
}

func (s *Server) inviteStart(r *request) error {
	token := r.PostFormValue("token")
	flow, err := s.id.StartInvite(r.Context(), token, r.PostFormValue("passphrase"), r.PostFormValue("phone"),
		r.PostFormValue("channel"), r.source)
	if err != nil {
		field, msg, ok := userError(err)
		if !ok {
			return err
		}
		data, derr := s.inviteData(r, token)
		if derr != nil {
			if _, msg, ok := userError(derr); ok {
				return &pageError{status: http.StatusNotFound, msg: msg}
			}
			return derr
		}
		s.formError(r, "invite", data, field, msg)
		return nil
	}
	s.setCookie(r, cookieFlow, flow.Token)
	return &errRedirect{"/console/verify"}
}

// loopbackHost reports whether a Host header names this machine.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	return strings.EqualFold(host, "localhost") || isLoopback(host)
}
