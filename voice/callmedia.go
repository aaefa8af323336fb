package voice

import (
	"fmt"
	"time"

	"github.com/emiago/diago"
	dmedia "github.com/emiago/diago/media"

	"github.com/trunkline/trunkline/media"
)

// The glue between diago's negotiated media session and the media engine: the
// codecs a call answers with, and the Channel that carries its audio.

// callMedia is a call's audio: diago's session and the media engine's channel on it.
type callMedia struct {
	med   *diago.DialogMedia
	ch    *media.Channel
	early bool // up as early media (183), not yet answered
}

func (c *Call) codecs() []dmedia.Codec {
	audioCodec := dmedia.CodecAudioUlaw
	if c.ad.offer.Codec == "PCMA" {
		audioCodec = dmedia.CodecAudioAlaw
	}
	cs := []dmedia.Codec{audioCodec}
	if c.ad.offer.PayloadTEL >= 0 {
		te := dmedia.CodecTelephoneEvent8000
		te.PayloadType = uint8(c.ad.offer.PayloadTEL)
		cs = append(cs, te)
	}
	return cs
}

func (c *Call) startMedia(med *diago.DialogMedia) {
	codec := c.ad.offer.Codec
	pt := -1
	if ms := med.MediaSession(); ms != nil {
		ac := dmedia.CodecAudioFromSession(ms)
		if ac.PayloadType == 8 {
			codec = "PCMA"
		} else {
			codec = "PCMU"
		}
		for _, cd := range ms.CommonCodecs() {
			if cd.Matches(dmedia.CodecTelephoneEvent8000) {
				pt = int(cd.PayloadTypeRecv())
			}
		}
	}
	resume := func() {
		if ms := med.MediaSession(); ms != nil {
			ms.StartRTP(1)
		}
	}
	ch := media.NewChannel(med.RTPSession(), codec, pt, resume)
	resume()
	c.mu.Lock()
	c.m.med, c.m.ch = med, ch
	c.mu.Unlock()
	ch.Start()
	c.s.pacer.Add(ch)
	if t := c.s.o.RTPTimeout; t > 0 {
		// A peer that stops sending RTP (a trunk that died or reset, a NAT
		// pinhole gone) would otherwise hold the call forever.
		go func() {
			tk := time.NewTicker(min(t/4, time.Second))
			defer tk.Stop()
			for {
				select {
				case <-ch.Done():
					return
				case <-c.ctx.Done():
					return
				case now := <-tk.C:
					if ch.Silent(now) >= t {
						c.hangup(CauseMediaTimeout, fmt.Sprintf("no RTP from the other side for %v", t))
						return
					}
				}
			}
		}()
	}
}
