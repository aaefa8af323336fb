package pdu

// Session management PDUs.

// BindTransmitter asks the SMSC for a session in which the ESME submits
// messages.
type BindTransmitter struct {
	Hdr              Header
	SystemID         string
	Password         string
	SystemType       string
	InterfaceVersion uint8 // 0x34 for SMPP 3.4
	AddrTON          uint8
	AddrNPI          uint8
	AddressRange     string
}

// BindReceiver asks for a session in which the SMSC delivers messages
// (and receipts) to the ESME. Same body as BindTransmitter.
type BindReceiver BindTransmitter

// BindTransceiver asks for a session that does both. Same body as
// BindTransmitter.
type BindTransceiver BindTransmitter

// InterfaceVersion34 is the interface_version of SMPP 3.4.
const InterfaceVersion34 = 0x34

func (p *BindTransmitter) encodeBody(e *encoder) {
	e.cstring(p.SystemID, fSystemID)
	e.cstring(p.Password, fPassword)
	e.cstring(p.SystemType, fSystemType)
	e.u8(p.InterfaceVersion)
	e.u8(p.AddrTON)
	e.u8(p.AddrNPI)
	e.cstring(p.AddressRange, fAddressRange)
}

func (p *BindTransmitter) decodeBody(d *decoder) {
	p.SystemID = d.cstring(fSystemID)
	p.Password = d.cstring(fPassword)
	p.SystemType = d.cstring(fSystemType)
	p.InterfaceVersion = d.u8("interface_version")
	p.AddrTON = d.u8("addr_ton")
	p.AddrNPI = d.u8("addr_npi")
	p.AddressRange = d.cstring(fAddressRange)
}

func (p *BindReceiver) encodeBody(e *encoder)    { (*BindTransmitter)(p).encodeBody(e) }
func (p *BindReceiver) decodeBody(d *decoder)    { (*BindTransmitter)(p).decodeBody(d) }
func (p *BindTransceiver) encodeBody(e *encoder) { (*BindTransmitter)(p).encodeBody(e) }
func (p *BindTransceiver) decodeBody(d *decoder) { (*BindTransmitter)(p).decodeBody(d) }

// BindTransmitterResp answers BindTransmitter. TLVs may hold
// sc_interface_version.
type BindTransmitterResp struct {
	Hdr      Header
	SystemID string
	TLVs     TLVs
}

// BindReceiverResp answers BindReceiver. Same body as BindTransmitterResp.
type BindReceiverResp BindTransmitterResp

// BindTransceiverResp answers BindTransceiver. Same body as
// BindTransmitterResp.
type BindTransceiverResp BindTransmitterResp

func (p *BindTransmitterResp) encodeBody(e *encoder) {
	e.cstring(p.SystemID, fSystemID)
	e.tlvs(p.TLVs)
}

func (p *BindTransmitterResp) decodeBody(d *decoder) {
	p.SystemID = d.cstring(fSystemID)
	p.TLVs = d.tlvs()
}

func (p *BindReceiverResp) encodeBody(e *encoder)    { (*BindTransmitterResp)(p).encodeBody(e) }
func (p *BindReceiverResp) decodeBody(d *decoder)    { (*BindTransmitterResp)(p).decodeBody(d) }
func (p *BindTransceiverResp) encodeBody(e *encoder) { (*BindTransmitterResp)(p).encodeBody(e) }
func (p *BindTransceiverResp) decodeBody(d *decoder) { (*BindTransmitterResp)(p).decodeBody(d) }

// Outbind asks an ESME to bind_receiver back to the SMSC.
type Outbind struct {
	Hdr      Header
	SystemID string
	Password string
}

func (p *Outbind) encodeBody(e *encoder) {
	e.cstring(p.SystemID, fSystemID)
	e.cstring(p.Password, fPassword)
}

func (p *Outbind) decodeBody(d *decoder) {
	p.SystemID = d.cstring(fSystemID)
	p.Password = d.cstring(fPassword)
}

// Header-only PDUs.

// Unbind ends a session.
type Unbind struct{ Hdr Header }

// UnbindResp answers Unbind.
type UnbindResp struct{ Hdr Header }

// GenericNack answers a PDU that could not be decoded or has no response
// of its own.
type GenericNack struct{ Hdr Header }

// EnquireLink checks that the peer is alive.
type EnquireLink struct{ Hdr Header }

