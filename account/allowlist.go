package account

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// ErrAddressNotAllowed: the credential is good but the account's API allowlist (or its
// main account's) does not include the request's source address.
var ErrAddressNotAllowed = errors.New("API access from this address is not allowed for this account")

// ParseAllowlist parses an API allowlist: addresses and CIDR ranges separated by commas,
// spaces or new lines. It returns the canonical form to store ("" for an empty list).
func ParseAllowlist(s string) ([]netip.Prefix, string, error) {
	var out []netip.Prefix
	var canon []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' }) {
		var p netip.Prefix
		if strings.Contains(f, "/") {
			var err error
			if p, err = netip.ParsePrefix(f); err != nil {
				return nil, "", fmt.Errorf("%q is not an IP address or CIDR range", truncateField(f))
			}
			p = p.Masked()
		} else {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, "", fmt.Errorf("%q is not an IP address or CIDR range", truncateField(f))
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		if len(out) >= 100 {
			return nil, "", errors.New("an allowlist holds at most 100 entries")
		}
		out = append(out, p)
		canon = append(canon, p.String())
	}
	return out, strings.Join(canon, ","), nil
}

func truncateField(s string) string {
	if len(s) > 50 {
		return s[:50] + "…"
	}
	return s
}

func allowed(list []netip.Prefix, source string) bool {
	if len(list) == 0 {
		return true
	}
	a, err := netip.ParseAddr(source)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range list {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// CheckSource enforces the API allowlists for a request from source authenticated as
// accountID: the account's own list and, for a subaccount, its main account's list must
// both admit the address (an empty list admits every address).
func (s *Service) CheckSource(ctx context.Context, accountID, source string) error {
	e, err := s.load(ctx, accountID)
	if err != nil {
		return err
	}
	if allowed(e.allow, source) && allowed(e.parentAllow, source) {
		return nil
	}
	return ErrAddressNotAllowed
}
