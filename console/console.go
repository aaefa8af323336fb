// Package console serves Trunkline's web console: signup with phone verification, login
// with a passphrase and a second factor (TOTP, passkeys, recovery codes), sessions, and
// the pages where developers and operators see and manage their account: dashboard,
// message and call logs, credentials, applications, numbers, endpoints, recordings,
// subaccounts, the audit log and security settings.
//
// Pages are rendered on the server from templates embedded in the binary (no Node build);
// charts are inline SVG. The one script (static/console.js) only runs the WebAuthn
// ceremonies and small conveniences; every page works without it.
//
// Security: cookies are __Host- prefixed, HttpOnly, Secure and SameSite=Strict; every
// POST carries a CSRF token (the session's, or a double-submit cookie before login) and
// must come from this origin; a strict Content-Security-Policy allows only this origin's
// script and style; the idle timeout (15 min) and absolute lifetime are enforced by the
// identity service on every request.
package console

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"runtime/debug"
	"strings"
	"time"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/account"
	"github.com/trunkline/trunkline/application"
	"github.com/trunkline/trunkline/audit"
	"github.com/trunkline/trunkline/identity"
	"github.com/trunkline/trunkline/input"
	"github.com/trunkline/trunkline/number"
	"github.com/trunkline/trunkline/sandbox"
	"github.com/trunkline/trunkline/staff"
)

//go:embed templates static
var assets embed.FS

// Cookie names. The __Host- prefix makes the browser refuse them unless Secure, for this
// host only and Path=/, so a sibling subdomain cannot plant one.
const (
	cookieSession = "__Host-tl_session"
	cookieFlow    = "__Host-tl_flow"
	cookiePre     = "__Host-tl_pre"
)

// Auditor records and lists audit entries.
type Auditor interface {
	Append(ctx context.Context, e audit.Entry) (int64, error)
	List(ctx context.Context, f audit.Filter) ([]audit.Entry, int, error)
}

// Sandbox is the sandbox carrier's SMS inbox and phone, shown to this machine's own
// browser only (they hold what would have reached real phones).
type Sandbox interface {
	Messages() []sandbox.Message
	Calls() []sandbox.PhoneCall
	// Changed is closed when a message or call arrives, or something is spoken.
	Changed() <-chan struct{}
}

// Store is what the console reads and writes, in the domain core's terms (package store
// implements it).
type Store interface {
	trunkline.AccountService
	trunkline.MemberService
	trunkline.ApplicationService
	trunkline.NumberService
	trunkline.EndpointService
	trunkline.MessageService
	trunkline.CallHistory
	trunkline.RecordingService
}

// Options configure the console.
type Options struct {
	Identity *identity.Service
	DB       Store
	Accounts *account.Service
	// Applications holds the application rules; default application.New(DB, DB).
	Applications *application.Service
	// Numbers holds the number rules; default number.New(DB, Applications).
	Numbers *number.Service
	Audit   Auditor
	// Recordings streams audio for the recordings page; nil hides the player.
	Recordings RecordingOpener
	// Sandbox, when set, is shown at /console/sandbox to loopback clients.
	Sandbox Sandbox
	// Staff, when set, serves the staff console at /staff/ and the customers' staff
	// access page.
	Staff *staff.Service
	// MaxOverlap caps the rotation overlaps offered (0: no cap).
	MaxOverlap time.Duration
	// WebAuthn, when set, enables passkeys.
	WebAuthn *WebAuthn
	// PublicURL gives the base (scheme, host, port) of the links the console hands out:
	// invitations and the API examples. It is the operator's configured URL, never the
	// request's Host header, which whoever sends the request chooses. Nil: links are
	// shown as paths only.
	PublicURL func() string
	Logger    *slog.Logger
	Now       func() time.Time
}

// RecordingOpener opens a recording's decrypted audio and tells its content type.
type RecordingOpener func(ctx context.Context, r *trunkline.Recording, format string) (io.ReadCloser, string, error)

// Server is the console's HTTP handler.
type Server struct {
	o     Options
	id    *identity.Service
	db    Store
	log   *slog.Logger
	mux   *http.ServeMux
	pages map[string]*template.Template
	files http.Handler
}

// New returns the console handler; mount it at "/" beside the API.
func New(o Options) (*Server, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Applications == nil && o.DB != nil {
		o.Applications = application.New(o.DB, o.DB)
	}
	if o.Numbers == nil && o.DB != nil {
		o.Numbers = number.New(o.DB, o.Applications)
	}
	s := &Server{o: o, id: o.Identity, db: o.DB, log: o.Logger, mux: http.NewServeMux()}
	if err := s.parseTemplates(); err != nil {
		return nil, err
	}
	static, _ := fs.Sub(assets, "static")
	s.files = http.StripPrefix("/console/static/", http.FileServer(http.FS(static)))
	s.routes()
	return s, nil
}

// request is one console request as handlers see it.
type request struct {
	*http.Request
	w      http.ResponseWriter
	s      *Server
	source string
	sess   *identity.Session  // nil on public pages
	acct   *trunkline.Account // the session user's account
	pre    string             // the double-submit CSRF token on public pages
	staff  *staff.Session     // the staff console's login (/staff/ only)
}

