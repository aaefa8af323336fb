package identity

import (
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/account"
	"github.com/trunkline/trunkline/audit"
)

// Purposes of a verification.
const (
	PurposeSignup = "signup"
	PurposePhone  = "phone"
)

// SignupRequest is what the signup form sends.
type SignupRequest struct {
	Email, Passphrase, Phone, Channel, AccountName, Source string
}

// Flow is a verification in progress, as the console shows it (never the code).
type Flow struct {
	Token     string // the flow cookie's value; only from StartSignup/StartPhoneChange
	Purpose   string
	Phone     string // masked for display: +1415555••00
	Channel   string
	Sends     int
	Checks    int
	ExpiresAt time.Time
}

// MaskPhone shows a number's first digits and last two only.
func MaskPhone(p string) string {
	if len(p) < 6 {
		return "+" + p
	}
	return "+" + p[:len(p)-6] + strings.Repeat("•", 4) + p[len(p)-2:]
}

// ErrInviteOnly refuses a signup on an installation where accounts come from the
// operator.
var ErrInviteOnly = &Error{Msg: "New accounts on this installation are by invitation only. Ask its operator for an invitation link."}

// SignupOpen reports whether anyone may sign up on the console.
func (s *Service) SignupOpen() bool { return s.o.Signup == SignupOpen }

// StartSignup checks the form, then sends a code to the phone. Nothing exists yet but the
// verification, which holds the passphrase's hash until the code checks out.
func (s *Service) StartSignup(ctx context.Context, r SignupRequest) (*Flow, error) {
	if s.o.Signup != SignupOpen {
		return nil, ErrInviteOnly
	}
	email, err := NormalizeEmail(r.Email)
	if err != nil {
		return nil, err
	}
	if err := checkNewPassphrase(r.Passphrase, email); err != nil {
		return nil, err
	}
	phone, err := NormalizePhone(r.Phone)
	if err != nil {
		return nil, err
	}
	if err := checkChannel(r.Channel); err != nil {
		return nil, err
	}
	name := strings.TrimSpace(r.AccountName)
	if name == "" {
		name = email
	}
	if len([]rune(name)) > 100 {
		return nil, userErr("account_name", "The account name may be at most 100 characters.")
	}
	v := &trunkline.Verification{Purpose: PurposeSignup, Email: email, AccountName: name}
	return s.startVerification(ctx, v, r.Passphrase, phone, r.Channel, r.Source)
}

// StartPhoneChange sends a code to a user's new phone number. It needs a fresh second
// factor when the user has one.
func (s *Service) StartPhoneChange(ctx context.Context, sess *Session, phone, channel string) (*Flow, error) {
	if err := s.requireFresh(ctx, sess); err != nil {
		return nil, err
	}
	phone, err := NormalizePhone(phone)
	if err != nil {
		return nil, err
	}
	if err := checkChannel(channel); err != nil {
		return nil, err
	}
	v := &trunkline.Verification{Purpose: PurposePhone, UserID: sess.User.ID}
	return s.startVerification(ctx, v, "", phone, channel, sess.Source)
}

// startVerification sends the first code of a verification. A passphrase, when given, is
// hashed into it only once the send is admitted, so refused requests cost no hashing.
func (s *Service) startVerification(ctx context.Context, v *trunkline.Verification, passphrase, phone, channel, source string) (*Flow, error) {
	if err := s.admitSend(ctx, v.Purpose, channel, phone, source); err != nil {
		return nil, err
	}
	if passphrase != "" {
		hash, err := s.o.Hasher.Hash(ctx, passphrase)
		if err != nil {
			return nil, err
		}
		v.PassHash = hash
	}
	return s.startVerificationToken(ctx, v, randomToken(), phone, channel, source)
}

