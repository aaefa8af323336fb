package peer

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// SIPp (Debian sip-tester 3.6.1) as a test peer. Facts this runner relies
// on, checked against that build and its source (tag v3.6.1):
//   - Ports: -p binds the SIP socket, -mp binds the media socket on that
//     port and a video socket on port+2, -cp binds the remote-control
//     socket (on -ci; without -ci it would listen on every interface, and
//     without -cp it would take the first free of 8888-8947). A port in
//     use is a fatal error: exit code 254 and "Address already in use".
//   - Readiness: SIPp binds its SIP, media, then control socket, and only
//     then places or takes calls; the runner waits until the process holds
//     the control socket. (The first row of the statistics file is no
//     signal: SIPp writes it on a fatal exit too, a bind error included.)
//   - Exit codes: 0 every call succeeded; 1 some call failed, and also a
//     scenario that does not load (stderr says why: "Unsupported keyword
//     'x' in xml scenario file", "Unknown element ...", "Cannot
//     read/cache rtpstream file ..."); 97 the global timeout ended a run
//     that completed no call; 254 a port could not be bound; 255 a fatal
//     error, including -timeout_error's "... timed out after ...".
//   - Stopping: the control socket takes the keys of SIPp's screen as UDP
//     datagrams: "q" stops placing calls and waits for the open ones, "Q"
//     aborts them and exits; either way SIPp writes its final statistics
//     and screen, and the exit code counts the calls. (SIGUSR1 is "q".)
//     Two bugs: once -m calls have been created SIPp resets its quit flag
//     on every loop, so "q" and "Q" do nothing and it exits when its open
//     calls end; and after "Q" with any call open (in a call, in a
//     <timewait>) it aborts them but never exits: "Q" ends only an idle
//     SIPp. Hence Terminate kills SIPp if it has not exited 2 s after "Q";
//     the counters are then those of its last per-second row (-fd 1).
//     SIGTERM and SIGINT run the exit path inside the signal handler,
//     which is not async-signal-safe: here it sometimes hung, or died in a
//     glibc malloc assertion. The runner does not use them.
//   - -timeout has a resolution of one second (alarm(2)).
//   - -key NAME VALUE defines [NAME] wherever SIPp substitutes keywords:
//     messages, <assignstr value>, <exec play_dtmf>; the attributes
//     play_pcap_audio and rtp_stream take a key only as their whole value
//     ("[NAME]"), and a <pause> cannot take one (scenarios copy it into a
//     variable with assignstr + todouble and use <pause variable>). A
//     [NAME] the scenario uses and the command line does not define is a
//     load error. SIPp's own keywords ([service], [media_port], ...) win
//     over -key. -set only assigns global variables the scenario declares
//     with <Global>.

// SIPpPcapDir is where Debian's sip-tester installs the pcaps SIPp ships:
// dtmf_2833_0..9, _star and _pound (RFC 2833 digits, payload type 101) and
// g711a.pcap (PCMA).
const SIPpPcapDir = "/usr/share/sip-tester"

// SIPp returns the path of the sipp binary (Debian package sip-tester).
func SIPp(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("sipp")
	if err != nil {
		Missing(t, "sipp is not installed (Debian package sip-tester)")
	}
	return p
}

// SIPpPcapPlay checks what SIPp's play_pcap_audio and play_dtmf need:
// the bundled pcaps, and a raw socket (they send through one), which
// takes root or CAP_NET_RAW.
func SIPpPcapPlay(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(SIPpPcapDir, "dtmf_2833_1.pcap")); err != nil {
		Missing(t, "SIPp's pcaps are not in "+SIPpPcapDir+" (Debian package sip-tester)")
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_RAW, syscall.IPPROTO_UDP)
	if err != nil {
		Missing(t, "SIPp's play_pcap_audio needs a raw socket (root or CAP_NET_RAW): "+err.Error())
	}
	syscall.Close(fd)
}

// SIPpScenario returns the absolute path of test/sipp/name, a scenario
// file of this repository.
func SIPpScenario(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(repoRoot(t), "test", "sipp", name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("SIPp scenario: %v", err)
	}
	return p
}

