package message

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/application"
	"github.com/trunkline/trunkline/callerid"
	"github.com/trunkline/trunkline/input"
	"github.com/trunkline/trunkline/number"
	"github.com/trunkline/trunkline/smpp/charset"
)

// MaxDestinations bounds one request's fan-out (Plivo: up to 1000 with "<").
const MaxDestinations = 1000

// MinExpiry and MaxExpiry bound message_expiry, in seconds (Plivo's range).
const (
	MinExpiry = 5
	MaxExpiry = 10800
)

func invalid(msg string) error { return &trunkline.Error{Code: trunkline.EINVALID, Message: msg} }

// Prepare applies the send rules to d — the source the account may use (ids, package
// callerid), destinations, text length, log mode, callback, expiry — and returns the
// validated request, or an EINVALID trunkline.Error that says what to fix.
func Prepare(ctx context.Context, d trunkline.MessageDraft, ids CallerIDChecker) (trunkline.SendRequest, error) {
	switch t := strings.ToLower(d.Type); t {
	case "", "sms":
	default:
		return trunkline.SendRequest{}, invalid("type " + input.Quote(t) + " is not supported: only sms")
	}
	if d.PowerpackUUID != "" {
		return trunkline.SendRequest{}, invalid("powerpack_uuid is not supported: give src")
	}
	if d.Media {
		return trunkline.SendRequest{}, invalid("media_urls are for mms, which is not supported")
	}
	src := strings.TrimPrefix(strings.TrimSpace(d.Src), "+")
	if src == "" {
		return trunkline.SendRequest{}, invalid("src is required")
	}
	err := ids.Check(ctx, d.AccountID, src, callerid.SMS)
	var refused *callerid.Refused
	if errors.As(err, &refused) {
		return trunkline.SendRequest{}, invalid(refused.Reason)
	} else if err != nil {
		return trunkline.SendRequest{}, err
	}
	dsts, err := destinations(src, d.Dst)
	if err != nil {
		return trunkline.SendRequest{}, err
	}
	if err := checkText(d.Text); err != nil {
		return trunkline.SendRequest{}, err
	}
	r := trunkline.SendRequest{AccountID: d.AccountID, Src: src, Dsts: dsts, Text: d.Text, LogMode: trunkline.LogAll, URL: d.URL,
		Method: "POST", RequesterIP: d.RequesterIP, Audit: d.Audit}
	if d.Log != nil {
		switch v := strings.ToLower(*d.Log); v {
		case "true", "1":
			r.LogMode = trunkline.LogAll
		case "false", "0":
			r.LogMode = trunkline.LogNone
		case trunkline.LogNumberOnly, trunkline.LogContentOnly:
			r.LogMode = v
		default:
			return trunkline.SendRequest{}, invalid("log must be true, false, number_only or content_only")
		}
	}
	if r.URL != "" {
		if err := application.CheckURL(r.URL); err != nil {
			return trunkline.SendRequest{}, invalid("url " + trunkline.ErrorMessage(err))
		}
	}
	if d.Method != nil {
		m, err := application.CheckMethod(*d.Method)
		if err != nil {
			return trunkline.SendRequest{}, invalid("method " + trunkline.ErrorMessage(err))
		}
		r.Method = m
	}
	if d.Expiry != "" {
		n, err := strconv.Atoi(d.Expiry)
		if err != nil || n < MinExpiry || n > MaxExpiry {
			return trunkline.SendRequest{}, invalid(fmt.Sprintf("parameter message_expiry must be a whole number from %d to %d",
				MinExpiry, MaxExpiry))
		}
		r.Expiry = time.Duration(n) * time.Second
	}
	switch strings.ToLower(d.Trackable) {
	case "", "true", "1", "yes", "false", "0", "no":
	default:
		return trunkline.SendRequest{}, invalid("parameter trackable must be true or false")
	}
	return r, nil
}

// destinations splits dst at "<" into distinct E.164 numbers other than src.
func destinations(src, dst string) ([]string, error) {
	var dsts []string
	seen := map[string]bool{}
	for _, d := range strings.Split(dst, "<") {
		d = strings.TrimSpace(d)
		if d == "" {
			continue
		}
		n, ok := number.Parse(d)
		if !ok {
			return nil, invalid("dst " + input.Quote(d) + " is not a valid number: use E.164 digits")
		}
		if n == src {
			return nil, invalid("src and dst must differ")
		}
		if !seen[n] {
			seen[n] = true
			dsts = append(dsts, n)
		}
	}
	if len(dsts) == 0 {
		return nil, invalid("dst is required")
	}
	if len(dsts) > MaxDestinations {
		return nil, invalid("dst lists more than 1000 numbers")
	}
	return dsts, nil
}

// checkText bounds a text as Plivo does: 1600 GSM characters or 737 UCS-2 code units (an
// emoji's surrogate pair counts two).
func checkText(text string) error {
	if strings.TrimSpace(text) == "" {
		return invalid("text is required")
	}
	coding, n := charset.Length(text)
	limit := 1600
	if coding == charset.UCS2 {
		limit = 737
	}
	if n > limit || utf8.RuneCountInString(text) > 1600 {
		return invalid("text is too long: at most 1600 GSM characters or 737 Unicode characters")
	}
	return nil
}
