package media

import (
	"math"
	"sync"
	"time"
)

// Leg is what a Room needs of one member's audio: its decoded frames in
// (Tap) and a queue the mixer fills with what the member hears (SetFeed).
// *Channel is a Leg. A member whose call is held on another node joins
// through a Leg that carries frames between the nodes (the cluster's media
// relay), so the room stays on the node that holds its mixer.
type Leg interface {
	Tap(f func([]int16)) (remove func())
	SetFeed(f *FIFO)
}

// Talk thresholds: a member talks after talkOnFrames frames above
// talkLevel, and stops after talkOffFrames frames below it.
const (
	talkLevel     = -35.0 // dBov
	talkOnFrames  = 2     // 40 ms
	talkOffFrames = 25    // 500 ms
)

// talkEnergy is talkLevel as the sum of squares over one frame (full scale
// 32768): what the mixer compares each frame with, without a logarithm.
var talkEnergy = int64(math.Pow(10, talkLevel/10) * 32768 * 32768 * frameSamples)

// Room mixes its members' audio on its own 20 ms clock: each member hears
// the sum of the others (minus itself), prompts played into the room or to
// it alone, or its wait music while the room has not started or it is held.
// The mixing is 8 kHz 16-bit PCM in int32 accumulators, one pass over the
// members for the sums and one for their outputs: O(members) a frame.
type Room struct {
	mu      sync.Mutex
	members []*Member
	started bool
	prompt  *playback // into the room: everyone hears it and it is recorded
	queue   []*playback
	taps    map[int]func([]int16)
	tapID   int
	onTalk  func(m *Member, talking bool)
	closed  bool

	pub, whisper [frameSamples]int32
	out          [frameSamples]int16
	pending      []talkEvent
	stats        RoomStats
	dropped      int64 // samples of members' audio the in FIFOs dropped

	stop chan struct{}
	done chan struct{}
}

// LateAfter is how far past its due time a frame may be mixed and still
// count as on time in RoomStats: half a frame. Later than that, the mixer
// has fallen behind its clock (a busy machine) and members hear gaps or
// bursts.
const LateAfter = 10 * time.Millisecond

// RoomStats says how well a room keeps up with its 20 ms clock, since the
// room opened. A room keeps up when few of its frames are late or skipped
// and its members' audio is there when their frames are mixed.
type RoomStats struct {
	Ticks   int64         // frames mixed
	Late    int64         // of them, mixed more than LateAfter after they were due
	Skipped int64         // frames never mixed: the clock was more than maxCatchUp frames behind
	MaxLate time.Duration // the latest a frame was mixed
	// MemberFrames counts one per member per frame mixed; Missing those at
	// which the member's audio had not arrived (a silent member — no RTP —
	// counts too: it is arrival, not speech, that is measured); Dropped the
	// frames of a member's audio thrown away because they piled up unmixed;
	// Gaps the frames the member's call was to send while the mix for it
	// was not ready (the member hears a gap: the mixer was late).
	MemberFrames, Missing, Dropped, Gaps int64
}

// Stats returns the room's counters.
func (r *Room) Stats() RoomStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.stats
	st.Dropped = r.dropped / frameSamples
	return st
}

type talkEvent struct {
	m       *Member
	talking bool
}

// Member is one participant of a Room.
type Member struct {
	room   *Room
	leg    Leg
	in     FIFO
	out    *FIFO
	remove func()

	// Guarded by room.mu.
	muted, deaf, held bool
	// whisper: heard only by members with hearsWhisper (a coaching
	// supervisor heard by agents only).
	whisper, hearsWhisper bool
	music                 []int16
	musicPos              int
	prompt                *playback
	talking               bool
	run                   int // frames above (talking: below) the talk level
	frame                 [frameSamples]int16
	heard                 bool // frame holds audio this tick
	// Data for the owner: set once at Join.
	Data any
}

// NewRoom starts a room's clock; onTalk (may be nil) is told when a member
// starts or stops talking, on the room's goroutine (keep it quick).
func NewRoom(onTalk func(m *Member, talking bool)) *Room {
	r := &Room{taps: map[int]func([]int16){}, onTalk: onTalk, stop: make(chan struct{}), done: make(chan struct{})}
	go r.run()
	return r
}

// MemberOptions are a member's state when it joins.
type MemberOptions struct {
	Muted, Deaf, Held     bool
	Whisper, HearsWhisper bool
	Music                 []int16 // looped while the room has not started or the member is held
	Data                  any
}