// SIPpOptions describes one SIPp run. Zero values mean SIPp's defaults
// unless said otherwise.
type SIPpOptions struct {
	// Scenario is a scenario file (test/sipp/..., see SIPpScenario) or
	// the name of a built-in scenario: "uac", "uas", "regexp", "branchc",
	// "branchs", "uac_pcap".
	Scenario string
	// Remote is the SIP peer, "127.0.0.1:5060"; empty for a UAS. Only
	// 127.0.0.0/8 is accepted.
	Remote string
	// LocalIP is the address of SIPp's SIP, media and control sockets;
	// default 127.0.0.1. Only 127.0.0.0/8 is accepted.
	LocalIP string
	// LocalPort, MediaPort and ControlPort: 0 picks free ones (MediaPort
	// needs port+2 free as well), and a start that fails because one was
	// taken meanwhile is retried with new ones.
	LocalPort, MediaPort, ControlPort int
	// Service is the user part of the Request-URI, [service] (-s).
	Service string
	// Calls stops SIPp after that many calls (-m); 0 means no limit (a
	// UAS then runs until Stop, Timeout or the context ends).
	Calls int
	// Rate is calls per RatePeriod (-r, -rp; SIPp's default 10 per 1 s).
	Rate       float64
	RatePeriod time.Duration
	// CallLimit caps simultaneous calls (-l).
	CallLimit int
	// Timeout ends the run after that long (-timeout, rounded up to whole
	// seconds); TimeoutError makes that a fatal error (exit 255).
	Timeout      time.Duration
	TimeoutError bool
	// RecvTimeout is the default for <recv> without a timeout attribute
	// (-recv_timeout): a call that waits longer fails.
	RecvTimeout time.Duration
	// Keys are -key NAME VALUE pairs: [NAME] in the scenario.
	Keys map[string]string
	// RTPEcho echoes RTP received on the media port (-rtp_echo).
	RTPEcho bool
	// TraceMessages writes every SIP message to MessageFile (-trace_msg).
	TraceMessages bool
	// Args are appended to the command line as they are.
	Args []string
	// Dir holds the statistics and traces; default t.TempDir().
	Dir string
}

// SIPpResult is what a finished SIPp run reports.
type SIPpResult struct {
	// ExitCode is SIPp's exit status (see the notes at the top of this
	// file); -1 when it was killed.
	ExitCode int
	// Counters from the last row of the statistics file, cumulative.
	Created         int // calls created, incoming and outgoing
	Successful      int
	Failed          int
	Retransmissions int
	Current         int // calls still open at the end
	// Peak is the largest number of simultaneous calls: the screen's
	// "Peak was N calls", or the largest CurrentCall of the statistics
	// rows (one per second) if the screen was not written.
	Peak int
	// Failures holds the nonzero Failed* counters by name, e.g.
	// "FailedTimeoutOnRecv": 2.
	Failures map[string]int
	// Stats is the whole last row of the statistics file by column name.
	Stats map[string]string
	// Errors are SIPp's messages on stderr (time stamps removed,
	// repeats dropped, at most 100).
	Errors []string
	// StderrTail is the last few KB of stderr.
	StderrTail string
	// Killed reports that SIPp did not exit after Terminate (see the
	// notes at the top of this file) and was killed: the counters come
	// from its last per-second row, and Peak from those rows.
	Killed bool
	// Elapsed is the wall time of the process.
	Elapsed time.Duration
	// The ports SIPp used.
	SIPPort, MediaPort, ControlPort int
	// Files written by the run.
	Dir, StatFile, ScreenFile, ErrorFile, MessageFile, StdoutFile, StderrFile string
}

// String summarizes the result for a test message.
func (r *SIPpResult) String() string {
	if r == nil {
		return "no SIPp result"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "exit %d: %d calls created, %d successful, %d failed, %d retransmissions, peak %d",
		r.ExitCode, r.Created, r.Successful, r.Failed, r.Retransmissions, r.Peak)
	if len(r.Failures) > 0 {
		names := slices.Sorted(func(yield func(string) bool) {
			for k := range r.Failures {
				if !yield(k) {
					return
				}
			}
		})
		for _, k := range names {
			fmt.Fprintf(&b, ", %s=%d", k, r.Failures[k])
		}
	}
	if len(r.Errors) > 0 {
		errs := r.Errors
		if len(errs) > 5 {
			errs = errs[len(errs)-5:]
		}
		fmt.Fprintf(&b, "; stderr: %s", strings.Join(errs, " | "))
	}
	if r.Killed {
		b.WriteString("; killed after Terminate")
	}
	fmt.Fprintf(&b, " (traces in %s)", r.Dir)
	return b.String()
}

