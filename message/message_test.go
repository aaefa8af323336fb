package message_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/account"
	"github.com/trunkline/trunkline/carrier"
	"github.com/trunkline/trunkline/keys"
	"github.com/trunkline/trunkline/message"
	"github.com/trunkline/trunkline/sandbox"
	"github.com/trunkline/trunkline/smpp/pdu"
	"github.com/trunkline/trunkline/smpp/session"
	"github.com/trunkline/trunkline/store"
	"github.com/trunkline/trunkline/store/storetest"
	"github.com/trunkline/trunkline/webhook"
)

// stack is the SMS path of a server, end to end over real SMPP: the message service,
// the router, an ESME client, and the sandbox SMSC on loopback.
type stack struct {
	db       *store.DB
	svc      *message.Service
	sandbox  *sandbox.SMSC
	accounts *account.Service
	acct     *account.Created
}

func newStack(t *testing.T, db *store.DB, routes []carrier.Route) *stack {
	t.Helper()
	ctx := context.Background()
	ring, _ := keys.NewRing(bytes.Repeat([]byte{5}, 32))
	acc := account.New(db, ring, account.Options{})
	created, err := acc.CreateMain(ctx, "msg")
	if err != nil {
		t.Fatal(err)
	}
	sb := sandbox.New(sandbox.Options{})
	if err := sb.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	var svc *message.Service
	ready := make(chan struct{})
	cl := session.NewClient(session.ClientOptions{Name: sandbox.Name, Addr: sb.Addr().String(), SystemID: sb.SystemID, Password: sb.Password,
		Window: 32, OnDeliver: func(ctx context.Context, d *pdu.DeliverSM) pdu.Status {
			<-ready
			return svc.HandleDeliver(ctx, sandbox.Name, d)
		}})
	if routes == nil {
		routes = []carrier.Route{{Prefix: "", Hops: []carrier.Hop{{Carrier: sandbox.Name, Weight: 1}}}}
	}
	router, err := carrier.New(carrier.Options{Carriers: []*carrier.Carrier{{Name: sandbox.Name, Transport: &carrier.Pool{Clients: []*session.Client{cl}}}},
		Routes: routes})
	if err != nil {
		t.Fatal(err)
	}
	wh := webhook.New(webhook.Options{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Recorder: db})
	t.Cleanup(wh.Close)
	svc = message.New(message.Options{DB: db, Ring: ring, Sender: router, Tokens: acc, Webhooks: wh})
	close(ready)
	if err := cl.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := cl.WaitBound(wctx); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	svc.ReleaseOldLeases(runCtx)
	done := make(chan error, 1)
	go func() { done <- svc.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done; cl.Close() })
	if _, err := db.ImportNumbers(ctx, []*trunkline.Number{{Number: "14155550100", CountryISO: "US", Type: "local", SMSEnabled: true}}); err != nil {
		t.Fatal(err)
	}
	// The tests send from 14155550100: the account rents it (the source rule).
	if _, err := db.RentNumber(ctx, "14155550100", created.Account.ID, ""); err != nil {
		t.Fatal(err)
	}
	return &stack{db: db, svc: svc, sandbox: sb, accounts: acc, acct: created}
}

// waitState polls the store until the message reaches want (bounded).
func (s *stack) waitState(t *testing.T, uuid, want string) *trunkline.Message {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		m, err := s.db.MessageByUUID(context.Background(), uuid)
		if err == nil && m.State == want {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("message %s: state %v, want %s (err %v)", uuid, m, want, err)
		}
		time.Sleep(10 * time.Millisecond) // polling a store we do not own the events of
	}
}

// receiver records callbacks and checks their V3 signature with the account's token.
type receiver struct {
	t     *testing.T
	token func() string
	mu    sync.Mutex
	got   []url.Values
	reply string
	srv   *httptest.Server
	ch    chan url.Values
}

