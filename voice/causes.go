package voice

// Cause is why a call ended, in Plivo's terms: the numeric code and name of
// its hangup-causes table, the telephony name callbacks carry as HangupCause,
// and who ended it (HangupSource).
type Cause struct {
	Code      int
	Name      string // hangup_cause_name
	Telephony string // HangupCause in callbacks (Q.850-style name)
	Source    string // hangup_source
}

// Hangup sources (plivo-api.md §5).
const (
	SourceCaller    = "Caller"
	SourceCallee    = "Callee"
	SourcePlatform  = "Plivo" // Plivo's own name; kept for SDK and dashboard compatibility
	SourceCarrier   = "Carrier"
	SourceAPI       = "API Request"
	SourceAnswerXML = "Answer XML"
	SourceError     = "Error"
)

// The causes the voice core produces. Codes 1000–4030 are Plivo's documented
// ones; Plivo's 3xxx and 7xxx rows were not readable when this was written, so
// the error causes below take codes in an unused range (7000s, "application
// errors") and say what happened in Name. CDRs also keep our plain-words
// hangup_reason.
var (
	CauseNormal        = Cause{4000, "Normal Hangup", "NORMAL_CLEARING", ""}
	CauseEndOfXML      = Cause{4010, "End Of XML Instructions", "NORMAL_CLEARING", SourcePlatform}
	CauseRejected      = Cause{3010, "Rejected", "CALL_REJECTED", SourceAnswerXML}
	CauseBusy          = Cause{3000, "Busy Line", "USER_BUSY", SourceAnswerXML}
	CauseCanceled      = Cause{1000, "Canceled", "ORIGINATOR_CANCEL", SourceCaller}
	CauseAnswerFailed  = Cause{7010, "Answer URL Failed", "NORMAL_TEMPORARY_FAILURE", SourceError}
	CauseInvalidXML    = Cause{7011, "Invalid Answer XML", "NORMAL_TEMPORARY_FAILURE", SourceError}
	CauseUnsupported   = Cause{7012, "Unsupported XML Element", "FACILITY_NOT_IMPLEMENTED", SourceError}
	CauseMediaFailure  = Cause{7020, "Media Failure", "MEDIA_TIMEOUT", SourceError}
	CauseNoApplication = Cause{2000, "Invalid Destination Address", "UNALLOCATED_NUMBER", SourcePlatform}
	CauseShutdown      = Cause{7030, "Server Shutdown", "SYSTEM_SHUTDOWN", SourcePlatform}
	CauseNoAnswer      = Cause{3020, "No Answer", "NO_ANSWER", SourcePlatform}
	CauseRoutingError  = Cause{3060, "Routing Error", "NORMAL_TEMPORARY_FAILURE", SourceCarrier}
	CauseTimeLimit     = Cause{7040, "Time Limit Reached", "ALLOTTED_TIMEOUT", SourcePlatform}
	CauseMediaTimeout  = Cause{7050, "Media Timeout", "MEDIA_TIMEOUT", SourceCarrier}
	// CauseCallerIDRefused: a <Dial> leg not placed because its callerId is not one the
	// account may use (package callerid); the CDR's hangup_reason says why.
	CauseCallerIDRefused = Cause{7060, "Caller ID Not Allowed", "CALL_REJECTED", SourcePlatform}
	// CauseNodeLost: the cluster node holding the call died; another node ended it in
	// the records (its media died with the node).
	CauseNodeLost = Cause{7070, "Node Failure", "NETWORK_OUT_OF_ORDER", SourcePlatform}
)

// With returns c with its source set.
func (c Cause) With(source string) Cause { c.Source = source; return c }
