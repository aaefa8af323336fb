package api

import (
	"net/http"
	"time"

	"github.com/trunkline/trunkline"
)

// The call Stream API: Call/{uuid}/Stream/ start, list, get, stop one and
// all. The voice server implements trunkline.StreamService besides
// trunkline.CallService, and is the Calls option as it is; a Calls that
// streams nothing (a test's fake) answers 404 here.

var streamParams = []string{"service_url", "bidirectional", "audio_track", "stream_timeout", "status_callback_url",
	"status_callback_method", "content_type", "extra_headers", "keep_call_alive", "noise_cancellation",
	"noise_cancellation_level", "cx_bot", "call_uuid"}

func (s *Server) streams() trunkline.StreamService {
	ss, _ := s.opts.Calls.(trunkline.StreamService)
	return ss
}

// ownStreamCall is ownLiveCall for the stream routes: 404 unless the call
// runs, the caller may see it, and the server streams.
func (s *Server) ownStreamCall(r *request) (trunkline.StreamService, error) {
	if err := s.ownLiveCall(r); err != nil {
		return nil, err
	}
	ss := s.streams()
	if ss == nil {
		return nil, errNotFound
	}
	return ss, nil
}

// startStream is POST Call/{uuid}/Stream/.
func (s *Server) startStream(r *request) (int, map[string]any, error) {
	ss, err := s.ownStreamCall(r)
	if err != nil {
		return 0, nil, err
	}
	p := r.p
	st := trunkline.StreamStart{ServiceURL: p.Get("service_url"), AudioTrack: p.Get("audio_track"),
		ContentType: p.Get("content_type"), ExtraHeaders: p.Get("extra_headers")}
	if st.ServiceURL == "" {
		return 0, nil, badRequest("service_url is required")
	}
	if st.Bidirectional, err = p.Bool("bidirectional", false); err != nil {
		return 0, nil, err
	}
	switch st.AudioTrack {
	case "":
		st.AudioTrack = "inbound"
	case "inbound", "outbound", "both":
	default:
		return 0, nil, badRequest("audio_track must be inbound, outbound or both")
	}
	if st.Bidirectional && st.AudioTrack != "inbound" {
		return 0, nil, badRequest("a bidirectional stream takes audio_track inbound only")
	}
	n, err := p.Int("stream_timeout", 86400, 1, 86400)
	if err != nil {
		return 0, nil, err
	}
	st.Timeout = time.Duration(n) * time.Second
	if len(st.ExtraHeaders) > 512 {
		return 0, nil, badRequest("extra_headers is at most 512 bytes")
	}
	if st.StatusCallbackURL, st.StatusCallbackMethod, err = optionalCallback(p, "status_callback_url", "status_callback_method"); err != nil {
		return 0, nil, err
	}
	if _, err := p.Bool("keep_call_alive", false); err != nil {
		return 0, nil, err
	}
	info, err := ss.StartStream(r.Context(), r.vars["call_uuid"], st)
	if err != nil {
		return 0, nil, s.streamError(err)
	}
	r.objectType, r.objectID = "stream", info.StreamID
	return http.StatusOK, map[string]any{"message": "audio streaming started", "stream_id": info.StreamID}, nil
}

// streamError maps a missing call to the API's plain 404.
func (s *Server) streamError(err error) error {
	if err == trunkline.ErrNoLiveCall {
		return errNotFound
	}
	return err
}

func streamObject(st trunkline.StreamInfo, authID string) map[string]any {
	ts := func(t time.Time) any {
		if t.IsZero() {
			return nil
		}
		return t.UTC().Format("2006-01-02 15:04:05-07:00")
	}
	dur := 0
	if !st.StartTime.IsZero() {
		end := st.EndTime
		if end.IsZero() {
			end = time.Now()
		}
		dur = int(end.Sub(st.StartTime) / time.Second)
	}
	return map[string]any{"stream_id": st.StreamID, "call_uuid": st.CallUUID, "service_url": st.ServiceURL,
		"audio_track": st.AudioTrack, "bidirectional": st.Bidirectional, "status": st.Status,
		"status_callback_url": st.StatusCallbackURL, "content_type": st.ContentType,
		"start_time": ts(st.StartTime), "end_time": ts(st.EndTime), "created_at": ts(st.CreatedAt),
		"bill_duration": dur, "billed_amount": "0.00000", "rounded_bill_duration": (dur + 59) / 60 * 60,
		"plivo_auth_id": authID,
		"resource_uri":  "/v1/Account/" + authID + "/Call/" + st.CallUUID + "/Stream/" + st.StreamID + "/"}
}

// listStreams is GET Call/{uuid}/Stream/.
func (s *Server) listStreams(r *request) (int, map[string]any, error) {
	ss, err := s.ownStreamCall(r)
	if err != nil {
		return 0, nil, err
	}
	list, err := ss.Streams(r.vars["call_uuid"])
	if err != nil {
		return 0, nil, s.streamError(err)
	}
	objs := make([]map[string]any, 0, len(list))
	for _, st := range list {
		objs = append(objs, streamObject(st, r.vars["auth_id"]))
	}
	return http.StatusOK, map[string]any{"objects": objs,
		"meta": map[string]any{"count": len(objs), "limit": 20, "offset": 0, "next": nil, "previous": nil}}, nil
}

// getStream is GET Call/{uuid}/Stream/{stream_id}/.
func (s *Server) getStream(r *request) (int, map[string]any, error) {
	ss, err := s.ownStreamCall(r)
	if err != nil {
		return 0, nil, err
	}
	st, err := ss.Stream(r.vars["call_uuid"], r.vars["stream_id"])
	if err != nil {
		return 0, nil, s.streamError(err)
	}
	return http.StatusOK, streamObject(st, r.vars["auth_id"]), nil
}

// stopStream is DELETE Call/{uuid}/Stream/{stream_id}/ and, without an id,
// DELETE Call/{uuid}/Stream/ (every running stream).
func (s *Server) stopStream(r *request) (int, map[string]any, error) {
	ss, err := s.ownStreamCall(r)
	if err != nil {
		return 0, nil, err
	}
	if err := ss.StopStream(r.vars["call_uuid"], r.vars["stream_id"]); err != nil {
		return 0, nil, s.streamError(err)
	}
	return http.StatusNoContent, nil, nil
}
