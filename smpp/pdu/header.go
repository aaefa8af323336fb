package pdu

// CommandID and Header of every PDU type, in command_id order.

// CommandID returns CmdGenericNack.
func (*GenericNack) CommandID() CommandID { return CmdGenericNack }

// Header returns &p.Hdr.
func (p *GenericNack) Header() *Header { return &p.Hdr }

// CommandID returns CmdBindReceiver.
func (*BindReceiver) CommandID() CommandID { return CmdBindReceiver }

// Header returns &p.Hdr.
func (p *BindReceiver) Header() *Header { return &p.Hdr }

// CommandID returns CmdBindReceiverResp.
func (*BindReceiverResp) CommandID() CommandID { return CmdBindReceiverResp }

// Header returns &p.Hdr.
func (p *BindReceiverResp) Header() *Header { return &p.Hdr }

// CommandID returns CmdBindTransmitter.
func (*BindTransmitter) CommandID() CommandID { return CmdBindTransmitter }

// Header returns &p.Hdr.
func (p *BindTransmitter) Header() *Header { return &p.Hdr }

// CommandID returns CmdBindTransmitterResp.
func (*BindTransmitterResp) CommandID() CommandID { return CmdBindTransmitterResp }

// Header returns &p.Hdr.
func (p *BindTransmitterResp) Header() *Header { return &p.Hdr }

// CommandID returns CmdQuerySM.
func (*QuerySM) CommandID() CommandID { return CmdQuerySM }

// Header returns &p.Hdr.
func (p *QuerySM) Header() *Header { return &p.Hdr }

// CommandID returns CmdQuerySMResp.
func (*QuerySMResp) CommandID() CommandID { return CmdQuerySMResp }

// Header returns &p.Hdr.
func (p *QuerySMResp) Header() *Header { return &p.Hdr }

// CommandID returns CmdSubmitSM.
func (*SubmitSM) CommandID() CommandID { return CmdSubmitSM }

// Header returns &p.Hdr.
func (p *SubmitSM) Header() *Header { return &p.Hdr }

// CommandID returns CmdSubmitSMResp.
func (*SubmitSMResp) CommandID() CommandID { return CmdSubmitSMResp }

// Header returns &p.Hdr.
func (p *SubmitSMResp) Header() *Header { return &p.Hdr }

// CommandID returns CmdDeliverSM.
func (*DeliverSM) CommandID() CommandID { return CmdDeliverSM }

// Header returns &p.Hdr.
func (p *DeliverSM) Header() *Header { return &p.Hdr }

// CommandID returns CmdDeliverSMResp.
func (*DeliverSMResp) CommandID() CommandID { return CmdDeliverSMResp }

// Header returns &p.Hdr.
func (p *DeliverSMResp) Header() *Header { return &p.Hdr }

// CommandID returns CmdUnbind.
func (*Unbind) CommandID() CommandID { return CmdUnbind }

// Header returns &p.Hdr.
func (p *Unbind) Header() *Header { return &p.Hdr }

// CommandID returns CmdUnbindResp.
func (*UnbindResp) CommandID() CommandID { return CmdUnbindResp }

// Header returns &p.Hdr.
func (p *UnbindResp) Header() *Header { return &p.Hdr }

// CommandID returns CmdReplaceSM.
func (*ReplaceSM) CommandID() CommandID { return CmdReplaceSM }

// Header returns &p.Hdr.
func (p *ReplaceSM) Header() *Header { return &p.Hdr }

// CommandID returns CmdReplaceSMResp.
func (*ReplaceSMResp) CommandID() CommandID { return CmdReplaceSMResp }

// Header returns &p.Hdr.
func (p *ReplaceSMResp) Header() *Header { return &p.Hdr }

// CommandID returns CmdCancelSM.
func (*CancelSM) CommandID() CommandID { return CmdCancelSM }

// Header returns &p.Hdr.
func (p *CancelSM) Header() *Header { return &p.Hdr }

// CommandID returns CmdCancelSMResp.
func (*CancelSMResp) CommandID() CommandID { return CmdCancelSMResp }

// Header returns &p.Hdr.
func (p *CancelSMResp) Header() *Header { return &p.Hdr }

// CommandID returns CmdBindTransceiver.
func (*BindTransceiver) CommandID() CommandID { return CmdBindTransceiver }

// Header returns &p.Hdr.
func (p *BindTransceiver) Header() *Header { return &p.Hdr }

// CommandID returns CmdBindTransceiverResp.
func (*BindTransceiverResp) CommandID() CommandID { return CmdBindTransceiverResp }

// Header returns &p.Hdr.
func (p *BindTransceiverResp) Header() *Header { return &p.Hdr }

// CommandID returns CmdOutbind.
func (*Outbind) CommandID() CommandID { return CmdOutbind }

// Header returns &p.Hdr.
func (p *Outbind) Header() *Header { return &p.Hdr }

// CommandID returns CmdEnquireLink.
func (*EnquireLink) CommandID() CommandID { return CmdEnquireLink }

// Header returns &p.Hdr.
func (p *EnquireLink) Header() *Header { return &p.Hdr }

// CommandID returns CmdEnquireLinkResp.
func (*EnquireLinkResp) CommandID() CommandID { return CmdEnquireLinkResp }

// Header returns &p.Hdr.
func (p *EnquireLinkResp) Header() *Header { return &p.Hdr }

// CommandID returns CmdSubmitMulti.
func (*SubmitMulti) CommandID() CommandID { return CmdSubmitMulti }

// Header returns &p.Hdr.
func (p *SubmitMulti) Header() *Header { return &p.Hdr }

// CommandID returns CmdSubmitMultiResp.
func (*SubmitMultiResp) CommandID() CommandID { return CmdSubmitMultiResp }

// Header returns &p.Hdr.
func (p *SubmitMultiResp) Header() *Header { return &p.Hdr }

// CommandID returns CmdAlertNotification.
func (*AlertNotification) CommandID() CommandID { return CmdAlertNotification }

// Header returns &p.Hdr.
func (p *AlertNotification) Header() *Header { return &p.Hdr }

// CommandID returns CmdDataSM.
func (*DataSM) CommandID() CommandID { return CmdDataSM }

// Header returns &p.Hdr.
func (p *DataSM) Header() *Header { return &p.Hdr }

// CommandID returns CmdDataSMResp.
func (*DataSMResp) CommandID() CommandID { return CmdDataSMResp }

// Header returns &p.Hdr.
func (p *DataSMResp) Header() *Header { return &p.Hdr }
