package pdu

import (
	"bytes"
	"encoding/binary"
	"strings"
)

// field describes a C-Octet String of a PDU body: its name for messages,
// its maximum size on the wire (terminating NUL included, as the
// specification counts it) and the command_status that reports it invalid.
type field struct {
	name   string
	max    int
	status Status
}

var (
	fSystemID     = field{"system_id", 16, ESME_RINVSYSID}
	fPassword     = field{"password", 9, ESME_RINVPASWD}
	fSystemType   = field{"system_type", 13, ESME_RINVSYSTYP}
	fAddressRange = field{"address_range", 41, ESME_RINVPARLEN}
	fServiceType  = field{"service_type", 6, ESME_RINVSERTYP}
	fSourceAddr   = field{"source_addr", 21, ESME_RINVSRCADR}
	fDestAddr     = field{"destination_addr", 21, ESME_RINVDSTADR}
	fSourceAddr65 = field{"source_addr", 65, ESME_RINVSRCADR}      // data_sm, alert_notification
	fDestAddr65   = field{"destination_addr", 65, ESME_RINVDSTADR} // data_sm
	fESMEAddr     = field{"esme_addr", 65, ESME_RINVDSTADR}
	fDLName       = field{"dl_name", 21, ESME_RINVDLNAME}
	fSchedule     = field{"schedule_delivery_time", 17, ESME_RINVSCHED}
	fValidity     = field{"validity_period", 17, ESME_RINVEXPIRY}
	fFinalDate    = field{"final_date", 17, ESME_RINVPARLEN}
	fMessageID    = field{"message_id", 65, ESME_RINVMSGID}
)

// maxShortMessage is the largest sm_length SMPP 3.4 allows.
const maxShortMessage = 254

// encoder appends a PDU body; the first error sticks and later writes are
// ignored, so body encoders read as a plain list of fields.
type encoder struct {
	b   []byte
	err *StatusError
}

func (e *encoder) fail(s Status, format string, args ...any) {
	if e.err == nil {
		e.err = statusErrorf(s, format, args...)
	}
}

func (e *encoder) u8(v uint8) { e.b = append(e.b, v) }

func (e *encoder) u32(v uint32) { e.b = binary.BigEndian.AppendUint32(e.b, v) }

func (e *encoder) cstring(s string, f field) {
	if len(s)+1 > f.max {
		e.fail(f.status, "%s longer than %d octets", f.name, f.max-1)
		return
	}
	if strings.IndexByte(s, 0) >= 0 {
		e.fail(f.status, "%s contains a NUL octet", f.name)
		return
	}
	e.b = append(e.b, s...)
	e.b = append(e.b, 0)
}

// shortMessage writes sm_length and short_message.
func (e *encoder) shortMessage(m []byte) {
	if len(m) > maxShortMessage {
		e.fail(ESME_RINVMSGLEN, "short_message of %d octets exceeds %d; use message_payload", len(m), maxShortMessage)
		return
	}
	e.u8(uint8(len(m)))
	e.b = append(e.b, m...)
}

func (e *encoder) tlvs(t TLVs) {
	for _, v := range t {
		if len(v.Value) > 0xFFFF {
			e.fail(ESME_RINVPARLEN, "TLV 0x%04X value of %d octets exceeds 65535", uint16(v.Tag), len(v.Value))
			return
		}
		e.b = binary.BigEndian.AppendUint16(e.b, uint16(v.Tag))
		e.b = binary.BigEndian.AppendUint16(e.b, uint16(len(v.Value)))
		e.b = append(e.b, v.Value...)
	}
}

// decoder reads a PDU body with the same sticky-error pattern as encoder.
type decoder struct {
	b   []byte
	off int
	err *StatusError
}

func (d *decoder) fail(s Status, format string, args ...any) {
	if d.err == nil {
		d.err = statusErrorf(s, format, args...)
	}
}

func (d *decoder) rest() int { return len(d.b) - d.off }

func (d *decoder) u8(name string) uint8 {
	if d.err != nil {
		return 0
	}
	if d.rest() < 1 {
		d.fail(ESME_RINVCMDLEN, "body ends before %s", name)
		return 0
	}
	v := d.b[d.off]
	d.off++
	return v
}

func (d *decoder) u32(name string) uint32 {
	if d.err != nil {
		return 0
	}
	if d.rest() < 4 {
		d.fail(ESME_RINVCMDLEN, "body ends inside %s", name)
		return 0
	}
	v := binary.BigEndian.Uint32(d.b[d.off:])
	d.off += 4
	return v
}

// cstring reads a NUL-terminated string of at most f.max octets.
func (d *decoder) cstring(f field) string {
	if d.err != nil {
		return ""
	}
	window := d.b[d.off:]
	if len(window) > f.max {
		window = window[:f.max]
	}
	i := bytes.IndexByte(window, 0)
	if i < 0 {
		if len(window) == f.max {
			d.fail(f.status, "%s longer than %d octets or not NUL-terminated", f.name, f.max-1)
		} else {
			d.fail(ESME_RINVCMDLEN, "body ends inside %s", f.name)
		}
		return ""
	}
	s := string(window[:i])
	d.off += i + 1
	return s
}

// shortMessage reads sm_length and short_message.
func (d *decoder) shortMessage() []byte {
	n := int(d.u8("sm_length"))
	if d.err != nil {
		return nil
	}
	if n > maxShortMessage {
		d.fail(ESME_RINVMSGLEN, "sm_length %d exceeds %d", n, maxShortMessage)
		return nil
	}
	if n > d.rest() {
		d.fail(ESME_RINVMSGLEN, "sm_length %d exceeds the %d octets left in the PDU", n, d.rest())
		return nil
	}
	return d.octets(n)
}

// octets copies n octets so the result does not alias the read buffer.
func (d *decoder) octets(n int) []byte {
	if n == 0 {
		return nil
	}
	v := bytes.Clone(d.b[d.off : d.off+n])
	d.off += n
	return v
}

// tlvs reads optional parameters up to the end of the body.
func (d *decoder) tlvs() TLVs {
	var t TLVs
	for d.err == nil && d.rest() > 0 {
		if d.rest() < 4 {
			d.fail(ESME_RINVOPTPARSTREAM, "%d stray octets where a TLV header was expected", d.rest())
			return nil
		}
		tag := Tag(binary.BigEndian.Uint16(d.b[d.off:]))
		n := int(binary.BigEndian.Uint16(d.b[d.off+2:]))
		d.off += 4
		if n > d.rest() {
			d.fail(ESME_RINVOPTPARSTREAM, "TLV 0x%04X length %d exceeds the %d octets left", uint16(tag), n, d.rest())
			return nil
		}
		if err := checkTLVLen(tag, n); err != nil {
			d.err = err
			return nil
		}
		t = append(t, TLV{Tag: tag, Value: d.octets(n)})
	}
	return t
}
