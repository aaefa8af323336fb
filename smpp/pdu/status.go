package pdu

import "fmt"

// Status is an SMPP command_status. Names follow the SMPP 3.4
// specification (section 5.1.3) so they can be searched for in carrier
// documentation and logs.
type Status uint32

// SMPP 3.4 command_status values, spelled as in the specification.
const (
	ESME_ROK              Status = 0x00000000 // no error
	ESME_RINVMSGLEN       Status = 0x00000001 // message length is invalid
	ESME_RINVCMDLEN       Status = 0x00000002 // command length is invalid
	ESME_RINVCMDID        Status = 0x00000003 // invalid command id
	ESME_RINVBNDSTS       Status = 0x00000004 // incorrect bind status for given command
	ESME_RALYBND          Status = 0x00000005 // ESME already in bound state
	ESME_RINVPRTFLG       Status = 0x00000006 // invalid priority flag
	ESME_RINVREGDLVFLG    Status = 0x00000007 // invalid registered delivery flag
	ESME_RSYSERR          Status = 0x00000008 // system error
	ESME_RINVSRCADR       Status = 0x0000000A // invalid source address
	ESME_RINVDSTADR       Status = 0x0000000B // invalid destination address
	ESME_RINVMSGID        Status = 0x0000000C // message id is invalid
	ESME_RBINDFAIL        Status = 0x0000000D // bind failed
	ESME_RINVPASWD        Status = 0x0000000E // invalid password
	ESME_RINVSYSID        Status = 0x0000000F // invalid system id
	ESME_RCANCELFAIL      Status = 0x00000011 // cancel_sm failed
	ESME_RREPLACEFAIL     Status = 0x00000013 // replace_sm failed
	ESME_RMSGQFUL         Status = 0x00000014 // message queue full
	ESME_RINVSERTYP       Status = 0x00000015 // invalid service type
	ESME_RINVNUMDESTS     Status = 0x00000033 // invalid number of destinations
	ESME_RINVDLNAME       Status = 0x00000034 // invalid distribution list name
	ESME_RINVDESTFLAG     Status = 0x00000040 // destination flag is invalid (submit_multi)
	ESME_RINVSUBREP       Status = 0x00000042 // invalid "submit with replace" request
	ESME_RINVESMCLASS     Status = 0x00000043 // invalid esm_class field data
	ESME_RCNTSUBDL        Status = 0x00000044 // cannot submit to distribution list
	ESME_RSUBMITFAIL      Status = 0x00000045 // submit_sm or submit_multi failed
	ESME_RINVSRCTON       Status = 0x00000048 // invalid source address TON
	ESME_RINVSRCNPI       Status = 0x00000049 // invalid source address NPI
	ESME_RINVDSTTON       Status = 0x00000050 // invalid destination address TON
	ESME_RINVDSTNPI       Status = 0x00000051 // invalid destination address NPI
	ESME_RINVSYSTYP       Status = 0x00000053 // invalid system_type field
	ESME_RINVREPFLAG      Status = 0x00000054 // invalid replace_if_present flag
	ESME_RINVNUMMSGS      Status = 0x00000055 // invalid number of messages
	ESME_RTHROTTLED       Status = 0x00000058 // throttling error: ESME exceeded allowed message limits
	ESME_RINVSCHED        Status = 0x00000061 // invalid scheduled delivery time
	ESME_RINVEXPIRY       Status = 0x00000062 // invalid message validity period
	ESME_RINVDFTMSGID     Status = 0x00000063 // predefined message invalid or not found
	ESME_RX_T_APPN        Status = 0x00000064 // ESME receiver temporary application error
	ESME_RX_P_APPN        Status = 0x00000065 // ESME receiver permanent application error
	ESME_RX_R_APPN        Status = 0x00000066 // ESME receiver reject message error
	ESME_RQUERYFAIL       Status = 0x00000067 // query_sm failed
	ESME_RINVOPTPARSTREAM Status = 0x000000C0 // error in the optional part of the PDU body
	ESME_ROPTPARNOTALLWD  Status = 0x000000C1 // optional parameter not allowed
	ESME_RINVPARLEN       Status = 0x000000C2 // invalid parameter length
	ESME_RMISSINGOPTPARAM Status = 0x000000C3 // expected optional parameter missing
	ESME_RINVOPTPARAMVAL  Status = 0x000000C4 // invalid optional parameter value
	ESME_RDELIVERYFAILURE Status = 0x000000FE // delivery failure (data_sm_resp)
	ESME_RUNKNOWNERR      Status = 0x000000FF // unknown error
)

