package voice_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"math"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/audio"
	"github.com/trunkline/trunkline/keys"
	"github.com/trunkline/trunkline/recording"
	"github.com/trunkline/trunkline/store"
	"github.com/trunkline/trunkline/store/storetest"
	"github.com/trunkline/trunkline/voice"
)

func lastCall(t *testing.T, s *stack) *trunkline.Call {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		calls, _, err := s.db.ListCalls(context.Background(), trunkline.Scope{AccountID: s.acct.Account.ID, IncludeSubs: true},
			trunkline.CallFilter{Limit: 20, EndFrom: time.Now().Add(-time.Hour), EndTo: time.Now().Add(time.Hour)})
		if err == nil && len(calls) > 0 {
			return calls[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no completed call in the store (err %v)", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSpeakLanguagesAndCDR(t *testing.T) {
	s := newStack(t, stackOptions{})
	s.app.set("/answer", `<Response><Speak language="en-US">Hello from Trunkline</Speak><Speak language="es-ES" voice="MAN">Hola desde Trunkline</Speak></Response>`)
	s.app.set("/hangup", "ok")
	p, err := call(t, s, s.number)
	if err != nil {
		t.Fatal(err)
	}
	p.ended(t, 20*time.Second)
	heard := p.listen(t, 0)
	if f := speechFraction(heard); f < 0.3 {
		t.Fatalf("speech in %.0f%% of frames; want speech", f*100)
	}
	hp := s.app.wait(t, "/hangup", 10*time.Second)
	if hp.Get("HangupCauseCode") != "4010" || hp.Get("HangupSource") != "Plivo" {
		t.Fatalf("end of XML: %v", hp)
	}
	c := lastCall(t, s)
	if c.HangupCauseName != "End Of XML Instructions" || c.AnsweredAt == nil || c.Direction != "inbound" || c.To != s.number {
		t.Fatalf("cdr: %+v", c)
	}
}

// stereoWAV builds a 44.1 kHz stereo WAV of a 440 Hz tone.
func stereoWAV(seconds float64) []byte {
	const rate = 44100
	n := int(seconds * rate)
	var data bytes.Buffer
	for i := 0; i < n; i++ {
		v := int16(8000 * math.Sin(2*math.Pi*440*float64(i)/rate))
		binary.Write(&data, binary.LittleEndian, v)
		binary.Write(&data, binary.LittleEndian, v)
	}
	var b bytes.Buffer
	b.WriteString("RIFF")
	binary.Write(&b, binary.LittleEndian, uint32(36+data.Len()))
	b.WriteString("WAVEfmt ")
	binary.Write(&b, binary.LittleEndian, uint32(16))
	binary.Write(&b, binary.LittleEndian, uint16(1))
	binary.Write(&b, binary.LittleEndian, uint16(2))
	binary.Write(&b, binary.LittleEndian, uint32(rate))
	binary.Write(&b, binary.LittleEndian, uint32(rate*4))
	binary.Write(&b, binary.LittleEndian, uint16(4))
	binary.Write(&b, binary.LittleEndian, uint16(16))
	b.WriteString("data")
	binary.Write(&b, binary.LittleEndian, uint32(data.Len()))
	b.Write(data.Bytes())
	return b.Bytes()
}

func TestPlayRemoteMP3AndStereoWAV(t *testing.T) {
	s := newStack(t, stackOptions{})
	mp3, err := os.ReadFile("../audio/testdata/tone1k-44100-stereo.mp3")
	if err != nil {
		t.Fatal(err)
	}
	wav := stereoWAV(1.5)
	media := http.NewServeMux()
	media.HandleFunc("/tone.mp3", func(w http.ResponseWriter, r *http.Request) { w.Write(mp3) })
	media.HandleFunc("/tone.wav", func(w http.ResponseWriter, r *http.Request) { w.Write(wav) })
	ms := newMediaServer(t, media)
	s.app.set("/answer", `<Response><Play>`+ms+`/tone.mp3</Play><Play loop="2">`+ms+`/tone.wav</Play></Response>`)
	p, err := call(t, s, s.number)
	if err != nil {
		t.Fatal(err)
	}
	p.ended(t, 20*time.Second)
	heard := p.listen(t, 0)
	// 3 s of WAV plus the MP3; both loud tones.
	if secs := float64(len(heard)) / audio.SampleRate; secs < 3 {
		t.Fatalf("heard %.1f s", secs)
	}
	if f := speechFraction(heard); f < 0.6 {
		t.Fatalf("tone in %.0f%% of frames", f*100)
	}
	// The WAV part is 440 Hz after resampling: count zero crossings in its middle.
	tail := heard[len(heard)-2*8000 : len(heard)-8000]
	zc := 0
	for i := 1; i < len(tail); i++ {
		if (tail[i-1] < 0) != (tail[i] < 0) {
			zc++
		}
	}
	if zc < 800 || zc > 960 { // 440 Hz → 880 crossings a second
		t.Fatalf("%d zero crossings in 1 s; want about 880 (440 Hz)", zc)
	}
}

func newMediaServer(t *testing.T, h http.Handler) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

func TestRecordEncrypted(t *testing.T) {
	dir := t.TempDir()
	db := storetest.Open(t)[0]
	ring, _ := keys.NewRing(bytes.Repeat([]byte{9}, 32))
	files, err := recording.New(filepath.Join(dir, "recordings"), ring, db)
	if err != nil {
		t.Fatal(err)
	}
	s := newStackDB(t, db, stackOptions{recordings: recSink{files}})
	s.app.set("/answer", `<Response><Record action="`+s.app.url("/recorded")+`" fileFormat="wav" maxLength="20" timeout="10" playBeep="true"/></Response>`)
	s.app.set("/recorded", `<Response><Hangup/></Response>`)
	s.app.set("/hangup", "ok")
	p, err := call(t, s, s.number)
	if err != nil {
		t.Fatal(err)
	}
	p.listen(t, 300*time.Millisecond) // the beep
	tone := audio.Tone(600, 2000, -12)
	p.talk(t, tone)
	select {
	case <-p.d.Context().Done():
		t.Fatalf("call ended while talking: %+v", lastCall(t, s))
	default:
	}
	p.press(t, "#")
	got := s.app.wait(t, "/recorded", 15*time.Second)
	if got.Get("RecordingID") == "" || !strings.HasSuffix(got.Get("RecordUrl"), ".wav") || got.Get("Digits") != "#" {
		t.Fatalf("record action: %v", got)
	}
	p.ended(t, 10*time.Second)
	rec, err := db.GetRecording(context.Background(), trunkline.Scope{AccountID: s.acct.Account.ID}, got.Get("RecordingID"))
	if err != nil {
		t.Fatal(err)
	}
	if rec.DurationMs < 1800 || rec.DurationMs > 4000 {
		t.Fatalf("duration %d ms for 2 s of talk", rec.DurationMs)
	}
	// On disk: not a WAV.
	raw, err := os.ReadFile(filepath.Join(dir, "recordings", s.acct.Account.ID, rec.ID+".rec"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.HasPrefix(raw, []byte("RIFF")) || bytes.Contains(raw, []byte("WAVE")) {
		t.Fatal("recording on disk is a readable WAV")
	}
	rc, err := files.Open(context.Background(), s.acct.Account.ID, rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(rc)
	rc.Close()
	pcm, err := audio.DecodeWAV(bytes.NewReader(plain), 1<<24)
	if err != nil {
		t.Fatal(err)
	}
	loud := 0
	for f := range audio.Frames(pcm) {
		if audio.Level(f) > -30 {
			loud++
		}
	}
	if sec := float64(loud) * 0.02; sec < 1.6 || sec > 2.4 {
		t.Fatalf("%.2f s of loud audio in the recording; the caller sent 2 s", sec)
	}
}

type recSink struct{ f *recording.Files }

func (r recSink) Create(ctx context.Context, a, id string) (voice.RecordingWriter, error) {
	return r.f.Create(ctx, a, id)
}

func TestFallbackAndBadXML(t *testing.T) {
	cases := []struct {
		name, answer, fallback string
		wantCode               int
		wantFallback           bool
		timeout                time.Duration
	}{
		{"answer 500 uses fallback", "500", `<Response><Speak>fallback</Speak></Response>`, 4010, true, 0},
		{"answer times out uses fallback", "hang", `<Response><Speak>fallback</Speak></Response>`, 4010, true, 300 * time.Millisecond},
		{"invalid XML", `<Response><Speak>oops</Response>`, "", 7011, false, 0},
		{"unknown element", `<Response><Foo/></Response>`, "", 7011, false, 0},
		{"not XML", `hello`, "", 7011, false, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newStack(t, stackOptions{webhookTimeout: tc.timeout})
			s.app.set("/answer", tc.answer)
			if tc.fallback != "" {
				s.app.set("/fallback", tc.fallback)
			}
			s.app.set("/hangup", "ok")
			p, err := call(t, s, s.number)
			if tc.wantFallback {
				if err != nil {
					t.Fatal(err)
				}
				p.ended(t, 20*time.Second)
			} else if err == nil {
				t.Fatalf("call answered; want it refused")
			}
			hp := s.app.wait(t, "/hangup", 15*time.Second)
			if hp.Get("HangupCauseCode") != itoa(tc.wantCode) {
				t.Fatalf("hangup: %v", hp)
			}
			c := lastCall(t, s)
			if c.HangupCauseCode != tc.wantCode || (tc.wantCode != 4010 && c.HangupReason == "") {
				t.Fatalf("cdr: %+v", c)
			}
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestCallerHangsUpMidSpeakNoLeaks(t *testing.T) {
	s := newStack(t, stackOptions{})
	s.app.set("/answer", `<Response><Speak loop="0">This prompt never ends until the caller hangs up</Speak></Response>`)
	s.app.set("/hangup", "ok")
	// Warm up (espeak cache, dialer stack) before counting.
	warm, err := call(t, s, s.number)
	if err != nil {
		t.Fatal(err)
	}
	warm.listen(t, 500*time.Millisecond)
	warm.hangup()
	s.app.wait(t, "/hangup", 10*time.Second)
	waitIdle(t, s)
	s.quiesce()
	baseG, baseFD := settledGoroutines(), openFDs(t)

	for i := 0; i < 3; i++ {
		p, err := call(t, s, s.number)
		if err != nil {
			t.Fatal(err)
		}
		p.listen(t, 500*time.Millisecond)
		p.hangup()
		hp := s.app.wait(t, "/hangup", 10*time.Second)
		if hp.Get("HangupSource") != "Caller" {
			t.Fatalf("hangup source %q", hp.Get("HangupSource"))
		}
	}
	waitIdle(t, s)
	// Goroutines and sockets come back to where they were: every RTP port,
	// reader and timer of the three calls is gone.
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.quiesce()
		g, fd := runtime.NumGoroutine(), openFDs(t)
		if g <= baseG && fd <= baseFD {
			break
		}
		if time.Now().After(deadline) {
			var b strings.Builder
			pprof.Lookup("goroutine").WriteTo(&b, 1)
			t.Fatalf("leak: goroutines %d (baseline %d), fds %d (baseline %d)\n%s", g, baseG, fd, baseFD, b.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// settledGoroutines polls (bounded) until the goroutine count stops
// falling, so closed connections' goroutines are gone from a baseline.
func settledGoroutines() int {
	n := runtime.NumGoroutine()
	for i, same := 0, 0; i < 100 && same < 3; i++ {
		time.Sleep(10 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m >= n {
			same++
		} else {
			same = 0
		}
		n = m
	}
	return n
}

func waitIdle(t *testing.T, s *stack) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.srv.Active() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d calls still active", s.srv.Active())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func openFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc")
	}
	return len(ents)
}

var _ = netip.Addr{}

func newFiles(t *testing.T, db *store.DB, dir string) *recording.Files {
	t.Helper()
	ring, _ := keys.NewRing(bytes.Repeat([]byte{9}, 32))
	files, err := recording.New(filepath.Join(dir, "recordings"), ring, db)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// checkRecording: the file on disk is not audio; decrypted it holds about
// wantLoud seconds of the caller's tone.
func checkRecording(t *testing.T, files *recording.Files, rec *trunkline.Recording, dir string, wantLoud float64) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "recordings", rec.AccountID, rec.ID+".rec"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.HasPrefix(raw, []byte("RIFF")) || bytes.Contains(raw, []byte("WAVE")) || bytes.HasPrefix(raw, []byte("ID3")) {
		t.Fatal("recording on disk is readable audio")
	}
	rc, err := files.Open(context.Background(), rec.AccountID, rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(rc)
	rc.Close()
	pcm, err := audio.Decode(bytes.NewReader(plain), 1<<24)
	if err != nil {
		t.Fatal(err)
	}
	loud := 0
	for f := range audio.Frames(pcm) {
		if audio.Level(f) > -30 {
			loud++
		}
	}
	if sec := float64(loud) * 0.02; sec < wantLoud-0.4 || sec > wantLoud+0.4 {
		t.Fatalf("%.2f s of loud audio in the recording (%d ms long); the caller sent %.1f s", sec, rec.DurationMs, wantLoud)
	}
}