// EnquireLinkResp answers EnquireLink.
type EnquireLinkResp struct{ Hdr Header }

// CancelSMResp answers CancelSM.
type CancelSMResp struct{ Hdr Header }

// ReplaceSMResp answers ReplaceSM.
type ReplaceSMResp struct{ Hdr Header }

func (*Unbind) encodeBody(*encoder)          {}
func (*Unbind) decodeBody(*decoder)          {}
func (*UnbindResp) encodeBody(*encoder)      {}
func (*UnbindResp) decodeBody(*decoder)      {}
func (*GenericNack) encodeBody(*encoder)     {}
func (*GenericNack) decodeBody(*decoder)     {}
func (*EnquireLink) encodeBody(*encoder)     {}
func (*EnquireLink) decodeBody(*decoder)     {}
func (*EnquireLinkResp) encodeBody(*encoder) {}
func (*EnquireLinkResp) decodeBody(*decoder) {}
func (*CancelSMResp) encodeBody(*encoder)    {}
func (*CancelSMResp) decodeBody(*decoder)    {}
func (*ReplaceSMResp) encodeBody(*encoder)   {}
func (*ReplaceSMResp) decodeBody(*decoder)   {}

// Message submission and delivery.

// Bits of esm_class and registered_delivery that Trunkline uses.
const (
	// ESMClassReceipt in a deliver_sm's esm_class marks an SMSC delivery
	// receipt (message type bits 2-5 equal to 0001).
	ESMClassReceipt = 0x04
	// ESMClassTypeMask selects the message type bits of esm_class.
	ESMClassTypeMask = 0x3C
	// ESMClassUDHI says short_message (or message_payload) starts with a
	// user data header, as concatenated messages do.
	ESMClassUDHI = 0x40
	// RegisteredDeliveryReceipt asks for a receipt on final success or
	// failure.
	RegisteredDeliveryReceipt = 0x01
	// RegisteredDeliveryFailure asks for a receipt on failure only.
	RegisteredDeliveryFailure = 0x02
)

// data_coding values Trunkline sends; see package charset.
const (
	DataCodingDefault = 0x00 // SMSC default alphabet, in practice GSM 03.38
	DataCodingLatin1  = 0x03 // ISO-8859-1
	DataCodingBinary  = 0x04 // 8-bit binary
	DataCodingUCS2    = 0x08 // UCS-2, sent as UTF-16BE
)

// SubmitSM submits one short message.
type SubmitSM struct {
	Hdr                  Header
	ServiceType          string
	SourceAddrTON        uint8
	SourceAddrNPI        uint8
	SourceAddr           string
	DestAddrTON          uint8
	DestAddrNPI          uint8
	DestinationAddr      string
	ESMClass             uint8
	ProtocolID           uint8
	PriorityFlag         uint8
	ScheduleDeliveryTime string // SMPP time format; see ParseTime
	ValidityPeriod       string // SMPP time format; see ParseTime
	RegisteredDelivery   uint8
	ReplaceIfPresent     uint8
	DataCoding           uint8
	SMDefaultMsgID       uint8
	ShortMessage         []byte // at most 254 octets; longer text goes in TLVs as message_payload
	TLVs                 TLVs
}

// DeliverSM delivers a message or a delivery receipt to the ESME. It has
// the body of SubmitSM; ServiceType, ScheduleDeliveryTime, ValidityPeriod,
// ReplaceIfPresent and SMDefaultMsgID are unused and normally empty.
type DeliverSM SubmitSM

func (p *SubmitSM) encodeBody(e *encoder) {
	e.cstring(p.ServiceType, fServiceType)
	e.u8(p.SourceAddrTON)
	e.u8(p.SourceAddrNPI)
	e.cstring(p.SourceAddr, fSourceAddr)
	e.u8(p.DestAddrTON)
	e.u8(p.DestAddrNPI)
	e.cstring(p.DestinationAddr, fDestAddr)
	e.u8(p.ESMClass)
	e.u8(p.ProtocolID)
	e.u8(p.PriorityFlag)
	e.cstring(p.ScheduleDeliveryTime, fSchedule)
	e.cstring(p.ValidityPeriod, fValidity)
	e.u8(p.RegisteredDelivery)
	e.u8(p.ReplaceIfPresent)
	e.u8(p.DataCoding)
	e.u8(p.SMDefaultMsgID)
	e.shortMessage(p.ShortMessage)
	e.tlvs(p.TLVs)
}

