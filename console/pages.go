package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/application"
	"github.com/trunkline/trunkline/audit"
	"github.com/trunkline/trunkline/input"
	"github.com/trunkline/trunkline/number"
)

// The console's data pages: dashboard, logs, credentials, applications, numbers,
// endpoints, recordings, subaccounts, the audit log and members. Every query goes through
// the user's account scope (trunkline.ScopeOf), so another account's objects are simply not
// found; every change is audited with the user as actor.

func (s *Server) pageRoutes() {
	s.handle("GET /console", member, func(r *request) error { return &errRedirect{"/console/"} })
	s.handle("GET /console/{$}", member, s.dashboardPage)
	s.handle("GET /console/messages", member, s.messagesPage)
	s.handle("GET /console/messages/{uuid}", member, s.messagePage)
	s.handle("GET /console/calls", member, s.callsPage)
	s.handle("GET /console/calls/{uuid}", member, s.callPage)
	s.handle("GET /console/credentials", member, s.credentialsPage)
	s.handle("POST /console/credentials/rotate", owner, s.credentialsRotate)
	s.handle("POST /console/credentials/revoke-old", owner, s.credentialsRevokeOld)
	s.handle("GET /console/applications", member, s.applicationsPage)
	s.handle("POST /console/applications", writer, s.applicationCreate)
	s.handle("GET /console/numbers", member, s.numbersPage)
	s.handle("POST /console/numbers/rent", writer, s.numberRent)
	s.handle("GET /console/endpoints", member, s.endpointsPage)
	s.handle("GET /console/recordings", member, s.recordingsPage)
	s.handle("GET /console/recordings/{id}/audio", member, s.recordingAudio)
	s.handle("GET /console/subaccounts", member, s.subaccountsPage)
	s.handle("POST /console/subaccounts", owner, s.subaccountCreate)
	s.handle("GET /console/audit", member, s.auditPage)
	s.handle("GET /console/members", owner, s.membersPage)
	s.handle("POST /console/members", owner, s.memberInvite)
	s.handle("POST /console/members/withdraw", owner, s.inviteWithdraw)
	s.handle("POST /console/members/remove", owner, s.memberRemove)
	s.handle("POST /console/members/role", owner, s.memberRole)
}

// pageSize is how many rows a listing shows (the API's largest page too).
const pageSize = 20

// pager is a listing's position and the links to the pages before and after it.
type pager struct {
	From, To, Total int
	Prev, Next      string
}

// newPager builds the pager of a listing at offset showing n of total rows; the links
// keep the page's other query parameters and change param.
func newPager(u *url.URL, param string, offset, n, total int) *pager {
	p := &pager{From: offset + 1, To: offset + n, Total: total}
	if n == 0 {
		p.From = 0
	}
	link := func(off int) string {
		q := u.Query()
		for _, k := range noticeParams {
			q.Del(k)
		}
		if off == 0 {
			q.Del(param)
		} else {
			q.Set(param, strconv.Itoa(off))
		}
		if len(q) == 0 {
			return u.Path
		}
		return u.Path + "?" + q.Encode()
	}
	if offset > 0 {
		p.Prev = link(max(0, offset-pageSize))
	}
	if offset+n < total {
		p.Next = link(offset + pageSize)
	}
	return p
}

// noticeParams carry a one-time notice after a redirect; page links drop them.
var noticeParams = []string{"welcome", "created", "rented", "revoked", "added"}

// offsetParam reads a listing offset from the query; anything odd is 0.
func offsetParam(q url.Values, name string) int {
	v, err := strconv.Atoi(q.Get(name))
	if err != nil || v < 0 {
		return 0
	}
	return min(v, 1<<20)
}

// userFail shows err next to its field on page when it is the user's to fix (an
// *identity.Error) and returns any other error as is.
func (s *Server) userFail(r *request, page string, data map[string]any, err error) error {
	if field, msg, ok := userError(err); ok {
		s.formError(r, page, data, field, msg)
		return nil
	}
	return err
}

// filterNumber reads a number filter: "+" is dropped; digits, letters (sender IDs) and
// the characters of SIP URIs are accepted.
func filterNumber(q url.Values, name string, errs map[string]string) string {
	v := strings.TrimPrefix(strings.TrimSpace(q.Get(name)), "+")
	if len(v) > 128 || strings.ContainsAny(v, "\x00\r\n\t ") {
		errs[name] = "Enter a number (digits, with or without +) or a sender ID."
		return ""
	}
	return v
}

// oneOf checks a select's value against its options ("" is always allowed: any).
func oneOf(q url.Values, name string, errs map[string]string, msg string, options ...string) string {
	v := q.Get(name)
	if v != "" && !slices.Contains(options, v) {
		errs[name] = msg
		return ""
	}
	return v
}

// listData starts a listing page's data with the filter form's values.
func listData(r *request, title, nav string) map[string]any {
	q := r.URL.Query()
	filtered := false
	for k, vs := range q {
		filtered = filtered || k != "offset" && slices.ContainsFunc(vs, func(v string) bool { return v != "" })
	}
	return map[string]any{"Title": title, "Nav": nav, "Form": q, "Filtered": filtered}
}

// renderFilterErrors shows a listing whose filters were refused, without results.
func (s *Server) renderFilterErrors(r *request, page string, data map[string]any, errs map[string]string) {
	data["Errors"] = errs
	s.render(r, page, http.StatusUnprocessableEntity, data)
}

// ---- Dashboard ----

