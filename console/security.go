package console

import (
	"bytes"
	"encoding/base64"
	"image/png"
	"strconv"
	"strings"

	"github.com/pquerna/otp"

	"github.com/trunkline/trunkline/account"
	"github.com/trunkline/trunkline/audit"
	"github.com/trunkline/trunkline/identity"
)

func (s *Server) securityRoutes() {
	s.handle("GET /console/security", member, s.securityPage)
	s.handle("POST /console/security/reauth", member, s.reauth)
	s.handle("GET /console/security/totp", member, s.totpPage)
	s.handle("POST /console/security/totp", member, s.totpConfirm)
	s.handle("POST /console/security/totp/remove", member, s.totpRemove)
	s.handle("POST /console/security/recovery", member, s.recoveryRegenerate)
	s.handle("POST /console/security/sessions/end", member, s.sessionEnd)
	s.handle("POST /console/security/sessions/end-all", member, s.sessionEndAll)
	s.handle("POST /console/security/passphrase", member, s.passphraseChange)
	s.handle("POST /console/security/allowlist", owner, s.allowlistSet)
	s.handle("GET /console/security/phone", member, s.phonePage)
	s.handle("POST /console/security/phone", member, s.phoneStart)
	s.handle("POST /console/security/phone/verify", member, s.phoneVerify)
	s.handle("POST /console/security/phone/verify/resend", member, s.phoneResend)
	if s.o.WebAuthn != nil {
		s.webauthnRoutes()
	}
}

// securityData is the security page's content; errors and notices are added by callers.
func (s *Server) securityData(r *request) (map[string]any, error) {
	ctx := r.Context()
	sessions, err := s.id.Sessions(ctx, r.sess)
	if err != nil {
		return nil, err
	}
	left, err := s.id.RecoveryCodesLeft(ctx, r.sess.User)
	if err != nil {
		return nil, err
	}
	data := map[string]any{"Title": "Security", "Nav": "security", "Sessions": sessions, "Current": r.sess.Rec.ID,
		"TOTP": r.sess.User.TOTPEnc != nil, "RecoveryLeft": left, "Fresh": s.id.Fresh(ctx, r.sess),
		"Allowlist": strings.ReplaceAll(r.acct.APIAllow, ",", "\n"), "Phone": identity.MaskPhone(r.sess.User.Phone),
		"IdleMinutes": int(s.id.Options().IdleTimeout.Minutes()), "HasPhone": r.sess.User.Phone != ""}
	if s.o.WebAuthn != nil {
		keys, err := s.o.WebAuthn.list(r, r.sess.User.ID)
		if err != nil {
			return nil, err
		}
		data["PasskeysOn"] = true
		data["Passkeys"] = keys
	}
	return data, nil
}

func (s *Server) securityPage(r *request) error {
	data, err := s.securityData(r)
	if err != nil {
		return err
	}
	s.render(r, "security", 0, data)
	return nil
}

// securityResult shows the security page after an action: a notice, or the user's error.
func (s *Server) securityResult(r *request, err error, notice string) error {
	if err != nil {
		if _, _, ok := userError(err); !ok {
			return err
		}
	}
	data, derr := s.securityData(r)
	if derr != nil {
		return derr
	}
	if err != nil {
		field, msg, _ := userError(err)
		s.formError(r, "security", data, field, msg)
		return nil
	}
	data["Notice"] = notice
	s.render(r, "security", 0, data)
	return nil
}

func (s *Server) reauth(r *request) error {
	err := s.id.Reauthenticate(r.Context(), r.sess, r.PostFormValue("code"))
	return s.securityResult(r, err, "Confirmed. You can change your security settings for the next few minutes.")
}

func (s *Server) totpPage(r *request) error {
	enr, err := s.id.BeginTOTP(r.Context(), r.sess)
	if err != nil {
		return s.securityResult(r, err, "")
	}
	data, err := s.totpData(enr.Key.URL, enr.Key.Secret, enr.Sealed)
	if err != nil {
		return err
	}
	s.render(r, "totp", 0, data)
	return nil
}

func (s *Server) totpData(keyURL, secret, sealed string) (map[string]any, error) {
	data := map[string]any{"Title": "Authenticator app", "Nav": "security", "Secret": secret, "Sealed": sealed, "URL": keyURL}
	k, err := otp.NewKeyFromURL(keyURL)
	if err != nil {
		return nil, err
	}
	img, err := k.Image(200, 200)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	data["QR"] = "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes())
	return data, nil
}

func (s *Server) totpConfirm(r *request) error {
	sealed := r.PostFormValue("sealed")
	codes, err := s.id.ConfirmTOTP(r.Context(), r.sess, sealed, r.PostFormValue("code"))
	if err != nil {
		field, msg, ok := userError(err)
		if !ok {
			return err
		}
		// Show the same secret again so the user can retry with the next code.
		data, derr := s.totpData(r.PostFormValue("url"), r.PostFormValue("secret"), sealed)
		if derr != nil {
			return s.securityResult(r, err, "")
		}
		s.formError(r, "totp", data, field, msg)
		return nil
	}
	if len(codes) > 0 {
		s.render(r, "codes", 0, map[string]any{"Title": "Recovery codes", "Nav": "security", "Codes": codes,
			"Notice": "Your authenticator app is set up."})
		return nil
	}
	return s.securityResult(r, nil, "Your authenticator app is set up.")
}

func (s *Server) totpRemove(r *request) error {
	err := s.id.RemoveTOTP(r.Context(), r.sess)
	return s.securityResult(r, err, "The authenticator app was removed.")
}

