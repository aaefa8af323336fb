package main

// Cluster end-to-end steps (issue 15, items 3 and 4), run inside TestCluster's
// three-node rig before its kill: a phone (baresip) registered through one node is rung
// by <Dial><User> on a call that arrives at another; a token rotated through one node is
// refused by another; the Call Stream API reaches the node holding the call.

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/trunkline/trunkline/internal/peer"
)

// sipAddr is node i's SIP address ("127.0.0.1:port"), as it printed it.
func (r *clusterRig) sipAddr(t *testing.T, i int) string {
	t.Helper()
	m := e2eSIPRE.FindStringSubmatch(r.nodes[i].out.String())
	if m == nil {
		t.Fatalf("n%d printed no SIP address:\n%s", i+1, r.nodes[i].out.String())
	}
	return m[1]
}

// appRecv is a customer application that serves fixed XML and keeps the requests it
// gets, by path.
type appRecv struct {
	*httptest.Server
	mu   sync.Mutex
	xml  map[string]string
	got  map[string][]url.Values
	note chan struct{}
}

func newAppRecv(t *testing.T) *appRecv {
	a := &appRecv{xml: map[string]string{}, got: map[string][]url.Values{}, note: make(chan struct{}, 1)}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		req.ParseForm()
		a.mu.Lock()
		a.got[req.URL.Path] = append(a.got[req.URL.Path], req.Form)
		body := a.xml[req.URL.Path]
		a.mu.Unlock()
		select {
		case a.note <- struct{}{}:
		default:
		}
		if body != "" {
			w.Header().Set("Content-Type", "text/xml")
		}
		io.WriteString(w, body)
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *appRecv) wait(t *testing.T, path string, d time.Duration) url.Values {
	t.Helper()
	deadline := time.After(d)
	for {
		a.mu.Lock()
		got := a.got[path]
		a.mu.Unlock()
		if len(got) > 0 {
			return got[0]
		}
		select {
		case <-a.note:
		case <-deadline:
			t.Fatalf("the application got no request on %s within %s", path, d)
		}
	}
}

// viaRE finds the sent-by of the top Via of the INVITE a baresip trace shows received.
var inviteViaRE = regexp.MustCompile(`(?s)INVITE sip:[^\n]*SIP/2\.0\r?\n(?:[^\n]*\n)*?Via: SIP/2\.0/UDP ([0-9.]+:[0-9]+)`)

// clusterDialUser: a phone registers (UDP) through n1; a call arrives at n2 whose
// answer XML dials the phone's user. n2 finds the registration in the database and
// sends the INVITE from its own SIP socket to the phone's Contact; the phone answers,
// the caller hears it bridged, and the Dial action reports the call completed.
func clusterDialUser(t *testing.T, r *clusterRig) {
	t.Helper()
	peer.Program(t, "baresip")
	app := newAppRecv(t)
	code, body, err := r.apis[0].call(http.MethodPost, "Endpoint/", map[string]any{"username": "clusterphone",
		"password": "Cluster-Phone-7", "alias": "Cluster phone"})
	if err != nil || code != http.StatusCreated {
		t.Fatalf("create an endpoint on n1: HTTP %d %s %v", code, body, err)
	}
	var ep struct {
		Username   string `json:"username"`
		EndpointID string `json:"endpoint_id"`
	}
	if err := json.Unmarshal(body, &ep); err != nil || ep.Username == "" {
		t.Fatalf("endpoint reply %s: %v", body, err)
	}
	app.xml["/answer"] = `<Response><Dial action="` + app.URL + `/dialed" redirect="false"><User>sip:` + ep.Username + `@localhost</User></Dial></Response>`
	code, body, err = r.apis[0].call(http.MethodPost, "Application/", map[string]any{"app_name": "dial-the-phone",
		"answer_url": app.URL + "/answer", "hangup_url": app.URL + "/hangup"})
	var created struct {
		AppID string `json:"app_id"`
	}
	if err != nil || code != http.StatusCreated || json.Unmarshal(body, &created) != nil {
		t.Fatalf("create an application: HTTP %d %s %v", code, body, err)
	}
	if code, body, err := r.apis[0].call(http.MethodPost, "Number/"+smsSource+"/", map[string]any{"app_id": created.AppID}); err != nil || code >= 300 {
		t.Fatalf("assign the application to %s: HTTP %d %s %v", smsSource, code, body, err)
	}

	// The phone registers through n1 only.
	a, b := r.sipAddr(t, 0), r.sipAddr(t, 1)
	phone := peer.StartBaresip(t, peer.BaresipOptions{Trace: true})
	if _, err := phone.Command("uanew", "<sip:"+ep.Username+"@"+a+">;auth_pass=Cluster-Phone-7;answermode=auto;regint=300"); err != nil {
		t.Fatal(err)
	}
	if e, ok := phone.WaitEvent(15*time.Second, "REGISTER_OK", "REGISTER_FAIL"); !ok || e.Type != "REGISTER_OK" {
		t.Fatalf("the phone did not register through n1: %+v (ok %v)\n%s", e, ok, phone.Output())
	}
	// n3's API shows the registration: it is in the database, not in n1's memory.
	code, body, err = r.apis[2].call(http.MethodGet, "Endpoint/"+ep.EndpointID+"/", nil)
	if err != nil || code != http.StatusOK || !strings.Contains(string(body), `"sip_registered":"true"`) {
		t.Fatalf("the endpoint through n3: HTTP %d %s %v", code, body, err)
	}

	// The caller (a second baresip, on the sandbox trunk: loopback) calls the number at n2.
	caller := peer.StartBaresip(t, peer.BaresipOptions{})
	if _, err := caller.Command("uanew", "<sip:caller@127.0.0.1>;regint=0"); err != nil {
		t.Fatal(err)
	}
	if _, err := caller.Command("dial", "sip:"+smsSource+"@"+b); err != nil {
		t.Fatal(err)
	}
	if e, ok := caller.WaitEvent(15*time.Second, "CALL_ESTABLISHED", "CALL_CLOSED"); !ok || e.Type != "CALL_ESTABLISHED" {
		t.Fatalf("n2 did not answer the caller: %+v (ok %v)\n%s", e, ok, caller.Output())
	}
	if e, ok := phone.WaitEvent(15*time.Second, "CALL_ESTABLISHED", "CALL_CLOSED"); !ok || e.Type != "CALL_ESTABLISHED" {
		t.Fatalf("the phone registered through n1 was not reached from n2: %+v (ok %v)\n%s", e, ok, phone.Output())
	}
	// The INVITE came from n2's socket, not through n1.
	if m := inviteViaRE.FindStringSubmatch(phone.Output()); m == nil || m[1] != b {
		got := "none"
		if m != nil {
			got = m[1]
		}
		t.Errorf("the phone's INVITE came via %s, want n2 (%s)", got, b)
	}
	if _, err := caller.Command("hangup", ""); err != nil {
		t.Fatal(err)
	}
	if d := app.wait(t, "/dialed", 20*time.Second); d.Get("DialStatus") != "completed" || d.Get("DialBLegUUID") == "" {
		t.Errorf("Dial action on n2: %v", d)
	}
	if e, ok := phone.WaitEvent(15*time.Second, "CALL_CLOSED"); !ok {
		t.Errorf("the phone never got the BYE from n2: %+v", e)
	}
}

