// Package browser drives the system's headless Chromium (Debian `chromium`) for end-to-end tests of
// the web console: navigation, form filling, screenshots saved as test artifacts, and page timing.
//
// It is test support only: every method takes the testing.TB given to Start and fails the test
// (t.Fatalf, with the page URL, a failure screenshot and the console errors seen) instead of
// returning an error. Selectors are CSS selectors (document.querySelector, first match). Every
// browser call has a timeout (Options.Timeout, 20 s by default), so a test can never hang.
//
// It uses chromedp v0.23 (the generic API: chromedp.Action[T], chromedp.Run/Do, typed cdproto
// commands called with chromedp.Call). Use Ctx with chromedp directly for anything not covered here,
// or Run/RunValue to get the timeout and the failure report.
package browser

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/device"
)

// DefaultTimeout is the timeout of one browser call (one Run, Go, Fill, ...) when
// Options.Timeout is zero. Starting the browser gets max(Options.Timeout, DefaultTimeout).
const DefaultTimeout = 20 * time.Second

// candidates are the program names Find looks up on PATH, in order, after $TRUNKLINE_CHROMIUM.
var candidates = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}

// Find returns the path of a Chromium/Chrome binary ($TRUNKLINE_CHROMIUM, then chromium,
// chromium-browser, google-chrome, google-chrome-stable on PATH) or "".
//
// $TRUNKLINE_CHROMIUM may be a path or a program name; when it is set but names nothing executable,
// Find returns "" rather than silently using another browser.
func Find() string {
	if env := os.Getenv("TRUNKLINE_CHROMIUM"); env != "" {
		p, err := exec.LookPath(env)
		if err != nil {
			return ""
		}
		return p
	}
	for _, name := range candidates {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// Options configure Start. The zero value is a desktop-sized headless browser.
type Options struct {
	// ArtifactsDir is where Screenshot (and the failure screenshots of Run) write PNGs. The
	// default is $TRUNKLINE_ARTIFACTS/<test name> or, when that is unset,
	// os.TempDir()/trunkline-artifacts/<test name>. The directory is created on the first
	// screenshot, and its path is logged with t.Logf then (once).
	ArtifactsDir string
	// Width and Height are the viewport size in CSS pixels, default 1280x900. Ignored when Mobile.
	Width, Height int
	// Mobile emulates a phone (chromedp's device.IPhone13: 390x844 CSS pixels, device scale 3,
	// touch events, mobile viewport and an iPhone Safari user agent).
	Mobile bool
	// Timeout bounds each browser call; zero means DefaultTimeout.
	Timeout time.Duration
	// Flags are extra allocator options applied after the defaults, e.g.
	// chromedp.Flag("host-resolver-rules", "MAP console.trunkline.test 127.0.0.1") or
	// chromedp.Flag("lang", "de-DE").
	Flags []chromedp.ExecAllocatorOption
}

// Browser is one headless Chromium with one tab, owned by one test. Its methods are meant to be
// called from the test's goroutine (they call t.Fatalf); ConsoleErrors is safe anywhere.
type Browser struct {
	t       testing.TB
	ctx     context.Context // the chromedp context of the tab; lives until the test's cleanup
	timeout time.Duration

	artifactsDir string
	dirReady     bool // artifactsDir created and logged
	shots        int  // Screenshot counter (NN)
	failures     int  // failure-N.png counter
	version      string

	mu       sync.Mutex
	errs     []string // console errors and exceptions, in order
	finished bool     // cleanup started: no more t.Logf from chromedp goroutines
}

// Start launches headless Chromium for the test. It skips the test when no browser is found,
// unless TRUNKLINE_REQUIRE_PEERS=1, then it fails. The browser is closed by t.Cleanup.
//
// Flags: chromedp's defaults (which include --disable-dev-shm-usage, --disable-background-networking,
// --enable-automation, --mute-audio, --hide-scrollbars, ...) plus --headless=new, --no-sandbox
// (the CI runs as root, where the sandbox refuses to start), --disable-gpu, --ignore-certificate-errors,
// --no-first-run, --disable-extensions, --window-size and a fresh --user-data-dir under t.TempDir().
func Start(t testing.TB, o Options) *Browser {
	t.Helper()
	exe := Find()
	if exe == "" {
		msg := "browser: no Chromium found (set TRUNKLINE_CHROMIUM, or install Debian's chromium: apt-get install chromium)"
		if os.Getenv("TRUNKLINE_REQUIRE_PEERS") == "1" {
			t.Fatal(msg + "; TRUNKLINE_REQUIRE_PEERS=1 forbids skipping")
		}
		t.Skip(msg)
	}
	w, h := o.Width, o.Height
	if w <= 0 {
		w = 1280
	}
	if h <= 0 {
		h = 900
	}
	if o.Mobile {
		info := device.IPhone13.Device()
		w, h = int(info.Width), int(info.Height)
	}
	b := &Browser{t: t, timeout: o.Timeout, artifactsDir: o.ArtifactsDir}
	if b.timeout <= 0 {
		b.timeout = DefaultTimeout
	}
	if b.artifactsDir == "" {
		root := os.Getenv("TRUNKLINE_ARTIFACTS")
		if root == "" {
			root = filepath.Join(os.TempDir(), "trunkline-artifacts")
		}
		b.artifactsDir = filepath.Join(root, safeName(t.Name()))
	}

	// t.TempDir registers its removal before our cleanup below, so (cleanups run last-in
	// first-out) Chromium has exited before its profile directory is removed.
	profile := t.TempDir()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", "new"),
		// The CI runs the tests as root, and Chromium's sandbox refuses to run as root.
		chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true),
		// The server under test serves HTTPS on loopback with a self-signed CA (and a certificate
		// whose names need not match "localhost"); the browser must load it anyway. Chromium still
		// allows WebAuthn on https://localhost with this flag (see the tests).
		chromedp.IgnoreCertErrors,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-extensions", true),
		chromedp.WindowSize(w, h),
		chromedp.UserDataDir(profile),
	)
	opts = append(opts, o.Flags...)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx,
		chromedp.WithLogf(b.logf),
		chromedp.WithErrorf(func(format string, args ...any) { b.logf("chromedp error: "+format, args...) }),
	)
	b.ctx = ctx
	t.Cleanup(func() {
		b.mu.Lock()
		b.finished = true
		b.mu.Unlock()
		// Close gracefully (Browser.close), bounded; then make sure everything is gone.
		cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
		_ = chromedp.Cancel(cctx)
		ccancel()
		cancel()
		acancel()
	})

	// The first Run starts the browser and binds its life to the context of that call, so it must
	// not carry a timeout: bound the start from outside instead. A start on a busy machine (or
	// under -race) takes seconds, so a short per-call Timeout does not shorten it.
	startTimeout := max(b.timeout, DefaultTimeout)
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("browser: starting %s: %v", exe, err)
		}
	case <-timer.C:
		cancel()
		t.Fatalf("browser: %s did not start within %v", exe, startTimeout)
	}

	// Record exceptions and console.error calls. Listen calls the func on the goroutine that reads
	// the tab's messages, before the reply to any later command, so an error raised while a page
	// loads is recorded by the time Go returns.
	if err := chromedp.Listen(ctx, b.onEvent); err != nil {
		t.Fatalf("browser: listening for console messages: %v", err)
	}
	vctx, vcancel := b.withTimeout()
	if v, err := chromedp.CallBrowser(vctx, browser.GetVersion, cdp.Empty{}); err == nil {
		b.version = v.Product
	}
	vcancel()
	if o.Mobile {
		b.Run(chromedp.Emulate(device.IPhone13))
	} else {
		// --window-size sizes the window; the override pins the viewport (innerWidth/innerHeight)
		// to exactly w x h whatever the headless mode does with window decorations.
		b.Run(chromedp.EmulateViewport(int64(w), int64(h)))
	}
	return b
}

