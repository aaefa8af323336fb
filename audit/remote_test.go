package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// wireOf is e as GET AuditLog/ serves it; proof nil for an entry newer than
// the checkpoint.
func wireOf(e Entry, proof []string) map[string]any {
	return map[string]any{"seq": e.Seq, "time": e.At.UTC().Format(WireTime), "account_id": e.AccountID, "actor": e.Actor,
		"credential_id": e.CredentialID, "action": e.Action, "object_type": e.ObjectType, "object_id": e.ObjectID,
		"source": e.Source, "node": e.Node, "outcome": e.Outcome, "detail": e.Detail, "inclusion_proof": proof}
}

// TestRemotePendingEntryRemoved: an entry of the account newer than the
// checkpoint (shown without a proof) that the next run no longer finds, or
// finds changed, fails the check. Before, the verifier forgot such entries,
// so one removed before the next checkpoint went unnoticed.
func TestRemotePendingEntryRemoved(t *testing.T) {
	s, v := fuzzKeys(t)
	e1, e2 := benchEntry(1), benchEntry(2)
	leaf := RecordHash(e1)
	msg, err := note.Sign(&note.Note{Text: checkpointText(1, leaf, leaf, time.Unix(1_800_000_000, 0))}, s)
	if err != nil {
		t.Fatal(err)
	}
	cp, _ := json.Marshal((&Checkpoint{Size: 1, Root: leaf, Note: msg}).Wire())
	var objects []map[string]any
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		reply := cp
		if !strings.HasSuffix(r.URL.Path, "/Checkpoint/") {
			reply, _ = json.Marshal(map[string]any{"meta": map[string]any{"total_count": len(objects)},
				"checkpoint": map[string]any{"tree_size": 1}, "objects": objects})
		}
		return &http.Response{StatusCode: 200, Body: io.NopCloser(bytes.NewReader(reply)), Header: http.Header{}}, nil
	})
	rm := &Remote{URL: "https://trunkline.test", AuthID: "MA1", AuthToken: "t", Verifier: v, Client: &http.Client{Transport: rt}}
	run := func(prev *RemoteState, objs ...map[string]any) (*RemoteReport, *RemoteState) {
		t.Helper()
		objects = objs
		rep, next, err := rm.Verify(context.Background(), prev)
		if err != nil {
			t.Fatal(err)
		}
		// Through JSON, as the state file keeps it.
		b, _ := json.Marshal(next)
		var kept RemoteState
		json.Unmarshal(b, &kept)
		return rep, &kept
	}
	rep, st := run(nil, wireOf(e2, nil), wireOf(e1, []string{}))
	if !rep.OK || rep.Entries != 1 || rep.Pending != 1 {
		t.Fatalf("first run: %+v", rep)
	}
	// Still shown, unchanged: fine.
	if rep, _ := run(st, wireOf(e2, nil), wireOf(e1, []string{})); !rep.OK {
		t.Fatalf("same log: %s", rep.Problem)
	}
	// Removed.
	if rep, _ := run(st, wireOf(e1, []string{})); rep.OK || rep.FirstBad != 2 {
		t.Fatalf("a removed pending entry passed: %+v", rep)
	}
	// Altered.
	changed := e2
	changed.Action = "user.login"
	if rep, _ := run(st, wireOf(changed, nil), wireOf(e1, []string{})); rep.OK || rep.FirstBad != 2 {
		t.Fatalf("an altered pending entry passed: %+v", rep)
	}
}
