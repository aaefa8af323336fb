package voice

import (
	"context"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/audio"
	"github.com/trunkline/trunkline/media"
	"github.com/trunkline/trunkline/plivoxml"
)

// <Conference>: the call joins a room of its account, named by the element's
// text, mixed by a media.Room on this node. The call stays in the room until
// it hangs up, is kicked (the Conference API, hangupOnStar), its timeLimit
// passes or the room ends; then the action URL is told and, with
// redirect="true", its XML runs.
//
// Where a room lives: on the node whose mixer holds it, in Server.confs.
// A member whose call is on another node joins through a media.Leg that
// carries its frames between the nodes (the cluster issue wires it: the
// call's node looks the room up in the cluster's directory, and asks the
// room's node to add a relay leg instead of opening a local room);
// everything below takes a media.Leg, not the call's Channel, at Join.
func init() {
	register(handler[plivoxml.Conference]{needsAnswer: true, run: runConference})
}

// conferences are the live rooms of this node, per account and name.
type conferences struct {
	mu    sync.Mutex
	rooms map[confKey]*conference
	// ceiling, when above a member's maxMembers, replaces it: only the SIP
	// benchmark sets it (export_test.go), to measure one room beyond
	// Plivo's ceiling of 20.
	ceiling int
}

type confKey struct{ account, name string }

// conference is one live room.
type conference struct {
	s       *Server
	key     confKey
	uuid    string
	created time.Time
	room    *media.Room

	mu      sync.Mutex
	members []*confMember
	next    int
	ended   bool
	floor   *confMember
	rec     *roomRecording
	// recWant is the member whose record="true" waits for a second member
	// (recordWhenAlone="false") before the recording starts.
	recWant *confMember
}

// confMember is one call in a room.
type confMember struct {
	id     string
	call   *Call
	el     plivoxml.Conference
	m      *media.Member
	joined time.Time
	out    chan struct{} // closed when the member must leave
	once   sync.Once
	why    string // kick, hangup, end
	// gone is set with out closed: the member is no longer listed or
	// commanded, though its call takes a moment to leave the room.
	gone atomic.Bool
}

func (m *confMember) leave(why string) {
	m.once.Do(func() {
		m.why = why
		m.gone.Store(true)
		close(m.out)
	})
}

// errRoomFull: the room has maxMembers members.
var errRoomFull = &trunkline.Error{Code: trunkline.EUNAVAILABLE, Message: "the conference is full"}

// join puts c in the named room, opening it when it is not there.
func (s *Server) join(c *Call, e plivoxml.Conference) (*conference, *confMember, error) {
	k := confKey{c.rec.AccountID, e.Room}
	s.confs.mu.Lock()
	defer s.confs.mu.Unlock()
	if s.confs.rooms == nil {
		s.confs.rooms = map[confKey]*conference{}
	}
	conf := s.confs.rooms[k]
	if conf == nil {
		conf = &conference{s: s, key: k, uuid: newUUID(), created: s.o.Now().UTC()}
		conf.room = media.NewRoom(conf.talk)
		s.confs.rooms[k] = conf
	}
	conf.mu.Lock()
	defer conf.mu.Unlock()
	if len(conf.members) >= max(e.MaxMembers, s.confs.ceiling) {
		return nil, nil, errRoomFull
	}
	conf.next++
	m := &confMember{id: strconv.Itoa(conf.next), call: c, el: e, joined: s.o.Now().UTC(), out: make(chan struct{})}
	conf.members = append(conf.members, m)
	return conf, m, nil
}

