package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/console"
	"github.com/trunkline/trunkline/identity"
	"github.com/trunkline/trunkline/message"
	"github.com/trunkline/trunkline/sandbox"
)

// systemAccountSetting names the platform setting holding the account that sends
// verification codes (its messages and calls are logged like any account's, with the
// code redacted).
const systemAccountSetting = "system_account"

// systemAccount returns the platform's own account, creating it on first use.
func systemAccount(ctx context.Context, p *platform) (string, error) {
	id, err := p.db.Setting(ctx, systemAccountSetting)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, trunkline.ErrNotFound) {
		return "", err
	}
	created, err := p.accounts.CreateMain(ctx, "Trunkline platform (verification codes)")
	if err != nil {
		return "", err
	}
	// Its token is never shown: nobody uses this account through the API.
	if err := p.db.SetSetting(ctx, systemAccountSetting, created.Account.ID); err != nil {
		return "", err
	}
	return created.Account.ID, nil
}

// codeSender sends verification codes through the platform's own messaging and voice.
type codeSender struct {
	account           string
	msgs              *message.Service
	voice             trunkline.CallService
	smsFrom, callFrom string
}

func (c codeSender) SendCode(ctx context.Context, channel, phone, code string) error {
	switch channel {
	case "sms":
		if c.msgs == nil {
			return errors.New("messaging is not running")
		}
		// log=false: the stored copy is redacted, so the code never sits in the
		// message log; the carrier gets it from the encrypted payload.
		_, err := c.msgs.Queue(ctx, trunkline.SendRequest{AccountID: c.account, Src: c.smsFrom, Dsts: []string{phone},
			Text:    fmt.Sprintf("Your Trunkline verification code is %s. It expires in 10 minutes. Do not share it.", code),
			LogMode: trunkline.LogNone, Platform: true})
		return err
	case "voice":
		if c.voice == nil {
			return errors.New("voice is not running")
		}
		spaced := strings.Join(strings.Split(code, ""), ", ")
		// The XML runs in process: it is never fetched from or posted to a URL, and
		// the call's record does not keep it.
		doc := `<Response><Wait length="1"/><Speak>Your Trunkline verification code is ` +
			spaced + `.</Speak><Wait length="1"/><Speak>Again, your code is ` + spaced + `.</Speak></Response>`
		return c.voice.Place(ctx, trunkline.PlaceCall{AccountID: c.account, From: c.callFrom, To: phone, Document: doc,
			RingTimeout: 45 * time.Second, TimeLimit: 2 * time.Minute, Platform: true})
	}
	return fmt.Errorf("unknown channel %q", channel)
}

// sandboxView shows the sandbox carrier's messages and calls in the console.
type sandboxView struct {
	smsc   *sandbox.SMSC
	phone  *sandbox.Phone
	events *sandbox.Notifier
}

func (v sandboxView) Changed() <-chan struct{} { return v.events.Changed() }

func (v sandboxView) Messages() []sandbox.Message {
	if v.smsc == nil {
		return nil
	}
	return v.smsc.Recent()
}

func (v sandboxView) Calls() []sandbox.PhoneCall {
	if v.phone == nil {
		return nil
	}
	return v.phone.Recent()
}

// newIdentity builds the identity service from the configuration: console signup and
// logins, and the phone verifications behind both the console and the API's
// VerifiedCallerId. The server and the operator CLI (invitations) share it.
func newIdentity(p *platform, sender identity.CodeSender) *identity.Service {
	k := p.cfg.Console
	return identity.New(identity.Options{Throttles: p.throttles, Store: p.db, Sweeper: p.db, Ring: p.ring, Accounts: p.accounts, Sender: sender, Audit: p.audit,
		Logger: p.log, Metrics: p.metrics, IdleTimeout: k.IdleTimeout.Duration, SessionLifetime: k.SessionLifetime.Duration,
		Signup: p.cfg.SignupMode(), VerifyPrefixes: k.VerifyPrefixes(),
		Budgets: identity.Budgets{PerHour: k.SendsPerHour, PerDay: k.SendsPerDay, PerPrefixHour: k.SendsPerPrefixHour,
			PrefixDigits: k.PrefixDigits, PerNetworkHour: k.SendsPerNetworkHour}})
}

// serverIdentity is the server's identity service: its codes go out from the platform's
// own account, by SMS or voice call.
func serverIdentity(ctx context.Context, p *platform, msg *messaging, vs *voiceSide) (*identity.Service, error) {
	c := p.cfg
	acct, err := systemAccount(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("identity: system account: %w", err)
	}
	sender := codeSender{account: acct, msgs: msg.svc, voice: vs.srv, smsFrom: c.Console.SMSFrom, callFrom: c.Console.CallFrom}
	return newIdentity(p, sender), nil
}

// startConsole builds the console handler (nil when the console is disabled). The
// returned worker sweeps ended sessions and verifications until its context ends.
// publicURL gives the base of the links the console hands out (known once the API
// listens).
func startConsole(p *platform, id *identity.Service, msg *messaging, vs *voiceSide, publicURL func() string) (http.Handler, func(context.Context) error, error) {
	c := p.cfg
	sweep := id.Run
	if c.Console.Disabled {
		return nil, sweep, nil
	}
	hosts := append([]string{"localhost"}, c.API.Hostnames...)
	if h := c.PublicHost(); h != "" {
		hosts = append(hosts, h)
	}
	opts := console.Options{Identity: id, DB: p.db, Accounts: p.accounts, Audit: p.audit, Logger: p.log,
		MaxOverlap: c.Auth.MaxOverlap.Duration, PublicURL: publicURL,
		WebAuthn: console.NewWebAuthn(hosts, p.ring, p.db), Staff: newStaff(p)}
	if vs.recordings != nil {
		files := vs.recordings
		opts.Recordings = func(ctx context.Context, r *trunkline.Recording, format string) (io.ReadCloser, string, error) {
			body, err := files.Open(ctx, r.AccountID, r.ID)
			if err != nil {
				return nil, "", err
			}
			if r.Format == "mp3" {
				return body, "audio/mpeg", nil
			}
			return body, "audio/wav", nil
		}
	}
	if msg.sandbox != nil || vs.phone != nil {
		opts.Sandbox = sandboxView{smsc: msg.sandbox, phone: vs.phone, events: p.sandboxEvents}
	}
	h, err := console.New(opts)
	if err != nil {
		return nil, nil, err
	}
	return h, sweep, nil
}
