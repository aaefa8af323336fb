package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/account"
	"github.com/trunkline/trunkline/audit"
	"github.com/trunkline/trunkline/identity"
	"github.com/trunkline/trunkline/keys"
	"github.com/trunkline/trunkline/message"
	"github.com/trunkline/trunkline/recording"
	"github.com/trunkline/trunkline/store"
)

// macKeyName names the MAC key's row in server_keys.
const macKeyName = "mac"

// useMACKey makes ring MAC under the platform's MAC key, kept sealed in the database.
// On first use (a new install, or one from before the key was stored) the key the ring
// derived from its KEK is stored: it is the key every existing keyed hash was made with.
// From then on a new KEK only reseals the row, and the keyed hashes keep checking.
func useMACKey(ctx context.Context, db *store.DB, ring *keys.Ring) error {
	wrapped, err := db.ServerKey(ctx, macKeyName)
	if errors.Is(err, trunkline.ErrNotFound) {
		if wrapped, err = ring.WrapMACKey(); err != nil {
			return err
		}
		err = db.AddServerKey(ctx, macKeyName, wrapped)
		if errors.Is(err, trunkline.ErrConflict) { // another process stored it first: use that one
			wrapped, err = db.ServerKey(ctx, macKeyName)
		}
	}
	if err != nil {
		return err
	}
	return ring.UseMACKey(wrapped)
}

// sealed lists every stored value sealed under the KEK, with how to rebuild its aad
// from its row. Ceremony cookies and TOTP enrolment forms are sealed too but live
// minutes in a browser, not here: one begun before the old KEK is retired must be
// started again.
var sealed = []struct {
	col store.SealedColumn
	aad func(row []string) ([]byte, error)
}{
	{store.SealedColumn{Table: "credentials", Column: "token_enc", Key: []string{"id"}, AADFrom: []string{"id"}},
		func(r []string) ([]byte, error) { return account.CredentialAAD(r[0]), nil }},
	{store.SealedColumn{Table: "endpoints", Column: "ha1_enc", Key: []string{"id"}, AADFrom: []string{"username"}},
		func(r []string) ([]byte, error) { return account.EndpointHA1AAD(r[0]), nil }},
	{store.SealedColumn{Table: "endpoints", Column: "password_md5_enc", Key: []string{"id"}, AADFrom: []string{"username"}},
		func(r []string) ([]byte, error) { return account.EndpointMD5AAD(r[0]), nil }},
	{store.SealedColumn{Table: "users", Column: "totp_enc", Key: []string{"id"}, AADFrom: []string{"id"}},
		func(r []string) ([]byte, error) { return identity.TOTPAAD(r[0]), nil }},
	{store.SealedColumn{Table: "messages", Column: "payload_enc", Key: []string{"uuid"}, AADFrom: []string{"uuid"}},
		func(r []string) ([]byte, error) { return message.PayloadAAD(r[0]), nil }},
	{store.SealedColumn{Table: "callbacks", Column: "params_enc", Key: []string{"id"}, AADFrom: []string{"object_id"}},
		func(r []string) ([]byte, error) { return message.CallbackAAD(r[0]), nil }},
	{store.SealedColumn{Table: "account_data_keys", Column: "wrapped", Key: []string{"account_id", "purpose"}, AADFrom: []string{"account_id", "purpose"}},
		func(r []string) ([]byte, error) {
			if r[1] != recording.Purpose {
				return nil, fmt.Errorf("data key of unknown purpose %q", r[1])
			}
			return recording.DataKeyAAD(r[0]), nil
		}},
}

// resealAll moves every sealed value to ring's current key, returning how many it
// changed and how many it looked at.
func resealAll(ctx context.Context, db *store.DB, ring *keys.Ring) (changed, visited int, err error) {
	for _, s := range sealed {
		c, v, err := db.Reseal(ctx, s.col, func(row []string, ct []byte) ([]byte, error) {
			aad, err := s.aad(row)
			if err != nil {
				return nil, err
			}
			out, ok, err := ring.Reseal(ct, aad)
			if err != nil || !ok {
				return nil, err
			}
			return out, nil
		})
		changed, visited = changed+c, visited+v
		if err != nil {
			return changed, visited, err
		}
	}
	// The MAC key: the ring already holds it (useMACKey), so seal it anew if need be.
	wrapped, err := db.ServerKey(ctx, macKeyName)
	if err != nil {
		return changed, visited, err
	}
	visited++
	if !ring.Sealed(wrapped) {
		c, _, err := db.Reseal(ctx, store.SealedColumn{Table: "server_keys", Column: "wrapped", Key: []string{"name"}, AADFrom: []string{"name"}},
			func(row []string, ct []byte) ([]byte, error) {
				if row[0] != macKeyName {
					return nil, nil
				}
				return ring.WrapMACKey()
			})
		changed += c
		if err != nil {
			return changed, visited, err
		}
	}
	return changed, visited, nil
}