// Version returns the browser's product string, e.g. "Chrome/156.0.8078.108" ("" if unknown).
func (b *Browser) Version() string { return b.version }

// logf sends chromedp's log lines to the test log while the test runs.
func (b *Browser) logf(format string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.finished {
		b.t.Logf("browser: "+format, args...)
	}
}

// Ctx returns the chromedp context of the tab, for custom actions (chromedp.Run, chromedp.Call, ...).
// It has no timeout; Run and RunValue add one.
func (b *Browser) Ctx() context.Context { return b.ctx }

func (b *Browser) withTimeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(b.ctx, b.timeout)
}

// Run runs the actions in order with the per-call timeout. On error it fails the test with the
// current URL, a screenshot failure-N.png in the artifacts directory and the console errors seen.
func (b *Browser) Run(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := b.withTimeout()
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fail("run", err)
	}
}

// RunValue runs one action that returns a value, with the per-call timeout, and fails the test
// like Run on error. For example:
//
//	html := browser.RunValue(b, chromedp.OuterHTML(chromedp.CSS("main")))
func RunValue[T any](b *Browser, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := b.withTimeout()
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.fail("run", err)
	}
	return v
}

// fail reports err with the page's URL, a failure screenshot and the console errors, and stops the test.
func (b *Browser) fail(what string, err error) {
	b.t.Helper()
	var extra []string
	if errors.Is(err, context.DeadlineExceeded) {
		extra = append(extra, fmt.Sprintf("timed out after %v", b.timeout))
	}
	// Fresh, short contexts: the call's own context may be the one that expired.
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	url, uerr := chromedp.Run(ctx, chromedp.Location())
	cancel()
	if uerr == nil {
		extra = append(extra, "page "+url)
	}
	b.failures++
	if path, serr := b.capture(fmt.Sprintf("failure-%d.png", b.failures), 5*time.Second); serr == nil {
		extra = append(extra, "screenshot "+path)
	} else {
		extra = append(extra, "no screenshot: "+serr.Error())
	}
	if errs := b.ConsoleErrors(); len(errs) > 0 {
		extra = append(extra, "console errors:\n\t"+strings.Join(errs, "\n\t"))
	}
	b.t.Fatalf("browser: %s: %v (%s)", what, err, strings.Join(extra, "; "))
}