func runConference(ctx context.Context, c *Call, e plivoxml.Conference, _ bool) (*plivoxml.Response, error) {
	ch := c.channel()
	if ch == nil {
		return nil, nil
	}
	var music, enter []int16
	if e.WaitSound != "" {
		music = c.soundPCM(ctx, e.WaitSound)
	}
	if e.EnterSound != "" {
		enter = c.soundPCM(ctx, e.EnterSound)
	}
	conf, m, err := c.s.join(c, e)
	if err != nil {
		// Plivo goes on with the next element when a room is full.
		c.s.log.Info("conference full", "call", c.rec.UUID, "max_members", e.MaxMembers)
		return nil, nil
	}
	conf.mu.Lock()
	m.m = conf.room.Join(ch, media.MemberOptions{Muted: e.Muted, Music: music, Data: m})
	conf.mu.Unlock()
	if e.StartConferenceOnEnter {
		conf.room.Start()
	}
	if len(enter) > 0 {
		conf.room.Play(enter)
	}
	conf.event(m, "enter", nil)
	if e.Record {
		conf.mu.Lock()
		if conf.recWant == nil && conf.rec == nil {
			conf.recWant = m
		}
		conf.mu.Unlock()
	}
	conf.startRecording()
	ch.FlushDigits()
	limit := time.NewTimer(e.TimeLimit)
	defer limit.Stop()
	why := ""
	typed := ""
	for why == "" {
		select {
		case <-ctx.Done():
			why = "hangup"
		case <-m.out:
			why = m.why
		case <-limit.C:
			why = "timelimit"
		case k := <-ch.Digits():
			if e.HangupOnStar && k == '*' {
				why = "star"
				break
			}
			if e.RelayDTMF {
				conf.relay(m, k)
			}
			if len(e.DigitsMatch) > 0 {
				typed += string(k)
				for _, p := range e.DigitsMatch {
					if strings.HasSuffix(typed, p) {
						conf.event(m, "digits", map[string]string{"ConferenceDigitsMatch": p})
						typed = ""
						break
					}
				}
				if len(typed) > 64 {
					typed = typed[len(typed)-64:]
				}
			}
		}
	}
	recID, recURL := conf.leave(m, e)
	switch why {
	case "hangup_api":
		c.hangup(CauseNormal.With(SourceAPI), "conference member hung up by an API request")
		return nil, errStop
	case "timelimit":
		c.hangup(CauseTimeLimit, "Conference timeLimit reached")
		return nil, errStop
	}
	if ctx.Err() != nil || e.Action == "" {
		return nil, nil
	}
	p := c.params(c.status())
	p.Set("ConferenceName", e.Room)
	p.Set("ConferenceUUID", conf.uuid)
	p.Set("ConferenceMemberID", m.id)
	p.Set("RecordUrl", recURL)
	p.Set("RecordingID", recID)
	if !e.Redirect {
		c.bg.Add(1)
		go func() {
			defer c.bg.Done()
			if _, err := c.callback(context.WithoutCancel(ctx), "conference_action", e.Action, e.Method, p); err != nil {
				c.s.log.Warn("conference action", "call", c.rec.UUID, "err", err)
			}
		}()
		return nil, nil
	}
	return c.fetch(ctx, "conference_action", e.Action, e.Method, p)
}

// leave takes m out of the room: exit sound, the exit event, and the end of
// the room when m ends it or leaves it empty (or alone with a member that
// may not stay alone). It returns the room's recording, for the action URL.
func (conf *conference) leave(m *confMember, e plivoxml.Conference) (recID, recURL string) {
	m.m.Leave()
	conf.mu.Lock()
	conf.members = slices.DeleteFunc(conf.members, func(x *confMember) bool { return x == m })
	if conf.floor == m {
		conf.floor = nil
	}
	if conf.recWant == m {
		conf.recWant = nil
	}
	left := slices.Clone(conf.members)
	if r := conf.rec; r != nil {
		recID, recURL = r.id, r.url
	}
	conf.mu.Unlock()
	if e.ExitSound != "" && len(left) > 0 {
		if pcm := m.call.soundPCM(context.Background(), e.ExitSound); len(pcm) > 0 {
			conf.room.Play(pcm)
		}
	}
	conf.event(m, "exit", nil)
	switch {
	case len(left) == 0:
		conf.end()
	case e.EndConferenceOnExit:
		conf.end()
	case len(left) == 1 && !left[0].el.StayAlone:
		conf.end()
	}
	return recID, recURL
}

// startRecording starts the recording a member's record="true" asked for,
// once the room has two members, or one with recordWhenAlone="true" (as
// FreeSWITCH's min-required-recording-participants, 2 by default, which
// Plivo's attribute sets to 1).
func (conf *conference) startRecording() {
	conf.mu.Lock()
	w := conf.recWant
	if w == nil || conf.rec != nil || (len(conf.members) < 2 && !w.el.RecordWhenAlone) {
		conf.mu.Unlock()
		return
	}
	conf.recWant = nil
	conf.mu.Unlock()
	r := conf.record(w.call, w.el.RecordFileFormat, 0, w.el.CallbackURL, w.el.CallbackMethod, true)
	if w.el.TranscriptionURL != "" {
		r.mu.Lock()
		r.transcribeURL, r.transcribeMethod = w.el.TranscriptionURL, w.el.TranscriptionMethod
		r.mu.Unlock()
	}
}

