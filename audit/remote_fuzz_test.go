package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
)

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// FuzzRemoteReply feeds arbitrary GET AuditLog/ replies to the customer's verifier, from
// a server whose signed checkpoint covers one entry: it must never panic, and may report
// OK with an entry proved only if the reply re-derives that very entry.
func FuzzRemoteReply(f *testing.F) {
	f.Add([]byte(`{"meta":{"total_count":1},"checkpoint":{"tree_size":1},"objects":[{"seq":1,"time":"x"}]}`))
	f.Add([]byte(`{"meta":{"total_count":3},"checkpoint":{"tree_size":1},"objects":[{"seq":2},{"seq":-1},{"seq":1,"inclusion_proof":["AAAA"]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		rep, err := verifyReply(t, body)
		if err != nil || !rep.OK || rep.Entries == 0 {
			return
		}
		leaf := RecordHash(benchEntry(1))
		var list struct{ Objects []wireEntry }
		json.Unmarshal(body, &list)
		for _, w := range list.Objects {
			if e, err := w.entry(); err == nil && RecordHash(e) == leaf {
				return
			}
		}
		t.Fatalf("verified an entry the reply does not hold: %s", body)
	})
}

// verifyReply runs the verifier against a server whose checkpoint covers one entry,
// benchEntry(1), and whose first page of GET AuditLog/ is body.
func verifyReply(t *testing.T, body []byte) (*RemoteReport, error) {
	s, v := fuzzKeys(t)
	leaf := RecordHash(benchEntry(1))
	msg, err := note.Sign(&note.Note{Text: checkpointText(1, leaf, leaf, time.Unix(1_800_000_000, 0))}, s)
	if err != nil {
		t.Fatal(err)
	}
	cp, _ := json.Marshal((&Checkpoint{Size: 1, Root: leaf, Note: msg}).Wire())
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		reply := []byte(`{"meta":{"total_count":0},"checkpoint":{"tree_size":1},"objects":[]}`)
		switch {
		case strings.HasSuffix(r.URL.Path, "/Checkpoint/"):
			reply = cp
		case r.URL.Query().Get("offset") == "0":
			reply = body
		}
		return &http.Response{StatusCode: 200, Body: io.NopCloser(bytes.NewReader(reply)), Header: http.Header{}}, nil
	})
	rm := &Remote{URL: "https://trunkline.test", AuthID: "MA1", AuthToken: "t", Verifier: v, Client: &http.Client{Transport: rt}}
	rep, _, err := rm.Verify(context.Background(), nil)
	return rep, err
}

// TestRemoteReplySeeds: of the committed seeds, the true entry verifies and the
// altered one does not, so the fuzz target explores both sides.
func TestRemoteReplySeeds(t *testing.T) {
	for name, wantOK := range map[string]bool{"good": true, "altered": false} {
		raw, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzRemoteReply", name))
		if err != nil {
			t.Fatal(err)
		}
		_, lit, _ := strings.Cut(strings.TrimSpace(string(raw)), "[]byte(")
		body, err := strconv.Unquote(strings.TrimSuffix(lit, ")"))
		if err != nil {
			t.Fatal(err)
		}
		rep, err := verifyReply(t, []byte(body))
		if err != nil || rep.OK != wantOK || wantOK && rep.Entries != 1 {
			t.Fatalf("%s: %+v, %v", name, rep, err)
		}
	}
}

func TestSeenSeqs(t *testing.T) {
	for _, seqs := range [][]int64{nil, {1}, {1, 2, 3}, {5, 300, 70000, 1 << 40}} {
		got, err := decodeSeqs(encodeSeqs(seqs))
		if err != nil || !slices.Equal(got, seqs) {
			t.Fatalf("%v round-trips to %v, %v", seqs, got, err)
		}
	}
	for _, bad := range []string{"!!", "AA==" /* seq 0, or a repeated seq */, "gA==" /* a cut varint */} {
		if _, err := decodeSeqs(bad); err == nil {
			t.Errorf("%q decodes", bad)
		}
	}
}
