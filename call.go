package trunkline

import "time"

// Call states: a leg is inserted ringing, becomes in-progress when answered and completed
// when it ends. Only completed calls are call detail records (CDRs).
const (
	CallRinging    = "ringing"
	CallInProgress = "in-progress"
	CallCompleted  = "completed"
)

// Call is one call leg.
type Call struct {
	UUID      string
	AccountID string
	Direction string // inbound | outbound
	// From and To as the voice engine stores them: E.164 digits without "+", or a SIP URI.
	From, To    string
	ParentUUID  string // the A leg, for a B leg
	RequestUUID string // the API request that placed it (outbound)
	State       string
	Trunk       string // the SIP trunk (carrier) it went over
	AppID       string
	InitiatedAt time.Time
	AnsweredAt  *time.Time
	EndedAt     *time.Time
	// Duration and BillDuration are whole seconds.
	Duration, BillDuration int
	HangupCauseCode        int
	HangupCauseName        string
	HangupSource           string
	// HangupReason is ours, in plain words (e.g. "answer_url returned invalid XML"): what
	// a developer needs to see why a call ended, beside Plivo's cause code and name.
	HangupReason string
	// Attempts is the JSON list of the trunks an outbound call tried, in order.
	Attempts string
	// Node holds the call while it is live (the store fills in its own node when
	// empty). HangupURL and HangupMethod are kept so that, if the node dies, another
	// can end the call in the records and still tell the application.
	Node                    string
	HangupURL, HangupMethod string
}

// CallFilter narrows a CDR listing (Plivo's filters). Zero values leave a filter off.
type CallFilter struct {
	Subaccount   string
	Direction    string
	From, To     string // prefixes (Plivo: "the exact number or the prefix")
	ParentUUID   string
	HangupSource string
	// HangupCauseCode, when set, selects that code.
	HangupCauseCode *int
	// BillDurationMin and BillDurationMax are inclusive bounds in seconds (the API turns
	// __gt/__lt into these, durations being whole seconds).
	BillDurationMin, BillDurationMax *int

	EndFrom time.Time // inclusive
	EndTo   time.Time // exclusive
	Limit   int
	Offset  int
}
