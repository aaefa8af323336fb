package pdu

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// frame builds a PDU with a correct command_length around body.
func frame(id CommandID, status Status, seq uint32, body ...[]byte) []byte {
	b := make([]byte, HeaderLen)
	for _, part := range body {
		b = append(b, part...)
	}
	binary.BigEndian.PutUint32(b[0:], uint32(len(b)))
	binary.BigEndian.PutUint32(b[4:], uint32(id))
	binary.BigEndian.PutUint32(b[8:], uint32(status))
	binary.BigEndian.PutUint32(b[12:], seq)
	return b
}

// cs is a C-Octet string.
func cs(s string) []byte { return append([]byte(s), 0) }

// submitBody is a submit_sm body with the given addresses, up to and
// excluding sm_length.
func submitBody(service, src, dst, sched, validity string) []byte {
	var b []byte
	b = append(b, cs(service)...)
	b = append(b, 1, 1)
	b = append(b, cs(src)...)
	b = append(b, 1, 1)
	b = append(b, cs(dst)...)
	b = append(b, 0, 0, 0)
	b = append(b, cs(sched)...)
	b = append(b, cs(validity)...)
	b = append(b, 1, 0, 0, 0)
	return b
}

func okSubmit() []byte { return submitBody("", "14155550199", "14155550100", "", "") }

func tlv(tag Tag, value ...byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(tag))
	b = binary.BigEndian.AppendUint16(b, uint16(len(value)))
	return append(b, value...)
}

func bindBody(systemID, password, systemType, addressRange string) []byte {
	var b []byte
	b = append(b, cs(systemID)...)
	b = append(b, cs(password)...)
	b = append(b, cs(systemType)...)
	b = append(b, 0x34, 0, 0)
	return append(b, cs(addressRange)...)
}

