package audio

import (
	"bytes"
	"encoding/binary"
	"os/exec"
	"testing"

	at "github.com/trunkline/trunkline/audio/internal/audiotest"
)

func TestG711KnownValues(t *testing.T) {
	cases := []struct {
		name string
		got  int
		want int
	}{
		{"mulaw(0)", int(MulawFromLinear(0)), 0xFF},
		{"mulaw(-1)", int(MulawFromLinear(-1)), 0x7F}, // G.191: one's complement
		{"mulaw(-4)", int(MulawFromLinear(-4)), 0x7F},
		{"mulaw(-5)", int(MulawFromLinear(-5)), 0x7E},
		{"mulaw(32767)", int(MulawFromLinear(32767)), 0x80},
		{"mulaw(-32768)", int(MulawFromLinear(-32768)), 0x00},
		{"alaw(0)", int(AlawFromLinear(0)), 0xD5},
		{"alaw(-1)", int(AlawFromLinear(-1)), 0x55},
		{"alaw(32767)", int(AlawFromLinear(32767)), 0xAA},
		{"alaw(-32768)", int(AlawFromLinear(-32768)), 0x2A},
		{"linear(mu 0xFF)", int(MulawToLinear(0xFF)), 0},
		{"linear(mu 0x80)", int(MulawToLinear(0x80)), 32124},
		{"linear(mu 0x00)", int(MulawToLinear(0x00)), -32124},
		{"linear(a 0xD5)", int(AlawToLinear(0xD5)), 8},
		{"linear(a 0x55)", int(AlawToLinear(0x55)), -8},
		{"linear(a 0xAA)", int(AlawToLinear(0xAA)), 32256},
		{"linear(a 0x2A)", int(AlawToLinear(0x2A)), -32256},
		{"silence mu", int(MulawToLinear(MulawSilence)), 0},
		{"silence a", int(AlawToLinear(AlawSilence)), 8},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("%s = %#x, want %#x", c.name, c.got, c.want)
		}
	}
}

func TestG711CodeWordsRoundTrip(t *testing.T) {
	for c := range 256 {
		if c != 0x7F { // μ-law has two zeros; 0x7F (-0) encodes back as 0xFF
			if got := MulawFromLinear(MulawToLinear(byte(c))); got != byte(c) {
				t.Errorf("μ-law %#02x -> %d -> %#02x", c, MulawToLinear(byte(c)), got)
			}
		}
		if got := AlawFromLinear(AlawToLinear(byte(c))); got != byte(c) {
			t.Errorf("A-law %#02x -> %d -> %#02x", c, AlawToLinear(byte(c)), got)
		}
	}
}

func TestG711QuantizationIsMonotonicAndBounded(t *testing.T) {
	prevMu, prevA := int16(-32768), int16(-32768)
	for x := -32768; x <= 32767; x++ {
		mu := MulawToLinear(MulawFromLinear(int16(x)))
		a := AlawToLinear(AlawFromLinear(int16(x)))
		if mu < prevMu || a < prevA {
			t.Fatalf("not monotonic at %d", x)
		}
		prevMu, prevA = mu, a
		// Relative error stays within a segment step: about 1/16 of the value
		// plus the smallest step.
		ax := max(x, -x)
		if d := int(mu) - x; max(d, -d) > ax/16+130 {
			t.Fatalf("μ-law error %d at %d", d, x)
		}
		if d := int(a) - x; max(d, -d) > ax/16+130 {
			t.Fatalf("A-law error %d at %d", d, x)
		}
	}
}

func TestG711SliceHelpers(t *testing.T) {
	pcm := at.Sine(1000, SampleRate, 0.1, 10000)
	mu := EncodeMulaw(nil, pcm)
	al := EncodeAlaw(nil, pcm)
	if len(mu) != len(pcm) || len(al) != len(pcm) {
		t.Fatal("length")
	}
	for _, dec := range [][]int16{DecodeMulaw(nil, mu), DecodeAlaw(nil, al)} {
		var e, s float64
		for i := range pcm {
			d := float64(dec[i] - pcm[i])
			e += d * d
			s += float64(pcm[i]) * float64(pcm[i])
		}
		if snr := at.DB(s, e) / 2; snr < 33 {
			t.Errorf("SNR %.1f dB, want >= 33 (G.711 gives about 37)", snr)
		}
	}
}

// TestG711MatchesSox compares every 16-bit input with SoX's G.711 codec
// (dither off), the reference most tools share.
func TestG711MatchesSox(t *testing.T) {
	sox := at.NeedProgram(t, "sox")
	var all bytes.Buffer
	pcm := make([]int16, 65536)
	for i := range pcm {
		pcm[i] = int16(i - 32768)
		binary.Write(&all, binary.LittleEndian, pcm[i])
	}
	for _, enc := range []string{"u-law", "a-law"} {
		cmd := exec.Command(sox, "-D", "-t", "raw", "-r", "8000", "-e", "signed", "-b", "16", "-c", "1", "-",
			"-t", "raw", "-e", enc, "-b", "8", "-")
		cmd.Stdin = bytes.NewReader(all.Bytes())
		want, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		var got []byte
		if enc == "u-law" {
			got = EncodeMulaw(nil, pcm)
		} else {
			got = EncodeAlaw(nil, pcm)
		}
		// SoX rounds to 14 (μ-law) or 13 (A-law) bits where G.191 truncates,
		// so near a decision level it may pick the neighbouring code word:
		// allow that and nothing else.
		step := 4
		encode := MulawFromLinear
		if enc == "a-law" {
			step, encode = 8, AlawFromLinear
		}
		diff := 0
		for i := range got {
			if got[i] == want[i] {
				continue
			}
			diff++
			lo, hi := encode(at.Clamp(float64(pcm[i])-float64(step))), encode(at.Clamp(float64(pcm[i])+float64(step)))
			if want[i] != lo && want[i] != hi {
				t.Errorf("%s: input %d: got %#02x, sox %#02x: not a rounding difference", enc, pcm[i], got[i], want[i])
			}
		}
		t.Logf("%s: %d of 65536 inputs differ from SoX by its rounding", enc, diff)
		// Decoding all 256 code words.
		codes := make([]byte, 256)
		for i := range codes {
			codes[i] = byte(i)
		}
		cmd = exec.Command(sox, "-t", "raw", "-r", "8000", "-e", enc, "-b", "8", "-c", "1", "-",
			"-t", "raw", "-e", "signed", "-b", "16", "-")
		cmd.Stdin = bytes.NewReader(codes)
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		for i := range 256 {
			w := int16(binary.LittleEndian.Uint16(out[2*i:]))
			g := MulawToLinear(byte(i))
			if enc == "a-law" {
				g = AlawToLinear(byte(i))
			}
			if g != w {
				t.Errorf("%s decode %#02x: got %d, sox %d", enc, i, g, w)
			}
		}
	}
}