// Go navigates to url and waits for the load event and a ready <body>. It does not check the HTTP
// status; use GoStatus for that.
func (b *Browser) Go(url string) {
	b.t.Helper()
	b.GoStatus(url)
}

// GoStatus is Go returning the HTTP status of the document (0 when the browser reports none).
func (b *Browser) GoStatus(url string) int {
	b.t.Helper()
	ctx, cancel := b.withTimeout()
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(url))
	if err == nil {
		err = chromedp.Do(ctx, chromedp.WaitReady(chromedp.CSS("body")))
	}
	if err != nil {
		b.fail("go "+url, err)
	}
	if resp == nil {
		return 0
	}
	return int(resp.Status)
}

// Fill waits for the input (or textarea) matching selector, clears it, and types value into it the
// way an input method commits text (Input.insertText): the page sees focus, beforeinput and input
// events (no key events; use Type for those). It does not fire change; a form submit reads the value.
func (b *Browser) Fill(selector, value string) {
	b.t.Helper()
	steps := []chromedp.Action[chromedp.Void]{
		chromedp.Focus(chromedp.CSS(selector)),
		chromedp.Evaluate[chromedp.Void](`(() => {
			const el = document.activeElement;
			el.value = '';
			el.dispatchEvent(new Event('input', {bubbles: true}));
		})()`),
	}
	if value != "" {
		steps = append(steps, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := chromedp.Call(ctx, input.InsertText, input.InsertTextParams{Text: value})
			return err
		}))
	}
	ctx, cancel := b.withTimeout()
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.fail(fmt.Sprintf("fill %q", selector), err)
	}
}

// Type sends real key events (keydown, keypress/char, keyup per rune) to the element matching
// selector, appending to what it holds. A "\n" is the Enter key; Type does not wait for the
// navigation Enter may cause in a form (use ClickNav on the submit button for that).
func (b *Browser) Type(selector, text string) {
	b.t.Helper()
	ctx, cancel := b.withTimeout()
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(selector), text)); err != nil {
		b.fail(fmt.Sprintf("type into %q", selector), err)
	}
}

// Click waits until the element matching selector is visible, scrolls it into view and clicks its
// center with the mouse. It does not wait for anything the click causes: use ClickNav when the
// click navigates (a link, a form's submit button), or wait for the result with WaitVisible.
func (b *Browser) Click(selector string) {
	b.t.Helper()
	ctx, cancel := b.withTimeout()
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(selector))); err != nil {
		b.fail(fmt.Sprintf("click %q", selector), err)
	}
}

// ClickNav is Click on an element whose click navigates (a link, a submit button): it waits for the
// next page's load event and a ready <body>. It fails (after the timeout) when no navigation happens.
func (b *Browser) ClickNav(selector string) {
	b.t.Helper()
	b.ClickNavStatus(selector)
}

