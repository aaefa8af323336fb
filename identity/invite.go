package identity

import (
	"context"
	"errors"
	"time"

	"github.com/trunkline/trunkline/account"
	"github.com/trunkline/trunkline/store"
)

// PurposeInvite is the verification of an invited member's phone.
const PurposeInvite = "invite"

// InviteTTL is how long an invitation link works.
const InviteTTL = 7 * 24 * time.Hour

var errNoInvite = &Error{Msg: "This invitation link does not work: it was used, withdrawn, or has expired. Ask for a new one."}

// Invite invites email to the session user's account with role (owner only, with a fresh
// second factor). It returns the link's token, shown once.
func (s *Service) Invite(ctx context.Context, sess *Session, email, role string) (string, *store.Invite, error) {
	if sess.User.Role != store.RoleOwner {
		return "", nil, &Error{Msg: "Only the account's owner can invite members."}
	}
	if err := s.requireFresh(ctx, sess); err != nil {
		return "", nil, err
	}
	email, err := NormalizeEmail(email)
	if err != nil {
		return "", nil, err
	}
	if role != store.RoleOwner && role != store.RoleDeveloper && role != store.RoleReadOnly {
		return "", nil, &Error{Field: "role", Msg: "Choose a role: owner, developer or read-only."}
	}
	if _, err := s.st.UserByEmail(ctx, email); err == nil {
		return "", nil, &Error{Field: "email", Msg: "This email already has a console user."}
	} else if !errors.Is(err, store.ErrNotFound) {
		return "", nil, err
	}
	token := randomToken()
	now := s.o.Now().UTC().Truncate(time.Microsecond)
	inv := &store.Invite{ID: account.NewID("IN"), AccountID: sess.User.AccountID, Email: email, Role: role,
		TokenMAC: s.tokenMAC("invite", token), CreatedBy: sess.User.ID, CreatedAt: now, ExpiresAt: now.Add(InviteTTL)}
	if err := s.st.CreateInvite(ctx, inv); err != nil {
		return "", nil, err
	}
	s.audit(ctx, s.userEntry(sess, "user.invite", map[string]string{"invite": inv.ID, "role": role}))
	return token, inv, nil
}

// WithdrawInvite deletes an unused invitation of the session user's account.
func (s *Service) WithdrawInvite(ctx context.Context, sess *Session, id string) error {
	if sess.User.Role != store.RoleOwner {
		return &Error{Msg: "Only the account's owner can withdraw invitations."}
	}
	if err := s.st.DeleteInvite(ctx, sess.User.AccountID, id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return &Error{Msg: "That invitation was already used or withdrawn."}
		}
		return err
	}
	s.audit(ctx, s.userEntry(sess, "user.invite_withdraw", map[string]string{"invite": id}))
	return nil
}

// InviteByToken returns the live invitation of a link's token.
func (s *Service) InviteByToken(ctx context.Context, token string) (*store.Invite, error) {
	if token == "" || len(token) > 100 {
		return nil, errNoInvite
	}
	inv, err := s.st.InviteByToken(ctx, s.tokenMAC("invite", token))
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNoInvite
	}
	if err != nil {
		return nil, err
	}
	if inv.UsedAt != nil || !s.o.Now().Before(inv.ExpiresAt) {
		return nil, errNoInvite
	}
	return inv, nil
}

// StartInvite takes an invited member's passphrase and phone, and sends the code. The
// user is made only when the code checks out.
func (s *Service) StartInvite(ctx context.Context, token, passphrase, phone, channel, source string) (*Flow, error) {
	inv, err := s.InviteByToken(ctx, token)
	if err != nil {
		return nil, err
	}
	if err := checkNewPassphrase(passphrase, inv.Email); err != nil {
		return nil, err
	}
	phone, err = NormalizePhone(phone)
	if err != nil {
		return nil, err
	}
	if err := checkChannel(channel); err != nil {
		return nil, err
	}
	if err := s.allowSend(phone, source); err != nil {
		return nil, err
	}
	hash, err := s.o.Hasher.Hash(ctx, passphrase)
	if err != nil {
		return nil, err
	}
	v := &store.Verification{Purpose: PurposeInvite, Email: inv.Email, PassHash: hash, InviteID: inv.ID}
	return s.startVerification(ctx, v, phone, channel, source)
}

// completeInvite makes the invited member's user once their phone is verified.
func (s *Service) completeInvite(ctx context.Context, v *store.Verification, source, userAgent string) (*Session, string, error) {
	inv, err := s.st.Invite(ctx, v.InviteID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, "", errNoInvite
	}
	if err != nil {
		return nil, "", err
	}
	now := s.o.Now().UTC().Truncate(time.Microsecond)
	u := &store.User{ID: account.NewID("US"), AccountID: inv.AccountID, Email: inv.Email, Role: inv.Role,
		PassHash: v.PassHash, Phone: v.Phone, PhoneVerifiedAt: &now}
	ok, err := s.st.AcceptInvite(ctx, inv.ID, u)
	if errors.Is(err, store.ErrConflict) {
		return nil, "", &Error{Field: "email", Msg: "This email already has a console user. Log in instead."}
	}
	if err != nil {
		return nil, "", err
	}
	if !ok {
		return nil, "", errNoInvite
	}
	sess, token, err := s.newSession(ctx, u, 2, false, source, userAgent)
	if err != nil {
		return nil, "", err
	}
	s.audit(ctx, s.userEntry(sess, "user.invite_accept", map[string]string{"invite": inv.ID, "role": inv.Role,
		"phone": MaskPhone(v.Phone)}))
	return sess, token, nil
}
