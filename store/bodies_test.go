package store_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/keys"
	"github.com/trunkline/trunkline/store/storetest"
)

// Message bodies are stored sealed under the account's data key: the row holds no
// plain text, reads open it, rows from before migration 14 (plain body_text) still
// read, and deleting the subaccount destroys its key.
func TestMessageBodiesSealedAtRest(t *testing.T) {
	for _, db := range storetest.Open(t) {
		t.Run(string(db.Dialect()), func(t *testing.T) {
			ctx := context.Background()
			raw := make([]byte, 32)
			rand.Read(raw)
			kek, _ := keys.NewRing(raw)
			db.SetBodyCipher(keys.NewBodies(kek, db, func(err error) bool { return errors.Is(err, trunkline.ErrNotFound) }))
			mkAccount(t, db, "MA1", "")
			mkAccount(t, db, "SA1", "MA1")
			const secret = "the launch code is 0000"
			for i, acct := range []string{"MA1", "SA1"} {
				m := &trunkline.Message{UUID: "m" + acct, AccountID: acct, Direction: "outbound", Type: "sms", LogMode: "true",
					From: "1", To: "2", Body: secret, State: trunkline.MsgQueued, Units: 1, ExpiresAt: time.Now().Add(time.Hour)}
				if err := db.InsertMessages(ctx, []*trunkline.Message{m}, nil); err != nil {
					t.Fatal(i, err)
				}
			}
			var plain string
			var enc []byte
			if err := db.SQL().QueryRowContext(ctx, db.Rebind(`SELECT body_text, body_enc FROM messages WHERE uuid = ?`), "mMA1").Scan(&plain, &enc); err != nil {
				t.Fatal(err)
			}
			if plain != "" || len(enc) == 0 || bytes.Contains(enc, []byte("launch")) {
				t.Fatalf("stored body_text %q, body_enc %x: the body is not sealed at rest", plain, enc)
			}
			if m, err := db.MessageByUUID(ctx, "mMA1"); err != nil || m.Body != secret || m.BodyUnreadable {
				t.Fatalf("read back: %+v %v", m, err)
			}
			// A row written before the migration: plain text, no body_enc.
			if _, err := db.SQL().ExecContext(ctx, db.Rebind(`INSERT INTO messages (uuid, account_id, direction, from_number, to_number, body_text,
				state, created_at, updated_at, expires_at, next_attempt_at) VALUES (?, ?, 'inbound', '1', '2', ?, 'received', 1, 1, 1, 1)`),
				"old", "MA1", "old plain body"); err != nil {
				t.Fatal(err)
			}
			if m, err := db.MessageByUUID(ctx, "old"); err != nil || m.Body != "old plain body" {
				t.Fatalf("old row: %+v %v", m, err)
			}
			// Sealing the old rows: the plain text leaves the table, reads are unchanged.
			if n, err := db.SealPlainBodies(ctx, 1); err != nil || n != 1 {
				t.Fatalf("seal old bodies: %d %v", n, err)
			}
			var oldPlain string
			db.SQL().QueryRowContext(ctx, db.Rebind(`SELECT body_text FROM messages WHERE uuid = ?`), "old").Scan(&oldPlain)
			if m, err := db.MessageByUUID(ctx, "old"); err != nil || m.Body != "old plain body" || oldPlain != "" {
				t.Fatalf("old row after sealing: %+v %v, body_text %q", m, err, oldPlain)
			}
			if n, _ := db.SealPlainBodies(ctx, 10); n != 0 {
				t.Fatalf("sealed %d rows twice", n)
			}
			// A sealed body copied to another row does not open there.
			if _, err := db.SQL().ExecContext(ctx, db.Rebind(`UPDATE messages SET body_enc = ? WHERE uuid = ?`), enc, "old"); err != nil {
				t.Fatal(err)
			}
			if m, _ := db.MessageByUUID(ctx, "old"); !m.BodyUnreadable || m.Body == secret {
				t.Fatalf("a body moved to another row opened: %+v", m)
			}
			if err := db.DeleteSubaccount(ctx, "MA1", "SA1", true); err != nil {
				t.Fatal(err)
			}
			if _, err := db.AccountDataKey(ctx, "SA1", keys.MessagePurpose); !errors.Is(err, trunkline.ErrNotFound) {
				t.Fatalf("the deleted subaccount's key is still stored: %v", err)
			}
		})
	}
}
