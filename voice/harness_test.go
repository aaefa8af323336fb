package voice_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/emiago/diago"
	"github.com/emiago/sipgo/sip"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/account"
	"github.com/trunkline/trunkline/audio"
	"github.com/trunkline/trunkline/audio/tts"
	"github.com/trunkline/trunkline/keys"
	"github.com/trunkline/trunkline/store"
	"github.com/trunkline/trunkline/store/storetest"
	"github.com/trunkline/trunkline/voice"
	"github.com/trunkline/trunkline/voice/registrar"
	"github.com/trunkline/trunkline/webhook"
)

// app is a customer application on loopback: it serves XML per path and
// records every request it gets.
type app struct {
	srv *httptest.Server
	mu  sync.Mutex
	xml map[string]string // path → reply body
	// reply, when set, answers first: a body per request (ok false: xml's).
	reply func(path string, form url.Values) (body string, ok bool)
	hit   map[string][]url.Values
	ch    chan hit
}

type hit struct {
	path   string
	params url.Values
}

func newApp(t testing.TB) *app {
	a := &app{xml: map[string]string{}, hit: map[string][]url.Values{}, ch: make(chan hit, 100)}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		a.mu.Lock()
		a.hit[r.URL.Path] = append(a.hit[r.URL.Path], r.Form)
		body, ok := a.xml[r.URL.Path]
		if a.reply != nil {
			if b, yes := a.reply(r.URL.Path, r.Form); yes {
				body, ok = b, true
			}
		}
		a.mu.Unlock()
		select {
		case a.ch <- hit{r.URL.Path, r.Form}:
		default:
		}
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		if body == "500" {
			w.WriteHeader(500)
			return
		}
		if body == "hang" {
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
			return
		}
		w.Header().Set("Content-Type", "text/xml")
		io.WriteString(w, body)
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *app) set(path, body string) {
	a.mu.Lock()
	a.xml[path] = body
	a.mu.Unlock()
}

func (a *app) url(path string) string { return a.srv.URL + path }

// wait returns the next request to path (bounded).
func (a *app) wait(t *testing.T, path string, d time.Duration) url.Values {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case h := <-a.ch:
			if h.path == path {
				return h.params
			}
		case <-deadline:
			t.Fatalf("no request to %s within %v", path, d)
			return nil
		}
	}
}

// stack is a voice server with an account, a rented number and an application.
type stack struct {
	db       *store.DB
	srv      *voice.Server
	app      *app
	accounts *account.Service
	acct     *account.Created
	number   string
	appRow   *trunkline.Application
	phones   *diago.Diago // the test's SIP phone stack, made on first call
	webhooks *webhook.Client
	ring     *keys.Ring
}

func registrarOrNil(r *registrar.Registrar) voice.Registrar {
	if r == nil {
		return nil
	}
	return r
}

// quiesce closes idle HTTP keep-alive connections on both ends, so counts of
// goroutines and sockets measure calls and not the connection pool.
func (s *stack) quiesce() {
	s.webhooks.Close()
	s.app.srv.CloseClientConnections()
}

type memRecordings struct {
	mu    sync.Mutex
	files map[string][]byte
}

type memWriter struct {
	m   *memRecordings
	key string
	buf bytes.Buffer
}

func (w *memWriter) Write(p []byte) (int, error) { return w.buf.Write(p) }
func (w *memWriter) Close() error {
	w.m.mu.Lock()
	w.m.files[w.key] = w.buf.Bytes()
	w.m.mu.Unlock()
	return nil
}
func (w *memWriter) Abort() {}

func (m *memRecordings) Create(ctx context.Context, acct, id string) (voice.RecordingWriter, error) {
	return &memWriter{m: m, key: acct + "/" + id}, nil
}

type stackOptions struct {
	recordings     voice.Recordings
	acl            func(netip.Addr) (string, bool)
	webhookTimeout time.Duration
	logger         *slog.Logger
	audit          voice.Auditor
	tls            *tls.Config // serve SIP over TLS on 127.0.0.1:0 too
	route          func(dst string) []voice.Target
	registrar      bool // run the registrar (endpoints) too
	rtpTimeout     time.Duration
	failoverCodes  []int
	spoken         func(trunk, callUUID, to, text string)
	sourceRate     int // requests per minute per source address (voice.Options.SourceRate)
	messages       voice.Messenger
	allow          []netip.Prefix // webhook.allow; nil: 127.0.0.0/8
}

