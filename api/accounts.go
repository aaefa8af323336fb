package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/trunkline/trunkline"
)

// Plivo's date forms: dates for created/modified, date-time with offset for events.
const (
	dateLayout     = "2006-01-02"
	dateTimeLayout = "2006-01-02 15:04:05-07:00"
)

func accountURI(id string) string { return "/v1/Account/" + id + "/" }

func (r *request) uri(rest string) string { return "/v1/Account/" + r.acct.ID + "/" + rest }

// page reads limit (1–20, default 20) and offset (≥ 0).
func (r *request) page() (limit, offset int, err error) {
	if limit, err = r.p.Int("limit", 20, 1, 20); err != nil {
		return 0, 0, err
	}
	offset, err = r.p.Int("offset", 0, 0, 1<<30)
	return limit, offset, err
}

// listBody builds Plivo's list reply: meta with next/previous as relative URIs or null.
func (r *request) listBody(resource string, limit, offset, total int, objects []map[string]any) map[string]any {
	link := func(off int) any {
		q := url.Values{}
		for k, vs := range r.p {
			if k != "limit" && k != "offset" {
				q[k] = vs
			}
		}
		q.Set("limit", strconv.Itoa(limit))
		q.Set("offset", strconv.Itoa(off))
		return r.uri(resource) + "?" + q.Encode()
	}
	var next, prev any
	if offset+limit < total {
		next = link(offset + limit)
	}
	if offset > 0 {
		prev = link(max(0, offset-limit))
	}
	if objects == nil {
		objects = []map[string]any{}
	}
	return map[string]any{
		"meta":    map[string]any{"limit": limit, "offset": offset, "next": next, "previous": prev, "total_count": total},
		"objects": objects,
	}
}

func (s *Server) getAccount(r *request) (int, map[string]any, error) {
	a := r.acct
	typ := "standard"
	if a.IsSub() {
		typ = "subaccount"
	}
	return http.StatusOK, map[string]any{
		"account_type":  typ,
		"address":       a.Address,
		"auth_id":       a.ID,
		"auto_recharge": false,
		"billing_mode":  "prepaid",
		"cash_credits":  "0.00000",
		"city":          a.City,
		"created":       a.CreatedAt.Format(dateLayout),
		"enabled":       a.Enabled,
		"name":          a.Name,
		"resource_uri":  accountURI(a.ID),
		"state":         a.State,
		"timezone":      a.Timezone,
		"secure_voice":  a.SecureVoice, // extension: calls must use SIP over TLS with SRTP
	}, nil
}

func (s *Server) updateAccount(r *request) (int, map[string]any, error) {
	var u trunkline.AccountUpdate
	var err error
	for _, f := range []struct {
		name string
		dst  **string
		max  int
	}{{"name", &u.Name, 256}, {"city", &u.City, 256}, {"address", &u.Address, 1024}, {"state", &u.State, 256}, {"timezone", &u.Timezone, 64}} {
		if *f.dst, err = r.p.StrPtr(f.name, f.max); err != nil {
			return 0, nil, err
		}
	}
	if u.Name != nil && strings.TrimSpace(*u.Name) == "" {
		return 0, nil, badRequest("name must not be empty")
	}
	if r.p.Has("secure_voice") {
		v, err := r.p.Bool("secure_voice", false)
		if err != nil {
			return 0, nil, err
		}
		u.SecureVoice = &v
	}
	if u.Timezone != nil {
		if _, err := time.LoadLocation(*u.Timezone); err != nil || *u.Timezone == "" {
			return 0, nil, badRequest("timezone must be an IANA time zone name such as America/New_York")
		}
	}
	a, err := s.opts.DB.UpdateAccount(r.Context(), r.acct.ID, u)
	if err != nil {
		return 0, nil, err
	}
	s.opts.Accounts.Invalidate(r.acct.ID) // the cached copy would show the old name
	r.acct = a
	return http.StatusAccepted, map[string]any{"message": "changed"}, nil
}

