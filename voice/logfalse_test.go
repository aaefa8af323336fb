package voice_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/trunkline/trunkline/audit"
	"github.com/trunkline/trunkline/store"
)

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]byte(nil), l.b.Bytes()...)
}

// With log="false" the digits reach the action URL and nothing else: not the
// server's log (at debug level), not the database (calls, webhook attempts,
// audit), not any file in the data dir.
func TestLogFalseDigitsNowhere(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(dir, "trunkline.db"))
	if err != nil {
		t.Fatal(err)
	}
	signer, _, err := audit.LoadOrCreateKeys(filepath.Join(dir, "keys"))
	if err != nil {
		t.Fatal(err)
	}
	alog := audit.New(db, signer, audit.Options{})
	var logs lockedBuf
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := newStackDB(t, db, stackOptions{logger: logger, audit: alog})
	const secret = "918273"
	s.app.set("/answer", `<Response><GetDigits action="`+s.app.url("/pin")+`" numDigits="6" timeout="10" log="false"><Speak>Your PIN</Speak></GetDigits></Response>`)
	s.app.set("/pin", `<Response><Hangup/></Response>`)
	s.app.set("/hangup", "ok")
	p, err := call(t, s, s.number)
	if err != nil {
		t.Fatal(err)
	}
	p.listen(t, 300*time.Millisecond)
	p.press(t, secret)
	if got := s.app.wait(t, "/pin", 10*time.Second).Get("Digits"); got != secret {
		t.Fatalf("action got %q", got)
	}
	p.ended(t, 10*time.Second)
	s.app.wait(t, "/hangup", 10*time.Second)
	waitIdle(t, s)
	entries, _, err := alog.List(ctx, audit.Filter{AccountIDs: []string{s.acct.Account.ID}, Action: "call.inbound", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range entries {
		found = found || (e.Action == "call.inbound" && e.ObjectType == "call")
	}
	if !found {
		t.Fatalf("the call is not in the audit trail: %+v", entries)
	}
	if err := alog.Close(); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if bytes.Contains(logs.Bytes(), []byte(secret)) {
		t.Fatalf("the digits are in the server log:\n%s", logs.Bytes())
	}
	filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return nil
		}
		b, _ := os.ReadFile(path)
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("the digits are in %s", path)
		}
		return nil
	})
	if len(logs.Bytes()) == 0 {
		t.Fatal("no log output at all: the check above proves nothing")
	}
}
