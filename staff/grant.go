package staff

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/audit"
)

// RequestInput is what a staff member files to reach an account's data.
type RequestInput struct {
	AccountID  string
	Scope      string // trunkline.ScopeMetadata or ScopeContent
	Mode       string // trunkline.ModeRead or ModeAct
	Reason     string
	Ticket     string
	Duration   time.Duration // capped at MaxGrant (MaxBreakGlass for break-glass)
	BreakGlass bool
}

// Limits on the free text of a request.
const (
	maxReason = 500
	maxTicket = 100
)

// State is the grant's state at now: an active grant past its end is GrantExpired.
func State(g *trunkline.AccessGrant, now time.Time) string {
	if g.State == trunkline.GrantActive && g.ExpiresAt != nil && !now.Before(*g.ExpiresAt) {
		return trunkline.GrantExpired
	}
	return g.State
}

// NeedsReview reports whether a break-glass grant still waits for its review.
func NeedsReview(g *trunkline.AccessGrant) bool {
	return g.BreakGlass && g.ReviewedAt == nil && g.ActiveAt != nil
}

var rank = map[string]int{trunkline.ScopeMetadata: 1, trunkline.ScopeContent: 2, trunkline.ModeRead: 1, trunkline.ModeAct: 2}

// Covers reports whether the grant's scope and mode include scope and mode: content
// includes metadata (a message's text is shown with its sender), act includes read.
func Covers(g *trunkline.AccessGrant, scope, mode string) bool {
	return rank[g.Scope] >= rank[scope] && rank[g.Mode] >= rank[mode] && rank[scope] > 0 && rank[mode] > 0
}

// Request files an access request (or opens a break-glass one, which a second staff
// member co-signs). The account must exist.
func (s *Service) Request(ctx context.Context, by *trunkline.Staff, in RequestInput) (*trunkline.AccessGrant, error) {
	in.Reason, in.Ticket = strings.TrimSpace(in.Reason), strings.TrimSpace(in.Ticket)
	switch {
	case rank[in.Scope] == 0 || in.Scope == trunkline.ModeRead || in.Scope == trunkline.ModeAct:
		return nil, refuse(trunkline.EINVALID, "Choose the scope: metadata or content.")
	case in.Mode != trunkline.ModeRead && in.Mode != trunkline.ModeAct:
		return nil, refuse(trunkline.EINVALID, "Choose the mode: read or act.")
	case in.Reason == "" || len(in.Reason) > maxReason:
		return nil, refuse(trunkline.EINVALID, "Give the reason (at most %d characters).", maxReason)
	case in.Ticket == "" || len(in.Ticket) > maxTicket:
		return nil, refuse(trunkline.EINVALID, "Give the ticket reference (at most %d characters).", maxTicket)
	case in.Duration < time.Minute:
		return nil, refuse(trunkline.EINVALID, "The duration must be at least a minute.")
	}
	limit := s.o.MaxGrant
	if in.BreakGlass {
		limit = s.o.MaxBreakGlass
	}
	if in.Duration > limit {
		return nil, refuse(trunkline.EINVALID, "The duration may be at most %s.", limit)
	}
	if _, err := s.st.Account(ctx, in.AccountID); err != nil {
		if errors.Is(err, trunkline.ErrNotFound) {
			return nil, refuse(trunkline.EINVALID, "There is no account %s.", in.AccountID)
		}
		return nil, err
	}
	consent := false
	if in.Scope == trunkline.ScopeContent && !in.BreakGlass {
		var err error
		if consent, err = s.st.StaffConsent(ctx, in.AccountID); err != nil {
			return nil, err
		}
	}
	g := &trunkline.AccessGrant{ID: newID("GR"), AccountID: in.AccountID, StaffID: by.ID, Scope: in.Scope, Mode: in.Mode,
		Reason: in.Reason, Ticket: in.Ticket, Duration: in.Duration.Truncate(time.Second), BreakGlass: in.BreakGlass,
		NeedsConsent: consent, State: trunkline.GrantPending, RequestedAt: s.now()}
	// The customer sees the request before anything is granted; a request that cannot
	// be recorded is not filed.
	if err := s.grantAudit(ctx, g, by, "staff.grant.request", nil); err != nil {
		return nil, err
	}
	if err := s.st.CreateGrant(ctx, g); err != nil {
		return nil, err
	}
	s.count("request")
	return g, nil
}