// SIPpError is returned when SIPp exits before it is ready (a scenario
// that does not load, bad options, ports that stay taken) or when its
// statistics cannot be read.
type SIPpError struct {
	ExitCode int
	Errors   []string
	Stderr   string
	Msg      string
}

func (e *SIPpError) Error() string {
	s := "sipp: " + e.Msg
	if e.ExitCode != 0 {
		s += fmt.Sprintf(" (exit %d)", e.ExitCode)
	}
	if len(e.Errors) > 0 {
		s += ": " + strings.Join(e.Errors, " | ")
	} else if e.Stderr != "" {
		s += ": " + strings.TrimSpace(e.Stderr)
	}
	return s
}

// SIPpRun is a SIPp process that is up: its sockets are bound.
type SIPpRun struct {
	// Where it listens, and the directory of its files.
	LocalIP                         string
	SIPPort, MediaPort, ControlPort int
	Dir                             string
	// Args is its command line, for logs.
	Args []string

	statFile, screenFile, errFile   string
	msgFile, stdoutFile, stderrFile string
	cmd                             *exec.Cmd
	ctx                             context.Context
	started                         time.Time
	stderr                          *tailWriter
	stdoutW, stderrW                *os.File

	killOnce sync.Once
	killed   atomic.Bool // by Terminate's timer

	done    chan struct{} // closed when the process has exited and these are set:
	waitErr error
	ctxErr  error // the context had ended when SIPp exited

	resultOnce sync.Once
	result     *SIPpResult
	resultErr  error
}

const (
	sippStartAttempts = 5
	sippReadyLimit    = 30 * time.Second // on top of ctx, in case it has no deadline
	sippKillDelay     = 2 * time.Second  // Terminate → SIGKILL
	sippLogCap        = 4 << 20          // per stdout/stderr file
	sippMaxLogSize    = 16 << 20         // -max_log_size: error and message traces
	sippExitBind      = 254              // exit(-2): a socket could not be bound
)

// RunSIPp runs SIPp to the end (the calls are done, Timeout passed, or ctx
// ended, which makes it abort its calls and exit) and returns its
// statistics. A run whose calls failed is not an error: look at the
// result (ExitCode 1, Failed). The error reports a SIPp that could not run (see SIPpError) or
// a context that ended first; the result is then as complete as SIPp
// left it.
func RunSIPp(ctx context.Context, t testing.TB, opts SIPpOptions) (*SIPpResult, error) {
	t.Helper()
	r, err := StartSIPp(ctx, t, opts)
	if err != nil {
		return nil, err
	}
	return r.Wait()
}

// StartSIPp starts SIPp and returns once its sockets are bound, so a UAS
// can be called at once. ctx bounds the whole run: when it ends, SIPp is
// terminated (see Terminate). The test's cleanup ends a run still going
// the same way.
func StartSIPp(ctx context.Context, t testing.TB, opts SIPpOptions) (*SIPpRun, error) {
	t.Helper()
	bin := SIPp(t)
	if opts.LocalIP == "" {
		opts.LocalIP = "127.0.0.1"
	}
	if err := checkLoopback(opts.LocalIP, opts.Remote); err != nil {
		return nil, err
	}
	if opts.Scenario == "" {
		return nil, errors.New("sipp: no scenario")
	}
	for k := range opts.Keys {
		if !keyName.MatchString(k) {
			return nil, fmt.Errorf("sipp: bad key name %q", k)
		}
	}
	base := opts.Dir
	if base == "" {
		base = t.TempDir()
	}
	var lastErr error
	for attempt := 1; attempt <= sippStartAttempts; attempt++ {
		dir, err := os.MkdirTemp(base, "sipp-")
		if err != nil {
			return nil, err
		}
		r, err := startSIPpOnce(ctx, t, bin, dir, opts)
		if err == nil {
			return r, nil
		}
		lastErr = err
		var se *SIPpError
		if !errors.As(err, &se) || !se.retryable(opts) || ctx.Err() != nil {
			break
		}
		t.Logf("sipp: a port was taken before SIPp bound it; retrying with new ports (%d/%d): %v", attempt, sippStartAttempts, err)
	}
	return nil, lastErr
}

