package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trunkline/trunkline/audio"
	"github.com/trunkline/trunkline/internal/peer"
	"github.com/trunkline/trunkline/internal/rtpobs"
)

var e2eSIPRE = regexp.MustCompile(`(?m)^trunkline: SIP listening on (\S+) \(udp, tcp\)$`)

// TestVoiceE2E: a real `trunkline serve` on its defaults (sandbox trunk),
// SIPp calling a rented number whose application records the caller, the
// recording served decrypted by the API to its owner only, and Plivo's Node
// SDK reading the CDR and the recording.
func TestVoiceE2E(t *testing.T) {
	peer.SIPp(t)
	peer.SIPpPcapPlay(t)
	node, nodeDir := e2eNodePeer(t)
	bin := e2eBuild(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	env := e2eEnv(map[string]string{"TRUNKLINE_WEBHOOK_ALLOW": "127.0.0.0/8"})
	const number = "14155550123"
	e2eCLI(t, bin, env, "number", "add", "--number", number, "--country", "US", "--type", "local", "--data-dir", dataDir)
	owner := e2eAccount(t, bin, env, dataDir, "Voice Owner")
	other := e2eAccount(t, bin, env, dataDir, "Someone Else")

	// The customer's application.
	recorded := make(chan url.Values, 1)
	hungup := make(chan url.Values, 1)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		w.Header().Set("Content-Type", "text/xml")
		switch r.URL.Path {
		case "/answer":
			fmt.Fprintf(w, `<Response><Speak>Please leave a message</Speak><Record action="http://%s/recorded" fileFormat="wav" maxLength="30" timeout="5"/></Response>`, r.Host)
		case "/recorded":
			recorded <- r.Form
			// <Message> goes out through messaging (the sandbox SMSC here).
			io.WriteString(w, `<Response><Message src="14155550123" dst="14155550999">We got your voicemail</Message><Hangup/></Response>`)
		case "/hangup":
			select {
			case hungup <- r.Form:
			default:
			}
		}
	}))
	defer app.Close()

	srv := e2eStartServer(t, bin, env, dataDir)
	m := e2eSIPRE.FindStringSubmatch(srv.stdout.String())
	if m == nil {
		t.Fatalf("no SIP address in the server's output:\n%s", srv.stdout.String())
	}
	sipAddr := m[1]
	caPath := filepath.Join(dataDir, "tls", "ca.crt")
	hc := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e2eCAPool(t, caPath)}}}
	api := func(a e2eAcct, method, path string, body any) (int, map[string]any, []byte) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		u := path
		if !strings.HasPrefix(path, "http") {
			u = srv.base + "/v1/Account/" + a.AuthID + "/" + path
		}
		req, _ := http.NewRequest(method, u, rd)
		req.SetBasicAuth(a.AuthID, a.AuthToken)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		var out map[string]any
		json.Unmarshal(raw, &out)
		return res.StatusCode, out, raw
	}
	code, out, raw := api(owner, "POST", "Application/", map[string]any{"app_name": "voicemail",
		"answer_url": app.URL + "/answer", "hangup_url": app.URL + "/hangup"})
	if code != 201 && code != 200 {
		t.Fatalf("create application: %d %s", code, raw)
	}
	if code, _, raw := api(owner, "POST", "PhoneNumber/"+number+"/", map[string]any{"app_id": out["app_id"]}); code != 201 && code != 200 {
		t.Fatalf("rent number: %d %s", code, raw)
	}

	// SIPp calls in and says 3 s of a 500 Hz tone, then presses #.
	tmp := t.TempDir()
	stream := filepath.Join(tmp, "caller.ulaw")
	if err := os.WriteFile(stream, audio.EncodeMulaw(nil, audio.Tone(500, 3000, -12)), 0o600); err != nil {
		t.Fatal(err)
	}
	obs := rtpobs.Listen(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := peer.RunSIPp(ctx, t, peer.SIPpOptions{Scenario: peer.SIPpScenario(t, "uac_record.xml"), Remote: sipAddr,
		Service: number, Calls: 1, Timeout: 45 * time.Second, RecvTimeout: 30 * time.Second,
		Keys: map[string]string{"obs_ip": obs.IP(), "obs_port": strconv.Itoa(obs.Port()), "pre_audio_ms": "3500",
			"caller_stream": stream + ",1,0", "audio_ms": "3000", "pound": "1", "hold_ms": "0"}})
	if err != nil && res == nil {
		t.Fatal(err)
	}
	if res.Successful != 1 {
		t.Fatalf("sipp: %s", res)
	}
	// The prompt is about 1.3 s of a call of about 7 s (the rest is the
	// recording, with comfort noise on the line).
	if f := obs.SpeechFraction(-40); f < 0.1 {
		t.Errorf("the caller heard speech in %.0f%% of the call; want the prompt", f*100)
	}
	var rec url.Values
	select {
	case rec = <-recorded:
	case <-time.After(15 * time.Second):
		t.Fatal("the Record action URL was not called")
	}
	recURL, recID := rec.Get("RecordUrl"), rec.Get("RecordingID")
	if !strings.HasPrefix(recURL, srv.base+"/v1/Account/"+owner.AuthID+"/Recording/") {
		t.Fatalf("RecordUrl %q", recURL)
	}

	// On disk: encrypted.
	onDisk, err := os.ReadFile(filepath.Join(dataDir, "recordings", owner.AuthID, recID+".rec"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.HasPrefix(onDisk, []byte("RIFF")) || bytes.Contains(onDisk, []byte("WAVE")) {
		t.Fatal("the recording on disk is a readable WAV")
	}
	// The owner gets the audio, and it is what SIPp said.
	code, _, wav := api(owner, "GET", recURL, nil)
	if code != 200 {
		t.Fatalf("owner GET %s: %d %s", recURL, code, wav)
	}
	pcm, err := audio.DecodeWAV(bytes.NewReader(wav), 1<<24)
	if err != nil {
		t.Fatal(err)
	}
	loud := 0
	for f := range audio.Frames(pcm) {
		if audio.Level(f) > -30 {
			loud++
		}
	}
	if sec := float64(loud) * 0.02; sec < 2.6 || sec > 3.4 {
		t.Fatalf("%.2f s of the caller's tone in the recording; SIPp sent 3 s", sec)
	}
	// Anyone else: 404, with their own valid credentials.
	if code, _, body := api(other, "GET", recURL, nil); code != 404 {
		t.Fatalf("another account GET %s: %d %s", recURL, code, body)
	}
	if code, _, body := api(other, "GET", "Recording/"+recID+"/", nil); code != 404 {
		t.Fatalf("another account GET Recording: %d %s", code, body)
	}
	select {
	case hp := <-hungup:
		if hp.Get("HangupSource") != "Answer XML" || hp.Get("CallUUID") != rec.Get("CallUUID") {
			t.Errorf("hangup_url: %v", hp)
		}
	case <-time.After(15 * time.Second):
		t.Error("hangup_url was not called")
	}

	// The <Message> of the action's XML was sent.
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, msgs, raw := api(owner, "GET", "Message/?message_direction=outbound", nil)
		if objs, _ := msgs["objects"].([]any); len(objs) == 1 {
			m := objs[0].(map[string]any)
			if m["to_number"] != "14155550999" || m["from_number"] != number {
				t.Fatalf("the <Message>: %s", raw)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no outbound message from <Message>: %s", raw)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Plivo's Node SDK reads the CDR and the recording.
	nctx, ncancel := context.WithTimeout(context.Background(), e2eNodeTimeout)
	defer ncancel()
	cmd := exec.CommandContext(nctx, node, "voice-sdk.js")
	cmd.Dir = nodeDir
	cmd.Env = append(e2eEnv(nil), "PLIVO_TEST_BASE="+srv.base, "NODE_EXTRA_CA_CERTS="+caPath,
		"PLIVO_AUTH_ID="+owner.AuthID, "PLIVO_AUTH_TOKEN="+owner.AuthToken)
	var nodeOut, nodeErr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &nodeOut, &nodeErr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node voice-sdk.js: %v\n%s%s", err, nodeOut.String(), nodeErr.String())
	}
	var sdk struct {
		Call      map[string]any `json:"call"`
		Recording map[string]any `json:"recording"`
	}
	lines := strings.Split(strings.TrimSpace(nodeOut.String()), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sdk); err != nil {
		t.Fatalf("voice-sdk.js printed %q", nodeOut.String())
	}
	if sdk.Call["callUuid"] != rec.Get("CallUUID") || sdk.Call["toNumber"] != number || sdk.Call["callDirection"] != "inbound" ||
		sdk.Call["hangupSource"] != "Answer XML" {
		t.Errorf("the SDK's call: %v", sdk.Call)
	}
	if sdk.Recording["recordingId"] != recID || sdk.Recording["recordingFormat"] != "wav" || sdk.Recording["recordingUrl"] != recURL {
		t.Errorf("the SDK's recording: %v", sdk.Recording)
	}
}

type e2eAcct struct {
	AuthID    string `json:"auth_id"`
	AuthToken string `json:"auth_token"`
}

// e2eRent rents number to a through the API.
func e2eRent(t *testing.T, base, caPath string, a e2eAcct, number string) {
	t.Helper()
	hc := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e2eCAPool(t, caPath)}}}
	req, _ := http.NewRequest("POST", base+"/v1/Account/"+a.AuthID+"/PhoneNumber/"+number+"/", strings.NewReader("{}"))
	req.SetBasicAuth(a.AuthID, a.AuthToken)
	req.Header.Set("Content-Type", "application/json")
	res, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 201 && res.StatusCode != 200 {
		body, _ := io.ReadAll(res.Body)
		t.Fatalf("rent %s: %d %s", number, res.StatusCode, body)
	}
}

