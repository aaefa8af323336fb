package voice

import (
	"context"
	"errors"
	"math"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/media"
	"github.com/trunkline/trunkline/ratelimit"
	"github.com/trunkline/trunkline/voice/registrar"
)

// Admission: what a request must pass before it reaches a dialog — the
// per-source limit, the trunk ACL or the registrar's authentication, capacity,
// the SDP offer, and the number or application it calls.

// admission is what the checks before a call found out.
type admission struct {
	from      string // the caller, when the registrar says who (an endpoint)
	accountID string // whose call it is
	to        string // the number or application called
	trunk     string
	offer     media.Offer
	late      bool // INVITE without SDP
	number    *trunkline.Number
	app       *trunkline.Application
}

// middleware answers what must not reach a dialog: requests over the per-source limit
// (503, see limited), INVITEs and OPTIONS from outside the trunks (403 or the registrar's
// 407, no detail), over capacity (503), with bad or
// incompatible SDP (400/488) or to numbers nobody rents (404); and SIP INFO
// key presses, which diago refuses.
func (s *Server) middleware(next sipgo.RequestHandler) sipgo.RequestHandler {
	return s.limited(func(req *sip.Request, tx sip.ServerTransaction) {
		switch req.Method {
		case sip.INVITE:
			if req.To() != nil && req.To().Params.Has("tag") {
				next(req, tx) // re-INVITE in a dialog
				return
			}
			code, reason, answered := s.admit(req, tx)
			if answered {
				return
			}
			if code != 0 {
				res := sip.NewResponseFromRequest(req, code, reason, nil)
				if err := tx.Respond(res); err != nil {
					s.log.Debug("respond", "code", code, "err", err)
				}
				return
			}
		case sip.INFO:
			if s.info(req, tx) {
				return
			}
		case sip.OPTIONS:
			if !s.optionsAllowed(req, tx) {
				return
			}
			if s.draining.Load() {
				// A draining node answers probes 503: proxies stop sending it calls.
				if err := tx.Respond(sip.NewResponseFromRequest(req, sip.StatusServiceUnavailable, "Draining", nil)); err != nil {
					s.log.Debug("respond", "code", sip.StatusServiceUnavailable, "err", err)
				}
				return
			}
		}
		next(req, tx)
	})
}

