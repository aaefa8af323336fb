package registrar

import (
	"context"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Endpoint is the endpoint that authenticated a request: who is calling.
type Endpoint struct {
	Username   string // the digest user name: the caller's identity
	EndpointID string
	AccountID  string
	Alias      string
	AppID      string // the endpoint's application, "" when none
}

// AuthenticateRequest checks a request from an endpoint: an INVITE (a call from a SIP
// phone), or any other method but REGISTER (use HandleRegister). It returns the endpoint
// when the request carries valid Digest credentials (Proxy-Authorization, or
// Authorization) for an endpoint of an enabled account; the caller then handles the
// request and answers it. Otherwise AuthenticateRequest has answered the request itself
// through tx and returns ok=false; the caller must not answer it again.
//
// The answers:
//   - 407 Proxy Authentication Required with a fresh Proxy-Authenticate challenge (the
//     realm, nonces and algorithm of REGISTER's 401): no credentials, credentials for
//     another realm, an unknown user, a wrong password, a disabled account, an HA1 for
//     another realm, a nonce not ours; with stale=true for an expired or replayed nonce.
//     An unknown user and a wrong password get the same bytes but for tags, branch and
//     nonce, for the same work (see the package comment).
//   - 403 Forbidden, with no detail: the source is locked out, for every user or for this
//     one (nothing is verified), or the From user names another endpoint (see below).
//   - 400: malformed credentials, or a digest uri that is not the Request-URI.
//
// Identity: the digest user name is the caller; the digest uri must be the Request-URI
// (scheme, user, host and port; parameters ignored) and the method is the request's.
// The From user must be that user name when it has the form of an endpoint user name
// (a letter, letters and digits, ending in the 12 digits the API appends), so one
// endpoint cannot present itself as another; any other From user is accepted, because
// clients put other things there (sipgo and diago put their UA name, "sipgo" by default;
// phones may put a number or "anonymous"). The caller must therefore take the calling
// endpoint from the returned Endpoint, never from From. Like REGISTER's To check, this is
// a check of form made before any verification, so it says nothing of who exists.
//
// Throttling is REGISTER's: failed verifications count toward the same limits per
// source and per source and user (failures by INVITE lock that source out of REGISTER
// too, and the other way round); a request without credentials is challenged and counts
// for nothing. Before credentials
// arrive the user checked is the From user. A success marks the source as trusted for
// that user, as a registration does.
func (r *Registrar) AuthenticateRequest(req *sip.Request, tx sip.ServerTransaction) (Endpoint, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, ep, out := r.authenticate(ctx, req)
	if res == nil {
		return ep, true
	}
	if err := tx.Respond(res); err != nil {
		r.log.Debug("cannot send the answer", "method", out.method, "source", out.source, "err", err)
	}
	r.after(ctx, out)
	return Endpoint{}, false
}

// authenticate returns the answer to req, or nil and the endpoint when it is
// authenticated.
func (r *Registrar) authenticate(ctx context.Context, req *sip.Request) (*sip.Response, Endpoint, outcome) {
	ip, _ := sourceIP(req)
	out := outcome{source: ip, method: req.Method.String()}
	from := req.From()
	if from == nil || req.To() == nil || req.CallID() == nil || req.CSeq() == nil {
		return respond(req, 400, "Bad Request"), Endpoint{}, out
	}
	cred, err := r.ourCredentials(req, "Proxy-Authorization", "Authorization")
	if err != nil {
		return respond(req, 400, "Malformed Authorization"), Endpoint{}, out
	}
	fromUser := from.Address.User
	out.user = fromUser
	if cred != nil {
		out.user = cred.Username
	}
	if !r.admit(ctx, out.user, ip) {
		return respond(req, 403, "Forbidden"), Endpoint{}, out
	}
	if cred == nil {
		return r.proxyChallenge(req, false), Endpoint{}, out
	}
	if err := cred.check(); err != nil {
		return respond(req, 400, "Malformed Authorization"), Endpoint{}, out
	}
	if fromUser != cred.Username && endpointShaped(fromUser) {
		// Credentials of one endpoint, the From of another. Form only: it says nothing
		// of whether either exists.
		return respond(req, 403, "Forbidden"), Endpoint{}, out
	}
	if !sameURI(cred.URI, &req.Recipient) {
		return respond(req, 400, "Bad Request (digest uri)"), Endpoint{}, out
	}
	if cred.Algorithm != "" && !strings.EqualFold(cred.Algorithm, "MD5") {
		return r.proxyChallenge(req, false), Endpoint{}, out
	}
	issued, ok, stale := r.checkNonce(cred.Nonce, r.o.Now())
	if !ok {
		return r.proxyChallenge(req, stale), Endpoint{}, out
	}

	ep, good, err := r.verify(ctx, cred, req.Method.String())
	if err != nil {
		out.internal = err
		return respond(req, 500, "Server Internal Error"), Endpoint{}, out
	}
	out.ep = ep
	if !good {
		out.failure, out.action = true, "endpoint.auth_failed"
		out.lockout = r.fail(cred.Username, ip)
		return r.proxyChallenge(req, false), Endpoint{}, out
	}
	if !r.firstUse(cred, issued) {
		return r.proxyChallenge(req, true), Endpoint{}, out
	}
	r.succeed(cred.Username, ip)
	return nil, Endpoint{Username: ep.Username, EndpointID: ep.ID, AccountID: ep.AccountID, Alias: ep.Alias, AppID: ep.AppID}, out
}

// endpointSuffix is the number of digits the API appends to a chosen user name.
const endpointSuffix = 12

// endpointShaped reports whether u has the form of an endpoint user name: a letter,
// letters and digits, and the API's 12 digits at the end.
func endpointShaped(u string) bool {
	if !validUsername(u) || len(u) <= endpointSuffix {
		return false
	}
	for i := len(u) - endpointSuffix; i < len(u); i++ {
		if u[i] < '0' || u[i] > '9' {
			return false
		}
	}
	return true
}

// sameURI reports whether the digest uri names the Request-URI: same scheme, user, host
// and port (an absent port being the scheme's default). Parameters and headers are not
// compared: clients differ in which they copy.
func sameURI(digestURI string, ruri *sip.Uri) bool {
	var u sip.Uri
	if sip.ParseUri(digestURI, &u) != nil {
		return false
	}
	if s := schemeOf(ruri); s != "sip" && s != "sips" {
		return digestURI == ruri.String() // tel: and others: sipgo keeps them opaque
	}
	return strings.EqualFold(schemeOf(&u), schemeOf(ruri)) && u.User == ruri.User &&
		strings.EqualFold(strings.Trim(u.Host, "[]"), strings.Trim(ruri.Host, "[]")) && portOf(&u) == portOf(ruri)
}

func schemeOf(u *sip.Uri) string {
	if u.Scheme == "" {
		return "sip"
	}
	return strings.ToLower(u.Scheme)
}

func portOf(u *sip.Uri) int {
	if u.Port != 0 {
		return u.Port
	}
	if schemeOf(u) == "sips" {
		return 5061
	}
	return 5060
}
