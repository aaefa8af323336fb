package audio

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	at "github.com/trunkline/trunkline/audio/internal/audiotest"
)

func TestWAVEncoder(t *testing.T) {
	var e Encoder = WAVEncoder{}
	pcm := at.Sine(700, SampleRate, 0.5, 8000)
	var buf bytes.Buffer
	if err := e.Encode(context.Background(), &buf, pcm); err != nil {
		t.Fatal(err)
	}
	got, err := Decode(&buf, 1<<20)
	if err != nil || !slices.Equal(got, pcm) {
		t.Fatalf("round trip: %v", err)
	}
	if e.Format() != "wav" || e.ContentType() != "audio/wav" {
		t.Error(e.Format(), e.ContentType())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := e.Encode(ctx, &buf, pcm); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// TestLameEncoderRoundTrip encodes a recording to MP3 with lame and reads
// it back with this package's decoder.
func TestLameEncoderRoundTrip(t *testing.T) {
	path := at.NeedProgram(t, "lame")
	var e Encoder = Lame(path)
	pcm := at.Sine(1000, SampleRate, 2, 12000)
	var buf bytes.Buffer
	start := time.Now()
	if err := e.Encode(context.Background(), &buf, pcm); err != nil {
		t.Fatal(err)
	}
	t.Logf("lame: 2 s of audio -> %d bytes in %v", buf.Len(), time.Since(start))
	if e.Format() != "mp3" || e.ContentType() != "audio/mpeg" {
		t.Error(e.Format(), e.ContentType())
	}
	if b := buf.Bytes(); len(b) < 4 || b[0] != 0xFF || b[1]&0xE0 != 0xE0 {
		if !bytes.HasPrefix(b, []byte("ID3")) {
			t.Fatalf("not MP3: % x", b[:min(8, len(b))])
		}
	}
	got, err := Decode(&buf, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if d := float64(len(got)) / SampleRate; d < 2 || d > 2.2 {
		t.Errorf("duration %.3f s, want 2 s plus encoder padding", d)
	}
	mid := got[4000:12000]
	if f := at.ZeroCrossingFreq(mid, SampleRate); math.Abs(f-1000) > 1 {
		t.Errorf("frequency %.2f Hz", f)
	}
	if a := at.ToneAmplitude(mid, 1000, SampleRate); math.Abs(at.DB(a, 12000)) > 1 {
		t.Errorf("amplitude %.0f, want 12000", a)
	}
}

func TestNewMP3EncoderFindsOne(t *testing.T) {
	e, err := NewMP3Encoder()
	if errors.Is(err, ErrNoEncoder) {
		at.NeedProgram(t, "lame")
	}
	if err != nil {
		t.Fatal(err)
	}
	if e.Format() != "mp3" {
		t.Fatal(e.Format())
	}
}

func TestCommandEncoderFailures(t *testing.T) {
	dir := t.TempDir()
	fail := filepath.Join(dir, "fail")
	os.WriteFile(fail, []byte("#!/bin/sh\necho 'bad input' >&2\nexit 3\n"), 0o755)
	hang := filepath.Join(dir, "hang")
	os.WriteFile(hang, []byte("#!/bin/sh\nexec "+at.NeedProgram(t, "sleep")+" 30\n"), 0o755)

	var buf bytes.Buffer
	err := (&CommandEncoder{Path: fail, Ext: "mp3"}).Encode(context.Background(), &buf, make([]int16, 100))
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("bad input")) {
		t.Errorf("failing program: %v", err)
	}
	err = (&CommandEncoder{Path: filepath.Join(dir, "missing"), Ext: "mp3"}).Encode(context.Background(), &buf, nil)
	if err == nil {
		t.Error("missing program: no error")
	}
	start := time.Now()
	err = (&CommandEncoder{Path: hang, Ext: "mp3", Timeout: 200 * time.Millisecond}).Encode(context.Background(), &buf, make([]int16, 100))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("hanging program: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("timeout took %v", d)
	}
}
