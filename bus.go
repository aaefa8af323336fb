package trunkline

import "context"

// Msg is one message on the bus.
type Msg struct {
	Subject string
	Data    []byte
	// Reply answers a request; nil for plain publications.
	Reply func(data []byte) error
}

// Handler receives messages. It must not block for long: the local bus calls handlers on
// a goroutine per subscription, in order.
type Handler func(Msg)

// Bus is the messaging seam between parts of one node and, in a cluster, between nodes:
// wake-ups, cache invalidations and requests to the node that holds something live. It
// carries no records (the database is the source of truth). Package bus implements it
// in process.
type Bus interface {
	// Publish sends data to every subscriber of subject; it does not wait for them.
	Publish(subject string, data []byte) error
	// Subscribe calls h for each message on subject ("a.b.*" matches one token, "a.>" the rest).
	Subscribe(subject string, h Handler) (Subscription, error)
	// Request sends data to one subscriber and waits for its reply or ctx's end.
	Request(ctx context.Context, subject string, data []byte) ([]byte, error)
	Close() error
}

// Subscription can be cancelled.
type Subscription interface{ Unsubscribe() error }
