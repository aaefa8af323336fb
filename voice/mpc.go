package voice

import (
	"context"
	"encoding/xml"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/media"
	"github.com/trunkline/trunkline/plivoxml"
)

// <MultiPartyCall>: the call joins a multi-party call of its account (by
// friendly name) with a role — agent, customer or supervisor — on the same
// mixer as <Conference> (media.Room). Roles decide who hears whom: a
// supervisor in coach mode is heard by agents only; a participant on hold
// hears its hold music and is not heard. The MPC is Initialized until a
// participant with startMpcOnEnter joins (then Active), and Ended when the
// last participant leaves, one with endMpcOnExit leaves, maxDuration passes
// or the API ends it. Ended MPCs stay listed for a while (mpcKeepEnded).
func init() {
	register(handler[plivoxml.MultiPartyCall]{needsAnswer: true, run: runMPC})
}

// mpcKeepEnded is how many ended MPCs a node remembers for the API (in
// memory: an MPC's record is its participants' CDRs and recordings, which
// are stored; the list of ended MPCs is a convenience that does not
// survive a restart).
const mpcKeepEnded = 1000

type mpcs struct {
	mu    sync.Mutex
	live  map[confKey]*mpc
	ended []*mpc
}

type mpc struct {
	s       *Server
	key     confKey
	uuid    string
	created time.Time
	room    *media.Room

	mu        sync.Mutex
	status    string
	started   *time.Time
	endedAt   *time.Time
	cause     string
	causeCode int
	parts     []*mpcPart // all who joined, in order (exited ones too)
	next      int
	rec       *roomRecording
	attrs     mpcAttrs // the first participant's: the MPC's own settings
	timer     *time.Timer
}

type mpcPart struct {
	id       string
	role     string
	call     *Call
	m        *media.Member
	a        mpcAttrs
	joined   time.Time
	exited   *time.Time
	cause    string
	mute     bool
	hold     bool
	coach    bool
	out      chan struct{}
	once     sync.Once
	why      string
	holdPCM  []int16
	recordID string // a participant recording under way (the call's own)
}

func (p *mpcPart) leave(why string) {
	p.once.Do(func() {
		p.why = why
		close(p.out)
	})
}

// mpcAttrs are a participant's <MultiPartyCall> attributes with Plivo's defaults.
type mpcAttrs map[string]string

func (a mpcAttrs) get(k, def string) string {
	if v, ok := a[k]; ok && v != "" {
		return v
	}
	return def
}

func (a mpcAttrs) flag(k string, def bool) bool {
	return a.get(k, strconv.FormatBool(def)) == "true"
}

func (a mpcAttrs) num(k string, def int) int {
	if n, err := strconv.Atoi(a.get(k, "")); err == nil {
		return n
	}
	return def
}

// mpcTime formats like Plivo's MPC times.
func mpcTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05-07:00") }

