package browser

import (
	"bytes"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

const formPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Form</title><link rel="stylesheet" href="/style.css"></head>
<body><h1>Trunkline test form</h1>
<form method="post" action="/submit">
  <label for="name">Name</label> <input id="name" name="name" autocomplete="off">
  <button id="send" type="submit">Send</button>
</form></body></html>`

const throwPage = `<!doctype html>
<html><head><title>Throws</title></head><body><p>This page has a bug.</p>
<script>
console.log("not an error");
console.error("bad thing", 42);
throw new Error("boom");
</script></body></html>`

// webauthnPage enrols a passkey for rp id "localhost" when #enrol is clicked, then signs in with it
// when #login is clicked; each writes its outcome to #out and marks it .done.
const webauthnPage = `<!doctype html>
<html><head><title>Passkey</title></head><body>
<button id="enrol">Create passkey</button> <button id="login">Sign in</button>
<pre id="out"></pre>
<script>
const out = document.getElementById('out');
const show = (s) => { out.textContent = s; out.className = 'done'; };
const rnd = (n) => crypto.getRandomValues(new Uint8Array(n));
let created = '';
document.getElementById('enrol').onclick = async () => {
  out.className = '';
  try {
    const cred = await navigator.credentials.create({publicKey: {
      rp: {id: 'localhost', name: 'Trunkline'},
      user: {id: rnd(16), name: 'alice@example.com', displayName: 'Alice'},
      challenge: rnd(32),
      pubKeyCredParams: [{type: 'public-key', alg: -7}, {type: 'public-key', alg: -257}],
      authenticatorSelection: {authenticatorAttachment: 'platform', residentKey: 'required', userVerification: 'required'},
      timeout: 10000,
    }});
    created = cred.id;
    show('created ' + cred.type + ' ' + cred.id);
  } catch (e) { show('error ' + e.name + ': ' + e.message); }
};
document.getElementById('login').onclick = async () => {
  out.className = '';
  try {
    const a = await navigator.credentials.get({publicKey: {
      rpId: 'localhost', challenge: rnd(32), userVerification: 'required', timeout: 10000,
    }});
    show((a.id === created ? 'signed in with the same passkey' : 'signed in with another passkey') +
      ' uv=' + ((new Uint8Array(a.response.authenticatorData)[32] & 4) ? 1 : 0));
  } catch (e) { show('error ' + e.name + ': ' + e.message); }
};
</script></body></html>`

// newServer serves the test pages over HTTPS on 127.0.0.1 with httptest's self-signed certificate
// (valid for example.com, 127.0.0.1 and ::1 only) and returns the base URL https://localhost:PORT:
// WebAuthn needs a secure context whose host matches the rp id, and the browser tolerates the
// name mismatch because of --ignore-certificate-errors.
func newServer(t *testing.T) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, formPage)
	})
	mux.HandleFunc("GET /style.css", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/css")
		fmt.Fprint(w, "body { font-family: sans-serif; margin: 2em } h1 { color: #246 }\n")
	})
	mux.HandleFunc("POST /submit", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html><head><title>Result</title></head><body><p id="result">Hello, %s!</p></body></html>`,
			html.EscapeString(r.PostFormValue("name")))
	})
	mux.HandleFunc("GET /throw", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, throwPage)
	})
	mux.HandleFunc("GET /webauthn", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, webauthnPage)
	})
	srv := httptest.NewTLSServer(mux)
	t.Cleanup(srv.Close)
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return "https://localhost:" + port
}

func TestFind(t *testing.T) {
	t.Setenv("TRUNKLINE_CHROMIUM", filepath.Join(t.TempDir(), "no-such-browser"))
	if got := Find(); got != "" {
		t.Errorf("Find() with TRUNKLINE_CHROMIUM naming nothing = %q, want \"\"", got)
	}
	exe, err := os.Executable() // the test binary: any executable will do
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("TRUNKLINE_CHROMIUM", exe)
	if got := Find(); got != exe {
		t.Errorf("Find() with TRUNKLINE_CHROMIUM=%s = %q", exe, got)
	}
}

