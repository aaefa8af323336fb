// Package registrar is Trunkline's SIP registrar: it authenticates REGISTER requests from
// an account's endpoints (SIP users, Plivo's Endpoint API) with RFC 3261 digest
// authentication and remembers where each endpoint can be reached, for calls to it; and
// it authenticates the calls those endpoints place (AuthenticateRequest).
//
// Authentication:
//   - The challenge is 401 with WWW-Authenticate: realm (the SIP domain, the one the API
//     computed the stored HA1 for), a stateless nonce (issue time, random bytes and an
//     HMAC under a key derived from the KEK, valid NonceLifetime, so any node holding the
//     KEK accepts it), algorithm=MD5, qop="auth". Clients without qop (RFC 2069) are
//     accepted too. A nonce past its lifetime gets a new challenge with stale=true.
//   - A nonce-count that does not grow (qop=auth) or a second use of a nonce without qop
//     is a replay: a new challenge with stale=true, so an honest client retries at once.
//   - In a cluster (ShareNonces) each nonce names the registrar that issued it, and that
//     registrar alone keeps its uses: another node verifying a response asks it over
//     the bus whether the nonce-count is new, so a nonce used on one node cannot be
//     replayed on another. When the issuer cannot answer (it stopped, or the bus is
//     cut) the answer is a new challenge with stale=true, which an honest client
//     retries at once with a nonce of the node it reached.
//   - The digest user name must be the user of the To URI (the address of record being
//     registered), or the answer is 403. From is not checked: it names who registers,
//     and the credentials already say that.
//   - An unknown user, a wrong password, a disabled account and an HA1 stored for another
//     realm all get the same answer: a fresh 401 challenge built by the same code, so the
//     bytes differ only in the tag and the nonce. The same work is done for each: one
//     look-up, one AES-GCM open (of a dummy HA1 when there is no usable endpoint), one
//     digest computation and a constant-time comparison.
//
// Throttling (SIPVicious-style cracking and enumeration): failed verifications are
// counted by a ratelimit.Guard, as the API counts failed logins: per source address
// (IPv4 /32 and /24, IPv6 /64 and /48) and per source address and user name, the user name
// counted only when it has the form of an endpoint user name (others cannot be right).
// Over a limit the answer is 403 Forbidden with no detail, and nothing is verified, so a
// guess made during a lockout is never checked and a cracker learns nothing from it. 403
// rather than an endless 401 because a phone holding the right password must not be
// told its password is wrong. A user name is never locked out: failures from many
// addresses slow its verifications down (a short delay before the answer), and a phone
// at an address that has not been failing registers with the right password. A source
// that has authenticated a user keeps authenticating that user while the address is
// locked out by someone else's failures (its own failures for that user are counted and
// limited separately); a success resets only that pair's count, never the source's
// count for other users. Requests of any kind are also limited per source address by
// the voice server (voice.Options.SIPRequestRate), before they reach the registrar.
//
// Calls from endpoints: AuthenticateRequest checks an INVITE (or another request) the
// same way, with 407 Proxy Authentication Required and Proxy-Authenticate instead of 401
// and WWW-Authenticate, the same nonces, the same identical answers and the same
// throttles: failures of either kind count toward one limit per source and per user.
// The identity is the digest user name; see AuthenticateRequest for the From rule.
//
// Bindings: one contact per endpoint (the last REGISTER wins), expiry clamped to
// [MinExpires, MaxExpires] (no 423), Expires: 0 or a "*" contact unregisters. Each is
// written to the store (what the API shows) and kept in memory with the address the
// REGISTER came from, for NAT. Entries expire lazily. Passwords, HA1s and digest
// responses are never logged.
package registrar

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/emiago/sipgo/sip"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/account"
	"github.com/trunkline/trunkline/audit"
	"github.com/trunkline/trunkline/keys"
	"github.com/trunkline/trunkline/ratelimit"
)