// ClickNavStatus is ClickNav returning the HTTP status of the new document (e.g. 200 after a POST
// that renders, or the final status after a redirect).
func (b *Browser) ClickNavStatus(selector string) int {
	b.t.Helper()
	ctx, cancel := b.withTimeout()
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(selector)))
	if err == nil {
		err = chromedp.Do(ctx, chromedp.WaitReady(chromedp.CSS("body")))
	}
	if err != nil {
		b.fail(fmt.Sprintf("click %q and wait for the next page", selector), err)
	}
	if resp == nil {
		return 0
	}
	return int(resp.Status)
}

// WaitVisible waits until an element matching selector exists and is visible.
func (b *Browser) WaitVisible(selector string) {
	b.t.Helper()
	ctx, cancel := b.withTimeout()
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(selector))); err != nil {
		b.fail(fmt.Sprintf("wait for %q to be visible", selector), err)
	}
}

// WaitGone waits until no element matches selector.
func (b *Browser) WaitGone(selector string) {
	b.t.Helper()
	ctx, cancel := b.withTimeout()
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.WaitNotPresent(chromedp.CSS(selector))); err != nil {
		b.fail(fmt.Sprintf("wait for %q to go away", selector), err)
	}
}

// Text waits for the element matching selector and returns its innerText ("" when it is not
// rendered, e.g. display:none).
func (b *Browser) Text(selector string) string {
	b.t.Helper()
	ctx, cancel := b.withTimeout()
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(selector)))
	if err != nil {
		b.fail(fmt.Sprintf("text of %q", selector), err)
	}
	return s
}

// Value waits for the form control matching selector and returns its current value property.
func (b *Browser) Value(selector string) string {
	b.t.Helper()
	ctx, cancel := b.withTimeout()
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(selector)))
	if err != nil {
		b.fail(fmt.Sprintf("value of %q", selector), err)
	}
	return s
}

// Exists reports whether an element matches selector now, without waiting.
func (b *Browser) Exists(selector string) bool {
	b.t.Helper()
	var ok bool
	b.Eval("document.querySelector("+jsString(selector)+") !== null", &ok)
	return ok
}

// URL returns the current page's URL.
func (b *Browser) URL() string {
	b.t.Helper()
	return RunValue(b, chromedp.Location())
}

// Screenshot saves a full-page PNG (the whole document, not just the viewport) to
// ArtifactsDir/NN-name.png, NN counting up from 01 per Browser, and returns its path.
func (b *Browser) Screenshot(name string) string {
	b.t.Helper()
	b.shots++
	path, err := b.capture(fmt.Sprintf("%02d-%s.png", b.shots, safeName(strings.TrimSuffix(name, ".png"))), b.timeout)
	if err != nil {
		b.fail("screenshot "+name, err)
	}
	return path
}

// capture writes a full-page PNG to file in the artifacts directory.
func (b *Browser) capture(file string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100 means PNG
	if err != nil {
		return "", err
	}
	if !b.dirReady {
		if err := os.MkdirAll(b.artifactsDir, 0o755); err != nil {
			return "", err
		}
		b.dirReady = true
		b.t.Logf("browser: artifacts in %s", b.artifactsDir)
	}
	path := filepath.Join(b.artifactsDir, file)
	return path, os.WriteFile(path, png, 0o644)
}

// ArtifactsDir returns the directory screenshots go to (it may not exist before the first one).
func (b *Browser) ArtifactsDir() string { return b.artifactsDir }

// Eval evaluates the JavaScript expression in the page, awaits it when it is a promise, and
// decodes its JSON value into out (which may be nil to ignore the result; undefined and null leave
// out unchanged). Top-level await is not available: write (async () => { ... })().
// A thrown exception or a rejected promise fails the test.
func (b *Browser) Eval(js string, out any) {
	b.t.Helper()
	ctx, cancel := b.withTimeout()
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](js, chromedp.EvalAwaitPromise))
	if err != nil {
		b.fail("eval "+abbrev(js), err)
	}
	if out == nil || len(raw) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return
	}
	if err := json.Unmarshal(raw, out); err != nil {
		b.t.Fatalf("browser: eval %s: decoding %s into %T: %v", abbrev(js), abbrev(string(raw)), out, err)
	}
}

