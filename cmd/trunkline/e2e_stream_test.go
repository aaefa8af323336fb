package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/trunkline/trunkline/internal/peer"
)

// TestStreamSDK: Plivo's Node SDK drives every call Stream method (stream,
// getAllStream, getStream, stopStream, stopAllStream) against a live call through a
// real `trunkline serve`; two WebSocket servers here get the call's audio in Plivo's
// event format and the stop when the SDK stops them.
func TestStreamSDK(t *testing.T) {
	peer.SIPp(t)
	node, nodeDir := e2eNodePeer(t)
	bin := e2eBuild(t)
	_, dataDir, cfg, env := e2eSIPpTrunk(t)
	owner := e2eAccount(t, bin, env, dataDir, "Streamer")

	type sock struct {
		mu     sync.Mutex
		events []map[string]any
		header http.Header
	}
	socks := map[string]*sock{"/one": {}, "/two": {}}
	ws := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := socks[r.URL.Path]
		c, err := websocket.Accept(w, r, nil)
		if s == nil || err != nil {
			return
		}
		s.mu.Lock()
		s.header = r.Header.Clone()
		s.mu.Unlock()
		for {
			_, b, err := c.Read(context.Background())
			if err != nil {
				return
			}
			var m map[string]any
			json.Unmarshal(b, &m)
			s.mu.Lock()
			s.events = append(s.events, m)
			s.mu.Unlock()
		}
	}))
	defer ws.Close()
	status := make(chan url.Values, 16)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		switch r.URL.Path {
		case "/answer":
			w.Header().Set("Content-Type", "text/xml")
			io.WriteString(w, `<Response><Speak>Hello from a call with audio streams</Speak><Wait length="60"/></Response>`)
		case "/status":
			status <- r.Form
		case "/ready":
			// Ready once the first stream has half a second of the call's audio.
			s := socks["/one"]
			s.mu.Lock()
			media := 0
			for _, e := range s.events {
				if e["event"] == "media" {
					media++
				}
			}
			s.mu.Unlock()
			if media < 25 {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
		}
	}))
	defer app.Close()
	e2eCLI(t, bin, env, "number", "add", "--number", "14155550123", "--country", "US", "--type", "local", "--data-dir", dataDir)
	srv := e2eStartServer(t, bin, env, dataDir, "--config", cfg)
	caPath := filepath.Join(dataDir, "tls", "ca.crt")
	e2eRent(t, srv.base, caPath, owner, "14155550123")
	wsBase := "ws" + strings.TrimPrefix(ws.URL, "http")
	nctx, ncancel := context.WithTimeout(context.Background(), e2eNodeTimeout)
	defer ncancel()
	cmd := exec.CommandContext(nctx, node, "voice-streams.js")
	cmd.Dir = nodeDir
	cmd.Env = append(e2eEnv(nil), "PLIVO_TEST_BASE="+srv.base, "NODE_EXTRA_CA_CERTS="+caPath,
		"PLIVO_AUTH_ID="+owner.AuthID, "PLIVO_AUTH_TOKEN="+owner.AuthToken,
		"CALL_FROM=14155550123", "CALL_TO=14155550100", "ANSWER_URL="+app.URL+"/answer",
		"STREAM_URL_1="+wsBase+"/one", "STREAM_URL_2="+wsBase+"/two", "STATUS_URL="+app.URL+"/status", "READY_URL="+app.URL+"/ready")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("node voice-streams.js: %v\n%s%s", err, out.String(), errOut.String())
	}
	var res struct {
		CallUUID string
		Streams  []string
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	json.Unmarshal([]byte(lines[len(lines)-1]), &res)
	if len(res.Streams) != 2 {
		t.Fatalf("node output: %s", out.String())
	}
	// Each server got start, the call's audio and the stop, in order.
	for i, path := range []string{"/one", "/two"} {
		s := socks[path]
		s.mu.Lock()
		evs := s.events
		h := s.header
		s.mu.Unlock()
		if h.Get("X-Plivo-Signature-V3") == "" {
			t.Errorf("%s: upgrade not signed", path)
		}
		if len(evs) < 2 || evs[0]["event"] != "start" || evs[len(evs)-1]["event"] != "stop" {
			t.Fatalf("%s: %d events, first %v", path, len(evs), evs[0])
		}
		st := evs[0]["start"].(map[string]any)
		if st["callId"] != res.CallUUID || st["streamId"] != res.Streams[i] {
			t.Errorf("%s: start %v", path, evs[0])
		}
		if stop := evs[len(evs)-1]; stop["reason"] != "stopped by the API" {
			t.Errorf("%s: stop %v", path, stop)
		}
		media := 0
		for _, e := range evs {
			if e["event"] == "media" {
				media++
			}
		}
		if path == "/one" {
			if tr := st["tracks"].([]any); len(tr) != 2 || evs[0]["extra_headers"] != "agent=7;team=blue" ||
				st["mediaFormat"].(map[string]any)["encoding"] != "audio/x-mulaw" {
				t.Errorf("/one start %v", evs[0])
			}
			if media < 25 {
				t.Errorf("/one got %d media events; the outbound track runs every 20 ms", media)
			}
		}
	}
	// The first stream's status callback: started, then stopped by the API.
	want := []string{"StartStream", "StopStream"}
	for _, ev := range want {
		select {
		case p := <-status:
			if p.Get("Event") != ev || p.Get("StreamID") != res.Streams[0] || p.Get("CallUUID") != res.CallUUID {
				t.Fatalf("status callback %v, want %s", p, ev)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no %s status callback", ev)
		}
	}
}
