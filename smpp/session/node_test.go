package session

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/trunkline/trunkline/internal/peer"

	"github.com/trunkline/trunkline/smpp/pdu"
)

// Tests against node-smpp (npm smpp, pinned in test/node/package.json)
// run as a real, independent SMSC by test/node/smsc.js.

const (
	nodeSystemID = "trunkline"
	nodePassword = "secret"
)

// nodeSMSC is a running test/node/smsc.js.
type nodeSMSC struct {
	t      *testing.T
	cmd    *exec.Cmd
	addr   string
	lines  chan string
	stderr *bytes.Buffer
	once   sync.Once
	counts map[string]int
}

// startNodeSMSC starts smsc.js with env (SMSC_* variables, see the
// script) and waits for it to print its port. It skips the test when
// node or the npm packages are missing, unless TRUNKLINE_REQUIRE_PEERS
// asks for the real peers.
func startNodeSMSC(t *testing.T, env ...string) *nodeSMSC {
	t.Helper()
	node, dir := peer.Node(t, "smpp")

	cmd := exec.Command(node, "smsc.js")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SMSC_SYSTEM_ID="+nodeSystemID, "SMSC_PASSWORD="+nodePassword)
	cmd.Env = append(cmd.Env, env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	n := &nodeSMSC{t: t, cmd: cmd, lines: make(chan string, 4), stderr: new(bytes.Buffer)}
	cmd.Stderr = n.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			n.lines <- sc.Text()
		}
		close(n.lines)
	}()
	t.Cleanup(func() {
		// Only if the test did not stop it: kill our own child.
		if n.counts == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	var ready struct{ Port int }
	if err := json.Unmarshal([]byte(n.line()), &ready); err != nil || ready.Port == 0 {
		t.Fatalf("smsc.js did not report its port: %v; stderr: %s", err, n.stderr)
	}
	n.addr = "127.0.0.1:" + strconv.Itoa(ready.Port)
	return n
}

// line returns the script's next line of output.
func (n *nodeSMSC) line() string {
	n.t.Helper()
	select {
	case l, ok := <-n.lines:
		if !ok {
			n.t.Fatalf("smsc.js exited: %v; stderr: %s", n.cmd.Wait(), n.stderr)
		}
		return l
	case <-time.After(testTimeout):
		n.t.Fatalf("smsc.js said nothing in time; stderr: %s", n.stderr)
	}
	return ""
}

// stop sends SIGTERM and returns the counts the script prints.
func (n *nodeSMSC) stop() map[string]int {
	n.t.Helper()
	if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		n.t.Fatal(err)
	}
	var out struct{ Counts map[string]int }
	if err := json.Unmarshal([]byte(n.line()), &out); err != nil || out.Counts == nil {
		n.t.Fatalf("smsc.js counts: %v", err)
	}
	n.counts = out.Counts
	if err := n.cmd.Wait(); err != nil {
		n.t.Errorf("smsc.js: %v; stderr: %s", err, n.stderr)
	}
	return n.counts
}

func nodeClient(t *testing.T, n *nodeSMSC, opts ClientOptions) *Client {
	opts.SystemID, opts.Password = nodeSystemID, nodePassword
	return boundClient(t, n.addr, opts)
}

// receiptLog correlates delivery receipts with submits whatever id form
// each uses, and whichever arrives first.
type receiptLog struct {
	mu       sync.Mutex
	receipts []pdu.Receipt
	bad      []string
	arrived  chan struct{}
}

func (l *receiptLog) onDeliver(ctx context.Context, d *pdu.DeliverSM) pdu.Status {
	if !d.IsReceipt() {
		return pdu.ESME_RX_R_APPN
	}
	r, err := pdu.ParseReceipt(d.Message())
	tlvID, _ := d.TLVs.ReceiptedMessageID()
	state, _ := d.TLVs.MessageState()
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case err != nil:
		l.bad = append(l.bad, err.Error())
	case r.Stat != "DELIVRD" || r.Dlvrd != 1 || state != pdu.StateDelivered:
		l.bad = append(l.bad, fmt.Sprintf("receipt %+v state %v", r, state))
	case tlvID != r.ID:
		l.bad = append(l.bad, fmt.Sprintf("receipted_message_id %q, text id %q", tlvID, r.ID))
	default:
		l.receipts = append(l.receipts, r)
	}
	l.arrived <- struct{}{}
	return pdu.ESME_ROK
}