// Chart colours: the same as the k1…k5 classes in console.css.
const (
	colGreen  = "#1c7c46"
	colBlue   = "#1f5fd1"
	colGrey   = "#9aa3b2"
	colRed    = "#b3261e"
	colPurple = "#7a4cc2"
	colAmber  = "#c08400"
)

// chartDays is the span of the dashboard's charts.
const chartDays = 14

// failure is a row of the dashboard's recent failures.
type failure struct {
	At       time.Time
	Kind     string // "Message" or "Call"
	ID, Link string
	From, To string
	Status   string
	Detail   string
}

// callOutcome classifies a completed call as the calls chart does: completed (answered),
// busy, no-answer or failed, from its hangup cause (the API's call_state rules).
func callOutcome(c *trunkline.Call) string {
	return outcome(c.AnsweredAt != nil, c.HangupCauseName, c.HangupCauseCode)
}

// outcome names how a call went from whether it was answered and its hangup cause.
func outcome(answered bool, causeName string, causeCode int) string {
	if answered {
		return "completed"
	}
	name := strings.ToLower(causeName)
	switch {
	case strings.Contains(name, "busy") || strings.Contains(name, "reject"):
		return "busy"
	case strings.Contains(name, "no answer") || strings.Contains(name, "no_answer") || strings.Contains(name, "timeout") ||
		strings.Contains(name, "cancel") || (causeCode >= 1000 && causeCode < 2000):
		return "no-answer"
	}
	return "failed"
}

func (s *Server) dashboardPage(r *request) error {
	ctx := r.Context()
	sc := trunkline.ScopeOf(r.acct)
	now := s.o.Now().UTC()
	week := now.Add(-7 * 24 * time.Hour)
	countMsgs := func(f trunkline.MessageFilter) (int, error) {
		f.Limit = 1
		_, n, err := s.db.ListMessages(ctx, sc, f)
		return n, err
	}
	msgs7, err := countMsgs(trunkline.MessageFilter{Since: week})
	if err != nil {
		return err
	}
	failed7 := 0
	for _, st := range []string{trunkline.MsgFailed, trunkline.MsgUndelivered} {
		n, err := countMsgs(trunkline.MessageFilter{Since: week, State: st})
		if err != nil {
			return err
		}
		failed7 += n
	}
	_, calls7, err := s.db.ListCalls(ctx, sc, trunkline.CallFilter{EndFrom: week, Limit: 1})
	if err != nil {
		return err
	}
	_, rented, err := s.o.Numbers.List(ctx, sc, trunkline.RentedFilter{Limit: 1})
	if err != nil {
		return err
	}

	// The charts: one bar per UTC day, today last.
	today := now.Truncate(24 * time.Hour)
	start := today.AddDate(0, 0, -(chartDays - 1))
	labels := make([]string, chartDays)
	for i := range labels {
		labels[i] = start.AddDate(0, 0, i).Format("01-02")
	}
	series := func(names ...string) []chartSeries {
		colours := map[string]string{"delivered": colGreen, "sent": colBlue, "queued": colGrey, "failed": colRed,
			"received": colPurple, "completed": colGreen, "no-answer": colAmber, "busy": colPurple}
		out := make([]chartSeries, len(names))
		for i, n := range names {
			out[i] = chartSeries{Name: n, Class: "k-" + n, Color: colours[n], Values: make([]int, chartDays)}
		}
		return out
	}

	// The charts are counted in the database, grouped by day: one query each, however
	// many messages and calls there are.
	counts, err := s.db.MessageDayCounts(ctx, sc, start)
	if err != nil {
		return err
	}
	msgChart := &barChart{Title: "Messages per day, last 14 days", Labels: labels,
		Series: series("delivered", "sent", "queued", "failed", "received")}
	msgSeries := map[string]int{trunkline.MsgDelivered: 0, trunkline.MsgSent: 1, trunkline.MsgQueued: 2, trunkline.MsgFailed: 3,
		trunkline.MsgUndelivered: 3, trunkline.MsgReceived: 4}
	for _, c := range counts {
		if k, ok := msgSeries[c.State]; ok && c.Day >= 0 && c.Day < chartDays {
			msgChart.Series[k].Values[c.Day] += c.N
		}
	}
	msgChart.Series[3].Name = "failed or undelivered"

	callCounts, err := s.db.CallDayCounts(ctx, sc, start)
	if err != nil {
		return err
	}
	callChart := &barChart{Title: "Calls per day, last 14 days", Labels: labels,
		Series: series("completed", "no-answer", "busy", "failed")}
	idx := map[string]int{"completed": 0, "no-answer": 1, "busy": 2, "failed": 3}
	for _, c := range callCounts {
		if c.Day < 0 || c.Day >= chartDays {
			continue
		}
		callChart.Series[idx[outcome(c.Answered, c.CauseName, c.CauseCode)]].Values[c.Day] += c.N
	}

	// The newest failed calls of the chart's period (a handful of rows).
	var failures []failure
	recent, _, err := s.db.ListCalls(ctx, sc, trunkline.CallFilter{EndFrom: start, Limit: 200})
	if err != nil {
		return err
	}
	for _, c := range recent {
		end := c.InitiatedAt
		if c.EndedAt != nil {
			end = *c.EndedAt
		}
		if callOutcome(c) == "failed" && len(failures) < 5 { // calls come newest first
			failures = append(failures, failure{At: end, Kind: "Call", ID: c.UUID, Link: "/console/calls/" + c.UUID,
				From: c.From, To: c.To, Status: "failed", Detail: joinNonEmpty(" — ", c.HangupCauseName, c.HangupReason)})
		}
	}

	// The newest failed and undelivered messages, whenever they were.
	var failedMsgs []*trunkline.Message
	for _, st := range []string{trunkline.MsgFailed, trunkline.MsgUndelivered} {
		list, _, err := s.db.ListMessages(ctx, sc, trunkline.MessageFilter{State: st, Limit: 5})
		if err != nil {
			return err
		}
		failedMsgs = append(failedMsgs, list...)
	}
	sort.SliceStable(failedMsgs, func(i, j int) bool { return failedMsgs[i].CreatedAt.After(failedMsgs[j].CreatedAt) })
	for i, m := range failedMsgs {
		if i == 5 {
			break
		}
		failures = append(failures, failure{At: m.CreatedAt, Kind: "Message", ID: m.UUID, Link: "/console/messages/" + m.UUID,
			From: m.From, To: m.To, Status: m.State, Detail: joinNonEmpty(" ", m.ErrorCode, errorText[m.ErrorCode])})
	}
	sort.SliceStable(failures, func(i, j int) bool { return failures[i].At.After(failures[j].At) })

	data := map[string]any{"Title": "Dashboard", "Nav": "dashboard",
		"Messages7": msgs7, "Calls7": calls7, "Failed7": failed7, "Rented": rented,
		"MsgChart": msgChart, "CallChart": callChart, "Failures": failures,
		"Welcome": r.URL.Query().Get("welcome") == "1"}
	s.render(r, "dashboard", 0, data)
	return nil
}