var keyName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// retryable reports a start that failed on a port StartSIPp picked (and
// someone took before SIPp bound it).
func (e *SIPpError) retryable(o SIPpOptions) bool {
	for _, m := range e.Errors {
		if !strings.Contains(m, "Address already in use") {
			continue
		}
		switch {
		case strings.Contains(m, "main socket"):
			return o.LocalPort == 0
		case strings.Contains(m, "RTP socket"):
			return o.MediaPort == 0
		case strings.Contains(m, "control socket"):
			return o.ControlPort == 0
		}
	}
	return false
}

func checkLoopback(local, remote string) error {
	a, err := netip.ParseAddr(local)
	if err != nil || !a.Is4() || !a.IsLoopback() {
		return fmt.Errorf("sipp: LocalIP %q: tests use 127.0.0.0/8 only", local)
	}
	if remote == "" {
		return nil
	}
	ap, err := netip.ParseAddrPort(remote)
	if err != nil || !ap.Addr().Is4() || !ap.Addr().IsLoopback() || ap.Port() == 0 {
		return fmt.Errorf("sipp: Remote %q: want 127.x.y.z:port (tests call 127.0.0.0/8 only)", remote)
	}
	return nil
}

func startSIPpOnce(ctx context.Context, t testing.TB, bin, dir string, opts SIPpOptions) (*SIPpRun, error) {
	sipPort, mediaPort, ctrlPort, err := pickSIPpPorts(opts.LocalIP, opts.LocalPort, opts.MediaPort, opts.ControlPort)
	if err != nil {
		return nil, err
	}
	r := &SIPpRun{
		LocalIP: opts.LocalIP, SIPPort: sipPort, MediaPort: mediaPort, ControlPort: ctrlPort,
		Dir:        dir,
		statFile:   filepath.Join(dir, "stat.csv"),
		screenFile: filepath.Join(dir, "screen.log"),
		errFile:    filepath.Join(dir, "errors.log"),
		msgFile:    filepath.Join(dir, "messages.log"),
		stdoutFile: filepath.Join(dir, "stdout.log"),
		stderrFile: filepath.Join(dir, "stderr.log"),
		ctx:        ctx,
		done:       make(chan struct{}),
		stderr:     &tailWriter{max: 8 << 10},
	}
	args, err := r.buildArgs(opts)
	if err != nil {
		return nil, err
	}
	r.Args = args

	if r.stdoutW, err = os.Create(r.stdoutFile); err != nil {
		return nil, err
	}
	if r.stderrW, err = os.Create(r.stderrFile); err != nil {
		r.stdoutW.Close()
		return nil, err
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Stdin = nil
	cmd.Stdout = &capWriter{w: r.stdoutW, left: sippLogCap}
	cmd.Stderr = io.MultiWriter(&capWriter{w: r.stderrW, left: sippLogCap}, r.stderr)
	cmd.Cancel = r.Terminate
	cmd.WaitDelay = 2 * sippKillDelay // a backstop: Terminate kills after sippKillDelay
	r.cmd = cmd
	r.started = time.Now()
	if err := cmd.Start(); err != nil {
		r.stdoutW.Close()
		r.stderrW.Close()
		return nil, fmt.Errorf("sipp: %w", err)
	}
	go func() {
		r.waitErr = cmd.Wait()
		r.ctxErr = ctx.Err()
		r.stdoutW.Close()
		r.stderrW.Close()
		close(r.done)
	}()
	t.Cleanup(r.close)

	if err := r.waitReady(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *SIPpRun) buildArgs(o SIPpOptions) ([]string, error) {
	var a []string
	if o.Remote != "" {
		a = append(a, o.Remote)
	}
	if isBuiltinScenario(o.Scenario) {
		a = append(a, "-sn", o.Scenario)
	} else {
		p, err := filepath.Abs(o.Scenario)
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("sipp: scenario: %w", err)
		}
		a = append(a, "-sf", p)
	}
	itoa := strconv.Itoa
	a = append(a,
		"-i", r.LocalIP, "-p", itoa(r.SIPPort), "-bind_local",
		"-mi", r.LocalIP, "-mp", itoa(r.MediaPort),
		"-ci", r.LocalIP, "-cp", itoa(r.ControlPort),
		"-nostdin",
		"-trace_stat", "-stf", r.statFile, "-fd", "1",
		"-trace_screen", "-screen_file", r.screenFile,
		"-trace_err", "-error_file", r.errFile,
		"-max_log_size", itoa(sippMaxLogSize),
	)
	if o.TraceMessages {
		a = append(a, "-trace_msg", "-message_file", r.msgFile)
	}
	if o.Service != "" {
		a = append(a, "-s", o.Service)
	}
	if o.Calls > 0 {
		a = append(a, "-m", itoa(o.Calls))
	}
	if o.Rate > 0 {
		a = append(a, "-r", strconv.FormatFloat(o.Rate, 'f', -1, 64))
	}
	if o.RatePeriod > 0 {
		a = append(a, "-rp", strconv.FormatInt(o.RatePeriod.Milliseconds(), 10))
	}
	if o.CallLimit > 0 {
		a = append(a, "-l", itoa(o.CallLimit))
	}
	if o.Timeout > 0 {
		a = append(a, "-timeout", fmt.Sprintf("%ds", int(math.Ceil(o.Timeout.Seconds()))))
		if o.TimeoutError {
			a = append(a, "-timeout_error")
		}
	}
	if o.RecvTimeout > 0 {
		a = append(a, "-recv_timeout", strconv.FormatInt(o.RecvTimeout.Milliseconds(), 10))
	}
	if o.RTPEcho {
		a = append(a, "-rtp_echo")
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range o.Keys {
			if !yield(k) {
				return
			}
		}
	})
	for _, k := range keys {
		a = append(a, "-key", k, o.Keys[k])
	}
	return append(a, o.Args...), nil
}

