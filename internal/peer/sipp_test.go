package peer

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trunkline/trunkline/audio"
	"github.com/trunkline/trunkline/internal/rtpobs"
)

func sippCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// TestSIPpBuiltin: SIPp's own UAC places 3 calls to SIPp's own UAS.
func TestSIPpBuiltin(t *testing.T) {
	t.Parallel()
	ctx := sippCtx(t, 60*time.Second)
	uas, err := StartSIPp(ctx, t, SIPpOptions{Scenario: "uas", Calls: 3, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	uac, err := RunSIPp(ctx, t, SIPpOptions{
		Scenario: "uac", Remote: uas.Addr(), Service: "1000",
		Calls: 3, Rate: 20, Timeout: 20 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if uac.ExitCode != 0 || uac.Created != 3 || uac.Successful != 3 || uac.Failed != 0 || uac.Current != 0 {
		t.Errorf("uac: %s", uac)
	}
	if uac.Peak < 1 || uac.Peak > 3 {
		t.Errorf("uac peak %d", uac.Peak)
	}
	// The built-in UAS ends each call with 4 s of timewait, then exits:
	// its 3 calls (-m) are done.
	res, err := uas.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 0 || res.Created != 3 || res.Successful != 3 || res.Failed != 0 || res.Killed {
		t.Errorf("uas: %s", res)
	}
	if res.Stats["IncomingCall(C)"] != "3" {
		t.Errorf("uas incoming calls %q", res.Stats["IncomingCall(C)"])
	}
}

// TestSIPpTerminate: Terminate ends a SIPp with calls open, in a call or
// in its timewait (SIPp 3.6.1 then ignores "Q" and is killed), and so does
// the end of the context.
func TestSIPpTerminate(t *testing.T) {
	t.Parallel()
	t.Run("in a call", func(t *testing.T) {
		t.Parallel()
		SIPpPcapPlay(t)
		ctx := sippCtx(t, 60*time.Second)
		obs := rtpobs.Listen(t)
		uas, err := StartSIPp(ctx, t, SIPpOptions{
			Scenario: SIPpScenario(t, "uas_answer.xml"), Timeout: 30 * time.Second,
			Keys: map[string]string{"obs_ip": obs.IP(), "obs_port": port(obs.Port())},
		})
		if err != nil {
			t.Fatal(err)
		}
		_, err = StartSIPp(ctx, t, SIPpOptions{
			Scenario: SIPpScenario(t, "uac_ivr.xml"), Remote: uas.Addr(), Calls: 1, Timeout: 30 * time.Second,
			Keys: map[string]string{"obs_ip": obs.IP(), "obs_port": port(obs.Port()), "pre_dtmf_ms": "0", "hold_ms": "20000"},
		})
		if err != nil {
			t.Fatal(err)
		}
		// The first digit arrives once the call is up.
		if err := obs.WaitPackets(sippCtx(t, 10*time.Second), 1); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := uas.Terminate(); err != nil {
			t.Fatal(err)
		}
		res, err := uas.Wait()
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > sippKillDelay+10*time.Second {
			t.Errorf("Terminate took %v", d)
		}
		if !res.Killed && (res.Created != 1 || res.Successful != 0) {
			t.Errorf("uas: %s", res)
		}
		t.Logf("uas: %s", res)
	})
	t.Run("in timewait", func(t *testing.T) {
		t.Parallel()
		ctx := sippCtx(t, 60*time.Second)
		uas, err := StartSIPp(ctx, t, SIPpOptions{Scenario: "uas", Timeout: 30 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		res, err := RunSIPp(ctx, t, SIPpOptions{Scenario: "uac", Remote: uas.Addr(), Calls: 1, Timeout: 30 * time.Second})
		if err != nil || res.Successful != 1 {
			t.Fatalf("uac: %v %s", err, res)
		}
		start := time.Now()
		if err := uas.Terminate(); err != nil {
			t.Fatal(err)
		}
		res, err = uas.Wait()
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > sippKillDelay+10*time.Second {
			t.Errorf("Terminate took %v", d)
		}
		t.Logf("uas: %s", res)
	})
	t.Run("context", func(t *testing.T) {
		t.Parallel()
		uas, err := StartSIPp(t.Context(), t, SIPpOptions{Scenario: "uas", Timeout: 30 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
		defer cancel()
		start := time.Now()
		// The caller holds for 20 s; the context ends it first.
		res, err := RunSIPp(ctx, t, SIPpOptions{
			Scenario: SIPpScenario(t, "uac_nosdp.xml"), Remote: uas.Addr(), Calls: 1, Timeout: 30 * time.Second,
			Keys: map[string]string{"hold_ms": "20000"},
		})
		if !errors.Is(err, context.DeadlineExceeded) || res == nil {
			t.Errorf("got %v, %s", err, res)
		}
		if d := time.Since(start); d > sippKillDelay+10*time.Second {
			t.Errorf("took %v", d)
		}
		t.Logf("uac: %v", err)
	})
}

// TestSIPpFailedCalls: calls to a port where nobody answers fail, and
// the result says how.
func TestSIPpFailedCalls(t *testing.T) {
	t.Parallel()
	sink := udpSink(t)
	res, err := RunSIPp(sippCtx(t, 30*time.Second), t, SIPpOptions{
		Scenario: "uac", Remote: sink, Calls: 1, RecvTimeout: 300 * time.Millisecond,
		Timeout: 10 * time.Second, Args: []string{"-max_invite_retrans", "1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 1 || res.Failed != 1 || res.Successful != 0 || len(res.Failures) == 0 {
		t.Errorf("%s", res)
	}
}

// TestSIPpPortTaken: a fixed port in use is a start error, not retried.
func TestSIPpPortTaken(t *testing.T) {
	t.Parallel()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	port := c.LocalAddr().(*net.UDPAddr).Port
	_, err = StartSIPp(sippCtx(t, 30*time.Second), t, SIPpOptions{Scenario: "uas", LocalPort: port, Calls: 1, Timeout: 5 * time.Second})
	var se *SIPpError
	if !errors.As(err, &se) || se.ExitCode != 254 || !strings.Contains(err.Error(), "Unable to bind main socket") {
		t.Fatalf("got %v", err)
	}
}

// TestSIPpOutsideLoopback: the runner calls 127.0.0.0/8 only.
func TestSIPpOutsideLoopback(t *testing.T) {
	for _, o := range []SIPpOptions{
		{Scenario: "uac", Remote: "192.0.2.1:5060"},
		{Scenario: "uac", Remote: "localhost:5060"},
		{Scenario: "uas", LocalIP: "0.0.0.0"},
	} {
		if _, err := StartSIPp(t.Context(), t, o); err == nil || !strings.Contains(err.Error(), "127.0.0.0/8") {
			t.Errorf("%+v: %v", o, err)
		}
	}
}

// TestSIPpScenariosLoad checks every scenario in test/sipp: well-formed
// XML; a header comment that lists exactly the [keys] it uses, each with
// an example value; and SIPp loads it with those keys and gets ready. (A
// scenario that does not load makes SIPp exit 1 before it binds.)
func TestSIPpScenariosLoad(t *testing.T) {
	SIPp(t)
	files, err := filepath.Glob(filepath.Join(repoRoot(t), "test", "sipp", "*.xml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	tone := pcmuFile(t, 200)
	sink := udpSink(t)
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".xml")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := wellFormed(b); err != nil {
				t.Fatalf("not well-formed XML: %v", err)
			}
			keys, err := documentedKeys(b)
			if err != nil {
				t.Fatal(err)
			}
			used := usedKeys(b)
			for k := range used {
				if _, ok := keys[k]; !ok {
					t.Errorf("[%s] is used but not listed in the header's Keys", k)
				}
			}
			for k, v := range keys {
				if !used[k] {
					t.Errorf("key %s is listed but not used", k)
				}
				if strings.HasSuffix(k, "_stream") {
					keys[k] = tone + ",-1,0" // rtp_stream reads the file when loading
				} else if v == "" {
					t.Errorf("key %s has no example value", k)
				}
			}
			if !strings.Contains(string(b), "<scenario name=\""+name+"\"") {
				t.Errorf("scenario name is not %q", name)
			}
			o := SIPpOptions{Scenario: f, Keys: keys, Calls: 1, Timeout: 10 * time.Second, Service: "100"}
			if !strings.HasPrefix(name, "uas") {
				o.Remote = sink
			}
			r, err := StartSIPp(sippCtx(t, 30*time.Second), t, o)
			if err != nil {
				t.Fatalf("SIPp did not load it: %v", err)
			}
			r.Terminate()
			if res, err := r.Wait(); err != nil || res.ExitCode < 0 {
				t.Errorf("after SIGTERM: %v, %s", err, res)
			}
		})
	}

	// And the check has teeth: a key left out is a load error.
	t.Run("missing key", func(t *testing.T) {
		t.Parallel()
		_, err := StartSIPp(sippCtx(t, 30*time.Second), t, SIPpOptions{
			Scenario: SIPpScenario(t, "uac_ivr.xml"), Remote: sink, Calls: 1, Timeout: 10 * time.Second,
			Keys: map[string]string{"obs_ip": "127.0.0.1", "obs_port": "9", "pre_dtmf_ms": "0"},
		})
		var se *SIPpError
		if !errors.As(err, &se) || se.ExitCode != 1 || !strings.Contains(err.Error(), "Unsupported keyword 'hold_ms'") {
			t.Errorf("got %v", err)
		}
	})
}

func wellFormed(b []byte) error {
	d := xml.NewDecoder(strings.NewReader(string(b)))
	d.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil } // ISO-8859-1, ASCII in fact
	for {
		if _, err := d.Token(); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
	}
}

var (
	keyLineRE = regexp.MustCompile(`^\s+([A-Za-z_][A-Za-z0-9_]*)=(\S*)`)
	keyUseRE  = regexp.MustCompile(`\[([A-Za-z_][A-Za-z0-9_]*)\]`)
)

// documentedKeys reads the "Keys (...):" list of the header comment:
// lines "  name=example  description".
func documentedKeys(b []byte) (map[string]string, error) {
	s := string(b)
	start, end := strings.Index(s, "<!--"), strings.Index(s, "-->")
	if start < 0 || end < start {
		return nil, errors.New("no header comment")
	}
	keys := map[string]string{}
	in := false
	for line := range strings.Lines(s[start:end]) {
		switch {
		case strings.HasPrefix(strings.TrimSpace(line), "Keys: none"):
			return keys, nil
		case strings.HasPrefix(strings.TrimSpace(line), "Keys ("):
			in = true
		case in:
			m := keyLineRE.FindStringSubmatch(line)
			if m == nil {
				return keys, nil
			}
			keys[m[1]] = m[2]
		}
	}
	if !in {
		return nil, errors.New(`the header comment has no "Keys (...):" list or "Keys: none"`)
	}
	return keys, nil
}

// sippKeywords are SIPp 3.6.1's own [keywords] (src/message.cpp).
var sippKeywords = strings.Fields(`remote_ip remote_host remote_port transport local_ip local_ip_type
	local_port server_ip media_ip auto_media_port rtpstream_audio_port rtpstream_video_port media_port
	media_ip_type call_number dynamic_id call_id cseq pid service branch msg_index next_url len
	peer_tag_param last_Request_URI last_cseq_number last_message routes tdmmap clock_tick users userid
	timestamp date sipp_version authentication`)

// usedKeys returns the [names] a scenario uses outside its header
// comment that are not SIPp keywords.
func usedKeys(b []byte) map[string]bool {
	s := string(b)
	if end := strings.Index(s, "-->"); end >= 0 {
		s = s[end:]
	}
	used := map[string]bool{}
	for _, m := range keyUseRE.FindAllStringSubmatch(s, -1) {
		k := m[1]
		if slices.Contains(sippKeywords, k) || strings.HasPrefix(k, "field") || strings.HasPrefix(k, "last_") {
			continue
		}
		used[k] = true
	}
	return used
}

// udpSink returns the address of a UDP socket that reads and drops what
// it gets, for calls that must go nowhere without ICMP errors.
func udpSink(t testing.TB) string {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			if _, _, err := c.ReadFromUDP(buf); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { c.Close(); <-done })
	return c.LocalAddr().String()
}

// pcmuFile writes ms of a 440 Hz tone at -12 dBov as raw PCMU for
// rtp_stream.
func pcmuFile(t testing.TB, ms int) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tone.pcmu")
	if err := os.WriteFile(p, audio.EncodeMulaw(nil, audio.Tone(440, ms, -12)), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func port(n int) string { return strconv.Itoa(n) }

// TestSIPpIVRDigits: uac_ivr.xml presses 1, 2, 3, 4 from SIPp's pcaps; a
// SIPp UAS (uas_answer.xml) names an observer as its media address, so
// the digits arrive there, from the caller's media port.
func TestSIPpIVRDigits(t *testing.T) {
	t.Parallel()
	SIPpPcapPlay(t)
	ctx := sippCtx(t, 60*time.Second)
	obs := rtpobs.Listen(t)
	uas, err := StartSIPp(ctx, t, SIPpOptions{
		Scenario: SIPpScenario(t, "uas_answer.xml"), Calls: 1, Timeout: 30 * time.Second,
		Keys: map[string]string{"obs_ip": obs.IP(), "obs_port": port(obs.Port())},
	})
	if err != nil {
		t.Fatal(err)
	}
	sink := rtpobs.Listen(t) // the caller's own media address: nobody sends there
	uac, err := RunSIPp(ctx, t, SIPpOptions{
		Scenario: SIPpScenario(t, "uac_ivr.xml"), Remote: uas.Addr(), Service: "ivr",
		Calls: 1, Timeout: 30 * time.Second, TraceMessages: true,
		Keys: map[string]string{"obs_ip": sink.IP(), "obs_port": port(sink.Port()), "pre_dtmf_ms": "100", "hold_ms": "300"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if uac.ExitCode != 0 || uac.Successful != 1 {
		t.Fatalf("uac: %s", uac)
	}
	if res, err := uas.Wait(); err != nil || res.Successful != 1 {
		t.Errorf("uas: %v %s", err, res)
	}
	// The last end packets may still be in flight when BYE is answered.
	if err := obs.Wait(sippCtx(t, 10*time.Second), func() bool { return obs.Packets() >= 40 }); err != nil {
		t.Fatalf("%v: %d packets", err, obs.Packets())
	}
	if got := obs.Digits(); got != "1234" {
		t.Errorf("digits %q", got)
	}
	for _, e := range obs.Events() {
		if !e.Ended || e.Duration != 2240 {
			t.Errorf("event %+v", e)
		}
	}
	for _, p := range obs.Snapshot() {
		if p.From.Port != uac.MediaPort {
			t.Errorf("packet from %v, want the caller's media port %d", p.From, uac.MediaPort)
			break
		}
	}
	if sink.Packets() != 0 {
		t.Errorf("%d packets at the caller's offer address", sink.Packets())
	}
	msgs, err := os.ReadFile(uac.MessageFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(msgs), "m=audio "+port(sink.Port())+" RTP/AVP 0 101") {
		t.Errorf("the offer does not name the observer:\n%s", msgs)
	}
}

// TestSIPpDigitsKey: uac_digits.xml presses the keys given as a key, with
// SIPp's play_dtmf on payload type 96.
func TestSIPpDigitsKey(t *testing.T) {
	t.Parallel()
	SIPpPcapPlay(t)
	ctx := sippCtx(t, 60*time.Second)
	obs := rtpobs.Listen(t)
	uas, err := StartSIPp(ctx, t, SIPpOptions{
		Scenario: SIPpScenario(t, "uas_answer.xml"), Calls: 1, Timeout: 30 * time.Second,
		Keys: map[string]string{"obs_ip": obs.IP(), "obs_port": port(obs.Port())},
	})
	if err != nil {
		t.Fatal(err)
	}
	uac, err := RunSIPp(ctx, t, SIPpOptions{
		Scenario: SIPpScenario(t, "uac_digits.xml"), Remote: uas.Addr(), Service: "ivr",
		Calls: 1, Timeout: 30 * time.Second,
		Keys: map[string]string{"obs_ip": obs.IP(), "obs_port": port(obs.Port()),
			"pre_dtmf_ms": "0", "digits": "42#,60", "hold_ms": "1200"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if uac.ExitCode != 0 || uac.Successful != 1 {
		t.Fatalf("uac: %s", uac)
	}
	// 20 warm-up packets, then per digit 3 updates (60 ms) and 3 ends.
	if err := obs.Wait(sippCtx(t, 10*time.Second), func() bool { return obs.Packets() >= 20+3*6 }); err != nil {
		t.Fatalf("%v: %d packets %v", err, obs.Packets(), obs.PayloadTypes())
	}
	if got := obs.DigitsPT(96); got != "42#" {
		t.Errorf("digits %q", got)
	}
	if pts := obs.PayloadTypes(); pts[97] != 20 || pts[96] != 18 {
		t.Errorf("payload types %v", pts)
	}
}

// TestSIPpRecordAndPlay: uac_record.xml speaks (rtp_stream), presses #,
// and hangs up; uas_play.xml plays a tone and hangs up on uac_record.xml
// waiting for the BYE. Observers hear both.
func TestSIPpRecordAndPlay(t *testing.T) {
	t.Parallel()
	SIPpPcapPlay(t)
	ctx := sippCtx(t, 60*time.Second)
	tone := pcmuFile(t, 1000)

	t.Run("record", func(t *testing.T) {
		t.Parallel()
		obs := rtpobs.Listen(t)
		uas, err := StartSIPp(ctx, t, SIPpOptions{
			Scenario: SIPpScenario(t, "uas_answer.xml"), Calls: 1, Timeout: 30 * time.Second,
			Keys: map[string]string{"obs_ip": obs.IP(), "obs_port": port(obs.Port())},
		})
		if err != nil {
			t.Fatal(err)
		}
		uac, err := RunSIPp(ctx, t, SIPpOptions{
			Scenario: SIPpScenario(t, "uac_record.xml"), Remote: uas.Addr(), Service: "record",
			Calls: 1, Timeout: 30 * time.Second,
			Keys: map[string]string{"obs_ip": obs.IP(), "obs_port": port(obs.Port()), "pre_audio_ms": "0",
				"caller_stream": tone + ",-1,0", "audio_ms": "600", "pound": "1", "hold_ms": "300"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if uac.ExitCode != 0 || uac.Successful != 1 {
			t.Fatalf("uac: %s", uac)
		}
		if err := obs.Wait(sippCtx(t, 10*time.Second), func() bool { return obs.PayloadTypes()[rtpobs.TelephoneEvent] >= 10 }); err != nil {
			t.Fatalf("%v: %v", err, obs.PayloadTypes())
		}
		pts := obs.PayloadTypes()
		// 600 ms at 20 ms a packet (30); the pause may run long on a busy machine,
		// and SIPp's own pacing drops a few packets there (25 seen twice on this
		// 2-core machine): the level and the digit below check what was played.
		if n := pts[rtpobs.PCMU]; n < 20 || n > 150 {
			t.Errorf("%d PCMU packets for 600 ms", n)
		}
		if l := obs.Level(); math.Abs(l-(-12)) > 1 {
			t.Errorf("level %.1f dBov, want about -12", l)
		}
		if got := obs.Digits(); got != "#" {
			t.Errorf("digits %q", got)
		}
		for _, p := range obs.Snapshot() {
			if p.From.Port != uac.MediaPort {
				t.Errorf("packet pt %d from %v, want the caller's media port %d", p.PayloadType, p.From, uac.MediaPort)
				break
			}
		}
	})

	t.Run("play", func(t *testing.T) {
		t.Parallel()
		uas, err := StartSIPp(ctx, t, SIPpOptions{
			Scenario: SIPpScenario(t, "uas_play.xml"), Calls: 1, Timeout: 30 * time.Second,
			Keys: map[string]string{"play_stream": tone + ",-1,0", "play_ms": "1000"},
		})
		if err != nil {
			t.Fatal(err)
		}
		obs := rtpobs.Listen(t)
		uac, err := RunSIPp(ctx, t, SIPpOptions{
			Scenario: SIPpScenario(t, "uac_record.xml"), Remote: uas.Addr(), Service: "play",
			Calls: 1, Timeout: 30 * time.Second,
			Keys: map[string]string{"obs_ip": obs.IP(), "obs_port": port(obs.Port()), "pre_audio_ms": "0",
				"caller_stream": tone + ",-1,0", "audio_ms": "100", "pound": "0", "hold_ms": "0"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if uac.ExitCode != 0 || uac.Successful != 1 {
			t.Fatalf("uac (waits for the BYE): %s", uac)
		}
		res, err := uas.Wait()
		if err != nil || res.Successful != 1 {
			t.Fatalf("uas: %v %s", err, res)
		}
		if n := obs.PayloadTypes()[rtpobs.PCMU]; n < 45 || n > 200 {
			t.Errorf("%d PCMU packets for 1 s", n)
		}
		if l := obs.Level(); math.Abs(l-(-12)) > 1 {
			t.Errorf("level %.1f dBov, want about -12", l)
		}
		if f := obs.SpeechFraction(-30); f < 0.9 {
			t.Errorf("speech fraction %.2f", f)
		}
		for _, p := range obs.Snapshot() {
			if p.From.Port != uas.MediaPort {
				t.Errorf("packet from %v, want the UAS's media port %d", p.From, uas.MediaPort)
				break
			}
		}
	})
}

// TestSIPpBenchPair: the benchmark's caller against the benchmark's
// baseline server.
func TestSIPpBenchPair(t *testing.T) {
	t.Parallel()
	ctx := sippCtx(t, 60*time.Second)
	uas, err := StartSIPp(ctx, t, SIPpOptions{
		Scenario: SIPpScenario(t, "uas_play.xml"), Calls: 4, Timeout: 30 * time.Second,
		Keys: map[string]string{"play_stream": pcmuFile(t, 3000) + ",1,0", "play_ms": "300"},
	})
	if err != nil {
		t.Fatal(err)
	}
	uac, err := RunSIPp(ctx, t, SIPpOptions{
		Scenario: SIPpScenario(t, "uac_play_hangup.xml"), Remote: uas.Addr(), Service: "bench",
		Calls: 4, Rate: 20, Timeout: 30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if uac.ExitCode != 0 || uac.Successful != 4 || uac.Peak < 1 {
		t.Errorf("uac: %s", uac)
	}
	if res, err := uas.Wait(); err != nil || res.Successful != 4 || res.ExitCode != 0 {
		t.Errorf("uas: %v %s", err, res)
	}
}
