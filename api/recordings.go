package api

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"strconv"
	"strings"

	"github.com/trunkline/trunkline"
)

// RecordingFiles gives the API the audio of recordings and removes it. The voice side
// implements it over its encrypted files; the API never sees keys or paths.
type RecordingFiles interface {
	// Open returns the decrypted audio of a recording; an error wrapping fs.ErrNotExist
	// when there is none.
	Open(ctx context.Context, accountID, recordingID string) (io.ReadCloser, error)
	// Remove deletes a recording's file; a missing file may be reported with
	// fs.ErrNotExist or not at all.
	Remove(ctx context.Context, accountID, recordingID string) error
}

// keyForgetter is what RecordingFiles that keep accounts' data keys in memory
// (recording.Files) also implement: after the store destroyed a deleted account's keys
// (crypto-shredding) the cached copy must go too, or its recordings would still open.
type keyForgetter interface {
	Forget(accountID string)
}

var recordingListParams = []string{"subaccount", "call_uuid", "add_time", "add_time__gt", "add_time__gte", "add_time__lt",
	"add_time__lte", "from_number", "to_number", "conference_name", "limit", "offset"}

// audioTypes are the recording formats and their media types.
var audioTypes = map[string]string{"wav": "audio/wav", "mp3": "audio/mpeg"}

// recordingURL is where the audio is served: under the owning account, so the same URL
// works for the owner and for its main account, in API replies and in callbacks alike.
func (r *request) recordingURL(rec *trunkline.Recording) string {
	return r.s.base + "/v1/Account/" + rec.AccountID + "/Recording/" + rec.ID + "." + rec.Format
}

// msDecimal renders milliseconds the way Plivo does in recording objects: "345100.00000".
func msDecimal(v int64) string { return strconv.FormatInt(v, 10) + ".00000" }

func (s *Server) recordingObject(r *request, rec *trunkline.Recording) map[string]any {
	return map[string]any{
		"add_time":              plivoDateTime(rec.CreatedAt),
		"call_uuid":             rec.CallUUID,
		"conference_name":       "",
		"from_number":           rec.From,
		"recording_duration_ms": msDecimal(rec.DurationMs),
		"recording_end_ms":      msDecimal(rec.EndMs),
		"recording_format":      rec.Format,
		"recording_id":          rec.ID,
		"recording_start_ms":    msDecimal(rec.StartMs),
		"recording_type":        rec.Type,
		"recording_url":         r.recordingURL(rec),
		"resource_uri":          r.uri("Recording/" + rec.ID + "/"),
		"to_number":             rec.To,
	}
}

func (s *Server) getRecording(r *request) (int, map[string]any, error) {
	rec, err := s.opts.DB.GetRecording(r.Context(), r.scope(), r.vars["recording_id"])
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, s.recordingObject(r, rec), nil
}

func (s *Server) listRecordings(r *request) (int, map[string]any, error) {
	limit, offset, err := r.page()
	if err != nil {
		return 0, nil, err
	}
	p := r.p
	f := trunkline.RecordingFilter{Subaccount: p.Get("subaccount"), CallUUID: p.Get("call_uuid"),
		From: strings.TrimPrefix(p.Get("from_number"), "+"), To: strings.TrimPrefix(p.Get("to_number"), "+"),
		Limit: limit, Offset: offset}
	if v := p.Get("add_time"); v != "" {
		t, unit, err := parseExactTime("add_time", v)
		if err != nil {
			return 0, nil, err
		}
		f.AddFrom, f.AddTo = t, t.Add(unit)
	} else if f.AddFrom, f.AddTo, err = p.timeRange("add_time"); err != nil {
		return 0, nil, err
	}
	if p.Get("conference_name") != "" {
		// There are no conferences yet, so no recording belongs to one.
		return http.StatusOK, r.listBody("Recording/", limit, offset, 0, nil), nil
	}
	recs, total, err := s.opts.DB.ListRecordings(r.Context(), r.scope(), f)
	if err != nil {
		return 0, nil, err
	}
	objs := make([]map[string]any, len(recs))
	for i, rec := range recs {
		objs[i] = s.recordingObject(r, rec)
	}
	return http.StatusOK, r.listBody("Recording/", limit, offset, total, objs), nil
}

// deleteRecording removes the row first (from then on the recording is gone for every
// reader), then the file. A file that cannot be removed is an operator's problem, not the
// client's: it is logged and noted in the audit entry, and it stays encrypted.
func (s *Server) deleteRecording(r *request) (int, map[string]any, error) {
	rec, err := s.opts.DB.DeleteRecording(r.Context(), r.scope(), r.vars["recording_id"])
	if err != nil {
		return 0, nil, err
	}
	r.detail = map[string]string{}
	if rec.AccountID != r.acct.ID {
		r.detail["owner"] = rec.AccountID
	}
	if s.opts.Recordings != nil {
		// Not cancelled with the request: a client that goes away must not leave the file.
		ctx := context.WithoutCancel(r.Context())
		if err := s.opts.Recordings.Remove(ctx, rec.AccountID, rec.ID); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Error("recording deleted but its file was not removed", "api_id", r.apiID, "account_id", rec.AccountID,
				"recording_id", rec.ID, "err", err)
			r.detail["file"] = "not removed"
		}
	}
	return http.StatusNoContent, nil, nil
}

// recordingAudio streams a recording's decrypted audio to its owner or the owner's main
// account. Every other caller, a wrong format and a recording without a file all get the
// same 404. The read is audited (the route says so) before any audio is sent.
func (s *Server) recordingAudio(r *request) (int, map[string]any, error) {
	rec, err := s.opts.DB.GetRecording(r.Context(), r.scope(), r.vars["recording_id"])
	if err != nil {
		return 0, nil, err
	}
	// A main account may come through its subaccount's path (the URL in the
	// subaccount's replies and callbacks); the path must then name the owner.
	if path := r.vars["auth_id"]; path != r.acct.ID && path != rec.AccountID {
		return 0, nil, errNotFound
	}
	ct, ok := audioTypes[rec.Format]
	if !ok || r.vars["format"] != rec.Format || s.opts.Recordings == nil {
		return 0, nil, errNotFound
	}
	body, err := s.opts.Recordings.Open(r.Context(), rec.AccountID, rec.ID)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("recording has no audio file", "api_id", r.apiID, "account_id", rec.AccountID, "recording_id", rec.ID)
			return 0, nil, errNotFound
		}
		return 0, nil, err
	}
	if rec.AccountID != r.acct.ID {
		r.detail = map[string]string{"owner": rec.AccountID}
	}
	r.stream = &stream{contentType: ct, body: body}
	return http.StatusOK, nil, nil
}
