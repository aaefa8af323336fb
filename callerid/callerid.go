// Package callerid decides which sources an account may present: the caller ID of a call
// it places and the sender of an SMS it sends. Every path that picks a source (the Call
// and Message APIs, <Dial callerId> and <Message src> in call XML, <Message> replies to an
// inbound SMS) asks the one Checker here, so a tenant cannot send as another tenant's
// number or spoof a caller ID on any of them.
//
// A source is allowed when it is
//   - a number the account rents, its main account rents, or (for a main account) one of
//     its subaccounts rents;
//   - for SMS, an alphanumeric sender ID the operator allowed for the account or its main
//     account (trunkline account sender-id allow);
//   - for calls, a caller ID the account (or its main account, or a subaccount of it)
//     verified with a code sent to the number (the VerifiedCallerId API).
package callerid

import (
	"context"
	"strings"
	"sync"

	"github.com/trunkline/trunkline"
)

// Store is what the Checker reads: who holds a number, a sender ID or a caller ID.
type Store interface {
	NumberHolders(ctx context.Context, number string) ([]trunkline.Holder, error)
	SenderIDHolders(ctx context.Context, sender string) ([]trunkline.Holder, error)
	VerifiedCallerIDHolders(ctx context.Context, number string) ([]trunkline.Holder, error)
	Account(ctx context.Context, id string) (*trunkline.Account, error)
}

// Use is what the source is for.
type Use int

const (
	// SMS: the sender of a message (a number or an alphanumeric sender ID).
	SMS Use = iota
	// Voice: the caller ID of a call (a number).
	Voice
)

// Refused is a source the account may not use. Its Error is written for the customer:
// it never says whether someone else holds the source.
type Refused struct {
	Source string
	Reason string
}

func (e *Refused) Error() string { return e.Reason }

// Checker applies the rule.
type Checker struct {
	st Store
	// parents caches each account's main account ("" for a main account), all the rule
	// needs of the account: an account's parent never changes, so it is read once (every
	// message's source is checked).
	parents sync.Map
}

// New returns a Checker over st.
func New(st Store) *Checker { return &Checker{st: st} }

// Normalize is the form sources are compared in: no spaces, no leading "+".
func Normalize(src string) string { return strings.TrimPrefix(strings.TrimSpace(src), "+") }

// IsNumber reports whether s is all digits.
func IsNumber(s string) bool { return s != "" && strings.Trim(s, "0123456789") == "" }

// ValidSenderID reports whether s has the form of an alphanumeric sender ID: 1 to 11
// letters and digits, not all digits.
func ValidSenderID(s string) bool {
	if len(s) < 1 || len(s) > 11 || IsNumber(s) {
		return false
	}
	for _, c := range s {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// Check returns nil when accountID may use src for use, a *Refused when it may not, and
// another error when storage failed.
func (c *Checker) Check(ctx context.Context, accountID, src string, use Use) error {
	src = Normalize(src)
	acct, err := c.account(ctx, accountID)
	if err != nil {
		return err
	}
	if IsNumber(src) {
		if ok, err := c.held(ctx, acct, src, c.st.NumberHolders); ok || err != nil {
			return err
		}
		if use == Voice {
			if ok, err := c.held(ctx, acct, src, c.st.VerifiedCallerIDHolders); ok || err != nil {
				return err
			}
			return &Refused{Source: src, Reason: "caller ID " + src + " is neither a number this account rents nor a verified caller ID of it"}
		}
		return &Refused{Source: src, Reason: "src " + src + " is not one of your numbers (rented by this account or its main account) nor an allowed sender ID"}
	}
	if use == Voice {
		return &Refused{Source: src, Reason: "a caller ID must be a phone number (digits)"}
	}
	if !ValidSenderID(src) {
		return &Refused{Source: src, Reason: "src must be a number or a sender ID of 1 to 11 letters and digits"}
	}
	if ok, err := c.held(ctx, acct, src, c.st.SenderIDHolders); ok || err != nil {
		return err
	}
	return &Refused{Source: src, Reason: "sender ID " + src + " is not allowed for this account: the operator allows sender IDs per account"}
}

// account returns the account's id and parent, from the cache after the first read.
func (c *Checker) account(ctx context.Context, id string) (*trunkline.Account, error) {
	if p, ok := c.parents.Load(id); ok {
		return &trunkline.Account{ID: id, ParentID: p.(string)}, nil
	}
	a, err := c.st.Account(ctx, id)
	if err != nil {
		return nil, err
	}
	c.parents.Store(id, a.ParentID)
	return a, nil
}

// held reports whether acct may use what the holders hold: its own, its main account's,
// or (for a main account) its subaccounts'. Sibling subaccounts do not share.
func (c *Checker) held(ctx context.Context, acct *trunkline.Account, src string, holders func(context.Context, string) ([]trunkline.Holder, error)) (bool, error) {
	hs, err := holders(ctx, src)
	if err != nil {
		return false, err
	}
	for _, h := range hs {
		if h.AccountID == acct.ID || (acct.ParentID != "" && h.AccountID == acct.ParentID) || h.ParentID == acct.ID {
			return true, nil
		}
	}
	return false, nil
}