// subaccount loads a subaccount of the caller; anything else is not found.
func (s *Server) subaccount(r *request) (*trunkline.Account, error) {
	if r.acct.IsSub() {
		return nil, errNotFound
	}
	sa, err := s.opts.DB.Account(r.Context(), r.vars["sub_id"])
	if errors.Is(err, trunkline.ErrNotFound) || (err == nil && sa.ParentID != r.acct.ID) {
		return nil, errNotFound
	}
	return sa, err
}

func (s *Server) mainOnly(r *request) error {
	if r.acct.IsSub() {
		return errForbidden("subaccounts cannot manage subaccounts")
	}
	return nil
}

func subaccountObject(a *trunkline.Account) map[string]any {
	return map[string]any{
		"account":      accountURI(a.ParentID),
		"auth_id":      a.ID,
		"created":      a.CreatedAt.Format(dateLayout),
		"modified":     a.ModifiedAt.Format(dateLayout),
		"enabled":      a.Enabled,
		"name":         a.Name,
		"resource_uri": accountURI(a.ParentID) + "Subaccount/" + a.ID + "/",
	}
}

func (s *Server) createSubaccount(r *request) (int, map[string]any, error) {
	if err := s.mainOnly(r); err != nil {
		return 0, nil, err
	}
	name, err := r.p.StrPtr("name", 256)
	if err != nil {
		return 0, nil, err
	}
	if name == nil || strings.TrimSpace(*name) == "" {
		return 0, nil, badRequest("name is required")
	}
	enabled, err := r.p.Bool("enabled", false)
	if err != nil {
		return 0, nil, err
	}
	c, err := s.opts.Accounts.CreateSub(r.Context(), r.acct, *name, enabled)
	if err != nil {
		return 0, nil, err
	}
	r.objectID = c.Account.ID
	r.detail = map[string]string{"credential": c.CredentialID}
	return http.StatusCreated, map[string]any{"auth_id": c.Account.ID, "auth_token": c.Token, "message": "created"}, nil
}

func (s *Server) listSubaccounts(r *request) (int, map[string]any, error) {
	if err := s.mainOnly(r); err != nil {
		return 0, nil, err
	}
	limit, offset, err := r.page()
	if err != nil {
		return 0, nil, err
	}
	subs, total, err := s.opts.DB.ListAccounts(r.Context(), r.acct.ID, limit, offset)
	if err != nil {
		return 0, nil, err
	}
	objs := make([]map[string]any, len(subs))
	for i, a := range subs {
		objs[i] = subaccountObject(a)
	}
	return http.StatusOK, r.listBody("Subaccount/", limit, offset, total, objs), nil
}

func (s *Server) getSubaccount(r *request) (int, map[string]any, error) {
	sa, err := s.subaccount(r)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, subaccountObject(sa), nil
}

func (s *Server) updateSubaccount(r *request) (int, map[string]any, error) {
	if _, err := s.subaccount(r); err != nil {
		return 0, nil, err
	}
	var u trunkline.AccountUpdate
	var err error
	if u.Name, err = r.p.StrPtr("name", 256); err != nil {
		return 0, nil, err
	}
	if u.Name != nil && strings.TrimSpace(*u.Name) == "" {
		return 0, nil, badRequest("name must not be empty")
	}
	if r.p.Has("secure_voice") {
		v, err := r.p.Bool("secure_voice", false)
		if err != nil {
			return 0, nil, err
		}
		u.SecureVoice = &v
	}
	if u.Enabled, err = r.p.BoolPtr("enabled"); err != nil {
		return 0, nil, err
	}
	if _, err := s.opts.DB.UpdateAccount(r.Context(), r.vars["sub_id"], u); err != nil {
		return 0, nil, err
	}
	s.opts.Accounts.Invalidate(r.vars["sub_id"]) // enabling or disabling takes effect at once
	return http.StatusAccepted, map[string]any{"message": "changed"}, nil
}