func isBuiltinScenario(s string) bool { return !strings.ContainsAny(s, "/.") }

// waitReady waits until SIPp holds its control socket, the last one it
// binds before placing or taking calls, or until it exits. (Its
// statistics file is no signal: SIPp writes it on a fatal exit too.)
func (r *SIPpRun) waitReady() error {
	limit := time.NewTimer(sippReadyLimit)
	defer limit.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	pid := r.cmd.Process.Pid
	for {
		if udpBoundBy(pid, r.ControlPort) {
			return nil
		}
		select {
		case <-r.done:
			code := r.cmd.ProcessState.ExitCode()
			if code != sippExitBind && statRows(r.statFile) >= 1 {
				return nil // it ran and finished already (a short UAC)
			}
			return &SIPpError{ExitCode: code, Errors: sippErrors(r.stderr.String()), Stderr: r.stderr.String(),
				Msg: "exited before it was ready"}
		case <-r.ctx.Done():
			<-r.done
			return fmt.Errorf("sipp: not ready: %w", r.ctx.Err())
		case <-limit.C:
			r.close()
			return &SIPpError{Errors: sippErrors(r.stderr.String()), Stderr: r.stderr.String(),
				Msg: fmt.Sprintf("not ready after %v", sippReadyLimit)}
		case <-tick.C:
		}
	}
}

// udpBoundBy reports whether process pid has a UDP socket bound to port
// (Linux: /proc/PID/net/udp lists the namespace's sockets with their
// inodes, /proc/PID/fd links to the process's own).
func udpBoundBy(pid, port int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/udp", pid))
	if err != nil {
		return false
	}
	suffix := fmt.Sprintf(":%04X", port)
	var inodes []string
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		// sl local_address rem_address st tx:rx tr:tm retrnsmt uid timeout inode
		if len(f) > 9 && strings.HasSuffix(f[1], suffix) {
			inodes = append(inodes, "socket:["+f[9]+"]")
		}
	}
	if len(inodes) == 0 {
		return false
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return false
	}
	for _, fd := range fds {
		if l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); err == nil && slices.Contains(inodes, l) {
			return true
		}
	}
	return false
}

