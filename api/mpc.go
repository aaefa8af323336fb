package api

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/call"
)

// The multi-party call API: {mpc_id} is name_<friendly name> (live ones) or
// uuid_<mpc uuid>; an unknown id and another account's MPC answer 404.

func mpcTimeStr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UTC().Format("2006-01-02 15:04:05-07:00")
}

func (s *Server) mpcObject(r *request, m trunkline.MPC) map[string]any {
	base := "/v1/Account/" + r.acct.ID + "/MultiPartyCall/name_" + m.Name + "/"
	dur := 0
	if m.Started != nil {
		end := time.Now()
		if m.Ended != nil {
			end = *m.Ended
		}
		dur = int(end.Sub(*m.Started) / time.Second)
	}
	return map[string]any{"billed_amount": "0.00000", "billed_duration": dur, "creation_time": mpcTimeStr(&m.Created),
		"duration": dur, "end_time": mpcTimeStr(m.Ended), "friendly_name": m.Name, "mpc_uuid": m.UUID,
		"participants": base + "Participant/", "recording": m.Recording, "resource_uri": base,
		"start_time": mpcTimeStr(m.Started), "status": m.Status, "stay_alone": m.StayAlone, "sub_account": nil,
		"termination_cause": m.TerminationCause, "termination_cause_code": m.TerminationCauseCode}
}

func participantObject(r *request, m trunkline.MPC, p trunkline.MPCParticipant) map[string]any {
	dur := 0
	end := time.Now()
	if p.Exited != nil {
		end = *p.Exited
	}
	dur = int(end.Sub(p.Joined) / time.Second)
	return map[string]any{"billed_amount": "0.00000", "billed_duration": dur, "call_uuid": p.CallUUID, "coach_mode": p.CoachMode,
		"duration": dur, "end_mpc_on_exit": p.EndMPCOnExit, "exit_cause": p.ExitCause, "exit_time": mpcTimeStr(p.Exited),
		"hold": p.Hold, "join_time": mpcTimeStr(&p.Joined), "member_address": p.Address, "member_id": p.MemberID,
		"mpc_uuid": m.UUID, "mute": p.Mute, "role": p.Role, "start_mpc_on_enter": p.StartMPCOnEnter,
		"resource_uri": "/v1/Account/" + r.acct.ID + "/MultiPartyCall/name_" + m.Name + "/Participant/" + p.MemberID + "/"}
}

func (s *Server) mpcService() (trunkline.MPCService, error) {
	if s.opts.MPCs == nil {
		return nil, errNotFound
	}
	return s.opts.MPCs, nil
}

// theMPC finds the path's MPC (404 first, so a stranger learns nothing).
func (s *Server) theMPC(r *request) (trunkline.MPCService, trunkline.MPC, error) {
	ms, err := s.mpcService()
	if err != nil {
		return nil, trunkline.MPC{}, err
	}
	m, err := ms.MPC(r.acct.ID, r.vars["mpc_id"])
	if err != nil {
		return nil, m, confError(err)
	}
	return ms, m, nil
}

func (s *Server) listMPCs(r *request) (int, map[string]any, error) {
	var all []trunkline.MPC
	if s.opts.MPCs != nil {
		all = s.opts.MPCs.MPCs(r.acct.ID)
	}
	limit, err := r.p.Int("limit", 20, 1, 20)
	if err != nil {
		return 0, nil, err
	}
	offset, err := r.p.Int("offset", 0, 0, 1<<30)
	if err != nil {
		return 0, nil, err
	}
	status := strings.ToLower(r.p.Get("status"))
	if status != "" && status != "initialized" && status != "active" && status != "ended" {
		return 0, nil, badRequest("status must be initialized, active or ended")
	}
	var keep []map[string]any
	for _, m := range all {
		if status != "" && strings.ToLower(m.Status) != status {
			continue
		}
		if n := r.p.Get("friendly_name"); n != "" && m.Name != n {
			continue
		}
		keep = append(keep, s.mpcObject(r, m))
	}
	total := len(keep)
	objs := []map[string]any{}
	if offset < total {
		objs = keep[offset:min(total, offset+limit)]
	}
	return http.StatusOK, map[string]any{"meta": map[string]any{"count": total, "limit": limit, "offset": offset,
		"next": nil, "previous": nil}, "objects": objs}, nil
}