func newReceiver(t *testing.T, token func() string) *receiver {
	r := &receiver{t: t, token: token, ch: make(chan url.Values, 100)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		form, _ := url.ParseQuery(string(body))
		full := "http://" + req.Host + req.URL.RequestURI()
		if !webhook.ValidateV3("POST", full, req.Header.Get(webhook.HeaderNonceV3), r.token(), req.Header.Get(webhook.HeaderSignatureV3), form) {
			t.Errorf("callback with an invalid V3 signature: %v", form)
		}
		r.mu.Lock()
		r.got = append(r.got, form)
		reply := r.reply
		r.mu.Unlock()
		r.ch <- form
		w.Header().Set("Content-Type", "application/xml")
		io.WriteString(w, reply)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) next(t *testing.T) url.Values {
	t.Helper()
	select {
	case v := <-r.ch:
		return v
	case <-time.After(15 * time.Second):
		t.Fatal("no callback arrived")
		return nil
	}
}

func TestSendDeliverAndCallbacks(t *testing.T) {
	for _, db := range storetest.Open(t) {
		t.Run(string(db.Dialect()), func(t *testing.T) {
			s := newStack(t, db, nil)
			ctx := context.Background()
			tok := func() string { v, _ := s.accounts.Token(ctx, s.acct.Account.ID); return v }
			rcv := newReceiver(t, tok)
			long := string([]rune(strings.Repeat("Grüße {x} € ", 200))[:1600]) // Plivo's longest: 1,600 characters
			cases := []struct {
				name, text string
				units      int
			}{
				{"gsm with extension", "Price: 5€ [promo] {now} ~ok~ \\o/", 1},
				{"160 gsm", strings.Repeat("a", 160), 1},
				{"161 gsm", strings.Repeat("a", 161), 2},
				{"ucs2 emoji", "Hi 👋 ünïcödé ✓", 1},
				{"70 ucs2", strings.Repeat("ж", 70), 1},
				{"71 ucs2", strings.Repeat("ж", 71), 2},
				{"1600 characters", long, 0},
				{"153 boundary", strings.Repeat("b", 306), 2},
				{"153 boundary plus one", strings.Repeat("b", 307), 3},
				{"67 boundary", strings.Repeat("ж", 134), 2},
				{"67 boundary plus one", strings.Repeat("ж", 135), 3},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					acc, err := s.svc.Queue(ctx, trunkline.SendRequest{AccountID: s.acct.Account.ID, Src: "14155550100", Dsts: []string{"447700900123"},
						Text: c.text, LogMode: trunkline.LogAll, URL: rcv.srv.URL + "/status?x=1", Method: "POST"})
					if err != nil {
						t.Fatal(err)
					}
					m := s.waitState(t, acc.UUIDs[0], trunkline.MsgDelivered)
					if c.units > 0 && m.Units != c.units {
						t.Fatalf("units %d, want %d", m.Units, c.units)
					}
					if m.Body != c.text || m.PayloadEnc != nil {
						t.Fatalf("stored body %q (payload kept: %v)", m.Body, m.PayloadEnc != nil)
					}
					// The SMSC got the text intact (segments in order).
					var got strings.Builder
					for _, r := range s.sandbox.Recent() {
						if r.Dst == "447700900123" {
							got.WriteString(r.Text)
						}
					}
					if !strings.HasSuffix(got.String(), c.text) {
						t.Fatalf("SMSC received %q", got.String())
					}
					seen := map[string]bool{}
					for len(seen) < 2 {
						cb := rcv.next(t)
						if cb.Get("MessageUUID") == acc.UUIDs[0] {
							seen[cb.Get("Status")] = true
						}
					}
					if !seen["sent"] || !seen["delivered"] {
						t.Fatalf("callbacks %v", seen)
					}
				})
			}
		})
	}
}

func TestNoRouteAndPrivacy(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(context.Background(), filepath.Join(dir, "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := newStack(t, db, []carrier.Route{{Prefix: "44", Hops: []carrier.Hop{{Carrier: sandbox.Name, Weight: 1}}}})
	ctx := context.Background()
	acc, err := s.svc.Queue(ctx, trunkline.SendRequest{AccountID: s.acct.Account.ID, Src: "14155550100", Dsts: []string{"33612345678"}, Text: "x", LogMode: trunkline.LogAll})
	if err != nil {
		t.Fatal(err)
	}
	if m := s.waitState(t, acc.UUIDs[0], trunkline.MsgFailed); m.ErrorCode != message.ErrNoRoute {
		t.Fatalf("unroutable: error %q", m.ErrorCode)
	}
	const secret = "my secret diagnosis 4711"
	acc, err = s.svc.Queue(ctx, trunkline.SendRequest{AccountID: s.acct.Account.ID, Src: "14155550100", Dsts: []string{"447700900987"}, Text: secret, LogMode: trunkline.LogNone})
	if err != nil {
		t.Fatal(err)
	}
	m := s.waitState(t, acc.UUIDs[0], trunkline.MsgDelivered)
	if m.Body != trunkline.RedactedText || m.To != "447700900***" {
		t.Fatalf("log=false stored %q to %q", m.Body, m.To)
	}
	// Checkpoint the WAL so every byte is in the main file, then scan every file.
	db.SQL().Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return nil
		}
		b, _ := os.ReadFile(p)
		if bytes.Contains(b, []byte(secret)) || bytes.Contains(b, []byte("447700900987")) {
			t.Errorf("%s holds the text or the full number of a log=false message", filepath.Base(p))
		}
		return nil
	})
}