// startVerificationToken stores an admitted verification bound to token (kept as a
// keyed hash) and sends the code.
func (s *Service) startVerificationToken(ctx context.Context, v *trunkline.Verification, token, phone, channel, source string) (*Flow, error) {
	now := s.o.Now().UTC()
	code := NewCode()
	v.ID = account.NewID("VF")
	v.FlowMAC = s.tokenMAC("flow", token)
	v.Phone, v.Channel, v.Source = phone, channel, source
	v.CodeMAC = s.codeMAC(v.ID, code)
	v.Sends = 1
	v.CreatedAt, v.SentAt, v.ExpiresAt = now, now, now.Add(s.o.CodeTTL)
	if err := s.st.CreateVerification(ctx, v); err != nil {
		return nil, err
	}
	if err := s.o.Sender.SendCode(ctx, channel, phone, code); err != nil {
		s.st.DeleteVerification(ctx, v.ID)
		s.o.Logger.Warn("verification code not sent", "verification", v.ID, "channel", channel, "err", err)
		return nil, &Error{Msg: "The code could not be sent. Check the number, or try the other way of receiving it."}
	}
	s.audit(ctx, audit.Entry{AccountID: v.AccountID, Actor: actorOf(v), Action: "verification.send", ObjectType: "verification", ObjectID: v.ID,
		Source: source, Outcome: "success", Detail: map[string]string{"purpose": v.Purpose, "channel": channel, "to": MaskPhone(phone)}})
	return &Flow{Token: token, Purpose: v.Purpose, Phone: MaskPhone(phone), Channel: channel, Sends: 1, ExpiresAt: v.ExpiresAt}, nil
}

// actorOf names who started a verification in audit entries: the console, or an
// account's API credentials for a caller ID.
func actorOf(v *trunkline.Verification) string {
	if v.Purpose == PurposeCallerID {
		return "api"
	}
	return "console"
}

// FlowState describes the verification bound to a flow token.
func (s *Service) FlowState(ctx context.Context, token string) (*Flow, error) {
	v, err := s.flow(ctx, token)
	if err != nil {
		return nil, err
	}
	return &Flow{Purpose: v.Purpose, Phone: MaskPhone(v.Phone), Channel: v.Channel, Sends: v.Sends, Checks: v.Checks, ExpiresAt: v.ExpiresAt}, nil
}

var errNoFlow = &Error{Msg: "This verification has ended. Start again."}

func (s *Service) flow(ctx context.Context, token string) (*trunkline.Verification, error) {
	if token == "" {
		return nil, errNoFlow
	}
	v, err := s.st.VerificationByFlow(ctx, s.tokenMAC("flow", token))
	if errors.Is(err, trunkline.ErrNotFound) {
		return nil, errNoFlow
	}
	if err != nil {
		return nil, err
	}
	if v.UsedAt != nil || s.o.Now().After(v.CreatedAt.Add(24*time.Hour)) {
		return nil, errNoFlow
	}
	return v, nil
}

// Resend sends a new code (the old one stops working), by channel; at most MaxSends per
// verification, throttled per number and address like the first.
func (s *Service) Resend(ctx context.Context, token, channel, source string) (*Flow, error) {
	v, err := s.flow(ctx, token)
	if err != nil {
		return nil, err
	}
	if err := checkChannel(channel); err != nil {
		return nil, err
	}
	if v.Sends >= s.o.MaxSends {
		return nil, &Error{Msg: fmt.Sprintf("%d codes have been sent; no more can be sent for this verification. Start again later.", v.Sends)}
	}
	if err := s.admitSend(ctx, v.Purpose, channel, v.Phone, source); err != nil {
		return nil, err
	}
	code := NewCode()
	now := s.o.Now().UTC()
	if err := s.st.ResendVerification(ctx, v.ID, s.codeMAC(v.ID, code), channel, now, now.Add(s.o.CodeTTL), s.o.MaxSends); err != nil {
		if errors.Is(err, trunkline.ErrConflict) {
			return nil, &Error{Msg: "No more codes can be sent for this verification."}
		}
		return nil, err
	}
	if err := s.o.Sender.SendCode(ctx, channel, v.Phone, code); err != nil {
		s.o.Logger.Warn("verification code not sent", "verification", v.ID, "channel", channel, "err", err)
		return nil, &Error{Msg: "The code could not be sent. Try the other way of receiving it."}
	}
	s.audit(ctx, audit.Entry{Actor: "console", Action: "verification.send", ObjectType: "verification", ObjectID: v.ID,
		Source: source, Outcome: "success", Detail: map[string]string{"purpose": v.Purpose, "channel": channel, "to": MaskPhone(v.Phone), "resend": "true"}})
	return &Flow{Purpose: v.Purpose, Phone: MaskPhone(v.Phone), Channel: channel, Sends: v.Sends + 1, Checks: v.Checks, ExpiresAt: now.Add(s.o.CodeTTL)}, nil
}