// rotateKEK is the work of keys rotate (retire false) and keys retire-old (retire
// true) on the store db whose secrets ring opens. With a KEK file at path, rotate puts
// a new key first in it; with $TRUNKLINE_KEK (which Trunkline cannot change) the
// operator has done that. Then every stored secret is resealed under the newest key,
// and retire drops the older keys from the file. It returns the ring now in force.
func rotateKEK(ctx context.Context, db *store.DB, ring *keys.Ring, path string, retire bool) (*keys.Ring, int, int, error) {
	fromEnv := os.Getenv(keys.EnvKEK) != ""
	if !retire && !fromEnv {
		if err := keys.AddKEK(path); err != nil {
			return nil, 0, 0, fmt.Errorf("add a new KEK to %s: %w", path, err)
		}
		var err error
		if ring, err = keys.LoadOrCreateKEK(path); err != nil {
			return nil, 0, 0, err
		}
		if err := useMACKey(ctx, db, ring); err != nil {
			return nil, 0, 0, err
		}
	}
	changed, visited, err := resealAll(ctx, db, ring)
	if err != nil {
		// Every KEK is still in the ring, so nothing is lost: retire-old reseals what is left.
		return nil, changed, visited, fmt.Errorf("reseal under the newest KEK stopped after %d secrets (fix the cause, then run trunkline keys retire-old, which reseals the rest before dropping anything): %w", changed, err)
	}
	if retire && !fromEnv {
		if err := keys.RetireOldKEKs(path); err != nil {
			return nil, changed, visited, fmt.Errorf("drop the old KEKs from %s: %w", path, err)
		}
		var err error
		if ring, err = keys.LoadOrCreateKEK(path); err != nil {
			return nil, changed, visited, err
		}
		if err := useMACKey(ctx, db, ring); err != nil {
			return nil, changed, visited, err
		}
	}
	return ring, changed, visited, nil
}

const keysUsage = "keys needs a subcommand: rotate (a new KEK, everything resealed under it) or retire-old (drop the older KEKs)"

// cmdKeys rotates the key-encryption key in two steps: rotate puts a new key first and
// reseals every stored secret under it (the old key stays, so a server that has not
// restarted keeps working); retire-old, once every server has restarted, reseals what
// they sealed meanwhile under the old key and drops it.
func cmdKeys(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError(keysUsage)
	}
	sub, args := args[0], args[1:]
	if sub != "rotate" && sub != "retire-old" {
		return usageError(keysUsage)
	}
	o := newOperatorCmd("keys "+sub, stderr)
	if err := o.parseFlags(args); err != nil {
		return err
	}
	p, err := o.open(ctx, stderr)
	if err != nil {
		return err
	}
	defer p.Close()
	fromEnv := os.Getenv(keys.EnvKEK) != ""
	path := p.cfg.KEKPath()
	if sub == "retire-old" && p.ring.Size() == 1 {
		fmt.Fprintln(stdout, "There is one KEK: nothing to retire.")
		return nil
	}
	ring, changed, visited, err := rotateKEK(ctx, p.db, p.ring, path, sub == "retire-old")
	if err != nil {
		return err
	}
	action := "kek.rotate"
	if sub == "retire-old" {
		action = "kek.retire_old"
	}
	if err := record(ctx, p, audit.Entry{Action: action, ObjectType: "kek", Outcome: audit.Success,
		Detail: map[string]string{"resealed": strconv.Itoa(changed), "checked": strconv.Itoa(visited), "from_env": strconv.FormatBool(fromEnv)}}); err != nil {
		return err
	}
	if o.f.asJSON {
		return printJSON(stdout, map[string]any{"resealed": changed, "checked": visited, "from_env": fromEnv})
	}
	fmt.Fprintf(stdout, "%d of %d stored secrets resealed under the newest KEK.\n", changed, visited)
	switch {
	case sub == "rotate" && fromEnv && ring.Size() == 1:
		fmt.Fprintf(stdout, "The KEK comes from $%s, which Trunkline cannot change. To rotate it: make a new key\n"+
			"(openssl rand -base64 32), set %s=\"NEW OLD\" (newest first) for the server and this command,\n"+
			"restart the server, run trunkline keys rotate again, then trunkline keys retire-old.\n", keys.EnvKEK, keys.EnvKEK)
	case sub == "rotate":
		fmt.Fprintln(stdout, "The new KEK is in use; the old one is kept to open what a running server still seals with it.\n"+
			"Restart the server (every node), then run: trunkline keys retire-old")
	case fromEnv:
		fmt.Fprintf(stdout, "Nothing is sealed under the old KEKs any more: remove them from $%s (keep the first key) and restart the server.\n", keys.EnvKEK)
	default:
		fmt.Fprintf(stdout, "The old KEKs are gone from %s; back up the new file.\n", path)
	}
	return nil
}
