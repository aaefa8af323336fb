package tts

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trunkline/trunkline/audio"
	at "github.com/trunkline/trunkline/audio/internal/audiotest"
)

func TestEspeakVoice(t *testing.T) {
	cases := []struct {
		voice, lang, want string
		err               error
	}{
		{"WOMAN", "en-US", "en-us+f3", nil},
		{"MAN", "en-US", "en-us+m3", nil},
		{"woman", "en-gb", "en-gb+f3", nil},
		{"", "", "en-us+f3", nil},
		{"MAN", "fr-FR", "fr-fr+m3", nil},
		{"WOMAN", "de-DE", "de+f3", nil},
		{"WOMAN", "es-ES", "es+f3", nil},
		{"MAN", "es-US", "es-419+m3", nil},
		{"WOMAN", "en-AU", "en-gb+f3", nil},
		{"WOMAN", "pt-BR", "pt-br+f3", nil},
		{"WOMAN", "ja-JP", "ja+f3", nil},
		{"Polly.Joanna", "en-US", "en-us+f3", nil},
		{"Polly.Matthew", "en-US", "en-us+m3", nil},
		{"Polly.Matthew-Neural", "en-US", "en-us+m3", nil},
		{"Polly.Celine", "fr-FR", "fr-fr+f3", nil},
		{"ROBOT", "en-US", "", ErrUnsupportedVoice},
		{"Polly.", "en-US", "", ErrUnsupportedVoice},
		{"WOMAN", "xx-YY", "", ErrUnsupportedLanguage},
		{"WOMAN", "en-US; rm -rf /", "", ErrUnsupportedLanguage},
	}
	for _, c := range cases {
		got, err := EspeakVoice(c.voice, c.lang)
		if got != c.want || !errors.Is(err, c.err) {
			t.Errorf("EspeakVoice(%q, %q) = %q, %v; want %q, %v", c.voice, c.lang, got, err, c.want, c.err)
		}
	}
}

// Every mapped espeak-ng voice exists in the installed espeak-ng.
func TestEspeakVoicesExist(t *testing.T) {
	path := at.NeedProgram(t, "espeak-ng")
	seen := map[string]bool{}
	for _, v := range languages {
		if seen[v] {
			continue
		}
		seen[v] = true
		e := NewEspeak(EspeakOptions{Path: path})
		if _, err := e.opts.Run(context.Background(), path, []string{"--stdout", "-v", v + "+f3", "a"}, nil, 1<<20); err != nil {
			t.Errorf("espeak-ng voice %q: %v", v, err)
		}
	}
}

// pitch estimates the median fundamental of voiced 40 ms frames by
// autocorrelation (70-400 Hz).
func pitch(pcm []int16) float64 {
	var f0s []float64
	const n = 320
	for off := 0; off+n+160 <= len(pcm); off += n {
		frame := pcm[off : off+n+160]
		if at.RMS(frame[:n]) < 500 {
			continue
		}
		best, bestLag := 0.0, 0
		var e0 float64
		for i := range n {
			e0 += float64(frame[i]) * float64(frame[i])
		}
		for lag := 20; lag <= 114; lag++ {
			var c float64
			for i := range n {
				c += float64(frame[i]) * float64(frame[i+lag])
			}
			if c > best {
				best, bestLag = c, lag
			}
		}
		if bestLag > 0 && best > 0.3*e0 {
			f0s = append(f0s, 8000/float64(bestLag))
		}
	}
	if len(f0s) == 0 {
		return 0
	}
	sort.Float64s(f0s)
	return f0s[len(f0s)/2]
}

const sentence = "Hello, and welcome to Trunkline. Please enter your account number, followed by the pound key."