// grantAudit records a step of g on the customer's account and in the operator's log.
func (s *Service) grantAudit(ctx context.Context, g *trunkline.AccessGrant, actor *trunkline.Staff, action string, extra map[string]string) error {
	d := map[string]string{"grant": g.ID, "scope": g.Scope, "mode": g.Mode, "reason": g.Reason, "ticket": g.Ticket,
		"duration": g.Duration.String()}
	if g.BreakGlass {
		d["break_glass"] = "true"
	}
	for k, v := range extra {
		d[k] = v
	}
	name := "staff"
	if actor != nil {
		name = Actor(actor)
	}
	s.o.Logger.Info("staff access", "action", action, "actor", name, "account", g.AccountID, "grant", g.ID,
		"scope", g.Scope, "mode", g.Mode, "ticket", g.Ticket)
	return s.audit(ctx, audit.Entry{AccountID: g.AccountID, Actor: name, Action: action, ObjectType: "grant", ObjectID: g.ID,
		Outcome: audit.Success, Detail: d})
}

// errDecided is the refusal for a decision on a grant that is no longer pending.
func errDecided(g *trunkline.AccessGrant, now time.Time) error {
	return refuse(trunkline.ECONFLICT, "This request is %s: it can no longer be decided.", State(g, now))
}

// activate makes g active when every approval it needs is in.
func (s *Service) activate(g *trunkline.AccessGrant, now time.Time) {
	if g.ApprovedAt == nil || g.NeedsConsent && g.ConsentAt == nil {
		return
	}
	end := now.Add(g.Duration)
	g.State, g.ActiveAt, g.ExpiresAt = trunkline.GrantActive, &now, &end
}

// usable refuses a disabled staff member.
func usable(st *trunkline.Staff) error {
	if st == nil || st.Disabled {
		return refuse(trunkline.EFORBIDDEN, "This staff member is disabled.")
	}
	return nil
}