func (s *Server) getMPC(r *request) (int, map[string]any, error) {
	_, m, err := s.theMPC(r)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, s.mpcObject(r, m), nil
}

// mpcCommand runs a command on the path's MPC and answers 204.
func (s *Server) mpcCommand(kind string) handlerFunc {
	return func(r *request) (int, map[string]any, error) {
		ms, _, err := s.theMPC(r)
		if err != nil {
			return 0, nil, err
		}
		cmd := trunkline.MPCCommand{Kind: kind}
		if kind == "start" {
			if st := strings.ToLower(firstOf(r.p, "status")); st != "active" {
				return 0, nil, badRequest("status must be active")
			}
		}
		if _, err := ms.MPCCommand(r.Context(), r.acct.ID, r.vars["mpc_id"], cmd); err != nil {
			return 0, nil, confError(err)
		}
		return http.StatusNoContent, nil, nil
	}
}

// firstOf reads a parameter that Python's SDK may send as a one-element list.
func firstOf(p Params, k string) string {
	v := p.Get(k)
	v = strings.Trim(v, "[]\"' ")
	return v
}

// mpcBool reads a boolean sent as true/false, "true"/"false" or a one-element list.
func mpcBool(p Params, k string) (*bool, error) {
	if !p.Has(k) {
		return nil, nil
	}
	switch strings.ToLower(firstOf(p, k)) {
	case "true", "1":
		v := true
		return &v, nil
	case "false", "0":
		v := false
		return &v, nil
	}
	return nil, badRequest(k + " must be true or false")
}

func (s *Server) recordMPC(participant bool) handlerFunc {
	return func(r *request) (int, map[string]any, error) {
		ms, m, err := s.theMPC(r)
		if err != nil {
			return 0, nil, err
		}
		cmd := trunkline.MPCCommand{Kind: "record", FileFormat: "mp3"}
		if participant {
			cmd.Kind = "participant_record"
			if cmd.Members, cmd.All, err = memberSelector(r.vars["member_id"]); err != nil {
				return 0, nil, err
			}
		}
		switch f := r.p.Get("file_format"); f {
		case "", "mp3":
		case "wav":
			cmd.FileFormat = "wav"
		default:
			return 0, nil, badRequest("file_format must be mp3 or wav")
		}
		if cmd.CallbackURL, cmd.CallbackMethod, err = optionalCallback(r.p, "recording_callback_url", "recording_callback_method"); err != nil {
			return 0, nil, err
		}
		res, err := ms.MPCCommand(r.Context(), r.acct.ID, r.vars["mpc_id"], cmd)
		if err != nil {
			return 0, nil, confError(err)
		}
		return http.StatusOK, map[string]any{"message": "MPC: " + m.Name + " record started", "recording_id": res.RecordingID,
			"recording_url": res.URL}, nil
	}
}

// participantCommand runs kind on the path's participants and answers 204.
func (s *Server) participantCommand(kind string) handlerFunc {
	return func(r *request) (int, map[string]any, error) {
		ms, _, err := s.theMPC(r)
		if err != nil {
			return 0, nil, err
		}
		ids, all, err := memberSelector(r.vars["member_id"])
		if err != nil {
			return 0, nil, err
		}
		if _, err := ms.MPCCommand(r.Context(), r.acct.ID, r.vars["mpc_id"], trunkline.MPCCommand{Kind: kind, Members: ids, All: all}); err != nil {
			return 0, nil, confError(err)
		}
		return http.StatusNoContent, nil, nil
	}
}

