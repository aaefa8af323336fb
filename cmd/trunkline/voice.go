package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/netip"
	"path/filepath"
	"sync"

	"github.com/emiago/sipgo"

	"github.com/trunkline/trunkline/audio"
	"github.com/trunkline/trunkline/audio/tts"
	"github.com/trunkline/trunkline/message"
	"github.com/trunkline/trunkline/recording"
	"github.com/trunkline/trunkline/voice"
	"github.com/trunkline/trunkline/voice/trunk"
)

// voiceSide is the running SIP server and what it needs stopped with it.
type voiceSide struct {
	srv        *voice.Server
	recordings *recording.Files
	sandbox    bool
	stop       func()
}

// startVoice starts SIP: the trunks (or, with none configured, the sandbox
// trunk: calls from this machine's loopback), the XML interpreter's engines
// (espeak-ng, the prompt cache, the MP3 encoder) and encrypted recordings.
// apiBase is the API's own address, for recording URLs.
func startVoice(ctx context.Context, p *platform, msgs *message.Service, tlsConfig *tls.Config, apiBase func() string) (*voiceSide, error) {
	c := p.cfg
	set, err := trunk.New(c.Voice.Trunks, c.Voice.Routes, trunk.Options{})
	if err != nil {
		return nil, err
	}
	vs := &voiceSide{sandbox: len(c.Voice.Trunks) == 0}
	acl := func(a netip.Addr) (string, bool) {
		if t := set.Match(a); t != nil {
			return t.Name, true
		}
		return "", false
	}
	if vs.sandbox {
		// The sandbox trunk: only this machine may call in (trunkline call, SIPp).
		acl = func(a netip.Addr) (string, bool) { return "sandbox", a.IsLoopback() }
	}
	recs, err := recording.New(filepath.Join(c.DataDir, "recordings"), p.ring, p.db)
	if err != nil {
		return nil, err
	}
	vs.recordings = recs
	speech, err := tts.NewCache(tts.NewEspeak(tts.EspeakOptions{}), tts.CacheOptions{})
	if err != nil {
		return nil, err
	}
	var mp3 audio.Encoder
	if enc, err := audio.NewMP3Encoder(); err == nil {
		mp3 = enc
	} else {
		p.log.Warn("no MP3 encoder (install lame): recordings asked for as mp3 are stored as wav")
	}
	opts := voice.Options{
		Listen: c.Voice.Listen, ExternalHost: c.Voice.ExternalHost,
		RTPPortMin: c.Voice.RTPPortMin, RTPPortMax: c.Voice.RTPPortMax, MaxCalls: c.Voice.MaxCalls,
		ACL: acl, DB: p.db, Tokens: p.accounts, Webhooks: p.webhooks,
		Audio: audio.NewCache(p.webhooks, audio.CacheOptions{}), TTS: speech,
		Recordings: recordingSink{recs}, MP3: mp3, Audit: p.audit, Logger: p.log,
		RecordingURL: func(acct, id, format string) string {
			return fmt.Sprintf("%s/v1/Account/%s/Recording/%s.%s", apiBase(), acct, id, format)
		},
	}
	if msgs != nil {
		opts.Messages = smsSender{msgs}
	}
	if c.Voice.TLSListen != "" {
		// SIP over TLS uses the API's certificate (the operator's, or the
		// self-signed one under data_dir/tls).
		if tlsConfig == nil {
			return nil, fmt.Errorf("voice.tls_listen needs a TLS certificate: set api.listen or api.tls_cert")
		}
		opts.TLSListen, opts.TLSConfig = c.Voice.TLSListen, tlsConfig
	}
	srv, err := voice.New(opts)
	if err != nil {
		return nil, err
	}
	if err := srv.Start(ctx); err != nil {
		return nil, err
	}
	vs.srv = srv
	probeCtx, stopProbes := context.WithCancel(context.Background())
	if !vs.sandbox {
		ua, err := sipgo.NewUA(sipgo.WithUserAgent("Trunkline"))
		if err == nil {
			if cl, err := sipgo.NewClient(ua); err == nil {
				pr := trunk.NewProber(set, cl, trunk.ProberOptions{Logger: p.log})
				go pr.Run(probeCtx)
			}
		}
	}
	var once sync.Once
	vs.stop = func() {
		once.Do(func() {
			stopProbes()
			sctx, cancel := context.WithTimeout(context.Background(), c.API.DrainTime.Duration)
			defer cancel()
			srv.Shutdown(sctx)
		})
	}
	return vs, nil
}

// recordingSink adapts recording.Files to what the voice server writes to.
type recordingSink struct{ f *recording.Files }

func (r recordingSink) Create(ctx context.Context, acct, id string) (voice.RecordingWriter, error) {
	return r.f.Create(ctx, acct, id)
}

// smsSender sends a <Message> element's SMS through the message service.
type smsSender struct{ s *message.Service }

func (m smsSender) SendSMS(ctx context.Context, acct, src, dst, text, url, method string) error {
	_, err := m.s.Send(ctx, message.Request{AccountID: acct, Src: src, Dsts: []string{dst}, Text: text,
		LogMode: message.LogAll, URL: url, Method: method})
	return err
}
