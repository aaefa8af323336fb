package api

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/identity"
)

// CallerIDVerifier runs the code exchange of Plivo's VerifiedCallerId API (package
// identity: the code goes out through the platform's own SMS or voice, and is kept
// as a keyed hash, single use, with bounded tries and an expiry).
type CallerIDVerifier interface {
	StartCallerIDVerification(ctx context.Context, accountID, phone, alias, channel, source string) (string, error)
	CompleteCallerIDVerification(ctx context.Context, owns func(accountID string) bool, token, otp, source string) (*trunkline.VerifiedCallerID, error)
}

// verifierError turns identity's user-facing errors into 400s (429 when throttled).
func verifierError(err error) error {
	var ue *identity.Error
	if errors.As(err, &ue) {
		if ue.RetryAfter > 0 {
			return &Error{Status: http.StatusTooManyRequests, Msg: ue.Msg}
		}
		return badRequest(ue.Msg)
	}
	return err
}

func (s *Server) verifier() (CallerIDVerifier, error) {
	if s.opts.Verifier == nil {
		return nil, &Error{Status: http.StatusServiceUnavailable, Msg: "caller ID verification is not enabled on this server"}
	}
	return s.opts.Verifier, nil
}

// initiateCallerID sends a code to phone_number by channel (sms | call).
func (s *Server) initiateCallerID(r *request) (int, map[string]any, error) {
	v, err := s.verifier()
	if err != nil {
		return 0, nil, err
	}
	phone := r.p.Get("phone_number")
	if phone == "" {
		return 0, nil, badRequest("phone_number is required")
	}
	num, err := normalizeNumber(phone)
	if err != nil {
		return 0, nil, badRequest("phone_number is not a valid number: use E.164 digits")
	}
	owner, err := s.ownerFor(r)
	if err != nil {
		return 0, nil, err
	}
	channel := strings.ToLower(r.p.Get("channel"))
	token, err := v.StartCallerIDVerification(r.Context(), owner, num, r.p.Get("alias"), channel, r.source)
	if err != nil {
		return 0, nil, verifierError(err)
	}
	if channel == "" {
		channel = "sms"
	}
	r.objectType, r.objectID = "verified_caller_id", num
	r.detail = map[string]string{"channel": channel}
	return http.StatusOK, map[string]any{"message": "Verification code is sent to number " + identity.MaskPhone(num) +
		" by " + channel + "; it is valid for 10 minutes", "verification_uuid": token}, nil
}

// verifyCallerID checks the code; a right code makes the number a verified caller ID.
func (s *Server) verifyCallerID(r *request) (int, map[string]any, error) {
	v, err := s.verifier()
	if err != nil {
		return 0, nil, err
	}
	otp := strings.TrimSpace(r.p.Get("otp"))
	if otp == "" {
		return 0, nil, badRequest("otp is required")
	}
	owns := func(accountID string) bool {
		if accountID == r.acct.ID {
			return true
		}
		if r.acct.IsSub() {
			return false
		}
		a, err := s.opts.DB.Account(r.Context(), accountID)
		return err == nil && a.ParentID == r.acct.ID
	}
	c, err := v.CompleteCallerIDVerification(r.Context(), owns, r.vars["verification_uuid"], otp, r.source)
	if err != nil {
		return 0, nil, verifierError(err)
	}
	r.objectType, r.objectID = "verified_caller_id", c.PhoneNumber
	obj := s.callerIDObject(r, c)
	obj["message"] = "caller ID verified"
	return http.StatusOK, obj, nil
}

func (s *Server) callerIDObject(r *request, c *trunkline.VerifiedCallerID) map[string]any {
	var sub any
	if c.AccountID != r.acct.ID {
		sub = c.AccountID
	}
	return map[string]any{
		"alias":             c.Alias,
		"channel":           c.Channel,
		"country":           nil, // not derived: Trunkline keeps no numbering plan
		"created_at":        plivoDateTime(c.VerifiedAt),
		"modified_at":       plivoDateTime(c.ModifiedAt),
		"phone_number":      c.PhoneNumber,
		"subaccount":        sub,
		"verification_uuid": c.VerificationUUID,
		"resource_uri":      r.uri("VerifiedCallerId/" + c.PhoneNumber + "/"),
	}
}

func (s *Server) listCallerIDs(r *request) (int, map[string]any, error) {
	limit, offset, err := r.page()
	if err != nil {
		return 0, nil, err
	}
	list, total, err := s.opts.DB.VerifiedCallerIDs(r.Context(), r.scope(), trunkline.CallerIDFilter{Subaccount: r.p.Get("subaccount"),
		Alias: r.p.Get("alias"), Limit: limit, Offset: offset})
	if err != nil {
		return 0, nil, err
	}
	objs := make([]map[string]any, len(list))
	for i, c := range list {
		objs[i] = s.callerIDObject(r, c)
	}
	return http.StatusOK, r.listBody("VerifiedCallerId/", limit, offset, total, objs), nil
}

func (s *Server) callerIDNumber(r *request) (string, error) {
	num, err := normalizeNumber(r.vars["phone_number"])
	if err != nil {
		return "", errNotFound
	}
	return num, nil
}

func (s *Server) getCallerID(r *request) (int, map[string]any, error) {
	num, err := s.callerIDNumber(r)
	if err != nil {
		return 0, nil, err
	}
	c, err := s.opts.DB.VerifiedCallerIDOf(r.Context(), r.scope(), num)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, s.callerIDObject(r, c), nil
}

func (s *Server) updateCallerID(r *request) (int, map[string]any, error) {
	num, err := s.callerIDNumber(r)
	if err != nil {
		return 0, nil, err
	}
	var owner string
	if r.p.Has("subaccount") {
		if owner, err = s.ownerFor(r); err != nil {
			return 0, nil, err
		}
	}
	alias, err := r.p.StrPtr("alias", 100)
	if err != nil {
		return 0, nil, err
	}
	c, err := s.opts.DB.UpdateVerifiedCallerID(r.Context(), r.scope(), num, alias, owner)
	if err != nil {
		return 0, nil, err
	}
	obj := s.callerIDObject(r, c)
	obj["message"] = "changed"
	return http.StatusAccepted, obj, nil
}

func (s *Server) deleteCallerID(r *request) (int, map[string]any, error) {
	num, err := s.callerIDNumber(r)
	if err != nil {
		return 0, nil, err
	}
	if err := s.opts.DB.DeleteVerifiedCallerID(r.Context(), r.scope(), num); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}