func (p *SubmitSM) decodeBody(d *decoder) {
	p.ServiceType = d.cstring(fServiceType)
	p.SourceAddrTON = d.u8("source_addr_ton")
	p.SourceAddrNPI = d.u8("source_addr_npi")
	p.SourceAddr = d.cstring(fSourceAddr)
	p.DestAddrTON = d.u8("dest_addr_ton")
	p.DestAddrNPI = d.u8("dest_addr_npi")
	p.DestinationAddr = d.cstring(fDestAddr)
	p.ESMClass = d.u8("esm_class")
	p.ProtocolID = d.u8("protocol_id")
	p.PriorityFlag = d.u8("priority_flag")
	p.ScheduleDeliveryTime = d.cstring(fSchedule)
	p.ValidityPeriod = d.cstring(fValidity)
	p.RegisteredDelivery = d.u8("registered_delivery")
	p.ReplaceIfPresent = d.u8("replace_if_present_flag")
	p.DataCoding = d.u8("data_coding")
	p.SMDefaultMsgID = d.u8("sm_default_msg_id")
	p.ShortMessage = d.shortMessage()
	p.TLVs = d.tlvs()
}

func (p *DeliverSM) encodeBody(e *encoder) { (*SubmitSM)(p).encodeBody(e) }
func (p *DeliverSM) decodeBody(d *decoder) { (*SubmitSM)(p).decodeBody(d) }

// Message returns the user data: ShortMessage, or the message_payload TLV
// when ShortMessage is empty.
func (p *SubmitSM) Message() []byte {
	if len(p.ShortMessage) == 0 {
		if v, ok := p.TLVs.MessagePayload(); ok {
			return v
		}
	}
	return p.ShortMessage
}

// Message returns the user data: ShortMessage, or the message_payload TLV
// when ShortMessage is empty.
func (p *DeliverSM) Message() []byte { return (*SubmitSM)(p).Message() }

// IsReceipt reports whether the esm_class marks a delivery receipt.
func (p *DeliverSM) IsReceipt() bool { return p.ESMClass&ESMClassTypeMask == ESMClassReceipt }

// SubmitSMResp answers SubmitSM with the SMSC's id for the message.
// SMPP 3.4 defines no TLVs here; SMPP 5.0 SMSCs add some, so they are kept.
type SubmitSMResp struct {
	Hdr       Header
	MessageID string
	TLVs      TLVs
}

// DeliverSMResp answers DeliverSM. MessageID is unused and normally empty.
type DeliverSMResp SubmitSMResp

func (p *SubmitSMResp) encodeBody(e *encoder) {
	e.cstring(p.MessageID, fMessageID)
	e.tlvs(p.TLVs)
}

func (p *SubmitSMResp) decodeBody(d *decoder) {
	p.MessageID = d.cstring(fMessageID)
	p.TLVs = d.tlvs()
}

func (p *DeliverSMResp) encodeBody(e *encoder) { (*SubmitSMResp)(p).encodeBody(e) }
func (p *DeliverSMResp) decodeBody(d *decoder) { (*SubmitSMResp)(p).decodeBody(d) }

// Dest is one destination of SubmitMulti: an SME address, or the name of
// a distribution list kept at the SMSC.
type Dest struct {
	List bool // Addr is a distribution list name (dest_flag 2); TON and NPI are unused
	TON  uint8
	NPI  uint8
	Addr string
}

// SubmitMulti submits one message to up to 254 destinations.
type SubmitMulti struct {
	Hdr                  Header
	ServiceType          string
	SourceAddrTON        uint8
	SourceAddrNPI        uint8
	SourceAddr           string
	Dests                []Dest
	ESMClass             uint8
	ProtocolID           uint8
	PriorityFlag         uint8
	ScheduleDeliveryTime string
	ValidityPeriod       string
	RegisteredDelivery   uint8
	ReplaceIfPresent     uint8
	DataCoding           uint8
	SMDefaultMsgID       uint8
	ShortMessage         []byte
	TLVs                 TLVs
}

// maxDests is number_of_dests' limit in SMPP 3.4.
const maxDests = 254

const (
	destFlagSME  = 1
	destFlagList = 2
)