// clusterRotation: a subaccount's token, cached by n2 after a request there, is rotated
// with the old one revoked through n1; n2 refuses the old token once n1's invalidation
// has crossed the bus (the cache would otherwise serve it up to its 1 s TTL), and
// accepts the new one.
func clusterRotation(t *testing.T, r *clusterRig) {
	t.Helper()
	sa, as := r.subaccount(t, "rotated")
	if code, body, _ := as(1, sa.AuthToken).call(http.MethodGet, "", nil); code != http.StatusOK {
		t.Fatalf("the subaccount's token on n2: HTTP %d %s", code, body)
	}
	code, body, err := as(0, sa.AuthToken).call(http.MethodPost, "AuthToken/", map[string]any{"revoke_old": true})
	var rot struct {
		AuthToken string `json:"auth_token"`
	}
	if err != nil || code >= 300 || json.Unmarshal(body, &rot) != nil || rot.AuthToken == "" {
		t.Fatalf("rotate through n1: HTTP %d %s %v", code, body, err)
	}
	rotated := time.Now()
	for {
		code, _, err := as(1, sa.AuthToken).call(http.MethodGet, "", nil)
		if err == nil && code == http.StatusUnauthorized {
			break
		}
		if time.Since(rotated) > 5*time.Second {
			t.Fatalf("n2 still answers the revoked token %s after the rotation: HTTP %d %v", time.Since(rotated), code, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("FIGURE cluster: a token revoked through n1 refused by n2 %s later", time.Since(rotated).Round(time.Millisecond))
	if code, body, _ := as(1, rot.AuthToken).call(http.MethodGet, "", nil); code != http.StatusOK {
		t.Errorf("the new token on n2: HTTP %d %s", code, body)
	}
}

// clusterStream: the Call Stream API on a call n1 holds, through the other nodes: a
// stream started through n2 opens its WebSocket from n1 (the node with the call's
// media), n3 lists it, n2 stops it.
func clusterStream(t *testing.T, r *clusterRig, uuid string) {
	t.Helper()
	opened := make(chan struct{}, 1)
	closed := make(chan struct{}, 1)
	ws := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		c, err := websocket.Accept(w, req, nil)
		if err != nil {
			return
		}
		opened <- struct{}{}
		for {
			if _, _, err := c.Read(context.Background()); err != nil {
				closed <- struct{}{}
				return
			}
		}
	}))
	t.Cleanup(ws.Close)
	code, body, err := r.apis[1].call(http.MethodPost, "Call/"+uuid+"/Stream/", map[string]any{
		"service_url": "ws" + strings.TrimPrefix(ws.URL, "http") + "/s", "audio_track": "inbound"})
	var st struct {
		StreamID string `json:"stream_id"`
	}
	if err != nil || code != http.StatusOK || json.Unmarshal(body, &st) != nil || st.StreamID == "" {
		t.Fatalf("start a stream on n1's call through n2: HTTP %d %s %v", code, body, err)
	}
	select {
	case <-opened:
	case <-time.After(15 * time.Second):
		t.Fatal("the stream started through n2 never connected")
	}
	code, body, err = r.apis[2].call(http.MethodGet, "Call/"+uuid+"/Stream/", nil)
	if err != nil || code != http.StatusOK || !strings.Contains(string(body), st.StreamID) {
		t.Fatalf("list n1's call's streams through n3: HTTP %d %s %v", code, body, err)
	}
	if code, body, err := r.apis[2].call(http.MethodGet, "Call/"+uuid+"/Stream/nosuchstream/", nil); err != nil || code != http.StatusNotFound {
		t.Errorf("an unknown stream through n3: HTTP %d %s %v, want 404", code, body, err)
	}
	if code, body, err := r.apis[1].call(http.MethodDelete, "Call/"+uuid+"/Stream/"+st.StreamID+"/", nil); err != nil || code >= 300 {
		t.Fatalf("stop the stream through n2: HTTP %d %s %v", code, body, err)
	}
	select {
	case <-closed:
	case <-time.After(15 * time.Second):
		t.Fatal("the stream stopped through n2 was not closed")
	}
}