func TestFormRoundTrip(t *testing.T) {
	base := newServer(t)
	b := Start(t, Options{ArtifactsDir: t.TempDir()})
	t.Logf("browser %s", b.Version())

	if status := b.GoStatus(base + "/"); status != http.StatusOK {
		t.Fatalf("GET / status %d", status)
	}
	if got := b.Text("label[for=name]"); got != "Name" {
		t.Errorf("label = %q", got)
	}
	if !b.Exists("#name") || b.Exists("#result") {
		t.Errorf("Exists: #name %v, #result %v; want true, false", b.Exists("#name"), b.Exists("#result"))
	}
	var inner struct{ W, H int }
	b.Eval(`({w: innerWidth, h: innerHeight})`, &inner)
	if inner.W != 1280 || inner.H != 900 {
		t.Errorf("viewport %dx%d, want 1280x900", inner.W, inner.H)
	}

	tm := b.Timing()
	t.Logf("timing of /: %v", tm)
	if tm.FirstContentfulPaint <= 0 || tm.TransferBytes <= 0 {
		t.Errorf("Timing() = %+v, want FirstContentfulPaint > 0 and TransferBytes > 0", tm)
	}
	if tm.Resources < 1 || tm.Load < tm.DOMContentLoaded || tm.DOMContentLoaded < tm.TTFB || tm.TTFB <= 0 {
		t.Errorf("Timing() = %+v: want the stylesheet counted and ttfb <= dcl <= load", tm)
	}

	const value = `<b>O'Brien & "Sons"</b>`
	b.Fill("#name", "something to be replaced")
	b.Fill("#name", value)
	if got := b.Value("#name"); got != value {
		t.Fatalf("input value after Fill = %q, want %q", got, value)
	}
	shot := b.Screenshot("form filled")
	if filepath.Dir(shot) != b.ArtifactsDir() || filepath.Base(shot) != "01-form_filled.png" {
		t.Errorf("screenshot path %s", shot)
	}
	data, err := os.ReadFile(shot)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("%s does not start with the PNG signature: % x", shot, data[:min(8, len(data))])
	}

	if status := b.ClickNavStatus("#send"); status != http.StatusOK {
		t.Fatalf("POST /submit status %d", status)
	}
	if got, want := b.URL(), base+"/submit"; got != want {
		t.Errorf("URL after submit = %q, want %q", got, want)
	}
	if got, want := b.Text("#result"), "Hello, "+value+"!"; got != want {
		t.Errorf("result = %q, want %q", got, want)
	}
	if b.Exists("#result b") {
		t.Error("the echoed value was not HTML-escaped: #result has a <b> element")
	}
	if shot2 := b.Screenshot("result"); filepath.Base(shot2) != "02-result.png" {
		t.Errorf("second screenshot %s", shot2)
	}
	if errs := b.ConsoleErrors(); len(errs) != 0 {
		t.Errorf("console errors on clean pages: %q", errs)
	}
}

func TestConsoleErrors(t *testing.T) {
	base := newServer(t)
	b := Start(t, Options{})
	b.Go(base + "/throw")
	errs := b.ConsoleErrors()
	t.Logf("console errors: %q", errs)
	if len(errs) != 2 ||
		!strings.HasPrefix(errs[0], "console.error: bad thing 42 ("+base+"/throw:") ||
		!strings.HasPrefix(errs[1], "exception: Uncaught Error: boom") || !strings.Contains(errs[1], base+"/throw:") {
		t.Errorf("ConsoleErrors() = %q, want console.error then the uncaught exception", errs)
	}
	// An unhandled rejection is reported in the task that dispatches unhandledrejection, so a
	// timer queued from that event's listener runs after the report.
	b.Eval(`new Promise(done => {
		addEventListener('unhandledrejection', () => setTimeout(done, 0), {once: true});
		Promise.reject(new TypeError('late'));
	})`, nil)
	if errs := b.ConsoleErrors(); len(errs) != 3 || !strings.Contains(errs[2], "Uncaught (in promise) TypeError: late") {
		t.Errorf("after an unhandled rejection: %q", errs)
	}
}

