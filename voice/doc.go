// Package voice is Trunkline's SIP side: it takes calls from trunks, registered phones
// and public application URIs, places outbound calls, and runs the applications'
// Plivo XML on them. It implements trunkline.CallService (place, list, hang up,
// cancel and control live calls) for the node it runs on.
//
// Inside, in layers:
//
//   - Signalling and admission (server.go, admission.go, info.go): the sipgo/diago
//     server and its lifecycle; the middleware every request passes — the
//     per-source limit, the trunk ACL or the registrar's digest authentication
//     (package voice/registrar), capacity, the SDP offer (media.CheckOffer) and
//     the number or application called; SIP INFO key presses.
//   - Calls (call.go, callmedia.go, outbound.go, dial.go, control.go, causes.go):
//     Call owns one call's state, ringing → in-progress → completed, and ends it
//     once with a Plivo cause (CDR, hangup_url, audit); outbound.go places calls
//     over the trunks (package voice/trunk picks them) with failover; control.go
//     is the Call API's live-call commands. callmedia.go opens the call's
//     media.Channel on diago's negotiated RTP session: everything that carries
//     audio (channels, the pacer, bridges' FIFOs, mixing) is package media.
//   - The XML interpreter (interp.go and one file per element): interp.go fetches
//     documents and runs their elements through one table, type → handler. Each
//     element's file (speak.go, play.go, wait.go, getdigits.go, getinput.go,
//     record.go, dial.go, redirect.go, hangup.go, message.go, preanswer.go,
//     dtmf.go) registers its handler in an init func: a new element is a new file.
//
// Storage is reached through Store (satisfied by *store.DB), never package store.
package voice
