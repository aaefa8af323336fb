package peer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Baresip is the baresip softphone (Debian `baresip`) running headless: no audio
// device (its microphone and speaker an audio bridge to nowhere),
// driven through its ctrl_tcp module, whose events (REGISTER_OK, CALL_ESTABLISHED,
// CALL_CLOSED, …) the test reads.
type Baresip struct {
	t      testing.TB
	conn   net.Conn
	events chan BaresipEvent
	log    *syncBuffer
	mu     sync.Mutex
	token  int
	resps  map[string]chan baresipResponse
}

// BaresipEvent is one event baresip reported.
type BaresipEvent struct {
	Type  string `json:"type"`
	Class string `json:"class"`
	Param string `json:"param"`
	AOR   string `json:"accountaor"`
	Peer  string `json:"peeruri"`
}

type baresipResponse struct {
	OK   bool   `json:"ok"`
	Data string `json:"data"`
}

// BaresipOptions configure the phone.
type BaresipOptions struct {
	// CAFile is the CA the phone trusts for SIP over TLS (sip_cafile).
	CAFile string
	// Trace makes baresip print every SIP message it sends and receives (-s).
	Trace bool
}

// StartBaresip starts baresip with a fresh configuration directory and no account
// (add one with Command("uanew", …)); everything is stopped by t.Cleanup. The phone has
// no TLS certificate: like a phone behind NAT it can open TLS connections but accepts
// none.
func StartBaresip(t testing.TB, o BaresipOptions) *Baresip {
	t.Helper()
	bin := Program(t, "baresip")
	mods := "/usr/lib/baresip/modules"
	for _, m := range []string{"ctrl_tcp", "menu", "srtp", "g711", "aubridge", "account"} {
		if _, err := os.Stat(filepath.Join(mods, m+".so")); err != nil {
			Missing(t, "baresip's "+m+" module is not installed")
		}
	}
	// The ports are picked free, then bound by baresip: another program may take one
	// in between, and baresip then exits at once. Try again with new ports (bounded).
	for attempt := 1; ; attempt++ {
		b, out, err := startBaresipOnce(t, bin, mods, o)
		if err == nil {
			t.Cleanup(func() { b.conn.Close() })
			go b.read()
			return b
		}
		if attempt == 3 {
			t.Fatalf("baresip: %v\n%s", err, out)
		}
		t.Logf("baresip: %v; trying other ports", err)
	}
}

// startBaresipOnce starts one baresip process and connects to its control port.
func startBaresipOnce(t testing.TB, bin, mods string, o BaresipOptions) (*Baresip, string, error) {
	dir := t.TempDir()
	sipPort, ctrlPort := freeTCPPort(t), freeTCPPort(t)
	cfg := strings.Join([]string{
		"poll_method epoll",
		"sip_listen 127.0.0.1:" + strconv.Itoa(sipPort),
		"sip_cafile " + o.CAFile,
		"audio_player aubridge,nobody",
		"audio_alert aubridge,nobody",
		"audio_source aubridge,nobody",
		"module_path " + mods,
		"module g711.so",
		"module srtp.so",
		"module aubridge.so",
		"module_tmp account.so",
		"module_app menu.so",
		"module_app ctrl_tcp.so",
		"ctrl_tcp_listen 127.0.0.1:" + strconv.Itoa(ctrlPort),
		"",
	}, "\n")
	if err := os.WriteFile(filepath.Join(dir, "config"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "accounts"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	args := []string{"-f", dir}
	if o.Trace {
		args = append(args, "-s")
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	log := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("baresip: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cancel()
		<-exited
		if t.Failed() {
			t.Logf("baresip output:\n%s", log.String())
		}
	})
	b := &Baresip{t: t, events: make(chan BaresipEvent, 100), log: log, resps: map[string]chan baresipResponse{}}
	// Its control port listens once baresip says it is ready (bounded); a port another
	// program holds makes baresip fail to start instead.
	addr := "127.0.0.1:" + strconv.Itoa(ctrlPort)
	for try := 0; ; try++ {
		select {
		case <-exited:
			return nil, log.String(), errors.New("baresip exited at start")
		default:
		}
		if strings.Contains(log.String(), "baresip is ready") {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				b.conn = c
				return b, "", nil
			}
		}
		if try >= 100 {
			cancel()
			return nil, log.String(), errors.New("baresip's ctrl_tcp did not accept within 10 s")
		}
		select {
		case <-exited:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// read parses ctrl_tcp's netstrings ("len:json,") into events and responses.
func (b *Baresip) read() {
	defer close(b.events)
	r := bufio.NewReader(b.conn)
	for {
		n, err := r.ReadString(':')
		if err != nil {
			return
		}
		size, err := strconv.Atoi(n[:len(n)-1])
		if err != nil || size < 0 || size > 1<<20 {
			return
		}
		msg := make([]byte, size+1)
		if _, err := io.ReadFull(r, msg); err != nil || msg[size] != ',' {
			return
		}
		var m struct {
			Event    bool   `json:"event"`
			Response bool   `json:"response"`
			Token    string `json:"token"`
		}
		if json.Unmarshal(msg[:size], &m) != nil {
			continue
		}
		switch {
		case m.Event:
			var e BaresipEvent
			json.Unmarshal(msg[:size], &e)
			select {
			case b.events <- e:
			default:
			}
		case m.Response:
			var res baresipResponse
			json.Unmarshal(msg[:size], &res)
			b.mu.Lock()
			ch := b.resps[m.Token]
			delete(b.resps, m.Token)
			b.mu.Unlock()
			if ch != nil {
				ch <- res
			}
		}
	}
}

// Command runs one of baresip's commands (as typed at its console: "dial", "uanew",
// "hangup", …) and returns its answer.
func (b *Baresip) Command(name, params string) (string, error) {
	b.mu.Lock()
	b.token++
	tok := strconv.Itoa(b.token)
	ch := make(chan baresipResponse, 1)
	b.resps[tok] = ch
	b.mu.Unlock()
	body, _ := json.Marshal(map[string]string{"command": name, "params": params, "token": tok})
	if _, err := fmt.Fprintf(b.conn, "%d:%s,", len(body), body); err != nil {
		return "", err
	}
	select {
	case res := <-ch:
		if !res.OK {
			return res.Data, fmt.Errorf("baresip %s: %s", name, res.Data)
		}
		return res.Data, nil
	case <-time.After(10 * time.Second):
		return "", fmt.Errorf("baresip %s: no answer within 10 s", name)
	}
}

// WaitEvent returns the first event of one of the types within d; other events are
// passed over. ok is false on timeout.
func (b *Baresip) WaitEvent(d time.Duration, types ...string) (BaresipEvent, bool) {
	deadline := time.After(d)
	for {
		select {
		case e, open := <-b.events:
			if !open {
				return BaresipEvent{}, false
			}
			for _, ty := range types {
				if e.Type == ty {
					return e, true
				}
			}
		case <-deadline:
			return BaresipEvent{}, false
		}
	}
}

// Output is what baresip printed so far.
func (b *Baresip) Output() string { return b.log.String() }

// freeTCPPort picks a loopback port for a program that needs one named (baresip cannot
// report the one it chose): listen on port 0, note it, close.
func freeTCPPort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}
