package registrar

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/account"
	"github.com/trunkline/trunkline/keys"
	"github.com/trunkline/trunkline/store"
	"github.com/trunkline/trunkline/store/storetest"
)

const testRealm = "sip.trunkline.test"

// fakeClock is a settable clock for nonces, lockouts and expiries. SIP traffic itself
// runs in real time; only what the registrar and the store read moves with it.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// countingStore counts the registrar's look-ups, to show an unknown user and a wrong
// password cost the same, and that a refused (throttled) attempt costs none.
type countingStore struct {
	*store.DB
	lookups atomic.Int64
}

func (s *countingStore) EndpointByUsername(ctx context.Context, u string) (*trunkline.Endpoint, error) {
	s.lookups.Add(1)
	return s.DB.EndpointByUsername(ctx, u)
}

// syncBuffer collects log output from concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}
func (b *syncBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.b.String() }

// env is a registrar behind a real sipgo server on 127.0.0.1:0 (UDP), with its store.
type env struct {
	t     *testing.T
	db    *store.DB
	st    *countingStore
	ring  *keys.Ring
	clock *fakeClock
	reg   *Registrar
	addr  *net.UDPAddr // the server
	logs  *syncBuffer
	owner string // account of the endpoints mkEndpoint makes
}

func newEnv(t *testing.T, db *store.DB, o Options) *env {
	t.Helper()
	ring, err := keys.NewRing(bytes.Repeat([]byte{9}, 32))
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: time.Now().UTC()}
	db.SetClock(clock.Now)
	e := &env{t: t, db: db, st: &countingStore{DB: db}, ring: ring, clock: clock, logs: &syncBuffer{}}
	o.Store, o.Ring, o.Now = e.st, ring, clock.Now
	if o.Realm == "" {
		o.Realm = testRealm
	}
	o.Logger = slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.reg = New(o)
	e.addr = serveSIP(t, e.reg)

	e.owner = account.NewID("MA")
	if err := db.CreateAccount(context.Background(), &trunkline.Account{ID: e.owner, Name: "phones", Enabled: true},
		&trunkline.Credential{ID: account.NewID("CR"), TokenMAC: []byte{1}, TokenEnc: []byte{1}}); err != nil {
		t.Fatal(err)
	}
	return e
}

// serveSIP runs a sipgo server with the registrar's handler on a loopback UDP socket.
// The socket is bound before this returns, so the server is ready. INVITEs go through
// AuthenticateRequest, as the voice server's admission does for sources that are not
// trunks; one that gets through is answered 486 Busy Here with the endpoint in
// X-Endpoint (user name, endpoint ID, account ID, alias, app ID; "-" for none), so a
// test sees who was admitted without setting up a call.
func serveSIP(t *testing.T, r *Registrar) *net.UDPAddr {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("trunkline-test"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	srv.OnRegister(r.HandleRegister)
	srv.OnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
		ep, ok := r.AuthenticateRequest(req, tx)
		if !ok {
			return
		}
		res := sip.NewResponseFromRequest(req, 486, "Busy Here", nil)
		f := []string{ep.Username, ep.EndpointID, ep.AccountID, ep.Alias, ep.AppID}
		for i := range f {
			if f[i] == "" {
				f[i] = "-"
			}
		}
		res.AppendHeader(sip.NewHeader("X-Endpoint", strings.Join(f, " ")))
		tx.Respond(res)
	})
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.ServeUDP(conn)
	}()
	t.Cleanup(func() {
		conn.Close()
		ua.Close()
		<-done
	})
	return conn.LocalAddr().(*net.UDPAddr)
}

func forEachStore(t *testing.T, o Options, fn func(t *testing.T, e *env)) {
	for _, db := range storetest.Open(t) {
		t.Run(string(db.Dialect()), func(t *testing.T) { fn(t, newEnv(t, db, o)) })
	}
}

// mkEndpoint creates an endpoint as the API does (12 digits appended, secrets sealed for
// the registrar's realm) and returns its full user name.
func (e *env) mkEndpoint(name, password string) string {
	e.t.Helper()
	user := name + account.RandomString("0123456789", 12)
	sec, err := account.SealEndpointPassword(e.ring, user, e.reg.Realm(), password)
	if err != nil {
		e.t.Fatal(err)
	}
	ep := &trunkline.Endpoint{ID: account.NewNumericID(14), AccountID: e.owner, Username: user, Alias: name,
		Realm: sec.Realm, HA1Enc: sec.HA1Enc, PasswordMD5Enc: sec.PasswordMD5Enc}
	if err := e.db.CreateEndpoint(context.Background(), ep); err != nil {
		e.t.Fatal(err)
	}
	return user
}

func (e *env) endpoint(user string) *trunkline.Endpoint {
	e.t.Helper()
	ep, err := e.db.EndpointByUsername(context.Background(), user)
	if err != nil {
		e.t.Fatal(err)
	}
	return ep
}

// rawClient speaks SIP over UDP by hand, from a chosen loopback address, so tests see
// the registrar's answers byte for byte.
type rawClient struct {
	t      *testing.T
	conn   *net.UDPConn
	server *net.UDPAddr
	callID string
	cseq   int
}

