package console

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/staff"
)

// The staff console (/staff/): the operator's people log in with their own accounts
// (passphrase and TOTP), with their own cookie, sessions and login throttle, separate
// from the customers' console. They file, decide and revoke access requests here, and
// see a customer's data only through staffDataRoutes, each of which asks package staff
// for a grant covering it and records the read or act before anything is shown.

const cookieStaff = "__Host-tl_staff"

// staffDataRoute is a staff console page that shows or changes customer data, and the
// grant scope and mode it needs.
type staffDataRoute struct {
	Method, Pattern string
	Scope, Mode     string
	What            string // as the audit entry names it
	h               func(r *request, a *trunkline.Account) error
}

// staffDataRoutes lists every staff page that shows or changes a customer's data. Each
// is served only under a grant (staffData); the isolation test walks this table.
func (s *Server) staffDataRoutes() []staffDataRoute {
	md, ct, rd, act := trunkline.ScopeMetadata, trunkline.ScopeContent, trunkline.ModeRead, trunkline.ModeAct
	return []staffDataRoute{
		{"GET", "/staff/accounts/{account}/{$}", md, rd, "account", s.staffAccountPage},
		{"GET", "/staff/accounts/{account}/messages", md, rd, "messages", s.staffMessagesPage},
		{"GET", "/staff/accounts/{account}/messages/{uuid}", ct, rd, "message", s.staffMessagePage},
		{"GET", "/staff/accounts/{account}/calls", md, rd, "calls", s.staffCallsPage},
		{"GET", "/staff/accounts/{account}/recordings", md, rd, "recordings", s.staffRecordingsPage},
		{"GET", "/staff/accounts/{account}/recordings/{id}/audio", ct, rd, "recording.audio", s.staffRecordingAudio},
		{"GET", "/staff/accounts/{account}/audit", md, rd, "audit", s.staffAuditPage},
		{"POST", "/staff/accounts/{account}/allowlist/clear", md, act, "api_allowlist.clear", s.staffAllowlistClear},
	}
}

// Staff access levels.
const (
	staffPublic = iota
	staffMember
)

func (s *Server) staffRoutes() {
	if s.o.Staff == nil {
		return
	}
	s.handleStaff("GET /staff", staffPublic, func(r *request) error { return &errRedirect{"/staff/"} })
	s.handleStaff("GET /staff/login", staffPublic, s.staffLoginPage)
	s.handleStaff("POST /staff/login", staffPublic, s.staffLogin)
	s.handleStaff("POST /staff/logout", staffMember, s.staffLogout)
	s.handleStaff("GET /staff/{$}", staffMember, s.staffHome)
	s.handleStaff("POST /staff/requests", staffMember, s.staffRequest)
	s.handleStaff("POST /staff/requests/{id}/{decision}", staffMember, s.staffDecide)
	for _, rt := range s.staffDataRoutes() {
		s.handleStaff(rt.Method+" "+rt.Pattern, staffMember, s.staffData(rt))
	}
}

// handleStaff registers a staff console route: the staff session (not a customer's)
// is loaded, and POSTs carry its CSRF token.
func (s *Server) handleStaff(pattern string, level int, h handler) {
	s.handle(pattern, staffArea, func(r *request) error {
		if c, err := r.Cookie(cookieStaff); err == nil {
			sess, err := s.o.Staff.Authenticate(r.Context(), c.Value, r.source)
			if err != nil && !errors.Is(err, staff.ErrSession) {
				return err
			}
			if sess == nil {
				s.clearCookie(r, cookieStaff)
			}
			r.staff = sess
		}
		if level == staffMember && r.staff == nil {
			return &errRedirect{"/staff/login"}
		}
		if r.staff == nil {
			r.pre = s.preToken(r)
		}
		if r.Method == http.MethodPost {
			if err := s.checkCSRF(r); err != nil {
				return err
			}
		}
		return h(r)
	})
}

