// Package number holds the rules of phone numbers for every front end: the E.164 form
// numbers are written in, what a number search accepts, and renting, assigning and
// giving back a number (the application it runs must be the account's own).
package number

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/trunkline/trunkline"
)

// ErrNotAvailable: the number to rent is not (or no longer) free.
var ErrNotAvailable = &trunkline.Error{Code: trunkline.ENOTFOUND, Message: "number not available"}

// Parse accepts an E.164 number with or without "+" and returns its digits.
func Parse(v string) (string, bool) {
	n := strings.TrimPrefix(v, "+")
	if len(n) < 7 || len(n) > 15 || n[0] == '0' || strings.Trim(n, "0123456789") != "" {
		return "", false
	}
	return n, true
}

// Types are the number types a search may ask for, "any" first.
var Types = []string{"any", "local", "mobile", "tollfree", "fixed", "national"}

// ValidType reports whether t (lower case) is one of Types.
func ValidType(t string) bool { return slices.Contains(Types, t) }

// ValidCountry reports whether c is a two-letter upper-case country code.
func ValidCountry(c string) bool {
	return len(c) == 2 && strings.Trim(c, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == ""
}

// ValidPattern reports whether p is a search pattern: up to 15 digits.
func ValidPattern(p string) bool { return strings.Trim(p, "0123456789") == "" && len(p) <= 15 }

// Apps checks that an application may be used by an account (package application).
type Apps interface {
	Usable(ctx context.Context, sc trunkline.Scope, id string) error
}

// Service applies the rules over the store.
type Service struct {
	store trunkline.NumberService
	apps  Apps
}

// New returns the number service over store.
func New(store trunkline.NumberService, apps Apps) *Service {
	return &Service{store: store, apps: apps}
}

// Search lists free numbers.
func (s *Service) Search(ctx context.Context, f trunkline.NumberSearch) ([]*trunkline.Number, int, error) {
	return s.store.SearchNumbers(ctx, f)
}

// Rent rents the free number n to caller's account, running appID ("" for none), which
// must be an application caller can see. ErrNotAvailable when n is not free.
func (s *Service) Rent(ctx context.Context, caller *trunkline.Account, n, appID string) (*trunkline.Number, error) {
	if err := s.apps.Usable(ctx, trunkline.ScopeOf(caller), appID); err != nil {
		return nil, err
	}
	num, err := s.store.RentNumber(ctx, n, caller.ID, appID)
	if errors.Is(err, trunkline.ErrNotFound) {
		return nil, ErrNotAvailable
	}
	return num, err
}

// Get and List read the rented numbers sc can see.
func (s *Service) Get(ctx context.Context, sc trunkline.Scope, n string) (*trunkline.Number, error) {
	return s.store.RentedNumber(ctx, sc, n)
}

func (s *Service) List(ctx context.Context, sc trunkline.Scope, f trunkline.RentedFilter) ([]*trunkline.Number, int, error) {
	return s.store.ListRented(ctx, sc, f)
}

// Change is an update of a rented number; nil and "" leave a field as it is.
type Change struct {
	AppID *string // "" unassigns; must be an application the caller can see
	Alias *string
	Owner string // the account it moves to, resolved by application.Service.Owner
}

// Update applies c to the rented number n.
func (s *Service) Update(ctx context.Context, sc trunkline.Scope, n string, c Change) (*trunkline.Number, error) {
	if c.AppID != nil {
		if err := s.apps.Usable(ctx, sc, *c.AppID); err != nil {
			return nil, err
		}
	}
	return s.store.UpdateRented(ctx, sc, n, func(num *trunkline.Number) error {
		if c.AppID != nil {
			num.AppID = *c.AppID
		}
		if c.Alias != nil {
			num.Alias = *c.Alias
		}
		if c.Owner != "" {
			num.AccountID = c.Owner
		}
		return nil
	})
}

// Unrent gives the number back to the inventory.
func (s *Service) Unrent(ctx context.Context, sc trunkline.Scope, n string) error {
	return s.store.UnrentNumber(ctx, sc, n)
}