func e2eAccount(t *testing.T, bin string, env []string, dataDir, name string) e2eAcct {
	t.Helper()
	out := e2eCLI(t, bin, env, "account", "create", "--name", name, "--json", "--data-dir", dataDir)
	var a e2eAcct
	if err := json.Unmarshal(out, &a); err != nil || a.AuthID == "" {
		t.Fatalf("account create: %q %v", out, err)
	}
	return a
}

// e2eSIPpTrunk starts a SIPp UAS that answers (its RTP to obs) and writes a config
// whose one trunk is that UAS for every number starting with 1; env lets callbacks (and
// plain ws:// streams) reach this machine. The UAS runs until the test ends (80 s at most).
func e2eSIPpTrunk(t *testing.T) (obs *rtpobs.Observer, dataDir, cfg string, env []string) {
	t.Helper()
	obs = rtpobs.Listen(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	uas, err := peer.StartSIPp(ctx, t, peer.SIPpOptions{Scenario: peer.SIPpScenario(t, "uas_answer.xml"), Timeout: 80 * time.Second,
		Keys: map[string]string{"obs_ip": obs.IP(), "obs_port": strconv.Itoa(obs.Port())}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	dataDir = filepath.Join(dir, "data")
	cfg = filepath.Join(dir, "trunkline.toml")
	// One trunk: check-config warns (two per route are asked for) but serve runs.
	os.WriteFile(cfg, []byte(fmt.Sprintf(`[voice]
[[voice.trunks]]
name = "sipp"
address = "%s"
probe_interval = "0s"
[[voice.routes]]
prefix = "1"
carriers = [{name = "sipp"}]
`, uas.Addr())), 0o600)
	return obs, dataDir, cfg, e2eEnv(map[string]string{"TRUNKLINE_WEBHOOK_ALLOW": "127.0.0.0/8"})
}

// TestOutboundCallSDK: Plivo's Node SDK places a call (calls.create) that goes out
// through a configured trunk to a SIPp UAS, sees it live, and hangs it up.
func TestOutboundCallSDK(t *testing.T) {
	peer.SIPp(t)
	node, nodeDir := e2eNodePeer(t)
	bin := e2eBuild(t)
	obs, dataDir, cfg, env := e2eSIPpTrunk(t)
	owner := e2eAccount(t, bin, env, dataDir, "Caller")
	hungup := make(chan url.Values, 1)
	moved := make(chan struct{}, 1)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		switch r.URL.Path {
		case "/answer":
			w.Header().Set("Content-Type", "text/xml")
			io.WriteString(w, `<Response><Speak>Hello from an outbound call</Speak><Wait length="60"/></Response>`)
		case "/moved":
			select {
			case moved <- struct{}{}:
			default:
			}
			w.Header().Set("Content-Type", "text/xml")
			io.WriteString(w, `<Response><Wait length="60"/></Response>`)
		case "/hangup":
			select {
			case hungup <- r.Form:
			default:
			}
		}
	}))
	defer app.Close()
	// The call is placed from 14155550123: the account rents it (a caller ID must be
	// the account's, package callerid).
	e2eCLI(t, bin, env, "number", "add", "--number", "14155550123", "--country", "US", "--type", "local", "--data-dir", dataDir)
	srv := e2eStartServer(t, bin, env, dataDir, "--config", cfg)
	caPath := filepath.Join(dataDir, "tls", "ca.crt")
	e2eRent(t, srv.base, caPath, owner, "14155550123")
	nctx, ncancel := context.WithTimeout(context.Background(), e2eNodeTimeout)
	defer ncancel()
	cmd := exec.CommandContext(nctx, node, "voice-calls.js")
	cmd.Dir = nodeDir
	cmd.Env = append(e2eEnv(nil), "PLIVO_TEST_BASE="+srv.base, "NODE_EXTRA_CA_CERTS="+caPath,
		"PLIVO_AUTH_ID="+owner.AuthID, "PLIVO_AUTH_TOKEN="+owner.AuthToken,
		"CALL_FROM=14155550123", "CALL_TO=14155550100", "ANSWER_URL="+app.URL+"/answer", "HANGUP_URL="+app.URL+"/hangup",
		"TRANSFER_URL="+app.URL+"/moved")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("node voice-calls.js: %v\n%s%s", err, out.String(), errOut.String())
	}
	var res struct{ RequestUUID, CallUUID, RecordingID string }
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	json.Unmarshal([]byte(lines[len(lines)-1]), &res)
	select {
	case <-moved:
	case <-time.After(10 * time.Second):
		t.Fatal("the transfer URL was not fetched")
	}
	// The digits sent from the API reached the callee as telephone-events.
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	obs.Wait(wctx, func() bool { return obs.DigitsPT(101) == "42" })
	if got := obs.DigitsPT(101); got != "42" {
		t.Errorf("the callee got %q as telephone-events; want 42", got)
	}
	select {
	case hp := <-hungup:
		if hp.Get("HangupSource") != "API Request" || hp.Get("CallUUID") != res.CallUUID || hp.Get("Direction") != "outbound" {
			t.Fatalf("hangup_url: %v", hp)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("hangup_url was not called")
	}
	// (What the callee hears is checked in voice's TestOutboundAnsweredRunsXML: here
	// the SDK hangs up as soon as it sees the call live.)
}