// end closes the room: every member leaves (their XML goes on), the
// recording is stored, the room is forgotten.
func (conf *conference) end() {
	s := conf.s
	s.confs.mu.Lock()
	if s.confs.rooms[conf.key] == conf {
		delete(s.confs.rooms, conf.key)
	}
	s.confs.mu.Unlock()
	conf.mu.Lock()
	if conf.ended {
		conf.mu.Unlock()
		return
	}
	conf.ended = true
	members := slices.Clone(conf.members)
	rec := conf.rec
	conf.rec = nil
	conf.mu.Unlock()
	for _, m := range members {
		m.leave("end")
	}
	if rec != nil {
		rec.stop()
	}
	go conf.room.Close()
}

// relay sends a member's key press to the other members.
func (conf *conference) relay(from *confMember, k rune) {
	conf.mu.Lock()
	others := slices.Clone(conf.members)
	conf.mu.Unlock()
	for _, m := range others {
		if m == from {
			continue
		}
		if ch := m.call.channel(); ch != nil {
			go ch.SendDigits(m.call.ctx, string(k))
		}
	}
}

// talk is the room's talker detector: the floor goes to a member who starts
// talking while nobody holds it, and its floorEvent callback is told.
func (conf *conference) talk(mm *media.Member, talking bool) {
	m, ok := mm.Data.(*confMember)
	if !ok {
		return
	}
	conf.mu.Lock()
	got := false
	switch {
	case talking && conf.floor == nil:
		conf.floor, got = m, true
	case !talking && conf.floor == m:
		conf.floor = nil
	}
	conf.mu.Unlock()
	if got && m.el.FloorEvent {
		conf.event(m, "floor", nil)
	}
}

// event posts a ConferenceAction to the member's callbackUrl (Plivo's
// parameters, on top of the call's).
func (conf *conference) event(m *confMember, action string, extra map[string]string) {
	if m.el.CallbackURL == "" {
		return
	}
	c := m.call
	p := c.params(c.status())
	p.Set("ConferenceAction", action)
	p.Set("ConferenceName", conf.key.name)
	p.Set("ConferenceUUID", conf.uuid)
	p.Set("ConferenceMemberID", m.id)
	p.Set("CallUUID", c.rec.UUID)
	for k, v := range extra {
		p.Set(k, v)
	}
	c.background(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := c.callback(ctx, "conference_callback", m.el.CallbackURL, m.el.CallbackMethod, p); err != nil {
			c.s.log.Warn("conference callbackUrl", "call", c.rec.UUID, "err", err)
		}
	})
}

// soundPCM is the audio of an enter/exit/wait sound: beep:1, beep:2, or a
// URL whose XML holds Play, Speak and Wait. What cannot be fetched is
// silence (a sound must not keep a caller out of the room).
func (c *Call) soundPCM(ctx context.Context, sound string) []int16 {
	switch sound {
	case "":
		return nil
	case "beep:1":
		return audio.Tone(880, 200, -14)
	case "beep:2":
		return slices.Concat(audio.Tone(660, 150, -14), make([]int16, 800), audio.Tone(660, 150, -14))
	}
	doc, err := c.fetch(ctx, "conference_sound", sound, "POST", c.params(c.status()))
	if err != nil {
		c.s.log.Warn("conference sound", "call", c.rec.UUID, "err", err)
		return nil
	}
	return c.docPCM(ctx, doc)
}

// docPCM renders the Play, Speak and Wait elements of doc as audio (wait
// and hold music); other elements are skipped.
func (c *Call) docPCM(ctx context.Context, doc *plivoxml.Response) []int16 {
	var pcm []int16
	const most = 10 * 60 * audio.SampleRate // ten minutes of music is plenty for a loop
	for _, el := range doc.Elements {
		var p []int16
		var err error
		loop := 1
		switch e := el.(type) {
		case plivoxml.Play:
			if c.s.o.Audio != nil {
				p, err = c.s.o.Audio.Get(ctx, e.URL)
			}
			loop = e.Loop
		case plivoxml.Speak:
			if c.s.o.TTS != nil {
				p, err = c.s.o.TTS.Synthesize(ctx, e.Text, e.Voice, e.Language)
			}
			loop = e.Loop
		case plivoxml.Wait:
			p = make([]int16, int(e.Length.Seconds()*audio.SampleRate))
		}
		if err != nil {
			c.s.log.Warn("conference music", "call", c.rec.UUID, "element", el.Name(), "err", err)
			continue
		}
		for i := 0; len(p) > 0 && (i < loop || loop == 0) && len(pcm) < most; i++ {
			pcm = append(pcm, p...)
		}
	}
	return pcm[:min(len(pcm), most)]
}