var statusNames = map[Status]string{
	ESME_ROK:              "ESME_ROK",
	ESME_RINVMSGLEN:       "ESME_RINVMSGLEN",
	ESME_RINVCMDLEN:       "ESME_RINVCMDLEN",
	ESME_RINVCMDID:        "ESME_RINVCMDID",
	ESME_RINVBNDSTS:       "ESME_RINVBNDSTS",
	ESME_RALYBND:          "ESME_RALYBND",
	ESME_RINVPRTFLG:       "ESME_RINVPRTFLG",
	ESME_RINVREGDLVFLG:    "ESME_RINVREGDLVFLG",
	ESME_RSYSERR:          "ESME_RSYSERR",
	ESME_RINVSRCADR:       "ESME_RINVSRCADR",
	ESME_RINVDSTADR:       "ESME_RINVDSTADR",
	ESME_RINVMSGID:        "ESME_RINVMSGID",
	ESME_RBINDFAIL:        "ESME_RBINDFAIL",
	ESME_RINVPASWD:        "ESME_RINVPASWD",
	ESME_RINVSYSID:        "ESME_RINVSYSID",
	ESME_RCANCELFAIL:      "ESME_RCANCELFAIL",
	ESME_RREPLACEFAIL:     "ESME_RREPLACEFAIL",
	ESME_RMSGQFUL:         "ESME_RMSGQFUL",
	ESME_RINVSERTYP:       "ESME_RINVSERTYP",
	ESME_RINVNUMDESTS:     "ESME_RINVNUMDESTS",
	ESME_RINVDLNAME:       "ESME_RINVDLNAME",
	ESME_RINVDESTFLAG:     "ESME_RINVDESTFLAG",
	ESME_RINVSUBREP:       "ESME_RINVSUBREP",
	ESME_RINVESMCLASS:     "ESME_RINVESMCLASS",
	ESME_RCNTSUBDL:        "ESME_RCNTSUBDL",
	ESME_RSUBMITFAIL:      "ESME_RSUBMITFAIL",
	ESME_RINVSRCTON:       "ESME_RINVSRCTON",
	ESME_RINVSRCNPI:       "ESME_RINVSRCNPI",
	ESME_RINVDSTTON:       "ESME_RINVDSTTON",
	ESME_RINVDSTNPI:       "ESME_RINVDSTNPI",
	ESME_RINVSYSTYP:       "ESME_RINVSYSTYP",
	ESME_RINVREPFLAG:      "ESME_RINVREPFLAG",
	ESME_RINVNUMMSGS:      "ESME_RINVNUMMSGS",
	ESME_RTHROTTLED:       "ESME_RTHROTTLED",
	ESME_RINVSCHED:        "ESME_RINVSCHED",
	ESME_RINVEXPIRY:       "ESME_RINVEXPIRY",
	ESME_RINVDFTMSGID:     "ESME_RINVDFTMSGID",
	ESME_RX_T_APPN:        "ESME_RX_T_APPN",
	ESME_RX_P_APPN:        "ESME_RX_P_APPN",
	ESME_RX_R_APPN:        "ESME_RX_R_APPN",
	ESME_RQUERYFAIL:       "ESME_RQUERYFAIL",
	ESME_RINVOPTPARSTREAM: "ESME_RINVOPTPARSTREAM",
	ESME_ROPTPARNOTALLWD:  "ESME_ROPTPARNOTALLWD",
	ESME_RINVPARLEN:       "ESME_RINVPARLEN",
	ESME_RMISSINGOPTPARAM: "ESME_RMISSINGOPTPARAM",
	ESME_RINVOPTPARAMVAL:  "ESME_RINVOPTPARAMVAL",
	ESME_RDELIVERYFAILURE: "ESME_RDELIVERYFAILURE",
	ESME_RUNKNOWNERR:      "ESME_RUNKNOWNERR",
}

// String returns the specification's name, e.g. "ESME_RTHROTTLED", or the
// hex value for codes the specification reserves or leaves to vendors.
func (s Status) String() string {
	if n, ok := statusNames[s]; ok {
		return n
	}
	return fmt.Sprintf("Status(0x%08X)", uint32(s))
}

// StatusError is a decoding or encoding failure together with the
// command_status that the peer must be answered with. Msg is plain text
// meant for logs; it never contains message content.
type StatusError struct {
	Status Status
	// Header is the header of the offending PDU when it could be read,
	// so a session can answer with the right response and sequence
	// number (see Response). It is zero when the header was unreadable.
	Header Header
	Msg    string
}

func (e *StatusError) Error() string {
	return "smpp: " + e.Msg + " (" + e.Status.String() + ")"
}

func statusErrorf(s Status, format string, args ...any) *StatusError {
	return &StatusError{Status: s, Msg: fmt.Sprintf(format, args...)}
}
