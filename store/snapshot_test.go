package store_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/trunkline/trunkline/store"
	"github.com/trunkline/trunkline/store/storetest"
)

// A SQLite snapshot holds no account data key, not even in freed pages.
func TestSnapshotSQLiteLeavesNoKeys(t *testing.T) {
	db := storetest.Open(t)[0]
	ctx := context.Background()
	mkAccount(t, db, "MA1", "")
	marker := bytes.Repeat([]byte("WRAPPEDKEY"), 8)
	if _, err := db.PutAccountDataKey(ctx, "MA1", "message", marker); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "snap.db")
	counts, err := db.SnapshotSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := counts[store.KeyringTable]; ok || counts["accounts"] != 1 {
		t.Fatalf("counts %v", counts)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("WRAPPEDKEY")) {
		t.Fatal("the snapshot file still holds the wrapped key's bytes")
	}
	if live, _ := db.AccountDataKey(ctx, "MA1", "message"); !bytes.Equal(live, marker) {
		t.Fatal("the snapshot touched the live keyring")
	}
}
