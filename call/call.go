// Package call holds the rules of placing calls (Plivo's Make Call API) for every front
// end: the caller ID the account may use (package callerid), destinations, callback URLs
// and methods, SIP headers. The call itself is placed through trunkline.CallService.
package call

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/application"
	"github.com/trunkline/trunkline/callerid"
	"github.com/trunkline/trunkline/input"
)

// MaxDestinations bounds one request's fan-out (Plivo: "to" lists up to 1000 with "<").
const MaxDestinations = 1000

// Draft is a make-a-call request as a client wrote it, before the rules. Methods left
// empty are POST.
type Draft struct {
	AccountID                                  string
	MachineDetection                           string
	From, To                                   string // with or without "+"; To may list several with "<"
	CallerName, SendDigits, ParentUUID         string
	AnswerURL, HangupURL, FallbackURL, RingURL string
	AnswerMethod, HangupMethod                 string
	FallbackMethod, RingMethod                 string
	TimeLimit, RingTimeout                     time.Duration
	SIPHeaders                                 string // name=value pairs separated by commas
}

// CallerIDChecker is the source rule (package callerid).
type CallerIDChecker interface {
	Check(ctx context.Context, accountID, src string, use callerid.Use) error
}

func invalid(msg string) error { return &trunkline.Error{Code: trunkline.EINVALID, Message: msg} }

// Place checks d and places one call per destination through calls; it returns their
// request UUIDs. Refusals are trunkline.Errors: EINVALID for the request, ENOROUTE when
// no trunk serves a destination, EBUSY at the call limit.
func Place(ctx context.Context, calls trunkline.CallService, ids CallerIDChecker, d Draft) ([]string, error) {
	pc, tos, err := prepare(ctx, ids, d)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, to := range tos {
		c := pc
		c.To, c.RequestUUID = to, uuid.NewString()
		if err := calls.Place(ctx, c); err != nil {
			var refused *callerid.Refused
			switch {
			case errors.Is(err, trunkline.ErrNoRoute):
				return nil, trunkline.Errorf(trunkline.ENOROUTE, "no route to %s: no trunk serves it", input.Quote(to))
			case errors.Is(err, trunkline.ErrTooManyCalls):
				return nil, &trunkline.Error{Code: trunkline.EBUSY, Message: "too many calls in progress; retry later"}
			case errors.As(err, &refused):
				return nil, invalid(refused.Reason)
			}
			return nil, err
		}
		out = append(out, c.RequestUUID)
	}
	return out, nil
}

// prepare applies the rules to d: the call to place and its destinations.
func prepare(ctx context.Context, ids CallerIDChecker, d Draft) (trunkline.PlaceCall, []string, error) {
	var pc trunkline.PlaceCall
	if d.MachineDetection != "" {
		return pc, nil, invalid("machine_detection is not supported yet")
	}
	from := strings.TrimPrefix(strings.TrimSpace(d.From), "+")
	if from == "" {
		return pc, nil, invalid("from is required")
	}
	if !callerid.IsNumber(from) || len(from) > 20 {
		return pc, nil, invalid("from must be a phone number (digits)")
	}
	err := ids.Check(ctx, d.AccountID, from, callerid.Voice)
	var refused *callerid.Refused
	if errors.As(err, &refused) {
		return pc, nil, invalid(refused.Reason)
	} else if err != nil {
		return pc, nil, err
	}
	pc = trunkline.PlaceCall{AccountID: d.AccountID, From: from, CallerName: d.CallerName, SendDigits: d.SendDigits,
		ParentUUID: d.ParentUUID, TimeLimit: d.TimeLimit, RingTimeout: d.RingTimeout}
	pc.App.AccountID = d.AccountID
	if len(pc.CallerName) > 50 {
		return pc, nil, invalid("caller_name is at most 50 characters")
	}
	if strings.Trim(pc.SendDigits, "0123456789*#wW") != "" {
		return pc, nil, invalid("send_digits takes 0-9, *, #, w and W")
	}
	if d.AnswerURL == "" {
		return pc, nil, invalid("answer_url is required")
	}
	if err := callbacks(&pc, d); err != nil {
		return pc, nil, err
	}
	if pc.SIPHeaders, err = sipHeaders(d.SIPHeaders); err != nil {
		return pc, nil, err
	}
	tos, err := Destinations(d.To)
	return pc, tos, err
}

// callbacks checks and copies the URLs and methods (POST unless given).
func callbacks(pc *trunkline.PlaceCall, d Draft) error {
	for _, f := range []struct {
		name, v string
		dst     *string
	}{{"answer_url", d.AnswerURL, &pc.App.AnswerURL}, {"hangup_url", d.HangupURL, &pc.App.HangupURL},
		{"fallback_url", d.FallbackURL, &pc.App.FallbackAnswerURL}, {"ring_url", d.RingURL, &pc.RingURL}} {
		if f.v != "" {
			if err := application.CheckURL(f.v); err != nil {
				return invalid(f.name + " " + trunkline.ErrorMessage(err))
			}
			*f.dst = f.v
		}
	}
	for _, f := range []struct {
		name, v string
		dst     *string
	}{{"answer_method", d.AnswerMethod, &pc.App.AnswerMethod}, {"hangup_method", d.HangupMethod, &pc.App.HangupMethod},
		{"fallback_method", d.FallbackMethod, &pc.App.FallbackMethod}, {"ring_method", d.RingMethod, &pc.RingMethod}} {
		*f.dst = "POST"
		if f.v != "" {
			m, err := application.CheckMethod(f.v)
			if err != nil {
				return invalid(f.name + " " + trunkline.ErrorMessage(err))
			}
			*f.dst = m
		}
	}
	return nil
}

// sipHeaders turns "a=1,b=2" into X-PH- headers; names are letters, digits and '-', and
// no value may break a header line.
func sipHeaders(h string) ([]string, error) {
	if h == "" {
		return nil, nil
	}
	var out []string
	for _, kv := range strings.Split(h, ",") {
		k, v, ok := strings.Cut(kv, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.Trim(strings.ToLower(k), "abcdefghijklmnopqrstuvwxyz0123456789-") != "" ||
			strings.ContainsAny(v, "\r\n") || len(kv) > 256 {
			return nil, invalid("sip_headers must be name=value pairs separated by commas")
		}
		out = append(out, "X-PH-"+k+": "+strings.TrimSpace(v))
	}
	return out, nil
}

// Destinations splits to at "<" into numbers (digits, at most 20 each, at most
// MaxDestinations of them): the one check of a "to" that may list several.
func Destinations(to string) ([]string, error) {
	var tos []string
	for _, t := range strings.Split(to, "<") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "+")
		if t == "" {
			continue
		}
		if !callerid.IsNumber(t) || len(t) > 20 {
			return nil, invalid("to " + input.Quote(t) + " is not a valid number: use E.164 digits")
		}
		tos = append(tos, t)
	}
	if len(tos) == 0 {
		return nil, invalid("to is required")
	}
	if len(tos) > MaxDestinations {
		return nil, invalid("to lists more than 1000 destinations")
	}
	return tos, nil
}