func TestEspeakSynthesizesSpeech(t *testing.T) {
	path := at.NeedProgram(t, "espeak-ng")
	e := NewEspeak(EspeakOptions{Path: path})
	start := time.Now()
	woman, err := e.Synthesize(context.Background(), sentence, "WOMAN", "en-US")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("synthesized %.2f s of speech in %v", float64(len(woman))/audio.SampleRate, time.Since(start))
	// 16 words at espeak-ng's 175 words a minute, with pauses: 4-9 s.
	if d := float64(len(woman)) / audio.SampleRate; d < 4 || d > 9 {
		t.Errorf("duration %.2f s, want 4-9 s", d)
	}
	if db := at.DB(at.RMS(woman), 32768); db < -35 {
		t.Errorf("level %.1f dBFS: silent?", db)
	}
	// Speech, not a tone or noise: loud and quiet stretches alternate.
	var loud, quiet int
	for f := range audio.Frames(woman) {
		switch r := at.RMS(f); {
		case r > 1000:
			loud++
		case r < 100:
			quiet++
		}
	}
	if loud < 50 || quiet < 5 {
		t.Errorf("%d loud and %d quiet frames: not speech-like", loud, quiet)
	}
	// It is 8 kHz audio: the decoded 22.05 kHz output went through the
	// resampler, so a sample count check against espeak-ng's own output holds.
	raw, err := RunCommand(context.Background(), path, []string{"--stdout", "--stdin", "-v", "en-us+f3"}, []byte(sentence+"\n"), 16<<20)
	if err != nil {
		t.Fatal(err)
	}
	info, err := audio.ReadWAVHeader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	srcSamples := (len(raw) - 44) / 2
	if want := int(math.Ceil(float64(srcSamples) * audio.SampleRate / float64(info.SampleRate))); len(woman) != want {
		t.Errorf("%d samples, want %d (%d at %d Hz)", len(woman), want, srcSamples, info.SampleRate)
	}

	man, err := e.Synthesize(context.Background(), sentence, "MAN", "en-US")
	if err != nil {
		t.Fatal(err)
	}
	pw, pm := pitch(woman), pitch(man)
	t.Logf("median pitch: WOMAN %.0f Hz, MAN %.0f Hz", pw, pm)
	if pw <= pm*1.2 {
		t.Errorf("WOMAN pitch %.0f Hz not clearly above MAN %.0f Hz", pw, pm)
	}
}

func TestEspeakLanguages(t *testing.T) {
	path := at.NeedProgram(t, "espeak-ng")
	e := NewEspeak(EspeakOptions{Path: path})
	texts := map[string]string{
		"en-GB": "Good morning, thank you for calling.",
		"fr-FR": "Bonjour, merci de votre appel.",
		"de-DE": "Guten Morgen, vielen Dank für Ihren Anruf.",
		"es-ES": "Buenos días, gracias por su llamada.",
	}
	for lang, text := range texts {
		pcm, err := e.Synthesize(context.Background(), text, "WOMAN", lang)
		if err != nil {
			t.Errorf("%s: %v", lang, err)
			continue
		}
		if d := float64(len(pcm)) / audio.SampleRate; d < 1 || d > 6 || at.DB(at.RMS(pcm), 32768) < -35 {
			t.Errorf("%s: %.2f s at %.1f dBFS", lang, d, at.DB(at.RMS(pcm), 32768))
		}
	}
}

// Text is data on standard input: words that look like options or shell
// are spoken, not obeyed.
func TestEspeakTextIsNeverAnArgument(t *testing.T) {
	var gotArgs []string
	var gotStdin []byte
	e := NewEspeak(EspeakOptions{Run: func(ctx context.Context, path string, args []string, stdin []byte, maxOut int64) ([]byte, error) {
		gotArgs, gotStdin = args, stdin
		var b bytes.Buffer
		audio.WriteWAV(&b, make([]int16, 80))
		return b.Bytes(), nil
	}})
	text := `--help -v xx "; rm -rf / $(reboot)`
	if _, err := e.Synthesize(context.Background(), text, "WOMAN", "en-US"); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(gotArgs, []string{"--stdout", "--stdin", "-v", "en-us+f3"}) {
		t.Errorf("args %q", gotArgs)
	}
	if string(gotStdin) != text+"\n" {
		t.Errorf("stdin %q", gotStdin)
	}

	path := at.NeedProgram(t, "espeak-ng")
	pcm, err := NewEspeak(EspeakOptions{Path: path}).Synthesize(context.Background(), "--help", "WOMAN", "en-US")
	if err != nil || len(pcm) < audio.SampleRate/4 {
		t.Fatalf("speaking %q: %d samples, %v", "--help", len(pcm), err)
	}
}

