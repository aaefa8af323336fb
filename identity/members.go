package identity

import (
	"context"
	"errors"

	"github.com/trunkline/trunkline"
)

// Offboarding: an owner removes a member or changes their role. Both take effect at the
// member's next request, whatever sessions they hold: Authenticate reads the user on
// every request, and a removed user's sessions are deleted with them.

var (
	errNoMember  = &Error{Msg: "That member is not in this account (any more)."}
	errLastOwner = &Error{Msg: "The account must keep an owner: make another member owner first."}
)

// member checks that sess may manage members and returns the target user of its account.
func (s *Service) member(ctx context.Context, sess *Session, userID string) (*trunkline.User, error) {
	if sess.User.Role != trunkline.RoleOwner {
		return nil, &Error{Msg: "Only the account's owner can manage members."}
	}
	if err := s.requireFresh(ctx, sess); err != nil {
		return nil, err
	}
	u, err := s.st.User(ctx, userID)
	if errors.Is(err, trunkline.ErrNotFound) || (err == nil && u.AccountID != sess.User.AccountID) {
		return nil, errNoMember
	}
	return u, err
}

func memberErr(err error) error {
	switch {
	case errors.Is(err, trunkline.ErrNotFound):
		return errNoMember
	case errors.Is(err, trunkline.ErrLastOwner):
		return errLastOwner
	}
	return err
}

// RemoveMember removes a user from the session user's account (owner only, with a fresh
// second factor). Their sessions end at once; the account's last owner cannot be removed.
func (s *Service) RemoveMember(ctx context.Context, sess *Session, userID string) error {
	u, err := s.member(ctx, sess, userID)
	if err != nil {
		return err
	}
	if err := s.st.DeleteUser(ctx, u.AccountID, u.ID); err != nil {
		return memberErr(err)
	}
	e := s.userEntry(sess, "user.remove", map[string]string{"email": u.Email, "role": u.Role})
	e.ObjectID = u.ID
	s.audit(ctx, e)
	return nil
}

// SetMemberRole changes the role of a user of the session user's account (owner only,
// with a fresh second factor); it applies from the member's next request. The account's
// last owner keeps the owner role.
func (s *Service) SetMemberRole(ctx context.Context, sess *Session, userID, role string) error {
	if err := checkRole(role); err != nil {
		return err
	}
	u, err := s.member(ctx, sess, userID)
	if err != nil {
		return err
	}
	if u.Role == role {
		return nil
	}
	if err := s.st.SetUserRole(ctx, u.AccountID, u.ID, role); err != nil {
		return memberErr(err)
	}
	e := s.userEntry(sess, "user.role_change", map[string]string{"email": u.Email, "from": u.Role, "to": role})
	e.ObjectID = u.ID
	s.audit(ctx, e)
	return nil
}