// Store is what the registrar needs from storage; *store.DB implements it.
type Store interface {
	EndpointByUsername(ctx context.Context, username string) (*trunkline.Endpoint, error)
	SetRegistration(ctx context.Context, username, contact, userAgent string, expires time.Time) error
	ClearRegistration(ctx context.Context, username string) error
}

// Auditor appends to the security log.
type Auditor interface {
	Append(ctx context.Context, e audit.Entry) (int64, error)
}

// Options configure a Registrar.
type Options struct {
	// Throttles, when set, makes the throttles cluster-wide (failures and spent tokens
	// on one node count on all); nil keeps them to this node.
	Throttles *ratelimit.Exchange
	Store     Store      // required
	Ring      *keys.Ring // required: opens the stored HA1s and keys the nonces
	// Realm is the SIP domain: the realm the API computed each endpoint's HA1 for
	// (api.Options.SIPDomain). Both must come from the one setting. Default "localhost",
	// the API's default.
	Realm  string
	Audit  Auditor // optional: registrations, unregistrations, failures and lockouts
	Logger *slog.Logger
	Now    func() time.Time
	Node   string // for audit entries

	MaxExpires     time.Duration // longest binding granted; default 1 h
	MinExpires     time.Duration // shortest; shorter requests are raised to it; default 60 s
	DefaultExpires time.Duration // when the REGISTER asks for none; default MaxExpires
	NonceLifetime  time.Duration // default 5 min

	// Failed verifications allowed within FailWindow per source address (an IPv4 /24 or
	// IPv6 /48 gets four times as many) and per source address and user name before a lockout of
	// that address or pair, which doubles on repeat up to MaxLockout. Past FailsPerUser
	// failures of one user name from all addresses its verifications are slowed down.
	FailsPerSource, FailsPerUser int           // defaults 10 and 5
	FailWindow, MaxLockout       time.Duration // defaults 2 min and 1 h
}

