package registrar

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/diago"
	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/trunkline/trunkline/account"
	"github.com/trunkline/trunkline/api"
	"github.com/trunkline/trunkline/audit"
	"github.com/trunkline/trunkline/internal/peer"
	"github.com/trunkline/trunkline/keys"
	"github.com/trunkline/trunkline/store/storetest"
)

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// sippRegister runs uac_register.xml (refused=false) or uac_register_refused.xml from
// localIP, one call, and returns the result and the status of the last response SIPp got.
func sippRegister(t *testing.T, server *net.UDPAddr, localIP, user, password string, refused bool) (*peer.SIPpResult, int) {
	t.Helper()
	peer.SIPp(t)
	o := peer.SIPpOptions{Remote: server.String(), LocalIP: localIP, Calls: 1, Timeout: 20 * time.Second,
		RecvTimeout: 5 * time.Second, TraceMessages: true, Keys: map[string]string{"user": user},
		Args: []string{"-au", user, "-ap", password}}
	if refused {
		o.Scenario = peer.SIPpScenario(t, "uac_register_refused.xml")
	} else {
		o.Scenario = peer.SIPpScenario(t, "uac_register.xml")
		o.Keys["expires"] = "120"
	}
	res, err := peer.RunSIPp(ctxFor(t, 30*time.Second), t, o)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := os.ReadFile(res.MessageFile)
	if err != nil {
		t.Fatal(err)
	}
	last := 0
	for _, m := range regexp.MustCompile(`(?m)^SIP/2\.0 (\d{3}) `).FindAllStringSubmatch(string(msgs), -1) {
		last, _ = strconv.Atoi(m[1])
	}
	if res.ExitCode != 0 || res.Successful != 1 {
		t.Fatalf("SIPp: %s\n%s", res, msgs)
	}
	if m := regexp.MustCompile(`(?m)^Authorization: (Digest .*)$`).FindSubmatch(msgs); m == nil {
		if !refused {
			t.Fatalf("SIPp sent no credentials:\n%s", msgs)
		}
	} else {
		t.Logf("SIPp's credentials: %s", m[1])
	}
	return res, last
}

// TestSIPpRegister: SIPp registers with its own digest implementation; a wrong password
// and an unknown user are refused with 401; after too many failures the right password
// is refused with 403 from the failing address, while the same user from another address
// registers, and so does another user.
func TestSIPpRegister(t *testing.T) {
	o := Options{FailsPerUser: 3, FailsPerSource: 10, FailWindow: time.Minute, MaxLockout: 10 * time.Minute}
	forEachStore(t, o, func(t *testing.T, e *env) {
		alice := e.mkEndpoint("alice", "alice-Pass-1")
		bob := e.mkEndpoint("bob", "bob-Pass-2")
		now := e.clock.Now()

		res, _ := sippRegister(t, e.addr, "127.0.0.1", alice, "alice-Pass-1", false)
		ep := e.endpoint(alice)
		wantContact := "sip:" + alice + "@127.0.0.1:" + strconv.Itoa(res.SIPPort)
		if ep.SIPContact != wantContact || ep.SIPUserAgent != "SIPp (trunkline test/sipp/uac_register.xml)" ||
			!ep.SIPExpiresAt.Equal(now.Add(120*time.Second).Truncate(time.Microsecond)) {
			t.Fatalf("stored registration %+v, want contact %s", ep, wantContact)
		}
		if c, ok := e.reg.Lookup(alice); !ok || c.String() != wantContact {
			t.Fatalf("Lookup: %v %v", c, ok)
		}

		if _, st := sippRegister(t, e.addr, "127.0.0.1", alice, "wrong-pass", true); st != 401 {
			t.Fatalf("wrong password: last answer %d, want 401", st)
		}
		if _, st := sippRegister(t, e.addr, "127.0.0.1", "ghost000000000000", "alice-Pass-1", true); st != 401 {
			t.Fatalf("unknown user: last answer %d, want 401", st)
		}
		// Two more wrong passwords make three for alice: locked.
		for range 2 {
			if _, st := sippRegister(t, e.addr, "127.0.0.1", alice, "wrong-pass", true); st != 401 {
				t.Fatalf("wrong password: last answer %d, want 401", st)
			}
		}
		if _, st := sippRegister(t, e.addr, "127.0.0.1", alice, "alice-Pass-1", true); st != 403 {
			t.Fatalf("locked out with the right password: last answer %d, want 403", st)
		}
		// Alice's phone at another address registers her with the right password, and
		// bob is not affected either.
		sippRegister(t, e.addr, "127.0.0.3", alice, "alice-Pass-1", false)
		if c, ok := e.reg.Lookup(alice); !ok || !strings.Contains(c.String(), "@127.0.0.3:") {
			t.Fatalf("alice's registration from another address: %v %v", c, ok)
		}
		sippRegister(t, e.addr, "127.0.0.2", bob, "bob-Pass-2", false)
		if !e.endpoint(bob).Registered(now) {
			t.Fatal("bob not registered")
		}
		// Later, alice registers again.
		e.clock.Add(2 * time.Minute)
		sippRegister(t, e.addr, "127.0.0.1", alice, "alice-Pass-1", false)
	})
}