func TestNodeSMSCThousandSubmitsAndReceipts(t *testing.T) {
	// Hex ids in submit_sm_resp, decimal in receipts: the correlation
	// real carriers force on us.
	n := startNodeSMSC(t, "SMSC_ID_FORMAT=hex", "SMSC_RECEIPT_ID_FORMAT=decimal")
	const total = 1000
	receipts := &receiptLog{arrived: make(chan struct{}, total)}
	c := nodeClient(t, n, ClientOptions{Window: 10, OnDeliver: receipts.onDeliver})

	ids := make([]string, total)
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for i := range jobs {
				resp, err := c.Submit(testCtx(t), submitTo("1415555"+strconv.Itoa(1000+i)))
				if err != nil {
					t.Errorf("submit %d: %v", i, err)
					continue
				}
				ids[i] = resp.MessageID
			}
		})
	}
	for i := range total {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	deadline := time.NewTimer(testTimeout)
	defer deadline.Stop()
	for i := range total {
		select {
		case <-receipts.arrived:
		case <-deadline.C:
			t.Fatalf("%d of %d receipts arrived", i, total)
		}
	}

	// Every receipt names exactly one submitted message, and every message
	// gets exactly one receipt.
	byKey := map[string]int{}
	for i, id := range ids {
		if id == "" {
			t.Fatalf("submit %d got an empty id", i)
		}
		k := pdu.MessageIDKey(id)
		if j, dup := byKey[k]; dup && j != i {
			t.Fatalf("ids %q and %q share key %q", ids[j], id, k)
		}
		byKey[k] = i
	}
	receipts.mu.Lock()
	defer receipts.mu.Unlock()
	if len(receipts.bad) > 0 {
		t.Fatalf("%d bad receipts, first: %s", len(receipts.bad), receipts.bad[0])
	}
	seen := make([]int, total)
	for _, r := range receipts.receipts {
		matches := map[int]bool{}
		for _, k := range pdu.MessageIDKeys(r.ID) {
			if i, ok := byKey[k]; ok {
				matches[i] = true
			}
		}
		if len(matches) != 1 {
			t.Fatalf("receipt id %q matches %d messages", r.ID, len(matches))
		}
		for i := range matches {
			seen[i]++
		}
	}
	for i, k := range seen {
		if k != 1 {
			t.Errorf("message %d (%s) got %d receipts", i, ids[i], k)
		}
	}

	st := c.Stats()
	if st.Resps[pdu.ESME_ROK] != total || st.Delivers != total || st.Reconnects != 0 {
		t.Errorf("client stats %+v", st)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	counts := n.stop()
	if counts["submits"] != total || counts["accepted"] != total || counts["receipts_acked"] != total || counts["binds"] != 1 || counts["unbinds"] != 1 {
		t.Errorf("SMSC counts %v", counts)
	}
}

func TestNodeSMSCThrottling(t *testing.T) {
	const total, throttled = 200, 30
	n := startNodeSMSC(t, "SMSC_THROTTLE_FIRST="+strconv.Itoa(throttled), "SMSC_RECEIPTS=0")
	c := nodeClient(t, n, ClientOptions{Window: 10, ThrottlePause: time.Millisecond, ThrottleCooldown: 10 * time.Millisecond})
	var wg sync.WaitGroup
	for i := range total {
		wg.Go(func() {
			if _, err := c.Submit(testCtx(t), submitTo(strconv.Itoa(i))); err != nil {
				t.Errorf("submit %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	st := c.Stats()
	if st.Throttled != throttled || st.Resps[pdu.ESME_ROK] != total || st.SlowDowns == 0 {
		t.Errorf("client stats %+v", st)
	}
	counts := n.stop()
	if counts["accepted"] != total || counts["throttled"] != throttled {
		t.Errorf("SMSC counts %v", counts)
	}
}

func TestNodeSMSCSilentTimesOutAndReconnects(t *testing.T) {
	n := startNodeSMSC(t, "SMSC_SILENT=1")
	states := newStateLog()
	c := nodeClient(t, n, ClientOptions{ResponseTimeout: 100 * time.Millisecond, MaxTimeouts: 3, OnState: states.record})
	for i := range 3 {
		if _, err := c.Submit(testCtx(t), submitTo("1")); !errors.Is(err, ErrTimeout) {
			t.Fatalf("submit %d: %v, want ErrTimeout", i, err)
		}
	}
	states.waitFor(t, StateBound, 2)
	counts := n.stop()
	if counts["unanswered"] != 3 || counts["binds"] < 2 {
		t.Errorf("SMSC counts %v", counts)
	}
}

func TestNodeSMSCClosingConnectionsLoseNothing(t *testing.T) {
	// The SMSC drops each connection at its 21st submit. Callers see
	// ErrConnectionLost for what was outstanding and send it again, so
	// every message ends up accepted — some possibly twice, which is the
	// "outcome unknown" of ErrConnectionLost.
	const total = 100
	n := startNodeSMSC(t, "SMSC_CLOSE_AFTER=20", "SMSC_RECEIPTS=0")
	c := nodeClient(t, n, ClientOptions{Window: 10})
	var wg sync.WaitGroup
	var mu sync.Mutex
	lost := 0
	for i := range total {
		wg.Go(func() {
			// Bounded in count and time; on a loaded machine an unlucky caller can lose
			// the race between WaitBound and the next drop many times.
			giveUp := time.Now().Add(30 * time.Second)
			for attempt := 0; ; attempt++ {
				if attempt == 100000 || time.Now().After(giveUp) {
					t.Errorf("message %d: gave up after %d attempts", i, attempt)
					return
				}
				if err := c.WaitBound(testCtx(t)); err != nil {
					t.Error(err)
					return
				}
				_, err := c.Submit(testCtx(t), submitTo(strconv.Itoa(i)))
				if err == nil {
					return
				}
				if !Retryable(err) {
					t.Errorf("message %d: %v", i, err)
					return
				}
				mu.Lock()
				lost++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	st := c.Stats()
	counts := n.stop()
	if st.Resps[pdu.ESME_ROK] != total || st.Reconnects < 4 || lost == 0 {
		t.Errorf("client stats %+v, %d retried", st, lost)
	}
	if counts["accepted"] < total || counts["closes"] < 4 {
		t.Errorf("SMSC counts %v", counts)
	}
	t.Logf("%d submits retried after lost connections; SMSC accepted %d for %d messages", lost, counts["accepted"], total)
}