func (o *Options) setDefaults() {
	if o.Store == nil || o.Ring == nil {
		panic("registrar: Options.Store and Options.Ring are required")
	}
	if o.Realm == "" {
		o.Realm = "localhost"
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxExpires <= 0 {
		o.MaxExpires = time.Hour
	}
	if o.MinExpires <= 0 {
		o.MinExpires = time.Minute
	}
	if o.MinExpires > o.MaxExpires {
		o.MinExpires = o.MaxExpires
	}
	if o.DefaultExpires <= 0 {
		o.DefaultExpires = o.MaxExpires
	}
	if o.NonceLifetime <= 0 {
		o.NonceLifetime = 5 * time.Minute
	}
	if o.FailsPerSource <= 0 {
		o.FailsPerSource = 10
	}
	if o.FailsPerUser <= 0 {
		o.FailsPerUser = 5
	}
	if o.FailWindow <= 0 {
		o.FailWindow = 2 * time.Minute
	}
	if o.MaxLockout <= 0 {
		o.MaxLockout = time.Hour
	}
}

// Registrar answers REGISTER requests and looks up where endpoints are registered.
type Registrar struct {
	o   Options
	log *slog.Logger

	fails *ratelimit.Guard

	// The HA1 verified for a user name that has no usable endpoint: sealed like a real
	// one, so that case costs the same AES-GCM open.
	dummyEnc []byte

	// issuer names this registrar in its nonces; uses of nonces another issuer made are
	// checked with it over nonceBus (nil: a single node, all nonces are its own).
	issuer   [nonceIssuer]byte
	nonceBus NonceBus
	nonceSub trunkline.Subscription

	mu        sync.Mutex
	bindings  map[string]*binding // by username
	nonces    map[string]nonceUse // nonces used in a successful verification
	lastSweep time.Time
}

type binding struct {
	contact   sip.Uri
	raw       string // contact as stored
	source    string // host:port the REGISTER came from
	transport string
	userAgent string
	expires   time.Time
}

type nonceUse struct {
	nc     uint64
	issued time.Time
}

// dummyAAD can never be a real endpoint's (user names have no NUL).
var dummyAAD = account.EndpointHA1AAD("\x00no endpoint")

// New returns a Registrar. It starts nothing: register HandleRegister on a SIP server.
func New(o Options) *Registrar {
	o.setDefaults()
	r := &Registrar{o: o, log: o.Logger.With("component", "registrar"),
		// Trust lasts past the longest binding, so a phone's refreshes stay trusted. The
		// slow-down stays under SIP's retransmission timers' patience (Timer F, 32 s)
		// by far.
		fails: ratelimit.NewGuard(ratelimit.GuardOptions{PerAddress: o.FailsPerSource, PerPair: o.FailsPerUser,
			Window: o.FailWindow, MaxLockout: o.MaxLockout, MaxDelay: time.Second,
			TrustFor: 2*o.MaxExpires + o.MaxLockout, Now: o.Now}),
		bindings: map[string]*binding{}, nonces: map[string]nonceUse{},
	}
	r.fails.Share(o.Throttles, "sip.auth")
	rand.Read(r.issuer[:])
	var random [16]byte
	rand.Read(random[:])
	enc, err := o.Ring.Seal([]byte(md5hex(string(random[:]))), dummyAAD)
	if err != nil {
		panic("registrar: cannot seal with the KEK: " + err.Error())
	}
	r.dummyEnc = enc
	return r
}

// Realm is the realm of the challenges.
func (r *Registrar) Realm() string { return r.o.Realm }

// outcome is what a REGISTER led to, for the log and the audit entry written after the
// answer has gone (so their cost cannot be timed).
type outcome struct {
	action   string // audit action; "" for none
	ep       *trunkline.Endpoint
	method   string // of the request: "REGISTER", "INVITE" ...
	user     string
	source   string
	lockout  bool
	contact  string
	expires  int
	failure  bool
	internal error
}

// HandleRegister answers one REGISTER (sipgo's Server.OnRegister handler).
func (r *Registrar) HandleRegister(req *sip.Request, tx sip.ServerTransaction) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, out := r.register(ctx, req)
	out.method = req.Method.String()
	if err := tx.Respond(res); err != nil {
		r.log.Debug("register: cannot send the answer", "source", out.source, "err", err)
	}
	r.after(ctx, out)
}

func respond(req *sip.Request, code int, reason string) *sip.Response {
	return sip.NewResponseFromRequest(req, code, reason, nil)
}

// challenge is the one 401 of this registrar: for a first REGISTER, an unknown user, a
// wrong password, a stale nonce (stale=true) alike.
func (r *Registrar) challenge(req *sip.Request, stale bool) *sip.Response {
	return r.challengeWith(req, 401, "Unauthorized", "WWW-Authenticate", stale)
}

// proxyChallenge is challenge's 407 for requests other than REGISTER (calls), which
// phones answer with Proxy-Authorization.
func (r *Registrar) proxyChallenge(req *sip.Request, stale bool) *sip.Response {
	return r.challengeWith(req, 407, "Proxy Authentication Required", "Proxy-Authenticate", stale)
}

func (r *Registrar) challengeWith(req *sip.Request, code int, reason, header string, stale bool) *sip.Response {
	res := respond(req, code, reason)
	v := `Digest realm="` + r.o.Realm + `", nonce="` + r.newNonce(r.o.Now()) + `", algorithm=MD5, qop="auth"`
	if stale {
		v += ", stale=true"
	}
	res.AppendHeader(sip.NewHeader(header, v))
	return res
}

// ourCredentials returns the first Digest credentials for our realm in the headers
// named, in that order; nil when there are none (no header, or only other realms'). Any
// header that does not parse is an error.
func (r *Registrar) ourCredentials(req *sip.Request, names ...string) (*credentials, error) {
	var found *credentials
	for _, name := range names {
		for _, h := range req.GetHeaders(name) {
			c, err := parseAuthorization(h.Value())
			if err != nil {
				return nil, err
			}
			if found == nil && c.Realm == r.o.Realm {
				found = c
			}
		}
	}
	return found, nil
}