func TestUnmarshalRejects(t *testing.T) {
	long := func(n int) string { return strings.Repeat("9", n) }
	tests := []struct {
		name string
		in   []byte
		want Status
	}{
		{"shorter than a header", []byte{0, 0, 0, 10, 0, 0, 0, 0x15, 0, 0}, ESME_RINVCMDLEN},
		{"length says more than given", func() []byte {
			b := frame(CmdEnquireLink, 0, 1)
			b[3] = 20
			return b
		}(), ESME_RINVCMDLEN},
		{"length says less than given", func() []byte {
			b := frame(CmdEnquireLink, 0, 1, []byte{0})
			b[3] = 16
			return b
		}(), ESME_RINVCMDLEN},
		{"unknown command id", frame(0x00000099, 0, 7), ESME_RINVCMDID},
		{"unknown response id", frame(0x80000099, 0, 7), ESME_RINVCMDID},
		{"enquire_link with a body", frame(CmdEnquireLink, 0, 1, []byte{0}), ESME_RINVCMDLEN},
		{"bind system_id of 16 characters", frame(CmdBindTransmitter, 0, 1, bindBody(long(16), "pw", "", "")), ESME_RINVSYSID},
		{"bind password of 9 characters", frame(CmdBindTransceiver, 0, 1, bindBody("sys", long(9), "", "")), ESME_RINVPASWD},
		{"bind system_type of 13 characters", frame(CmdBindReceiver, 0, 1, bindBody("sys", "pw", long(13), "")), ESME_RINVSYSTYP},
		{"bind ends inside system_type", frame(CmdBindTransmitter, 0, 1, cs("sys"), cs("pw"), []byte("SM")), ESME_RINVCMDLEN},
		{"bind ends before addr_ton", frame(CmdBindTransmitter, 0, 1, cs("sys"), cs("pw"), cs(""), []byte{0x34}), ESME_RINVCMDLEN},
		{"bind address_range not terminated", frame(CmdBindTransmitter, 0, 1, bindBody("sys", "pw", "", "^1")[:13]), ESME_RINVCMDLEN},
		{"submit_sm service_type too long", frame(CmdSubmitSM, 0, 1, submitBody("CMTXYZ", "1", "2", "", ""), []byte{0}), ESME_RINVSERTYP},
		{"submit_sm source_addr of 21 characters", frame(CmdSubmitSM, 0, 1, submitBody("", long(21), "2", "", ""), []byte{0}), ESME_RINVSRCADR},
		{"submit_sm destination_addr of 25 characters", frame(CmdSubmitSM, 0, 1, submitBody("", "1", long(25), "", ""), []byte{0}), ESME_RINVDSTADR},
		{"submit_sm schedule too long", frame(CmdSubmitSM, 0, 1, submitBody("", "1", "2", long(17), ""), []byte{0}), ESME_RINVSCHED},
		{"submit_sm validity too long", frame(CmdSubmitSM, 0, 1, submitBody("", "1", "2", "", long(17)), []byte{0}), ESME_RINVEXPIRY},
		{"submit_sm without sm_length", frame(CmdSubmitSM, 0, 1, okSubmit()), ESME_RINVCMDLEN},
		{"sm_length beyond the PDU", frame(CmdSubmitSM, 0, 1, okSubmit(), []byte{5, 'a', 'b'}), ESME_RINVMSGLEN},
		{"sm_length 255", frame(CmdSubmitSM, 0, 1, okSubmit(), []byte{255}, bytes.Repeat([]byte("a"), 255)), ESME_RINVMSGLEN},
		{"deliver_sm stray octets after short_message", frame(CmdDeliverSM, 0, 1, okSubmit(), []byte{1, 'a', 0, 0}), ESME_RINVOPTPARSTREAM},
		{"TLV longer than the PDU", frame(CmdSubmitSM, 0, 1, okSubmit(), []byte{0}, tlv(TagMessagePayload, 'a', 'b')[:5]), ESME_RINVOPTPARSTREAM},
		{"sar_total_segments of 2 octets", frame(CmdSubmitSM, 0, 1, okSubmit(), []byte{0}, tlv(TagSARTotalSegments, 0, 2)), ESME_RINVPARLEN},
		{"network_error_code of 2 octets", frame(CmdDeliverSM, 0, 1, okSubmit(), []byte{0}, tlv(TagNetworkErrorCode, 3, 0)), ESME_RINVPARLEN},
		{"receipted_message_id of 66 octets", frame(CmdDeliverSM, 0, 1, okSubmit(), []byte{0}, tlv(TagReceiptedMessageID, bytes.Repeat([]byte("1"), 66)...)), ESME_RINVPARLEN},
		{"submit_sm_resp message_id of 65 characters", frame(CmdSubmitSMResp, 0, 1, cs(long(65))), ESME_RINVMSGID},
		{"submit_sm_resp OK without a body", frame(CmdSubmitSMResp, 0, 1), ESME_RINVCMDLEN},
		{"query_sm_resp with trailing octets", frame(CmdQuerySMResp, 0, 1, cs("1"), cs(""), []byte{2, 0, 9}), ESME_RINVCMDLEN},
		{"submit_multi with no destinations", frame(CmdSubmitMulti, 0, 1, cs(""), []byte{1, 1}, cs("1"), []byte{0}), ESME_RINVNUMDESTS},
		{"submit_multi with dest_flag 3", frame(CmdSubmitMulti, 0, 1, cs(""), []byte{1, 1}, cs("1"), []byte{1, 3}), ESME_RINVDESTFLAG},
		{"submit_multi with 255 destinations", frame(CmdSubmitMulti, 0, 1, cs(""), []byte{1, 1}, cs("1"), []byte{255}), ESME_RINVNUMDESTS},
		{"submit_multi dl_name too long", frame(CmdSubmitMulti, 0, 1, cs(""), []byte{1, 1}, cs("1"), []byte{1, 2}, cs(long(21))), ESME_RINVDLNAME},
		{"data_sm source_addr of 65 characters", frame(CmdDataSM, 0, 1, cs(""), []byte{1, 1}, cs(long(65))), ESME_RINVSRCADR},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Unmarshal(tt.in)
			var se *StatusError
			if !errors.As(err, &se) {
				t.Fatalf("Unmarshal = %#v, %v; want a *StatusError", p, err)
			}
			if se.Status != tt.want {
				t.Errorf("status %s (%v), want %s", se.Status, err, tt.want)
			}
			if p != nil {
				t.Errorf("PDU %#v returned with an error", p)
			}
			if len(tt.in) >= HeaderLen && se.Header.Seq != binary.BigEndian.Uint32(tt.in[12:]) {
				t.Errorf("error header %+v lacks the sequence number", se.Header)
			}
		})
	}
}

