package identity

import (
	"context"
	"errors"
	"time"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/account"
)

// PurposeInvite is the verification of an invited member's phone.
const PurposeInvite = "invite"

// InviteTTL is how long an invitation link works.
const InviteTTL = 7 * 24 * time.Hour

var errNoInvite = &Error{Msg: "This invitation link does not work: it was used, withdrawn, or has expired. Ask for a new one."}

// Invite invites email to the session user's account with role (owner only, with a fresh
// second factor). It returns the link's token, shown once.
//
// Whether the email already has a console user in another account is not told: the
// owner gets a link either way (it stops at its acceptance, where the email's holder is
// told to log in instead), so the form cannot be used to find out who uses this
// installation. A member of the owner's own account is named, as the members page lists
// them anyway.
func (s *Service) Invite(ctx context.Context, sess *Session, email, role string) (string, *trunkline.Invite, error) {
	if sess.User.Role != trunkline.RoleOwner {
		return "", nil, &Error{Msg: "Only the account's owner can invite members."}
	}
	if err := s.requireFresh(ctx, sess); err != nil {
		return "", nil, err
	}
	email, err := NormalizeEmail(email)
	if err != nil {
		return "", nil, err
	}
	if err := checkRole(role); err != nil {
		return "", nil, err
	}
	if u, err := s.st.UserByEmail(ctx, email); err == nil && u.AccountID == sess.User.AccountID {
		return "", nil, &Error{Field: "email", Msg: "This email is already a member of this account."}
	} else if err != nil && !errors.Is(err, trunkline.ErrNotFound) {
		return "", nil, err
	}
	token, inv, err := s.newInvite(ctx, sess.User.AccountID, email, role, sess.User.ID)
	if err != nil {
		return "", nil, err
	}
	s.audit(ctx, s.userEntry(sess, "user.invite", map[string]string{"invite": inv.ID, "role": role}))
	return token, inv, nil
}

// OperatorInvite is the operator's invitation of email into accountID (a main account)
// with role: how accounts get their first owner on an invite-only installation, or a new
// owner after the last one left. The operator is told when the email already has a user.
// The caller audits it, with the operator as actor.
func (s *Service) OperatorInvite(ctx context.Context, accountID, email, role string) (string, *trunkline.Invite, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return "", nil, err
	}
	if err := checkRole(role); err != nil {
		return "", nil, err
	}
	if _, err := s.st.UserByEmail(ctx, email); err == nil {
		return "", nil, &Error{Field: "email", Msg: "This email already has a console user."}
	} else if !errors.Is(err, trunkline.ErrNotFound) {
		return "", nil, err
	}
	return s.newInvite(ctx, accountID, email, role, "operator")
}

func checkRole(role string) error {
	if role != trunkline.RoleOwner && role != trunkline.RoleDeveloper && role != trunkline.RoleReadOnly {
		return &Error{Field: "role", Msg: "Choose a role: owner, developer or read-only."}
	}
	return nil
}

func (s *Service) newInvite(ctx context.Context, accountID, email, role, createdBy string) (string, *trunkline.Invite, error) {
	token := randomToken()
	now := s.o.Now().UTC().Truncate(time.Microsecond)
	inv := &trunkline.Invite{ID: account.NewID("IN"), AccountID: accountID, Email: email, Role: role,
		TokenMAC: s.tokenMAC("invite", token), CreatedBy: createdBy, CreatedAt: now, ExpiresAt: now.Add(InviteTTL)}
	if err := s.st.CreateInvite(ctx, inv); err != nil {
		return "", nil, err
	}
	return token, inv, nil
}

// WithdrawInvite deletes an unused invitation of the session user's account.
func (s *Service) WithdrawInvite(ctx context.Context, sess *Session, id string) error {
	if sess.User.Role != trunkline.RoleOwner {
		return &Error{Msg: "Only the account's owner can withdraw invitations."}
	}
	if err := s.st.DeleteInvite(ctx, sess.User.AccountID, id); err != nil {
		if errors.Is(err, trunkline.ErrNotFound) {
			return &Error{Msg: "That invitation was already used or withdrawn."}
		}
		return err
	}
	s.audit(ctx, s.userEntry(sess, "user.invite_withdraw", map[string]string{"invite": id}))
	return nil
}

// InviteByToken returns the live invitation of a link's token.
func (s *Service) InviteByToken(ctx context.Context, token string) (*trunkline.Invite, error) {
	if token == "" || len(token) > 100 {
		return nil, errNoInvite
	}
	inv, err := s.st.InviteByToken(ctx, s.tokenMAC("invite", token))
	if errors.Is(err, trunkline.ErrNotFound) {
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
	v := &trunkline.Verification{Purpose: PurposeInvite, Email: inv.Email, InviteID: inv.ID}
	return s.startVerification(ctx, v, passphrase, phone, channel, source)
}

// completeInvite makes the invited member's user once their phone is verified.
func (s *Service) completeInvite(ctx context.Context, v *trunkline.Verification, source, userAgent string) (*Session, string, error) {
	inv, err := s.st.Invite(ctx, v.InviteID)
	if errors.Is(err, trunkline.ErrNotFound) {
		return nil, "", errNoInvite
	}
	if err != nil {
		return nil, "", err
	}
	now := s.o.Now().UTC().Truncate(time.Microsecond)
	u := &trunkline.User{ID: account.NewID("US"), AccountID: inv.AccountID, Email: inv.Email, Role: inv.Role,
		PassHash: v.PassHash, Phone: v.Phone, PhoneVerifiedAt: &now}
	ok, err := s.st.AcceptInvite(ctx, inv.ID, u)
	if errors.Is(err, trunkline.ErrConflict) {
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
