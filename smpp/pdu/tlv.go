package pdu

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// Tag is the tag of an optional parameter (TLV).
type Tag uint16

// Tags of the optional parameters Trunkline reads or writes. Any other tag
// is kept as raw bytes.
const (
	TagReceiptedMessageID    Tag = 0x001E // C-Octet string: the SMSC message id a receipt is about
	TagUserMessageReference  Tag = 0x0204 // 2 octets: ESME's own reference for the message
	TagSourcePort            Tag = 0x020A // 2 octets: application port at the source
	TagDestPort              Tag = 0x020B // 2 octets: application port at the destination
	TagSARMsgRefNum          Tag = 0x020C // 2 octets: reference shared by all segments
	TagSARTotalSegments      Tag = 0x020E // 1 octet: number of segments
	TagSARSegmentSeqnum      Tag = 0x020F // 1 octet: this segment's number, from 1
	TagSCInterfaceVersion    Tag = 0x0210 // 1 octet: SMSC's SMPP version in bind responses
	TagMSAvailabilityStatus  Tag = 0x0422 // 1 octet: in alert_notification
	TagNetworkErrorCode      Tag = 0x0423 // 3 octets: network type and error code
	TagMessagePayload        Tag = 0x0424 // up to 64K octets: the message when short_message is empty
	TagDeliveryFailureReason Tag = 0x0425 // 1 octet: in data_sm_resp
	TagMessageState          Tag = 0x0427 // 1 octet: MessageState of a receipt
)

// fixedTLVLen gives the value length the specification fixes for tags
// that have one; a PDU that disagrees is rejected with ESME_RINVPARLEN.
var fixedTLVLen = map[Tag]int{
	TagUserMessageReference:  2,
	TagSourcePort:            2,
	TagDestPort:              2,
	TagSARMsgRefNum:          2,
	TagSARTotalSegments:      1,
	TagSARSegmentSeqnum:      1,
	TagSCInterfaceVersion:    1,
	TagMSAvailabilityStatus:  1,
	TagNetworkErrorCode:      3,
	TagDeliveryFailureReason: 1,
	TagMessageState:          1,
}

// maxReceiptedMessageID is receipted_message_id's limit, NUL included.
const maxReceiptedMessageID = 65

func checkTLVLen(tag Tag, n int) *StatusError {
	if want, ok := fixedTLVLen[tag]; ok && n != want {
		return statusErrorf(ESME_RINVPARLEN, "TLV 0x%04X has length %d, want %d", uint16(tag), n, want)
	}
	if tag == TagReceiptedMessageID && n > maxReceiptedMessageID {
		return statusErrorf(ESME_RINVPARLEN, "receipted_message_id of %d octets exceeds %d", n, maxReceiptedMessageID)
	}
	return nil
}

// TLV is one optional parameter.
type TLV struct {
	Tag   Tag
	Value []byte
}

// TLVs is the optional part of a PDU body, in wire order. A tag may
// repeat; the getters return the first occurrence.
type TLVs []TLV

// Get returns the value of the first TLV with tag.
func (t TLVs) Get(tag Tag) ([]byte, bool) {
	for _, v := range t {
		if v.Tag == tag {
			return v.Value, true
		}
	}
	return nil, false
}

// Set replaces the value of the first TLV with tag, or appends one.
func (t *TLVs) Set(tag Tag, value []byte) {
	for i := range *t {
		if (*t)[i].Tag == tag {
			(*t)[i].Value = value
			return
		}
	}
	*t = append(*t, TLV{Tag: tag, Value: value})
}

// Del removes every TLV with tag.
func (t *TLVs) Del(tag Tag) {
	out := (*t)[:0]
	for _, v := range *t {
		if v.Tag != tag {
			out = append(out, v)
		}
	}
	if len(out) == 0 {
		out = nil
	}
	*t = out
}

// Uint8 returns a one-octet value.
func (t TLVs) Uint8(tag Tag) (uint8, bool) {
	v, ok := t.Get(tag)
	if !ok || len(v) != 1 {
		return 0, false
	}
	return v[0], true
}

// Uint16 returns a two-octet big-endian value.
func (t TLVs) Uint16(tag Tag) (uint16, bool) {
	v, ok := t.Get(tag)
	if !ok || len(v) != 2 {
		return 0, false
	}
	return binary.BigEndian.Uint16(v), true
}

// SetUint8 sets a one-octet value.
func (t *TLVs) SetUint8(tag Tag, v uint8) { t.Set(tag, []byte{v}) }

// SetUint16 sets a two-octet big-endian value.
func (t *TLVs) SetUint16(tag Tag, v uint16) { t.Set(tag, binary.BigEndian.AppendUint16(nil, v)) }

// MessagePayload returns message_payload, which carries the message
// instead of short_message when it is longer than 254 octets.
func (t TLVs) MessagePayload() ([]byte, bool) { return t.Get(TagMessagePayload) }

// SetMessagePayload sets message_payload.
func (t *TLVs) SetMessagePayload(b []byte) { t.Set(TagMessagePayload, b) }

