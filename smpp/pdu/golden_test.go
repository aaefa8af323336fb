package pdu

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// goldenReceipt is the short_message of the deliver_sm_receipt golden PDU.
const goldenReceipt = "id:0A1B2C3D sub:001 dlvrd:001 submit date:2401021504 done date:2401021505 stat:DELIVRD err:000 text:Hello world"

// goldenCases are the twins of the cases in testdata/golden/gen.js, whose
// bytes node-smpp produced. Hdr.ID and Hdr.Length are filled in by the
// test.
func goldenCases() map[string]PDU {
	hdr := func(seq uint32) Header { return Header{Seq: seq} }
	return map[string]PDU{
		"bind_transmitter": &BindTransmitter{Hdr: hdr(1), SystemID: "trunkline", Password: "secret", SystemType: "SMPP",
			InterfaceVersion: InterfaceVersion34, AddrTON: 1, AddrNPI: 1},
		"bind_receiver": &BindReceiver{Hdr: hdr(2), SystemID: "rx", Password: "pw", InterfaceVersion: InterfaceVersion34,
			AddressRange: "^1555"},
		"bind_transceiver": &BindTransceiver{Hdr: hdr(3), SystemID: "trx", Password: "pass1234", SystemType: "VMA",
			InterfaceVersion: InterfaceVersion34, AddrTON: 5},
		"bind_transmitter_resp": &BindTransmitterResp{Hdr: hdr(1), SystemID: "SMSC",
			TLVs: TLVs{{Tag: TagSCInterfaceVersion, Value: []byte{0x34}}}},
		"bind_receiver_resp":         &BindReceiverResp{Hdr: hdr(2), SystemID: "SMSC"},
		"bind_transceiver_resp_fail": &BindTransceiverResp{Hdr: Header{Seq: 3, Status: ESME_RINVPASWD}},
		"outbind":                    &Outbind{Hdr: hdr(4), SystemID: "smsc", Password: "pw"},
		"unbind":                     &Unbind{Hdr: hdr(5)},
		"unbind_resp":                &UnbindResp{Hdr: hdr(5)},
		"generic_nack":               &GenericNack{Hdr: Header{Seq: 6, Status: ESME_RINVCMDID}},
		"enquire_link":               &EnquireLink{Hdr: hdr(7)},
		"enquire_link_resp":          &EnquireLinkResp{Hdr: hdr(7)},
		"submit_sm": &SubmitSM{Hdr: hdr(8), SourceAddrTON: 5, SourceAddr: "Trunkline", DestAddrTON: 1, DestAddrNPI: 1,
			DestinationAddr: "14155550100", ValidityPeriod: "000000010000000R", RegisteredDelivery: 1,
			ShortMessage: []byte("Hello world")},
		"submit_sm_udh_ucs2": &SubmitSM{Hdr: hdr(9), SourceAddrTON: 1, SourceAddrNPI: 1, SourceAddr: "14155550199",
			DestAddrTON: 1, DestAddrNPI: 1, DestinationAddr: "14155550100", ESMClass: ESMClassUDHI, RegisteredDelivery: 1,
			DataCoding: DataCodingUCS2, ShortMessage: unhex("0500032A0201" + "004800E9D83DDE00"),
			TLVs: TLVs{{Tag: TagUserMessageReference, Value: []byte{0x12, 0x34}}}},
		"submit_sm_payload_sar": &SubmitSM{Hdr: hdr(10), SourceAddrTON: 1, SourceAddrNPI: 1, SourceAddr: "14155550199",
			DestAddrTON: 1, DestAddrNPI: 1, DestinationAddr: "14155550100",
			TLVs: TLVs{
				{Tag: TagSARMsgRefNum, Value: []byte{1, 2}},
				{Tag: TagSARTotalSegments, Value: []byte{3}},
				{Tag: TagSARSegmentSeqnum, Value: []byte{1}},
				{Tag: TagMessagePayload, Value: []byte("A message that travels in message_payload")},
			}},
		"submit_sm_resp":           &SubmitSMResp{Hdr: hdr(8), MessageID: "0A1B2C3D"},
		"submit_sm_resp_throttled": &SubmitSMResp{Hdr: Header{Seq: 9, Status: ESME_RTHROTTLED}},
		"deliver_sm_receipt": &DeliverSM{Hdr: hdr(11), SourceAddrTON: 1, SourceAddrNPI: 1, SourceAddr: "14155550100",
			DestAddrTON: 5, DestinationAddr: "Trunkline", ESMClass: ESMClassReceipt, ShortMessage: []byte(goldenReceipt),
			TLVs: TLVs{
				{Tag: TagReceiptedMessageID, Value: []byte("0A1B2C3D\x00")},
				{Tag: TagMessageState, Value: []byte{2}},
				{Tag: TagNetworkErrorCode, Value: []byte{3, 0, 0}},
			}},
		"deliver_sm_mo": &DeliverSM{Hdr: hdr(12), SourceAddrTON: 1, SourceAddrNPI: 1, SourceAddr: "14155550100",
			DestAddrTON: 1, DestAddrNPI: 1, DestinationAddr: "14155550199", ShortMessage: []byte("STOP")},
		"deliver_sm_resp": &DeliverSMResp{Hdr: hdr(11)},
		"data_sm": &DataSM{Hdr: hdr(13), SourceAddrTON: 1, SourceAddrNPI: 1, SourceAddr: "14155550100",
			DestAddrTON: 1, DestAddrNPI: 1, DestinationAddr: "14155550101", RegisteredDelivery: 1, DataCoding: DataCodingUCS2,
			TLVs: TLVs{{Tag: TagMessagePayload, Value: unhex("041F04400438043204350442")}}},
		"data_sm_resp": &DataSMResp{Hdr: hdr(13), MessageID: "abc123"},
		"query_sm":     &QuerySM{Hdr: hdr(14), MessageID: "0A1B2C3D", SourceAddrTON: 5, SourceAddr: "Trunkline"},
		"query_sm_resp": &QuerySMResp{Hdr: hdr(14), MessageID: "0A1B2C3D", FinalDate: "240102150405000+",
			MessageState: StateDelivered},
		"cancel_sm": &CancelSM{Hdr: hdr(15), MessageID: "0A1B2C3D", SourceAddrTON: 5, SourceAddr: "Trunkline",
			DestAddrTON: 1, DestAddrNPI: 1, DestinationAddr: "14155550100"},
		"cancel_sm_resp": &CancelSMResp{Hdr: hdr(15)},
		"replace_sm": &ReplaceSM{Hdr: hdr(16), MessageID: "0A1B2C3D", SourceAddrTON: 5, SourceAddr: "Trunkline",
			RegisteredDelivery: 1, ShortMessage: []byte("New text")},
		"replace_sm_resp": &ReplaceSMResp{Hdr: hdr(16)},
		"submit_multi": &SubmitMulti{Hdr: hdr(17), SourceAddrTON: 5, SourceAddr: "Trunkline",
			Dests:        []Dest{{TON: 1, NPI: 1, Addr: "14155550100"}, {List: true, Addr: "friends"}},
			ShortMessage: []byte("Hi all")},
		"submit_multi_resp": &SubmitMultiResp{Hdr: hdr(17), MessageID: "m1",
			Unsuccess: []UnsuccessSME{{TON: 1, NPI: 1, Addr: "14155550100", Status: ESME_RINVDSTADR}}},
		"alert_notification": &AlertNotification{Hdr: hdr(18), SourceAddrTON: 1, SourceAddrNPI: 1, SourceAddr: "14155550100",
			ESMEAddrTON: 5, ESMEAddr: "Trunkline", TLVs: TLVs{{Tag: TagMSAvailabilityStatus, Value: []byte{0}}}},
	}
}

