package bus

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/trunkline/trunkline"
)

func TestMatch(t *testing.T) {
	cases := []struct {
		name, pattern, subject string
		want                   bool
	}{
		{"exact", "msg.queued", "msg.queued", true},
		{"different", "msg.queued", "msg.sent", false},
		{"star one token", "call.*.hangup", "call.abc.hangup", true},
		{"star not two tokens", "call.*", "call.abc.hangup", false},
		{"tail", "call.>", "call.abc.hangup", true},
		{"tail needs a token", "call.>", "call", false},
		{"longer subject", "msg", "msg.queued", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := match(splitDots(c.pattern), splitDots(c.subject)); got != c.want {
				t.Fatalf("match(%q, %q) = %v", c.pattern, c.subject, got)
			}
		})
	}
}

func splitDots(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '.' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}

func TestPublishSubscribeRequest(t *testing.T) {
	b := NewLocal()
	defer b.Close()
	got := make(chan string, 2)
	if _, err := b.Subscribe("work.*", func(m trunkline.Msg) { got <- m.Subject }); err != nil {
		t.Fatal(err)
	}
	b.Publish("work.sms", nil)
	b.Publish("other", nil)
	select {
	case s := <-got:
		if s != "work.sms" {
			t.Fatalf("got %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no delivery")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := b.Request(ctx, "call.x.hangup", nil); !errors.Is(err, ErrNoResponders) {
		t.Fatalf("request with nobody listening: %v", err)
	}
	sub, _ := b.Subscribe("call.x.hangup", func(m trunkline.Msg) { m.Reply(append([]byte("ok:"), m.Data...)) })
	r, err := b.Request(ctx, "call.x.hangup", []byte("now"))
	if err != nil || string(r) != "ok:now" {
		t.Fatalf("reply %q, %v", r, err)
	}
	sub.Unsubscribe()
	if _, err := b.Request(ctx, "call.x.hangup", nil); !errors.Is(err, ErrNoResponders) {
		t.Fatalf("after unsubscribe: %v", err)
	}
}
