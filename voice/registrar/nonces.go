package registrar

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/trunkline/trunkline"
)

// NonceBus is what sharing nonce uses needs of the message bus (trunkline.Bus has it).
type NonceBus interface {
	Subscribe(subject string, h trunkline.Handler) (trunkline.Subscription, error)
	Request(ctx context.Context, subject string, data []byte) ([]byte, error)
}

// nonceSubject is where the registrar that issued nonces with id answers for their uses.
func nonceSubject(id [nonceIssuer]byte) string { return "sip.nonce." + hex.EncodeToString(id[:]) }

// nonceAskTimeout bounds the wait for another node's answer; a node that does not
// answer in time is treated as gone (stale=true: the client takes a new nonce).
const nonceAskTimeout = time.Second

// ShareNonces makes nonce replay protection cluster-wide: the registrar answers the
// other nodes' questions about the nonces it issued, and asks the issuer of a nonce
// it did not issue. The bus rather than the database: one node (the issuer) decides
// each nonce's uses, in memory and in order, so the check is exact without a row
// written per authenticated request, and a node that restarts issues nonces under a
// new name (its old ones go stale, which costs a phone one more challenge). Call it
// once, before the SIP server starts; Close stops answering.
func (r *Registrar) ShareNonces(b NonceBus) error {
	sub, err := b.Subscribe(nonceSubject(r.issuer), r.serveNonce)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.nonceBus, r.nonceSub = b, sub
	r.mu.Unlock()
	return nil
}

// Close stops answering other nodes about this registrar's nonces.
func (r *Registrar) Close() error {
	r.mu.Lock()
	sub := r.nonceSub
	r.nonceSub, r.nonceBus = nil, nil
	r.mu.Unlock()
	if sub != nil {
		return sub.Unsubscribe()
	}
	return nil
}

// nonceUseRequest asks the issuer whether a verified response's nonce-count is new.
type nonceUseRequest struct {
	Nonce string `json:"nonce"`
	NC    uint64 `json:"nc"`
}

// askIssuer is firstUse for a nonce another registrar issued.
func (r *Registrar) askIssuer(id [nonceIssuer]byte, nonce string, nc uint64) bool {
	r.mu.Lock()
	b := r.nonceBus
	r.mu.Unlock()
	if b == nil {
		return false // not ours and nobody to ask: an old run's nonce, stale
	}
	data, _ := json.Marshal(nonceUseRequest{Nonce: nonce, NC: nc})
	ctx, cancel := context.WithTimeout(context.Background(), nonceAskTimeout)
	defer cancel()
	out, err := b.Request(ctx, nonceSubject(id), data)
	if err != nil {
		r.log.Debug("nonce issuer did not answer: asking for a new nonce", "err", err)
		return false
	}
	return string(out) == "new"
}

// serveNonce answers another node about a nonce this registrar issued. The nonce is
// checked again (MAC and lifetime): the answer is about this registrar's own nonces only.
func (r *Registrar) serveNonce(m trunkline.Msg) {
	if m.Reply == nil {
		return
	}
	var q nonceUseRequest
	answer := "used"
	if json.Unmarshal(m.Data, &q) == nil && nonceIssuerOf(q.Nonce) == r.issuer {
		if issued, ok, _ := r.checkNonce(q.Nonce, r.o.Now()); ok && r.useLocal(q.Nonce, q.NC, issued) {
			answer = "new"
		}
	}
	m.Reply([]byte(answer))
}