func joinNonEmpty(sep string, parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, sep)
}

// ---- Messages ----

// errorText explains Plivo's message error codes (as the API's error_message does).
var errorText = map[string]string{
	"10": "Invalid message", "20": "Network error", "30": "Spam detected",
	"40": "Invalid source number", "50": "Invalid destination number", "60": "Loop detected",
	"70": "Destination permanently unavailable", "80": "Destination temporarily unavailable",
	"90": "No route available", "100": "Prohibited by carrier", "110": "Message too long",
	"420": "Message expired", "1000": "Unknown error",
}

var messageStates = []string{trunkline.MsgQueued, trunkline.MsgSent, trunkline.MsgDelivered, trunkline.MsgUndelivered, trunkline.MsgFailed, trunkline.MsgReceived}

func (s *Server) messagesPage(r *request) error {
	q := r.URL.Query()
	errs := map[string]string{}
	f := trunkline.MessageFilter{Limit: pageSize, Offset: offsetParam(q, "offset"),
		Direction: oneOf(q, "direction", errs, "Choose inbound or outbound.", "inbound", "outbound"),
		State:     oneOf(q, "state", errs, "Choose a state from the list.", messageStates...),
		From:      filterNumber(q, "from", errs), To: filterNumber(q, "to", errs)}
	if v := q.Get("date"); v != "" {
		d, err := time.ParseInLocation("2006-01-02", v, time.UTC)
		if err != nil {
			errs["date"] = "Enter a date like 2026-01-31."
		} else {
			f.Since, f.Until = d, d.AddDate(0, 0, 1)
		}
	}
	data := listData(r, "Messages", "messages")
	data["States"] = messageStates
	if len(errs) > 0 {
		s.renderFilterErrors(r, "messages", data, errs)
		return nil
	}
	ms, total, err := s.db.ListMessages(r.Context(), trunkline.ScopeOf(r.acct), f)
	if err != nil {
		return err
	}
	data["Messages"] = ms
	data["Pager"] = newPager(r.URL, "offset", f.Offset, len(ms), total)
	s.render(r, "messages", 0, data)
	return nil
}