func (p *SubmitMulti) encodeBody(e *encoder) {
	e.cstring(p.ServiceType, fServiceType)
	e.u8(p.SourceAddrTON)
	e.u8(p.SourceAddrNPI)
	e.cstring(p.SourceAddr, fSourceAddr)
	if len(p.Dests) == 0 || len(p.Dests) > maxDests {
		e.fail(ESME_RINVNUMDESTS, "submit_multi needs 1 to %d destinations, has %d", maxDests, len(p.Dests))
		return
	}
	e.u8(uint8(len(p.Dests)))
	for _, dst := range p.Dests {
		if dst.List {
			e.u8(destFlagList)
			e.cstring(dst.Addr, fDLName)
			continue
		}
		e.u8(destFlagSME)
		e.u8(dst.TON)
		e.u8(dst.NPI)
		e.cstring(dst.Addr, fDestAddr)
	}
	e.u8(p.ESMClass)
	e.u8(p.ProtocolID)
	e.u8(p.PriorityFlag)
	e.cstring(p.ScheduleDeliveryTime, fSchedule)
	e.cstring(p.ValidityPeriod, fValidity)
	e.u8(p.RegisteredDelivery)
	e.u8(p.ReplaceIfPresent)
	e.u8(p.DataCoding)
	e.u8(p.SMDefaultMsgID)
	e.shortMessage(p.ShortMessage)
	e.tlvs(p.TLVs)
}

func (p *SubmitMulti) decodeBody(d *decoder) {
	p.ServiceType = d.cstring(fServiceType)
	p.SourceAddrTON = d.u8("source_addr_ton")
	p.SourceAddrNPI = d.u8("source_addr_npi")
	p.SourceAddr = d.cstring(fSourceAddr)
	n := int(d.u8("number_of_dests"))
	if d.err == nil && (n == 0 || n > maxDests) {
		d.fail(ESME_RINVNUMDESTS, "number_of_dests %d not in 1..%d", n, maxDests)
	}
	for i := 0; i < n && d.err == nil; i++ {
		switch flag := d.u8("dest_flag"); flag {
		case destFlagSME:
			var dst Dest
			dst.TON = d.u8("dest_addr_ton")
			dst.NPI = d.u8("dest_addr_npi")
			dst.Addr = d.cstring(fDestAddr)
			p.Dests = append(p.Dests, dst)
		case destFlagList:
			p.Dests = append(p.Dests, Dest{List: true, Addr: d.cstring(fDLName)})
		default:
			d.fail(ESME_RINVDESTFLAG, "dest_flag %d", flag)
		}
	}
	p.ESMClass = d.u8("esm_class")
	p.ProtocolID = d.u8("protocol_id")
	p.PriorityFlag = d.u8("priority_flag")
	p.ScheduleDeliveryTime = d.cstring(fSchedule)
	p.ValidityPeriod = d.cstring(fValidity)
	p.RegisteredDelivery = d.u8("registered_delivery")
	p.ReplaceIfPresent = d.u8("replace_if_present_flag")
	p.DataCoding = d.u8("data_coding")
	p.SMDefaultMsgID = d.u8("sm_default_msg_id")
	p.ShortMessage = d.shortMessage()
	p.TLVs = d.tlvs()
}

// UnsuccessSME is a destination of SubmitMulti that the SMSC refused.
type UnsuccessSME struct {
	TON    uint8
	NPI    uint8
	Addr   string
	Status Status
}

// SubmitMultiResp answers SubmitMulti.
type SubmitMultiResp struct {
	Hdr       Header
	MessageID string
	Unsuccess []UnsuccessSME
}

func (p *SubmitMultiResp) encodeBody(e *encoder) {
	e.cstring(p.MessageID, fMessageID)
	if len(p.Unsuccess) > maxDests {
		e.fail(ESME_RINVNUMDESTS, "no_unsuccess %d exceeds %d", len(p.Unsuccess), maxDests)
		return
	}
	e.u8(uint8(len(p.Unsuccess)))
	for _, u := range p.Unsuccess {
		e.u8(u.TON)
		e.u8(u.NPI)
		e.cstring(u.Addr, fDestAddr)
		e.u32(uint32(u.Status))
	}
}

