// Package pdu encodes and decodes SMPP 3.4 PDUs.
//
// Every PDU of the specification has a struct here (SubmitSM, DeliverSM,
// BindTransceiver ...) whose Hdr field is the 16-octet header. Marshal and
// Unmarshal convert between those structs and wire bytes; ReadPDU frames
// one PDU off a stream. Decoding is strict, because the bytes come from
// carriers and from customers who bind to us: every malformed input yields
// a *StatusError naming the command_status to answer with, never a panic,
// and nothing is allocated beyond the caller's length limit.
//
// The package also parses and formats the de-facto delivery receipt text
// (ParseReceipt, FormatReceipt) and derives correlation keys for message
// ids that carriers spell differently in submit_sm_resp and in receipts
// (MessageIDKeys).
package pdu

import (
	"encoding/binary"
	"errors"
	"io"
)

// HeaderLen is the length of the PDU header: command_length, command_id,
// command_status and sequence_number, four octets each.
const HeaderLen = 16

// DefaultMaxLen is a PDU length limit for ReadPDU that leaves room for a
// full 64 KiB message_payload and the rest of a submit_sm around it.
const DefaultMaxLen = 70000

// Header is the SMPP PDU header.
type Header struct {
	// Length is command_length. Unmarshal sets it; Marshal computes the
	// length itself and ignores this field.
	Length uint32
	// ID is command_id. Marshal writes the PDU's own CommandID whatever
	// this field holds.
	ID     CommandID
	Status Status
	Seq    uint32
}

// PDU is one SMPP PDU. Its concrete type is one of the structs of this
// package; the set is closed.
type PDU interface {
	CommandID() CommandID
	// Header returns the PDU's header, which may be modified in place,
	// e.g. to set a sequence number before Marshal.
	Header() *Header

	encodeBody(e *encoder)
	decodeBody(d *decoder)
}

// ParseHeader decodes the first 16 octets of b. It checks nothing but the
// length of b, so that callers can learn the sequence number of a PDU that
// is otherwise invalid.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderLen {
		return Header{}, statusErrorf(ESME_RINVCMDLEN, "PDU of %d octets is shorter than a header", len(b))
	}
	return Header{
		Length: binary.BigEndian.Uint32(b[0:]),
		ID:     CommandID(binary.BigEndian.Uint32(b[4:])),
		Status: Status(binary.BigEndian.Uint32(b[8:])),
		Seq:    binary.BigEndian.Uint32(b[12:]),
	}, nil
}

// Marshal encodes p, header included.
func Marshal(p PDU) ([]byte, error) {
	return AppendMarshal(nil, p)
}

// AppendMarshal appends the encoding of p to dst. On error dst is
// returned unchanged (up to its length).
//
// A response whose Status is not ESME_ROK and whose body is empty (all
// fields zero) is sent as a bare header, as SMPP 3.4 says for failed
// responses; a non-zero body is sent as given.
func AppendMarshal(dst []byte, p PDU) ([]byte, error) {
	h := p.Header()
	id := p.CommandID()
	start := len(dst)
	e := encoder{b: append(dst, make([]byte, HeaderLen)...)}
	p.encodeBody(&e)
	if e.err != nil {
		e.err.Header = *h
		return dst[:start], e.err
	}
	if h.Status != ESME_ROK && id.IsResponse() && len(e.b) > start+HeaderLen {
		zero := encoder{}
		New(id).encodeBody(&zero)
		if string(zero.b) == string(e.b[start+HeaderLen:]) {
			e.b = e.b[:start+HeaderLen]
		}
	}
	n := len(e.b) - start
	if uint64(n) > 0xFFFFFFFF {
		return dst[:start], &StatusError{Status: ESME_RINVCMDLEN, Header: *h, Msg: "PDU too long"}
	}
	binary.BigEndian.PutUint32(e.b[start:], uint32(n))
	binary.BigEndian.PutUint32(e.b[start+4:], uint32(id))
	binary.BigEndian.PutUint32(e.b[start+8:], uint32(h.Status))
	binary.BigEndian.PutUint32(e.b[start+12:], h.Seq)
	return e.b, nil
}

// Unmarshal decodes exactly one PDU that fills all of b. Values in the
// result never alias b. Any error is a *StatusError.
func Unmarshal(b []byte) (PDU, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return nil, err
	}
	fail := func(s Status, msg string) error {
		return &StatusError{Status: s, Header: h, Msg: msg}
	}
	if int64(h.Length) != int64(len(b)) {
		return nil, fail(ESME_RINVCMDLEN, "command_length does not match the PDU's size")
	}
	p := New(h.ID)
	if p == nil {
		return nil, fail(ESME_RINVCMDID, "unknown command_id "+h.ID.String())
	}
	*p.Header() = h
	body := b[HeaderLen:]
	// SMPP 3.4 omits the body of a failed response.
	if len(body) == 0 && h.Status != ESME_ROK && h.ID.IsResponse() {
		return p, nil
	}
	// Some ESMEs answer deliver_sm with a bare header; its message_id is
	// unused anyway.
	if len(body) == 0 && h.ID == CmdDeliverSMResp {
		return p, nil
	}
	d := decoder{b: body}
	p.decodeBody(&d)
	if d.err == nil && d.off != len(d.b) {
		d.err = statusErrorf(ESME_RINVCMDLEN, "%d octets after the end of the %s body", len(d.b)-d.off, h.ID)
	}
	if d.err != nil {
		d.err.Header = h
		return nil, d.err
	}
	return p, nil
}

// ReadPDU reads one length-prefixed PDU from r and returns all of its
// octets, header included, for Unmarshal. A command_length below 16 or
// above maxLen (DefaultMaxLen when maxLen <= 0) yields a *StatusError with
// ESME_RINVCMDLEN and the header read so far, without reading further:
// the stream cannot be trusted after that. A stream that ends before the
// first octet returns io.EOF; one that ends inside a PDU returns
// io.ErrUnexpectedEOF.
func ReadPDU(r io.Reader, maxLen int) ([]byte, error) {
	if maxLen <= 0 {
		maxLen = DefaultMaxLen
	}
	var hb [HeaderLen]byte
	if _, err := io.ReadFull(r, hb[:]); err != nil {
		return nil, err
	}
	h, _ := ParseHeader(hb[:])
	if h.Length < HeaderLen || uint64(h.Length) > uint64(maxLen) {
		return nil, &StatusError{Status: ESME_RINVCMDLEN, Header: h, Msg: "command_length out of range"}
	}
	b := make([]byte, h.Length)
	copy(b, hb[:])
	if _, err := io.ReadFull(r, b[HeaderLen:]); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return b, nil
}