func newRawClient(t *testing.T, localIP string, server *net.UDPAddr) *rawClient {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(localIP)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &rawClient{t: t, conn: conn, server: server, callID: randHex(12)}
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// answer is one response as received.
type answer struct {
	raw []byte
	res *sip.Response
}

func (a answer) header(name string) string {
	if h := a.res.GetHeader(name); h != nil {
		return h.Value()
	}
	return ""
}

// request is what a test wants in a REGISTER; zero values give a plain one.
type request struct {
	user     string // To/From user (also the Contact's)
	expires  string // Expires header; "" for none
	contact  string // Contact header value; "" for <sip:user@local>; "-" for none
	auth     string // Authorization header value; "" for none
	extraHdr string
}

func (c *rawClient) send(q request) answer {
	c.t.Helper()
	c.cseq++
	local := c.conn.LocalAddr().(*net.UDPAddr)
	var b strings.Builder
	fmt.Fprintf(&b, "REGISTER sip:%s SIP/2.0\r\n", c.server)
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP %s;branch=z9hG4bK%s;rport\r\n", local, randHex(8))
	fmt.Fprintf(&b, "Max-Forwards: 70\r\n")
	fmt.Fprintf(&b, "From: <sip:%s@%s>;tag=%s\r\n", q.user, c.server.IP, randHex(6))
	fmt.Fprintf(&b, "To: <sip:%s@%s>\r\n", q.user, c.server.IP)
	fmt.Fprintf(&b, "Call-ID: %s\r\n", c.callID)
	fmt.Fprintf(&b, "CSeq: %d REGISTER\r\n", c.cseq)
	switch q.contact {
	case "":
		fmt.Fprintf(&b, "Contact: <sip:%s@%s>\r\n", q.user, local)
	case "-":
	default:
		fmt.Fprintf(&b, "Contact: %s\r\n", q.contact)
	}
	if q.expires != "" {
		fmt.Fprintf(&b, "Expires: %s\r\n", q.expires)
	}
	if q.auth != "" {
		fmt.Fprintf(&b, "Authorization: %s\r\n", q.auth)
	}
	b.WriteString(q.extraHdr)
	b.WriteString("User-Agent: raw-test/1.0\r\nContent-Length: 0\r\n\r\n")
	if _, err := c.conn.WriteToUDP([]byte(b.String()), c.server); err != nil {
		c.t.Fatal(err)
	}
	return c.read()
}

func (c *rawClient) read() answer {
	c.t.Helper()
	buf := make([]byte, 65536)
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, _, err := c.conn.ReadFromUDP(buf)
	if err != nil {
		c.t.Fatalf("no answer: %v", err)
	}
	msg, err := sip.ParseMessage(buf[:n])
	if err != nil {
		c.t.Fatalf("answer does not parse: %v\n%s", err, buf[:n])
	}
	res, ok := msg.(*sip.Response)
	if !ok {
		c.t.Fatalf("not a response:\n%s", buf[:n])
	}
	return answer{raw: append([]byte(nil), buf[:n]...), res: res}
}

var challengeRE = regexp.MustCompile(`nonce="([^"]+)"`)

func nonceOf(t *testing.T, a answer) string {
	t.Helper()
	m := challengeRE.FindStringSubmatch(a.header("WWW-Authenticate"))
	if a.res.StatusCode != 401 || m == nil {
		t.Fatalf("not a challenge:\n%s", a.raw)
	}
	return m[1]
}

func md5s(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// digest is an Authorization value for a REGISTER to server (written out here, apart
// from the code under test: RFC 2617 with qop=auth, or RFC 2069 when nc is "").
func digest(user, realm, password, nonce, uri, nc string) string {
	return digestFor("REGISTER", user, realm, password, nonce, uri, nc)
}

// digestFor is digest for a request of any method.
func digestFor(method, user, realm, password, nonce, uri, nc string) string {
	ha1 := md5s(user + ":" + realm + ":" + password)
	ha2 := md5s(method + ":" + uri)
	if nc == "" {
		return fmt.Sprintf(`Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", algorithm=MD5`,
			user, realm, nonce, uri, md5s(ha1+":"+nonce+":"+ha2))
	}
	cnonce := "0a4f113b"
	resp := md5s(ha1 + ":" + nonce + ":" + nc + ":" + cnonce + ":auth:" + ha2)
	return fmt.Sprintf(`Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", algorithm=MD5, cnonce="%s", qop=auth, nc=%s`,
		user, realm, nonce, uri, resp, cnonce, nc)
}

// login runs the two legs: REGISTER, 401, REGISTER with credentials. q.auth is ignored.
func (c *rawClient) login(q request, password string) answer {
	c.t.Helper()
	q.auth = ""
	first := c.send(q)
	if first.res.StatusCode != 401 {
		return first
	}
	q.auth = digest(q.user, testRealm, password, nonceOf(c.t, first), "sip:"+c.server.String(), "00000001")
	return c.send(q)
}

func wantStatus(t *testing.T, a answer, code int) {
	t.Helper()
	if a.res.StatusCode != code {
		t.Fatalf("status %d, want %d:\n%s", a.res.StatusCode, code, a.raw)
	}
}

var errTimeout = errors.New("timed out")

// within waits for ch to be closed, at most d.
func within(ch <-chan struct{}, d time.Duration) error {
	select {
	case <-ch:
		return nil
	case <-time.After(d):
		return errTimeout
	}
}
