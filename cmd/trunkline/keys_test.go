package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/account"
	"github.com/trunkline/trunkline/audit"
	"github.com/trunkline/trunkline/config"
	"github.com/trunkline/trunkline/identity"
	"github.com/trunkline/trunkline/keys"
	"github.com/trunkline/trunkline/message"
	"github.com/trunkline/trunkline/recording"
	"github.com/trunkline/trunkline/store"
	"github.com/trunkline/trunkline/store/storetest"
)

// phoneBox catches the verification codes the identity service sends.
type phoneBox struct {
	mu   sync.Mutex
	last string
}

func (p *phoneBox) SendCode(_ context.Context, _, _, code string) error {
	p.mu.Lock()
	p.last = code
	p.mu.Unlock()
	return nil
}

// server is what a (re)started server builds on a ring: the services that check and
// open the stored secrets.
type server struct {
	ring     *keys.Ring
	accounts *account.Service
	identity *identity.Service
	records  *recording.Files
}

func start(t *testing.T, db *store.DB, kekPath, recDir string, now func() time.Time, phone *phoneBox) *server {
	t.Helper()
	ring, err := keys.LoadOrCreateKEK(kekPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := useMACKey(context.Background(), db, ring); err != nil {
		t.Fatal(err)
	}
	s := &server{ring: ring, accounts: account.New(db, ring, account.Options{CacheTTL: -1})}
	s.identity = identity.New(identity.Options{Store: db, Ring: ring, Accounts: s.accounts, Sender: phone, Audit: nopAudit{},
		Hasher: identity.NewHasher(identity.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 2), Now: now})
	if s.records, err = recording.New(recDir, ring, db); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestKEKRotation rotates the KEK with everything that depends on it in the store:
// an API token, a console session, TOTP and recovery codes, an endpoint's digest
// secrets, a recording, a queued message payload; then retires the old key. Each keeps
// working at every step, and after retiring, a ring holding only the new key opens
// everything. Before the MAC key was kept apart from the KEK, a new first line in
// keys/kek changed every keyed hash (the check against keys.NewRing below).
func TestKEKRotation(t *testing.T) {
	for _, db := range storetest.Open(t) {
		t.Run(string(db.Dialect()), func(t *testing.T) { testKEKRotation(t, db) })
	}
}

func testKEKRotation(t *testing.T, db *store.DB) {
	ctx := context.Background()
	dir := t.TempDir()
	kekPath, recDir := filepath.Join(dir, "keys", "kek"), filepath.Join(dir, "recordings")
	clk := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	now := func() time.Time { return clk }
	phone := &phoneBox{}
	s := start(t, db, kekPath, recDir, now, phone)

	// An API account and its token.
	acct, err := s.accounts.CreateMain(ctx, "Acme")
	if err != nil {
		t.Fatal(err)
	}
	// A console user (its signup made an account too), a session, TOTP and recovery codes.
	flow, err := s.identity.StartSignup(ctx, identity.SignupRequest{Email: "owner@example.com", Passphrase: "correct horse battery staple",
		Phone: "+14155550100", Channel: "sms", Source: "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	sess, sessToken, err := s.identity.CompleteSignup(ctx, flow.Token, phone.last, "192.0.2.1", "test")
	if err != nil {
		t.Fatal(err)
	}
	enr, err := s.identity.BeginTOTP(ctx, sess)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := identity.TOTPCode(enr.Key.Secret, clk)
	recovery, err := s.identity.ConfirmTOTP(ctx, sess, enr.Sealed, code)
	if err != nil || len(recovery) < 3 {
		t.Fatalf("ConfirmTOTP: %v", err)
	}
	// An endpoint's digest secrets.
	secrets, err := account.SealEndpointPassword(s.ring, "alice", "trunkline", "s3cret-pass")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateEndpoint(ctx, &trunkline.Endpoint{ID: "EP1", AccountID: acct.Account.ID, Username: "alice", Realm: "trunkline",
		HA1Enc: secrets.HA1Enc, PasswordMD5Enc: secrets.PasswordMD5Enc}); err != nil {
		t.Fatal(err)
	}
	// A recording, sealed under the account's data key, which the KEK wraps.
	audio := bytes.Repeat([]byte("say hello "), 5000)
	w, err := s.records.Create(ctx, acct.Account.ID, "RE1")
	if err != nil {
		t.Fatal(err)
	}
	w.Write(audio)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// A queued message: its send payload and its status callback's parameters.
	payload, _ := s.ring.Seal([]byte(`{"to":"14155550199","text":"hello"}`), message.PayloadAAD("MSG1"))
	params, _ := s.ring.Seal([]byte(`{"MessageUUID":"MSG1"}`), message.CallbackAAD("MSG1"))
	if err := db.InsertMessages(ctx, []*trunkline.Message{{UUID: "MSG1", AccountID: acct.Account.ID, Direction: "outbound", From: "14155550100",
		To: "14155550199", PayloadEnc: payload, State: "queued", CreatedAt: clk}},
		[]*trunkline.Callback{{AccountID: acct.Account.ID, Kind: "message_status", ObjectID: "MSG1", URL: "https://example.com/cb", Method: "POST", ParamsEnc: params}}); err != nil {
		t.Fatal(err)
	}

	// A SIP digest nonce is a MAC under the ring's MAC key.
	nonce := s.ring.MAC([]byte("trunkline sip nonce v1\x00trunkline\x00issued"))

	works := func(t *testing.T, s *server, step string, recoveryCode string) {
		t.Helper()
		if _, _, err := s.accounts.Authenticate(ctx, acct.Account.ID, acct.Token); err != nil {
			t.Errorf("%s: the API token no longer authenticates: %v", step, err)
		}
		if got, err := s.identity.Authenticate(ctx, sessToken, "192.0.2.1"); err != nil || got.User.ID != sess.User.ID {
			t.Errorf("%s: the console session is no longer valid: %v", step, err)
		}
		// A login now needs the second factor: a TOTP code (the sealed secret opens) and
		// a recovery code (a keyed hash) both work.
		clk = clk.Add(time.Minute)
		pending, _, err := s.identity.Login(ctx, "owner@example.com", "correct horse battery staple", "192.0.2.1", "")
		if err != nil || !pending.Pending() {
			t.Fatalf("%s: login: %v", step, err)
		}
		totp, _ := identity.TOTPCode(enr.Key.Secret, clk)
		if _, _, err := s.identity.SecondFactor(ctx, pending, totp, ""); err != nil {
			t.Errorf("%s: TOTP code refused: %v", step, err)
		}
		pending, _, _ = s.identity.Login(ctx, "owner@example.com", "correct horse battery staple", "192.0.2.1", "")
		if _, _, err := s.identity.SecondFactor(ctx, pending, recoveryCode, ""); err != nil {
			t.Errorf("%s: recovery code refused: %v", step, err)
		}
		ep, err := db.EndpointByUsername(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if ha1, err := account.OpenEndpointHA1(s.ring, "alice", ep.HA1Enc); err != nil || string(ha1) != account.DigestHA1("alice", "trunkline", "s3cret-pass") {
			t.Errorf("%s: the endpoint's digest HA1 does not open: %v", step, err)
		}
		if md5, err := s.accounts.EndpointPasswordMD5("alice", ep.PasswordMD5Enc); err != nil || md5 != account.PasswordMD5("s3cret-pass") {
			t.Errorf("%s: the endpoint's password MD5 does not open: %v", step, err)
		}
		if !bytes.Equal(s.ring.MAC([]byte("trunkline sip nonce v1\x00trunkline\x00issued")), nonce) {
			t.Errorf("%s: a SIP nonce issued before no longer checks", step)
		}
		if m, err := db.MessageByUUID(ctx, "MSG1"); err != nil {
			t.Fatal(err)
		} else if pt, err := s.ring.Open(m.PayloadEnc, message.PayloadAAD("MSG1")); err != nil || !strings.Contains(string(pt), "hello") {
			t.Errorf("%s: the message payload does not open: %v", step, err)
		}
		var cb []byte
		if err := db.SQL().QueryRowContext(ctx, db.Rebind(`SELECT params_enc FROM callbacks WHERE object_id = ?`), "MSG1").Scan(&cb); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ring.Open(cb, message.CallbackAAD("MSG1")); err != nil {
			t.Errorf("%s: the callback parameters do not open: %v", step, err)
		}
		rc, err := s.records.Open(ctx, acct.Account.ID, "RE1")
		if err != nil {
			t.Fatalf("%s: the recording does not open: %v", step, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, audio) {
			t.Errorf("%s: the recording does not decrypt: %v", step, err)
		}
	}
	works(t, s, "before", recovery[0])

	// What rotating by hand used to do: a new first line in keys/kek. The MAC key then
	// came from that new key, so every keyed hash above stopped checking.
	oldLines, _ := os.ReadFile(kekPath)
	if err := keys.AddKEK(kekPath); err != nil {
		t.Fatal(err)
	}
	naive, _ := keys.LoadOrCreateKEK(kekPath)
	if bytes.Equal(naive.MAC([]byte("x")), s.ring.MAC([]byte("x"))) {
		t.Fatal("a ring with a new first key kept the MAC key: the test cannot tell the old behaviour")
	}
	os.WriteFile(kekPath, oldLines, 0o600)

	ring, changed, visited, err := rotateKEK(ctx, db, s.ring, kekPath, false)
	if err != nil {
		t.Fatal(err)
	}
	// two tokens (the signup made an account too), TOTP secret, HA1, MD5, payload,
	// callback, the recording data key, the MAC key.
	if ring.Size() != 2 || changed != 9 || changed != visited {
		t.Fatalf("rotate: ring of %d keys, %d of %d resealed", ring.Size(), changed, visited)
	}
	s = start(t, db, kekPath, recDir, now, phone) // the restarted server
	works(t, s, "after rotate", recovery[1])
	assertSealedUnder(t, db, s.ring)

	ring, changed, _, err = rotateKEK(ctx, db, s.ring, kekPath, true)
	if err != nil || ring.Size() != 1 || changed != 0 {
		t.Fatalf("retire-old: %v, %d keys, %d resealed", err, ring.Size(), changed)
	}
	if b, _ := os.ReadFile(kekPath); strings.Count(strings.TrimSpace(string(b)), "\n") != 0 {
		t.Fatalf("keys/kek still holds %d keys", strings.Count(string(b), "\n"))
	}
	s = start(t, db, kekPath, recDir, now, phone) // only the new key now
	works(t, s, "after retire-old", recovery[2])
}

// assertSealedUnder checks that every sealed value in the store is under ring's
// current key.
func assertSealedUnder(t *testing.T, db *store.DB, ring *keys.Ring) {
	t.Helper()
	for _, s := range append(sealed[:len(sealed):len(sealed)], struct {
		col store.SealedColumn
		aad func([]string) ([]byte, error)
	}{col: store.SealedColumn{Table: "server_keys", Column: "wrapped", Key: []string{"name"}, AADFrom: []string{"name"}}}) {
		if _, _, err := db.Reseal(context.Background(), s.col, func(row []string, ct []byte) ([]byte, error) {
			if !ring.Sealed(ct) {
				t.Errorf("%s.%s %v is not sealed under the newest KEK", s.col.Table, s.col.Column, row)
			}
			return nil, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
}

type nopAudit struct{}

func (nopAudit) Append(context.Context, audit.Entry) (int64, error) { return 0, nil }

// TestCLIKeysRotate runs the two commands an operator runs, on a data dir.
func TestCLIKeysRotate(t *testing.T) {
	dir := t.TempDir()
	code, out, errs := cli(t, dir, "account", "create", "--name", "Acme", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var created struct {
		AuthID    string `json:"auth_id"`
		AuthToken string `json:"auth_token"`
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatal(err)
	}
	kekLines := func() int {
		b, err := os.ReadFile(filepath.Join(dir, "keys", "kek"))
		if err != nil {
			t.Fatal(err)
		}
		return len(strings.Fields(string(b)))
	}
	if code, out, errs := cli(t, dir, "keys", "rotate"); code != 0 || !strings.Contains(out, "keys retire-old") || kekLines() != 2 {
		t.Fatalf("keys rotate: %d %s %s (%d keys)", code, out, errs, kekLines())
	}
	if code, out, errs := cli(t, dir, "keys", "retire-old"); code != 0 || !strings.Contains(out, "old KEKs are gone") || kekLines() != 1 {
		t.Fatalf("keys retire-old: %d %s %s (%d keys)", code, out, errs, kekLines())
	}
	if code, out, _ := cli(t, dir, "keys", "retire-old"); code != 0 || !strings.Contains(out, "nothing to retire") {
		t.Fatalf("second retire-old: %d %s", code, out)
	}
	if code, _, _ := cli(t, dir, "keys", "turn"); code != 2 {
		t.Fatal("an unknown subcommand was accepted")
	}
	// The token still authenticates with the new key alone, and both steps are audited.
	code, out, _ = cli(t, dir, "audit", "verify")
	if code != 0 {
		t.Fatalf("audit verify: %s", out)
	}
	c := config.Default()
	c.DataDir = dir
	p, err := openPlatform(context.Background(), &c, slog.New(slog.DiscardHandler), false)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, _, err := p.accounts.Authenticate(context.Background(), created.AuthID, created.AuthToken); err != nil {
		t.Fatalf("the token no longer authenticates after rotation: %v", err)
	}
	for _, action := range []string{"kek.rotate", "kek.retire_old"} {
		if _, n, err := p.audit.List(context.Background(), audit.Filter{Action: action}); err != nil || n != 1 {
			t.Errorf("%s audited %d times: %v", action, n, err)
		}
	}

	// With the KEK in the environment Trunkline cannot edit it: rotate says what to do.
	t.Setenv(keys.EnvKEK, "7pY5QwwdOhC7q0w3o+mM1oV9+o5s6cQ1vH1m2WcNNWE=")
	envDir := t.TempDir()
	if code, out, errs := cli(t, envDir, "keys", "rotate"); code != 0 || !strings.Contains(out, "TRUNKLINE_KEK=\"NEW OLD\"") {
		t.Fatalf("keys rotate with the env KEK: %d %s %s", code, out, errs)
	}
	if _, err := os.Stat(filepath.Join(envDir, "keys", "kek")); !os.IsNotExist(err) {
		t.Fatal("a KEK file was written although the KEK comes from the environment")
	}
}
