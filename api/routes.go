package api

import (
	"net/http"
	"slices"
	"sort"
	"strings"
)

type handlerFunc func(*request) (int, map[string]any, error)

// route is one entry of the route table. The table is data so tests can walk it (the
// tenant-isolation matrix is generated from it).
type route struct {
	Method  string
	Pattern string // segments; "{name}" matches one segment
	action  string // audit action
	object  string // object type for audit entries
	idVar   string // path variable naming the object, if any
	// auditRead makes a GET audited like a change: reads of customer content (audio).
	auditRead bool
	// subPath lets a main account name one of its subaccounts' Auth IDs in the path, for
	// URLs built under the owning account (recording audio) that the main account must
	// also be able to fetch.
	subPath bool
	// retiredOK lets a token in its rotation overlap (not the account's newest) use the
	// route: what a deployment needs while it switches to the new token (reading,
	// sending messages, placing and controlling calls). Every other route manages the
	// account and needs the newest token, so a leaked old token cannot outlive its
	// revocation (a subaccount's token) or repoint numbers and applications. GETs are
	// marked in routeTable; a new route without the mark is refused to old tokens, the
	// safe default.
	retiredOK bool
	allowed   map[string]bool
	handler   handlerFunc
	segs      []string
}

// RouteInfo describes a route for tests and documentation.
type RouteInfo struct {
	Method, Pattern, Action, IDVar string
	// RetiredToken: a token in its rotation overlap may use the route.
	RetiredToken bool
}

// Routes lists the route table.
func (s *Server) Routes() []RouteInfo {
	out := make([]RouteInfo, len(s.routes))
	for i, r := range s.routes {
		out[i] = RouteInfo{Method: r.Method, Pattern: r.Pattern, Action: r.action, IDVar: r.idVar, RetiredToken: r.retiredOK}
	}
	return out
}

// Parameters every list accepts.
var pageParams = []string{"limit", "offset"}