// Timing is the current page's performance data, read after its load event. Durations are measured
// from the start of the navigation (performance timeOrigin).
type Timing struct {
	TTFB                 time.Duration // navigation responseStart: first byte of the document
	DOMContentLoaded     time.Duration // domContentLoadedEventEnd
	Load                 time.Duration // loadEventEnd
	FirstPaint           time.Duration // 'first-paint' entry (0 if the page painted nothing)
	FirstContentfulPaint time.Duration // 'first-contentful-paint' entry (0 if no content painted)
	Resources            int           // number of resource entries (scripts, styles, images, fetches, ...)
	// TransferBytes is the navigation's transferSize plus every resource's transferSize (headers
	// included; encodedBodySize when transferSize is 0, i.e. served from cache). DecodedBytes sums
	// decodedBodySize the same way. Cross-origin resources without Timing-Allow-Origin count 0.
	TransferBytes, DecodedBytes int64
}

// timingJS waits for the load event to finish and for the first contentful paint (or a few frames
// without one), then reads the performance entries. Every wait is a browser event, not a timer.
const timingJS = `(async () => {
	if (document.readyState !== 'complete' || !(performance.getEntriesByType('navigation')[0] || {}).loadEventEnd) {
		await new Promise(resolve => {
			const done = () => setTimeout(resolve, 0); // loadEventEnd is set after the load handlers
			if (document.readyState === 'complete') done(); else addEventListener('load', done, {once: true});
		});
	}
	const fcp = () => performance.getEntriesByName('first-contentful-paint').length > 0;
	for (let i = 0; i < 30 && !fcp(); i++) {
		await new Promise(resolve => requestAnimationFrame(() => resolve()));
	}
	const nav = performance.getEntriesByType('navigation')[0] || {};
	const paint = {};
	for (const p of performance.getEntriesByType('paint')) paint[p.name] = p.startTime;
	const res = performance.getEntriesByType('resource');
	let transfer = nav.transferSize || nav.encodedBodySize || 0;
	let decoded = nav.decodedBodySize || 0;
	for (const r of res) {
		transfer += r.transferSize || r.encodedBodySize || 0;
		decoded += r.decodedBodySize || 0;
	}
	return {
		ttfb: nav.responseStart || 0, dcl: nav.domContentLoadedEventEnd || 0, load: nav.loadEventEnd || 0,
		fp: paint['first-paint'] || 0, fcp: paint['first-contentful-paint'] || 0,
		resources: res.length, transfer, decoded,
	};
})()`

// Timing reads the current page's performance data after load, from
// performance.getEntriesByType('navigation')[0], ('paint') and ('resource').
func (b *Browser) Timing() Timing {
	b.t.Helper()
	var r struct {
		TTFB, DCL, Load, FP, FCP float64
		Resources                int
		Transfer, Decoded        int64
	}
	b.Eval(timingJS, &r)
	ms := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	return Timing{
		TTFB: ms(r.TTFB), DOMContentLoaded: ms(r.DCL), Load: ms(r.Load),
		FirstPaint: ms(r.FP), FirstContentfulPaint: ms(r.FCP),
		Resources: r.Resources, TransferBytes: r.Transfer, DecodedBytes: r.Decoded,
	}
}

// String formats the timing for a test log.
func (tm Timing) String() string {
	return fmt.Sprintf("ttfb=%v dcl=%v load=%v fp=%v fcp=%v resources=%d transfer=%dB decoded=%dB",
		tm.TTFB, tm.DOMContentLoaded, tm.Load, tm.FirstPaint, tm.FirstContentfulPaint,
		tm.Resources, tm.TransferBytes, tm.DecodedBytes)
}

// AddVirtualAuthenticator enables the CDP WebAuthn domain for the tab and adds a virtual platform
// authenticator (protocol ctap2, transport internal, resident keys, user verification that always
// succeeds, automatic presence), so a test can enrol and use a passkey for real through
// navigator.credentials.create/get. It returns the authenticator's id. WebAuthn still needs a secure
// context and an rp id matching the page's host (e.g. https://localhost:PORT with rp id "localhost").
func (b *Browser) AddVirtualAuthenticator() (id string) {
	b.t.Helper()
	add := func(ctx context.Context, t *chromedp.Target) (webauthn.AddVirtualAuthenticatorResult, error) {
		if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
			return webauthn.AddVirtualAuthenticatorResult{}, err
		}
		return chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
			Options: &webauthn.VirtualAuthenticatorOptions{
				Protocol:                    webauthn.AuthenticatorProtocolCtap2,
				Ctap2version:                webauthn.Ctap2versionCtap21,
				Transport:                   webauthn.AuthenticatorTransportInternal,
				HasResidentKey:              true,
				HasUserVerification:         true,
				IsUserVerified:              true,
				AutomaticPresenceSimulation: true,
			},
		})
	}
	res := RunValue(b, chromedp.Action[webauthn.AddVirtualAuthenticatorResult](add))
	return string(res.AuthenticatorID)
}