// TestDiagoRegister: diago (sipgo's client digest, github.com/icholy/digest) registers,
// is found by Lookup, and unregisters when its context ends; a wrong password fails.
func TestDiagoRegister(t *testing.T) {
	forEachStore(t, Options{}, func(t *testing.T, e *env) {
		user := e.mkEndpoint("phone", "phone-Pass-9")
		ua, err := sipgo.NewUA(sipgo.WithUserAgent("diago-phone"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ua.Close() })
		dg := diago.NewDiago(ua, diago.WithTransport(diago.Transport{Transport: "udp", BindHost: "127.0.0.1", BindPort: 0}))
		target := sip.Uri{Scheme: "sip", User: user, Host: "127.0.0.1", Port: e.addr.Port}

		// Wrong password: diago gives up on the second 401.
		err = dg.Register(ctxFor(t, 10*time.Second), target, diago.RegisterOptions{Username: user, Password: "nope-nope", Expiry: 300 * time.Second})
		var rr *diago.RegisterResponseError
		if !errors.As(err, &rr) || rr.RegisterRes.StatusCode != 401 {
			t.Fatalf("wrong password: %v", err)
		}

		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		registered, done := make(chan struct{}), make(chan error, 1)
		go func() {
			done <- dg.Register(ctx, target, diago.RegisterOptions{Username: user, Password: "phone-Pass-9", Expiry: 300 * time.Second,
				OnRegistered: func() { close(registered) }})
		}()
		select {
		case <-registered:
		case err := <-done:
			t.Fatalf("register: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatal("not registered within 10 s")
		}
		ep := e.endpoint(user)
		if !ep.Registered(e.clock.Now()) || !strings.HasPrefix(ep.SIPContact, "sip:") || !strings.Contains(ep.SIPContact, "@127.0.0.1:") {
			t.Fatalf("stored %+v", ep)
		}
		b, ok := e.reg.Binding(context.Background(), user)
		if !ok || b.Contact.String() != ep.SIPContact || !strings.HasPrefix(b.Source, "127.0.0.1:") || b.Transport != "UDP" {
			t.Fatalf("binding %+v %v", b, ok)
		}
		if got := int(ep.SIPExpiresAt.Sub(e.clock.Now()).Round(time.Second).Seconds()); got != 300 {
			t.Fatalf("expires in %d s, want 300", got)
		}

		// Ending the context makes diago unregister (Contact: *, Expires: 0) before it returns.
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Fatal("diago did not return")
		}
		if ep := e.endpoint(user); ep.SIPContact != "" || ep.Registered(e.clock.Now()) {
			t.Fatalf("after unregister: %+v", ep)
		}
		if _, ok := e.reg.Lookup(user); ok {
			t.Fatal("Lookup after unregister")
		}
	})
}

