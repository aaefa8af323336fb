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
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/diago"
	"github.com/emiago/sipgo/sip"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/audio"
	"github.com/trunkline/trunkline/config"
	"github.com/trunkline/trunkline/internal/peer"
	"github.com/trunkline/trunkline/internal/rtpobs"
)

// TestConferenceSDK: Plivo's official Node SDK drives every Conference method (17) against
// live rooms on a node started in-process: four diago callers dial the sandbox trunk, the
// application puts three in one room and one in another, and conference-sdk.js mutes,
// deafens, plays, speaks, records, kicks and hangs up through the SDK, checking each effect
// with conferences.get. The recording callback and the ended calls are checked here.
func TestConferenceSDK(t *testing.T) {
	node, nodeDir := peer.Node(t, "plivo")
	c := config.Default()
	c.DataDir = filepath.Join(t.TempDir(), "data")
	c.Log.File = "-"
	c.API.Listen = "127.0.0.1:0"
	c.Voice.Listen = "127.0.0.1:0"
	c.Metrics.Listen = ""
	c.Webhook.Allow = []string{"127.0.0.0/8"}
	if problems, _ := c.Validate(); len(problems) > 0 {
		t.Fatalf("config: %v", problems)
	}
	m := NewMain(&c, io.Discard, io.Discard)
	t.Cleanup(func() { m.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := m.Run(ctx); err != nil {
		t.Fatal(err)
	}
	created, err := m.p.accounts.CreateMain(ctx, "Rooms")
	if err != nil {
		t.Fatal(err)
	}
	acct := created.Account.ID

	const roomA, roomB = "Sales Room", "Support"
	recorded := make(chan url.Values, 4)
	tone := audio.Tone(500, 1000, -16)
	var wav bytes.Buffer
	audio.WAVEncoder{}.Encode(ctx, &wav, tone)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		switch r.URL.Path {
		case "/answer":
			room := roomA
			if r.Form.Get("To") == "14155550124" {
				room = roomB
			}
			w.Header().Set("Content-Type", "text/xml")
			io.WriteString(w, `<Response><Conference>`+room+`</Conference></Response>`)
		case "/tone.wav":
			w.Header().Set("Content-Type", "audio/wav")
			w.Write(wav.Bytes())
		case "/recorded":
			select {
			case recorded <- r.Form:
			default:
			}
		}
	}))
	defer app.Close()
	appRow := &trunkline.Application{ID: "77", AccountID: acct, Name: "rooms", AnswerURL: app.URL + "/answer", AnswerMethod: "POST", Enabled: true}
	if err := m.p.db.CreateApplication(ctx, appRow); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"14155550123", "14155550124"} {
		if _, err := m.p.db.ImportNumbers(ctx, []*trunkline.Number{{Number: n, CountryISO: "US", Type: "local", VoiceEnabled: true}}); err != nil {
			t.Fatal(err)
		}
		if _, err := m.p.db.RentNumber(ctx, n, acct, appRow.ID); err != nil {
			t.Fatal(err)
		}
	}
	// Four callers, in order, so the members of room A are 1, 2 and 3.
	dg := peer.DiagoPhone(t, "conference-caller")
	var dialogs []*diago.DialogClientSession
	for i, to := range []string{"14155550123", "14155550123", "14155550123", "14155550124"} {
		d, _, err := dg.Invite(ctx, sip.Uri{User: to, Host: "127.0.0.1", Port: int(m.SIPAddr().Port())}, diago.InviteOptions{})
		if err != nil {
			t.Fatalf("caller %d: %v", i, err)
		}
		t.Cleanup(func() { d.Close() })
		dialogs = append(dialogs, d)
		room, want := roomA, i+1
		if i == 3 {
			room, want = roomB, 1
		}
		deadline := time.Now().Add(15 * time.Second)
		for {
			conf, err := m.vs.srv.Conference(acct, room)
			if err == nil && len(conf.Members) == want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("caller %d not in %s: %+v %v", i, room, conf, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	caPath := filepath.Join(c.DataDir, "tls", "ca.crt")
	nctx, ncancel := context.WithTimeout(ctx, 90*time.Second)
	defer ncancel()
	cmd := exec.CommandContext(nctx, node, "conference-sdk.js")
	cmd.Dir = nodeDir
	cmd.Env = append(e2eEnv(nil), "PLIVO_TEST_BASE="+m.PublicURL(), "NODE_EXTRA_CA_CERTS="+caPath,
		"PLIVO_AUTH_ID="+acct, "PLIVO_AUTH_TOKEN="+created.Token, "ROOM_A="+roomA, "ROOM_B="+roomB,
		"PLAY_URL="+app.URL+"/tone.wav", "RECORD_CALLBACK="+app.URL+"/recorded")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("node conference-sdk.js: %v\n%s%s", err, out.String(), errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var res struct {
		Methods int
		Passed  []string
	}
	json.Unmarshal([]byte(lines[len(lines)-1]), &res)
	if res.Methods != 17 {
		t.Fatalf("%d Conference methods passed (%v); want all 17\n%s", res.Methods, res.Passed, out.String())
	}
	t.Logf("Node SDK Conference methods that work: %d: %v", res.Methods, res.Passed)
	select {
	case p := <-recorded:
		if p.Get("conference_name") != roomA || p.Get("recording_id") == "" || p.Get("recording_duration_ms") == "" {
			t.Fatalf("record callback: %v", p)
		}
		r, err := m.p.db.GetRecording(ctx, trunkline.Scope{AccountID: acct}, p.Get("recording_id"))
		if err != nil || r.Type != "conference" || r.DurationMs < 1000 {
			t.Fatalf("recording %+v %v", r, err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no recording callback")
	}
	for i, d := range dialogs {
		select {
		case <-d.Context().Done():
		case <-time.After(15 * time.Second):
			t.Fatalf("caller %d still up after the rooms were hung up", i)
		}
	}
}

// TestMPCSDK: Plivo's official Node SDK drives every MultiPartyCall method (19) against a
// live MPC on a node started in-process: an agent and a customer join by XML, a third
// live call is added by the API (call_uuid), a fourth is placed by the API (from and
// to) through the node's one trunk to a SIPp callee, then mpc-sdk.js updates, records,
// plays, kicks and ends it, checking the effects through the SDK.
func TestMPCSDK(t *testing.T) {
	node, nodeDir := peer.Node(t, "plivo")
	peer.SIPp(t)
	// The callee addParticipant's "to" reaches: a SIPp UAS whose RTP goes to obs, the
	// only trunk, for numbers starting with 1.
	obs := rtpobs.Listen(t)
	uctx, ucancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer ucancel()
	uas, err := peer.StartSIPp(uctx, t, peer.SIPpOptions{Scenario: peer.SIPpScenario(t, "uas_answer.xml"), Timeout: 110 * time.Second,
		Keys: map[string]string{"obs_ip": obs.IP(), "obs_port": strconv.Itoa(obs.Port())}})
	if err != nil {
		t.Fatal(err)
	}
	c := config.Default()
	c.Voice.Trunks = []config.Trunk{{Name: "sipp", Address: uas.Addr()}}
	c.Voice.Routes = []config.Route{{Prefix: "1", Carriers: []config.Hop{{Name: "sipp"}}}}
	c.DataDir = filepath.Join(t.TempDir(), "data")
	c.Log.File = "-"
	c.API.Listen = "127.0.0.1:0"
	c.Voice.Listen = "127.0.0.1:0"
	c.Metrics.Listen = ""
	c.Webhook.Allow = []string{"127.0.0.0/8"}
	if problems, _ := c.Validate(); len(problems) > 0 {
		t.Fatalf("config: %v", problems)
	}
	m := NewMain(&c, io.Discard, io.Discard)
	t.Cleanup(func() { m.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := m.Run(ctx); err != nil {
		t.Fatal(err)
	}
	created, err := m.p.accounts.CreateMain(ctx, "Desk")
	if err != nil {
		t.Fatal(err)
	}
	acct := created.Account.ID
	var wav bytes.Buffer
	audio.WAVEncoder{}.Encode(ctx, &wav, audio.Tone(500, 1000, -16))
	var joined int
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		switch r.URL.Path {
		case "/answer":
			w.Header().Set("Content-Type", "text/xml")
			if r.Form.Get("To") == "14155550124" {
				io.WriteString(w, `<Response><Wait length="120"/></Response>`)
				return
			}
			joined++
			role := map[bool]string{true: "agent", false: "customer"}[joined == 1]
			io.WriteString(w, `<Response><MultiPartyCall role="`+role+`" stayAlone="true">Desk</MultiPartyCall></Response>`)
		case "/tone.wav":
			w.Header().Set("Content-Type", "audio/wav")
			w.Write(wav.Bytes())
		}
	}))
	defer app.Close()
	appRow := &trunkline.Application{ID: "78", AccountID: acct, Name: "desk", AnswerURL: app.URL + "/answer", AnswerMethod: "POST", Enabled: true}
	if err := m.p.db.CreateApplication(ctx, appRow); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"14155550123", "14155550124"} {
		if _, err := m.p.db.ImportNumbers(ctx, []*trunkline.Number{{Number: n, CountryISO: "US", Type: "local", VoiceEnabled: true}}); err != nil {
			t.Fatal(err)
		}
		if _, err := m.p.db.RentNumber(ctx, n, acct, appRow.ID); err != nil {
			t.Fatal(err)
		}
	}
	dg := peer.DiagoPhone(t, "mpc-caller")
	var dialogs []*diago.DialogClientSession
	for i, to := range []string{"14155550123", "14155550123", "14155550124"} {
		d, _, err := dg.Invite(ctx, sip.Uri{User: to, Host: "127.0.0.1", Port: int(m.SIPAddr().Port())}, diago.InviteOptions{})
		if err != nil {
			t.Fatalf("caller %d: %v", i, err)
		}
		t.Cleanup(func() { d.Close() })
		dialogs = append(dialogs, d)
		if i == 2 {
			break
		}
		deadline := time.Now().Add(15 * time.Second)
		for {
			mp, err := m.vs.srv.MPC(acct, "name_Desk")
			if err == nil && len(mp.Participants) == i+1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("caller %d not in the MPC: %+v %v", i, mp, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	move := ""
	deadline := time.Now().Add(15 * time.Second)
	for move == "" && time.Now().Before(deadline) {
		for _, lc := range m.vs.srv.Live(func(a string) bool { return a == acct }, false) {
			if lc.To == "14155550124" && lc.Status == "in-progress" {
				move = lc.CallUUID
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if move == "" {
		t.Fatal("the third call is not live")
	}
	caPath := filepath.Join(c.DataDir, "tls", "ca.crt")
	nctx, ncancel := context.WithTimeout(ctx, 90*time.Second)
	defer ncancel()
	cmd := exec.CommandContext(nctx, node, "mpc-sdk.js")
	cmd.Dir = nodeDir
	cmd.Env = append(e2eEnv(nil), "PLIVO_TEST_BASE="+m.PublicURL(), "NODE_EXTRA_CA_CERTS="+caPath,
		"PLIVO_AUTH_ID="+acct, "PLIVO_AUTH_TOKEN="+created.Token, "MPC_NAME=Desk", "MOVE_CALL="+move, "PLAY_URL="+app.URL+"/tone.wav",
		"DIAL_FROM=14155550123", "DIAL_TO=14155550199")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("node mpc-sdk.js: %v\n%s%s", err, out.String(), errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var res struct {
		Methods int
		Passed  []string
	}
	json.Unmarshal([]byte(lines[len(lines)-1]), &res)
	if res.Methods != 19 {
		t.Fatalf("%d MultiPartyCall methods passed (%v); want all 19\n%s", res.Methods, res.Passed, out.String())
	}
	t.Logf("Node SDK MultiPartyCall methods that work: %d: %v", res.Methods, res.Passed)
	for i, d := range dialogs {
		select {
		case <-d.Context().Done():
		case <-time.After(15 * time.Second):
			t.Fatalf("caller %d still up after the MPC ended", i)
		}
	}
	// The placed call reached SIPp, carried the MPC's audio to it while it was in, and
	// was hung up when the MPC ended (SIPp answers the BYE and counts the call).
	if n := obs.Packets(); n < 25 {
		t.Fatalf("the callee placed by addParticipant got %d RTP packets; want the MPC's audio", n)
	}
	uas.Stop()
	ures, err := uas.Wait()
	if err != nil || ures.Successful != 1 {
		t.Fatalf("SIPp callee: %v %v", ures, err)
	}
	calls, _, err := m.p.db.ListCalls(ctx, trunkline.Scope{AccountID: acct}, trunkline.CallFilter{Limit: 20})
	if err != nil {
		t.Fatal(err)
	}
	placed := 0
	for _, cl := range calls {
		if cl.To == "14155550199" && cl.Direction == "outbound" && cl.HangupCauseCode != 0 {
			placed++
		}
	}
	if placed != 1 {
		t.Fatalf("%d finished outbound calls to the callee in the records; want 1: %+v", placed, calls)
	}
}
