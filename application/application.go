// Package application holds the rules of applications — the URLs and methods a call or
// message runs, their defaults, and which account may use one — for every front end
// (the REST API and the console). The handlers parse and render; this package decides.
package application

import (
	"context"
	"errors"
	"net/url"
	"regexp"
	"strings"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/account"
)

// Refusals. Each is an EINVALID trunkline.Error; the URL and method ones are worded to
// follow a parameter name ("answer_url is too long …"): an edge may show its own wording.
var (
	ErrName          = &trunkline.Error{Code: trunkline.EINVALID, Message: "app_name must be 1 to 255 letters, digits, '_' or '-'"}
	ErrURLTooLong    = &trunkline.Error{Code: trunkline.EINVALID, Message: "is too long (at most 2048 characters)"}
	ErrURLNotAbs     = &trunkline.Error{Code: trunkline.EINVALID, Message: "must be an absolute http or https URL"}
	ErrURLUserInfo   = &trunkline.Error{Code: trunkline.EINVALID, Message: "must not contain a user name or password"}
	ErrMethod        = &trunkline.Error{Code: trunkline.EINVALID, Message: "must be GET or POST"}
	ErrNoAnswerURL   = &trunkline.Error{Code: trunkline.EINVALID, Message: "answer_url is required (or message_url for a messaging application)"}
	ErrNotYours      = &trunkline.Error{Code: trunkline.EINVALID, Message: "app_id does not name one of your applications"}
	ErrNotSubaccount = &trunkline.Error{Code: trunkline.EINVALID, Message: "subaccount must be one of your subaccounts"}
)

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)

// CheckName accepts an application name: 1 to 255 letters, digits, '_' or '-'.
func CheckName(v string) error {
	if !nameRE.MatchString(v) {
		return ErrName
	}
	return nil
}

// CheckURL accepts an absolute http(s) URL without user info. Where it points is checked
// again when it is called (the webhook client's SSRF guard dials only allowed addresses).
func CheckURL(v string) error {
	if len(v) > 2048 {
		return ErrURLTooLong
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return ErrURLNotAbs
	}
	if u.User != nil {
		return ErrURLUserInfo
	}
	return nil
}

// CheckMethod accepts GET or POST in any case and returns it upper-cased.
func CheckMethod(v string) (string, error) {
	m := strings.ToUpper(v)
	if m != "GET" && m != "POST" {
		return "", ErrMethod
	}
	return m, nil
}

// Defaults is a new application of owner with the defaults both front ends start from:
// POST everywhere, incoming messages logged, enabled.
func Defaults(owner string) *trunkline.Application {
	return &trunkline.Application{ID: account.NewNumericID(17), AccountID: owner, AnswerMethod: "POST",
		HangupMethod: "POST", FallbackMethod: "POST", MessageMethod: "POST", LogIncomingMessages: true, Enabled: true}
}

// Accounts reads accounts (for the subaccount an object is placed in).
type Accounts interface {
	Account(ctx context.Context, id string) (*trunkline.Account, error)
}

// Service applies the rules over the store.
type Service struct {
	store    trunkline.ApplicationService
	accounts Accounts
}

// New returns the application service over store.
func New(store trunkline.ApplicationService, accounts Accounts) *Service {
	return &Service{store: store, accounts: accounts}
}

// Create stores a, checked whole: it needs an answer URL (Plivo's rule) or, for a
// messaging application, a message URL; the hangup URL defaults to the answer URL unless
// the caller set it (hangupSet), even to empty.
func (s *Service) Create(ctx context.Context, a *trunkline.Application, hangupSet bool) error {
	return s.CreateAudited(ctx, a, hangupSet, nil)
}

// CreateAudited is Create that stores the audit entry audit builds (when not nil) in
// the application's own transaction: both are stored or neither, in one commit.
func (s *Service) CreateAudited(ctx context.Context, a *trunkline.Application, hangupSet bool, audit trunkline.AuditBuild) error {
	if a.AnswerURL == "" && a.MessageURL == "" {
		return ErrNoAnswerURL
	}
	if a.HangupURL == "" && !hangupSet {
		a.HangupURL = a.AnswerURL
	}
	return s.store.CreateApplicationAudited(ctx, a, audit)
}

// Get, List, Update and Delete read and change the applications sc can see.
func (s *Service) Get(ctx context.Context, sc trunkline.Scope, id string) (*trunkline.Application, error) {
	return s.store.Application(ctx, sc, id)
}

func (s *Service) List(ctx context.Context, sc trunkline.Scope, f trunkline.ApplicationFilter) ([]*trunkline.Application, int, error) {
	return s.store.ListApplications(ctx, sc, f)
}

// Update applies fn to the application and, when owner is set, moves it to owner
// (checked with Owner first).
func (s *Service) Update(ctx context.Context, sc trunkline.Scope, id, owner string, fn func(*trunkline.Application) error) (*trunkline.Application, error) {
	return s.store.UpdateApplication(ctx, sc, id, func(a *trunkline.Application) error {
		if owner != "" {
			a.AccountID = owner
		}
		return fn(a)
	})
}

func (s *Service) Delete(ctx context.Context, sc trunkline.Scope, id string) error {
	return s.store.DeleteApplication(ctx, sc, id)
}

// Usable checks that id ("" for none) names an application sc can see: numbers and
// endpoints run only their account's applications, signed with that account's token.
func (s *Service) Usable(ctx context.Context, sc trunkline.Scope, id string) error {
	if id == "" {
		return nil
	}
	if _, err := s.store.Application(ctx, sc, id); err != nil {
		if errors.Is(err, trunkline.ErrNotFound) {
			return ErrNotYours
		}
		return err
	}
	return nil
}

// Owner resolves where caller places an object: its own account when sub is empty,
// otherwise sub, which must be caller itself or (for a main account) one of its
// subaccounts.
func (s *Service) Owner(ctx context.Context, caller *trunkline.Account, sub string) (string, error) {
	if sub == "" {
		return caller.ID, nil
	}
	if caller.IsSub() {
		if sub == caller.ID {
			return sub, nil
		}
		return "", ErrNotSubaccount
	}
	sa, err := s.accounts.Account(ctx, sub)
	if errors.Is(err, trunkline.ErrNotFound) || (err == nil && sa.ParentID != caller.ID) {
		return "", ErrNotSubaccount
	}
	if err != nil {
		return "", err
	}
	return sa.ID, nil
}