func (s *Server) updateParticipant(r *request) (int, map[string]any, error) {
	ms, m, err := s.theMPC(r)
	if err != nil {
		return 0, nil, err
	}
	ids, all, err := memberSelector(r.vars["member_id"])
	if err != nil {
		return 0, nil, err
	}
	cmd := trunkline.MPCCommand{Kind: "update", Members: ids, All: all}
	for _, f := range []struct {
		k string
		v **bool
	}{{"mute", &cmd.Mute}, {"hold", &cmd.Hold}, {"coach_mode", &cmd.CoachMode}} {
		if *f.v, err = mpcBool(r.p, f.k); err != nil {
			return 0, nil, err
		}
	}
	if all && cmd.CoachMode != nil {
		return 0, nil, badRequest("coach_mode cannot be set for all participants")
	}
	if cmd.Mute == nil && cmd.Hold == nil && cmd.CoachMode == nil {
		return 0, nil, badRequest("give mute, hold or coach_mode")
	}
	res, err := ms.MPCCommand(r.Context(), r.acct.ID, r.vars["mpc_id"], cmd)
	if err != nil {
		return 0, nil, confError(err)
	}
	out := map[string]any{}
	n := strconv.Itoa(len(res.MemberIDs))
	if cmd.Mute != nil {
		out["mute"] = "MPC: " + m.Name + " " + map[bool]string{true: "mute", false: "unmute"}[*cmd.Mute] + " " + n + " member(s) succeeded"
	}
	if cmd.Hold != nil {
		out["hold"] = "MPC: " + m.Name + " " + map[bool]string{true: "hold", false: "unhold"}[*cmd.Hold] + " " + n + " member(s) succeeded"
	}
	if cmd.CoachMode != nil {
		out["coach_mode"] = "MPC: " + m.Name + " coach mode " + strconv.FormatBool(*cmd.CoachMode) + " " + n + " member(s) succeeded"
	}
	return http.StatusOK, out, nil
}

func (s *Server) listParticipants(r *request) (int, map[string]any, error) {
	_, m, err := s.theMPC(r)
	if err != nil {
		return 0, nil, err
	}
	objs := []map[string]any{}
	for _, p := range m.Participants {
		if u := r.p.Get("call_uuid"); u != "" && p.CallUUID != u {
			continue
		}
		objs = append(objs, participantObject(r, m, p))
	}
	return http.StatusOK, map[string]any{"meta": map[string]any{"count": len(objs), "limit": 20, "offset": 0, "next": nil, "previous": nil},
		"objects": objs}, nil
}

func (s *Server) getParticipant(r *request) (int, map[string]any, error) {
	_, m, err := s.theMPC(r)
	if err != nil {
		return 0, nil, err
	}
	for _, p := range m.Participants {
		if p.MemberID == r.vars["member_id"] {
			return http.StatusOK, participantObject(r, m, p), nil
		}
	}
	return 0, nil, errNotFound
}

func (s *Server) playMPC(r *request) (int, map[string]any, error) {
	ms, m, err := s.theMPC(r)
	if err != nil {
		return 0, nil, err
	}
	ids, all, err := memberSelector(r.vars["member_id"])
	if err != nil {
		return 0, nil, err
	}
	u := firstOf(r.p, "url")
	if u == "" {
		u = firstOf(r.p, "urls")
	}
	if u == "" {
		return 0, nil, badRequest("url is required")
	}
	if err := checkURL("url", u); err != nil {
		return 0, nil, err
	}
	res, err := ms.MPCCommand(r.Context(), r.acct.ID, r.vars["mpc_id"], trunkline.MPCCommand{Kind: "play", Members: ids, All: all, URL: u})
	if err != nil {
		return 0, nil, confError(err)
	}
	return http.StatusAccepted, map[string]any{"message": "play queued into MPC", "mpcMemberId": res.MemberIDs, "mpcName": m.Name}, nil
}

