// Command backupgen fills a Trunkline data dir with messages and recordings for
// bench/backup.sh: about -mb megabytes in all, a tenth of it messages (bodies sealed
// under their account's key, as the server stores them) and the rest recordings
// (encrypted files, as the server writes them). Run on an existing dir it adds that much
// (the incremental-backup step).
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/account"
	"github.com/trunkline/trunkline/config"
	"github.com/trunkline/trunkline/keys"
	"github.com/trunkline/trunkline/recording"
	"github.com/trunkline/trunkline/store"
)

func main() {
	dir := flag.String("data-dir", "", "data dir to fill")
	mb := flag.Int("mb", 1024, "approximate size to generate, in MB")
	recKB := flag.Int("recording-kb", 2048, "size of each recording, in KB")
	flag.Parse()
	if *dir == "" {
		log.Fatal("backupgen: -data-dir is required")
	}
	ctx := context.Background()
	c := config.Default()
	c.DataDir = *dir
	os.MkdirAll(*dir, 0o700)
	kek, err := keys.LoadOrCreateKEK(c.KEKPath())
	if err != nil {
		log.Fatal(err)
	}
	db, err := store.Open(ctx, c.DSN())
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	db.SetBodyCipher(keys.NewBodies(kek, db, func(err error) bool { return errors.Is(err, trunkline.ErrNotFound) }))
	accts := account.New(db, kek, account.Options{})
	var ids []string
	for i := 0; i < 4; i++ {
		a, err := accts.CreateMain(ctx, fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), i))
		if err != nil {
			log.Fatal(err)
		}
		ids = append(ids, a.Account.ID)
	}
	recs, err := recording.New(filepath.Join(*dir, "recordings"), kek, db)
	if err != nil {
		log.Fatal(err)
	}
	// Messages: about a tenth of the size, ~1 KB per stored row with indexes.
	nmsg := *mb * 1024 / 10
	body := "Your verification code is 123456. Thank you for choosing the bench. "
	for len(body) < 300 {
		body += body
	}
	for i := 0; i < nmsg; i += 500 {
		var ms []*trunkline.Message
		for j := i; j < i+500 && j < nmsg; j++ {
			ms = append(ms, &trunkline.Message{UUID: uuid.NewString(), AccountID: ids[j%len(ids)], Direction: "outbound", Type: "sms",
				LogMode: "true", From: "15550001111", To: fmt.Sprintf("1555%07d", j), Body: body[:300], State: trunkline.MsgDelivered,
				Units: 2, ExpiresAt: time.Now().Add(time.Hour)})
		}
		if err := db.InsertMessages(ctx, ms, nil); err != nil {
			log.Fatal(err)
		}
	}
	// Recordings: the other nine tenths.
	nrec := max(1, *mb*1024*9/10 / *recKB)
	buf := make([]byte, *recKB<<10)
	for i := 0; i < nrec; i++ {
		rand.Read(buf)
		w, err := recs.Create(ctx, ids[i%len(ids)], "RE-"+uuid.NewString())
		if err != nil {
			log.Fatal(err)
		}
		w.Write(buf)
		if err := w.Close(); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Printf("backupgen: %d messages, %d recordings of %d KB\n", nmsg, nrec, *recKB)
}
