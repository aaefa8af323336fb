package console

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/compliance"
)

// The customer's side of staff access and the compliance export: an account's owners
// see every request and grant of the operator's staff on their account, set whether
// content access needs their consent, and give or refuse it; every member sees the
// list. The export (owners) gives the account's logins, credential changes, staff
// accesses and configuration changes for a period.

func (s *Server) customerStaffRoutes() {
	s.handle("GET /console/audit/export", owner, s.auditExport)
	if s.o.Staff == nil {
		return
	}
	s.handle("GET /console/staff-access", member, s.staffAccessPage)
	s.handle("POST /console/staff-access/consent", owner, s.staffConsentSet)
	s.handle("POST /console/staff-access/{id}/{decision}", owner, s.staffConsentDecide)
}

func (s *Server) staffAccessData(r *request) (map[string]any, error) {
	ctx := r.Context()
	req, err := s.o.Staff.ConsentRequired(ctx, r.acct.ID)
	if err != nil {
		return nil, err
	}
	gs, err := s.o.Staff.Grants(ctx, trunkline.GrantFilter{AccountID: r.acct.ID, Limit: 100})
	if err != nil {
		return nil, err
	}
	rows, err := s.grantRows(r, gs)
	if err != nil {
		return nil, err
	}
	return map[string]any{"Title": "Staff access", "Nav": "staff", "Required": req, "Grants": rows}, nil
}

func (s *Server) staffAccessPage(r *request) error {
	data, err := s.staffAccessData(r)
	if err != nil {
		return err
	}
	s.render(r, "staff_access", 0, data)
	return nil
}

func (s *Server) staffAccessResult(r *request, err error, notice string) error {
	data, derr := s.staffAccessData(r)
	if derr != nil {
		return derr
	}
	status := 0
	if err != nil {
		var te *trunkline.Error
		if !errors.As(err, &te) || pageStatus(te.Code) == 0 {
			return err
		}
		msg := te.Message
		if te.Code == trunkline.ENOTFOUND {
			msg = errNotFound.msg
		}
		data["Errors"] = map[string]string{"form": msg}
		status = pageStatus(te.Code)
	} else {
		data["Notice"] = notice
	}
	s.render(r, "staff_access", status, data)
	return nil
}

func (s *Server) staffConsentSet(r *request) error {
	req := r.PostFormValue("required") == "1"
	err := s.o.Staff.SetConsent(r.Context(), r.sess.User, r.source, req)
	msg := "The operator's staff may read content under a manager's approval."
	if req {
		msg = "The operator's staff now need your consent, as well as a manager's approval, to read content."
	}
	return s.staffAccessResult(r, err, msg)
}

func (s *Server) staffConsentDecide(r *request) error {
	id := r.PathValue("id")
	if !validID(id) {
		return errNotFound
	}
	var err error
	switch r.PathValue("decision") {
	case "approve":
		_, err = s.o.Staff.Consent(r.Context(), r.sess.User, id)
		return s.staffAccessResult(r, err, "You consented; the grant opens once the operator's management has approved it too.")
	case "deny":
		_, err = s.o.Staff.CustomerDeny(r.Context(), r.sess.User, id)
		return s.staffAccessResult(r, err, "Refused: the operator's staff have no access under this request.")
	}
	return errNotFound
}

// auditExport serves the compliance export of the account (and its subaccounts) for a
// period of days: from and to are dates (UTC), to inclusive; format csv or json.
func (s *Server) auditExport(r *request) error {
	q := r.URL.Query()
	from, err1 := time.Parse("2006-01-02", q.Get("from"))
	to, err2 := time.Parse("2006-01-02", q.Get("to"))
	format := q.Get("format")
	if err1 != nil || err2 != nil || to.Before(from) || (format != "csv" && format != "json") {
		return &pageError{status: http.StatusBadRequest, msg: "Give the period as two dates (YYYY-MM-DD, the first not after the second) and the format: csv or json."}
	}
	to = to.AddDate(0, 0, 1)
	ids, err := s.auditAccounts(r)
	if err != nil {
		return err
	}
	rows, err := compliance.Export(r.Context(), s.o.Audit, ids, from, to)
	if err != nil {
		return err
	}
	name := "trunkline-compliance-" + r.acct.ID + "-" + q.Get("from") + "-" + q.Get("to") + "." + format
	s.auditUser(r, "account.compliance_export", "account", r.acct.ID, map[string]string{"from": q.Get("from"), "to": q.Get("to"),
		"format": format, "rows": strconv.Itoa(len(rows))})
	h := r.w.Header()
	h.Set("Content-Disposition", `attachment; filename="`+name+`"`)
	if format == "csv" {
		h.Set("Content-Type", "text/csv; charset=utf-8")
		return compliance.WriteCSV(r.w, rows)
	}
	h.Set("Content-Type", "application/json")
	return compliance.WriteJSON(r.w, r.acct.ID, from, to, rows)
}