func TestInboundAndReply(t *testing.T) {
	for _, db := range storetest.Open(t) {
		t.Run(string(db.Dialect()), func(t *testing.T) {
			s := newStack(t, db, nil)
			ctx := context.Background()
			tok := func() string { v, _ := s.accounts.Token(ctx, s.acct.Account.ID); return v }
			rcv := newReceiver(t, tok)
			rcv.reply = `<Response><Message src="14155550100" dst="447700900555">Thanks, got it</Message></Response>`
			app := &trunkline.Application{ID: "777", AccountID: s.acct.Account.ID, Name: "sms", MessageURL: rcv.srv.URL + "/in", MessageMethod: "POST",
				LogIncomingMessages: false, Enabled: true}
			if err := db.CreateApplication(ctx, app); err != nil {
				t.Fatal(err)
			}
			if _, err := db.UpdateRented(ctx, trunkline.Scope{AccountID: s.acct.Account.ID}, "14155550100", func(n *trunkline.Number) error {
				n.AppID = "777"
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			text := strings.Repeat("long inbound ", 20) // two segments, joined before delivery
			if st, err := s.sandbox.Inbound(ctx, "447700900555", "14155550100", text); err != nil || st != pdu.ESME_ROK {
				t.Fatalf("inbound: %v %v", st, err)
			}
			cb := rcv.next(t)
			if cb.Get("Text") != text || cb.Get("From") != "447700900555" || cb.Get("To") != "14155550100" || cb.Get("Units") != "2" {
				t.Fatalf("inbound callback %v", cb)
			}
			// log_incoming_messages=false: the stored inbound message is redacted.
			ms, _, _ := db.ListMessages(ctx, trunkline.Scope{AccountID: s.acct.Account.ID}, trunkline.MessageFilter{Direction: "inbound", Limit: 5})
			if len(ms) != 1 || ms[0].Body != trunkline.RedactedText || ms[0].From != "447700900***" || ms[0].State != trunkline.MsgReceived {
				t.Fatalf("stored inbound %+v", ms)
			}
			// The <Message> reply went out through the carrier.
			deadline := time.Now().Add(15 * time.Second)
			for {
				found := false
				for _, r := range s.sandbox.Recent() {
					found = found || (r.Dst == "447700900555" && r.Text == "Thanks, got it")
				}
				if found {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the XML reply was not sent")
				}
				time.Sleep(10 * time.Millisecond)
			}
			// To a number nobody rents: refused for good.
			if st, _ := s.sandbox.Inbound(ctx, "447700900555", "19995550000", "hi"); st != pdu.ESME_RX_R_APPN {
				t.Fatalf("inbound to an unknown number: %v", st)
			}
		})
	}
}

// TestReplyFromForeignSourceFails: a <Message> reply to an inbound SMS whose src the
// account may not use (another tenant's number, a sender ID the operator did not allow)
// is stored as failed with error 40 and never reaches a carrier; a reply from the
// account's own number in the same document goes out.
func TestReplyFromForeignSourceFails(t *testing.T) {
	for _, db := range storetest.Open(t) {
		t.Run(string(db.Dialect()), func(t *testing.T) {
			s := newStack(t, db, nil)
			ctx := context.Background()
			other, err := s.accounts.CreateMain(ctx, "other tenant")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.ImportNumbers(ctx, []*trunkline.Number{{Number: "14155550200", CountryISO: "US", Type: "local", SMSEnabled: true}}); err != nil {
				t.Fatal(err)
			}
			if _, err := db.RentNumber(ctx, "14155550200", other.Account.ID, ""); err != nil {
				t.Fatal(err)
			}
			tok := func() string { v, _ := s.accounts.Token(ctx, s.acct.Account.ID); return v }
			rcv := newReceiver(t, tok)
			rcv.reply = `<Response><Message src="14155550200" dst="447700900555">as another tenant</Message>` +
				`<Message src="Bank" dst="447700900555">as a sender ID nobody allowed</Message>` +
				`<Message src="14155550100" dst="447700900555">from our own number</Message></Response>`
			app := &trunkline.Application{ID: "778", AccountID: s.acct.Account.ID, Name: "sms", MessageURL: rcv.srv.URL + "/in", MessageMethod: "POST", Enabled: true}
			if err := db.CreateApplication(ctx, app); err != nil {
				t.Fatal(err)
			}
			if _, err := db.UpdateRented(ctx, trunkline.Scope{AccountID: s.acct.Account.ID}, "14155550100", func(n *trunkline.Number) error {
				n.AppID = "778"
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if st, err := s.sandbox.Inbound(ctx, "447700900555", "14155550100", "hello"); err != nil || st != pdu.ESME_ROK {
				t.Fatalf("inbound: %v %v", st, err)
			}
			rcv.next(t)
			// The replies are sent in document order: once the last one has reached the
			// SMSC, the first two were decided.
			deadline := time.Now().Add(15 * time.Second)
			for {
				found := false
				for _, r := range s.sandbox.Recent() {
					found = found || r.Text == "from our own number"
				}
				if found {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the reply from the account's own number was not sent")
				}
				time.Sleep(10 * time.Millisecond) // polling the sandbox SMSC's record
			}
			for _, r := range s.sandbox.Recent() {
				if r.Text != "from our own number" && r.Text != "hello" {
					t.Errorf("the SMSC got %q from %s", r.Text, r.Src)
				}
			}
			ms, _, err := db.ListMessages(ctx, trunkline.Scope{AccountID: s.acct.Account.ID}, trunkline.MessageFilter{Direction: "outbound", Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			failed := map[string]string{}
			for _, m := range ms {
				if m.State == trunkline.MsgFailed {
					failed[m.From] = m.ErrorCode
				}
			}
			if len(failed) != 2 || failed["14155550200"] != message.ErrInvalidSource || failed["Bank"] != message.ErrInvalidSource {
				t.Fatalf("failed replies %v, want 14155550200 and Bank with error %s", failed, message.ErrInvalidSource)
			}
		})
	}
}
