package charset

import (
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a fake clock for the joiner.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newClock() *clock { return &clock{t: time.Date(2024, 1, 2, 15, 4, 5, 0, time.UTC)} }

type seg struct {
	key             string
	ref, total, seq int
	body            string
}

func TestJoiner(t *testing.T) {
	tests := []struct {
		name string
		segs []seg
		want []string // messages completed, in order
	}{
		{"in order", []seg{{"a", 1, 3, 1, "Hel"}, {"a", 1, 3, 2, "lo "}, {"a", 1, 3, 3, "you"}}, []string{"Hello you"}},
		{"out of order", []seg{{"a", 1, 3, 3, "you"}, {"a", 1, 3, 1, "Hel"}, {"a", 1, 3, 2, "lo "}}, []string{"Hello you"}},
		{"duplicates ignored", []seg{{"a", 1, 2, 1, "ab"}, {"a", 1, 2, 1, "XX"}, {"a", 1, 2, 2, "cd"}, {"a", 1, 2, 2, "YY"}},
			[]string{"abcd"}},
		{"single segment at once", []seg{{"a", 9, 1, 1, "whole"}}, []string{"whole"}},
		{"interleaved keys and refs", []seg{
			{"a", 1, 2, 1, "a1"}, {"b", 1, 2, 1, "b1"}, {"a", 2, 2, 2, "A2"},
			{"b", 1, 2, 2, "b2"}, {"a", 1, 2, 2, "a2"}, {"a", 2, 2, 1, "A1"},
		}, []string{"b1b2", "a1a2", "A1A2"}},
		{"same ref, other total is another message", []seg{{"a", 1, 2, 1, "x"}, {"a", 1, 3, 2, "y"}, {"a", 1, 2, 2, "z"}},
			[]string{"xz"}},
		{"reference reused after completion", []seg{{"a", 1, 2, 1, "1"}, {"a", 1, 2, 2, "2"}, {"a", 1, 2, 2, "4"}, {"a", 1, 2, 1, "3"}},
			[]string{"12", "34"}},
		{"invalid segments dropped", []seg{{"a", 1, 0, 1, "x"}, {"a", 1, 2, 0, "x"}, {"a", 1, 2, 3, "x"}, {"a", 1, 256, 1, "x"}}, nil},
		{"empty segment bodies", []seg{{"a", 1, 2, 2, ""}, {"a", 1, 2, 1, ""}}, []string{""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := NewJoiner(JoinerOptions{Now: newClock().now})
			var got []string
			for _, s := range tt.segs {
				if msg, done := j.Add(s.key, s.ref, s.total, s.seq, []byte(s.body)); done {
					got = append(got, string(msg))
				}
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
				t.Errorf("completed %q, want %q", got, tt.want)
			}
		})
	}
}

func TestJoinerCopiesSegments(t *testing.T) {
	j := NewJoiner(JoinerOptions{})
	buf := []byte("ab")
	j.Add("k", 1, 2, 1, buf)
	copy(buf, "XX") // the caller reuses its read buffer
	msg, done := j.Add("k", 1, 2, 2, []byte("cd"))
	if !done || string(msg) != "abcd" {
		t.Errorf("got %q, %v; want abcd", msg, done)
	}
}

func TestJoinerExpiry(t *testing.T) {
	c := newClock()
	j := NewJoiner(JoinerOptions{Expiry: time.Minute, Now: c.now})
	j.Add("k", 1, 2, 1, []byte("old"))
	c.advance(30 * time.Second)
	j.Add("k", 2, 2, 1, []byte("new"))
	c.advance(30 * time.Second) // the first is now a minute old
	if _, done := j.Add("k", 1, 2, 2, []byte("!")); done {
		t.Error("an expired message was completed")
	}
	// The late segment started a fresh message for ref 1.
	if n := j.Len(); n != 2 {
		t.Errorf("Len = %d, want 2 (ref 2 and the late segment)", n)
	}
	if msg, done := j.Add("k", 2, 2, 2, []byte("er")); !done || string(msg) != "newer" {
		t.Errorf("got %q, %v; want newer", msg, done)
	}
	c.advance(time.Hour)
	if n := j.Expire(); n != 1 || j.Len() != 0 {
		t.Errorf("Expire = %d, Len = %d; want 1, 0", n, j.Len())
	}
}

func TestJoinerBounds(t *testing.T) {
	t.Run("MaxPending drops the oldest", func(t *testing.T) {
		j := NewJoiner(JoinerOptions{MaxPending: 2, Now: newClock().now})
		j.Add("k", 1, 2, 1, []byte("a"))
		j.Add("k", 2, 2, 1, []byte("b"))
		j.Add("k", 3, 2, 1, []byte("c"))
		if j.Len() != 2 {
			t.Errorf("Len = %d, want 2", j.Len())
		}
		if _, done := j.Add("k", 1, 2, 2, []byte("!")); done {
			t.Error("the oldest message survived")
		}
		if msg, done := j.Add("k", 3, 2, 2, []byte("!")); !done || string(msg) != "c!" {
			t.Errorf("got %q, %v", msg, done)
		}
	})
	t.Run("MaxBytes drops the oldest", func(t *testing.T) {
		j := NewJoiner(JoinerOptions{MaxBytes: 10, Now: newClock().now})
		j.Add("k", 1, 3, 1, []byte("123456"))
		j.Add("k", 2, 3, 1, []byte("7890"))
		j.Add("k", 2, 3, 2, []byte("ab")) // 12 octets held: ref 1 goes
		if j.Len() != 1 {
			t.Errorf("Len = %d, want 1", j.Len())
		}
		if msg, done := j.Add("k", 2, 3, 3, []byte("c")); !done || string(msg) != "7890abc" {
			t.Errorf("got %q, %v", msg, done)
		}
		j.Add("k", 3, 2, 1, make([]byte, 11)) // alone too big: not kept
		if j.Len() != 0 {
			t.Errorf("Len = %d, want 0", j.Len())
		}
	})
}

func TestSplitThenJoin(t *testing.T) {
	texts := []string{
		strings.Repeat("Grüße {x} € ", 40),
		strings.Repeat("Привет 😀 ", 30),
		strings.Repeat("a", 1600),
	}
	j := NewJoiner(JoinerOptions{})
	for i, s := range texts {
		coding, parts, err := Split(s)
		if err != nil {
			t.Fatal(err)
		}
		var msg []byte
		var done bool
		// Last to first, each twice, through the UDH.
		for k := len(parts) - 1; k >= 0; k-- {
			udh := ConcatUDH8(byte(i), byte(len(parts)), byte(k+1))
			for range 2 {
				ref, total, seq, body, ok := ParseUDH(append(udh, parts[k]...))
				if !ok {
					t.Fatal("ParseUDH refused ConcatUDH8")
				}
				if m, d := j.Add("carrier/14155550100/14155550199", ref, total, seq, body); d {
					msg, done = m, d
				}
			}
		}
		if got, _ := Decode(coding, msg); !done || got != s {
			t.Errorf("text %d came back as %q (done %v)", i, got, done)
		}
	}
}

// Segments of one message can arrive on different binds at once.
func TestJoinerConcurrent(t *testing.T) {
	j := NewJoiner(JoinerOptions{})
	const messages, total = 50, 4
	done := make(chan string, messages)
	var wg sync.WaitGroup
	for seq := 1; seq <= total; seq++ {
		wg.Go(func() {
			for ref := range messages {
				if msg, ok := j.Add("k", ref, total, seq, []byte{byte('0' + seq)}); ok {
					done <- string(msg)
				}
			}
		})
	}
	wg.Wait()
	close(done)
	n := 0
	for msg := range done {
		if msg != "1234" {
			t.Errorf("joined %q", msg)
		}
		n++
	}
	if n != messages || j.Len() != 0 {
		t.Errorf("%d messages joined, %d pending; want %d, 0", n, j.Len(), messages)
	}
}
