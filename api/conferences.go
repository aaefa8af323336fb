package api

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/trunkline/trunkline"
)

// The Conference API: live rooms of the caller's own account, by name. An
// unknown name and another account's room answer the same 404.

var (
	confRecordParams = []string{"file_format", "transcription_type", "transcription_url", "transcription_method",
		"callback_url", "callback_method", "time_limit"}
	confSpeakParams = []string{"text", "voice", "language"}
)

func (s *Server) confs() (trunkline.ConferenceService, error) {
	if s.opts.Conferences == nil {
		return nil, errNotFound
	}
	return s.opts.Conferences, nil
}

func (s *Server) listConferences(r *request) (int, map[string]any, error) {
	names := []string{}
	if s.opts.Conferences != nil {
		names = s.opts.Conferences.Conferences(r.acct.ID)
	}
	return http.StatusOK, map[string]any{"conferences": names}, nil
}

// plivoSeconds is how Plivo shows run and join times: seconds as a string.
func plivoSeconds(d time.Duration) string { return strconv.Itoa(int(d / time.Second)) }

func (s *Server) getConference(r *request) (int, map[string]any, error) {
	cs, err := s.confs()
	if err != nil {
		return 0, nil, err
	}
	c, err := cs.Conference(r.acct.ID, r.vars["conference_name"])
	if err != nil {
		return 0, nil, confError(err)
	}
	now := time.Now()
	members := make([]map[string]any, 0, len(c.Members))
	for _, m := range c.Members {
		members = append(members, map[string]any{"member_id": m.ID, "muted": m.Muted, "deaf": m.Deaf, "from": m.From,
			"to": m.To, "caller_name": m.CallerName, "direction": m.Direction, "call_uuid": m.CallUUID,
			"join_time": plivoSeconds(now.Sub(m.Joined))})
	}
	return http.StatusOK, map[string]any{"conference_name": c.Name, "conference_run_time": plivoSeconds(now.Sub(c.Created)),
		"conference_member_count": strconv.Itoa(len(c.Members)), "members": members}, nil
}

// confError maps the service's not-found errors to the API's one 404.
func confError(err error) error {
	if trunkline.ErrorCode(err) == trunkline.ENOTFOUND {
		return errNotFound
	}
	return err
}

func (s *Server) hangupConference(r *request) (int, map[string]any, error) {
	cs, err := s.confs()
	if err != nil {
		return 0, nil, err
	}
	if err := cs.HangupConference(r.acct.ID, r.vars["conference_name"]); err != nil {
		return 0, nil, confError(err)
	}
	return http.StatusNoContent, nil, nil
}

func (s *Server) hangupConferences(r *request) (int, map[string]any, error) {
	if s.opts.Conferences != nil {
		s.opts.Conferences.HangupConferences(r.acct.ID)
	}
	return http.StatusNoContent, nil, nil
}

// memberSelector parses the path's member_id: "all" or a comma list of ids.
func memberSelector(v string) (ids []string, all bool, err error) {
	if v == "all" {
		return nil, true, nil
	}
	for _, id := range strings.Split(v, ",") {
		id = strings.TrimSpace(id)
		if id == "" {
			continue
		}
		if _, err := strconv.ParseUint(id, 10, 32); err != nil {
			return nil, false, badRequest("member_id must be all or a comma-separated list of member ids")
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return nil, false, badRequest("member_id must be all or a comma-separated list of member ids")
	}
	return ids, false, nil
}

// memberCommand runs kind on the path's members; reply builds the answer.
func (s *Server) memberCommand(kind string, status int, message string) handlerFunc {
	return func(r *request) (int, map[string]any, error) {
		cs, err := s.confs()
		if err != nil {
			return 0, nil, err
		}
		name := r.vars["conference_name"]
		// A stranger learns nothing from validation errors: the room first.
		if _, err := cs.Conference(r.acct.ID, name); err != nil {
			return 0, nil, confError(err)
		}
		ids, all, err := memberSelector(r.vars["member_id"])
		if err != nil {
			return 0, nil, err
		}
		cmd := trunkline.ConferenceCommand{Kind: kind, Members: ids, All: all}
		switch kind {
		case "play":
			u := r.p.Get("url")
			if u == "" {
				return 0, nil, badRequest("url is required")
			}
			if err := checkURL("url", u); err != nil {
				return 0, nil, err
			}
			cmd.URL = u
		case "speak":
			cmd.Text, cmd.Voice, cmd.Language = r.p.Get("text"), r.p.Get("voice"), r.p.Get("language")
			if strings.TrimSpace(cmd.Text) == "" {
				return 0, nil, badRequest("text is required")
			}
			if len(cmd.Text) > 4096 {
				return 0, nil, badRequest("text is at most 4096 bytes")
			}
			if cmd.Voice == "" {
				cmd.Voice = "WOMAN"
			}
			if cmd.Voice != "WOMAN" && cmd.Voice != "MAN" {
				return 0, nil, badRequest("voice must be WOMAN or MAN")
			}
			if cmd.Language == "" {
				cmd.Language = "en-US"
			}
		}
		res, err := cs.ConferenceCommand(r.Context(), r.acct.ID, name, cmd)
		if err != nil {
			return 0, nil, confError(err)
		}
		if status == http.StatusNoContent {
			return status, nil, nil
		}
		body := map[string]any{"message": message, "member_id": strings.Join(res.MemberIDs, ",")}
		return status, body, nil
	}
}

func (s *Server) recordConference(r *request) (int, map[string]any, error) {
	cs, err := s.confs()
	if err != nil {
		return 0, nil, err
	}
	name := r.vars["conference_name"]
	if _, err := cs.Conference(r.acct.ID, name); err != nil {
		return 0, nil, confError(err)
	}
	cmd := trunkline.ConferenceCommand{Kind: "record", FileFormat: "mp3"}
	switch f := r.p.Get("file_format"); f {
	case "", "mp3":
	case "wav":
		cmd.FileFormat = "wav"
	default:
		return 0, nil, badRequest("file_format must be mp3 or wav")
	}
	if r.p.Get("time_limit") != "" {
		n, err := r.p.Int("time_limit", 0, 1, 86400)
		if err != nil {
			return 0, nil, err
		}
		cmd.TimeLimit = time.Duration(n) * time.Second
	}
	if cmd.CallbackURL, cmd.CallbackMethod, err = optionalCallback(r.p, "callback_url", "callback_method"); err != nil {
		return 0, nil, err
	}
	if cmd.TranscriptionURL, cmd.TranscriptionMethod, err = optionalCallback(r.p, "transcription_url", "transcription_method"); err != nil {
		return 0, nil, err
	}
	res, err := cs.ConferenceCommand(r.Context(), r.acct.ID, name, cmd)
	if err != nil {
		return 0, nil, confError(err)
	}
	r.objectType, r.objectID = "recording", res.RecordingID
	return http.StatusAccepted, map[string]any{"message": "conference recording started", "recording_id": res.RecordingID, "url": res.URL}, nil
}

func (s *Server) stopRecordingConference(r *request) (int, map[string]any, error) {
	cs, err := s.confs()
	if err != nil {
		return 0, nil, err
	}
	if _, err := cs.ConferenceCommand(r.Context(), r.acct.ID, r.vars["conference_name"], trunkline.ConferenceCommand{Kind: "stop_record"}); err != nil {
		return 0, nil, confError(err)
	}
	return http.StatusNoContent, nil, nil
}
