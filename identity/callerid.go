package identity

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/audit"
)

// PurposeCallerID is an account proving it owns a number it wants to call from
// (Plivo's VerifiedCallerId). It runs on the same verification as a console phone
// check: a code sent by SMS or voice call through the platform's own messaging and
// voice, kept as a keyed hash, single use, with bounded sends and checks and an expiry.
const PurposeCallerID = "caller_id"

// StartCallerIDVerification sends a code to phone for accountID by channel ("sms" or
// "call", Plivo's names; default sms) and returns the verification_uuid the code is
// checked against. It is throttled per number and per source address like signup.
func (s *Service) StartCallerIDVerification(ctx context.Context, accountID, phone, alias, channel, source string) (string, error) {
	phone, err := NormalizePhone(phone)
	if err != nil {
		return "", err
	}
	switch channel {
	case "", "sms":
		channel = "sms"
	case "call":
		channel = "voice"
	default:
		return "", userErr("channel", "channel must be sms or call")
	}
	alias = strings.TrimSpace(alias)
	if utf8.RuneCountInString(alias) > 100 {
		return "", userErr("alias", "alias is at most 100 characters")
	}
	if err := s.admitSend(ctx, PurposeCallerID, channel, phone, source); err != nil {
		return "", err
	}
	// A UUID, as Plivo's verification_uuid is; it is kept only as a keyed hash, and
	// checking a code needs the account's credentials too.
	token := uuid.NewString()
	v := &trunkline.Verification{Purpose: PurposeCallerID, AccountID: accountID, Alias: alias}
	if _, err := s.startVerificationToken(ctx, v, token, phone, channel, source); err != nil {
		return "", err
	}
	return token, nil
}

// CompleteCallerIDVerification checks otp against the verification_uuid token. owns
// says whether the calling account may complete a verification started for an account
// (its own, or its subaccount's); any other verification is "ended", so another tenant
// can neither complete it nor spend its tries. On success the number is a verified
// caller ID of the account the verification was for.
func (s *Service) CompleteCallerIDVerification(ctx context.Context, owns func(accountID string) bool, token, otp, source string) (*trunkline.VerifiedCallerID, error) {
	v, err := s.flow(ctx, token)
	if err != nil {
		return nil, err
	}
	if v.Purpose != PurposeCallerID || !owns(v.AccountID) {
		return nil, errNoFlow
	}
	if v, err = s.checkCode(ctx, token, otp, source); err != nil {
		return nil, err
	}
	defer s.st.DeleteVerification(context.WithoutCancel(ctx), v.ID)
	channel := "sms"
	if v.Channel == "voice" {
		channel = "call"
	}
	now := s.o.Now().UTC()
	cid := &trunkline.VerifiedCallerID{AccountID: v.AccountID, PhoneNumber: v.Phone, Alias: v.Alias, Channel: channel,
		VerificationUUID: token, VerifiedAt: now, ModifiedAt: now}
	if err := s.st.SaveVerifiedCallerID(ctx, cid); err != nil {
		return nil, err
	}
	s.audit(ctx, audit.Entry{AccountID: v.AccountID, Actor: "api", Action: "caller_id.verified", ObjectType: "verified_caller_id",
		ObjectID: v.Phone, Source: source, Outcome: audit.Success, Detail: map[string]string{"channel": channel}})
	return cid, nil
}