// statRows counts the complete data rows of a statistics file.
func statRows(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return max(bytes.Count(b, []byte{'\n'})-1, 0)
}

// Addr is SIPp's SIP address, "127.0.0.1:port".
func (r *SIPpRun) Addr() string {
	return net.JoinHostPort(r.LocalIP, strconv.Itoa(r.SIPPort))
}

// Done is closed when the process has exited.
func (r *SIPpRun) Done() <-chan struct{} { return r.done }

// Stop asks SIPp to place no new calls and exit when the open ones end
// ("q" on its control socket). It does nothing once Calls calls have been
// created (SIPp then exits when the open ones end anyway).
func (r *SIPpRun) Stop() error { return r.control("q") }

// Terminate makes SIPp abort the open calls, write its final statistics
// and exit ("Q" on its control socket), and kills it if it is still there
// 2 s later: SIPp 3.6.1 exits on "Q" only when no call is open (the result
// then says Killed, with the counters of the last per-second row).
func (r *SIPpRun) Terminate() error {
	err := r.control("Q")
	r.killOnce.Do(func() {
		go func() {
			t := time.NewTimer(sippKillDelay)
			defer t.Stop()
			select {
			case <-r.done:
			case <-t.C:
				r.killed.Store(true)
				r.cmd.Process.Kill()
			}
		}()
	})
	return err
}

func (r *SIPpRun) control(key string) error {
	select {
	case <-r.done:
		return nil
	default:
	}
	c, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.ParseIP(r.LocalIP), Port: r.ControlPort})
	if err != nil {
		return fmt.Errorf("sipp control socket: %w", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(key)); err != nil {
		return fmt.Errorf("sipp control socket: %w", err)
	}
	return nil
}

// close is the test cleanup, and ends a SIPp that never got ready.
func (r *SIPpRun) close() {
	select {
	case <-r.done:
		return
	default:
	}
	r.Terminate()
	<-r.done
}

// Wait waits for SIPp to exit and returns its result (see RunSIPp). It
// may be called more than once.
func (r *SIPpRun) Wait() (*SIPpResult, error) {
	<-r.done
	r.resultOnce.Do(func() { r.result, r.resultErr = r.collect() })
	return r.result, r.resultErr
}

func (r *SIPpRun) collect() (*SIPpResult, error) {
	stderr := r.stderr.String()
	res := &SIPpResult{
		ExitCode:   r.cmd.ProcessState.ExitCode(),
		Errors:     sippErrors(stderr),
		StderrTail: stderr,
		Elapsed:    time.Since(r.started),
		SIPPort:    r.SIPPort, MediaPort: r.MediaPort, ControlPort: r.ControlPort,
		Dir: r.Dir, StatFile: r.statFile, ScreenFile: r.screenFile, ErrorFile: r.errFile,
		StdoutFile: r.stdoutFile, StderrFile: r.stderrFile,
	}
	if fileExists(r.msgFile) {
		res.MessageFile = r.msgFile
	}
	statErr := res.parseStats(r.statFile)
	if b, err := os.ReadFile(r.screenFile); err == nil {
		if m := peakRE.FindAllSubmatch(b, -1); len(m) > 0 {
			if n, err := strconv.Atoi(string(m[len(m)-1][1])); err == nil {
				res.Peak = max(res.Peak, n)
			}
		}
	}
	if err := r.ctxErr; err != nil {
		return res, fmt.Errorf("sipp stopped: %w (%s)", err, res)
	}
	if statErr != nil {
		return res, &SIPpError{ExitCode: res.ExitCode, Errors: res.Errors, Stderr: stderr, Msg: statErr.Error()}
	}
	if res.ExitCode < 0 {
		if r.killed.Load() {
			res.Killed = true
		} else {
			return res, &SIPpError{ExitCode: res.ExitCode, Errors: res.Errors, Stderr: stderr,
				Msg: fmt.Sprintf("killed: %v", r.waitErr)}
		}
	}
	return res, nil
}

var peakRE = regexp.MustCompile(`Peak was (\d+) calls`)