// validID guards ids taken from a path before they reach the store.
func validID(id string) bool {
	return id != "" && len(id) <= 64 && strings.Trim(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == ""
}

func (s *Server) messagePage(r *request) error {
	id := r.PathValue("uuid")
	if !validID(id) {
		return errNotFound
	}
	ctx := r.Context()
	m, err := s.db.Message(ctx, trunkline.ScopeOf(r.acct), id)
	if err != nil {
		return err
	}
	attempts, err := s.db.MessageAttempts(ctx, m.UUID)
	if err != nil {
		return err
	}
	if m.Body != "" && m.Body != trunkline.RedactedText {
		// A message's content is customer data: each read of it is in the audit log
		// (HIPAA audit controls), like a recording's audio.
		s.auditUser(r, "message.read", "message", m.UUID, nil)
	}
	s.render(r, "message", 0, map[string]any{"Title": "Message " + m.UUID, "Nav": "messages", "M": m,
		"ErrorText": errorText[m.ErrorCode], "Attempts": attempts, "Redacted": m.LogMode != "" && m.LogMode != "true"})
	return nil
}

// ---- Calls ----

// callRow is a call with its outcome, for the tables.
type callRow struct {
	*trunkline.Call
	Outcome string
}

func callRows(calls []*trunkline.Call) []callRow {
	out := make([]callRow, len(calls))
	for i, c := range calls {
		out[i] = callRow{c, callOutcome(c)}
	}
	return out
}

func (s *Server) callsPage(r *request) error {
	q := r.URL.Query()
	errs := map[string]string{}
	f := trunkline.CallFilter{Limit: pageSize, Offset: offsetParam(q, "offset"),
		Direction: oneOf(q, "direction", errs, "Choose inbound or outbound.", "inbound", "outbound"),
		From:      filterNumber(q, "from", errs), To: filterNumber(q, "to", errs)}
	data := listData(r, "Calls", "calls")
	if len(errs) > 0 {
		s.renderFilterErrors(r, "calls", data, errs)
		return nil
	}
	calls, total, err := s.db.ListCalls(r.Context(), trunkline.ScopeOf(r.acct), f)
	if err != nil {
		return err
	}
	data["Calls"] = callRows(calls)
	data["Pager"] = newPager(r.URL, "offset", f.Offset, len(calls), total)
	s.render(r, "calls", 0, data)
	return nil
}

// trunkAttempt is one entry of a call's trunk attempts (as the voice engine stores them).
type trunkAttempt struct {
	Trunk   string `json:"trunk"`
	Status  int    `json:"status"`
	Outcome string `json:"outcome"`
	Early   bool   `json:"early_media"`
	Ms      int64  `json:"ms"`
}

func (s *Server) callPage(r *request) error {
	id := r.PathValue("uuid")
	if !validID(id) {
		return errNotFound
	}
	ctx := r.Context()
	sc := trunkline.ScopeOf(r.acct)
	c, err := s.db.GetCall(ctx, sc, id)
	if err != nil {
		return err
	}
	data := map[string]any{"Title": "Call " + c.UUID, "Nav": "calls", "C": callRow{c, callOutcome(c)}}
	if c.Attempts != "" {
		var at []trunkAttempt
		if err := json.Unmarshal([]byte(c.Attempts), &at); err == nil {
			data["Attempts"] = at
		} else {
			data["AttemptsRaw"] = c.Attempts
		}
	}
	legs, _, err := s.db.ListCalls(ctx, sc, trunkline.CallFilter{ParentUUID: c.UUID, Limit: pageSize})
	if err != nil {
		return err
	}
	data["Legs"] = callRows(legs)
	recs, _, err := s.db.ListRecordings(ctx, sc, trunkline.RecordingFilter{CallUUID: c.UUID, Limit: pageSize})
	if err != nil {
		return err
	}
	data["Recordings"] = recordingRows(recs)
	data["Player"] = s.o.Recordings != nil
	s.render(r, "call", 0, data)
	return nil
}

// ---- Credentials ----

// credentialRow is what the page shows of a credential: never the token or its hash.
type credentialRow struct {
	ID        string
	CreatedAt time.Time
	ExpiresAt *time.Time
}

type overlapChoice struct {
	Value, Label string
	Dur          time.Duration
	Default      bool
}

var overlapChoices = []overlapChoice{
	{Value: "0", Label: "Stop the old token at once"},
	{Value: "3600", Label: "1 hour", Dur: time.Hour},
	{Value: "86400", Label: "24 hours", Dur: 24 * time.Hour, Default: true},
	{Value: "604800", Label: "7 days", Dur: 7 * 24 * time.Hour},
}

// overlaps are the rotation overlaps the operator allows (auth.max_token_overlap).
func (s *Server) overlaps() []overlapChoice {
	var out []overlapChoice
	for _, c := range overlapChoices {
		if s.o.MaxOverlap == 0 || c.Dur <= s.o.MaxOverlap {
			out = append(out, c)
		}
	}
	return out
}

func (s *Server) credentialsData(r *request) (map[string]any, error) {
	ctx := r.Context()
	creds, err := s.db.Credentials(ctx, r.acct.ID, s.o.Now())
	if err != nil {
		return nil, err
	}
	rows := make([]credentialRow, len(creds))
	for i, c := range creds {
		rows[i] = credentialRow{ID: c.ID, CreatedAt: c.CreatedAt, ExpiresAt: c.ExpiresAt}
	}
	data := map[string]any{"Title": "API credentials", "Nav": "credentials", "Credentials": rows,
		"Overlaps": s.overlaps(), "Fresh": s.id.Fresh(ctx, r.sess), "Base": s.publicURL()}
	return data, nil
}

func (s *Server) credentialsPage(r *request) error {
	data, err := s.credentialsData(r)
	if err != nil {
		return err
	}
	if n := r.URL.Query().Get("revoked"); n != "" {
		if v, err := strconv.Atoi(n); err == nil && v >= 0 {
			data["Notice"] = strconv.Itoa(v) + " older token(s) revoked. Only the current token works now."
		}
	}
	s.render(r, "credentials", 0, data)
	return nil
}

// credentialsRotate issues a new Auth Token and shows it once. It reveals a working
// secret, so like other sensitive changes it needs a recent second factor.
func (s *Server) credentialsRotate(r *request) error {
	ctx := r.Context()
	v := r.PostFormValue("overlap")
	choices := s.overlaps()
	i := slices.IndexFunc(choices, func(c overlapChoice) bool { return c.Value == v })
	if i < 0 {
		data, err := s.credentialsData(r)
		if err != nil {
			return err
		}
		s.formError(r, "credentials", data, "overlap", "Choose how long the old token keeps working.")
		return nil
	}
	choice := choices[i]
	if err := s.id.RequireFresh(ctx, r.sess); err != nil {
		data, derr := s.credentialsData(r)
		if derr != nil {
			return derr
		}
		return s.userFail(r, "credentials", data, err)
	}
	revoke := choice.Dur == 0
	rot, err := s.o.Accounts.Rotate(ctx, r.acct.ID, choice.Dur, revoke)
	if err != nil {
		return err
	}
	detail := map[string]string{"overlap": choice.Dur.String(), "credential": rot.CredentialID,
		"retired": strings.Join(rot.Retired, ","), "revoke_old": strconv.FormatBool(revoke)}
	if rot.OldValidTill != nil {
		detail["old_valid_until"] = rot.OldValidTill.UTC().Format(time.RFC3339)
	}
	s.auditUser(r, "credential.rotate", "account", r.acct.ID, detail)
	s.render(r, "reveal", 0, map[string]any{"Title": "New Auth Token", "Nav": "credentials", "AuthID": r.acct.ID,
		"Token": rot.Token, "Rotated": true, "Retired": len(rot.Retired), "OldValidTill": rot.OldValidTill,
		"Back": "/console/credentials"})
	return nil
}

func (s *Server) credentialsRevokeOld(r *request) error {
	ids, err := s.o.Accounts.RevokeOthers(r.Context(), r.acct.ID) // invalidates the cache itself
	if err != nil {
		return err
	}
	s.auditUser(r, "credential.revoke_old", "account", r.acct.ID, map[string]string{"revoked": strings.Join(ids, ",")})
	return &errRedirect{"/console/credentials?revoked=" + strconv.Itoa(len(ids))}
}

// ---- Applications ----

// appURLProblem words the application URL rule's refusals (package application) for
// the form.
func appURLProblem(err error) string {
	switch err {
	case application.ErrURLTooLong:
		return "Too long: at most 2048 characters."
	case application.ErrURLUserInfo:
		return "The URL must not contain a user name or password."
	}
	return "Enter an absolute http:// or https:// URL."
}

func (s *Server) applicationsData(r *request) (map[string]any, error) {
	q := r.URL.Query()
	offset := offsetParam(q, "offset")
	apps, total, err := s.o.Applications.List(r.Context(), trunkline.ScopeOf(r.acct), trunkline.ApplicationFilter{Limit: pageSize, Offset: offset})
	if err != nil {
		return nil, err
	}
	return map[string]any{"Title": "Applications", "Nav": "applications", "Apps": apps,
		"Pager": newPager(r.URL, "offset", offset, len(apps), total)}, nil
}

func (s *Server) applicationsPage(r *request) error {
	data, err := s.applicationsData(r)
	if err != nil {
		return err
	}
	if id := r.URL.Query().Get("created"); id != "" && validID(id) {
		data["Notice"] = "Application " + id + " was created."
	}
	s.render(r, "applications", 0, data)
	return nil
}

func (s *Server) applicationCreate(r *request) error {
	fail := func(field, msg string) error {
		data, err := s.applicationsData(r)
		if err != nil {
			return err
		}
		s.formError(r, "applications", data, field, msg)
		return nil
	}
	name := strings.TrimSpace(r.PostFormValue("app_name"))
	if application.CheckName(name) != nil {
		return fail("app_name", "Use 1 to 255 letters, digits, '_' or '-'.")
	}
	a := application.Defaults(r.acct.ID)
	a.Name = name
	for _, f := range []struct {
		name string
		dst  *string
	}{{"answer_url", &a.AnswerURL}, {"hangup_url", &a.HangupURL}, {"message_url", &a.MessageURL}} {
		v := strings.TrimSpace(r.PostFormValue(f.name))
		if v != "" {
			if err := application.CheckURL(v); err != nil {
				return fail(f.name, appURLProblem(err))
			}
		}
		*f.dst = v
	}
	if v := r.PostFormValue("answer_method"); v != "" {
		m, err := application.CheckMethod(v)
		if err != nil {
			return fail("answer_method", "Choose GET or POST.")
		}
		a.AnswerMethod = m
	}
	// An empty hangup URL follows the answer URL, as in the API when hangup_url is not given.
	if err := s.o.Applications.Create(r.Context(), a, false); err != nil {
		if errors.Is(err, application.ErrNoAnswerURL) {
			return fail("answer_url", "Enter an answer URL (or a message URL for a messaging application).")
		}
		return err
	}
	s.auditUser(r, "application.create", "application", a.ID, map[string]string{"app_name": a.Name})
	return &errRedirect{"/console/applications?created=" + a.ID}
}

// ---- Numbers ----

// normalizeNumber accepts an E.164 number with or without "+", around spaces, and
// returns its digits (package number's rule).
func normalizeNumber(v string) (string, bool) { return number.Parse(strings.TrimSpace(v)) }

// numbersData lists the rented numbers and, when search (the search form's values) names
// a country, the numbers free to rent. Search mistakes go into errs.
func (s *Server) numbersData(r *request, search url.Values, errs map[string]string) (map[string]any, error) {
	ctx := r.Context()
	// The page's own address, also when it is shown after a rent (a POST elsewhere).
	page := &url.URL{Path: "/console/numbers", RawQuery: r.URL.RawQuery}
	if r.Method == http.MethodPost {
		page.RawQuery = search.Encode()
	}
	q := page.Query()
	offset := offsetParam(q, "offset")
	rented, total, err := s.o.Numbers.List(ctx, trunkline.ScopeOf(r.acct), trunkline.RentedFilter{Limit: pageSize, Offset: offset})
	if err != nil {
		return nil, err
	}
	data := map[string]any{"Title": "Numbers", "Nav": "numbers", "Rented": rented, "Types": number.Types, "Form": search,
		"Pager": newPager(page, "offset", offset, len(rented), total)}
	if search.Get("country_iso") == "" && search.Get("type") == "" && search.Get("pattern") == "" {
		return data, nil
	}
	country := strings.ToUpper(strings.TrimSpace(search.Get("country_iso")))
	if !number.ValidCountry(country) {
		errs["country_iso"] = "Enter a two-letter country code such as US."
	}
	typ := strings.ToLower(search.Get("type"))
	if typ != "" && !number.ValidType(typ) {
		errs["type"] = "Choose a type from the list."
	}
	pattern := strings.TrimSpace(search.Get("pattern"))
	if !number.ValidPattern(pattern) {
		errs["pattern"] = "Enter digits only (at most 15)."
	}
	if len(errs) > 0 {
		return data, nil
	}
	soff := offsetParam(q, "search_offset")
	found, ftotal, err := s.o.Numbers.Search(ctx, trunkline.NumberSearch{CountryISO: country, Type: typ, Pattern: pattern,
		Limit: pageSize, Offset: soff})
	if err != nil {
		return nil, err
	}
	data["Searched"] = true
	data["Found"] = found
	data["SearchPager"] = newPager(page, "search_offset", soff, len(found), ftotal)
	return data, nil
}

func (s *Server) numbersPage(r *request) error {
	errs := map[string]string{}
	data, err := s.numbersData(r, r.URL.Query(), errs)
	if err != nil {
		return err
	}
	if n, ok := normalizeNumber(r.URL.Query().Get("rented")); ok {
		data["Notice"] = "+" + n + " is now yours."
	}
	if len(errs) > 0 {
		s.renderFilterErrors(r, "numbers", data, errs)
		return nil
	}
	s.render(r, "numbers", 0, data)
	return nil
}

func (s *Server) numberRent(r *request) error {
	// The search the user rented from comes along, so a failure shows it again.
	search := url.Values{}
	for _, k := range []string{"country_iso", "type", "pattern"} {
		if v := r.PostFormValue(k); v != "" {
			search.Set(k, v)
		}
	}
	fail := func(msg string) error {
		data, err := s.numbersData(r, search, map[string]string{})
		if err != nil {
			return err
		}
		s.formError(r, "numbers", data, "rent", msg)
		return nil
	}
	n, ok := normalizeNumber(r.PostFormValue("number"))
	if !ok {
		return fail("That is not a valid number: use E.164 digits, e.g. 14155550100.")
	}
	if _, err := s.o.Numbers.Rent(r.Context(), r.acct, n, ""); err != nil {
		if errors.Is(err, number.ErrNotAvailable) {
			return fail("+" + n + " is no longer available. Choose another number.")
		}
		return err
	}
	s.auditUser(r, "number.rent", "number", n, nil)
	return &errRedirect{"/console/numbers?rented=" + n}
}

// ---- Endpoints ----

// endpointRow is what the page shows of an endpoint: never its secrets.
type endpointRow struct {
	ID, AccountID, Username, Alias, AppID string
	Registered                            bool
	Contact, UserAgent                    string
	CreatedAt                             time.Time
}

func (s *Server) endpointsPage(r *request) error {
	offset := offsetParam(r.URL.Query(), "offset")
	eps, total, err := s.db.ListEndpoints(r.Context(), trunkline.ScopeOf(r.acct), trunkline.EndpointFilter{Limit: pageSize, Offset: offset})
	if err != nil {
		return err
	}
	now := s.o.Now()
	rows := make([]endpointRow, len(eps))
	for i, e := range eps {
		rows[i] = endpointRow{ID: e.ID, AccountID: e.AccountID, Username: e.Username, Alias: e.Alias, AppID: e.AppID,
			Registered: e.Registered(now), CreatedAt: e.CreatedAt}
		if rows[i].Registered {
			rows[i].Contact, rows[i].UserAgent = e.SIPContact, e.SIPUserAgent
		}
	}
	s.render(r, "endpoints", 0, map[string]any{"Title": "Endpoints", "Nav": "endpoints", "Endpoints": rows,
		"Pager": newPager(r.URL, "offset", offset, len(rows), total), "Base": s.publicURL()})
	return nil
}

// ---- Recordings ----

func (s *Server) recordingsPage(r *request) error {
	q := r.URL.Query()
	errs := map[string]string{}
	f := trunkline.RecordingFilter{Limit: pageSize, Offset: offsetParam(q, "offset")}
	if v := strings.TrimSpace(q.Get("call_uuid")); v != "" {
		if !validID(v) {
			errs["call_uuid"] = "Enter a call UUID."
		}
		f.CallUUID = v
	}
	data := listData(r, "Recordings", "recordings")
	data["Player"] = s.o.Recordings != nil
	if len(errs) > 0 {
		s.renderFilterErrors(r, "recordings", data, errs)
		return nil
	}
	recs, total, err := s.db.ListRecordings(r.Context(), trunkline.ScopeOf(r.acct), f)
	if err != nil {
		return err
	}
	data["Recordings"] = recordingRows(recs)
	data["Pager"] = newPager(r.URL, "offset", f.Offset, len(recs), total)
	s.render(r, "recordings", 0, data)
	return nil
}

// recordingRow is a recording with its length in words, for the tables.
type recordingRow struct {
	*trunkline.Recording
	Length string
}

func recordingRows(recs []*trunkline.Recording) []recordingRow {
	out := make([]recordingRow, len(recs))
	for i, rec := range recs {
		d := (time.Duration(rec.DurationMs) * time.Millisecond).Round(time.Second)
		out[i] = recordingRow{rec, fmt.Sprintf("%d:%02d", int(d.Minutes()), int(d.Seconds())%60)}
	}
	return out
}

// recordingAudio streams a recording's decrypted audio to a member of its account (or
// of its main account). Each fetch is audited before any audio is sent.
func (s *Server) recordingAudio(r *request) error {
	if s.o.Recordings == nil {
		return errNotFound
	}
	id := r.PathValue("id")
	if !validID(id) {
		return errNotFound
	}
	ctx := r.Context()
	rec, err := s.db.GetRecording(ctx, trunkline.ScopeOf(r.acct), id)
	if err != nil {
		return err
	}
	var detail map[string]string
	if rec.AccountID != r.acct.ID {
		detail = map[string]string{"owner": rec.AccountID}
	}
	s.auditUser(r, "recording.audio", "recording", rec.ID, detail)
	return s.streamRecording(r, rec)
}

// streamRecording sends a recording's audio; the caller has audited the fetch.
func (s *Server) streamRecording(r *request, rec *trunkline.Recording) error {
	body, ct, err := s.o.Recordings(r.Context(), rec, rec.Format)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, trunkline.ErrNotFound) {
			s.log.Warn("recording has no audio file", "account_id", rec.AccountID, "recording_id", rec.ID)
			return errNotFound
		}
		return err
	}
	defer body.Close()
	if ct == "" {
		ct = "application/octet-stream"
	}
	h := r.w.Header()
	h.Set("Content-Type", ct)
	h.Set("Cache-Control", "no-store")
	if _, err := io.Copy(r.w, body); err != nil {
		// Headers are gone: nothing to show; the listener most likely went away.
		s.log.Debug("recording stream ended early", "recording_id", rec.ID, "err", err)
	}
	return nil
}