func runMPC(ctx context.Context, c *Call, e plivoxml.MultiPartyCall, _ bool) (*plivoxml.Response, error) {
	ch := c.channel()
	if ch == nil {
		return nil, nil
	}
	a := mpcAttrs(e.Attrs)
	role := strings.ToLower(e.Role)
	var hold, wait []int16
	holdURL := a.get("customerHoldMusicUrl", "")
	if role == "agent" {
		holdURL = a.get("agentHoldMusicUrl", "")
	}
	if holdURL != "" {
		hold = c.soundPCM(ctx, holdURL)
	}
	if u := a.get("waitMusicUrl", ""); u != "" {
		wait = c.soundPCM(ctx, u)
	}
	enter := c.soundPCM(ctx, soundOrNone(a.get("enterSound", "beep:1")))
	m, p, err := c.s.joinMPC(c, e.MPCName, role, a)
	if err != nil {
		c.s.log.Info("multi-party call full", "call", c.rec.UUID)
		return nil, nil
	}
	p.holdPCM = hold
	music := wait
	if p.hold {
		music = hold
	}
	m.mu.Lock()
	p.m = m.room.Join(ch, media.MemberOptions{Muted: p.mute, Held: p.hold, Music: music, Data: p,
		Whisper: role == "supervisor" && p.coach, HearsWhisper: role != "customer"})
	m.mu.Unlock()
	m.event("ParticipantJoin", p)
	if a.flag("startMpcOnEnter", true) {
		m.start()
	}
	if len(enter) > 0 {
		m.room.Play(enter)
	}
	ch.FlushDigits()
	why := ""
	for why == "" {
		select {
		case <-ctx.Done():
			why = "Participant Call Hangup"
		case <-p.out:
			why = p.why
		case k := <-ch.Digits():
			if a.flag("relayDTMFInputs", false) {
				m.relay(p, k)
			}
			m.event("ParticipantDigitInput", p, "DTMFInput", string(k))
		}
	}
	m.leave(p, why)
	if why == "hangup" {
		c.hangup(CauseNormal.With(SourceAPI), "removed from the multi-party call")
		return nil, errStop
	}
	u := a.get("onExitActionUrl", "")
	if ctx.Err() != nil || u == "" {
		return nil, nil
	}
	q := c.params(c.status())
	q.Set("MPCUUID", m.uuid)
	q.Set("MPCFriendlyName", m.key.name)
	q.Set("MemberID", p.id)
	q.Set("ParticipantCallUUID", c.rec.UUID)
	q.Set("ParticipantJoinTime", mpcTime(p.joined))
	q.Set("ParticipantEndTime", mpcTime(time.Now()))
	q.Set("ParticipantRole", role)
	return c.fetch(ctx, "mpc_exit_action", u, a.get("onExitActionMethod", "POST"), q)
}

func soundOrNone(s string) string {
	if s == "none" {
		return ""
	}
	return s
}