func TestUnmarshalAccepts(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want PDU
	}{
		{"failed submit_sm_resp with a bare header", frame(CmdSubmitSMResp, ESME_RTHROTTLED, 4),
			&SubmitSMResp{Hdr: Header{Length: 16, ID: CmdSubmitSMResp, Status: ESME_RTHROTTLED, Seq: 4}}},
		{"failed submit_sm_resp with an empty message_id", frame(CmdSubmitSMResp, ESME_RSUBMITFAIL, 4, cs("")),
			&SubmitSMResp{Hdr: Header{Length: 17, ID: CmdSubmitSMResp, Status: ESME_RSUBMITFAIL, Seq: 4}}},
		{"deliver_sm_resp with a bare header", frame(CmdDeliverSMResp, 0, 4),
			&DeliverSMResp{Hdr: Header{Length: 16, ID: CmdDeliverSMResp, Seq: 4}}},
		{"submit_sm_resp with SMPP 5.0 TLVs", frame(CmdSubmitSMResp, 0, 4, cs("77"), tlv(TagNetworkErrorCode, 3, 0, 1)),
			&SubmitSMResp{Hdr: Header{Length: 26, ID: CmdSubmitSMResp, Seq: 4}, MessageID: "77",
				TLVs: TLVs{{Tag: TagNetworkErrorCode, Value: []byte{3, 0, 1}}}}},
		{"receipted_message_id without its NUL, unknown and repeated TLVs",
			frame(CmdDeliverSM, 0, 5, okSubmit(), []byte{0}, tlv(TagReceiptedMessageID, '4', '2'), tlv(0x1400, 9), tlv(0x1400), tlv(TagMessageState, 2)),
			&DeliverSM{Hdr: Header{Length: uint32(HeaderLen + len(okSubmit()) + 1 + 6 + 5 + 4 + 5), ID: CmdDeliverSM, Seq: 5},
				SourceAddrTON: 1, SourceAddrNPI: 1, SourceAddr: "14155550199", DestAddrTON: 1, DestAddrNPI: 1,
				DestinationAddr: "14155550100", RegisteredDelivery: 1,
				TLVs: TLVs{{TagReceiptedMessageID, []byte("42")}, {0x1400, []byte{9}}, {0x1400, nil}, {TagMessageState, []byte{2}}}}},
		{"maximum-length fields", frame(CmdBindTransmitter, 0, 1, bindBody(strings.Repeat("s", 15), strings.Repeat("p", 8), strings.Repeat("t", 12), strings.Repeat("a", 40))),
			&BindTransmitter{Hdr: Header{Length: 16 + 16 + 9 + 13 + 3 + 41, ID: CmdBindTransmitter, Seq: 1},
				SystemID: strings.Repeat("s", 15), Password: strings.Repeat("p", 8), SystemType: strings.Repeat("t", 12),
				InterfaceVersion: 0x34, AddressRange: strings.Repeat("a", 40)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Unmarshal(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(p, tt.want) {
				t.Errorf("got  %#v\nwant %#v", p, tt.want)
			}
		})
	}
}