func TestEspeakErrors(t *testing.T) {
	e := NewEspeak(EspeakOptions{MaxTextBytes: 10, Run: func(context.Context, string, []string, []byte, int64) ([]byte, error) {
		return []byte("not a wav"), nil
	}})
	ctx := context.Background()
	if _, err := e.Synthesize(ctx, "hi", "ROBOT", "en-US"); !errors.Is(err, ErrUnsupportedVoice) {
		t.Errorf("voice: %v", err)
	}
	if _, err := e.Synthesize(ctx, "hi", "WOMAN", "tlh"); !errors.Is(err, ErrUnsupportedLanguage) {
		t.Errorf("language: %v", err)
	}
	if _, err := e.Synthesize(ctx, strings.Repeat("a", 11), "WOMAN", "en-US"); !errors.Is(err, ErrTextTooLong) {
		t.Errorf("length: %v", err)
	}
	if pcm, err := e.Synthesize(ctx, "  \n", "WOMAN", "en-US"); err != nil || pcm != nil {
		t.Errorf("blank text: %v %v", pcm, err)
	}
	if _, err := e.Synthesize(ctx, "hi", "WOMAN", "en-US"); !errors.Is(err, audio.ErrMalformed) {
		t.Errorf("garbage output: %v", err)
	}
	missing := NewEspeak(EspeakOptions{Path: filepath.Join(t.TempDir(), "no-espeak")})
	if _, err := missing.Synthesize(ctx, "hi", "WOMAN", "en-US"); err == nil {
		t.Error("missing program: no error")
	}
}

func TestEspeakTimeout(t *testing.T) {
	dir := t.TempDir()
	slow := filepath.Join(dir, "slow-espeak")
	os.WriteFile(slow, []byte("#!/bin/sh\nexec "+at.NeedProgram(t, "sleep")+" 30\n"), 0o755)
	e := NewEspeak(EspeakOptions{Path: slow, Timeout: 200 * time.Millisecond})
	start := time.Now()
	_, err := e.Synthesize(context.Background(), "hello", "WOMAN", "en-US")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want a deadline error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v", d)
	}
	// The caller's own cancellation is reported as such.
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	e = NewEspeak(EspeakOptions{Path: slow, Timeout: 10 * time.Second})
	if _, err := e.Synthesize(ctx, "hello", "WOMAN", "en-US"); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