func sourceIP(req *sip.Request) (ip, addr string) {
	addr = req.Source()
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, addr
	}
	return host, addr
}

// validUsername is the form the API gives user names: a letter, then letters and digits
// (the chosen name of up to 32 and 12 digits).
func validUsername(u string) bool {
	if u == "" || len(u) > 64 {
		return false
	}
	for i := 0; i < len(u); i++ {
		c := u[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// throttleID is the identity the throttle counts for a user name: the name when it has
// the form of an endpoint's (see endpointShaped), "" otherwise (no endpoint has such a
// name, and junk must not fill the throttle's memory).
func throttleID(u string) string {
	if endpointShaped(u) {
		return u
	}
	return ""
}

func (r *Registrar) register(ctx context.Context, req *sip.Request) (*sip.Response, outcome) {
	ip, addr := sourceIP(req)
	out := outcome{source: ip}
	to, from := req.To(), req.From()
	if to == nil || from == nil || req.CallID() == nil || req.CSeq() == nil {
		return respond(req, 400, "Bad Request"), out
	}
	toUser := to.Address.User
	out.user = toUser
	if !r.admit(ctx, toUser, ip) {
		return respond(req, 403, "Forbidden"), out
	}

	cred, err := r.ourCredentials(req, "Authorization")
	if err != nil {
		return respond(req, 400, "Malformed Authorization"), out
	}
	if cred == nil {
		// No credentials, or some other realm's: nothing to verify, ask for ours.
		return r.challenge(req, false), out
	}
	if err := cred.check(); err != nil {
		return respond(req, 400, "Malformed Authorization"), out
	}
	if cred.Algorithm != "" && !strings.EqualFold(cred.Algorithm, "MD5") {
		return r.challenge(req, false), out
	}
	issued, ok, stale := r.checkNonce(cred.Nonce, r.o.Now())
	if !ok {
		return r.challenge(req, stale), out
	}
	if cred.Username != toUser {
		// Someone with credentials registering another address of record. Syntax only:
		// it says nothing of whether either user exists.
		return respond(req, 403, "Forbidden"), out
	}

	ep, good, err := r.verify(ctx, cred, req.Method.String())
	if err != nil {
		out.internal = err
		return respond(req, 500, "Server Internal Error"), out
	}
	out.ep = ep
	if !good {
		out.failure, out.action = true, "endpoint.auth_failed"
		out.lockout = r.fail(cred.Username, ip)
		return r.challenge(req, false), out
	}
	if !r.firstUse(cred, issued) {
		return r.challenge(req, true), out
	}
	r.succeed(cred.Username, ip)
	return r.bind(ctx, req, ep, addr, out)
}

// verify checks the digest response against the endpoint's HA1, doing the same work
// whether or not there is a usable endpoint (see the package comment). It returns the
// endpoint when one exists, usable or not.
func (r *Registrar) verify(ctx context.Context, c *credentials, method string) (*trunkline.Endpoint, bool, error) {
	var ep *trunkline.Endpoint
	if validUsername(c.Username) {
		e, err := r.o.Store.EndpointByUsername(ctx, c.Username)
		switch {
		case err == nil:
			ep = e
		case !errors.Is(err, trunkline.ErrNotFound):
			return nil, false, err
		}
	}
	usable := ep != nil && ep.AccountEnabled && ep.Realm == r.o.Realm
	if ep != nil && ep.Realm != r.o.Realm {
		r.log.Warn("endpoint's password was set for another SIP domain; set it again to register",
			"username", ep.Username, "stored_realm", ep.Realm, "realm", r.o.Realm)
	}
	enc, aad := r.dummyEnc, dummyAAD
	if usable {
		enc, aad = ep.HA1Enc, account.EndpointHA1AAD(ep.Username)
	}
	ha1, err := r.o.Ring.Open(enc, aad)
	if err != nil {
		if usable {
			r.log.Error("cannot open an endpoint's HA1 (KEK changed?)", "username", ep.Username)
		}
		usable, ha1 = false, make([]byte, 32)
	}
	want := digestResponse(ha1, c, method)
	match := subtle.ConstantTimeCompare(want, []byte(strings.ToLower(c.Response))) == 1
	return ep, usable && match, nil
}

// Nonces: 8 bytes of issue time (Unix seconds), 8 bytes naming the issuing registrar,
// 12 random bytes, 16 bytes of HMAC over the rest (and the realm), base64url.
const (
	nonceTime   = 8
	nonceIssuer = 8
	nonceRand   = 12
	nonceMAC    = 16
	nonceSkew   = 30 * time.Second // tolerated clock difference between nodes
	nonceSigned = nonceTime + nonceIssuer + nonceRand
	nonceBytes  = nonceSigned + nonceMAC
)

func (r *Registrar) newNonce(now time.Time) string {
	var raw [nonceBytes]byte
	binary.BigEndian.PutUint64(raw[:nonceTime], uint64(now.Unix()))
	copy(raw[nonceTime:], r.issuer[:])
	rand.Read(raw[nonceTime+nonceIssuer : nonceSigned])
	copy(raw[nonceSigned:], r.nonceMAC(raw[:nonceSigned]))
	return base64.RawURLEncoding.EncodeToString(raw[:])
}

func (r *Registrar) nonceMAC(b []byte) []byte {
	return r.o.Ring.MAC(append([]byte("trunkline sip nonce v2\x00"+r.o.Realm+"\x00"), b...))[:nonceMAC]
}

// nonceIssuerOf returns the issuer bytes of a nonce that checkNonce accepted.
func nonceIssuerOf(nonce string) (id [nonceIssuer]byte) {
	raw, _ := base64.RawURLEncoding.DecodeString(nonce)
	if len(raw) == nonceBytes {
		copy(id[:], raw[nonceTime:nonceTime+nonceIssuer])
	}
	return id
}

// checkNonce reports whether nonce is one of ours and still valid; stale when it is ours
// but too old.
func (r *Registrar) checkNonce(nonce string, now time.Time) (issued time.Time, ok, stale bool) {
	raw, err := base64.RawURLEncoding.DecodeString(nonce)
	if err != nil || len(raw) != nonceBytes {
		return time.Time{}, false, false
	}
	if subtle.ConstantTimeCompare(raw[nonceSigned:], r.nonceMAC(raw[:nonceSigned])) != 1 {
		return time.Time{}, false, false
	}
	issued = time.Unix(int64(binary.BigEndian.Uint64(raw[:nonceTime])), 0)
	if issued.After(now.Add(nonceSkew)) {
		return time.Time{}, false, false
	}
	if now.Sub(issued) > r.o.NonceLifetime {
		return issued, false, true
	}
	return issued, true, false
}

// firstUse records a verified use of a nonce and reports whether it is new: a
// nonce-count above the last one seen (qop=auth), or a first use (no qop). The
// registrar that issued the nonce decides: this one, or another node's, asked over
// the bus (see ShareNonces).
func (r *Registrar) firstUse(c *credentials, issued time.Time) bool {
	var nc uint64
	if c.QOP != "" {
		nc, _ = strconv.ParseUint(c.NC, 16, 32)
	}
	if id := nonceIssuerOf(c.Nonce); id != r.issuer {
		return r.askIssuer(id, c.Nonce, nc)
	}
	return r.useLocal(c.Nonce, nc, issued)
}

// useLocal is firstUse for a nonce this registrar issued.
func (r *Registrar) useLocal(nonce string, nc uint64, issued time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sweepLocked(r.o.Now())
	if u, seen := r.nonces[nonce]; seen && nc <= u.nc {
		return false
	}
	r.nonces[nonce] = nonceUse{nc: nc, issued: issued}
	return true
}

// admit reports whether a request for user from ip may be verified, after the
// throttle's slow-down.
func (r *Registrar) admit(ctx context.Context, user, ip string) bool {
	v := r.fails.Check(ip, throttleID(user))
	return v.Allowed && v.Wait(ctx) == nil
}

// fail counts a failed verification and reports whether it started a lockout.
func (r *Registrar) fail(user, ip string) bool {
	return r.fails.Fail(ip, throttleID(user))
}

func (r *Registrar) succeed(user, ip string) {
	r.fails.Succeed(ip, throttleID(user))
}

// sweepLocked drops what has expired, at most once a minute: used nonces and
// bindings (which are otherwise dropped when looked up).
func (r *Registrar) sweepLocked(now time.Time) {
	if now.Sub(r.lastSweep) < time.Minute {
		return
	}
	r.lastSweep = now
	for k, u := range r.nonces {
		if now.Sub(u.issued) > r.o.NonceLifetime+nonceSkew {
			delete(r.nonces, k)
		}
	}
	for k, b := range r.bindings {
		if !now.Before(b.expires) {
			delete(r.bindings, k)
		}
	}
}

// Bindings.

const (
	maxContact   = 1024
	maxUserAgent = 256
)

// bind applies the REGISTER's contacts for an authenticated endpoint.
func (r *Registrar) bind(ctx context.Context, req *sip.Request, ep *trunkline.Endpoint, addr string, out outcome) (*sip.Response, outcome) {
	now := r.o.Now()
	var contacts []*sip.ContactHeader
	for _, h := range req.GetHeaders("Contact") {
		c, ok := h.(*sip.ContactHeader)
		if !ok {
			return respond(req, 400, "Bad Contact"), out
		}
		contacts = append(contacts, c)
	}
	expHdr := -1
	if h := req.GetHeader("Expires"); h != nil {
		n, ok := parseSeconds(h.Value())
		if !ok {
			return respond(req, 400, "Bad Expires"), out
		}
		expHdr = n
	}

	if len(contacts) == 0 {
		// A query: the current binding, if any.
		res := respond(req, 200, "OK")
		if ep.Registered(now) {
			var u sip.Uri
			if sip.ParseUri(ep.SIPContact, &u) == nil {
				left := int(ep.SIPExpiresAt.Sub(now).Seconds())
				c := &sip.ContactHeader{Address: u}
				c.Params.Add("expires", strconv.Itoa(max(left, 1)))
				res.AppendHeader(c)
			}
		}
		return res, out
	}

	first := contacts[0]
	if first.Address.Wildcard {
		if len(contacts) != 1 || expHdr != 0 {
			return respond(req, 400, "Bad Request"), out // RFC 3261 §10.3 step 6
		}
		return r.unbind(ctx, req, ep, out)
	}
	for _, c := range contacts {
		if c.Address.Wildcard {
			return respond(req, 400, "Bad Request"), out
		}
	}
	exp := expHdr
	if v, ok := first.Params.Get("expires"); ok {
		n, ok := parseSeconds(v)
		if !ok {
			return respond(req, 400, "Bad Expires"), out
		}
		exp = n
	}
	if exp == 0 {
		return r.unbind(ctx, req, ep, out)
	}
	if exp < 0 {
		exp = int(r.o.DefaultExpires / time.Second)
	}
	exp = min(max(exp, int(r.o.MinExpires/time.Second)), int(r.o.MaxExpires/time.Second))

	scheme := strings.ToLower(first.Address.Scheme)
	raw := first.Address.String()
	if scheme != "sip" && scheme != "sips" || first.Address.Host == "" || len(raw) > maxContact {
		return respond(req, 400, "Bad Contact"), out
	}
	ua := ""
	if h := req.GetHeader("User-Agent"); h != nil {
		ua = cleanUserAgent(h.Value())
	}
	expires := now.Add(time.Duration(exp) * time.Second)
	if err := r.o.Store.SetRegistration(ctx, ep.Username, raw, ua, expires); err != nil {
		if errors.Is(err, trunkline.ErrNotFound) {
			return respond(req, 404, "Not Found"), out // deleted a moment ago
		}
		out.internal = err
		return respond(req, 500, "Server Internal Error"), out
	}
	r.mu.Lock()
	r.sweepLocked(now)
	r.bindings[ep.Username] = &binding{contact: *first.Address.Clone(), raw: raw, source: addr,
		transport: req.Transport(), userAgent: ua, expires: expires}
	r.mu.Unlock()
	if !ep.Registered(now) || ep.SIPContact != raw {
		out.action = "endpoint.register" // a new binding, not a refresh
	}
	out.contact, out.expires = raw, exp

	res := respond(req, 200, "OK")
	c := first.Clone()
	c.Params.Remove("expires")
	c.Params.Add("expires", strconv.Itoa(exp))
	res.AppendHeader(c)
	res.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(exp)))
	return res, out
}

func (r *Registrar) unbind(ctx context.Context, req *sip.Request, ep *trunkline.Endpoint, out outcome) (*sip.Response, outcome) {
	if err := r.o.Store.ClearRegistration(ctx, ep.Username); err != nil && !errors.Is(err, trunkline.ErrNotFound) {
		out.internal = err
		return respond(req, 500, "Server Internal Error"), out
	}
	r.mu.Lock()
	delete(r.bindings, ep.Username)
	r.mu.Unlock()
	out.action = "endpoint.unregister"
	return respond(req, 200, "OK"), out
}

// parseSeconds parses a delta-seconds value; huge values saturate (they are clamped).
func parseSeconds(v string) (int, bool) {
	v = strings.TrimSpace(v)
	if v == "" || len(v) > 20 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, false
		}
		if n < 1<<31 {
			n = n*10 + int(v[i]-'0')
		}
	}
	return min(n, 1<<31), true
}