type handler func(r *request) error

// Access levels of a route.
const (
	public  = iota // anyone; forms use the double-submit token
	pending        // a login waiting for its second factor
	member         // logged in, any role
	writer         // owner or developer
	owner          // owner only
	// staffArea: the staff console, which loads its own session (handleStaff); a
	// customer's session is never looked at there.
	staffArea
)

func (s *Server) handle(pattern string, level int, h handler) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, hr *http.Request) {
		r := &request{Request: hr, w: w, s: s, source: sourceAddr(hr)}
		defer func() {
			if v := recover(); v != nil {
				s.log.Error("panic serving console", "path", hr.URL.Path, "panic", v, "stack", string(debug.Stack()))
				s.fail(r, errors.New("panic"))
			}
		}()
		// POST forms (and their query) are checked as they are parsed, in admit.
		if err := refuseControls(hr.URL.Query()); err != nil {
			s.fail(r, err)
			return
		}
		if err := s.admit(r, level); err != nil {
			s.fail(r, err)
			return
		}
		if err := h(r); err != nil {
			s.fail(r, err)
		}
	})
}

// ServeHTTP sets the security headers and dispatches.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
	if r.TLS != nil {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
	if strings.HasPrefix(r.URL.Path, "/console/static/") {
		h.Set("Cache-Control", "public, max-age=3600")
		s.files.ServeHTTP(w, r)
		return
	}
	h.Set("Cache-Control", "no-store")
	if r.TLS == nil {
		// Secure cookies do not work over plain HTTP, and a console must not run on it.
		http.Error(w, "The console is served over HTTPS only.", http.StatusForbidden)
		return
	}
	if r.URL.Path == "/" {
		http.Redirect(w, r, "/console/", http.StatusSeeOther)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// errRedirect is returned by admit to send the browser elsewhere.
type errRedirect struct{ to string }

func (e *errRedirect) Error() string { return "redirect to " + e.to }

// errForbidden: the user's role does not allow the action.
var errForbidden = errors.New("forbidden")

// errBadCSRF: a form without this session's token, or from another origin.
var errBadCSRF = errors.New("bad csrf")

// admit loads the session and checks the route's level and, for POSTs, the CSRF token.
func (s *Server) admit(r *request, level int) error {
	if level == staffArea {
		return nil
	}
	if c, err := r.Cookie(cookieSession); err == nil {
		sess, err := s.id.Authenticate(r.Context(), c.Value, r.source)
		if err != nil && !errors.Is(err, identity.ErrSession) {
			return err
		}
		if sess != nil {
			r.sess = sess
		} else {
			s.clearCookie(r, cookieSession)
		}
	}
	if r.sess != nil && !r.sess.Pending() {
		a, err := s.db.Account(r.Context(), r.sess.User.AccountID)
		if err != nil {
			return err
		}
		if !a.Enabled {
			// The operator disabled the account: its users keep no console access,
			// as its API credentials stop working.
			s.clearCookie(r, cookieSession)
			return &pageError{status: http.StatusForbidden, msg: "This account is disabled. Contact the operator of this Trunkline installation."}
		}
		r.acct = a
	}
	switch {
	case level == public:
	case level == pending:
		if r.sess == nil || !r.sess.Pending() {
			return &errRedirect{"/console/login"}
		}
	default:
		if r.sess == nil || r.sess.Pending() {
			next := ""
			if r.Method == http.MethodGet {
				next = "?next=" + url.QueryEscape(r.URL.RequestURI())
			}
			return &errRedirect{"/console/login" + next}
		}
		role := r.sess.User.Role
		if level == writer && role == trunkline.RoleReadOnly || level == owner && role != trunkline.RoleOwner {
			if r.Method != http.MethodGet {
				return errForbidden
			}
		}
	}
	if level == public || (level == pending && r.sess == nil) {
		r.pre = s.preToken(r)
	}
	if r.Method == http.MethodPost {
		return s.checkCSRF(r)
	}
	return nil
}

// checkCSRF refuses a POST from another origin or without the right token. Browsers send
// Origin on POSTs; SameSite=Strict keeps the cookies off cross-site requests too: each
// check alone would do, together they survive one being bypassed.
func (s *Server) checkCSRF(r *request) error {
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return errBadCSRF
		}
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return errBadCSRF
	}
	if err := r.parseForm(); err != nil {
		return err
	}
	got := r.PostFormValue("csrf")
	want := ""
	if r.staff != nil {
		want = r.staff.Rec.CSRF
	} else if r.sess != nil {
		want = r.sess.Rec.CSRF
	} else if c, err := r.Cookie(cookiePre); err == nil {
		want = c.Value
	}
	if want == "" || !hmac.Equal([]byte(got), []byte(want)) {
		return errBadCSRF
	}
	return nil
}