// TestAPIEndpointRegisters: an endpoint made through the REST API registers with SIPp
// against a registrar given the same SIP domain, and GET Endpoint shows it; the audit log
// records the registration and a failed attempt on the account.
func TestAPIEndpointRegisters(t *testing.T) {
	peer.SIPp(t)
	const domain = "phones.trunkline.test" // the one setting both sides take
	for _, db := range storetest.Open(t) {
		t.Run(string(db.Dialect()), func(t *testing.T) {
			ctx := context.Background()
			ring, _ := keys.NewRing(bytes.Repeat([]byte{4}, 32))
			signer, verifier, err := audit.LoadOrCreateKeys(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			al := audit.New(db, signer, audit.Options{Verifier: verifier})
			t.Cleanup(func() { al.Close() })
			accounts := account.New(db, ring, account.Options{})
			quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
			srv := api.New(api.Options{DB: db, Accounts: accounts, Audit: al, SIPDomain: domain, Logger: quiet,
				PlainListen: "127.0.0.1:0"})
			if err := srv.Start(t.Context()); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { srv.Close() })
			// The registrar audits an outcome once its answer has been sent: the test waits
			// for each entry on this signal, not on the order of SIPp's exit and the append.
			audited := &signalingAudit{Log: al, actions: make(chan string, 16)}
			reg := New(Options{Store: db, Ring: ring, Realm: domain, Audit: audited, Logger: quiet})
			addr := serveSIP(t, reg)

			acct, err := accounts.CreateMain(ctx, "e2e")
			if err != nil {
				t.Fatal(err)
			}
			call := func(method, path string, body any) map[string]any {
				t.Helper()
				var rd io.Reader
				if body != nil {
					b, _ := json.Marshal(body)
					rd = bytes.NewReader(b)
				}
				req, _ := http.NewRequest(method, "http://"+srv.Addr().String()+"/v1/Account/"+acct.Account.ID+"/"+path, rd)
				req.Header.Set("Content-Type", "application/json")
				req.SetBasicAuth(acct.Account.ID, acct.Token)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				var out map[string]any
				json.NewDecoder(resp.Body).Decode(&out)
				if resp.StatusCode >= 300 {
					t.Fatalf("%s %s: %d %v", method, path, resp.StatusCode, out)
				}
				return out
			}
			created := call("POST", "Endpoint/", map[string]any{"username": "reception", "password": "Recept10n!", "alias": "Reception"})
			user, id := created["username"].(string), created["endpoint_id"].(string)

			if _, st := sippRegister(t, addr, "127.0.0.1", user, "wrong-one", true); st != 401 {
				t.Fatalf("wrong password: %d", st)
			}
			res, _ := sippRegister(t, addr, "127.0.0.1", user, "Recept10n!", false)
			got := call("GET", "Endpoint/"+id+"/", nil)
			if got["sip_registered"] != "true" || got["sip_contact"] != "sip:"+user+"@127.0.0.1:"+strconv.Itoa(res.SIPPort) ||
				got["sip_user_agent"] != "SIPp (trunkline test/sipp/uac_register.xml)" || got["sip_uri"] != "sip:"+user+"@"+domain ||
				got["sip_expires"] == "" {
				t.Fatalf("endpoint after registering: %v", got)
			}
			for seen := map[string]bool{}; !seen["endpoint.register"] || !seen["endpoint.auth_failed"]; {
				select {
				case a := <-audited.actions:
					seen[a] = true
				case <-time.After(10 * time.Second):
					t.Fatalf("audit entries not written: %v", seen)
				}
			}
			for _, c := range []struct {
				action, outcome string
			}{{"endpoint.register", "success"}, {"endpoint.auth_failed", "failure"}} {
				entries := call("GET", "AuditLog/?action="+c.action, nil)
				objs := entries["objects"].([]any)
				if len(objs) != 1 {
					t.Fatalf("%s entries: %v", c.action, entries)
				}
				o := objs[0].(map[string]any)
				if o["outcome"] != c.outcome || o["object_id"] != id || o["source"] != "127.0.0.1" {
					t.Fatalf("%s entry: %v", c.action, o)
				}
				if b, _ := json.Marshal(o); bytes.Contains(b, []byte("Recept10n!")) || bytes.Contains(b, []byte("wrong-one")) {
					t.Fatalf("a password in the audit log: %s", b)
				}
			}
		})
	}
}

// signalingAudit is the real audit log, telling the test each action it appended.
type signalingAudit struct {
	*audit.Log
	actions chan string
}

func (a *signalingAudit) Append(ctx context.Context, e audit.Entry) (int64, error) {
	seq, err := a.Log.Append(ctx, e)
	if err == nil {
		select {
		case a.actions <- e.Action:
		default: // the test waits for the first few only; never block the registrar
		}
	}
	return seq, err
}
