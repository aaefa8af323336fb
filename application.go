package trunkline

import "time"

// Scope says whose records a caller may see: a main account sees its own and its
// subaccounts'; a subaccount sees only its own. Every query on customer records takes
// one, so tenant isolation is enforced in SQL and not left to handlers.
type Scope struct {
	AccountID   string
	IncludeSubs bool
}

// ScopeOf is the scope of an authenticated account.
func ScopeOf(a *Account) Scope { return Scope{AccountID: a.ID, IncludeSubs: !a.IsSub()} }

// Application is a set of URLs that drive calls and messages.
type Application struct {
	ID                  string
	AccountID           string
	Name                string
	AnswerURL           string
	AnswerMethod        string
	HangupURL           string
	HangupMethod        string
	FallbackAnswerURL   string
	FallbackMethod      string
	MessageURL          string
	MessageMethod       string
	DefaultNumberApp    bool
	DefaultEndpointApp  bool
	LogIncomingMessages bool
	PublicURI           bool
	Enabled             bool
	CreatedAt           time.Time
	ModifiedAt          time.Time
}

// ApplicationFilter narrows a listing.
type ApplicationFilter struct {
	Subaccount string // only this subaccount's applications (main accounts)
	Limit      int
	Offset     int
}