func TestWebAuthn(t *testing.T) {
	base := newServer(t)
	b := Start(t, Options{})
	b.Go(base + "/webauthn")
	var secure bool
	b.Eval(`window.isSecureContext && typeof PublicKeyCredential === 'function'`, &secure)
	if !secure {
		t.Fatal("https://localhost with --ignore-certificate-errors is not a secure context with WebAuthn")
	}
	id := b.AddVirtualAuthenticator()
	if id == "" || b.Credentials(id) != 0 {
		t.Fatalf("new authenticator %q holds %d credentials", id, b.Credentials(id))
	}

	b.Click("#enrol")
	b.WaitVisible("#out.done")
	out := b.Text("#out")
	t.Logf("enrol: %s", out)
	if !strings.HasPrefix(out, "created public-key ") {
		b.Screenshot("enrol failed")
		t.Fatalf("navigator.credentials.create: %s", out)
	}
	if n := b.Credentials(id); n != 1 {
		t.Fatalf("the authenticator holds %d credentials after enrolment, want 1", n)
	}
	creds := b.CredentialList(id)
	if c := creds[0]; c.RpID != "localhost" || !c.IsResidentCredential {
		t.Errorf("credential rp %q resident %v, want localhost true", c.RpID, c.IsResidentCredential)
	}

	b.Click("#login")
	b.WaitVisible("#out.done")
	if out := b.Text("#out"); out != "signed in with the same passkey uv=1" {
		t.Fatalf("navigator.credentials.get: %s", out)
	}
	if errs := b.ConsoleErrors(); len(errs) != 0 {
		t.Errorf("console errors: %q", errs)
	}
}

func TestMobile(t *testing.T) {
	base := newServer(t)
	b := Start(t, Options{Mobile: true})
	b.Go(base + "/")
	var got struct {
		W, H  int
		DPR   float64
		Touch bool
		UA    string
	}
	b.Eval(`({w: window.innerWidth, h: window.innerHeight, dpr: devicePixelRatio,
		touch: navigator.maxTouchPoints > 0, ua: navigator.userAgent})`, &got)
	t.Logf("mobile: %+v", got)
	if got.W != 390 || got.DPR != 3 || !got.Touch || !strings.Contains(got.UA, "iPhone") {
		t.Errorf("mobile emulation: %+v, want innerWidth 390, devicePixelRatio 3, touch, an iPhone UA", got)
	}
	b.Screenshot("mobile")
}

// fatalTB, once armed, records Fatalf instead of failing the real test, and ends the goroutine
// like t.Fatalf does.
type fatalTB struct {
	testing.TB
	mu    sync.Mutex
	armed bool
	msg   string
}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	armed := f.armed
	f.msg = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	if !armed {
		f.TB.Helper()
		f.TB.Fatalf(format, args...)
	}
	runtime.Goexit()
}

func TestFailureReport(t *testing.T) {
	base := newServer(t)
	ft := &fatalTB{TB: t}
	b := Start(ft, Options{ArtifactsDir: t.TempDir(), Timeout: 2 * time.Second})
	b.Go(base + "/throw")
	ft.mu.Lock()
	ft.armed = true
	ft.mu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.Click("#no-such-button")
	}()
	<-done
	ft.mu.Lock()
	defer ft.mu.Unlock()
	t.Logf("failure message: %s", ft.msg)
	for _, want := range []string{
		`click "#no-such-button"`, "context deadline exceeded", "timed out after 2s",
		"page " + base + "/throw", "screenshot " + filepath.Join(b.ArtifactsDir(), "failure-1.png"),
		"exception: Uncaught Error: boom",
	} {
		if !strings.Contains(ft.msg, want) {
			t.Errorf("failure message lacks %q", want)
		}
	}
	if _, err := os.Stat(filepath.Join(b.ArtifactsDir(), "failure-1.png")); err != nil {
		t.Error(err)
	}
}