// Credentials returns the number of credentials the virtual authenticator holds.
func (b *Browser) Credentials(authenticatorID string) int {
	b.t.Helper()
	return len(b.CredentialList(authenticatorID))
}

// CredentialList returns the credentials the virtual authenticator holds (id, rp id, user handle,
// sign count, private key, ...).
func (b *Browser) CredentialList(authenticatorID string) []*webauthn.Credential {
	b.t.Helper()
	get := func(ctx context.Context, t *chromedp.Target) ([]*webauthn.Credential, error) {
		res, err := chromedp.Call(ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{
			AuthenticatorID: webauthn.AuthenticatorID(authenticatorID),
		})
		return res.Credentials, err
	}
	return RunValue(b, chromedp.Action[[]*webauthn.Credential](get))
}

// ConsoleErrors returns the JavaScript exceptions nothing caught (including unhandled promise
// rejections) and the console.error messages seen so far in this tab, in order, each as
// "exception: ..." or "console.error: ...", followed by the source location when known. Failed
// resource loads (e.g. a 404 favicon) are not included: they are log entries, not console calls.
func (b *Browser) ConsoleErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errs...)
}

// onEvent runs on chromedp's read loop: it must be fast and must not call the browser.
func (b *Browser) onEvent(ev any) {
	var msg string
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		if d == nil {
			return
		}
		text := d.Text // "Uncaught", "Uncaught (in promise)", or the whole message
		if e := d.Exception; e != nil {
			if e.Description != "" { // e.g. "Error: boom\n    at https://...", with the stack
				text += " " + e.Description
			} else if len(e.Value) > 0 { // throw "a string" or a number
				text += " " + remoteText(e)
			}
		}
		msg = "exception: " + text
		if d.URL != "" && !strings.Contains(text, d.URL) { // the description's stack usually has it
			msg += location(d.URL, d.LineNumber, d.ColumnNumber)
		}
	case *runtime.EventConsoleAPICalled:
		if ev.Type != runtime.ConsoleAPICalledTypeError && ev.Type != runtime.ConsoleAPICalledTypeAssert {
			return
		}
		parts := make([]string, 0, len(ev.Args))
		for _, a := range ev.Args {
			parts = append(parts, remoteText(a))
		}
		msg = "console." + string(ev.Type) + ": " + strings.Join(parts, " ")
		if st := ev.StackTrace; st != nil && len(st.CallFrames) > 0 {
			f := st.CallFrames[0]
			msg += location(f.URL, f.LineNumber, f.ColumnNumber)
		}
	default:
		return
	}
	b.mu.Lock()
	b.errs = append(b.errs, msg)
	b.mu.Unlock()
}

// remoteText renders a console argument the way DevTools roughly does.
func remoteText(a *runtime.RemoteObject) string {
	if a == nil {
		return ""
	}
	if len(a.Value) > 0 {
		var s string
		if a.Type == runtime.RemoteObjectTypeString && json.Unmarshal(a.Value, &s) == nil {
			return s
		}
		return string(a.Value)
	}
	if a.UnserializableValue != "" {
		return string(a.UnserializableValue)
	}
	if a.Description != "" {
		return a.Description
	}
	return string(a.Type)
}

// location formats a 0-based protocol position as " (url:line:col)", 1-based.
func location(url string, line, col int64) string {
	if url == "" {
		return ""
	}
	return fmt.Sprintf(" (%s:%d:%d)", url, line+1, col+1)
}

// safeName turns a test or screenshot name into one path element.
func safeName(s string) string {
	var sb strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			sb.WriteRune(r)
		default:
			sb.WriteByte('_')
		}
	}
	if sb.Len() == 0 || strings.Trim(sb.String(), ".") == "" {
		return "_"
	}
	return sb.String()
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	q, _ := json.Marshal(s)
	return string(q)
}

func abbrev(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}
