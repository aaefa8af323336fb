package message

import (
	"testing"

	"github.com/google/uuid"
)

// TestMessageUUIDsTimeOrdered: message ids are UUIDs of version 7 and each new one sorts
// after the one before, so new rows land on the last page of every index keyed by them
// (not on a random page each, as with version 4).
func TestMessageUUIDsTimeOrdered(t *testing.T) {
	prev := ""
	for i := 0; i < 10000; i++ {
		id := newMessageUUID()
		u, err := uuid.Parse(id)
		if err != nil || u.Version() != 7 {
			t.Fatalf("%q: version %v (%v)", id, u.Version(), err)
		}
		if id <= prev {
			t.Fatalf("%q does not sort after %q", id, prev)
		}
		prev = id
	}
}
