package sandbox

import "testing"

func TestNotifier(t *testing.T) {
	n := NewNotifier()
	first := n.Changed()
	select {
	case <-first:
		t.Fatal("closed before any change")
	default:
	}
	n.notify()
	select {
	case <-first:
	default:
		t.Fatal("a change did not wake the waiter")
	}
	select {
	case <-n.Changed():
		t.Fatal("the next channel is already closed")
	default:
	}
	var none *Notifier
	none.notify() // a nil Notifier is allowed
}