// staffData serves a customer-data route: a grant covering it, recorded on the
// customer's audit log, or nothing at all (the same answer whether the account exists).
func (s *Server) staffData(rt staffDataRoute) handler {
	return func(r *request) error {
		id := r.PathValue("account")
		objType, objID := "account", id
		for _, v := range []string{"uuid", "id"} {
			if x := r.PathValue(v); x != "" {
				if !validID(x) {
					return errNoGrantPage
				}
				objType, objID = strings.SplitN(rt.What, ".", 2)[0], x
			}
		}
		if !validID(id) {
			return errNoGrantPage
		}
		if _, err := s.o.Staff.Use(r.Context(), r.staff, id, rt.Scope, rt.Mode, rt.What, objType, objID); err != nil {
			if errors.Is(err, staff.ErrNoGrant) {
				return errNoGrantPage
			}
			return err
		}
		a, err := s.db.Account(r.Context(), id)
		if err != nil {
			return err
		}
		return rt.h(r, a)
	}
}

var errNoGrantPage = &pageError{status: http.StatusForbidden, msg: "You hold no active grant covering this. File an access request on the staff home page."}

func (s *Server) staffRender(r *request, page string, status int, data map[string]any) {
	data["Wide"] = true
	data["Staff"] = r.staff.Staff
	s.render(r, page, status, data)
}

func (s *Server) staffLoginPage(r *request) error {
	if r.staff != nil {
		return &errRedirect{"/staff/"}
	}
	s.render(r, "staff_login", 0, map[string]any{"Title": "Staff log in"})
	return nil
}

func (s *Server) staffLogin(r *request) error {
	sess, token, err := s.o.Staff.Login(r.Context(), r.PostFormValue("email"), r.PostFormValue("passphrase"), r.PostFormValue("code"), r.source)
	if err != nil {
		var te *trunkline.Error
		if errors.As(err, &te) {
			s.formError(r, "staff_login", map[string]any{"Title": "Staff log in"}, "form", te.Message)
			return nil
		}
		return err
	}
	if r.staff != nil {
		s.o.Staff.Logout(r.Context(), r.staff)
	}
	_ = sess
	s.setCookie(r, cookieStaff, token)
	return &errRedirect{"/staff/"}
}

func (s *Server) staffLogout(r *request) error {
	if err := s.o.Staff.Logout(r.Context(), r.staff); err != nil {
		return err
	}
	s.clearCookie(r, cookieStaff)
	return &errRedirect{"/staff/login"}
}

// grantRow is a grant as the staff and customer pages show it.
type grantRow struct {
	*trunkline.AccessGrant
	Requester, Approver string
	Status              string
	Review              bool
	// What the viewing staff member may do with it.
	CanApprove, CanDeny, CanRevoke, CanCosign, CanReview, Mine bool
}

func (s *Server) grantRows(r *request, gs []*trunkline.AccessGrant) ([]grantRow, error) {
	names := map[string]string{}
	name := func(id string) string {
		if id == "" {
			return ""
		}
		if n, ok := names[id]; ok {
			return n
		}
		n := id
		if st, err := s.o.Staff.Member(r.Context(), id); err == nil {
			n = st.Email
		}
		names[id] = n
		return n
	}
	now := s.o.Now()
	rows := make([]grantRow, len(gs))
	for i, g := range gs {
		row := grantRow{AccessGrant: g, Requester: name(g.StaffID), Approver: name(g.ApprovedBy), Status: staff.State(g, now), Review: staff.NeedsReview(g)}
		if me := r.staff; me != nil {
			mgr := me.Staff.Role == trunkline.StaffManagement
			open := row.Status == trunkline.GrantPending || row.Status == trunkline.GrantActive
			row.Mine = g.StaffID == me.Staff.ID
			row.CanApprove = mgr && !row.Mine && !g.BreakGlass && g.State == trunkline.GrantPending && g.ApprovedAt == nil
			row.CanDeny = mgr && open
			row.CanRevoke = open && (row.Mine || mgr || me.Staff.Role == trunkline.StaffSecurity)
			row.CanCosign = g.BreakGlass && !row.Mine && g.State == trunkline.GrantPending
			row.CanReview = mgr && row.Review && !row.Mine && g.ApprovedBy != me.Staff.ID
		}
		rows[i] = row
	}
	return rows, nil
}