// joinMPC adds c to the named MPC, opening it when it is not live.
func (s *Server) joinMPC(c *Call, name, role string, a mpcAttrs) (*mpc, *mpcPart, error) {
	k := confKey{c.rec.AccountID, name}
	s.mpcs.mu.Lock()
	defer s.mpcs.mu.Unlock()
	if s.mpcs.live == nil {
		s.mpcs.live = map[confKey]*mpc{}
	}
	m := s.mpcs.live[k]
	if m != nil {
		// end marks an MPC ended before it forgets it: one ending now is
		// not joined (nobody would tell the newcomer to leave its dead room).
		m.mu.Lock()
		ending := m.endedAt != nil
		m.mu.Unlock()
		if ending {
			m = nil
		}
	}
	if m == nil {
		m = &mpc{s: s, key: k, uuid: newUUID(), created: s.o.Now().UTC(), status: "Initialized", attrs: a}
		m.room = media.NewRoom(m.talk)
		s.mpcs.live[k] = m
		if d := a.num("maxDuration", 14400); d > 0 {
			m.timer = time.AfterFunc(time.Duration(d)*time.Second, func() { m.end("MPC Max Duration Reached", 1010) })
		}
		m.event("MPCInitialized", nil)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	in := 0
	for _, p := range m.parts {
		if p.exited == nil {
			in++
		}
	}
	if in >= m.attrs.num("maxParticipants", 10) {
		return nil, nil, errRoomFull
	}
	m.next++
	p := &mpcPart{id: strconv.Itoa(m.next), role: role, call: c, a: a, joined: s.o.Now().UTC(), out: make(chan struct{}),
		mute: a.flag("mute", false), hold: a.flag("hold", false), coach: role == "supervisor" && a.flag("coachMode", true)}
	m.parts = append(m.parts, p)
	return m, p, nil
}

// start makes the MPC Active: its participants hear each other.
func (m *mpc) start() {
	m.mu.Lock()
	if m.status != "Initialized" {
		m.mu.Unlock()
		return
	}
	now := m.s.o.Now().UTC()
	m.status, m.started = "Active", &now
	record := m.attrs.flag("record", false) && m.rec == nil
	m.mu.Unlock()
	m.room.Start()
	m.event("MPCStart", nil)
	if record {
		m.record(m.attrs.get("recordFileFormat", "mp3"), m.attrs.get("recordingCallbackUrl", ""), m.attrs.get("recordingCallbackMethod", "GET"))
	}
}

// leave takes p out: exit sound, the events, the end of the MPC when p
// ends it or leaves it empty (or alone with one that may not stay alone).
func (m *mpc) leave(p *mpcPart, why string) {
	p.m.Leave()
	now := m.s.o.Now().UTC()
	m.mu.Lock()
	p.exited, p.cause = &now, why
	// An ended MPC stays listed (mpcKeepEnded): what it keeps of a participant
	// is what the API shows, not its media (the mixer's member holds the
	// call's channel and up to ten minutes of music, the hold music as much).
	p.m, p.holdPCM = nil, nil
	active := m.status == "Active"
	var left []*mpcPart
	for _, x := range m.parts {
		if x.exited == nil {
			left = append(left, x)
		}
	}
	m.mu.Unlock()
	if len(left) > 0 {
		if pcm := p.call.soundPCM(context.Background(), soundOrNone(p.a.get("exitSound", "beep:2"))); len(pcm) > 0 {
			m.room.Play(pcm)
		}
	}
	m.event("ParticipantExit", p)
	switch {
	case len(left) == 0:
		m.end("Last Participant Left", 2000)
	case p.a.flag("endMpcOnExit", false):
		m.end("Participant With EndMpcOnExit Left", 2000)
	case len(left) == 1 && !left[0].a.flag("stayAlone", false) && active:
		m.end("Only One Participant Left", 2000)
	}
}

// end ends the MPC: XML participants go on with their next element.
func (m *mpc) end(cause string, code int) {
	s := m.s
	m.mu.Lock()
	if m.endedAt != nil {
		m.mu.Unlock()
		return
	}
	now := s.o.Now().UTC()
	m.endedAt, m.status, m.cause, m.causeCode = &now, "Ended", cause, code
	var in []*mpcPart
	for _, p := range m.parts {
		if p.exited == nil {
			in = append(in, p)
		}
	}
	rec := m.rec
	m.rec = nil
	m.mu.Unlock()
	if m.timer != nil {
		m.timer.Stop()
	}
	s.mpcs.mu.Lock()
	if s.mpcs.live[m.key] == m {
		delete(s.mpcs.live, m.key)
	}
	s.mpcs.ended = append(s.mpcs.ended, m)
	if len(s.mpcs.ended) > mpcKeepEnded {
		s.mpcs.ended = s.mpcs.ended[len(s.mpcs.ended)-mpcKeepEnded:]
	}
	s.mpcs.mu.Unlock()
	for _, p := range in {
		p.leave("MPC Ended")
	}
	if rec != nil {
		rec.stop()
	}
	m.event("MPCEnd", nil)
	go m.room.Close()
}

func (m *mpc) relay(from *mpcPart, k rune) {
	m.mu.Lock()
	var others []*mpcPart
	for _, p := range m.parts {
		if p != from && p.exited == nil {
			others = append(others, p)
		}
	}
	m.mu.Unlock()
	for _, p := range others {
		if ch := p.call.channel(); ch != nil {
			go ch.SendDigits(p.call.ctx, string(k))
		}
	}
}

func (m *mpc) talk(mm *media.Member, talking bool) {
	if p, ok := mm.Data.(*mpcPart); ok {
		ev := "ParticipantSpeakStop"
		if talking {
			ev = "ParticipantSpeakStart"
		}
		m.event(ev, p)
	}
}

// mpcEventGroup is the statusCallbackEvents group of each event.
func mpcEventGroup(ev string) string {
	switch {
	case strings.HasPrefix(ev, "MPC"):
		return "mpc-state-changes"
	case strings.HasPrefix(ev, "ParticipantSpeak"):
		return "participant-speak-events"
	case ev == "ParticipantDigitInput":
		return "participant-digit-input-events"
	case strings.HasPrefix(ev, "AddParticipantByAPI"):
		return "add-participant-api-events"
	}
	return "participant-state-changes"
}

// event posts an MPC status callback (Plivo's parameters) when the MPC's
// statusCallbackUrl asks for its group; p is the participant concerned
// (nil for the MPC's own events).
func (m *mpc) event(name string, p *mpcPart, extra ...string) {
	a := m.attrs
	if p != nil {
		a = p.a
	}
	u := a.get("statusCallbackUrl", "")
	if u == "" {
		return
	}
	groups := strings.Split(a.get("statusCallbackEvents", "mpc-state-changes,participant-state-changes"), ",")
	if !slices.Contains(groups, mpcEventGroup(name)) {
		return
	}
	m.mu.Lock()
	q := url.Values{}
	q.Set("EventName", name)
	q.Set("EventTimestamp", mpcTime(time.Now()))
	q.Set("MPCUUID", m.uuid)
	q.Set("MPCName", m.key.name)
	dur := 0
	if m.started != nil {
		dur = int(time.Since(*m.started) / time.Second)
	}
	q.Set("MPCDuration", strconv.Itoa(dur))
	q.Set("MPCBilledDuration", strconv.Itoa(dur))
	q.Set("MPCBilledAmount", "0.00000")
	var c *Call
	if p != nil {
		q.Set("MemberID", p.id)
		q.Set("ParticipantRole", p.role)
		q.Set("ParticipantCallUUID", p.call.rec.UUID)
		q.Set("ParticipantCoachMode", strconv.FormatBool(p.coach))
		c = p.call
	} else if len(m.parts) > 0 {
		c = m.parts[0].call
	}
	m.mu.Unlock()
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	if c == nil {
		return // MPCInitialized before anyone is in: told with the first join
	}
	method := a.get("statusCallbackMethod", "POST")
	c.background(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := c.callback(ctx, "mpc_status", u, method, q); err != nil {
			m.s.log.Warn("mpc statusCallbackUrl", "mpc", m.uuid, "err", err)
		}
	})
}

