package pdu

import (
	"reflect"
	"testing"
)

func TestTLVHelpers(t *testing.T) {
	var tl TLVs
	tl.SetMessagePayload([]byte("payload"))
	tl.SetSAR(0xBEEF, 3, 2)
	tl.SetReceiptedMessageID("0A1B2C3D")
	tl.SetMessageState(StateUndeliverable)
	tl.SetNetworkErrorCode(NetworkError{Type: 3, Code: 0x0102})
	tl.SetUserMessageReference(77)
	tl.SetUint16(TagSourcePort, 1000)
	tl.SetUint16(TagDestPort, 2000)
	tl.SetUint16(TagUserMessageReference, 78) // replaces, does not add

	want := TLVs{
		{TagMessagePayload, []byte("payload")},
		{TagSARMsgRefNum, []byte{0xBE, 0xEF}},
		{TagSARTotalSegments, []byte{3}},
		{TagSARSegmentSeqnum, []byte{2}},
		{TagReceiptedMessageID, []byte("0A1B2C3D\x00")},
		{TagMessageState, []byte{5}},
		{TagNetworkErrorCode, []byte{3, 1, 2}},
		{TagUserMessageReference, []byte{0, 78}},
		{TagSourcePort, []byte{0x03, 0xE8}},
		{TagDestPort, []byte{0x07, 0xD0}},
	}
	if !reflect.DeepEqual(tl, want) {
		t.Fatalf("got  %v\nwant %v", tl, want)
	}

	if v, ok := tl.MessagePayload(); !ok || string(v) != "payload" {
		t.Errorf("MessagePayload = %q, %v", v, ok)
	}
	if ref, total, seq, ok := tl.SAR(); !ok || ref != 0xBEEF || total != 3 || seq != 2 {
		t.Errorf("SAR = %d %d %d %v", ref, total, seq, ok)
	}
	if id, ok := tl.ReceiptedMessageID(); !ok || id != "0A1B2C3D" {
		t.Errorf("ReceiptedMessageID = %q, %v", id, ok)
	}
	if s, ok := tl.MessageState(); !ok || s != StateUndeliverable {
		t.Errorf("MessageState = %v, %v", s, ok)
	}
	if n, ok := tl.NetworkErrorCode(); !ok || n != (NetworkError{3, 0x0102}) {
		t.Errorf("NetworkErrorCode = %v, %v", n, ok)
	}
	if v, ok := tl.UserMessageReference(); !ok || v != 78 {
		t.Errorf("UserMessageReference = %d, %v", v, ok)
	}
	if v, ok := tl.SourcePort(); !ok || v != 1000 {
		t.Errorf("SourcePort = %d, %v", v, ok)
	}
	if v, ok := tl.DestPort(); !ok || v != 2000 {
		t.Errorf("DestPort = %d, %v", v, ok)
	}

	tl.Del(TagSARTotalSegments)
	if _, _, _, ok := tl.SAR(); ok {
		t.Error("SAR reported complete without sar_total_segments")
	}
	var empty TLVs
	if _, ok := empty.MessageState(); ok {
		t.Error("MessageState found in empty TLVs")
	}
	empty.Del(TagMessageState)
	if empty != nil {
		t.Error("Del on empty TLVs made a non-nil slice")
	}
}

func TestTLVGettersRefuseWrongSizes(t *testing.T) {
	// Decoding rejects these lengths; TLVs built by hand must not fool
	// the getters either.
	tl := TLVs{
		{TagMessageState, []byte{1, 2}},
		{TagUserMessageReference, []byte{1}},
		{TagNetworkErrorCode, []byte{3, 0}},
	}
	if _, ok := tl.MessageState(); ok {
		t.Error("MessageState accepted 2 octets")
	}
	if _, ok := tl.UserMessageReference(); ok {
		t.Error("UserMessageReference accepted 1 octet")
	}
	if _, ok := tl.NetworkErrorCode(); ok {
		t.Error("NetworkErrorCode accepted 2 octets")
	}
}

func TestMessageStateNames(t *testing.T) {
	tests := []struct {
		s          MessageState
		name, stat string
	}{
		{StateEnroute, "ENROUTE", "ENROUTE"},
		{StateDelivered, "DELIVERED", "DELIVRD"},
		{StateExpired, "EXPIRED", "EXPIRED"},
		{StateDeleted, "DELETED", "DELETED"},
		{StateUndeliverable, "UNDELIVERABLE", "UNDELIV"},
		{StateAccepted, "ACCEPTED", "ACCEPTD"},
		{StateUnknown, "UNKNOWN", "UNKNOWN"},
		{StateRejected, "REJECTED", "REJECTD"},
		{0, "MessageState(0)", ""},
		{9, "MessageState(9)", ""},
	}
	for _, tt := range tests {
		if tt.s.String() != tt.name || tt.s.Stat() != tt.stat {
			t.Errorf("%d: String %q Stat %q, want %q %q", uint8(tt.s), tt.s.String(), tt.s.Stat(), tt.name, tt.stat)
		}
	}
}
