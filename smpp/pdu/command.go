package pdu

import "fmt"

// CommandID is an SMPP command_id.
type CommandID uint32

// SMPP 3.4 command ids (section 5.1.2).
const (
	CmdGenericNack         CommandID = 0x80000000
	CmdBindReceiver        CommandID = 0x00000001
	CmdBindReceiverResp    CommandID = 0x80000001
	CmdBindTransmitter     CommandID = 0x00000002
	CmdBindTransmitterResp CommandID = 0x80000002
	CmdQuerySM             CommandID = 0x00000003
	CmdQuerySMResp         CommandID = 0x80000003
	CmdSubmitSM            CommandID = 0x00000004
	CmdSubmitSMResp        CommandID = 0x80000004
	CmdDeliverSM           CommandID = 0x00000005
	CmdDeliverSMResp       CommandID = 0x80000005
	CmdUnbind              CommandID = 0x00000006
	CmdUnbindResp          CommandID = 0x80000006
	CmdReplaceSM           CommandID = 0x00000007
	CmdReplaceSMResp       CommandID = 0x80000007
	CmdCancelSM            CommandID = 0x00000008
	CmdCancelSMResp        CommandID = 0x80000008
	CmdBindTransceiver     CommandID = 0x00000009
	CmdBindTransceiverResp CommandID = 0x80000009
	CmdOutbind             CommandID = 0x0000000B
	CmdEnquireLink         CommandID = 0x00000015
	CmdEnquireLinkResp     CommandID = 0x80000015
	CmdSubmitMulti         CommandID = 0x00000021
	CmdSubmitMultiResp     CommandID = 0x80000021
	CmdAlertNotification   CommandID = 0x00000102
	CmdDataSM              CommandID = 0x00000103
	CmdDataSMResp          CommandID = 0x80000103
)

// commands lists every command id this package knows, with its name and a
// constructor for an empty PDU of that kind.
var commands = map[CommandID]struct {
	name string
	make func() PDU
}{
	CmdGenericNack:         {"generic_nack", func() PDU { return new(GenericNack) }},
	CmdBindReceiver:        {"bind_receiver", func() PDU { return new(BindReceiver) }},
	CmdBindReceiverResp:    {"bind_receiver_resp", func() PDU { return new(BindReceiverResp) }},
	CmdBindTransmitter:     {"bind_transmitter", func() PDU { return new(BindTransmitter) }},
	CmdBindTransmitterResp: {"bind_transmitter_resp", func() PDU { return new(BindTransmitterResp) }},
	CmdQuerySM:             {"query_sm", func() PDU { return new(QuerySM) }},
	CmdQuerySMResp:         {"query_sm_resp", func() PDU { return new(QuerySMResp) }},
	CmdSubmitSM:            {"submit_sm", func() PDU { return new(SubmitSM) }},
	CmdSubmitSMResp:        {"submit_sm_resp", func() PDU { return new(SubmitSMResp) }},
	CmdDeliverSM:           {"deliver_sm", func() PDU { return new(DeliverSM) }},
	CmdDeliverSMResp:       {"deliver_sm_resp", func() PDU { return new(DeliverSMResp) }},
	CmdUnbind:              {"unbind", func() PDU { return new(Unbind) }},
	CmdUnbindResp:          {"unbind_resp", func() PDU { return new(UnbindResp) }},
	CmdReplaceSM:           {"replace_sm", func() PDU { return new(ReplaceSM) }},
	CmdReplaceSMResp:       {"replace_sm_resp", func() PDU { return new(ReplaceSMResp) }},
	CmdCancelSM:            {"cancel_sm", func() PDU { return new(CancelSM) }},
	CmdCancelSMResp:        {"cancel_sm_resp", func() PDU { return new(CancelSMResp) }},
	CmdBindTransceiver:     {"bind_transceiver", func() PDU { return new(BindTransceiver) }},
	CmdBindTransceiverResp: {"bind_transceiver_resp", func() PDU { return new(BindTransceiverResp) }},
	CmdOutbind:             {"outbind", func() PDU { return new(Outbind) }},
	CmdEnquireLink:         {"enquire_link", func() PDU { return new(EnquireLink) }},
	CmdEnquireLinkResp:     {"enquire_link_resp", func() PDU { return new(EnquireLinkResp) }},
	CmdSubmitMulti:         {"submit_multi", func() PDU { return new(SubmitMulti) }},
	CmdSubmitMultiResp:     {"submit_multi_resp", func() PDU { return new(SubmitMultiResp) }},
	CmdAlertNotification:   {"alert_notification", func() PDU { return new(AlertNotification) }},
	CmdDataSM:              {"data_sm", func() PDU { return new(DataSM) }},
	CmdDataSMResp:          {"data_sm_resp", func() PDU { return new(DataSMResp) }},
}

// String returns the specification's name, e.g. "submit_sm".
func (c CommandID) String() string {
	if cmd, ok := commands[c]; ok {
		return cmd.name
	}
	return fmt.Sprintf("CommandID(0x%08X)", uint32(c))
}

// IsResponse reports whether c is a response (the high bit is set).
func (c CommandID) IsResponse() bool { return c&0x80000000 != 0 }

// Known reports whether c is an SMPP 3.4 command id.
func (c CommandID) Known() bool {
	_, ok := commands[c]
	return ok
}

// New returns an empty PDU of kind c, or nil if c is unknown.
func New(c CommandID) PDU {
	cmd, ok := commands[c]
	if !ok {
		return nil
	}
	return cmd.make()
}

// Response returns the empty response that answers a request with header
// h, carrying status and h's sequence number: a submit_sm_resp for a
// submit_sm and so on, or a generic_nack when h's command has no response
// of its own (an unknown id, a response, outbind or alert_notification).
// Sessions use it to answer a PDU that failed to decode, with the header
// from StatusError.
func Response(h Header, status Status) PDU {
	var p PDU
	if !h.ID.IsResponse() {
		if cmd, ok := commands[h.ID|0x80000000]; ok {
			p = cmd.make()
		}
	}
	if p == nil {
		p = new(GenericNack)
	}
	*p.Header() = Header{ID: p.CommandID(), Status: status, Seq: h.Seq}
	return p
}