// record starts recording the MPC's mix unless it already records.
func (m *mpc) record(format, cb, method string) *roomRecording {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.rec != nil {
		return m.rec
	}
	var c *Call
	for _, p := range m.parts {
		if p.exited == nil {
			c = p.call
			break
		}
	}
	if c == nil {
		return nil
	}
	r := m.s.startRoomRecording(m.room, c, format, 0, cb, method, func(r *roomRecording) {
		m.mu.Lock()
		if m.rec == r {
			m.rec = nil
		}
		m.mu.Unlock()
	})
	r.report = func(rec *trunkline.Recording) url.Values {
		q := url.Values{}
		q.Set("EventName", "MPCRecordingCompleted")
		q.Set("EventTimestamp", mpcTime(time.Now()))
		q.Set("MPCName", m.key.name)
		q.Set("MPCUUID", m.uuid)
		q.Set("RecordingDuration", strconv.FormatInt((rec.DurationMs+500)/1000, 10))
		q.Set("RecordingFormat", rec.Format)
		q.Set("RecordingURL", r.url)
		q.Set("RecordingUUID", r.id)
		q.Set("RecordingStartTime", mpcTime(time.UnixMilli(rec.StartMs)))
		q.Set("RecordingEndTime", mpcTime(time.UnixMilli(rec.EndMs)))
		q.Set("SequenceNumber", "1")
		return q
	}
	m.rec = r
	return r
}

// The MPC API (trunkline.MPCService).