// mpcAttrNames maps the add-participant API's snake_case names to the
// <MultiPartyCall> attributes they set.
var mpcAttrNames = map[string]string{
	"max_duration": "maxDuration", "max_participants": "maxParticipants", "record_min_member_count": "recordMinMemberCount",
	"wait_music_url": "waitMusicUrl", "wait_music_method": "waitMusicMethod", "agent_hold_music_url": "agentHoldMusicUrl",
	"agent_hold_music_method": "agentHoldMusicMethod", "customer_hold_music_url": "customerHoldMusicUrl",
	"customer_hold_music_method": "customerHoldMusicMethod", "record": "record", "record_file_format": "recordFileFormat",
	"recording_callback_url": "recordingCallbackUrl", "recording_callback_method": "recordingCallbackMethod",
	"status_callback_url": "statusCallbackUrl", "status_callback_method": "statusCallbackMethod",
	"status_callback_events": "statusCallbackEvents", "stay_alone": "stayAlone", "coach_mode": "coachMode", "mute": "mute",
	"hold": "hold", "start_mpc_on_enter": "startMpcOnEnter", "end_mpc_on_exit": "endMpcOnExit", "enter_sound": "enterSound",
	"enter_sound_method": "enterSoundMethod", "exit_sound": "exitSound", "exit_sound_method": "exitSoundMethod",
	"on_exit_action_url": "onExitActionUrl", "on_exit_action_method": "onExitActionMethod", "relay_dtmf_inputs": "relayDTMFInputs",
	"start_recording_audio": "startRecordingAudio", "start_recording_audio_method": "startRecordingAudioMethod",
	"stop_recording_audio": "stopRecordingAudio", "stop_recording_audio_method": "stopRecordingAudioMethod",
	"record_participant_track": "recordParticipantTrack",
}

// mpcAddParams are what add participant accepts (every SDK's).
var mpcAddParams = func() []string {
	out := []string{"role", "from", "to", "call_uuid", "caller_name", "call_status_callback_url", "call_status_callback_method",
		"sip_headers", "confirm_key", "confirm_key_sound_url", "confirm_key_sound_method", "dial_music", "ring_timeout",
		"delay_dial", "create_mpc_with_single_participant", "send_digits", "send_on_preanswer", "transcription_url", "transcript"}
	for k := range mpcAttrNames {
		out = append(out, k)
	}
	return out
}()

func (s *Server) addParticipant(r *request) (int, map[string]any, error) {
	ms, _, err := s.theMPC(r)
	if err != nil {
		return 0, nil, err
	}
	p := r.p
	cmd := trunkline.MPCCommand{Kind: "add", Role: strings.ToLower(firstOf(p, "role")), From: p.Get("from"), To: p.Get("to"),
		CallUUID: p.Get("call_uuid"), CallerName: p.Get("caller_name"), Attrs: map[string]string{}}
	switch cmd.Role {
	case "agent", "customer", "supervisor":
	default:
		return 0, nil, badRequest("role must be agent, customer or supervisor")
	}
	if (cmd.CallUUID == "") == (cmd.From == "" || cmd.To == "") {
		return 0, nil, badRequest("give from and to, or call_uuid")
	}
	if cmd.To != "" {
		tos, err := call.Destinations(cmd.To)
		if err != nil {
			return 0, nil, err
		}
		if len(tos) > 1 && cmd.Role != "agent" {
			return 0, nil, badRequest("several destinations in to are for agents only")
		}
		cmd.To = strings.Join(tos, "<")
	}
	if v := p.Get("ring_timeout"); v != "" {
		n, err := p.Int("ring_timeout", 45, 1, 120)
		if err != nil {
			return 0, nil, err
		}
		cmd.RingTimeout = time.Duration(n) * time.Second
	}
	for k, attr := range mpcAttrNames {
		v := firstOf(p, k)
		if v == "" {
			continue
		}
		if lv := strings.ToLower(v); lv == "true" || lv == "false" {
			v = lv // Python sends True and False
		}
		cmd.Attrs[attr] = v
	}
	res, err := ms.MPCCommand(r.Context(), r.acct.ID, r.vars["mpc_id"], cmd)
	if err != nil {
		return 0, nil, confError(err)
	}
	calls := []map[string]any{}
	for i, u := range res.CallUUIDs {
		to := cmd.To
		if tos := strings.Split(cmd.To, "<"); i < len(tos) && cmd.CallUUID == "" {
			to = tos[i]
		}
		calls = append(calls, map[string]any{"to": to, "from": cmd.From, "call_uuid": u})
	}
	rq := ""
	if len(res.RequestUUIDs) > 0 {
		rq = res.RequestUUIDs[0]
	}
	return http.StatusCreated, map[string]any{"calls": calls, "message": "add participant action initiated", "request_uuid": rq}, nil
}