func (p *SubmitMultiResp) decodeBody(d *decoder) {
	p.MessageID = d.cstring(fMessageID)
	n := int(d.u8("no_unsuccess"))
	if d.err == nil && n > maxDests {
		d.fail(ESME_RINVNUMDESTS, "no_unsuccess %d exceeds %d", n, maxDests)
	}
	for i := 0; i < n && d.err == nil; i++ {
		var u UnsuccessSME
		u.TON = d.u8("dest_addr_ton")
		u.NPI = d.u8("dest_addr_npi")
		u.Addr = d.cstring(fDestAddr)
		u.Status = Status(d.u32("error_status_code"))
		p.Unsuccess = append(p.Unsuccess, u)
	}
}

// DataSM carries a message in TLVs (message_payload), either way.
type DataSM struct {
	Hdr                Header
	ServiceType        string
	SourceAddrTON      uint8
	SourceAddrNPI      uint8
	SourceAddr         string
	DestAddrTON        uint8
	DestAddrNPI        uint8
	DestinationAddr    string
	ESMClass           uint8
	RegisteredDelivery uint8
	DataCoding         uint8
	TLVs               TLVs
}

func (p *DataSM) encodeBody(e *encoder) {
	e.cstring(p.ServiceType, fServiceType)
	e.u8(p.SourceAddrTON)
	e.u8(p.SourceAddrNPI)
	e.cstring(p.SourceAddr, fSourceAddr65)
	e.u8(p.DestAddrTON)
	e.u8(p.DestAddrNPI)
	e.cstring(p.DestinationAddr, fDestAddr65)
	e.u8(p.ESMClass)
	e.u8(p.RegisteredDelivery)
	e.u8(p.DataCoding)
	e.tlvs(p.TLVs)
}

func (p *DataSM) decodeBody(d *decoder) {
	p.ServiceType = d.cstring(fServiceType)
	p.SourceAddrTON = d.u8("source_addr_ton")
	p.SourceAddrNPI = d.u8("source_addr_npi")
	p.SourceAddr = d.cstring(fSourceAddr65)
	p.DestAddrTON = d.u8("dest_addr_ton")
	p.DestAddrNPI = d.u8("dest_addr_npi")
	p.DestinationAddr = d.cstring(fDestAddr65)
	p.ESMClass = d.u8("esm_class")
	p.RegisteredDelivery = d.u8("registered_delivery")
	p.DataCoding = d.u8("data_coding")
	p.TLVs = d.tlvs()
}

// DataSMResp answers DataSM.
type DataSMResp struct {
	Hdr       Header
	MessageID string
	TLVs      TLVs
}

func (p *DataSMResp) encodeBody(e *encoder) {
	e.cstring(p.MessageID, fMessageID)
	e.tlvs(p.TLVs)
}

func (p *DataSMResp) decodeBody(d *decoder) {
	p.MessageID = d.cstring(fMessageID)
	p.TLVs = d.tlvs()
}

// Message management.

// QuerySM asks for the state of a submitted message.
type QuerySM struct {
	Hdr           Header
	MessageID     string
	SourceAddrTON uint8
	SourceAddrNPI uint8
	SourceAddr    string
}

func (p *QuerySM) encodeBody(e *encoder) {
	e.cstring(p.MessageID, fMessageID)
	e.u8(p.SourceAddrTON)
	e.u8(p.SourceAddrNPI)
	e.cstring(p.SourceAddr, fSourceAddr)
}

func (p *QuerySM) decodeBody(d *decoder) {
	p.MessageID = d.cstring(fMessageID)
	p.SourceAddrTON = d.u8("source_addr_ton")
	p.SourceAddrNPI = d.u8("source_addr_npi")
	p.SourceAddr = d.cstring(fSourceAddr)
}

// QuerySMResp answers QuerySM.
type QuerySMResp struct {
	Hdr          Header
	MessageID    string
	FinalDate    string
	MessageState MessageState
	ErrorCode    uint8
}

func (p *QuerySMResp) encodeBody(e *encoder) {
	e.cstring(p.MessageID, fMessageID)
	e.cstring(p.FinalDate, fFinalDate)
	e.u8(uint8(p.MessageState))
	e.u8(p.ErrorCode)
}

func (p *QuerySMResp) decodeBody(d *decoder) {
	p.MessageID = d.cstring(fMessageID)
	p.FinalDate = d.cstring(fFinalDate)
	p.MessageState = MessageState(d.u8("message_state"))
	p.ErrorCode = d.u8("error_code")
}