func (s *Server) routeTable() []*route {
	acct := "/v1/Account/{auth_id}"
	rs := []*route{
		{Method: "GET", Pattern: acct, action: "account.get", object: "account", handler: s.getAccount},
		{Method: "POST", Pattern: acct, action: "account.update", object: "account", handler: s.updateAccount,
			allowed: set("name", "city", "address", "state", "timezone", "secure_voice")},
		{Method: "POST", Pattern: acct + "/AuthToken", action: "credential.rotate", object: "account", handler: s.rotateOwnToken,
			allowed: set("overlap", "revoke_old")},
		{Method: "DELETE", Pattern: acct + "/AuthToken", action: "credential.revoke_old", object: "account", handler: s.revokeOwnOld},

		{Method: "POST", Pattern: acct + "/Subaccount", action: "subaccount.create", object: "subaccount", handler: s.createSubaccount,
			allowed: set("name", "enabled")},
		{Method: "GET", Pattern: acct + "/Subaccount", action: "subaccount.list", object: "subaccount", handler: s.listSubaccounts,
			allowed: set(pageParams...)},
		{Method: "GET", Pattern: acct + "/Subaccount/{sub_id}", action: "subaccount.get", object: "subaccount", idVar: "sub_id", handler: s.getSubaccount},
		{Method: "POST", Pattern: acct + "/Subaccount/{sub_id}", action: "subaccount.update", object: "subaccount", idVar: "sub_id", handler: s.updateSubaccount,
			allowed: set("name", "enabled")},
		{Method: "DELETE", Pattern: acct + "/Subaccount/{sub_id}", action: "subaccount.delete", object: "subaccount", idVar: "sub_id", handler: s.deleteSubaccount,
			allowed: set("cascade")},
		{Method: "POST", Pattern: acct + "/Subaccount/{sub_id}/AuthToken", action: "credential.rotate", object: "subaccount", idVar: "sub_id", handler: s.rotateSubToken,
			allowed: set("overlap", "revoke_old")},
		{Method: "DELETE", Pattern: acct + "/Subaccount/{sub_id}/AuthToken", action: "credential.revoke_old", object: "subaccount", idVar: "sub_id", handler: s.revokeSubOld},

		{Method: "POST", Pattern: acct + "/Application", action: "application.create", object: "application", handler: s.createApplication,
			allowed: set(appParams...)},
		{Method: "GET", Pattern: acct + "/Application", action: "application.list", object: "application", handler: s.listApplications,
			allowed: set(append([]string{"subaccount", "app_name"}, pageParams...)...)},
		{Method: "GET", Pattern: acct + "/Application/{app_id}", action: "application.get", object: "application", idVar: "app_id", handler: s.getApplication},
		{Method: "POST", Pattern: acct + "/Application/{app_id}", action: "application.update", object: "application", idVar: "app_id", handler: s.updateApplication,
			allowed: set(appParams...)},
		{Method: "DELETE", Pattern: acct + "/Application/{app_id}", action: "application.delete", object: "application", idVar: "app_id", handler: s.deleteApplication,
			allowed: set("cascade", "new_endpoint_application")},

		{Method: "POST", Pattern: acct + "/Endpoint", action: "endpoint.create", object: "endpoint", handler: s.createEndpoint,
			allowed: set(endpointParams...)},
		{Method: "GET", Pattern: acct + "/Endpoint", action: "endpoint.list", object: "endpoint", handler: s.listEndpoints,
			allowed: set(pageParams...)},
		{Method: "GET", Pattern: acct + "/Endpoint/{endpoint_id}", action: "endpoint.get", object: "endpoint", idVar: "endpoint_id",
			handler: s.getEndpoint},
		{Method: "POST", Pattern: acct + "/Endpoint/{endpoint_id}", action: "endpoint.update", object: "endpoint", idVar: "endpoint_id",
			handler: s.updateEndpoint, allowed: set("password", "alias", "app_id")},
		{Method: "DELETE", Pattern: acct + "/Endpoint/{endpoint_id}", action: "endpoint.delete", object: "endpoint", idVar: "endpoint_id",
			handler: s.deleteEndpoint},

		{Method: "GET", Pattern: acct + "/PhoneNumber", action: "phonenumber.search", object: "phonenumber", handler: s.searchNumbers,
			allowed: set(append([]string{"country_iso", "type", "pattern", "region", "services", "npanxx", "local_calling_area", "city", "lata", "rate_center"}, pageParams...)...)},
		{Method: "POST", Pattern: acct + "/PhoneNumber/{number}", action: "number.rent", object: "number", idVar: "number", handler: s.rentNumber,
			allowed: set("app_id", "cnam_lookup", "ha_enable", "cnam", "cnam_callback_url", "cnam_callback_method")},
		{Method: "GET", Pattern: acct + "/Number", action: "number.list", object: "number", handler: s.listNumbers,
			allowed: set(append([]string{"type", "number_startswith", "subaccount", "alias", "services", "renewal_date", "renewal_date__lt",
				"renewal_date__lte", "renewal_date__gt", "renewal_date__gte", "cnam_lookup", "tendlc_registration_status",
				"tendlc_campaign_id", "toll_free_sms_verification"}, pageParams...)...)},
		{Method: "GET", Pattern: acct + "/Number/{number}", action: "number.get", object: "number", idVar: "number", handler: s.getNumber},
		{Method: "POST", Pattern: acct + "/Number/{number}", action: "number.update", object: "number", idVar: "number", handler: s.updateNumber,
			allowed: set("app_id", "subaccount", "alias", "cnam_lookup", "cnam", "cnam_callback_url", "cnam_callback_method")},
		{Method: "DELETE", Pattern: acct + "/Number/{number}", action: "number.unrent", object: "number", idVar: "number", handler: s.unrentNumber},

		{Method: "POST", Pattern: acct + "/VerifiedCallerId", action: "caller_id.initiate", object: "verified_caller_id", handler: s.initiateCallerID,
			allowed: set("phone_number", "alias", "channel", "subaccount")},
		{Method: "POST", Pattern: acct + "/VerifiedCallerId/Verification/{verification_uuid}", action: "caller_id.verify", object: "verified_caller_id",
			handler: s.verifyCallerID, allowed: set("otp")},
		{Method: "GET", Pattern: acct + "/VerifiedCallerId", action: "caller_id.list", object: "verified_caller_id", handler: s.listCallerIDs,
			allowed: set(append([]string{"subaccount", "alias"}, pageParams...)...)},
		{Method: "GET", Pattern: acct + "/VerifiedCallerId/{phone_number}", action: "caller_id.get", object: "verified_caller_id", idVar: "phone_number",
			handler: s.getCallerID},
		{Method: "POST", Pattern: acct + "/VerifiedCallerId/{phone_number}", action: "caller_id.update", object: "verified_caller_id", idVar: "phone_number",
			handler: s.updateCallerID, allowed: set("alias", "subaccount")},
		{Method: "DELETE", Pattern: acct + "/VerifiedCallerId/{phone_number}", action: "caller_id.delete", object: "verified_caller_id", idVar: "phone_number",
			handler: s.deleteCallerID},

		{Method: "POST", Pattern: acct + "/Message", action: "message.send", retiredOK: true, object: "message", handler: s.sendMessage,
			allowed: set(messageParams...)},
		{Method: "GET", Pattern: acct + "/Message", action: "message.list", object: "message", handler: s.listMessages,
			allowed: set(append([]string{"subaccount", "message_direction", "message_time", "message_time__gt", "message_time__gte",
				"message_time__lt", "message_time__lte", "message_state", "message_type", "error_code", "powerpack_id",
				"from_number", "to_number"}, pageParams...)...)},
		{Method: "GET", Pattern: acct + "/Message/{message_uuid}", action: "message.get", object: "message", idVar: "message_uuid", handler: s.getMessage},

		{Method: "POST", Pattern: acct + "/Call", action: "call.create", retiredOK: true, object: "call", handler: s.makeCall,
			allowed: set(callParams...)},
		{Method: "DELETE", Pattern: acct + "/Call/{call_uuid}", action: "call.hangup", retiredOK: true, object: "call", idVar: "call_uuid", handler: s.hangupCall},
		{Method: "POST", Pattern: acct + "/Call/{call_uuid}", action: "call.transfer", retiredOK: true, object: "call", idVar: "call_uuid", handler: s.transferCall,
			allowed: set(transferParams...)},
		{Method: "POST", Pattern: acct + "/Call/{call_uuid}/Play", action: "call.play", retiredOK: true, object: "call", idVar: "call_uuid", handler: s.playOnCall,
			allowed: set(playParams...)},
		{Method: "DELETE", Pattern: acct + "/Call/{call_uuid}/Play", action: "call.play_stop", retiredOK: true, object: "call", idVar: "call_uuid", handler: s.stopMedia("stop_play")},
		{Method: "POST", Pattern: acct + "/Call/{call_uuid}/Speak", action: "call.speak", retiredOK: true, object: "call", idVar: "call_uuid", handler: s.speakOnCall,
			allowed: set(speakParams...)},
		{Method: "DELETE", Pattern: acct + "/Call/{call_uuid}/Speak", action: "call.speak_stop", retiredOK: true, object: "call", idVar: "call_uuid", handler: s.stopMedia("stop_speak")},
		{Method: "POST", Pattern: acct + "/Call/{call_uuid}/DTMF", action: "call.dtmf", retiredOK: true, object: "call", idVar: "call_uuid", handler: s.dtmfOnCall,
			allowed: set(dtmfParams...)},
		{Method: "POST", Pattern: acct + "/Call/{call_uuid}/Record", action: "call.record", retiredOK: true, object: "call", idVar: "call_uuid", handler: s.recordCall,
			allowed: set(recordParams...)},
		{Method: "DELETE", Pattern: acct + "/Call/{call_uuid}/Record", action: "call.record_stop", retiredOK: true, object: "call", idVar: "call_uuid", handler: s.stopMedia("stop_record"),
			allowed: set("URL")},
		{Method: "POST", Pattern: acct + "/Call/{call_uuid}/Stream", action: "call.stream_start", retiredOK: true, object: "call", idVar: "call_uuid", handler: s.startStream,
			allowed: set(streamParams...)},
		{Method: "GET", Pattern: acct + "/Call/{call_uuid}/Stream", action: "call.stream_list", object: "call", idVar: "call_uuid", handler: s.listStreams},
		{Method: "GET", Pattern: acct + "/Call/{call_uuid}/Stream/{stream_id}", action: "call.stream_get", object: "call", idVar: "call_uuid", handler: s.getStream},
		{Method: "DELETE", Pattern: acct + "/Call/{call_uuid}/Stream", action: "call.stream_stop", retiredOK: true, object: "call", idVar: "call_uuid", handler: s.stopStream},
		{Method: "DELETE", Pattern: acct + "/Call/{call_uuid}/Stream/{stream_id}", action: "call.stream_stop", retiredOK: true, object: "call", idVar: "call_uuid", handler: s.stopStream},
		{Method: "DELETE", Pattern: acct + "/Request/{request_uuid}", action: "call.cancel", retiredOK: true, object: "call", idVar: "request_uuid", handler: s.cancelRequest},
		{Method: "GET", Pattern: acct + "/Call", action: "call.list", object: "call", handler: s.listCalls,
			allowed: set(callListParams...)},
		{Method: "GET", Pattern: acct + "/Call/{call_uuid}", action: "call.get", object: "call", idVar: "call_uuid", handler: s.getCall,
			allowed: set("status")},

		{Method: "GET", Pattern: acct + "/Conference", action: "conference.list", object: "conference", handler: s.listConferences},
		{Method: "DELETE", Pattern: acct + "/Conference", action: "conference.hangup_all", retiredOK: true, object: "conference", handler: s.hangupConferences},
		{Method: "GET", Pattern: acct + "/Conference/{conference_name}", action: "conference.get", object: "conference", idVar: "conference_name", handler: s.getConference},
		{Method: "DELETE", Pattern: acct + "/Conference/{conference_name}", action: "conference.hangup", retiredOK: true, object: "conference", idVar: "conference_name", handler: s.hangupConference},
		{Method: "DELETE", Pattern: acct + "/Conference/{conference_name}/Member/{member_id}", action: "conference.member_hangup", retiredOK: true, object: "conference", idVar: "conference_name",
			handler: s.memberCommand("hangup", http.StatusAccepted, "hangup")},
		{Method: "POST", Pattern: acct + "/Conference/{conference_name}/Member/{member_id}/Kick", action: "conference.member_kick", retiredOK: true, object: "conference", idVar: "conference_name",
			handler: s.memberCommand("kick", http.StatusAccepted, "kicked")},
		{Method: "POST", Pattern: acct + "/Conference/{conference_name}/Member/{member_id}/Mute", action: "conference.member_mute", retiredOK: true, object: "conference", idVar: "conference_name",
			handler: s.memberCommand("mute", http.StatusAccepted, "muted")},
		{Method: "DELETE", Pattern: acct + "/Conference/{conference_name}/Member/{member_id}/Mute", action: "conference.member_unmute", retiredOK: true, object: "conference", idVar: "conference_name",
			handler: s.memberCommand("unmute", http.StatusAccepted, "unmuted")},
		{Method: "POST", Pattern: acct + "/Conference/{conference_name}/Member/{member_id}/Deaf", action: "conference.member_deaf", retiredOK: true, object: "conference", idVar: "conference_name",
			handler: s.memberCommand("deaf", http.StatusAccepted, "deaf")},
		{Method: "DELETE", Pattern: acct + "/Conference/{conference_name}/Member/{member_id}/Deaf", action: "conference.member_undeaf", retiredOK: true, object: "conference", idVar: "conference_name",
			handler: s.memberCommand("undeaf", http.StatusAccepted, "undeaf")},
		{Method: "POST", Pattern: acct + "/Conference/{conference_name}/Member/{member_id}/Play", action: "conference.member_play", retiredOK: true, object: "conference", idVar: "conference_name",
			handler: s.memberCommand("play", http.StatusAccepted, "play queued into conference"), allowed: set("url")},
		{Method: "DELETE", Pattern: acct + "/Conference/{conference_name}/Member/{member_id}/Play", action: "conference.member_play_stop", retiredOK: true, object: "conference", idVar: "conference_name",
			handler: s.memberCommand("stop_play", http.StatusNoContent, "playing in conference stopped")},
		{Method: "POST", Pattern: acct + "/Conference/{conference_name}/Member/{member_id}/Speak", action: "conference.member_speak", retiredOK: true, object: "conference", idVar: "conference_name",
			handler: s.memberCommand("speak", http.StatusAccepted, "speak queued into conference"), allowed: set(confSpeakParams...)},
		{Method: "DELETE", Pattern: acct + "/Conference/{conference_name}/Member/{member_id}/Speak", action: "conference.member_speak_stop", retiredOK: true, object: "conference", idVar: "conference_name",
			handler: s.memberCommand("stop_speak", http.StatusNoContent, "speak stopped")},
		{Method: "POST", Pattern: acct + "/Conference/{conference_name}/Record", action: "conference.record", retiredOK: true, object: "conference", idVar: "conference_name",
			handler: s.recordConference, allowed: set(confRecordParams...)},
		{Method: "DELETE", Pattern: acct + "/Conference/{conference_name}/Record", action: "conference.record_stop", retiredOK: true, object: "conference", idVar: "conference_name",
			handler: s.stopRecordingConference},

		{Method: "GET", Pattern: acct + "/MultiPartyCall", action: "mpc.list", object: "mpc", handler: s.listMPCs,
			allowed: set("sub_account", "friendly_name", "status", "termination_cause_code", "end_time__gt", "end_time__gte", "end_time__lt", "end_time__lte", "creation_time__gt", "creation_time__gte", "creation_time__lt", "creation_time__lte", "limit", "offset")},
		{Method: "GET", Pattern: acct + "/MultiPartyCall/{mpc_id}", action: "mpc.get", object: "mpc", idVar: "mpc_id", handler: s.getMPC},
		{Method: "POST", Pattern: acct + "/MultiPartyCall/{mpc_id}", action: "mpc.start", retiredOK: true, object: "mpc", idVar: "mpc_id", handler: s.mpcCommand("start"), allowed: set("status")},
		{Method: "DELETE", Pattern: acct + "/MultiPartyCall/{mpc_id}", action: "mpc.end", retiredOK: true, object: "mpc", idVar: "mpc_id", handler: s.mpcCommand("end")},
		{Method: "POST", Pattern: acct + "/MultiPartyCall/{mpc_id}/Participant", action: "mpc.add_participant", retiredOK: true, object: "mpc", idVar: "mpc_id", handler: s.addParticipant, allowed: set(mpcAddParams...)},
		{Method: "GET", Pattern: acct + "/MultiPartyCall/{mpc_id}/Participant", action: "mpc.participants", object: "mpc", idVar: "mpc_id", handler: s.listParticipants, allowed: set("call_uuid")},
		{Method: "GET", Pattern: acct + "/MultiPartyCall/{mpc_id}/Participant/{member_id}", action: "mpc.participant", object: "mpc", idVar: "mpc_id", handler: s.getParticipant},
		{Method: "POST", Pattern: acct + "/MultiPartyCall/{mpc_id}/Participant/{member_id}", action: "mpc.update_participant", retiredOK: true, object: "mpc", idVar: "mpc_id", handler: s.updateParticipant, allowed: set("mute", "hold", "coach_mode", "disable_state_change_sound")},
		{Method: "DELETE", Pattern: acct + "/MultiPartyCall/{mpc_id}/Participant/{member_id}", action: "mpc.kick", retiredOK: true, object: "mpc", idVar: "mpc_id", handler: s.participantCommand("kick")},
		{Method: "POST", Pattern: acct + "/MultiPartyCall/{mpc_id}/Record", action: "mpc.record", retiredOK: true, object: "mpc", idVar: "mpc_id", handler: s.recordMPC(false), allowed: set("file_format", "recording_callback_url", "recording_callback_method", "transcription_url", "transcript")},
		{Method: "DELETE", Pattern: acct + "/MultiPartyCall/{mpc_id}/Record", action: "mpc.record_stop", retiredOK: true, object: "mpc", idVar: "mpc_id", handler: s.mpcCommand("stop_record")},
		{Method: "POST", Pattern: acct + "/MultiPartyCall/{mpc_id}/Record/Pause", action: "mpc.record_pause", retiredOK: true, object: "mpc", idVar: "mpc_id", handler: s.mpcCommand("pause_record")},
		{Method: "POST", Pattern: acct + "/MultiPartyCall/{mpc_id}/Record/Resume", action: "mpc.record_resume", retiredOK: true, object: "mpc", idVar: "mpc_id", handler: s.mpcCommand("resume_record")},
		{Method: "POST", Pattern: acct + "/MultiPartyCall/{mpc_id}/Participant/{member_id}/Record", action: "mpc.participant_record", retiredOK: true, object: "mpc", idVar: "mpc_id", handler: s.recordMPC(true), allowed: set("file_format", "recording_callback_url", "recording_callback_method", "record_track_type", "transcription_url", "transcript")},
		{Method: "DELETE", Pattern: acct + "/MultiPartyCall/{mpc_id}/Participant/{member_id}/Record", action: "mpc.participant_record_stop", retiredOK: true, object: "mpc", idVar: "mpc_id", handler: s.participantCommand("stop_participant_record"), allowed: set("record_track_type")},
		{Method: "POST", Pattern: acct + "/MultiPartyCall/{mpc_id}/Participant/{member_id}/Record/Pause", action: "mpc.participant_record_pause", retiredOK: true, object: "mpc", idVar: "mpc_id", handler: s.participantCommand("pause_participant_record"), allowed: set("record_track_type")},
		{Method: "POST", Pattern: acct + "/MultiPartyCall/{mpc_id}/Participant/{member_id}/Record/Resume", action: "mpc.participant_record_resume", retiredOK: true, object: "mpc", idVar: "mpc_id", handler: s.participantCommand("resume_participant_record"), allowed: set("record_track_type")},
		{Method: "POST", Pattern: acct + "/MultiPartyCall/{mpc_id}/Member/{member_id}/Play", action: "mpc.play", retiredOK: true, object: "mpc", idVar: "mpc_id", handler: s.playMPC, allowed: set("url", "urls")},
		{Method: "DELETE", Pattern: acct + "/MultiPartyCall/{mpc_id}/Member/{member_id}/Play", action: "mpc.play_stop", retiredOK: true, object: "mpc", idVar: "mpc_id", handler: s.participantCommand("stop_play")},

		{Method: "GET", Pattern: acct + "/Recording", action: "recording.list", object: "recording", handler: s.listRecordings,
			allowed: set(recordingListParams...)},
		// The audio comes before Recording/{recording_id}, which would take "id.wav" as an id.
		{Method: "GET", Pattern: acct + "/Recording/{recording_id}.{format}", action: "recording.audio", object: "recording",
			idVar: "recording_id", handler: s.recordingAudio, auditRead: true, subPath: true},
		{Method: "GET", Pattern: acct + "/Recording/{recording_id}", action: "recording.get", object: "recording", idVar: "recording_id",
			handler: s.getRecording},
		{Method: "DELETE", Pattern: acct + "/Recording/{recording_id}", action: "recording.delete", object: "recording",
			idVar: "recording_id", handler: s.deleteRecording},

		{Method: "GET", Pattern: acct + "/AuditLog", action: "auditlog.list", object: "audit", handler: s.listAudit,
			allowed: set(append([]string{"action", "subaccount", "time__gt", "time__gte", "time__lt", "time__lte", "tree_size"}, pageParams...)...)},
		{Method: "GET", Pattern: acct + "/AuditLog/Checkpoint", action: "auditlog.checkpoint", object: "audit", handler: s.getAuditCheckpoint,
			allowed: set("tree_size")},
		{Method: "GET", Pattern: acct + "/AuditLog/Consistency", action: "auditlog.consistency", object: "audit", handler: s.getAuditConsistency,
			allowed: set("old_size", "new_size")},
	}
	for _, r := range rs {
		r.segs = strings.Split(strings.Trim(r.Pattern, "/"), "/")
		if r.Method == http.MethodGet {
			r.retiredOK = true // reads change nothing
		}
		if r.allowed == nil {
			r.allowed = map[string]bool{}
		}
	}
	return rs
}

