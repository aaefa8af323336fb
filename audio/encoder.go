package audio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"
)

// An Encoder writes 8 kHz 16-bit mono PCM as a file, for recordings.
type Encoder interface {
	Encode(ctx context.Context, w io.Writer, pcm []int16) error
	// Format is the file extension and Plivo's recording_format: "wav", "mp3".
	Format() string
	ContentType() string
}

// WAVEncoder writes 16-bit mono WAV at SampleRate.
type WAVEncoder struct{}

// Encode writes pcm as WAV.
func (WAVEncoder) Encode(ctx context.Context, w io.Writer, pcm []int16) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return WriteWAV(w, pcm)
}

// Format returns "wav".
func (WAVEncoder) Format() string { return "wav" }

// ContentType returns "audio/wav".
func (WAVEncoder) ContentType() string { return "audio/wav" }

// ErrNoEncoder means no MP3 encoder program is installed.
var ErrNoEncoder = errors.New("audio: no MP3 encoder (install lame or ffmpeg)")

// CommandEncoder pipes raw PCM (signed 16-bit little-endian, 8 kHz,
// mono) into a program's standard input and copies its standard output to
// the destination. There is no pure-Go MP3 encoder, so MP3 recordings use
// lame or ffmpeg this way. Arguments are passed without a shell.
type CommandEncoder struct {
	Path    string
	Args    []string
	Ext     string // what Format returns
	Type    string // what ContentType returns
	Timeout time.Duration
}

// Lame returns an MP3 encoder running lame at path. It writes MPEG-2
// Layer III at 16 kHz, 32 kbit/s: lame would write 8 kHz input as MPEG-2.5,
// which some players (and this package's decoder) do not read.
func Lame(path string) *CommandEncoder {
	return &CommandEncoder{
		Path: path,
		Args: []string{"-r", "-s", "8", "--bitwidth", "16", "--signed", "--little-endian",
			"-m", "m", "--resample", "16", "-b", "32", "--quiet", "-", "-"},
		Ext: "mp3", Type: "audio/mpeg", Timeout: 2 * time.Minute,
	}
}

// FFmpeg returns an MP3 encoder running ffmpeg (with libmp3lame) at path,
// writing the same format as Lame.
func FFmpeg(path string) *CommandEncoder {
	return &CommandEncoder{
		Path: path,
		Args: []string{"-hide_banner", "-loglevel", "error", "-f", "s16le", "-ar", "8000", "-ac", "1",
			"-i", "pipe:0", "-ar", "16000", "-c:a", "libmp3lame", "-b:a", "32k", "-f", "mp3", "pipe:1"},
		Ext: "mp3", Type: "audio/mpeg", Timeout: 2 * time.Minute,
	}
}

// NewMP3Encoder finds lame, then ffmpeg, on PATH.
func NewMP3Encoder() (*CommandEncoder, error) {
	if p, err := exec.LookPath("lame"); err == nil {
		return Lame(p), nil
	}
	if p, err := exec.LookPath("ffmpeg"); err == nil {
		return FFmpeg(p), nil
	}
	return nil, ErrNoEncoder
}

// Format returns e.Ext.
func (e *CommandEncoder) Format() string { return e.Ext }

// ContentType returns e.Type.
func (e *CommandEncoder) ContentType() string { return e.Type }

// Encode runs the program over pcm.
func (e *CommandEncoder) Encode(ctx context.Context, w io.Writer, pcm []int16) error {
	if e.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, e.Timeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, e.Path, e.Args...)
	cmd.Stdin = bytes.NewReader(Bytes(pcm))
	cmd.Stdout = w
	stderr := &capped{max: 2048}
	cmd.Stderr = stderr
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("audio: %s encoder: %w", e.Ext, ctx.Err())
		}
		return fmt.Errorf("audio: %s encoder %s: %w: %s", e.Ext, e.Path, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// capped keeps the first max bytes written to it. The buffer is a field,
// not embedded: an embedded bytes.Buffer would lend it ReadFrom, which
// io.Copy prefers to Write, bypassing the cap.
type capped struct {
	buf bytes.Buffer
	max int
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (c *capped) String() string { return c.buf.String() }