func TestUnmarshalDoesNotAlias(t *testing.T) {
	in := frame(CmdDeliverSM, 0, 1, okSubmit(), []byte{2, 'h', 'i'}, tlv(TagMessagePayload, 'x'))
	p, err := Unmarshal(in)
	if err != nil {
		t.Fatal(err)
	}
	for i := range in {
		in[i] = 0xEE
	}
	d := p.(*DeliverSM)
	if string(d.ShortMessage) != "hi" || string(d.TLVs[0].Value) != "x" {
		t.Errorf("decoded values changed with the input buffer: %q %q", d.ShortMessage, d.TLVs[0].Value)
	}
}

func TestMarshalRejects(t *testing.T) {
	tests := []struct {
		name string
		p    PDU
		want Status
	}{
		{"system_id of 16 characters", &BindTransmitter{SystemID: strings.Repeat("s", 16)}, ESME_RINVSYSID},
		{"password with a NUL", &BindTransmitter{Password: "a\x00b"}, ESME_RINVPASWD},
		{"source_addr of 21 characters", &SubmitSM{SourceAddr: strings.Repeat("1", 21)}, ESME_RINVSRCADR},
		{"short_message of 255 octets", &SubmitSM{ShortMessage: make([]byte, 255)}, ESME_RINVMSGLEN},
		{"TLV of 65536 octets", &SubmitSM{TLVs: TLVs{{TagMessagePayload, make([]byte, 65536)}}}, ESME_RINVPARLEN},
		{"submit_multi without destinations", &SubmitMulti{}, ESME_RINVNUMDESTS},
		{"submit_multi with 255 destinations", &SubmitMulti{Dests: make([]Dest, 255)}, ESME_RINVNUMDESTS},
		{"message_id of 65 characters", &SubmitSMResp{MessageID: strings.Repeat("f", 65)}, ESME_RINVMSGID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := []byte("keep")
			b, err := AppendMarshal(dst, tt.p)
			var se *StatusError
			if !errors.As(err, &se) || se.Status != tt.want {
				t.Fatalf("AppendMarshal error %v, want status %s", err, tt.want)
			}
			if string(b) != "keep" {
				t.Errorf("AppendMarshal returned %q on error, want dst unchanged", b)
			}
		})
	}
}

func TestMarshalFailedResponse(t *testing.T) {
	tests := []struct {
		name string
		p    PDU
		want []byte
	}{
		{"empty body is left out", &SubmitSMResp{Hdr: Header{Status: ESME_RMSGQFUL, Seq: 3}},
			frame(CmdSubmitSMResp, ESME_RMSGQFUL, 3)},
		{"a body that says something is kept", &DataSMResp{Hdr: Header{Status: ESME_RDELIVERYFAILURE, Seq: 3},
			TLVs: TLVs{{TagDeliveryFailureReason, []byte{1}}}},
			frame(CmdDataSMResp, ESME_RDELIVERYFAILURE, 3, cs(""), tlv(TagDeliveryFailureReason, 1))},
		{"success keeps an empty body", &SubmitSMResp{Hdr: Header{Seq: 3}}, frame(CmdSubmitSMResp, 0, 3, cs(""))},
		{"requests always have a body", &EnquireLink{Hdr: Header{Seq: 3}}, frame(CmdEnquireLink, 0, 3)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Marshal(tt.p)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, tt.want) {
				t.Errorf("got %X, want %X", b, tt.want)
			}
		})
	}
}