func cleanUserAgent(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, ""))
	if len(s) > maxUserAgent {
		s = strings.ToValidUTF8(s[:maxUserAgent], "")
	}
	return s
}

// after logs and audits a request's outcome once its answer has been sent.
func (r *Registrar) after(ctx context.Context, out outcome) {
	user := out.user
	if len(user) > 64 {
		user = user[:64] + "…"
	}
	if out.internal != nil {
		r.log.Error("endpoint request failed", "method", out.method, "username", user, "source", out.source, "err", out.internal)
	}
	if out.lockout {
		r.log.Warn("SIP endpoint authentication locked out after failed attempts", "username", user, "source", out.source, "method", out.method)
	}
	switch out.action {
	case "":
		return
	case "endpoint.auth_failed":
		r.log.Debug("endpoint authentication failed", "username", user, "source", out.source, "method", out.method)
	case "endpoint.register":
		r.log.Info("endpoint registered", "username", out.ep.Username, "contact", out.contact, "expires", out.expires, "source", out.source)
	case "endpoint.unregister":
		r.log.Info("endpoint unregistered", "username", out.ep.Username, "source", out.source)
	}
	if r.o.Audit == nil {
		return
	}
	e := audit.Entry{Actor: "sip", Action: out.action, ObjectType: "endpoint", Source: out.source, Node: r.o.Node,
		Outcome: "success", Detail: map[string]string{"username": user, "method": out.method}}
	if out.ep != nil {
		// Attributed to the account only when the endpoint exists, so its owner sees
		// attempts on it; the SIP answer was the same either way.
		e.AccountID, e.ObjectID = out.ep.AccountID, out.ep.ID
	}
	if out.failure {
		e.Outcome = "failure"
		if out.lockout {
			e.Detail["lockout"] = "true"
		}
	}
	if out.contact != "" {
		e.Detail["contact"] = truncate(out.contact, 200)
		e.Detail["expires"] = strconv.Itoa(out.expires)
	}
	if _, err := r.o.Audit.Append(ctx, e); err != nil {
		r.log.Error("audit append failed", "action", e.Action, "err", err)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

// Binding is where a registered endpoint can be reached.
type Binding struct {
	Username   string
	EndpointID string
	AccountID  string
	AppID      string // the endpoint's application, "" when none
	// Contact is the URI the phone registered: the Request-URI for calls to it.
	Contact sip.Uri
	// Source is the address ("host:port") the REGISTER came from and Transport its
	// transport ("UDP", "TCP", "TLS", "WS"). Behind NAT the Contact's address is private:
	// send requests to Source (with sipgo, req.SetDestination(b.Source)), over the same
	// connection for TCP and TLS. Only known while this node took the registration; else
	// the Contact's own host and port.
	Source    string
	Transport string
	UserAgent string
	Expires   time.Time
}

// RequestURI is the Contact as the Request-URI of a call to the phone, with the
// transport it registered over: a phone registered over TLS with a sips: Contact, or one
// with no transport parameter, is called over TLS (on its connection, at Source), not UDP.
func (b Binding) RequestURI() sip.Uri {
	u := *b.Contact.Clone()
	if b.Transport == "" || u.UriParams.Has("transport") {
		return u
	}
	if u.UriParams == nil {
		u.UriParams = sip.NewParams()
	}
	u.UriParams.Add("transport", strings.ToLower(b.Transport))
	return u
}

// Lookup returns the contact URI of a registered endpoint: ok is false when the user
// name is unknown, its account disabled, or it has no live registration. See Binding for
// where to send to.
func (r *Registrar) Lookup(username string) (contact sip.Uri, ok bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b, ok := r.Binding(ctx, username)
	return b.Contact, ok
}

// Binding returns where a registered endpoint can be reached. The store decides
// (registrations from before a restart or through another node count; a deleted endpoint
// or a disabled account does not); the memory adds the source address. When the store
// cannot be read, this node's own unexpired binding is used.
func (r *Registrar) Binding(ctx context.Context, username string) (Binding, bool) {
	now := r.o.Now()
	r.mu.Lock()
	mem := r.bindings[username]
	if mem != nil && !now.Before(mem.expires) {
		delete(r.bindings, username)
		mem = nil
	}
	r.mu.Unlock()

	ep, err := r.o.Store.EndpointByUsername(ctx, username)
	switch {
	case errors.Is(err, trunkline.ErrNotFound):
		r.forget(username)
		return Binding{}, false
	case err != nil:
		r.log.Warn("registrar lookup: store unavailable, using this node's binding", "username", username, "err", err)
		if mem == nil {
			return Binding{}, false
		}
		return Binding{Username: username, Contact: *mem.contact.Clone(), Source: mem.source, Transport: mem.transport,
			UserAgent: mem.userAgent, Expires: mem.expires}, true
	}
	if !ep.AccountEnabled || !ep.Registered(now) {
		return Binding{}, false
	}
	b := Binding{Username: ep.Username, EndpointID: ep.ID, AccountID: ep.AccountID, AppID: ep.AppID,
		UserAgent: ep.SIPUserAgent, Expires: *ep.SIPExpiresAt}
	if err := sip.ParseUri(ep.SIPContact, &b.Contact); err != nil {
		r.log.Error("stored contact does not parse", "username", username, "err", err)
		return Binding{}, false
	}
	if mem != nil && mem.raw == ep.SIPContact {
		b.Source, b.Transport = mem.source, mem.transport
	} else {
		port := b.Contact.Port
		if port == 0 {
			port = 5060
			if strings.EqualFold(b.Contact.Scheme, "sips") {
				port = 5061
			}
		}
		b.Source = net.JoinHostPort(strings.Trim(b.Contact.Host, "[]"), strconv.Itoa(port))
		b.Transport = "UDP"
		if t, ok := b.Contact.UriParams.Get("transport"); ok && t != "" {
			b.Transport = strings.ToUpper(t)
		} else if strings.EqualFold(b.Contact.Scheme, "sips") {
			b.Transport = "TLS"
		}
	}
	return b, true
}

func (r *Registrar) forget(username string) {
	r.mu.Lock()
	delete(r.bindings, username)
	r.mu.Unlock()
}