// Join adds leg to the room. The mixer takes over the leg's feed until the
// member leaves.
func (r *Room) Join(leg Leg, o MemberOptions) *Member {
	m := &Member{room: r, leg: leg, out: &FIFO{}, muted: o.Muted, deaf: o.Deaf, held: o.Held,
		whisper: o.Whisper, hearsWhisper: o.HearsWhisper, music: o.Music, Data: o.Data}
	m.remove = leg.Tap(m.in.Push)
	leg.SetFeed(m.out)
	r.mu.Lock()
	r.members = append(r.members, m)
	r.mu.Unlock()
	return m
}

// Leave takes the member out of the room and gives its leg back.
func (m *Member) Leave() {
	r := m.room
	r.mu.Lock()
	for i, x := range r.members {
		if x == m {
			r.members = append(r.members[:i], r.members[i+1:]...)
			break
		}
	}
	if p := m.prompt; p != nil {
		m.prompt = nil
		closeDone(p)
	}
	r.mu.Unlock()
	m.remove()
	m.leg.SetFeed(nil)
}

// Members counts the members.
func (r *Room) Members() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.members)
}

// Start lets the members hear each other (startConferenceOnEnter).
func (r *Room) Start() {
	r.mu.Lock()
	r.started = true
	r.mu.Unlock()
}

// Started says whether the room has started.
func (r *Room) Started() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.started
}

// SetMuted: a muted member is not heard.
func (m *Member) SetMuted(v bool) { m.set(func() { m.muted = v }) }

// SetDeaf: a deaf member hears nothing but prompts played to it.
func (m *Member) SetDeaf(v bool) { m.set(func() { m.deaf = v }) }

// SetHeld: a held member hears its music and is not heard.
func (m *Member) SetHeld(v bool) { m.set(func() { m.held = v }) }

// SetWhisper: a whispering member is heard only by members that hear
// whispers (coach mode).
func (m *Member) SetWhisper(v bool) { m.set(func() { m.whisper = v }) }

// SetMusic replaces the member's wait or hold music.
func (m *Member) SetMusic(pcm []int16) { m.set(func() { m.music, m.musicPos = pcm, 0 }) }

// State reports muted, deaf and held.
func (m *Member) State() (muted, deaf, held bool) {
	m.room.mu.Lock()
	defer m.room.mu.Unlock()
	return m.muted, m.deaf, m.held
}

func (m *Member) set(f func()) {
	m.room.mu.Lock()
	f()
	m.room.mu.Unlock()
}

// Play plays pcm to this member only (over what it hears), replacing what
// played to it before; the returned channel closes when it has played or
// was stopped.
func (m *Member) Play(pcm []int16) <-chan struct{} {
	p := &playback{pcm: pcm, done: make(chan struct{})}
	m.room.mu.Lock()
	if old := m.prompt; old != nil {
		closeDone(old)
	}
	m.prompt = p
	m.room.mu.Unlock()
	return p.done
}

// StopPlay stops what plays to this member.
func (m *Member) StopPlay() {
	m.room.mu.Lock()
	if p := m.prompt; p != nil {
		m.prompt = nil
		closeDone(p)
	}
	m.room.mu.Unlock()
}

// Play queues pcm into the room: everyone hears it, after what is queued
// before it; the channel closes once it has played.
func (r *Room) Play(pcm []int16) <-chan struct{} {
	p := &playback{pcm: pcm, done: make(chan struct{})}
	r.mu.Lock()
	if r.closed {
		closeDone(p)
	} else if r.prompt == nil {
		r.prompt = p
	} else {
		r.queue = append(r.queue, p)
	}
	r.mu.Unlock()
	return p.done
}

// StopPlay stops the room's prompt and drops the queued ones.
func (r *Room) StopPlay() {
	r.mu.Lock()
	r.stopPrompts()
	r.mu.Unlock()
}

func (r *Room) stopPrompts() {
	if r.prompt != nil {
		closeDone(r.prompt)
		r.prompt = nil
	}
	for _, p := range r.queue {
		closeDone(p)
	}
	r.queue = nil
}

func closeDone(p *playback) {
	select {
	case <-p.done:
	default:
		close(p.done)
	}
}

// TapMix registers f to get every frame of the room's mix (all members
// heard, whispers and room prompts): what a recording of the room holds.
func (r *Room) TapMix(f func([]int16)) (remove func()) {
	r.mu.Lock()
	r.tapID++
	id := r.tapID
	r.taps[id] = f
	r.mu.Unlock()
	return func() {
		r.mu.Lock()
		delete(r.taps, id)
		r.mu.Unlock()
	}
}

// Close stops the clock; members still in the room keep their feeds until
// they Leave.
func (r *Room) Close() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	r.stopPrompts()
	r.mu.Unlock()
	close(r.stop)
	<-r.done
}

