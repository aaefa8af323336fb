package identity

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/trunkline/trunkline"
)

// invited makes a member of owner's account through an invitation, and returns their
// session and its cookie token.
func (f *fixture) invited(t *testing.T, owner *Session, email, role, phone string) (*Session, string) {
	t.Helper()
	ctx := context.Background()
	token, _, err := f.s.Invite(ctx, owner, email, role)
	if err != nil {
		t.Fatal(err)
	}
	flow, err := f.s.StartInvite(ctx, token, goodPass, phone, "sms", "192.0.2.80")
	if err != nil {
		t.Fatal(err)
	}
	sess, stoken, err := f.s.CompleteSignup(ctx, flow.Token, f.codes.last(strings.TrimPrefix(phone, "+")), "192.0.2.80", "")
	if err != nil {
		t.Fatal(err)
	}
	return sess, stoken
}

func TestMembersOffboarding(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		owner, _ := f.signup(t, "owner@example.com", "+14155550800")
		dev, devToken := f.invited(t, owner, "dev@example.com", trunkline.RoleDeveloper, "+14155550801")
		other, _ := f.signup(t, "other@example.com", "+14155550802")

		// A role change applies at the member's next request, in the session they hold.
		if err := f.s.SetMemberRole(ctx, owner, dev.User.ID, trunkline.RoleReadOnly); err != nil {
			t.Fatal(err)
		}
		if s, err := f.s.Authenticate(ctx, devToken, "192.0.2.80"); err != nil || s.User.Role != trunkline.RoleReadOnly {
			t.Fatalf("after the role change: %+v, %v", s, err)
		}
		// Only an owner manages members, and only of their own account.
		devNow, _ := f.s.Authenticate(ctx, devToken, "192.0.2.80")
		if err := f.s.RemoveMember(ctx, devNow, owner.User.ID); err == nil {
			t.Fatal("a read-only member removed the owner")
		}
		if err := f.s.RemoveMember(ctx, owner, other.User.ID); !errors.Is(err, errNoMember) {
			t.Fatalf("removing another account's user: %v", err)
		}
		if err := f.s.SetMemberRole(ctx, owner, other.User.ID, trunkline.RoleReadOnly); !errors.Is(err, errNoMember) {
			t.Fatalf("changing another account's user: %v", err)
		}
		if err := f.s.SetMemberRole(ctx, owner, dev.User.ID, "admin"); err == nil {
			t.Fatal("an unknown role was set")
		}
		// The last owner stays.
		if err := f.s.SetMemberRole(ctx, owner, owner.User.ID, trunkline.RoleDeveloper); !errors.Is(err, errLastOwner) {
			t.Fatalf("demoting the last owner: %v", err)
		}
		if err := f.s.RemoveMember(ctx, owner, owner.User.ID); !errors.Is(err, errLastOwner) {
			t.Fatalf("removing the last owner: %v", err)
		}

		// Removed: the session they still hold stops working at once.
		if err := f.s.RemoveMember(ctx, owner, dev.User.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.Authenticate(ctx, devToken, "192.0.2.80"); !errors.Is(err, ErrSession) {
			t.Fatalf("the removed member's session: %v", err)
		}
		if _, _, err := f.s.Login(ctx, "dev@example.com", goodPass, "192.0.2.80", ""); !errors.Is(err, ErrLogin) {
			t.Fatalf("the removed member logged in: %v", err)
		}
		if err := f.s.RemoveMember(ctx, owner, dev.User.ID); !errors.Is(err, errNoMember) {
			t.Fatalf("removing twice: %v", err)
		}
		text := f.audit.text()
		for _, want := range []string{"user.role_change", "user.remove"} {
			if !strings.Contains(text, want) {
				t.Errorf("no %s audit entry", want)
			}
		}
	})
}

// TestInviteDoesNotTellOtherAccounts: inviting the email of another account's user looks
// to the owner exactly like inviting a new email.
func TestInviteDoesNotTellOtherAccounts(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		owner, _ := f.signup(t, "a-owner@example.com", "+14155550900")
		f.signup(t, "elsewhere@example.com", "+14155550901")
		tNew, invNew, errNew := f.s.Invite(ctx, owner, "nobody@example.com", trunkline.RoleDeveloper)
		tOld, invOld, errOld := f.s.Invite(ctx, owner, "elsewhere@example.com", trunkline.RoleDeveloper)
		if errNew != nil || errOld != nil || tNew == "" || tOld == "" || invOld.Email != "elsewhere@example.com" {
			t.Fatalf("new email: %v; another account's user: %v", errNew, errOld)
		}
		if invNew.Role != invOld.Role || invNew.ExpiresAt != invOld.ExpiresAt {
			t.Fatalf("the invitations differ: %+v vs %+v", invNew, invOld)
		}
		// The link stops at its acceptance, for the email's holder, who logs in instead;
		// the other account's user is untouched.
		flow, err := f.s.StartInvite(ctx, tOld, goodPass, "+14155550902", "sms", "192.0.2.90")
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.s.CompleteSignup(ctx, flow.Token, f.codes.last("14155550902"), "192.0.2.90", ""); userMsg(err) == "" {
			t.Fatalf("accepting an invitation of an existing user: %v", err)
		}
		if u, err := f.db.UserByEmail(ctx, "elsewhere@example.com"); err != nil || u.AccountID == owner.User.AccountID {
			t.Fatalf("the other account's user: %+v, %v", u, err)
		}
	})
}