func newStack(t testing.TB, o stackOptions) *stack {
	t.Helper()
	return newStackDB(t, storetest.Open(t)[0], o)
}

func newStackDB(t testing.TB, db *store.DB, o stackOptions) *stack {
	t.Helper()
	ctx := context.Background()
	ring, _ := keys.NewRing(bytes.Repeat([]byte{7}, 32))
	acc := account.New(db, ring, account.Options{})
	created, err := acc.CreateMain(ctx, "voice")
	if err != nil {
		t.Fatal(err)
	}
	a := newApp(t)
	appRow := &trunkline.Application{ID: "42", AccountID: created.Account.ID, Name: "ivr", AnswerURL: a.url("/answer"), AnswerMethod: "POST",
		HangupURL: a.url("/hangup"), HangupMethod: "POST", FallbackAnswerURL: a.url("/fallback"), FallbackMethod: "POST", Enabled: true}
	if err := db.CreateApplication(ctx, appRow); err != nil {
		t.Fatal(err)
	}
	number := "14155550123"
	if _, err := db.ImportNumbers(ctx, []*trunkline.Number{{Number: number, CountryISO: "US", Type: "local", VoiceEnabled: true}}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.RentNumber(ctx, number, created.Account.ID, appRow.ID); err != nil {
		t.Fatal(err)
	}
	to := o.webhookTimeout
	if to == 0 {
		to = 5 * time.Second
	}
	allow := o.allow
	if allow == nil {
		allow = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	}
	wh := webhook.New(webhook.Options{Allow: allow, Recorder: db,
		Timeout: to, MaxAttempts: 2, BackoffBase: 10 * time.Millisecond, Logger: o.logger})
	t.Cleanup(wh.Close)
	speech, err := tts.NewCache(tts.NewEspeak(tts.EspeakOptions{}), tts.CacheOptions{})
	if err != nil {
		t.Fatal(err)
	}
	acl := o.acl
	if acl == nil {
		acl = func(a netip.Addr) (string, bool) { return "loopback", a.IsLoopback() }
	}
	mp3, _ := audio.NewMP3Encoder()
	var mp3Enc audio.Encoder
	if mp3 != nil {
		mp3Enc = mp3
	}
	var reg *registrar.Registrar
	var locate func(string) (voice.Target, bool)
	if o.registrar {
		reg = registrar.New(registrar.Options{Store: db, Ring: ring, Realm: "localhost"})
		locate = func(uri string) (voice.Target, bool) {
			var u sip.Uri
			if sip.ParseUri(uri, &u) != nil {
				return voice.Target{}, false
			}
			b, ok := reg.Binding(context.Background(), u.User)
			return voice.Target{Name: "endpoint", URI: b.RequestURI(), Destination: b.Source}, ok
		}
	}
	srv, err := voice.New(voice.Options{Listen: "127.0.0.1:0", ACL: acl, DB: db, Tokens: acc, Webhooks: wh,
		Audio: audio.NewCache(wh, audio.CacheOptions{}), TTS: speech, Recordings: o.recordings, MP3: mp3Enc,
		RecordingURL: func(acct, id, f string) string {
			return "https://api.example/v1/Account/" + acct + "/Recording/" + id + "." + f
		},
		Logger: o.logger, Audit: o.audit, TLSConfig: o.tls, TLSListen: tlsListen(o.tls),
		Route: o.route, TrunkTimeout: time.Second, Locate: locate, Registrar: registrarOrNil(reg), RTPTimeout: o.rtpTimeout, FailoverCodes: o.failoverCodes,
		Spoken: o.spoken, SourceRate: o.sourceRate, SourcePeriod: time.Minute, Messages: o.messages})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	})
	return &stack{db: db, srv: srv, app: a, accounts: acc, acct: created, number: number, appRow: appRow, webhooks: wh, ring: ring}
}

func tlsListen(c *tls.Config) string {
	if c == nil {
		return ""
	}
	return "127.0.0.1:0"
}