func (s *Server) staffHomeData(r *request) (map[string]any, error) {
	ctx := r.Context()
	mine, err := s.o.Staff.Grants(ctx, trunkline.GrantFilter{StaffID: r.staff.Staff.ID, Limit: 50})
	if err != nil {
		return nil, err
	}
	open, err := s.o.Staff.Grants(ctx, trunkline.GrantFilter{States: []string{trunkline.GrantPending, trunkline.GrantActive}, Limit: 200})
	if err != nil {
		return nil, err
	}
	var others []*trunkline.AccessGrant
	for _, g := range open {
		if g.StaffID != r.staff.Staff.ID {
			others = append(others, g)
		}
	}
	// Break-glass grants waiting for review, whatever their state.
	all, err := s.o.Staff.Grants(ctx, trunkline.GrantFilter{Limit: 500})
	if err != nil {
		return nil, err
	}
	for _, g := range all {
		if staff.NeedsReview(g) && g.State != trunkline.GrantActive && g.StaffID != r.staff.Staff.ID {
			others = append(others, g)
		}
	}
	mr, err := s.grantRows(r, mine)
	if err != nil {
		return nil, err
	}
	or, err := s.grantRows(r, others)
	if err != nil {
		return nil, err
	}
	o := s.o.Staff.Options()
	return map[string]any{"Title": "Staff", "Mine": mr, "Others": or, "MaxHours": o.MaxGrant.Hours(),
		"MaxBreakGlassMinutes": o.MaxBreakGlass.Minutes()}, nil
}

func (s *Server) staffHome(r *request) error {
	data, err := s.staffHomeData(r)
	if err != nil {
		return err
	}
	if n := r.URL.Query().Get("done"); n != "" {
		data["Notice"] = map[string]string{"requested": "Your request is filed. A manager (or, for break-glass, a second staff member) decides on it.",
			"approve": "Approved.", "deny": "Denied.", "revoke": "Revoked.", "cosign": "Co-signed: the break-glass grant is open and the operator has been paged.",
			"review": "Review recorded."}[n]
	}
	s.staffRender(r, "staff_home", 0, data)
	return nil
}

// staffFail shows a refusal of the grant rules on the staff home page.
func (s *Server) staffFail(r *request, err error) error {
	var te *trunkline.Error
	if !errors.As(err, &te) || pageStatus(te.Code) == 0 {
		return err
	}
	msg := te.Message
	if te.Code == trunkline.ENOTFOUND {
		msg = "There is no such request."
	}
	data, derr := s.staffHomeData(r)
	if derr != nil {
		return derr
	}
	data["Errors"] = map[string]string{"form": msg}
	data["Form"] = r.PostForm
	s.staffRender(r, "staff_home", pageStatus(te.Code), data)
	return nil
}

func (s *Server) staffRequest(r *request) error {
	d, err := time.ParseDuration(strings.TrimSpace(r.PostFormValue("duration")))
	if err != nil {
		if m, aerr := strconv.Atoi(strings.TrimSpace(r.PostFormValue("duration"))); aerr == nil {
			d, err = time.Duration(m)*time.Minute, nil
		}
	}
	if err != nil {
		return s.staffFail(r, &trunkline.Error{Code: trunkline.EINVALID, Message: "Give the duration in minutes (e.g. 60) or as 1h30m."})
	}
	_, err = s.o.Staff.Request(r.Context(), r.staff.Staff, staff.RequestInput{AccountID: strings.TrimSpace(r.PostFormValue("account")),
		Scope: r.PostFormValue("scope"), Mode: r.PostFormValue("mode"), Reason: r.PostFormValue("reason"), Ticket: r.PostFormValue("ticket"),
		Duration: d, BreakGlass: r.PostFormValue("break_glass") == "1"})
	if err != nil {
		return s.staffFail(r, err)
	}
	return &errRedirect{"/staff/?done=requested"}
}

func (s *Server) staffDecide(r *request) error {
	id, me, ctx := r.PathValue("id"), r.staff.Staff, r.Context()
	if !validID(id) {
		return s.staffFail(r, trunkline.ErrNotFound)
	}
	var err error
	decision := r.PathValue("decision")
	switch decision {
	case "approve":
		_, err = s.o.Staff.Approve(ctx, me, id)
	case "deny":
		_, err = s.o.Staff.Deny(ctx, me, id)
	case "revoke":
		_, err = s.o.Staff.Revoke(ctx, me, id)
	case "cosign":
		_, err = s.o.Staff.Cosign(ctx, me, id)
	case "review":
		_, err = s.o.Staff.Review(ctx, me, id, r.PostFormValue("note"))
	default:
		return errNotFound
	}
	if err != nil {
		return s.staffFail(r, err)
	}
	return &errRedirect{"/staff/?done=" + decision}
}