// CancelSM cancels one pending message, or all pending messages from
// SourceAddr to DestinationAddr when MessageID is empty.
type CancelSM struct {
	Hdr             Header
	ServiceType     string
	MessageID       string
	SourceAddrTON   uint8
	SourceAddrNPI   uint8
	SourceAddr      string
	DestAddrTON     uint8
	DestAddrNPI     uint8
	DestinationAddr string
}

func (p *CancelSM) encodeBody(e *encoder) {
	e.cstring(p.ServiceType, fServiceType)
	e.cstring(p.MessageID, fMessageID)
	e.u8(p.SourceAddrTON)
	e.u8(p.SourceAddrNPI)
	e.cstring(p.SourceAddr, fSourceAddr)
	e.u8(p.DestAddrTON)
	e.u8(p.DestAddrNPI)
	e.cstring(p.DestinationAddr, fDestAddr)
}

func (p *CancelSM) decodeBody(d *decoder) {
	p.ServiceType = d.cstring(fServiceType)
	p.MessageID = d.cstring(fMessageID)
	p.SourceAddrTON = d.u8("source_addr_ton")
	p.SourceAddrNPI = d.u8("source_addr_npi")
	p.SourceAddr = d.cstring(fSourceAddr)
	p.DestAddrTON = d.u8("dest_addr_ton")
	p.DestAddrNPI = d.u8("dest_addr_npi")
	p.DestinationAddr = d.cstring(fDestAddr)
}

// ReplaceSM replaces the text of a pending message.
type ReplaceSM struct {
	Hdr                  Header
	MessageID            string
	SourceAddrTON        uint8
	SourceAddrNPI        uint8
	SourceAddr           string
	ScheduleDeliveryTime string
	ValidityPeriod       string
	RegisteredDelivery   uint8
	SMDefaultMsgID       uint8
	ShortMessage         []byte
}

func (p *ReplaceSM) encodeBody(e *encoder) {
	e.cstring(p.MessageID, fMessageID)
	e.u8(p.SourceAddrTON)
	e.u8(p.SourceAddrNPI)
	e.cstring(p.SourceAddr, fSourceAddr)
	e.cstring(p.ScheduleDeliveryTime, fSchedule)
	e.cstring(p.ValidityPeriod, fValidity)
	e.u8(p.RegisteredDelivery)
	e.u8(p.SMDefaultMsgID)
	e.shortMessage(p.ShortMessage)
}

func (p *ReplaceSM) decodeBody(d *decoder) {
	p.MessageID = d.cstring(fMessageID)
	p.SourceAddrTON = d.u8("source_addr_ton")
	p.SourceAddrNPI = d.u8("source_addr_npi")
	p.SourceAddr = d.cstring(fSourceAddr)
	p.ScheduleDeliveryTime = d.cstring(fSchedule)
	p.ValidityPeriod = d.cstring(fValidity)
	p.RegisteredDelivery = d.u8("registered_delivery")
	p.SMDefaultMsgID = d.u8("sm_default_msg_id")
	p.ShortMessage = d.shortMessage()
}

// AlertNotification tells the ESME that a mobile has become available.
// TLVs may hold ms_availability_status.
type AlertNotification struct {
	Hdr           Header
	SourceAddrTON uint8
	SourceAddrNPI uint8
	SourceAddr    string
	ESMEAddrTON   uint8
	ESMEAddrNPI   uint8
	ESMEAddr      string
	TLVs          TLVs
}

func (p *AlertNotification) encodeBody(e *encoder) {
	e.u8(p.SourceAddrTON)
	e.u8(p.SourceAddrNPI)
	e.cstring(p.SourceAddr, fSourceAddr65)
	e.u8(p.ESMEAddrTON)
	e.u8(p.ESMEAddrNPI)
	e.cstring(p.ESMEAddr, fESMEAddr)
	e.tlvs(p.TLVs)
}

func (p *AlertNotification) decodeBody(d *decoder) {
	p.SourceAddrTON = d.u8("source_addr_ton")
	p.SourceAddrNPI = d.u8("source_addr_npi")
	p.SourceAddr = d.cstring(fSourceAddr65)
	p.ESMEAddrTON = d.u8("esme_addr_ton")
	p.ESMEAddrNPI = d.u8("esme_addr_npi")
	p.ESMEAddr = d.cstring(fESMEAddr)
	p.TLVs = d.tlvs()
}