func (s *Server) deleteSubaccount(r *request) (int, map[string]any, error) {
	if _, err := s.subaccount(r); err != nil {
		return 0, nil, err
	}
	cascade, err := r.p.Bool("cascade", false)
	if err != nil {
		return 0, nil, err
	}
	if err := s.opts.DB.DeleteSubaccount(r.Context(), r.acct.ID, r.vars["sub_id"], cascade); err != nil {
		if errors.Is(err, trunkline.ErrNotFound) {
			return 0, nil, errNotFound
		}
		return 0, nil, err
	}
	s.opts.Accounts.Invalidate(r.vars["sub_id"])
	// The store destroyed the subaccount's data keys (crypto-shredding); the key the
	// recordings cache holds in memory must go too.
	if f, ok := s.opts.Recordings.(keyForgetter); ok {
		f.Forget(r.vars["sub_id"])
	}
	return http.StatusNoContent, nil, nil
}

// requireNewest refuses a request made with a token that is not the account's newest
// (one still valid in a rotation's overlap) on a route that manages the account (see
// route.retiredOK). 403 rather than 401: the token is right and the caller is
// authenticated, only not allowed this action with it, and a client must not take it for
// a wrong token (nor does it count as a failed authentication). The newest credential is
// read through the authentication cache (account.Service.CurrentCredential), which a
// rotation drops at once, on every node through the bus.
func (s *Server) requireNewest(r *request) error {
	cur, err := s.opts.Accounts.CurrentCredential(r.Context(), r.acct.ID)
	if err != nil {
		return err
	}
	if cur != r.credID {
		return errForbidden(errRetiredToken)
	}
	return nil
}

// errRetiredToken is the refusal of a managing route to a token in its rotation overlap.
const errRetiredToken = "this Auth Token has been replaced and is only valid for sending messages, placing and controlling calls and reading until its overlap ends; managing the account (subaccounts, tokens, numbers, applications, endpoints, recordings, account settings) needs the newest Auth Token"

func (s *Server) rotate(r *request, accountID string) (int, map[string]any, error) {
	maxSec := int(s.opts.MaxOverlap / time.Second)
	overlapSec, err := r.p.Int("overlap", -1, 0, maxSec)
	if err != nil {
		return 0, nil, err
	}
	overlap := time.Duration(overlapSec) * time.Second
	if overlapSec < 0 {
		overlap = -1
	}
	revoke, err := r.p.Bool("revoke_old", false)
	if err != nil {
		return 0, nil, err
	}
	rot, err := s.opts.Accounts.Rotate(r.Context(), accountID, overlap, revoke)
	if err != nil {
		return 0, nil, err
	}
	r.objectID = accountID
	r.detail = map[string]string{"credential": rot.CredentialID, "retired": strings.Join(rot.Retired, ","), "revoke_old": strconv.FormatBool(revoke)}
	var till any
	if rot.OldValidTill != nil {
		till = rot.OldValidTill.UTC().Format(time.RFC3339)
		r.detail["old_valid_until"] = till.(string)
	}
	return http.StatusOK, map[string]any{
		"message": "auth token rotated", "auth_id": accountID, "auth_token": rot.Token,
		"credential_id": rot.CredentialID, "old_token_valid_until": till,
	}, nil
}

func (s *Server) rotateOwnToken(r *request) (int, map[string]any, error) {
	return s.rotate(r, r.acct.ID)
}

func (s *Server) rotateSubToken(r *request) (int, map[string]any, error) {
	sa, err := s.subaccount(r)
	if err != nil {
		return 0, nil, err
	}
	return s.rotate(r, sa.ID)
}

func (s *Server) revokeOld(r *request, accountID string) (int, map[string]any, error) {
	ids, err := s.opts.Accounts.RevokeOthers(r.Context(), accountID)
	if err != nil {
		return 0, nil, err
	}
	r.objectID = accountID
	r.detail = map[string]string{"revoked": fmt.Sprint(strings.Join(ids, ","))}
	return http.StatusNoContent, nil, nil
}

func (s *Server) revokeOwnOld(r *request) (int, map[string]any, error) {
	return s.revokeOld(r, r.acct.ID)
}

func (s *Server) revokeSubOld(r *request) (int, map[string]any, error) {
	sa, err := s.subaccount(r)
	if err != nil {
		return 0, nil, err
	}
	return s.revokeOld(r, sa.ID)
}