func (s *Server) findMPC(accountID, id string) *mpc {
	s.mpcs.mu.Lock()
	defer s.mpcs.mu.Unlock()
	if name, ok := strings.CutPrefix(id, "name_"); ok {
		return s.mpcs.live[confKey{accountID, name}]
	}
	if u, ok := strings.CutPrefix(id, "uuid_"); ok {
		for k, m := range s.mpcs.live {
			if k.account == accountID && m.uuid == u {
				return m
			}
		}
		for _, m := range s.mpcs.ended {
			if m.key.account == accountID && m.uuid == u {
				return m
			}
		}
	}
	return nil
}

func (m *mpc) view() trunkline.MPC {
	m.mu.Lock()
	defer m.mu.Unlock()
	v := trunkline.MPC{AccountID: m.key.account, Name: m.key.name, UUID: m.uuid, Status: m.status, Recording: "not-recording",
		StayAlone: m.attrs.flag("stayAlone", false), Created: m.created, Started: m.started, Ended: m.endedAt,
		TerminationCause: m.cause, TerminationCauseCode: m.causeCode}
	if m.rec != nil {
		v.Recording = "recording"
		m.rec.mu.Lock()
		if m.rec.paused {
			v.Recording = "paused"
		}
		m.rec.mu.Unlock()
	}
	for _, p := range m.parts {
		v.Participants = append(v.Participants, trunkline.MPCParticipant{MemberID: p.id, CallUUID: p.call.rec.UUID, Role: p.role,
			Address: p.call.rec.From, Mute: p.mute, Hold: p.hold, CoachMode: p.coach, EndMPCOnExit: p.a.flag("endMpcOnExit", false),
			StartMPCOnEnter: p.a.flag("startMpcOnEnter", true), Joined: p.joined, Exited: p.exited, ExitCause: p.cause})
	}
	return v
}

