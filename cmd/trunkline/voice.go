package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/audio"
	"github.com/trunkline/trunkline/audio/tts"
	"github.com/trunkline/trunkline/message"
	"github.com/trunkline/trunkline/recording"
	"github.com/trunkline/trunkline/sandbox"
	"github.com/trunkline/trunkline/voice"
	"github.com/trunkline/trunkline/voice/registrar"
	"github.com/trunkline/trunkline/voice/trunk"
)

// voiceSide is the running SIP server and what it needs stopped with it.
type voiceSide struct {
	srv        *voice.Server
	recordings *recording.Files
	sandbox    bool
	phone      *sandbox.Phone // with no trunk: where outbound calls go
	stop       func()
}

// startVoice starts SIP: the trunks (or, with none configured, the sandbox
// trunk: calls from this machine's loopback, and the sandbox phone that
// outbound calls reach), the XML interpreter's engines
// (espeak-ng, the prompt cache, the MP3 encoder) and encrypted recordings.
// apiBase is the API's own address, for recording URLs.
func startVoice(ctx context.Context, p *platform, msgs *message.Service, tlsConfig *tls.Config, apiBase func() string) (*voiceSide, error) {
	c := p.cfg
	set, err := trunk.New(c.Voice.Trunks, c.Voice.Routes, trunk.Options{})
	if err != nil {
		return nil, err
	}
	vs := &voiceSide{sandbox: len(c.Voice.Trunks) == 0}
	if p.throttles != nil {
		// A trunk one node finds dead (probes, calls) is skipped by every node.
		for _, t := range set.Trunks() {
			t.Health.Share(p.throttles, "trunk."+t.Name)
		}
	}
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
		SourceRate: sourceRate(c.Voice.SourceRateLimit), SourcePeriod: c.Voice.SourceRatePeriod.Duration,
		FailoverCodes: c.Voice.FailoverCodes, RTPTimeout: c.Voice.RTPTimeout.Duration, TrunkTimeout: c.Voice.TrunkTimeout.Duration,
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
	opts.Route = func(dst string) []voice.Target {
		var out []voice.Target
		for _, t := range set.Pick(dst) {
			t := t
			out = append(out, voice.Target{Name: t.Name, URI: t.URI(dst), Username: t.Username, Password: t.Password,
				Report: func(ok, timeout bool) {
					if ok {
						t.Health.Success()
					} else {
						t.Health.Failure(timeout, "outbound call")
					}
				}})
		}
		return out
	}
	if c.Voice.TLSListen != "" {
		// SIP over TLS uses the API's certificate (the operator's, or the
		// self-signed one under data_dir/tls).
		if tlsConfig == nil {
			return nil, fmt.Errorf("voice.tls_listen needs a TLS certificate: set api.listen or api.tls_cert")
		}
		opts.TLSListen, opts.TLSConfig = c.Voice.TLSListen, tlsConfig
	}
	reg := registrar.New(registrar.Options{Throttles: p.throttles, Store: p.db, Ring: p.ring, Realm: c.SIP.Domain, Audit: p.audit, Logger: p.log})
	// A nonce used on one node cannot be replayed on another: its issuer decides.
	if err := reg.ShareNonces(p.bus); err != nil {
		return nil, fmt.Errorf("registrar: %w", err)
	}
	opts.Registrar = reg
	opts.Locate = func(uri string) (voice.Target, bool) {
		var u sip.Uri
		if err := sip.ParseUri(uri, &u); err != nil || u.User == "" {
			return voice.Target{}, false
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		b, ok := reg.Binding(ctx, u.User)
		if !ok {
			return voice.Target{}, false
		}
		return voice.Target{Name: "endpoint:" + b.Username, URI: b.RequestURI(), Destination: b.Source}, true
	}
	if vs.sandbox {
		// No trunk: outbound calls ring the sandbox phone on loopback, which
		// answers, listens and keeps a record, so phone verification works on
		// a fresh install without a phone network.
		phone := sandbox.NewPhone(sandbox.PhoneOptions{Logger: p.log, Notify: p.sandboxEvents})
		if err := phone.Start(ctx); err != nil {
			return nil, err
		}
		vs.phone = phone
		host, port, _ := net.SplitHostPort(phone.Addr().String())
		portNum, _ := strconv.Atoi(port)
		opts.Route = func(dst string) []voice.Target {
			return []voice.Target{{Name: sandbox.Name, URI: sip.Uri{Scheme: "sip", User: dst, Host: host, Port: portNum}}}
		}
		opts.Spoken = func(trunk, _, to, text string) {
			if trunk == sandbox.Name {
				phone.Spoken(to, text)
			}
		}
	}
	release := func() {
		reg.Close() // stop answering for its nonces
		if vs.phone != nil {
			vs.phone.Close()
		}
	}
	srv, err := voice.New(opts)
	if err != nil {
		release()
		return nil, err
	}
	if err := srv.Start(ctx); err != nil {
		release()
		return nil, err
	}
	vs.srv = srv
	probeCtx, stopProbes := context.WithCancel(context.Background())
	if !vs.sandbox {
		ua, err := sipgo.NewUA(sipgo.WithUserAgent("Trunkline"))
		if err == nil {
			// Probes leave from the SIP listener's address, not a socket on every
			// interface that the firewall manifest would not name.
			var copts []sipgo.ClientOption
			if a := srv.Addr().Addr(); !a.IsUnspecified() {
				copts = append(copts, sipgo.WithClientHostname(a.String()), sipgo.WithClientConnectionAddr(netip.AddrPortFrom(a, 0).String()))
			}
			if cl, err := sipgo.NewClient(ua, copts...); err == nil {
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
			release() // after the SIP server: its calls' BYEs reach the phone
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
	acc, err := m.s.Queue(ctx, trunkline.SendRequest{AccountID: acct, Src: src, Dsts: []string{dst}, Text: text,
		LogMode: trunkline.LogAll, URL: url, Method: method})
	if err == nil && acc.Refused != "" {
		// Stored as failed (error 40); the call's log says why.
		return errors.New(acc.Refused)
	}
	return err
}

// sourceRate maps voice.source_rate_limit to voice.Options.SourceRate: 0 (off) in the
// file is negative there, where 0 means the default.
func sourceRate(n int) int {
	if n == 0 {
		return -1
	}
	return n
}
