// Package endpoint holds the rules of SIP endpoints (Plivo's Endpoint API) for every
// front end: user names, passwords and aliases, the application an endpoint runs (its
// own account's), and the random suffix that keeps SIP user names unguessable. The
// password is never stored or shown: the store keeps the digest HA1 the registrar needs
// and Plivo's MD5(password), both sealed under the KEK (package account).
package endpoint

import (
	"context"
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/account"
)

const (
	maxUser  = 32  // before the 12 digits Plivo appends
	minPass  = 5   // Plivo's minimum
	maxPass  = 128 // enough for any generated password; bounds hashing work
	maxAlias = 256
	// Suffix is the number of random digits appended to the chosen user name.
	Suffix = 12
)

func invalid(msg string) error { return &trunkline.Error{Code: trunkline.EINVALID, Message: msg} }

// CheckUsername accepts Plivo's form: letters and digits, a letter first.
func CheckUsername(u string) error {
	bad := len(u) == 0 || len(u) > maxUser || !isASCIILetter(u[0])
	for i := 0; i < len(u) && !bad; i++ {
		bad = !isASCIILetter(u[i]) && !(u[i] >= '0' && u[i] <= '9')
	}
	if bad {
		return invalid("username must be 1 to 32 letters or digits, starting with a letter")
	}
	return nil
}

func isASCIILetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// CheckPassword enforces the length bounds and refuses what SIP crackers try first: the
// user name itself.
func CheckPassword(password string, usernames ...string) error {
	n := utf8.RuneCountInString(password)
	if n < minPass || n > maxPass {
		return invalid("password must be 5 to 128 characters")
	}
	if strings.IndexFunc(password, unicode.IsControl) >= 0 {
		return invalid("password must not contain control characters")
	}
	for _, u := range usernames {
		if strings.EqualFold(password, u) {
			return invalid("password must not be the username")
		}
	}
	return nil
}

// CheckAlias bounds an alias and keeps control characters out of it.
func CheckAlias(alias string) error {
	if utf8.RuneCountInString(alias) > maxAlias {
		return invalid("alias is too long (at most 256 characters)")
	}
	if strings.IndexFunc(alias, unicode.IsControl) >= 0 {
		return invalid("alias must not contain control characters")
	}
	return nil
}

// Apps checks that an application may be used by an account (package application).
type Apps interface {
	Usable(ctx context.Context, sc trunkline.Scope, id string) error
}

// Sealer seals an endpoint's password into the secrets the store keeps (package account).
type Sealer interface {
	SealEndpointPassword(username, realm, password string) (account.EndpointSecrets, error)
}

// Service applies the rules over the store.
type Service struct {
	store  trunkline.EndpointService
	apps   Apps
	seal   Sealer
	domain string
}

// New returns the endpoint service over store; domain is the SIP domain (the realm of
// the digest secrets).
func New(store trunkline.EndpointService, apps Apps, seal Sealer, domain string) *Service {
	return &Service{store: store, apps: apps, seal: seal, domain: domain}
}

// app checks appID ("" or "null" for none) against the endpoint's own account: its
// calls run that application, signed with that account's token.
func (s *Service) app(ctx context.Context, owner, appID string) (string, error) {
	if appID == "null" {
		appID = ""
	}
	return appID, s.apps.Usable(ctx, trunkline.Scope{AccountID: owner}, appID)
}

// Draft is a new endpoint as its owner asks for it.
type Draft struct {
	Username string // the chosen name; Suffix random digits are appended
	Password string
	Alias    string
	AppID    string
}

// Create checks d and stores a new endpoint of owner.
func (s *Service) Create(ctx context.Context, owner string, d Draft) (*trunkline.Endpoint, error) {
	if err := CheckUsername(d.Username); err != nil {
		return nil, err
	}
	if err := CheckPassword(d.Password, d.Username); err != nil {
		return nil, err
	}
	if err := CheckAlias(d.Alias); err != nil {
		return nil, err
	}
	appID, err := s.app(ctx, owner, d.AppID)
	if err != nil {
		return nil, err
	}
	// Plivo appends 12 random digits, which also keeps SIP user names unguessable from
	// the name alone; a collision (one in 10^12) just draws again.
	for range 5 {
		e := &trunkline.Endpoint{ID: account.NewNumericID(14), AccountID: owner, Alias: d.Alias, AppID: appID,
			Username: d.Username + account.RandomString("0123456789", Suffix)}
		sec, err := s.seal.SealEndpointPassword(e.Username, s.domain, d.Password)
		if err != nil {
			return nil, err
		}
		e.Realm, e.HA1Enc, e.PasswordMD5Enc = sec.Realm, sec.HA1Enc, sec.PasswordMD5Enc
		err = s.store.CreateEndpoint(ctx, e)
		if errors.Is(err, trunkline.ErrConflict) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return e, nil
	}
	return nil, errors.New("endpoint: no free username after 5 draws")
}

// Change is an update of an endpoint; nil leaves a field as it is.
type Change struct {
	Password, Alias, AppID *string
}

// Update checks c against the endpoint's own account and name and applies it; it
// returns the endpoint as it was.
func (s *Service) Update(ctx context.Context, sc trunkline.Scope, id string, c Change) (*trunkline.Endpoint, error) {
	// Read first, so a foreign id is "not found" whatever the change says, and the
	// change is checked against the endpoint's own account and name. (Checks stay out of
	// the write transaction: no reads on the pool while it holds the writer.)
	cur, err := s.store.Endpoint(ctx, sc, id)
	if err != nil {
		return nil, err
	}
	var sec *account.EndpointSecrets
	if c.Password != nil {
		chosen := cur.Username[:max(1, len(cur.Username)-Suffix)]
		if err := CheckPassword(*c.Password, chosen, cur.Username); err != nil {
			return nil, err
		}
		sealed, err := s.seal.SealEndpointPassword(cur.Username, s.domain, *c.Password)
		if err != nil {
			return nil, err
		}
		sec = &sealed
	}
	if c.Alias != nil {
		if err := CheckAlias(*c.Alias); err != nil {
			return nil, err
		}
	}
	var appID *string
	if c.AppID != nil {
		app, err := s.app(ctx, cur.AccountID, *c.AppID)
		if err != nil {
			return nil, err
		}
		appID = &app
	}
	_, err = s.store.UpdateEndpoint(ctx, sc, cur.ID, func(e *trunkline.Endpoint) error {
		if sec != nil {
			e.Realm, e.HA1Enc, e.PasswordMD5Enc = sec.Realm, sec.HA1Enc, sec.PasswordMD5Enc
		}
		if c.Alias != nil {
			e.Alias = *c.Alias
		}
		if appID != nil {
			e.AppID = *appID
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return cur, nil
}

// Get, List and Delete read and remove the endpoints sc can see.
func (s *Service) Get(ctx context.Context, sc trunkline.Scope, id string) (*trunkline.Endpoint, error) {
	return s.store.Endpoint(ctx, sc, id)
}

func (s *Service) List(ctx context.Context, sc trunkline.Scope, f trunkline.EndpointFilter) ([]*trunkline.Endpoint, int, error) {
	return s.store.ListEndpoints(ctx, sc, f)
}

func (s *Service) Delete(ctx context.Context, sc trunkline.Scope, id string) error {
	return s.store.DeleteEndpoint(ctx, sc, id)
}