func (s *Server) recoveryRegenerate(r *request) error {
	codes, err := s.id.RegenerateRecoveryCodes(r.Context(), r.sess)
	if err != nil {
		return s.securityResult(r, err, "")
	}
	s.render(r, "codes", 0, map[string]any{"Title": "Recovery codes", "Nav": "security", "Codes": codes,
		"Notice": "New recovery codes; the old ones no longer work."})
	return nil
}

func (s *Server) sessionEnd(r *request) error {
	id := r.PostFormValue("session")
	if id == r.sess.Rec.ID {
		return s.logout(r)
	}
	err := s.id.EndSession(r.Context(), r.sess, id)
	return s.securityResult(r, err, "The session was ended.")
}

func (s *Server) sessionEndAll(r *request) error {
	if _, err := s.id.LogoutEverywhere(r.Context(), r.sess); err != nil {
		return err
	}
	s.clearCookie(r, cookieSession)
	return &errRedirect{"/console/login?ended=1"}
}

func (s *Server) passphraseChange(r *request) error {
	if r.PostFormValue("passphrase") != r.PostFormValue("confirm") {
		return s.securityResult(r, &identity.Error{Field: "confirm", Msg: "The two new passphrases differ."}, "")
	}
	err := s.id.ChangePassphrase(r.Context(), r.sess, r.PostFormValue("current"), r.PostFormValue("passphrase"))
	return s.securityResult(r, err, "Your passphrase was changed; your other sessions were ended.")
}

func (s *Server) allowlistSet(r *request) error {
	if !s.id.Fresh(r.Context(), r.sess) {
		return s.securityResult(r, identity.ErrNeedFreshMFA, "")
	}
	_, canon, err := account.ParseAllowlist(r.PostFormValue("allowlist"))
	if err != nil {
		return s.securityResult(r, &identity.Error{Field: "allowlist", Msg: "The allowlist was not saved: " + err.Error() + "."}, "")
	}
	if err := s.db.SetAPIAllow(r.Context(), r.acct.ID, canon); err != nil {
		return err
	}
	s.o.Accounts.Invalidate(r.acct.ID)
	r.acct.APIAllow = canon
	s.auditUser(r, "account.api_allowlist", "account", r.acct.ID, map[string]string{"entries": itoaLen(canon)})
	msg := "API access is allowed from any address."
	if canon != "" {
		msg = "API access is now allowed only from the listed addresses."
	}
	return s.securityResult(r, nil, msg)
}

func itoaLen(canon string) string {
	if canon == "" {
		return "0"
	}
	return strconv.Itoa(strings.Count(canon, ",") + 1)
}

// auditUser records a console action of the session's user.
func (s *Server) auditUser(r *request, action, objType, objID string, detail map[string]string) {
	e := audit.Entry{AccountID: r.sess.User.AccountID, Actor: "console:" + r.sess.User.Email, Action: action,
		ObjectType: objType, ObjectID: objID, Source: r.source, Outcome: "success", Detail: detail}
	if _, err := s.o.Audit.Append(r.Context(), e); err != nil {
		s.log.Error("audit append failed", "action", action, "err", err)
	}
}

func (s *Server) phonePage(r *request) error {
	data := map[string]any{"Title": "Phone number", "Nav": "security", "Phone": identity.MaskPhone(r.sess.User.Phone)}
	if flow, err := s.id.FlowState(r.Context(), s.flowToken(r)); err == nil && flow.Purpose == identity.PurposePhone {
		data["Flow"] = flow
		data["Action"] = "/console/security/phone/verify"
		s.render(r, "verify", 0, data)
		return nil
	}
	s.render(r, "phone", 0, data)
	return nil
}

func (s *Server) phoneStart(r *request) error {
	flow, err := s.id.StartPhoneChange(r.Context(), r.sess, r.PostFormValue("phone"), r.PostFormValue("channel"))
	if err != nil {
		field, msg, ok := userError(err)
		if !ok {
			return err
		}
		s.formError(r, "phone", map[string]any{"Title": "Phone number", "Nav": "security", "Phone": identity.MaskPhone(r.sess.User.Phone)}, field, msg)
		return nil
	}
	s.setCookie(r, cookieFlow, flow.Token)
	return &errRedirect{"/console/security/phone"}
}

func (s *Server) phoneVerify(r *request) error {
	token := s.flowToken(r)
	err := s.id.CompletePhoneChange(r.Context(), r.sess, token, r.PostFormValue("code"))
	if err != nil {
		field, msg, ok := userError(err)
		if !ok {
			return err
		}
		flow, ferr := s.id.FlowState(r.Context(), token)
		if ferr != nil {
			s.clearCookie(r, cookieFlow)
			return s.securityResult(r, err, "")
		}
		s.formError(r, "verify", map[string]any{"Title": "Phone number", "Nav": "security", "Flow": flow,
			"Action": "/console/security/phone/verify"}, field, msg)
		return nil
	}
	s.clearCookie(r, cookieFlow)
	return s.securityResult(r, nil, "Your phone number was changed.")
}

func (s *Server) phoneResend(r *request) error {
	token := s.flowToken(r)
	flow, err := s.id.Resend(r.Context(), token, r.PostFormValue("channel"), r.source)
	data := map[string]any{"Title": "Phone number", "Nav": "security", "Action": "/console/security/phone/verify"}
	if err != nil {
		_, msg, ok := userError(err)
		if !ok {
			return err
		}
		cur, ferr := s.id.FlowState(r.Context(), token)
		if ferr != nil {
			return &errRedirect{"/console/security/phone"}
		}
		data["Flow"] = cur
		s.formError(r, "verify", data, "form", msg)
		return nil
	}
	data["Flow"] = flow
	data["Notice"] = "A new code is on its way; the previous one no longer works."
	s.render(r, "verify", 0, data)
	return nil
}
