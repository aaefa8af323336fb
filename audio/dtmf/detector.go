package dtmf

import "time"

// Detector turns a stream of RTP packets into key presses, each reported
// once. Feed it every packet of the call's stream (audio too: audio
// timestamps well past an event whose end packets were lost close it).
//
// It copes with what real senders do:
//   - a first packet with duration 0, or without the marker bit;
//   - lost first packets (an event starts at whatever packet arrives first);
//   - the end packet sent three times, and late or reordered packets of an
//     event already reported;
//   - lost end packets: the event is reported when the next event starts,
//     when audio moves 200 ms past it, on Expire, or on Flush;
//   - long presses, segmented at 0xFFFF samples (RFC 4733 §2.5.1.3);
//   - timestamp wrap-around, timestamps going backwards (SIPp replays
//     pcaps in any order), and the same pcap replayed twice (the same
//     timestamp again, starting with a marker or a zero duration);
//   - a change of SSRC, which starts a new stream.
//
// It is not safe for concurrent use: one per call, on its one RTP reader.
type Detector struct {
	pt uint8

	ssrc     uint32
	haveSSRC bool

	cur struct {
		active   bool
		ended    bool // reported
		code     uint8
		start    uint32 // timestamp of the first segment: the event's key
		seg      uint32 // timestamp of the current segment
		segDur   uint32 // highest duration seen in the current segment
		before   uint32 // duration of earlier segments
		packets  int
		lastSeen time.Time
	}
	recent [16]uint32 // timestamps (segment and start) of reported events
	nrec   int
	next   int
}

// NewDetector returns a detector for telephone-event payload type pt (as
// negotiated in SDP, often 101).
func NewDetector(pt uint8) *Detector { return &Detector{pt: pt} }

// audioGuard is how far (in samples) audio must move past an unfinished
// event before it is reported: 200 ms at 8 kHz, more than any sender's
// update interval.
const audioGuard = 1600

// longPressSegment: a segment this long may be followed by the next segment
// of the same press (they are cut at 0xFFFF, reported at the sender's
// last update before it).
const longPressSegment = 0xFFFF - 4000

// Feed processes one packet and appends any completed key presses to dst.
// now is the arrival time used by Expire; it may be zero.
func (d *Detector) Feed(dst []Event, p Packet, now time.Time) []Event {
	if p.PayloadType != d.pt {
		return d.audio(dst, p)
	}
	pl, err := ParsePayload(p.Payload)
	if err != nil || pl.Event > 15 {
		return dst // flash and other named events are not keys
	}
	if d.haveSSRC && p.SSRC != d.ssrc {
		dst = d.flush(dst)
		d.nrec, d.next = 0, 0
	}
	d.ssrc, d.haveSSRC = p.SSRC, true

	c := &d.cur
	ts := p.Timestamp
	// A marker or a zero duration (without the end bit) opens an event. At
	// a timestamp already reported it is the same key pressed again with a
	// replayed timestamp; a straggler of the old event carries neither.
	opens := (p.Marker || pl.Duration == 0) && !pl.End
	switch {
	case c.active && !c.ended && ts == c.seg:
		c.packets++
		c.lastSeen = now
		c.segDur = max(c.segDur, uint32(pl.Duration))
		if pl.End {
			dst = d.report(dst, true)
		}
		return dst

	case c.active && !c.ended && !p.Marker && pl.Event == c.code &&
		c.segDur >= longPressSegment && ts-c.seg <= c.segDur+audioGuard:
		// The next segment of a long press.
		c.before += ts - c.seg
		c.seg = ts
		c.segDur = uint32(pl.Duration)
		c.packets++
		c.lastSeen = now
		if pl.End {
			dst = d.report(dst, true)
		}
		return dst

	case opens:
		// A new event.

	case c.active && ts == c.seg, d.isRecent(ts):
		return dst // redundant end packets, late packets of a reported event
	}
	return d.start(dst, p, pl, now)
}

// start begins a new event, reporting an unfinished previous one.
func (d *Detector) start(dst []Event, p Packet, pl Payload, now time.Time) []Event {
	dst = d.flush(dst)
	c := &d.cur
	c.active, c.ended = true, false
	c.code = pl.Event
	c.start, c.seg = p.Timestamp, p.Timestamp
	c.segDur, c.before = uint32(pl.Duration), 0
	c.packets = 1
	c.lastSeen = now
	if pl.End {
		dst = d.report(dst, true)
	}
	return dst
}

func (d *Detector) audio(dst []Event, p Packet) []Event {
	c := &d.cur
	if !c.active || c.ended || !d.haveSSRC || p.SSRC != d.ssrc {
		return dst
	}
	// Serial-number arithmetic: correct across the 2^32 wrap.
	if past := int32(p.Timestamp - (c.seg + c.segDur)); past > audioGuard {
		return d.flush(dst)
	}
	return dst
}

// Expire reports an unfinished event whose last packet arrived more than
// after ago (at now): the end packets were lost and the sender has gone
// quiet. Call it from the call's timer, e.g. before a digit timeout fires.
func (d *Detector) Expire(dst []Event, now time.Time, after time.Duration) []Event {
	c := &d.cur
	if c.active && !c.ended && !c.lastSeen.IsZero() && now.Sub(c.lastSeen) > after {
		return d.flush(dst)
	}
	return dst
}

// Flush reports an unfinished event, if any; call it when the stream
// ends.
func (d *Detector) Flush(dst []Event) []Event { return d.flush(dst) }

// Pending reports whether an event has started and not been reported.
func (d *Detector) Pending() bool { return d.cur.active && !d.cur.ended }

func (d *Detector) flush(dst []Event) []Event {
	c := &d.cur
	if !c.active || c.ended {
		return dst
	}
	// A lone packet with no duration is too thin to call a key press.
	if c.packets < 2 && c.segDur == 0 && c.before == 0 {
		c.active = false
		return dst
	}
	return d.report(dst, false)
}

func (d *Detector) report(dst []Event, ended bool) []Event {
	c := &d.cur
	c.ended = true
	d.remember(c.start)
	if c.seg != c.start {
		d.remember(c.seg)
	}
	r, _ := DigitForCode(c.code)
	return append(dst, Event{Digit: r, Code: c.code, Timestamp: c.start, Duration: c.before + c.segDur, Ended: ended})
}

func (d *Detector) remember(ts uint32) {
	d.recent[d.next] = ts
	d.next = (d.next + 1) % len(d.recent)
	d.nrec = min(d.nrec+1, len(d.recent))
}

func (d *Detector) isRecent(ts uint32) bool {
	for i := range d.nrec {
		if d.recent[i] == ts {
			return true
		}
	}
	return false
}