// parseForm parses a urlencoded form body, at most 64 KiB.
func (r *request) parseForm() error {
	r.Body = http.MaxBytesReader(r.w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return &pageError{status: http.StatusBadRequest, msg: "The form could not be read."}
	}
	return refuseControls(r.Form)
}

// refuseControls refuses form or query values holding a control character such as NUL
// (input.Control): the same rule as the API's, checked once where values come in, so no
// handler passes one to the store (PostgreSQL cannot hold a NUL) or into a page.
func refuseControls(vals url.Values) error {
	for k, vs := range vals {
		if input.HasControl(k) {
			return &pageError{status: http.StatusBadRequest, msg: "The form has a field name with a control character; send it again from the page."}
		}
		for _, v := range vs {
			if input.HasControl(v) {
				return &pageError{status: http.StatusBadRequest, msg: fmt.Sprintf("The field %q holds a control character (such as a NUL byte), which is not allowed. Only text, tabs and line breaks are.", k)}
			}
		}
	}
	return nil
}

// preToken returns the double-submit token of a browser that has no session, setting the
// cookie when it has none.
func (s *Server) preToken(r *request) string {
	if c, err := r.Cookie(cookiePre); err == nil && len(c.Value) >= 32 && len(c.Value) <= 64 {
		return c.Value
	}
	b := make([]byte, 32)
	rand.Read(b)
	v := base64.RawURLEncoding.EncodeToString(b)
	s.setCookie(r, cookiePre, v)
	return v
}

// csrf is the token forms on this page carry.
func (r *request) csrf() string {
	if r.staff != nil {
		return r.staff.Rec.CSRF
	}
	if r.sess != nil {
		return r.sess.Rec.CSRF
	}
	return r.pre
}

func (s *Server) setCookie(r *request, name, value string) {
	http.SetCookie(r.w, &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, Secure: true,
		SameSite: http.SameSiteStrictMode})
}

func (s *Server) clearCookie(r *request, name string) {
	http.SetCookie(r.w, &http.Cookie{Name: name, Value: "", Path: "/", HttpOnly: true, Secure: true,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
}

// pageError is an error shown as a page with a status.
type pageError struct {
	status int
	msg    string
}

func (e *pageError) Error() string { return e.msg }

var errNotFound = &pageError{status: http.StatusNotFound, msg: "There is nothing here, or it is not yours to see."}

// fail answers an error from admit or a handler. Internal errors are logged and the page
// says only that something went wrong, never the detail.
func (s *Server) fail(r *request, err error) {
	var rd *errRedirect
	var pe *pageError
	var te *trunkline.Error
	status, msg := http.StatusInternalServerError, "Something went wrong on our side. Try again; if it keeps happening, tell the operator."
	switch {
	case errors.As(err, &rd):
		http.Redirect(r.w, r.Request, rd.to, http.StatusSeeOther)
		return
	case errors.Is(err, errBadCSRF):
		status, msg = http.StatusForbidden, "The form had expired or did not come from this console. Go back, reload the page and try again."
	case errors.Is(err, errForbidden):
		status, msg = http.StatusForbidden, "Your role in this account does not allow that."
	case errors.As(err, &pe):
		status, msg = pe.status, pe.msg
	case errors.As(err, &te) && pageStatus(te.Code) != 0:
		status, msg = pageStatus(te.Code), te.Message
		switch {
		case te.Code == trunkline.ENOTFOUND:
			msg = errNotFound.msg // a missing page and another tenant's look alike
		case te == trunkline.ErrConflict: // the store's own words are not for users
			msg = "Someone changed this at the same time. Reload the page and try again."
		}
	default:
		s.log.Error("console request failed", "path", r.URL.Path, "err", err)
	}
	s.render(r, "error", status, map[string]any{"Title": http.StatusText(status), "Message": msg})
}

// pageStatus is the one mapping of the domain's error codes to the console's HTTP
// status; 0 for codes that are internal.
func pageStatus(code string) int {
	switch code {
	case trunkline.ENOTFOUND:
		return http.StatusNotFound
	case trunkline.EINVALID, trunkline.ENOROUTE:
		return http.StatusBadRequest
	case trunkline.ECONFLICT:
		return http.StatusConflict
	case trunkline.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case trunkline.EFORBIDDEN:
		return http.StatusForbidden
	case trunkline.EUNAVAILABLE, trunkline.EBUSY:
		return http.StatusServiceUnavailable
	}
	return 0
}

func sourceAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func isLoopback(addr string) bool {
	a, err := netip.ParseAddr(addr)
	return err == nil && a.Unmap().IsLoopback()
}

// userError returns the user-facing message of err, or "" when err is internal.
func userError(err error) (field, msg string, ok bool) {
	var ie *identity.Error
	if errors.As(err, &ie) {
		return ie.Field, ie.Msg, true
	}
	return "", "", false
}

// safeNext keeps a post-login redirect inside the console.
func safeNext(next string) string {
	if strings.HasPrefix(next, "/console/") && !strings.HasPrefix(next, "//") && !strings.ContainsAny(next, "\\\r\n") {
		return next
	}
	return "/console/"
}