// SAR returns the segmentation TLVs (sar_msg_ref_num, sar_total_segments,
// sar_segment_seqnum); ok is true only when all three are present.
func (t TLVs) SAR() (ref uint16, total, seq uint8, ok bool) {
	ref, ok1 := t.Uint16(TagSARMsgRefNum)
	total, ok2 := t.Uint8(TagSARTotalSegments)
	seq, ok3 := t.Uint8(TagSARSegmentSeqnum)
	return ref, total, seq, ok1 && ok2 && ok3
}

// SetSAR sets the three segmentation TLVs.
func (t *TLVs) SetSAR(ref uint16, total, seq uint8) {
	t.SetUint16(TagSARMsgRefNum, ref)
	t.SetUint8(TagSARTotalSegments, total)
	t.SetUint8(TagSARSegmentSeqnum, seq)
}

// ReceiptedMessageID returns receipted_message_id. The specification
// makes it NUL-terminated; SMSCs that leave the NUL out are tolerated.
func (t TLVs) ReceiptedMessageID() (string, bool) {
	v, ok := t.Get(TagReceiptedMessageID)
	if !ok {
		return "", false
	}
	if i := bytes.IndexByte(v, 0); i >= 0 {
		v = v[:i]
	}
	return string(v), true
}

// SetReceiptedMessageID sets receipted_message_id, NUL-terminated.
func (t *TLVs) SetReceiptedMessageID(id string) {
	t.Set(TagReceiptedMessageID, append([]byte(id), 0))
}

// MessageState returns message_state.
func (t TLVs) MessageState() (MessageState, bool) {
	v, ok := t.Uint8(TagMessageState)
	return MessageState(v), ok
}

// SetMessageState sets message_state.
func (t *TLVs) SetMessageState(s MessageState) { t.SetUint8(TagMessageState, uint8(s)) }

// NetworkError is the value of network_error_code.
type NetworkError struct {
	Type uint8  // 1 ANSI-136, 2 IS-95, 3 GSM, ...
	Code uint16 // network-specific error code
}

// NetworkErrorCode returns network_error_code.
func (t TLVs) NetworkErrorCode() (NetworkError, bool) {
	v, ok := t.Get(TagNetworkErrorCode)
	if !ok || len(v) != 3 {
		return NetworkError{}, false
	}
	return NetworkError{Type: v[0], Code: binary.BigEndian.Uint16(v[1:])}, true
}

// SetNetworkErrorCode sets network_error_code.
func (t *TLVs) SetNetworkErrorCode(n NetworkError) {
	t.Set(TagNetworkErrorCode, binary.BigEndian.AppendUint16([]byte{n.Type}, n.Code))
}

// UserMessageReference returns user_message_reference.
func (t TLVs) UserMessageReference() (uint16, bool) { return t.Uint16(TagUserMessageReference) }

// SetUserMessageReference sets user_message_reference.
func (t *TLVs) SetUserMessageReference(v uint16) { t.SetUint16(TagUserMessageReference, v) }

// SourcePort returns source_port.
func (t TLVs) SourcePort() (uint16, bool) { return t.Uint16(TagSourcePort) }

// DestPort returns dest_port.
func (t TLVs) DestPort() (uint16, bool) { return t.Uint16(TagDestPort) }

// MessageState is the message_state of query_sm_resp and of the
// message_state TLV in receipts.
type MessageState uint8

// SMPP 3.4 message states (section 5.2.28).
const (
	StateEnroute       MessageState = 1
	StateDelivered     MessageState = 2
	StateExpired       MessageState = 3
	StateDeleted       MessageState = 4
	StateUndeliverable MessageState = 5
	StateAccepted      MessageState = 6
	StateUnknown       MessageState = 7
	StateRejected      MessageState = 8
)

// stats are the receipt "stat:" words, indexed by MessageState.
var stats = [...]string{
	StateEnroute:       "ENROUTE",
	StateDelivered:     "DELIVRD",
	StateExpired:       "EXPIRED",
	StateDeleted:       "DELETED",
	StateUndeliverable: "UNDELIV",
	StateAccepted:      "ACCEPTD",
	StateUnknown:       "UNKNOWN",
	StateRejected:      "REJECTD",
}

var stateNames = [...]string{
	StateEnroute:       "ENROUTE",
	StateDelivered:     "DELIVERED",
	StateExpired:       "EXPIRED",
	StateDeleted:       "DELETED",
	StateUndeliverable: "UNDELIVERABLE",
	StateAccepted:      "ACCEPTED",
	StateUnknown:       "UNKNOWN",
	StateRejected:      "REJECTED",
}

func (s MessageState) String() string {
	if int(s) < len(stateNames) && stateNames[s] != "" {
		return stateNames[s]
	}
	return fmt.Sprintf("MessageState(%d)", uint8(s))
}

// Stat returns the seven-letter word receipts use for s ("DELIVRD"), or
// "" for a value outside the specification.
func (s MessageState) Stat() string {
	if int(s) < len(stats) {
		return stats[s]
	}
	return ""
}