// ---- Subaccounts ----

func (s *Server) subaccountsData(r *request) (map[string]any, error) {
	data := map[string]any{"Title": "Subaccounts", "Nav": "subaccounts", "IsSub": r.acct.IsSub(), "Fresh": s.id.Fresh(r.Context(), r.sess)}
	if r.acct.IsSub() {
		return data, nil
	}
	offset := offsetParam(r.URL.Query(), "offset")
	subs, total, err := s.db.ListAccounts(r.Context(), r.acct.ID, pageSize, offset)
	if err != nil {
		return nil, err
	}
	data["Subs"] = subs
	data["Pager"] = newPager(r.URL, "offset", offset, len(subs), total)
	return data, nil
}

func (s *Server) subaccountsPage(r *request) error {
	data, err := s.subaccountsData(r)
	if err != nil {
		return err
	}
	s.render(r, "subaccounts", 0, data)
	return nil
}

// subaccountCreate makes a subaccount and shows its Auth Token once; like a rotation it
// reveals a working secret, so it needs a recent second factor.
func (s *Server) subaccountCreate(r *request) error {
	ctx := r.Context()
	if r.acct.IsSub() {
		return &pageError{status: http.StatusForbidden, msg: "A subaccount cannot have subaccounts."}
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	fail := func(field, msg string, err error) error {
		data, derr := s.subaccountsData(r)
		if derr != nil {
			return derr
		}
		if err != nil {
			return s.userFail(r, "subaccounts", data, err)
		}
		s.formError(r, "subaccounts", data, field, msg)
		return nil
	}
	switch {
	case name == "":
		return fail("name", "Enter a name for the subaccount.", nil)
	case len(name) > 256:
		return fail("name", "The name is too long (at most 256 characters).", nil)
	case !input.IsLine(name):
		return fail("name", "The name must be one line, without tabs or line breaks.", nil)
	}
	var enabled bool
	switch r.PostFormValue("enabled") {
	case "":
	case "on", "true", "1":
		enabled = true
	default:
		return fail("enabled", "Tick the box or leave it empty.", nil)
	}
	if err := s.id.RequireFresh(ctx, r.sess); err != nil {
		return fail("", "", err)
	}
	c, err := s.o.Accounts.CreateSub(ctx, r.acct, name, enabled)
	if err != nil {
		return err
	}
	s.auditUser(r, "subaccount.create", "subaccount", c.Account.ID, map[string]string{"credential": c.CredentialID,
		"enabled": strconv.FormatBool(enabled)})
	s.render(r, "reveal", 0, map[string]any{"Title": "New subaccount", "Nav": "subaccounts", "AuthID": c.Account.ID,
		"Name": c.Account.Name, "Token": c.Token, "Back": "/console/subaccounts"})
	return nil
}

// ---- Audit log ----

// auditRow is an audit entry as the table shows it.
type auditRow struct {
	At                                     time.Time
	AccountID, Actor, Action, Object       string
	Source, Outcome, Details, CredentialID string
}

var actionRE = regexp.MustCompile(`^[a-z0-9_.-]{1,64}$`)

// auditAccounts is whose entries the user may read: the account and, for a main
// account, its subaccounts (as the API's AuditLog does).
func (s *Server) auditAccounts(r *request) ([]string, error) {
	ids := []string{r.acct.ID}
	if !r.acct.IsSub() {
		subs, err := s.db.SubaccountIDs(r.Context(), r.acct.ID)
		if err != nil {
			return nil, err
		}
		ids = append(ids, subs...)
	}
	return ids, nil
}

func (s *Server) auditPage(r *request) error {
	q := r.URL.Query()
	data := listData(r, "Audit log", "audit")
	action := strings.TrimSpace(q.Get("action"))
	if action != "" && !actionRE.MatchString(action) {
		s.renderFilterErrors(r, "audit", data, map[string]string{"action": "Enter an action such as credential.rotate."})
		return nil
	}
	ids, err := s.auditAccounts(r)
	if err != nil {
		return err
	}
	offset := offsetParam(q, "offset")
	rows, total, err := s.auditRows(r, ids, action, offset)
	if err != nil {
		return err
	}
	data["Entries"] = rows
	data["Pager"] = newPager(r.URL, "offset", offset, len(rows), total)
	s.render(r, "audit", 0, data)
	return nil
}

// auditRows reads a page of the accounts' audit entries as the tables show them.
func (s *Server) auditRows(r *request, ids []string, action string, offset int) ([]auditRow, int, error) {
	entries, total, err := s.o.Audit.List(r.Context(), audit.Filter{AccountIDs: ids, Action: action, Limit: pageSize, Offset: offset})
	if err != nil {
		return nil, 0, err
	}
	rows := make([]auditRow, len(entries))
	for i, e := range entries {
		keys := make([]string, 0, len(e.Detail))
		for k := range e.Detail {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for j, k := range keys {
			parts[j] = k + "=" + e.Detail[k]
		}
		obj := e.ObjectType
		if e.ObjectID != "" {
			obj = joinNonEmpty(" ", e.ObjectType, e.ObjectID)
		}
		rows[i] = auditRow{At: e.At, AccountID: e.AccountID, Actor: e.Actor, Action: e.Action, Object: obj, Source: e.Source,
			Outcome: e.Outcome, Details: strings.Join(parts, ", "), CredentialID: e.CredentialID}
	}
	return rows, total, nil
}

// ---- Members ----

// memberRow is a console user as the members page shows it.
type memberRow struct {
	ID, Email, Role string
	SecondStep      bool
	CreatedAt       time.Time
	You             bool
}

var roles = []string{trunkline.RoleOwner, trunkline.RoleDeveloper, trunkline.RoleReadOnly}

func (s *Server) membersData(r *request) (map[string]any, error) {
	ctx := r.Context()
	users, err := s.db.AccountUsers(ctx, r.sess.User.AccountID)
	if err != nil {
		return nil, err
	}
	rows := make([]memberRow, len(users))
	for i, u := range users {
		has, err := s.id.HasSecondFactor(ctx, u)
		if err != nil {
			return nil, err
		}
		rows[i] = memberRow{ID: u.ID, Email: u.Email, Role: u.Role, SecondStep: has, CreatedAt: u.CreatedAt, You: u.ID == r.sess.User.ID}
	}
	invites, err := s.db.AccountInvites(ctx, r.sess.User.AccountID)
	if err != nil {
		return nil, err
	}
	return map[string]any{"Title": "Members", "Nav": "members", "Members": rows, "Roles": roles,
		"Invites": invites, "Fresh": s.id.Fresh(ctx, r.sess)}, nil
}

func (s *Server) membersPage(r *request) error {
	// The route's level refuses only changes; the member list is for owners too.
	if r.sess.User.Role != trunkline.RoleOwner {
		return errForbidden
	}
	data, err := s.membersData(r)
	if err != nil {
		return err
	}
	switch r.URL.Query().Get("done") {
	case "withdrawn":
		data["Notice"] = "The invitation was withdrawn; its link no longer works."
	case "removed":
		data["Notice"] = "The member was removed; their sessions have ended."
	case "role":
		data["Notice"] = "The role was changed; it applies from the member's next click."
	}
	s.render(r, "members", 0, data)
	return nil
}

// memberInvite invites a new member: the owner gets a link, shown once, to pass on; the
// member sets their own passphrase and verifies their phone with it. The identity
// service checks the input, requires a recent second factor and writes the audit entry.
func (s *Server) memberInvite(r *request) error {
	token, inv, err := s.id.Invite(r.Context(), r.sess, r.PostFormValue("email"), r.PostFormValue("role"))
	if err != nil {
		data, derr := s.membersData(r)
		if derr != nil {
			return derr
		}
		return s.userFail(r, "members", data, err)
	}
	link := s.publicURL() + "/console/invite?token=" + url.QueryEscape(token)
	s.render(r, "invited", 0, map[string]any{"Title": "Invitation", "Nav": "members", "Invite": inv, "Link": link})
	return nil
}

// publicURL is the base of links the console hands out (see Options.PublicURL).
func (s *Server) publicURL() string {
	if s.o.PublicURL == nil {
		return ""
	}
	return s.o.PublicURL()
}

func (s *Server) inviteWithdraw(r *request) error {
	if err := s.id.WithdrawInvite(r.Context(), r.sess, r.PostFormValue("invite")); err != nil {
		data, derr := s.membersData(r)
		if derr != nil {
			return derr
		}
		return s.userFail(r, "members", data, err)
	}
	return &errRedirect{"/console/members?done=withdrawn"}
}

// memberRemove removes a member of the owner's account; the identity service checks the
// owner, the recent second factor and the last owner, ends the member's sessions with
// their user, and audits it.
func (s *Server) memberRemove(r *request) error {
	if err := s.id.RemoveMember(r.Context(), r.sess, r.PostFormValue("user")); err != nil {
		return s.memberFail(r, err)
	}
	if r.PostFormValue("user") == r.sess.User.ID {
		// The owner removed themselves: their session went with them.
		s.clearCookie(r, cookieSession)
		return &errRedirect{"/console/login?ended=1"}
	}
	return &errRedirect{"/console/members?done=removed"}
}

// memberRole changes a member's role, from their next request on.
func (s *Server) memberRole(r *request) error {
	if err := s.id.SetMemberRole(r.Context(), r.sess, r.PostFormValue("user"), r.PostFormValue("role")); err != nil {
		return s.memberFail(r, err)
	}
	if r.PostFormValue("user") == r.sess.User.ID {
		return &errRedirect{"/console/"}
	}
	return &errRedirect{"/console/members?done=role"}
}

func (s *Server) memberFail(r *request, err error) error {
	data, derr := s.membersData(r)
	if derr != nil {
		return derr
	}
	if _, msg, ok := userError(err); ok {
		// Shown above the members table, not beside the invitation form's fields.
		s.formError(r, "members", data, "members", msg)
		return nil
	}
	return err
}
