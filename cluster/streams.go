package cluster

import (
	"context"
	"errors"

	"github.com/trunkline/trunkline"
)

// The Call Stream API in a cluster: a stream lives on the node holding the call's
// media, so a request arriving elsewhere goes to that node, as other live-call
// requests do. Without this the API, given Calls rather than the voice server, would
// see no StreamService at all and answer 404 for every call.

var _ trunkline.StreamService = (*Calls)(nil)

func (c *Calls) localStreams() trunkline.StreamService {
	ss, _ := c.local.(trunkline.StreamService)
	return ss
}

// serveStream answers another node's stream request about a call held here; false for
// an op that is not a stream request.
func (c *Calls) serveStream(req callRequest, rep *callReply) bool {
	ss := c.localStreams()
	var err error
	switch req.Op {
	case "stream_start":
		if req.Stream == nil || ss == nil {
			err = &trunkline.Error{Code: trunkline.EINVALID, Message: "no stream to start"}
			break
		}
		ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
		var info trunkline.StreamInfo
		info, err = ss.StartStream(ctx, req.UUID, *req.Stream)
		cancel()
		rep.Streams = []trunkline.StreamInfo{info}
	case "stream_list", "stream_get":
		if ss == nil {
			err = trunkline.ErrNoLiveCall
			break
		}
		if req.Op == "stream_list" {
			rep.Streams, err = ss.Streams(req.UUID)
		} else {
			var info trunkline.StreamInfo
			info, err = ss.Stream(req.UUID, req.StreamID)
			rep.Streams = []trunkline.StreamInfo{info}
		}
	case "stream_stop":
		if ss == nil {
			err = trunkline.ErrNoLiveCall
			break
		}
		err = ss.StopStream(req.UUID, req.StreamID)
	default:
		return false
	}
	if err != nil {
		rep.Streams = nil
		rep.Error = &trunkline.Error{Code: trunkline.ErrorCode(err), Message: trunkline.ErrorMessage(err)}
	} else {
		rep.OK = true
	}
	return true
}

// streamHere runs f on this node's streams; it reports whether the call is here (any
// answer but ErrNoLiveCall).
func (c *Calls) streamHere(f func(trunkline.StreamService) error) (bool, error) {
	ss := c.localStreams()
	if ss == nil {
		return false, nil
	}
	err := f(ss)
	return !errors.Is(err, trunkline.ErrNoLiveCall), err
}

// one is the single stream a start or get answered with.
func one(rep callReply) trunkline.StreamInfo {
	if len(rep.Streams) == 0 {
		return trunkline.StreamInfo{}
	}
	return rep.Streams[0]
}

// StartStream opens a stream on a live call here or on the node holding it.
func (c *Calls) StartStream(ctx context.Context, uuid string, s trunkline.StreamStart) (trunkline.StreamInfo, error) {
	var info trunkline.StreamInfo
	if here, err := c.streamHere(func(ss trunkline.StreamService) (err error) {
		info, err = ss.StartStream(ctx, uuid, s)
		return err
	}); here {
		return info, err
	}
	rep, err := c.onHolder(ctx, callRequest{Op: "stream_start", UUID: uuid, Stream: &s})
	return one(rep), err
}

// Streams lists a live call's streams, here or on the node holding it.
func (c *Calls) Streams(uuid string) ([]trunkline.StreamInfo, error) {
	var list []trunkline.StreamInfo
	if here, err := c.streamHere(func(ss trunkline.StreamService) (err error) {
		list, err = ss.Streams(uuid)
		return err
	}); here {
		return list, err
	}
	rep, err := c.onHolder(context.Background(), callRequest{Op: "stream_list", UUID: uuid})
	if err == nil && rep.Streams == nil {
		rep.Streams = []trunkline.StreamInfo{}
	}
	return rep.Streams, err
}

// Stream gets one stream of a live call, here or on the node holding it.
func (c *Calls) Stream(uuid, id string) (trunkline.StreamInfo, error) {
	var info trunkline.StreamInfo
	if here, err := c.streamHere(func(ss trunkline.StreamService) (err error) {
		info, err = ss.Stream(uuid, id)
		return err
	}); here {
		return info, err
	}
	rep, err := c.onHolder(context.Background(), callRequest{Op: "stream_get", UUID: uuid, StreamID: id})
	return one(rep), err
}

// StopStream stops one stream (or all, id "") of a live call, here or on its node.
func (c *Calls) StopStream(uuid, id string) error {
	if here, err := c.streamHere(func(ss trunkline.StreamService) error { return ss.StopStream(uuid, id) }); here {
		return err
	}
	_, err := c.onHolder(context.Background(), callRequest{Op: "stream_stop", UUID: uuid, StreamID: id})
	return err
}