// ---- Customer data, under a grant ----

// staffScope is what a grant on account a reaches: that account only.
func staffScope(a *trunkline.Account) trunkline.Scope { return trunkline.Scope{AccountID: a.ID} }

func (s *Server) staffAccountData(r *request, a *trunkline.Account, view string) map[string]any {
	return map[string]any{"Title": a.Name, "A": a, "View": view}
}

func (s *Server) staffAccountPage(r *request, a *trunkline.Account) error {
	data := s.staffAccountData(r, a, "account")
	data["Allowlist"] = a.APIAllow
	s.staffRender(r, "staff_account", 0, data)
	return nil
}

func (s *Server) staffMessagesPage(r *request, a *trunkline.Account) error {
	off := offsetParam(r.URL.Query(), "offset")
	ms, total, err := s.db.ListMessages(r.Context(), staffScope(a), trunkline.MessageFilter{Limit: pageSize, Offset: off})
	if err != nil {
		return err
	}
	// Metadata only: the list never carries a message's text.
	for _, m := range ms {
		m.Body = ""
	}
	data := s.staffAccountData(r, a, "messages")
	data["Messages"], data["Pager"] = ms, newPager(r.URL, "offset", off, len(ms), total)
	s.staffRender(r, "staff_account", 0, data)
	return nil
}

func (s *Server) staffMessagePage(r *request, a *trunkline.Account) error {
	m, err := s.db.Message(r.Context(), staffScope(a), r.PathValue("uuid"))
	if err != nil {
		return err
	}
	data := s.staffAccountData(r, a, "message")
	data["M"] = m
	s.staffRender(r, "staff_account", 0, data)
	return nil
}

func (s *Server) staffCallsPage(r *request, a *trunkline.Account) error {
	off := offsetParam(r.URL.Query(), "offset")
	cs, total, err := s.db.ListCalls(r.Context(), staffScope(a), trunkline.CallFilter{Limit: pageSize, Offset: off})
	if err != nil {
		return err
	}
	data := s.staffAccountData(r, a, "calls")
	data["Calls"], data["Pager"] = callRows(cs), newPager(r.URL, "offset", off, len(cs), total)
	s.staffRender(r, "staff_account", 0, data)
	return nil
}

func (s *Server) staffRecordingsPage(r *request, a *trunkline.Account) error {
	off := offsetParam(r.URL.Query(), "offset")
	rs, total, err := s.db.ListRecordings(r.Context(), staffScope(a), trunkline.RecordingFilter{Limit: pageSize, Offset: off})
	if err != nil {
		return err
	}
	data := s.staffAccountData(r, a, "recordings")
	data["Recordings"], data["Pager"] = rs, newPager(r.URL, "offset", off, len(rs), total)
	s.staffRender(r, "staff_account", 0, data)
	return nil
}

func (s *Server) staffRecordingAudio(r *request, a *trunkline.Account) error {
	if s.o.Recordings == nil {
		return errNotFound
	}
	rec, err := s.db.GetRecording(r.Context(), staffScope(a), r.PathValue("id"))
	if err != nil {
		return err
	}
	return s.streamRecording(r, rec)
}

func (s *Server) staffAuditPage(r *request, a *trunkline.Account) error {
	off := offsetParam(r.URL.Query(), "offset")
	rows, total, err := s.auditRows(r, []string{a.ID}, "", off)
	if err != nil {
		return err
	}
	data := s.staffAccountData(r, a, "audit")
	data["Entries"], data["Pager"] = rows, newPager(r.URL, "offset", off, len(rows), total)
	s.staffRender(r, "staff_account", 0, data)
	return nil
}

// staffAllowlistClear is the act a support person most often needs: a customer who
// locked their API out with a wrong allowlist gets it cleared.
func (s *Server) staffAllowlistClear(r *request, a *trunkline.Account) error {
	if err := s.db.SetAPIAllow(r.Context(), a.ID, ""); err != nil {
		return err
	}
	s.o.Accounts.Invalidate(a.ID)
	return &errRedirect{"/staff/accounts/" + url.PathEscape(a.ID) + "/?cleared=1"}
}