// parseStats reads the statistics file: a header row and one row per
// second, ';'-separated, cumulative counters suffixed "(C)".
func (res *SIPpResult) parseStats(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("no statistics: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var header, last []string
	cur := -1
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if line == "" {
			continue
		}
		fields := strings.Split(line, ";")
		if header == nil {
			header = fields
			cur = slices.Index(header, "CurrentCall")
			continue
		}
		last = fields
		if cur >= 0 && cur < len(fields) {
			if n, err := strconv.Atoi(fields[cur]); err == nil {
				res.Peak = max(res.Peak, n)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("statistics: %w", err)
	}
	if last == nil {
		return errors.New("statistics file has no rows")
	}
	res.Stats = make(map[string]string, len(header))
	for i, h := range header {
		if h != "" && i < len(last) {
			res.Stats[h] = last[i]
		}
	}
	num := func(k string) int {
		n, _ := strconv.Atoi(res.Stats[k])
		return n
	}
	res.Created = num("TotalCallCreated")
	res.Successful = num("SuccessfulCall(C)")
	res.Failed = num("FailedCall(C)")
	res.Retransmissions = num("Retransmissions(C)")
	res.Current = num("CurrentCall")
	for k := range res.Stats {
		if name, ok := strings.CutSuffix(k, "(C)"); ok && strings.HasPrefix(name, "Failed") && name != "FailedCall" {
			if n := num(k); n > 0 {
				if res.Failures == nil {
					res.Failures = map[string]int{}
				}
				res.Failures[name] = n
			}
		}
	}
	return nil
}

// sippErrors extracts SIPp's messages from stderr: lines
// "2006-01-02\t15:04:05.000000\t1136214245.000000: message" (each is
// printed twice), without the time stamps, repeats dropped.
func sippErrors(stderr string) []string {
	var out []string
	seen := map[string]bool{}
	for line := range strings.Lines(stderr) {
		m := errLineRE.FindStringSubmatch(strings.TrimRight(line, "\r\n"))
		if m == nil || seen[m[1]] {
			continue
		}
		seen[m[1]] = true
		out = append(out, m[1])
		if len(out) == 100 {
			break
		}
	}
	return out
}

var errLineRE = regexp.MustCompile(`^\d{4}-\d\d-\d\d\t[\d:.]+\t[\d.]+: (.*)$`)

// pickSIPpPorts returns free UDP ports on ip for those passed as 0: the
// SIP port, a media port whose port+2 is free too (SIPp binds both), and
// a control port. The sockets are held until all are chosen, so the ports
// differ; SIPp binds them a moment later, and a port taken in between is
// caught by StartSIPp's retry.
func pickSIPpPorts(ip string, sip, media, ctrl int) (int, int, int, error) {
	var held []*net.UDPConn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	bind := func(port int) (int, error) {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(ip), Port: port})
		if err != nil {
			return 0, err
		}
		held = append(held, c)
		return c.LocalAddr().(*net.UDPAddr).Port, nil
	}
	var err error
	if sip == 0 {
		if sip, err = bind(0); err != nil {
			return 0, 0, 0, fmt.Errorf("sipp: no free UDP port: %w", err)
		}
	}
	if media == 0 {
		for range 50 {
			p, err := bind(0)
			if err != nil {
				return 0, 0, 0, fmt.Errorf("sipp: no free UDP port: %w", err)
			}
			if p+2 <= 65535 {
				if _, err := bind(p + 2); err == nil {
					media = p
					break
				}
			}
		}
		if media == 0 {
			return 0, 0, 0, errors.New("sipp: found no free UDP port pair p, p+2 for media")
		}
	}
	if ctrl == 0 {
		if ctrl, err = bind(0); err != nil {
			return 0, 0, 0, fmt.Errorf("sipp: no free UDP port: %w", err)
		}
	}
	return sip, media, ctrl, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// capWriter writes up to left bytes to w and drops the rest (SIPp under
// load can print a line per failed call).
type capWriter struct {
	w    io.Writer
	left int
}

func (c *capWriter) Write(p []byte) (int, error) {
	n := min(len(p), c.left)
	if n > 0 {
		if _, err := c.w.Write(p[:n]); err != nil {
			return 0, err
		}
		c.left -= n
	}
	return len(p), nil
}

// tailWriter keeps the last max bytes written.
type tailWriter struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailWriter) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