func set(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// splitPath normalises a request path the way Plivo's SDKs need: a trailing slash or
// none, and empty segments from "//" are ignored. "." and ".." segments are refused
// rather than resolved, so no path can climb into another account's tree.
func splitPath(p string) ([]string, bool) {
	var segs []string
	for _, s := range strings.Split(p, "/") {
		switch s {
		case "":
			continue
		case ".", "..":
			return nil, false
		}
		segs = append(segs, s)
	}
	return segs, true
}

// match finds the route for method and path: 404 when no pattern fits, 405 when the path
// exists for other methods.
func (s *Server) match(method, path string) (*route, map[string]string, error) {
	segs, ok := splitPath(path)
	if !ok {
		return nil, nil, errNotFound
	}
	var allow []string
	for _, r := range s.routes {
		vars, ok := matchSegs(r.segs, segs)
		if !ok {
			continue
		}
		if r.Method == method {
			return r, vars, nil
		}
		allow = append(allow, r.Method)
	}
	if len(allow) > 0 {
		sort.Strings(allow)
		allow = slices.Compact(allow) // two shapes may match one path ("Recording/x.wav")
		return nil, nil, &Error{Status: http.StatusMethodNotAllowed, Msg: "method " + method + " is not allowed here; use " + strings.Join(allow, ", ")}
	}
	return nil, nil, errNotFound
}

func matchSegs(pattern, segs []string) (map[string]string, bool) {
	if len(pattern) != len(segs) {
		return nil, false
	}
	// The literal segments first: most routes tried fail there, before any map is made
	// (the look-up runs for every request).
	for i, p := range pattern {
		if !strings.HasPrefix(p, "{") && p != segs[i] {
			return nil, false
		}
	}
	vars := make(map[string]string, 2)
	for i, p := range pattern {
		if strings.HasPrefix(p, "{") {
			name := p[1 : len(p)-1]
			// "{a}.{b}" splits a segment at its last dot ("id.wav"); both parts non-empty.
			if a, b, ok := strings.Cut(name, "}.{"); ok {
				dot := strings.LastIndexByte(segs[i], '.')
				if dot <= 0 || dot == len(segs[i])-1 {
					return nil, false
				}
				vars[a], vars[b] = segs[i][:dot], segs[i][dot+1:]
				continue
			}
			vars[name] = segs[i]
			continue
		}
		if p != segs[i] {
			return nil, false
		}
	}
	return vars, true
}