// MPCs lists the account's live and remembered ended MPCs, newest first.
func (s *Server) MPCs(accountID string) []trunkline.MPC {
	s.mpcs.mu.Lock()
	var list []*mpc
	for k, m := range s.mpcs.live {
		if k.account == accountID {
			list = append(list, m)
		}
	}
	for _, m := range s.mpcs.ended {
		if m.key.account == accountID {
			list = append(list, m)
		}
	}
	s.mpcs.mu.Unlock()
	out := make([]trunkline.MPC, 0, len(list))
	for _, m := range list {
		out = append(out, m.view())
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out
}

// MPC describes one multi-party call.
func (s *Server) MPC(accountID, id string) (trunkline.MPC, error) {
	m := s.findMPC(accountID, id)
	if m == nil {
		return trunkline.MPC{}, trunkline.ErrNoMPC
	}
	return m.view(), nil
}

// errMPCEnded: a command that needs a live MPC.
var errMPCEnded = &trunkline.Error{Code: trunkline.EINVALID, Message: "the multi-party call has ended"}

// MPCCommand runs an MPC API command.
func (s *Server) MPCCommand(ctx context.Context, accountID, id string, cmd trunkline.MPCCommand) (trunkline.MPCResult, error) {
	m := s.findMPC(accountID, id)
	if m == nil {
		return trunkline.MPCResult{}, trunkline.ErrNoMPC
	}
	m.mu.Lock()
	ended := m.endedAt != nil
	m.mu.Unlock()
	if ended {
		return trunkline.MPCResult{}, errMPCEnded
	}
	switch cmd.Kind {
	case "start":
		m.start()
		return trunkline.MPCResult{}, nil
	case "end":
		m.end("MPC Ended By API", 1000)
		return trunkline.MPCResult{}, nil
	case "record":
		r := m.record(cmd.FileFormat, cmd.CallbackURL, cmd.CallbackMethod)
		if r == nil {
			return trunkline.MPCResult{}, ErrNoMedia
		}
		return trunkline.MPCResult{RecordingID: r.id, URL: r.url}, nil
	case "stop_record", "pause_record", "resume_record":
		m.mu.Lock()
		r := m.rec
		if cmd.Kind == "stop_record" {
			m.rec = nil
		}
		m.mu.Unlock()
		if r == nil {
			return trunkline.MPCResult{}, &trunkline.Error{Code: trunkline.EINVALID, Message: "the multi-party call is not being recorded"}
		}
		switch cmd.Kind {
		case "stop_record":
			r.stop()
		case "pause_record":
			r.pause(true)
		default:
			r.pause(false)
		}
		return trunkline.MPCResult{}, nil
	case "add":
		return s.addParticipant(m, cmd)
	}
	m.mu.Lock()
	var parts []*mpcPart
	for _, p := range m.parts {
		if p.exited == nil && p.m != nil && (cmd.All || slices.Contains(cmd.Members, p.id)) {
			parts = append(parts, p)
		}
	}
	m.mu.Unlock()
	if len(parts) == 0 {
		return trunkline.MPCResult{}, trunkline.ErrNoMember
	}
	var pcm []int16
	if cmd.Kind == "play" {
		p, err := s.roomAudio(ctx, cmd.URL)
		if err != nil {
			return trunkline.MPCResult{}, err
		}
		pcm = p
	}
	var res trunkline.MPCResult
	for _, p := range parts {
		res.MemberIDs = append(res.MemberIDs, p.id)
		switch cmd.Kind {
		case "kick":
			p.leave("Kicked Out of Multiparty Call")
		case "update":
			m.update(p, cmd)
		case "play":
			if mm := m.member(p); mm != nil {
				mm.Play(pcm)
			}
		case "stop_play":
			if mm := m.member(p); mm != nil {
				mm.StopPlay()
			}
		case "participant_record", "stop_participant_record", "pause_participant_record", "resume_participant_record":
			r, err := s.participantRecording(ctx, p, cmd)
			if err != nil {
				return trunkline.MPCResult{}, err
			}
			if r.RecordingID != "" {
				res.RecordingID, res.URL = r.RecordingID, r.URL
			}
		default:
			return trunkline.MPCResult{}, ErrBadInput
		}
	}
	return res, nil
}

// member is p's member of the mixer; nil once p has left.
func (m *mpc) member(p *mpcPart) *media.Member {
	m.mu.Lock()
	defer m.mu.Unlock()
	return p.m
}

// update applies mute, hold and coach mode, with their events.
func (m *mpc) update(p *mpcPart, cmd trunkline.MPCCommand) {
	m.mu.Lock()
	if p.m == nil {
		m.mu.Unlock()
		return // it left since it was chosen
	}
	var events []string
	if v := cmd.Mute; v != nil && *v != p.mute {
		p.mute = *v
		p.m.SetMuted(*v)
		events = append(events, map[bool]string{true: "ParticipantMute", false: "ParticipantUnmute"}[*v])
	}
	if v := cmd.Hold; v != nil && *v != p.hold {
		p.hold = *v
		p.m.SetHeld(*v)
		if *v {
			p.m.SetMusic(p.holdPCM)
		}
		events = append(events, map[bool]string{true: "ParticipantHold", false: "ParticipantUnhold"}[*v])
	}
	if v := cmd.CoachMode; v != nil && *v != p.coach && p.role == "supervisor" {
		p.coach = *v
		p.m.SetWhisper(*v)
		events = append(events, map[bool]string{true: "ParticipantCoachModeStart", false: "ParticipantCoachModeStop"}[*v])
	}
	m.mu.Unlock()
	for _, ev := range events {
		m.event(ev, p)
	}
	if len(events) > 0 && cmd.CoachMode != nil {
		m.room.Play(p.call.soundPCM(context.Background(), "beep:1"))
	}
}

// participantRecording records a participant's call, both directions (the
// call's own recording, as the Call API's), or stops, pauses or resumes it.
func (s *Server) participantRecording(ctx context.Context, p *mpcPart, cmd trunkline.MPCCommand) (trunkline.CommandResult, error) {
	kind := map[string]string{"participant_record": "record", "stop_participant_record": "stop_record",
		"pause_participant_record": "pause_record", "resume_participant_record": "resume_record"}[cmd.Kind]
	c := p.call
	ch := c.channel()
	if ch == nil {
		return trunkline.CommandResult{}, ErrNoMedia
	}
	switch kind {
	case "record":
		return c.startRecording(ch, trunkline.CallCommand{Kind: "record", FileFormat: cmd.FileFormat, TimeLimit: 4 * time.Hour,
			CallbackURL: cmd.CallbackURL, CallbackMethod: cmd.CallbackMethod})
	case "stop_record":
		c.stopRecordings()
	default:
		c.pauseRecordings(kind == "pause_record")
	}
	return trunkline.CommandResult{}, nil
}

// addParticipant places a call (or moves a live one) into the MPC: it runs
// a <MultiPartyCall> of the given role with the request's attributes.
func (s *Server) addParticipant(m *mpc, cmd trunkline.MPCCommand) (trunkline.MPCResult, error) {
	doc, err := mpcDocument(m.key.name, cmd.Role, cmd.Attrs)
	if err != nil {
		return trunkline.MPCResult{}, err
	}
	m.event("AddParticipantByAPIActionInitiated", nil)
	if cmd.CallUUID != "" {
		v, ok := s.calls.Load(cmd.CallUUID)
		if !ok {
			return trunkline.MPCResult{}, trunkline.ErrNoLiveCall
		}
		c := v.(*Call)
		if c.rec.AccountID != m.key.account {
			return trunkline.MPCResult{}, trunkline.ErrNoLiveCall
		}
		parsed, err := plivoxml.ParseResponse([]byte(doc))
		if err != nil {
			return trunkline.MPCResult{}, ErrBadInput
		}
		if err := c.transferDoc(parsed); err != nil {
			return trunkline.MPCResult{}, err
		}
		return trunkline.MPCResult{CallUUIDs: []string{c.rec.UUID}}, nil
	}
	var res trunkline.MPCResult
	for _, to := range strings.Split(cmd.To, "<") {
		rq := newUUID()
		c, err := s.Originate(trunkline.PlaceCall{AccountID: m.key.account, RequestUUID: rq, From: cmd.From, To: to,
			CallerName: cmd.CallerName, RingTimeout: cmd.RingTimeout, Document: doc})
		if err != nil {
			return res, err
		}
		res.RequestUUIDs = append(res.RequestUUIDs, rq)
		res.CallUUIDs = append(res.CallUUIDs, c.rec.UUID)
	}
	m.event("AddParticipantByAPIActionCompleted", nil)
	return res, nil
}

// mpcDocument is the XML an added participant runs.
func mpcDocument(name, role string, attrs map[string]string) (string, error) {
	var b strings.Builder
	b.WriteString(`<Response><MultiPartyCall role="`)
	xml.EscapeText(&b, []byte(role))
	b.WriteString(`"`)
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range attrs {
			if !yield(k) {
				return
			}
		}
	})
	for _, k := range keys {
		fmt.Fprintf(&b, ` %s="`, k)
		xml.EscapeText(&b, []byte(attrs[k]))
		b.WriteString(`"`)
	}
	b.WriteString(">")
	xml.EscapeText(&b, []byte(name))
	b.WriteString("</MultiPartyCall></Response>")
	doc := b.String()
	if _, err := plivoxml.ParseResponse([]byte(doc)); err != nil {
		return "", &trunkline.Error{Code: trunkline.EINVALID, Message: "bad participant settings: " + err.Error()}
	}
	return doc, nil
}

var _ trunkline.MPCService = (*Server)(nil)