// The Conference API (trunkline.ConferenceService).

func (s *Server) conference(accountID, name string) *conference {
	s.confs.mu.Lock()
	defer s.confs.mu.Unlock()
	return s.confs.rooms[confKey{accountID, name}]
}

// Conferences lists the account's rooms by name.
func (s *Server) Conferences(accountID string) []string {
	s.confs.mu.Lock()
	defer s.confs.mu.Unlock()
	out := []string{}
	for k := range s.confs.rooms {
		if k.account == accountID {
			out = append(out, k.name)
		}
	}
	sort.Strings(out)
	return out
}

// Conference describes one room.
func (s *Server) Conference(accountID, name string) (trunkline.Conference, error) {
	conf := s.conference(accountID, name)
	if conf == nil {
		return trunkline.Conference{}, trunkline.ErrNoConference
	}
	out := trunkline.Conference{Name: name, UUID: conf.uuid, Created: conf.created}
	// Under conf.mu: a member's mixer member is set there as it joins.
	conf.mu.Lock()
	defer conf.mu.Unlock()
	for _, m := range conf.members {
		if m.gone.Load() {
			continue
		}
		cm := trunkline.ConferenceMember{ID: m.id, CallUUID: m.call.rec.UUID, From: m.call.rec.From, To: m.call.rec.To,
			CallerName: m.call.callerName, Direction: m.call.rec.Direction, Joined: m.joined}
		if m.m != nil {
			cm.Muted, cm.Deaf, _ = m.m.State()
		}
		out.Members = append(out.Members, cm)
	}
	return out, nil
}

// roomAudio fetches the audio a conference or MPC API play request names.
func (s *Server) roomAudio(ctx context.Context, url string) ([]int16, error) {
	if s.o.Audio == nil {
		return nil, ErrBadInput
	}
	pcm, err := s.o.Audio.Get(ctx, url)
	if err != nil {
		return nil, &trunkline.Error{Code: trunkline.EINVALID, Message: "the audio at url could not be played"}
	}
	return pcm, nil
}

// HangupConference hangs up every member's call.
func (s *Server) HangupConference(accountID, name string) error {
	conf := s.conference(accountID, name)
	if conf == nil {
		return trunkline.ErrNoConference
	}
	conf.hangupAll()
	return nil
}

func (conf *conference) hangupAll() {
	conf.mu.Lock()
	members := slices.Clone(conf.members)
	conf.mu.Unlock()
	for _, m := range members {
		m.leave("hangup_api")
	}
	conf.end()
}

// HangupConferences hangs up every room of the account.
func (s *Server) HangupConferences(accountID string) {
	s.confs.mu.Lock()
	var list []*conference
	for k, c := range s.confs.rooms {
		if k.account == accountID {
			list = append(list, c)
		}
	}
	s.confs.mu.Unlock()
	for _, c := range list {
		c.hangupAll()
	}
}

