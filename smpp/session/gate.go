package session

import "context"

type gateKey struct{}

// WithGate returns a context under which Submit asks gate, right before it writes
// each submit_sm, whether the message may still go out; a non-nil answer fails
// Submit with that error, the message not sent. Whatever waited before the wire (a
// window slot, the TPS limit, a throttled SMSC) is checked again at the last moment:
// a node that was frozen or cut off meanwhile and whose work went to another node
// (cluster fencing) does not send a second copy of what the other node sends.
func WithGate(ctx context.Context, gate func() error) context.Context {
	return context.WithValue(ctx, gateKey{}, gate)
}

// gateOf asks ctx's gate, if any.
func gateOf(ctx context.Context) error {
	if g, ok := ctx.Value(gateKey{}).(func() error); ok && g != nil {
		return g()
	}
	return nil
}