func (r *Room) run() {
	defer close(r.done)
	const frame = 20 * time.Millisecond
	t := time.NewTicker(frame)
	defer t.Stop()
	start := time.Now()
	var sent int64
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
		}
		now := time.Since(start)
		due := int64(now / frame)
		n := min(due-sent, maxCatchUp)
		skipped := due - sent - n
		sent = due
		for i := range n {
			// Frame due-n+1+i was due at that many frames after start.
			late := time.Since(start) - time.Duration(due-n+1+i)*frame
			r.mu.Lock()
			r.stats.Skipped += skipped
			skipped = 0
			if late > LateAfter {
				r.stats.Late++
			}
			r.stats.MaxLate = max(r.stats.MaxLate, late)
			r.mu.Unlock()
			r.Tick()
		}
	}
}

// Tick mixes one 20 ms frame. The room's clock calls it; benchmarks call it
// directly.
func (r *Room) Tick() {
	r.mu.Lock()
	clear(r.pub[:])
	clear(r.whisper[:])
	r.stats.Ticks++
	r.stats.MemberFrames += int64(len(r.members))
	for _, m := range r.members {
		r.dropped += int64(m.in.takeDropped())
		r.stats.Gaps += int64(m.out.takeShort())
		m.heard = m.in.Pop(m.frame[:])
		if !m.heard {
			r.stats.Missing++
			m.talk(r, false)
			continue
		}
		var e int64
		for _, v := range m.frame {
			e += int64(v) * int64(v)
		}
		loud := e >= talkEnergy
		if m.muted || m.held || !r.started {
			m.heard = false
			loud = false
		}
		m.talk(r, loud)
		if !m.heard {
			continue
		}
		acc := &r.pub
		if m.whisper {
			acc = &r.whisper
		}
		for i, v := range m.frame {
			acc[i] += int32(v)
		}
	}
	// The room's prompt is part of everyone's mix.
	if p := r.prompt; p != nil {
		n := min(frameSamples, len(p.pcm)-p.pos)
		for i := range n {
			r.pub[i] += int32(p.pcm[p.pos+i])
		}
		p.pos += n
		if p.pos >= len(p.pcm) {
			closeDone(p)
			r.prompt = nil
			if len(r.queue) > 0 {
				r.prompt, r.queue = r.queue[0], r.queue[1:]
			}
		}
	}
	if len(r.taps) > 0 {
		for i := range r.out {
			r.out[i] = clip(r.pub[i] + r.whisper[i])
		}
		for _, f := range r.taps {
			f(r.out[:])
		}
	}
	for _, m := range r.members {
		r.mixFor(m)
	}
	events := r.pending
	r.pending = r.pending[:0]
	onTalk := r.onTalk
	r.mu.Unlock()
	if onTalk != nil {
		for _, ev := range events {
			onTalk(ev.m, ev.talking)
		}
	}
}

// mixFor sends m its frame: the room minus itself, or its music.
func (r *Room) mixFor(m *Member) {
	var f [frameSamples]int32
	switch {
	case m.held || !r.started:
		if len(m.music) > 0 {
			for i := range f {
				if m.musicPos >= len(m.music) {
					m.musicPos = 0
				}
				f[i] = int32(m.music[m.musicPos])
				m.musicPos++
			}
		}
		if !m.held {
			// Before the start nobody is mixed in: pub holds only the
			// room's prompt (entry beeps), which waiting members hear.
			for i, v := range r.pub {
				f[i] += v
			}
		}
	case !m.deaf:
		f = r.pub
		if m.hearsWhisper {
			for i := range f {
				f[i] += r.whisper[i]
			}
		}
		if m.heard && (!m.whisper || m.hearsWhisper) {
			for i, v := range m.frame {
				f[i] -= int32(v)
			}
		}
	}
	if p := m.prompt; p != nil {
		n := min(frameSamples, len(p.pcm)-p.pos)
		for i := range n {
			f[i] += int32(p.pcm[p.pos+i])
		}
		p.pos += n
		if p.pos >= len(p.pcm) {
			closeDone(p)
			m.prompt = nil
		}
	}
	var out [frameSamples]int16
	for i, v := range f {
		out[i] = clip(v)
	}
	m.out.Push(out[:])
}

// talk runs the member's talker detector on one frame's verdict.
func (m *Member) talk(r *Room, loud bool) {
	if loud == m.talking {
		m.run = 0
		return
	}
	m.run++
	need := talkOnFrames
	if m.talking {
		need = talkOffFrames
	}
	if m.run >= need {
		m.talking, m.run = loud, 0
		r.pending = append(r.pending, talkEvent{m, loud})
	}
}

// Talking says whether the member is talking now.
func (m *Member) Talking() bool {
	m.room.mu.Lock()
	defer m.room.mu.Unlock()
	return m.talking
}

func clip(v int32) int16 { return int16(max(-32768, min(32767, v))) }
