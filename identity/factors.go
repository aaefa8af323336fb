package identity

import (
	"context"
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/trunkline/trunkline"
)

// TOTPEnrolment is a TOTP secret offered to the user, not yet confirmed. Sealed is the
// secret sealed to the session, carried in the form: nothing is stored until a code
// proves the user's app has the secret.
type TOTPEnrolment struct {
	Key    *TOTPKey
	Sealed string
}

// BeginTOTP makes a new TOTP secret for the user.
func (s *Service) BeginTOTP(ctx context.Context, sess *Session) (*TOTPEnrolment, error) {
	if err := s.requireFresh(ctx, sess); err != nil {
		return nil, err
	}
	k, err := NewTOTP(s.o.Issuer, sess.User.Email)
	if err != nil {
		return nil, err
	}
	sealed, err := s.ring.Seal([]byte(k.Secret), []byte("totp-enrol:"+sess.Rec.ID))
	if err != nil {
		return nil, err
	}
	return &TOTPEnrolment{Key: k, Sealed: base64.RawURLEncoding.EncodeToString(sealed)}, nil
}

// ConfirmTOTP checks a code from the user's app against the offered secret and, when
// right, enrols it. A user's first second factor also gets recovery codes, returned once.
func (s *Service) ConfirmTOTP(ctx context.Context, sess *Session, sealed, code string) ([]string, error) {
	if err := s.requireFresh(ctx, sess); err != nil {
		return nil, err
	}
	raw, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil {
		return nil, &Error{Msg: "The enrolment has expired. Start again."}
	}
	secret, err := s.ring.Open(raw, []byte("totp-enrol:"+sess.Rec.ID))
	if err != nil {
		return nil, &Error{Msg: "The enrolment has expired. Start again."}
	}
	code = strings.TrimSpace(code)
	if !ValidCodeForm(code) {
		return nil, &Error{Field: "code", Msg: "Enter the 6-digit code your authenticator app shows."}
	}
	step, ok := CheckTOTP(string(secret), code, 0, s.o.Now())
	if !ok {
		return nil, &Error{Field: "code", Msg: "That code does not match. Check the app's clock, and enter the code it shows now."}
	}
	had, err := s.HasSecondFactor(ctx, sess.User)
	if err != nil {
		return nil, err
	}
	enc, err := s.ring.Seal(secret, TOTPAAD(sess.User.ID))
	if err != nil {
		return nil, err
	}
	// The enrolling code's step becomes the replay guard: it cannot log in again.
	if err := s.st.SetUserTOTP(ctx, sess.User.ID, enc, step); err != nil {
		return nil, err
	}
	sess.User.TOTPEnc, sess.User.TOTPLastStep = enc, step
	s.audit(ctx, s.userEntry(sess, "user.totp_enrol", nil))
	var codes []string
	if !had {
		if codes, err = s.newRecoveryCodes(ctx, sess); err != nil {
			return nil, err
		}
	}
	return codes, s.markFresh(ctx, sess, "totp")
}

// RemoveTOTP removes the user's TOTP (needs a fresh second factor).
func (s *Service) RemoveTOTP(ctx context.Context, sess *Session) error {
	if err := s.requireFresh(ctx, sess); err != nil {
		return err
	}
	if err := s.st.SetUserTOTP(ctx, sess.User.ID, nil, 0); err != nil {
		return err
	}
	sess.User.TOTPEnc = nil
	s.audit(ctx, s.userEntry(sess, "user.totp_remove", nil))
	return nil
}

// RegenerateRecoveryCodes replaces the user's recovery codes (needs a fresh second factor).
func (s *Service) RegenerateRecoveryCodes(ctx context.Context, sess *Session) ([]string, error) {
	if err := s.requireFresh(ctx, sess); err != nil {
		return nil, err
	}
	return s.newRecoveryCodes(ctx, sess)
}

func (s *Service) newRecoveryCodes(ctx context.Context, sess *Session) ([]string, error) {
	codes := NewRecoveryCodes(10)
	macs := make([][]byte, len(codes))
	for i, c := range codes {
		macs[i] = s.ring.MAC([]byte("recovery:" + sess.User.ID + ":" + NormalizeRecoveryCode(c)))
	}
	if err := s.st.ReplaceRecoveryCodes(ctx, sess.User.ID, macs); err != nil {
		return nil, err
	}
	s.audit(ctx, s.userEntry(sess, "user.recovery_codes", map[string]string{"count": strconv.Itoa(len(codes))}))
	return codes, nil
}

// RecoveryCodesLeft counts the user's unused recovery codes.
func (s *Service) RecoveryCodesLeft(ctx context.Context, u *trunkline.User) (int, error) {
	return s.st.RecoveryCodesLeft(ctx, u.ID)
}

// ChangePassphrase checks the current passphrase and sets a new one (needs a fresh
// second factor). Every other session of the user ends.
func (s *Service) ChangePassphrase(ctx context.Context, sess *Session, current, next string) error {
	if err := s.requireFresh(ctx, sess); err != nil {
		return err
	}
	ok, err := s.o.Hasher.Verify(ctx, sess.User.PassHash, current)
	if err != nil && ctx.Err() != nil {
		return err
	}
	if !ok {
		return &Error{Field: "current", Msg: "The current passphrase is not right."}
	}
	if err := checkNewPassphrase(next, sess.User.Email); err != nil {
		return err
	}
	hash, err := s.o.Hasher.Hash(ctx, next)
	if err != nil {
		return err
	}
	if err := s.st.SetUserPassHash(ctx, sess.User.ID, hash); err != nil {
		return err
	}
	sess.User.PassHash = hash
	n, _ := s.st.DeleteUserSessions(ctx, sess.User.ID, sess.Rec.ID)
	s.audit(ctx, s.userEntry(sess, "user.passphrase_change", map[string]string{"other_sessions_ended": strconv.Itoa(n)}))
	return nil
}

// FactorAdded records a newly enrolled second factor of kind ("passkey", ...) added by a
// ceremony outside this service; when it is the user's first, recovery codes are made
// and returned (shown once). had says whether the user had a factor before.
func (s *Service) FactorAdded(ctx context.Context, sess *Session, kind string, had bool) ([]string, error) {
	s.audit(ctx, s.userEntry(sess, "user."+kind+"_enrol", nil))
	var codes []string
	var err error
	if !had {
		if codes, err = s.newRecoveryCodes(ctx, sess); err != nil {
			return nil, err
		}
	}
	return codes, s.markFresh(ctx, sess, kind)
}

// FactorRemoved records the removal of a second factor managed outside this service.
func (s *Service) FactorRemoved(ctx context.Context, sess *Session, kind string) {
	s.audit(ctx, s.userEntry(sess, "user."+kind+"_remove", nil))
}

// RequireFresh returns ErrNeedFreshMFA unless the session presented a second factor
// recently (or the user has none).
func (s *Service) RequireFresh(ctx context.Context, sess *Session) error {
	return s.requireFresh(ctx, sess)
}

// PresentedFactor completes a pending login (a new session) or, for a full session,
// records a fresh second factor, after a ceremony outside this service (a passkey)
// proved the user. It returns the new session's token when one was made.
func (s *Service) PresentedFactor(ctx context.Context, sess *Session, kind, userAgent string) (*Session, string, error) {
	s.failMFA.Succeed(sess.User.ID)
	if sess.Pending() {
		return s.finishLogin(ctx, sess, kind, userAgent)
	}
	return sess, "", s.markFresh(ctx, sess, kind)
}

// TOTPAAD binds a user's sealed TOTP secret to the user.
func TOTPAAD(userID string) []byte { return []byte("totp:" + userID) }
