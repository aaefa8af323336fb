package memo

import (
	"context"
	"errors"
	"testing"
)

func size(s string) int64 { return int64(len(s)) }

func TestPanickingLoadReleasesWaiters(t *testing.T) {
	c := New(Options{}, size)
	_, _, err := c.Do(context.Background(), "k", func(context.Context) (string, error) { panic("boom") })
	var pe *PanicError
	if !errors.As(err, &pe) || pe.Value != "boom" {
		t.Fatalf("got %v", err)
	}
	v, hit, err := c.Do(context.Background(), "k", func(context.Context) (string, error) { return "ok", nil })
	if v != "ok" || hit || err != nil {
		t.Fatalf("%q %v %v", v, hit, err)
	}
	if v, ok := c.Get("k"); !ok || v != "ok" {
		t.Fatal("not cached")
	}
}

func TestOversizedValueServedNotKept(t *testing.T) {
	c := New(Options{MaxBytes: 4}, size)
	v, _, err := c.Do(context.Background(), "k", func(context.Context) (string, error) { return "too long", nil })
	if v != "too long" || err != nil {
		t.Fatal(v, err)
	}
	if s := c.Stats(); s.Entries != 0 || s.Bytes != 0 {
		t.Fatalf("%+v", s)
	}
	c.Add("a", "12")
	c.Add("a", "1234") // replacing accounts the new size only
	if s := c.Stats(); s.Entries != 1 || s.Bytes != 4 {
		t.Fatalf("%+v", s)
	}
}