// checkCode counts a check and compares the code. It returns the verification once the
// code was right and the verification is now used (single use).
func (s *Service) checkCode(ctx context.Context, token, code, source string) (*trunkline.Verification, error) {
	v, err := s.flow(ctx, token)
	if err != nil {
		return nil, err
	}
	code = strings.TrimSpace(code)
	if !ValidCodeForm(code) {
		return nil, userErr("code", "Enter the 6 digits of the code.")
	}
	if err := s.st.CountVerificationCheck(ctx, v.ID, s.o.MaxChecks); err != nil {
		if errors.Is(err, trunkline.ErrConflict) {
			return nil, &Error{Field: "code", Msg: "Too many wrong codes. Ask for a new code or start again."}
		}
		return nil, err
	}
	now := s.o.Now()
	// The check is counted before the code is compared: guesses cost attempts even when
	// they come all at once.
	if !now.Before(v.ExpiresAt) {
		return nil, &Error{Field: "code", Msg: "The code has expired. Ask for a new one."}
	}
	if !hmac.Equal(s.codeMAC(v.ID, code), v.CodeMAC) {
		left := s.o.MaxChecks - v.Checks - 1
		s.audit(ctx, audit.Entry{AccountID: "", Actor: "console", Action: "verification.check", ObjectType: "verification",
			ObjectID: v.ID, Source: source, Outcome: "failure"})
		if left <= 0 {
			return nil, &Error{Field: "code", Msg: "That code is not right, and no tries are left. Ask for a new code."}
		}
		return nil, &Error{Field: "code", Msg: fmt.Sprintf("That code is not right. %d tries left.", left)}
	}
	ok, err := s.st.UseVerification(ctx, v.ID, now)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errNoFlow
	}
	return v, nil
}

// CompleteSignup checks the code and, when right, creates the account with its owner (in
// one transaction) — or, for an invited member, their user in the inviting account — and
// logs them in. The session token is for the cookie.
func (s *Service) CompleteSignup(ctx context.Context, token, code, source, userAgent string) (*Session, string, error) {
	v, err := s.checkCode(ctx, token, code, source)
	if err != nil {
		return nil, "", err
	}
	defer s.st.DeleteVerification(context.WithoutCancel(ctx), v.ID)
	switch v.Purpose {
	case PurposeInvite:
		return s.completeInvite(ctx, v, source, userAgent)
	case PurposeSignup:
	default:
		return nil, "", errNoFlow
	}
	now := s.o.Now().UTC().Truncate(time.Microsecond)
	u := &trunkline.User{ID: account.NewID("US"), Email: v.Email, Role: trunkline.RoleOwner, PassHash: v.PassHash,
		Phone: v.Phone, PhoneVerifiedAt: &now}
	created, err := s.o.Accounts.CreateMainWithOwner(ctx, v.AccountName, u)
	if errors.Is(err, trunkline.ErrConflict) {
		return nil, "", &Error{Field: "email", Msg: "This email cannot be used for a new account. If it is yours, log in instead."}
	}
	if err != nil {
		return nil, "", err
	}
	s.audit(ctx, audit.Entry{AccountID: created.Account.ID, Actor: "console:" + u.Email, Action: "user.signup",
		ObjectType: "user", ObjectID: u.ID, Source: source, Outcome: "success",
		Detail: map[string]string{"phone": MaskPhone(v.Phone), "channel": v.Channel, "role": u.Role}})
	return s.newSession(ctx, u, 2, false, source, userAgent)
}

// CompletePhoneChange checks the code and records the user's new number.
func (s *Service) CompletePhoneChange(ctx context.Context, sess *Session, token, code string) error {
	v, err := s.checkCode(ctx, token, code, sess.Source)
	if err != nil {
		return err
	}
	defer s.st.DeleteVerification(context.WithoutCancel(ctx), v.ID)
	if v.Purpose != PurposePhone || v.UserID != sess.User.ID {
		return errNoFlow
	}
	if err := s.st.SetUserPhone(ctx, sess.User.ID, v.Phone, s.o.Now()); err != nil {
		return err
	}
	s.audit(ctx, s.userEntry(sess, "user.phone_change", map[string]string{"phone": MaskPhone(v.Phone)}))
	return nil
}