// Approve is a manager's approval. The requester cannot approve their own request, and
// a break-glass request is co-signed (Cosign), not approved.
func (s *Service) Approve(ctx context.Context, by *trunkline.Staff, id string) (*trunkline.AccessGrant, error) {
	if err := usable(by); err != nil {
		return nil, err
	}
	if by.Role != trunkline.StaffManagement {
		return nil, refuse(trunkline.EFORBIDDEN, "Only management staff approve access requests.")
	}
	now := s.now()
	g, err := s.st.UpdateGrant(ctx, id, func(g *trunkline.AccessGrant) error {
		switch {
		case g.StaffID == by.ID:
			return refuse(trunkline.EFORBIDDEN, "You cannot approve your own request.")
		case g.BreakGlass:
			return refuse(trunkline.EINVALID, "A break-glass request is co-signed by a second staff member, not approved.")
		case g.State != trunkline.GrantPending || g.ApprovedAt != nil:
			return errDecided(g, now)
		}
		// An owner who turned consent on while the request waited is asked
		// too: the setting protects the account from then on, not only
		// from requests filed later.
		if g.Scope == trunkline.ScopeContent && !g.NeedsConsent {
			required, err := s.st.StaffConsent(ctx, g.AccountID)
			if err != nil {
				return err
			}
			g.NeedsConsent = required
		}
		g.ApprovedBy, g.ApprovedAt = by.ID, &now
		s.activate(g, now)
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.count("approve")
	return g, s.grantAudit(ctx, g, by, "staff.grant.approve", map[string]string{"state": g.State})
}

// Deny is a manager's refusal. Any deny wins: it ends a pending request, one waiting
// for the customer's consent, and an active grant.
func (s *Service) Deny(ctx context.Context, by *trunkline.Staff, id string) (*trunkline.AccessGrant, error) {
	if err := usable(by); err != nil {
		return nil, err
	}
	if by.Role != trunkline.StaffManagement {
		return nil, refuse(trunkline.EFORBIDDEN, "Only management staff deny access requests.")
	}
	return s.deny(ctx, id, "staff:"+by.ID, by, nil)
}

func (s *Service) deny(ctx context.Context, id, who string, by *trunkline.Staff, check func(*trunkline.AccessGrant) error) (*trunkline.AccessGrant, error) {
	now := s.now()
	g, err := s.st.UpdateGrant(ctx, id, func(g *trunkline.AccessGrant) error {
		if check != nil {
			if err := check(g); err != nil {
				return err
			}
		}
		if st := State(g, now); st != trunkline.GrantPending && st != trunkline.GrantActive {
			return errDecided(g, now)
		}
		g.State, g.DeniedBy, g.DeniedAt = trunkline.GrantDenied, who, &now
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.count("deny")
	return g, s.grantAudit(ctx, g, by, "staff.grant.deny", map[string]string{"by": who})
}

// Revoke ends a pending or active grant: the requester (withdrawing), management or
// security staff.
func (s *Service) Revoke(ctx context.Context, by *trunkline.Staff, id string) (*trunkline.AccessGrant, error) {
	if err := usable(by); err != nil {
		return nil, err
	}
	now := s.now()
	g, err := s.st.UpdateGrant(ctx, id, func(g *trunkline.AccessGrant) error {
		if g.StaffID != by.ID && by.Role != trunkline.StaffManagement && by.Role != trunkline.StaffSecurity {
			return refuse(trunkline.EFORBIDDEN, "Only the requester, management or security revoke a grant.")
		}
		if st := State(g, now); st != trunkline.GrantPending && st != trunkline.GrantActive {
			return refuse(trunkline.ECONFLICT, "This grant is %s already.", st)
		}
		g.State, g.RevokedBy, g.RevokedAt = trunkline.GrantRevoked, "staff:"+by.ID, &now
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.count("revoke")
	return g, s.grantAudit(ctx, g, by, "staff.grant.revoke", nil)
}

// ownerOf checks that u is an owner of the grant's account (or of its main account).
func (s *Service) ownerOf(ctx context.Context, u *trunkline.User, g *trunkline.AccessGrant) error {
	if u.Role != trunkline.RoleOwner {
		return refuse(trunkline.EFORBIDDEN, "Only the account's owners decide on staff access.")
	}
	if u.AccountID == g.AccountID {
		return nil
	}
	a, err := s.st.Account(ctx, g.AccountID)
	if err != nil {
		return err
	}
	if a.ParentID != u.AccountID {
		return trunkline.ErrNotFound
	}
	return nil
}

// Consent is the account owner's approval of a content request their account's setting
// makes wait for them.
func (s *Service) Consent(ctx context.Context, u *trunkline.User, id string) (*trunkline.AccessGrant, error) {
	now := s.now()
	g, err := s.st.UpdateGrant(ctx, id, func(g *trunkline.AccessGrant) error {
		if err := s.ownerOf(ctx, u, g); err != nil {
			return err
		}
		if !g.NeedsConsent {
			return refuse(trunkline.EINVALID, "This request does not need your consent.")
		}
		if g.State != trunkline.GrantPending || g.ConsentAt != nil {
			return errDecided(g, now)
		}
		g.ConsentBy, g.ConsentAt = u.ID, &now
		s.activate(g, now)
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.count("consent")
	return g, s.customerAudit(ctx, g, u, "staff.grant.consent")
}

// CustomerDeny is the account owner's refusal (or, once active, withdrawal) of a grant
// that needs their consent. Any deny wins.
func (s *Service) CustomerDeny(ctx context.Context, u *trunkline.User, id string) (*trunkline.AccessGrant, error) {
	g, err := s.deny(ctx, id, "user:"+u.ID, nil, func(g *trunkline.AccessGrant) error {
		if err := s.ownerOf(ctx, u, g); err != nil {
			return err
		}
		if !g.NeedsConsent {
			return refuse(trunkline.EINVALID, "This request does not need your consent; the operator's management decides on it.")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return g, s.customerAudit(ctx, g, u, "staff.grant.customer_deny")
}

func (s *Service) customerAudit(ctx context.Context, g *trunkline.AccessGrant, u *trunkline.User, action string) error {
	s.o.Logger.Info("staff access", "action", action, "actor", "console:"+u.Email, "account", g.AccountID, "grant", g.ID)
	return s.audit(ctx, audit.Entry{AccountID: g.AccountID, Actor: "console:" + u.Email, Action: action, ObjectType: "grant",
		ObjectID: g.ID, Outcome: audit.Success, Detail: map[string]string{"grant": g.ID, "state": g.State, "ticket": g.Ticket}})
}

// Cosign is the second staff member of a break-glass request: someone other than the
// requester, and one of the two must be in security. The grant opens at once, pages,
// and is flagged for review.
func (s *Service) Cosign(ctx context.Context, by *trunkline.Staff, id string) (*trunkline.AccessGrant, error) {
	if err := usable(by); err != nil {
		return nil, err
	}
	now := s.now()
	var opener *trunkline.Staff
	g, err := s.st.UpdateGrant(ctx, id, func(g *trunkline.AccessGrant) error {
		if !g.BreakGlass {
			return refuse(trunkline.EINVALID, "Only break-glass requests are co-signed; this one needs a manager's approval.")
		}
		if g.StaffID == by.ID {
			return refuse(trunkline.EFORBIDDEN, "Break-glass needs a second staff member: you cannot co-sign your own request.")
		}
		if g.State != trunkline.GrantPending {
			return errDecided(g, now)
		}
		var err error
		if opener, err = s.st.Staff(ctx, g.StaffID); err != nil {
			return err
		}
		if opener.Role != trunkline.StaffSecurity && by.Role != trunkline.StaffSecurity {
			return refuse(trunkline.EFORBIDDEN, "Break-glass needs one of the two staff members to be in security.")
		}
		g.ApprovedBy, g.ApprovedAt = by.ID, &now
		s.activate(g, now)
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.count("breakglass")
	s.o.Logger.Warn("break-glass access opened", "account", g.AccountID, "grant", g.ID, "opener", opener.Email,
		"cosigner", by.Email, "ticket", g.Ticket, "expires", g.ExpiresAt)
	err = s.grantAudit(ctx, g, by, "staff.breakglass", map[string]string{"opener": Actor(opener), "cosigner": Actor(by),
		"review": "required"})
	if s.o.Pager != nil {
		if perr := s.o.Pager.Page(ctx, g, opener, by); perr != nil {
			s.o.Logger.Error("break-glass page failed", "grant", g.ID, "err", perr)
		}
	}
	return g, err
}

// Review closes a break-glass grant's review: a manager who was neither of the two.
func (s *Service) Review(ctx context.Context, by *trunkline.Staff, id, note string) (*trunkline.AccessGrant, error) {
	if err := usable(by); err != nil {
		return nil, err
	}
	if by.Role != trunkline.StaffManagement {
		return nil, refuse(trunkline.EFORBIDDEN, "Only management staff review break-glass access.")
	}
	note = strings.TrimSpace(note)
	if note == "" || len(note) > maxReason {
		return nil, refuse(trunkline.EINVALID, "Write what the review found (at most %d characters).", maxReason)
	}
	now := s.now()
	g, err := s.st.UpdateGrant(ctx, id, func(g *trunkline.AccessGrant) error {
		switch {
		case !NeedsReview(g):
			return refuse(trunkline.ECONFLICT, "This grant has no review pending.")
		case g.StaffID == by.ID || g.ApprovedBy == by.ID:
			return refuse(trunkline.EFORBIDDEN, "The review is by someone other than the two who opened it.")
		}
		g.ReviewedBy, g.ReviewedAt, g.ReviewNote = by.ID, &now, note
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.count("review")
	return g, s.grantAudit(ctx, g, by, "staff.breakglass.review", map[string]string{"note": note})
}

// Grants lists grants (newest first).
func (s *Service) Grants(ctx context.Context, f trunkline.GrantFilter) ([]*trunkline.AccessGrant, error) {
	return s.st.ListGrants(ctx, f)
}

// Grant reads one grant.
func (s *Service) Grant(ctx context.Context, id string) (*trunkline.AccessGrant, error) {
	return s.st.Grant(ctx, id)
}

// ErrNoGrant is the answer to every customer-data request without a grant covering it:
// the same whether the account exists or not.
var ErrNoGrant = &trunkline.Error{Code: trunkline.EFORBIDDEN, Message: "You hold no active grant for this account that covers this."}

// Authorize finds the staff member's active grant on account covering scope and mode.
func (s *Service) Authorize(ctx context.Context, st *trunkline.Staff, accountID, scope, mode string) (*trunkline.AccessGrant, error) {
	if usable(st) != nil || accountID == "" {
		return nil, ErrNoGrant
	}
	gs, err := s.st.ListGrants(ctx, trunkline.GrantFilter{AccountID: accountID, StaffID: st.ID, States: []string{trunkline.GrantActive}})
	if err != nil {
		return nil, err
	}
	now := s.o.Now()
	for _, g := range gs {
		if State(g, now) == trunkline.GrantActive && Covers(g, scope, mode) {
			return g, nil
		}
	}
	return nil, ErrNoGrant
}

// Use is what a staff page calls before it shows or changes customer data: it finds the
// grant and records the read or act (action, object) on the customer's account and in
// the operator's log. Nothing may be shown when it fails: without a grant, or when the
// entry cannot be recorded.
func (s *Service) Use(ctx context.Context, sess *Session, accountID, scope, mode, what, objType, objID string) (*trunkline.AccessGrant, error) {
	g, err := s.Authorize(ctx, sess.Staff, accountID, scope, mode)
	if err != nil {
		if errors.Is(err, ErrNoGrant) {
			s.count("refused")
			s.o.Logger.Warn("staff access refused", "staff", sess.Staff.Email, "account", accountID, "scope", scope, "mode", mode, "what", what)
		}
		return nil, err
	}
	action := "staff.read"
	if mode == trunkline.ModeAct {
		action = "staff.act"
	}
	s.count(mode)
	s.o.Logger.Info("staff access", "action", action, "what", what, "actor", Actor(sess.Staff), "account", accountID,
		"grant", g.ID, "object", objType+" "+objID, "ticket", g.Ticket, "source", sess.Source)
	d := map[string]string{"grant": g.ID, "what": what, "scope": scope, "reason": g.Reason, "ticket": g.Ticket}
	if g.BreakGlass {
		d["break_glass"] = "true"
	}
	if err := s.audit(ctx, audit.Entry{AccountID: accountID, Actor: Actor(sess.Staff), Action: action, ObjectType: objType,
		ObjectID: objID, Source: sess.Source, Outcome: audit.Success, Detail: d}); err != nil {
		return nil, err
	}
	return g, nil
}

// SetConsent sets whether the account requires its owner's consent for staff access to
// content (an owner, in their console). Turned on, it also holds a content request that
// still waits for its manager (Approve asks again); grants already open keep running.
func (s *Service) SetConsent(ctx context.Context, u *trunkline.User, source string, required bool) error {
	if u.Role != trunkline.RoleOwner {
		return refuse(trunkline.EFORBIDDEN, "Only the account's owners change this setting.")
	}
	if err := s.st.SetStaffConsent(ctx, u.AccountID, required); err != nil {
		return err
	}
	return s.audit(ctx, audit.Entry{AccountID: u.AccountID, Actor: "console:" + u.Email, Action: "account.staff_consent",
		ObjectType: "account", ObjectID: u.AccountID, Source: source, Outcome: audit.Success,
		Detail: map[string]string{"required": map[bool]string{true: "true", false: "false"}[required]}})
}

// ConsentRequired reports the account's consent setting.
func (s *Service) ConsentRequired(ctx context.Context, accountID string) (bool, error) {
	return s.st.StaffConsent(ctx, accountID)
}

// Member reads a staff member (for showing names).
func (s *Service) Member(ctx context.Context, id string) (*trunkline.Staff, error) {
	return s.st.Staff(ctx, id)
}

// Members lists the staff.
func (s *Service) Members(ctx context.Context) ([]*trunkline.Staff, error) {
	return s.st.ListStaff(ctx)
}