func TestRunCommandCapsOutput(t *testing.T) {
	yes := at.NeedProgram(t, "yes")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if _, err := RunCommand(ctx, yes, nil, nil, 1<<16); !errors.Is(err, errOutputTooLarge) {
		t.Fatalf("got %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("took %v: the program was not stopped at the cap", d)
	}
}

// countingRunner runs espeak-ng for real and counts the runs.
type countingRunner struct {
	n    atomic.Int64
	gate chan struct{}
}

func (c *countingRunner) run(ctx context.Context, path string, args []string, stdin []byte, maxOut int64) ([]byte, error) {
	c.n.Add(1)
	if c.gate != nil {
		<-c.gate
	}
	return RunCommand(ctx, path, args, stdin, maxOut)
}

func TestCacheSynthesizesOnce(t *testing.T) {
	path := at.NeedProgram(t, "espeak-ng")
	cr := &countingRunner{gate: make(chan struct{})}
	c, err := NewCache(NewEspeak(EspeakOptions{Path: path, Run: cr.run}), CacheOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	out := make([][]int16, 10)
	for i := range out {
		wg.Go(func() {
			pcm, err := c.Synthesize(context.Background(), "Press one for sales.", "WOMAN", "en-US")
			if err != nil {
				t.Error(err)
			}
			out[i] = pcm
		})
	}
	for c.Stats().Shared < 9 {
		time.Sleep(time.Millisecond)
	}
	close(cr.gate)
	wg.Wait()
	if n := cr.n.Load(); n != 1 {
		t.Fatalf("espeak-ng ran %d times, want 1", n)
	}
	for _, p := range out {
		if len(p) == 0 || !slices.Equal(p, out[0]) {
			t.Fatal("callers got different audio")
		}
	}
	start := time.Now()
	again, err := c.Synthesize(context.Background(), "Press one for sales.", "WOMAN", "en-US")
	hit := time.Since(start)
	if err != nil || !slices.Equal(again, out[0]) || cr.n.Load() != 1 {
		t.Fatalf("hit: %v, runs %d", err, cr.n.Load())
	}
	t.Logf("cache hit in %v", hit)
	// Another voice or language is another prompt.
	c.Synthesize(context.Background(), "Press one for sales.", "MAN", "en-US")
	c.Synthesize(context.Background(), "Press one for sales.", "WOMAN", "en-GB")
	if n := cr.n.Load(); n != 3 {
		t.Fatalf("espeak-ng ran %d times, want 3", n)
	}
	if s := c.Stats(); s.Hits != 1 || s.Loads != 3 || s.Entries != 3 {
		t.Errorf("stats %+v", s)
	}
}

// fakeSynth returns a fixed-length tone per call and counts calls.
type fakeSynth struct {
	n   atomic.Int64
	err error
}

func (f *fakeSynth) Synthesize(ctx context.Context, text, voice, language string) ([]int16, error) {
	f.n.Add(1)
	if f.err != nil {
		return nil, f.err
	}
	return at.Sine(200+float64(len(text)), audio.SampleRate, 0.5, 5000), nil
}

func TestCacheDisk(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tts")
	fs := &fakeSynth{}
	c, err := NewCache(fs, CacheOptions{Dir: dir, Namespace: "espeak-ng 1.51"})
	if err != nil {
		t.Fatal(err)
	}
	first, err := c.Synthesize(context.Background(), "hello", "WOMAN", "en-US")
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("dir: %v %v", st, err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.wav"))
	if len(files) != 1 || filepath.Base(files[0]) != Key("espeak-ng 1.51", "hello", "WOMAN", "en-US")+".wav" {
		t.Fatalf("files %v", files)
	}
	// A new process (new cache, same dir) reads the file instead.
	c2, _ := NewCache(fs, CacheOptions{Dir: dir, Namespace: "espeak-ng 1.51"})
	second, err := c2.Synthesize(context.Background(), "hello", "WOMAN", "en-US")
	if err != nil || !slices.Equal(first, second) || fs.n.Load() != 1 {
		t.Fatalf("disk hit: %v, synth calls %d", err, fs.n.Load())
	}
	if s := c2.Stats(); s.DiskHits != 1 {
		t.Errorf("stats %+v", s)
	}
	// A different namespace does not see it.
	c3, _ := NewCache(fs, CacheOptions{Dir: dir, Namespace: "other"})
	c3.Synthesize(context.Background(), "hello", "WOMAN", "en-US")
	if fs.n.Load() != 2 {
		t.Errorf("namespace ignored")
	}
	// A corrupt file is resynthesized and replaced.
	os.WriteFile(files[0], []byte("garbage"), 0o600)
	c4, _ := NewCache(fs, CacheOptions{Dir: dir, Namespace: "espeak-ng 1.51"})
	third, err := c4.Synthesize(context.Background(), "hello", "WOMAN", "en-US")
	if err != nil || !slices.Equal(first, third) || fs.n.Load() != 3 || c4.Stats().DiskErrors != 1 {
		t.Fatalf("corrupt file: %v, calls %d, %+v", err, fs.n.Load(), c4.Stats())
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".tmp-*")); len(left) != 0 {
		t.Errorf("temp files left: %v", left)
	}
}

func TestCacheBoundsAndErrors(t *testing.T) {
	fs := &fakeSynth{}
	// Each prompt is 4000 samples = 8 KB; room for two.
	c, _ := NewCache(fs, CacheOptions{MaxBytes: 17 << 10})
	for _, text := range []string{"a", "b", "c", "a"} {
		if _, err := c.Synthesize(context.Background(), text, "WOMAN", "en-US"); err != nil {
			t.Fatal(err)
		}
	}
	if fs.n.Load() != 4 {
		t.Errorf("%d syntheses, want 4 (a evicted by c)", fs.n.Load())
	}
	if s := c.Stats(); s.Bytes > 17<<10 {
		t.Errorf("stats %+v", s)
	}
	fs.err = errors.New("engine down")
	if _, err := c.Synthesize(context.Background(), "new", "WOMAN", "en-US"); err == nil {
		t.Fatal("no error")
	}
	fs.err = nil
	if _, err := c.Synthesize(context.Background(), "new", "WOMAN", "en-US"); err != nil {
		t.Fatal("failure was cached")
	}
}

func TestKeyIsUnambiguous(t *testing.T) {
	keys := map[string]bool{}
	for _, k := range [][4]string{
		{"", "ab", "c", "d"}, {"", "a", "bc", "d"}, {"a", "b", "c", "d"}, {"", "abcd", "", ""},
		{"", "hello", "WOMAN", "en-US"}, {"", "hello", "MAN", "en-US"}, {"", "hello", "WOMAN", "en-GB"},
	} {
		key := Key(k[0], k[1], k[2], k[3])
		if keys[key] || len(key) != 64 {
			t.Fatalf("key %q for %q", key, k)
		}
		keys[key] = true
	}
}

// BenchmarkEspeak reports the time to synthesize one IVR sentence.
func BenchmarkEspeak(b *testing.B) {
	path := at.NeedProgram(b, "espeak-ng")
	e := NewEspeak(EspeakOptions{Path: path})
	var secs float64
	for b.Loop() {
		pcm, err := e.Synthesize(context.Background(), sentence, "WOMAN", "en-US")
		if err != nil {
			b.Fatal(err)
		}
		secs = float64(len(pcm)) / audio.SampleRate
	}
	b.ReportMetric(secs, "audio-s")
}