func TestMarshalIgnoresHeaderIDAndLength(t *testing.T) {
	b, err := Marshal(&EnquireLinkResp{Hdr: Header{Length: 99, ID: CmdSubmitSM, Seq: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if want := frame(CmdEnquireLinkResp, 0, 1); !bytes.Equal(b, want) {
		t.Errorf("got %X, want %X", b, want)
	}
}

func TestAppendMarshalAppends(t *testing.T) {
	b, err := AppendMarshal([]byte{0xAA}, &Unbind{Hdr: Header{Seq: 2}})
	if err != nil {
		t.Fatal(err)
	}
	if want := append([]byte{0xAA}, frame(CmdUnbind, 0, 2)...); !bytes.Equal(b, want) {
		t.Errorf("got %X, want %X", b, want)
	}
}

func TestReadPDU(t *testing.T) {
	a := frame(CmdEnquireLink, 0, 1)
	b := frame(CmdSubmitSMResp, 0, 2, cs("abc"))
	stream := append(append([]byte{}, a...), b...)

	t.Run("back to back, one octet at a time", func(t *testing.T) {
		r := iotest.OneByteReader(bytes.NewReader(stream))
		for _, want := range [][]byte{a, b} {
			got, err := ReadPDU(r, 100)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("ReadPDU = %X, %v; want %X", got, err, want)
			}
		}
		if _, err := ReadPDU(r, 100); err != io.EOF {
			t.Errorf("at end of stream: %v, want io.EOF", err)
		}
	})

	tests := []struct {
		name    string
		in      []byte
		max     int
		status  Status // when the error is a *StatusError
		wantErr error  // otherwise
	}{
		{"closed inside the header", a[:9], 100, 0, io.ErrUnexpectedEOF},
		{"closed inside the body", b[:18], 100, 0, io.ErrUnexpectedEOF},
		{"length below 16", frame(CmdEnquireLink, 0, 9)[:0:0], 100, 0, io.EOF},
		{"length 15", append([]byte{0, 0, 0, 15}, a[4:]...), 100, ESME_RINVCMDLEN, nil},
		{"length 0", append([]byte{0, 0, 0, 0}, a[4:]...), 100, ESME_RINVCMDLEN, nil},
		{"length above max", b, len(b) - 1, ESME_RINVCMDLEN, nil},
		{"length of 4 GiB", append([]byte{0xFF, 0xFF, 0xFF, 0xFF}, a[4:]...), 0, ESME_RINVCMDLEN, nil},
		{"exactly max", b, len(b), 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadPDU(bytes.NewReader(tt.in), tt.max)
			if tt.status != 0 {
				var se *StatusError
				if !errors.As(err, &se) || se.Status != tt.status {
					t.Fatalf("ReadPDU = %X, %v; want status %s", got, err, tt.status)
				}
				if se.Header.Seq != binary.BigEndian.Uint32(tt.in[12:]) {
					t.Errorf("error header %+v lacks the sequence number", se.Header)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ReadPDU = %X, %v; want %v", got, err, tt.wantErr)
			}
			if err == nil && !bytes.Equal(got, tt.in) {
				t.Errorf("ReadPDU = %X, want %X", got, tt.in)
			}
		})
	}
}

func TestResponse(t *testing.T) {
	tests := []struct {
		name string
		h    Header
		want PDU
	}{
		{"submit_sm", Header{ID: CmdSubmitSM, Seq: 9}, &SubmitSMResp{Hdr: Header{ID: CmdSubmitSMResp, Status: ESME_RINVDSTADR, Seq: 9}}},
		{"bind_transceiver", Header{ID: CmdBindTransceiver, Seq: 1}, &BindTransceiverResp{Hdr: Header{ID: CmdBindTransceiverResp, Status: ESME_RINVDSTADR, Seq: 1}}},
		{"enquire_link", Header{ID: CmdEnquireLink, Seq: 2}, &EnquireLinkResp{Hdr: Header{ID: CmdEnquireLinkResp, Status: ESME_RINVDSTADR, Seq: 2}}},
		{"unknown id", Header{ID: 0x77, Seq: 3}, &GenericNack{Hdr: Header{ID: CmdGenericNack, Status: ESME_RINVDSTADR, Seq: 3}}},
		{"a response", Header{ID: CmdSubmitSMResp, Seq: 4}, &GenericNack{Hdr: Header{ID: CmdGenericNack, Status: ESME_RINVDSTADR, Seq: 4}}},
		{"outbind", Header{ID: CmdOutbind, Seq: 5}, &GenericNack{Hdr: Header{ID: CmdGenericNack, Status: ESME_RINVDSTADR, Seq: 5}}},
		{"alert_notification", Header{ID: CmdAlertNotification, Seq: 6}, &GenericNack{Hdr: Header{ID: CmdGenericNack, Status: ESME_RINVDSTADR, Seq: 6}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Response(tt.h, ESME_RINVDSTADR); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestStatusNames(t *testing.T) {
	tests := []struct {
		s    Status
		code uint32
		name string
	}{
		{ESME_ROK, 0x00, "ESME_ROK"},
		{ESME_RINVMSGLEN, 0x01, "ESME_RINVMSGLEN"},
		{ESME_RINVCMDLEN, 0x02, "ESME_RINVCMDLEN"},
		{ESME_RINVCMDID, 0x03, "ESME_RINVCMDID"},
		{ESME_RINVBNDSTS, 0x04, "ESME_RINVBNDSTS"},
		{ESME_RSYSERR, 0x08, "ESME_RSYSERR"},
		{ESME_RINVSRCADR, 0x0A, "ESME_RINVSRCADR"},
		{ESME_RINVDSTADR, 0x0B, "ESME_RINVDSTADR"},
		{ESME_RBINDFAIL, 0x0D, "ESME_RBINDFAIL"},
		{ESME_RINVPASWD, 0x0E, "ESME_RINVPASWD"},
		{ESME_RMSGQFUL, 0x14, "ESME_RMSGQFUL"},
		{ESME_RSUBMITFAIL, 0x45, "ESME_RSUBMITFAIL"},
		{ESME_RTHROTTLED, 0x58, "ESME_RTHROTTLED"},
		{ESME_RINVSCHED, 0x61, "ESME_RINVSCHED"},
		{ESME_RINVEXPIRY, 0x62, "ESME_RINVEXPIRY"},
		{ESME_RX_R_APPN, 0x66, "ESME_RX_R_APPN"},
		{ESME_RINVOPTPARSTREAM, 0xC0, "ESME_RINVOPTPARSTREAM"},
		{ESME_RDELIVERYFAILURE, 0xFE, "ESME_RDELIVERYFAILURE"},
		{ESME_RUNKNOWNERR, 0xFF, "ESME_RUNKNOWNERR"},
		{Status(0x400), 0x400, "Status(0x00000400)"},
	}
	for _, tt := range tests {
		if uint32(tt.s) != tt.code || tt.s.String() != tt.name {
			t.Errorf("%s = 0x%X, want %s = 0x%X", tt.s, uint32(tt.s), tt.name, tt.code)
		}
	}
	if len(statusNames) != 48 {
		t.Errorf("%d named statuses; SMPP 3.4 defines 48", len(statusNames))
	}
}

func TestCommandNames(t *testing.T) {
	if len(commands) != 27 {
		t.Errorf("%d commands; SMPP 3.4 defines 27", len(commands))
	}
	for id, cmd := range commands {
		p := New(id)
		if p.CommandID() != id {
			t.Errorf("New(%s) made a %s", id, p.CommandID())
		}
		if id.String() != cmd.name || strings.ToLower(cmd.name) != cmd.name {
			t.Errorf("%08X named %q", uint32(id), id.String())
		}
		if id.IsResponse() != strings.HasSuffix(cmd.name, "_resp") && id != CmdGenericNack {
			t.Errorf("%s.IsResponse() = %v", id, id.IsResponse())
		}
	}
	if New(0x1234) != nil || CommandID(0x1234).Known() || CommandID(0x1234).String() != "CommandID(0x00001234)" {
		t.Error("unknown command id treated as known")
	}
}

func TestStatusErrorMessage(t *testing.T) {
	_, err := Unmarshal(frame(CmdSubmitSM, 0, 1, submitBody("", strings.Repeat("1", 30), "2", "", ""), []byte{0}))
	if got := err.Error(); !strings.Contains(got, "source_addr") || !strings.Contains(got, "ESME_RINVSRCADR") {
		t.Errorf("error %q should name the field and the status", got)
	}
}