// ConferenceCommand runs a Conference API command on members or the room.
func (s *Server) ConferenceCommand(ctx context.Context, accountID, name string, cmd trunkline.ConferenceCommand) (trunkline.ConferenceResult, error) {
	conf := s.conference(accountID, name)
	if conf == nil {
		return trunkline.ConferenceResult{}, trunkline.ErrNoConference
	}
	switch cmd.Kind {
	case "record":
		conf.mu.Lock()
		var starter *Call
		if len(conf.members) > 0 {
			starter = conf.members[0].call
		}
		conf.mu.Unlock()
		if starter == nil || s.o.Recordings == nil {
			return trunkline.ConferenceResult{}, ErrNoMedia
		}
		r := conf.record(starter, cmd.FileFormat, cmd.TimeLimit, cmd.CallbackURL, cmd.CallbackMethod, false)
		if cmd.TranscriptionURL != "" {
			r.mu.Lock()
			r.transcribeURL, r.transcribeMethod = cmd.TranscriptionURL, cmd.TranscriptionMethod
			r.mu.Unlock()
		}
		return trunkline.ConferenceResult{RecordingID: r.id, URL: r.url}, nil
	case "stop_record":
		conf.mu.Lock()
		r := conf.rec
		conf.rec = nil
		conf.mu.Unlock()
		if r != nil {
			r.stop()
		}
		return trunkline.ConferenceResult{}, nil
	}
	conf.mu.Lock()
	var members []*confMember
	for _, m := range conf.members {
		if (cmd.All || slices.Contains(cmd.Members, m.id)) && m.m != nil && !m.gone.Load() {
			members = append(members, m)
		}
	}
	conf.mu.Unlock()
	if len(members) == 0 {
		return trunkline.ConferenceResult{}, trunkline.ErrNoMember
	}
	var pcm []int16
	switch cmd.Kind {
	case "play":
		p, err := s.roomAudio(ctx, cmd.URL)
		if err != nil {
			return trunkline.ConferenceResult{}, err
		}
		pcm = p
	case "speak":
		if s.o.TTS == nil {
			return trunkline.ConferenceResult{}, ErrBadInput
		}
		p, err := s.o.TTS.Synthesize(ctx, cmd.Text, cmd.Voice, cmd.Language)
		if err != nil {
			return trunkline.ConferenceResult{}, &trunkline.Error{Code: trunkline.EINVALID, Message: "the text could not be spoken"}
		}
		pcm = p
	}
	var ids []string
	for _, m := range members {
		ids = append(ids, m.id)
		switch cmd.Kind {
		case "hangup":
			m.leave("hangup_api")
		case "kick":
			m.leave("kick")
		case "mute", "unmute":
			m.m.SetMuted(cmd.Kind == "mute")
		case "deaf", "undeaf":
			m.m.SetDeaf(cmd.Kind == "deaf")
		case "play", "speak":
			m.m.Play(pcm)
		case "stop_play", "stop_speak":
			m.m.StopPlay()
		default:
			return trunkline.ConferenceResult{}, ErrBadInput
		}
	}
	return trunkline.ConferenceResult{MemberIDs: ids}, nil
}

// roomRecording is a recording of a room's mix (a conference's or a
// multi-party call's).
type roomRecording struct {
	s       *Server
	call    *Call // whose account it is filed under and whose callbacks sign
	id, url string
	format  string
	cb      string
	method  string
	start   time.Time
	limit   int
	// report gives the callback's parameters for the stored recording.
	report func(rec *trunkline.Recording) url.Values
	mu     sync.Mutex
	// transcribeURL is told, once the recording is stored, that no
	// transcription follows: this server has no speech recogniser.
	transcribeURL, transcribeMethod string
	pcm                             []int16
	paused                          bool
	remove                          func()
	once                            sync.Once
	timer                           *time.Timer
}

// startRoomRecording records room's mix for at most limit (0: 4 hours);
// onLimit runs when the limit ends it.
func (s *Server) startRoomRecording(room *media.Room, c *Call, format string, limit time.Duration, cb, method string, onLimit func(*roomRecording)) *roomRecording {
	if limit <= 0 {
		limit = 4 * time.Hour
	}
	f := s.encoder(format).Format()
	r := &roomRecording{s: s, call: c, id: newUUID(), format: f, cb: cb, method: method,
		start: s.o.Now(), limit: int(limit.Seconds() * audio.SampleRate)}
	if s.o.RecordingURL != nil {
		r.url = s.o.RecordingURL(c.rec.AccountID, r.id, f)
	}
	r.remove = room.TapMix(func(f []int16) {
		r.mu.Lock()
		if !r.paused && len(r.pcm)+len(f) <= r.limit {
			r.pcm = append(r.pcm, f...)
		}
		r.mu.Unlock()
	})
	r.timer = time.AfterFunc(limit, func() {
		onLimit(r)
		r.stop()
	})
	return r
}

// pause stops taking the room's audio until resume.
func (r *roomRecording) pause(v bool) {
	r.mu.Lock()
	r.paused = v
	r.mu.Unlock()
}