// limited applies the per-source request limit (Options.SourceRate) before next: over
// it, 503 with Retry-After, or nothing for an ACK. Requests from trunks are not limited.
func (s *Server) limited(next sipgo.RequestHandler) sipgo.RequestHandler {
	if s.perSource == nil {
		return next
	}
	return func(req *sip.Request, tx sip.ServerTransaction) {
		src := sourceAddr(req)
		if _, trunk := s.o.ACL(src); !trunk {
			key := ratelimit.SourceKey(src.String())
			if !src.IsValid() {
				key = ratelimit.SourceKey(req.Source())
			}
			if ok, wait := s.perSource.Allow(key); !ok {
				if req.IsAck() {
					return
				}
				res := sip.NewResponseFromRequest(req, sip.StatusServiceUnavailable, "Service Unavailable", nil)
				res.AppendHeader(sip.NewHeader("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds()))))))
				if err := tx.Respond(res); err != nil {
					s.log.Debug("respond", "code", 503, "err", err)
				}
				return
			}
		}
		next(req, tx)
	}
}

// optionsAllowed lets trunks (their health probes) and authenticated
// endpoints have OPTIONS answered with our capabilities. Anyone else gets
// what a stranger's INVITE gets, and so learns nothing from either: the
// registrar's uniform 407 challenge when endpoints are served, else 403.
// When it returns false the request has been answered.
func (s *Server) optionsAllowed(req *sip.Request, tx sip.ServerTransaction) bool {
	if _, ok := s.o.ACL(sourceAddr(req)); ok {
		return true
	}
	if s.o.Registrar != nil {
		_, ok := s.o.Registrar.AuthenticateRequest(req, tx)
		return ok
	}
	if err := tx.Respond(sip.NewResponseFromRequest(req, sip.StatusForbidden, "Forbidden", nil)); err != nil {
		s.log.Debug("respond", "code", sip.StatusForbidden, "err", err)
	}
	return false
}

func sourceAddr(req *sip.Request) netip.Addr {
	host, _, err := net.SplitHostPort(req.Source())
	if err != nil {
		host = req.Source()
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

func (s *Server) admit(req *sip.Request, tx sip.ServerTransaction) (int, string, bool) {
	trunk, fromTrunk := s.o.ACL(sourceAddr(req))
	ad := &admission{trunk: trunk}
	var ep *registrar.Endpoint
	if !fromTrunk && s.o.Registrar != nil && !s.publicApp(req) {
		// Not a trunk and not a public application: a phone of one of our
		// endpoints, or nobody. The registrar answers what fails (407, 403).
		e, ok := s.o.Registrar.AuthenticateRequest(req, tx)
		if !ok {
			return 0, "", true
		}
		ep = &e
		contactToSource(req)
	}
	code, reason := s.admitChecked(req, ad, fromTrunk || ep != nil, ep)
	return code, reason, false
}

// contactToSource points a phone's Contact at the address its INVITE came
// from, so the requests of the call (BYE, re-INVITE, INFO) go back there:
// behind NAT the Contact names a private address nobody can reach. Over TCP
// and TLS the transport's RewriteContact already sends them on the phone's
// connection; this covers UDP, where the source is the NAT's mapping.
func contactToSource(req *sip.Request) {
	c := req.Contact()
	host, port, err := net.SplitHostPort(req.Source())
	if c == nil || err != nil {
		return
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	c.Address.Host, c.Address.Port = host, p
}

// publicApp says whether the Request-URI names an application whose
// public_uri lets anyone call it.
func (s *Server) publicApp(req *sip.Request) bool {
	user := normalizeNumber(req.Recipient.User)
	if user == "" {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	app, err := s.o.DB.ApplicationByID(ctx, user)
	return err == nil && app.PublicURI && app.Enabled
}

func (s *Server) admitChecked(req *sip.Request, ad *admission, fromTrunk bool, ep *registrar.Endpoint) (int, string) {
	if s.draining.Load() || s.active.Load() >= int64(s.o.MaxCalls) {
		if !fromTrunk {
			return sip.StatusForbidden, "Forbidden"
		}
		return sip.StatusServiceUnavailable, "Service Unavailable"
	}
	if body := req.Body(); len(body) == 0 {
		ad.late, ad.offer = true, media.Offer{Audio: true, Codec: "PCMU", PayloadTEL: 101}
	} else {
		if ct := req.ContentType(); ct != nil && !strings.EqualFold(strings.TrimSpace(strings.SplitN(ct.Value(), ";", 2)[0]), "application/sdp") {
			return refuse(fromTrunk, sip.StatusUnsupportedMediaType, "Unsupported Media Type")
		}
		o, err := media.CheckOffer(body)
		switch {
		case errors.Is(err, media.ErrNoCommonCode):
			return refuse(fromTrunk, sip.StatusNotAcceptableHere, "Not Acceptable Here")
		case err != nil:
			return refuse(fromTrunk, sip.StatusBadRequest, "Bad Request (SDP)")
		}
		if o.SRTP && !isTLS(req) {
			// SDES keys sent in the clear protect nothing: SRTP only over TLS.
			return refuse(fromTrunk, sip.StatusNotAcceptableHere, "Not Acceptable Here")
		}
		ad.offer = o
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if ep != nil {
		// A call from an endpoint runs the endpoint's application, whatever
		// it dials; the application decides (e.g. <Dial> the number).
		if ep.AppID == "" {
			return sip.StatusNotFound, "Not Found"
		}
		app, err := s.o.DB.Application(ctx, trunkline.Scope{AccountID: ep.AccountID}, ep.AppID)
		if err != nil || !app.Enabled || app.AnswerURL == "" {
			return sip.StatusNotFound, "Not Found"
		}
		ad.app, ad.accountID, ad.to, ad.from = app, ep.AccountID, req.Recipient.User, ep.Username
		ad.trunk = "endpoint:" + ep.Username
		return s.pend(req, ad)
	}
	user := normalizeNumber(req.Recipient.User)
	if user == "" {
		return refuse(fromTrunk, sip.StatusNotFound, "Not Found")
	}
	// A rented number: only from a trunk.
	n, err := s.o.DB.NumberRentedBy(ctx, user)
	switch {
	case err == nil && n.AccountID != "":
		if !fromTrunk {
			return sip.StatusForbidden, "Forbidden"
		}
		if n.AppID == "" {
			return sip.StatusNotFound, "Not Found"
		}
		app, err := s.o.DB.Application(ctx, trunkline.Scope{AccountID: n.AccountID}, n.AppID)
		if err != nil || !app.Enabled || app.AnswerURL == "" {
			return sip.StatusNotFound, "Not Found"
		}
		ad.number, ad.app, ad.accountID, ad.to = n, app, n.AccountID, n.Number
	case err != nil && !errors.Is(err, trunkline.ErrNotFound):
		s.log.Error("number lookup", "err", err)
		return sip.StatusServiceUnavailable, "Service Unavailable"
	default:
		// sip:{app_id}@…: the application itself. Anyone may call it only
		// when its public_uri is true (the whitepaper's HIPAA advice keeps it
		// false); otherwise only our trunks. Everyone else gets the same 403,
		// so the answer says nothing about which applications exist.
		app, err := s.o.DB.ApplicationByID(ctx, user)
		if err != nil || !app.Enabled || app.AnswerURL == "" || (!app.PublicURI && !fromTrunk) {
			return refuse(fromTrunk, sip.StatusNotFound, "Not Found")
		}
		ad.app, ad.accountID, ad.to = app, app.AccountID, user
		if !fromTrunk {
			ad.trunk = "public-uri"
		}
	}
	return s.pend(req, ad)
}

// pend hands an admitted INVITE's admission to the dialog handler.
func (s *Server) pend(req *sip.Request, ad *admission) (int, string) {
	if s.secureAccount(ad.accountID) && (!isTLS(req) || !ad.offer.SRTP || ad.late) {
		// The account requires SIP over TLS with SRTP (secure_voice).
		return sip.StatusNotAcceptableHere, "Not Acceptable Here"
	}
	key := pendingKey(req)
	s.pending.Store(key, ad)
	// Dropped if the dialog layer never hands the INVITE over (a malformed
	// request it refuses): no entry outlives the INVITE transaction.
	time.AfterFunc(64*500*time.Millisecond, func() { s.pending.Delete(key) })
	return 0, ""
}

// pendingKey identifies an INVITE between the middleware and the handler
// (diago hands the handler its own copy of the request).
func pendingKey(req *sip.Request) string {
	k := ""
	if h := req.CallID(); h != nil {
		k = h.Value()
	}
	if f := req.From(); f != nil {
		k += "|" + f.Params.GetOr("tag", "")
	}
	if v := req.Via(); v != nil {
		k += "|" + v.Params.GetOr("branch", "")
	}
	return k
}

// secureAccount says whether the account (or its main account) requires
// SIP over TLS with SRTP for all its calls. Unknown accounts count as
// requiring it: failing closed.
func (s *Server) secureAccount(id string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a, err := s.o.DB.Account(ctx, id)
	if err != nil {
		return true
	}
	if a.SecureVoice || !a.IsSub() {
		return a.SecureVoice
	}
	m, err := s.o.DB.Account(ctx, a.ParentID)
	return err != nil || m.SecureVoice
}

// secureTargets keeps the targets reached over TLS (whose calls offer SRTP).
func secureTargets(ts []Target) []Target {
	var out []Target
	for _, t := range ts {
		if strings.EqualFold(t.URI.UriParams.GetOr("transport", ""), "tls") {
			out = append(out, t)
		}
	}
	return out
}

func isTLS(req *sip.Request) bool {
	t := strings.ToUpper(req.Transport())
	return t == "TLS" || t == "WSS"
}

// refuse answers a trunk with the real reason and anyone else with 403 and
// no detail: a stranger learns nothing about our numbers or applications.
func refuse(fromTrunk bool, code int, reason string) (int, string) {
	if !fromTrunk {
		return sip.StatusForbidden, "Forbidden"
	}
	return code, reason
}

// normalizeNumber keeps the digits of a dialled user part ("+1415…", "1415…").
func normalizeNumber(user string) string {
	user = strings.TrimPrefix(user, "+")
	if user == "" || len(user) > 20 || strings.Trim(user, "0123456789") != "" {
		return ""
	}
	return user
}