func unhex(s string) []byte {
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		panic(err)
	}
	return b
}

func readGolden(t testing.TB, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "golden", name+".hex"))
	if err != nil {
		t.Fatal(err)
	}
	return unhex(string(raw))
}

func TestGolden(t *testing.T) {
	cases := goldenCases()
	files, _ := filepath.Glob(filepath.Join("testdata", "golden", "*.hex"))
	if len(files) != len(cases) {
		t.Errorf("%d golden files for %d cases", len(files), len(cases))
	}
	seen := map[CommandID]bool{}
	for name, want := range cases {
		t.Run(name, func(t *testing.T) {
			golden := readGolden(t, name)
			want.Header().ID = want.CommandID()
			want.Header().Length = uint32(len(golden))
			seen[want.CommandID()] = true

			got, err := Marshal(want)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if !bytes.Equal(got, golden) {
				t.Errorf("Marshal:\n got %X\nwant %X", got, golden)
			}
			p, err := Unmarshal(golden)
			if err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if !reflect.DeepEqual(p, want) {
				t.Errorf("Unmarshal:\n got %#v\nwant %#v", p, want)
			}
			// The golden files double as ReadPDU input.
			framed, err := ReadPDU(bytes.NewReader(append(golden, 0xFF)), 0)
			if err != nil || !bytes.Equal(framed, golden) {
				t.Errorf("ReadPDU = %X, %v", framed, err)
			}
		})
	}
	for id := range commands {
		if !seen[id] {
			t.Errorf("no golden PDU for %s", id)
		}
	}
}
