package tts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/trunkline/trunkline/audio"
)

// A Runner runs a program with arguments (no shell) and standard input,
// and returns its standard output, which it caps at maxOut bytes. Tests
// inject one to count or fake invocations.
type Runner func(ctx context.Context, path string, args []string, stdin []byte, maxOut int64) ([]byte, error)

// EspeakOptions configure Espeak. Zero values take the defaults.
type EspeakOptions struct {
	Path         string        // default "espeak-ng" on PATH
	Timeout      time.Duration // one synthesis; default 10 s
	MaxTextBytes int           // default 4096
	// MaxOutputBytes caps espeak-ng's WAV output; default 16 MiB (about
	// six minutes at 22.05 kHz).
	MaxOutputBytes int64
	WordsPerMinute int // espeak-ng -s; 0 leaves its default (175)
	Run            Runner
}

// Espeak synthesizes with espeak-ng. It is safe for concurrent use.
type Espeak struct {
	opts EspeakOptions
}

// NewEspeak returns an espeak-ng synthesizer.
func NewEspeak(opts EspeakOptions) *Espeak {
	if opts.Path == "" {
		opts.Path = "espeak-ng"
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.MaxTextBytes <= 0 {
		opts.MaxTextBytes = 4096
	}
	if opts.MaxOutputBytes <= 0 {
		opts.MaxOutputBytes = 16 << 20
	}
	if opts.Run == nil {
		opts.Run = RunCommand
	}
	return &Espeak{opts: opts}
}

// Synthesize runs espeak-ng over text and returns PCM at audio.SampleRate.
// The text goes through standard input, never the command line, so it
// cannot be taken for an option; it is spoken as plain text (no SSML).
func (e *Espeak) Synthesize(ctx context.Context, text, voice, language string) ([]int16, error) {
	name, err := EspeakVoice(voice, language)
	if err != nil {
		return nil, err
	}
	if len(text) > e.opts.MaxTextBytes {
		return nil, ErrTextTooLong
	}
	if strings.TrimSpace(text) == "" {
		return nil, nil
	}
	args := []string{"--stdout", "--stdin", "-v", name}
	if e.opts.WordsPerMinute > 0 {
		args = append(args, "-s", fmt.Sprint(e.opts.WordsPerMinute))
	}
	ctx, cancel := context.WithTimeout(ctx, e.opts.Timeout)
	defer cancel()
	// espeak-ng ends a clause at a newline; one trailing newline ends input.
	out, err := e.opts.Run(ctx, e.opts.Path, args, []byte(text+"\n"), e.opts.MaxOutputBytes)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("tts: espeak-ng: %w", ctx.Err())
		}
		return nil, fmt.Errorf("tts: espeak-ng: %w", err)
	}
	pcm, err := audio.DecodeWAV(bytes.NewReader(out), e.opts.MaxOutputBytes)
	if err != nil {
		return nil, fmt.Errorf("tts: espeak-ng output: %w", err)
	}
	return pcm, nil
}

// errOutputTooLarge is returned by RunCommand past maxOut.
var errOutputTooLarge = errors.New("output too large")

// RunCommand is the default Runner: os/exec with the context's deadline,
// killing the program when it ends.
func RunCommand(ctx context.Context, path string, args []string, stdin []byte, maxOut int64) ([]byte, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	// Past the cap the program is killed, not left blocked on a full pipe.
	stdout := &limitBuffer{max: maxOut, over: cancel}
	stderr := &capWriter{max: 2048}
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if stdout.exceeded {
		return nil, errOutputTooLarge
	}
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg != "" {
			return nil, fmt.Errorf("%w: %s", err, msg)
		}
		return nil, err
	}
	return stdout.Bytes(), nil
}

// limitBuffer and capWriter hold their buffer in a field, not embedded:
// an embedded bytes.Buffer would lend them ReadFrom, which io.Copy (and so
// os/exec) prefers to Write, bypassing the cap.
type limitBuffer struct {
	buf      bytes.Buffer
	max      int64
	over     func()
	exceeded bool
}

func (b *limitBuffer) Write(p []byte) (int, error) {
	if int64(b.buf.Len()+len(p)) > b.max {
		b.exceeded = true
		b.over()
		return 0, errOutputTooLarge
	}
	return b.buf.Write(p)
}

func (b *limitBuffer) Bytes() []byte { return b.buf.Bytes() }

// capWriter keeps the first max bytes and drops the rest without failing.
type capWriter struct {
	buf bytes.Buffer
	max int
}

func (c *capWriter) Write(p []byte) (int, error) {
	if room := c.max - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (c *capWriter) String() string { return c.buf.String() }