// record starts recording the room unless it already records; it returns
// the recording under way. xml: started by record="true", reported as
// ConferenceAction=record; else as the Conference API's callback.
func (conf *conference) record(c *Call, format string, limit time.Duration, cb, method string, xml bool) *roomRecording {
	conf.mu.Lock()
	defer conf.mu.Unlock()
	if conf.rec != nil {
		return conf.rec
	}
	r := conf.s.startRoomRecording(conf.room, c, format, limit, cb, method, func(r *roomRecording) {
		conf.mu.Lock()
		if conf.rec == r {
			conf.rec = nil
		}
		conf.mu.Unlock()
	})
	r.report = func(rec *trunkline.Recording) url.Values {
		durMs := rec.DurationMs
		p := c.params(c.status())
		if xml {
			p.Set("ConferenceAction", "record")
			p.Set("ConferenceName", conf.key.name)
			p.Set("ConferenceUUID", conf.uuid)
			p.Set("RecordUrl", r.url)
			p.Set("RecordingID", r.id)
			p.Set("RecordingDuration", strconv.FormatInt((durMs+500)/1000, 10))
			p.Set("RecordingDurationMs", strconv.FormatInt(durMs, 10))
			p.Set("RecordingStartMs", strconv.FormatInt(rec.StartMs, 10))
			p.Set("RecordingEndMs", strconv.FormatInt(rec.EndMs, 10))
			return p
		}
		p.Set("api_id", newUUID())
		p.Set("record_url", r.url)
		p.Set("recording_id", r.id)
		p.Set("conference_name", conf.key.name)
		p.Set("recording_duration", strconv.FormatInt((durMs+500)/1000, 10))
		p.Set("recording_duration_ms", strconv.FormatInt(durMs, 10))
		p.Set("recording_start_ms", strconv.FormatInt(rec.StartMs, 10))
		p.Set("recording_end_ms", strconv.FormatInt(rec.EndMs, 10))
		return p
	}
	conf.rec = r
	return r
}

// stop ends the recording, stores it encrypted and tells its callback.
func (r *roomRecording) stop() {
	r.once.Do(func() {
		r.timer.Stop()
		r.remove()
		r.s.saves.add()
		go func() {
			defer r.s.saves.done()
			r.save()
		}()
	})
}

// stopRoomRecordings stops the recordings of every live room (conferences
// and multi-party calls), which stores them: Shutdown's last word on them.
func (s *Server) stopRoomRecordings() {
	var recs []*roomRecording
	s.confs.mu.Lock()
	for _, c := range s.confs.rooms {
		c.mu.Lock()
		if c.rec != nil {
			recs = append(recs, c.rec)
			c.rec = nil
		}
		c.mu.Unlock()
	}
	s.confs.mu.Unlock()
	s.mpcs.mu.Lock()
	for _, m := range s.mpcs.live {
		m.mu.Lock()
		if m.rec != nil {
			recs = append(recs, m.rec)
			m.rec = nil
		}
		m.mu.Unlock()
	}
	s.mpcs.mu.Unlock()
	for _, r := range recs {
		r.stop()
	}
}

// roomSaveTimeout bounds storing one room recording (encoding, the file,
// the record, the callback); Shutdown waits for saves that long at most.
const roomSaveTimeout = 60 * time.Second

func (r *roomRecording) save() {
	c, s := r.call, r.s
	end := s.o.Now()
	r.mu.Lock()
	pcm := r.pcm
	r.mu.Unlock()
	if s.o.Recordings == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), roomSaveTimeout)
	defer cancel()
	rec := &trunkline.Recording{ID: r.id, AccountID: c.rec.AccountID, CallUUID: c.rec.UUID, Type: "conference",
		StartMs: r.start.UnixMilli(), EndMs: end.UnixMilli(), From: c.rec.From, To: c.rec.To}
	if err := s.storeRecording(ctx, rec, r.format, pcm, end); err != nil {
		s.log.Error("room recording", "call", c.rec.UUID, "err", err)
		return
	}
	r.mu.Lock()
	trURL, trMethod := r.transcribeURL, r.transcribeMethod
	r.mu.Unlock()
	if trURL != "" {
		// Plivo's transcription callback, with its error field set, so an
		// application waiting for one learns it will not come.
		p := url.Values{}
		p.Set("transcription", "")
		p.Set("transcription_charge", "0")
		p.Set("transcription_rate", "0")
		p.Set("duration", strconv.FormatInt((rec.DurationMs+500)/1000, 10))
		p.Set("call_uuid", c.rec.UUID)
		p.Set("recording_id", rec.ID)
		p.Set("error", "transcription is not available on this server")
		if _, err := c.callback(ctx, "room_transcription", trURL, trMethod, p); err != nil {
			s.log.Warn("room transcription callback", "call", c.rec.UUID, "err", err)
		}
	}
	if r.cb == "" || r.report == nil {
		return
	}
	if _, err := c.callback(ctx, "room_record", r.cb, strings.ToUpper(r.method), r.report(rec)); err != nil {
		s.log.Warn("room recording callback", "call", c.rec.UUID, "err", err)
	}
}

var _ trunkline.ConferenceService = (*Server)(nil)
