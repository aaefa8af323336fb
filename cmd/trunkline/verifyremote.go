package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/trunkline/trunkline/audit"
)

// cmdAuditVerifyRemote is the customer's side of the audit log: from outside, over the
// API with the account's Auth ID and Token, it checks that the account's entries are in
// the signed log and that the log only grew since the last run (whose checkpoint it
// keeps in a state file). It needs no data dir: it is run on the customer's machine,
// with the verifier key the operator publishes (keys/audit.pub).
func cmdAuditVerifyRemote(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("audit verify-remote", flag.ContinueOnError)
	fs.SetOutput(stderr)
	base := fs.String("url", "", "the API's base URL, https://host[:port]")
	authID := fs.String("auth-id", os.Getenv("PLIVO_AUTH_ID"), "the account's Auth ID (default $PLIVO_AUTH_ID)")
	tokenFile := fs.String("auth-token-file", "", "a file holding the Auth Token (default: $PLIVO_AUTH_TOKEN)")
	keyArg := fs.String("key", "", "the operator's verifier key, or a file holding it (keys/audit.pub); remembered in the state file")
	statePath := fs.String("state", "trunkline-audit-state.json", "where the last verified checkpoint and the entries proved are kept")
	caFile := fs.String("ca", "", "PEM file of the CA that signed the server's certificate, when not a public one")
	timeout := fs.Duration("timeout", 30*time.Minute, "give up after this long")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	u, err := url.Parse(*base)
	if *base == "" || err != nil || u.Scheme != "https" || u.Host == "" {
		return usageError("audit verify-remote needs --url https://host[:port] (HTTPS only: the Auth Token goes with every request)")
	}
	if *authID == "" {
		return usageError("audit verify-remote needs --auth-id or $PLIVO_AUTH_ID")
	}
	// The token is never a flag: command lines are visible to every user of the machine.
	token := os.Getenv("PLIVO_AUTH_TOKEN")
	if *tokenFile != "" {
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			return usageError(fmt.Sprintf("--auth-token-file: %v", err))
		}
		token = strings.TrimSpace(string(b))
	}
	if token == "" {
		return usageError("audit verify-remote needs the Auth Token in $PLIVO_AUTH_TOKEN or --auth-token-file")
	}
	prev, err := audit.LoadRemoteState(*statePath)
	if err != nil {
		return err
	}
	key, err := remoteKey(*keyArg, prev)
	if err != nil {
		return err
	}
	v, err := note.NewVerifier(key)
	if err != nil {
		return usageError(fmt.Sprintf("--key is not a verifier key (want the one line of keys/audit.pub): %v", err))
	}
	if prev != nil && (prev.URL != *base || prev.AuthID != *authID) {
		return usageError(fmt.Sprintf("the state file %s belongs to %s at %s; use another --state for %s at %s", *statePath, prev.AuthID, prev.URL, *authID, *base))
	}
	client, err := httpsClient(*caFile, "--ca")
	if err != nil {
		return usageError(err.Error())
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	rm := &audit.Remote{URL: *base, AuthID: *authID, AuthToken: token, Verifier: v, Client: client}
	rep, next, err := rm.Verify(ctx, prev)
	if err != nil {
		return fmt.Errorf("audit verify-remote: %w", err)
	}
	if rep.OK {
		next.VerifierKey = key
		if err := next.Save(*statePath); err != nil {
			return fmt.Errorf("the log verified but the state file could not be written: %w", err)
		}
	}
	if *asJSON {
		printJSON(stdout, rep)
	} else {
		fmt.Fprint(stdout, rep.String())
	}
	if !rep.OK {
		return errAuditFailed
	}
	return nil
}

// remoteKey is the verifier key from --key (the key itself, or a file holding it),
// else the one the state file remembers. A key other than the remembered one is
// refused: an operator's key change is something to ask about, not to accept silently.
func remoteKey(arg string, prev *audit.RemoteState) (string, error) {
	key := strings.TrimSpace(arg)
	if _, err := os.Stat(key); key != "" && err == nil {
		b, err := os.ReadFile(key)
		if err != nil {
			return "", usageError(fmt.Sprintf("--key: %v", err))
		}
		key = strings.TrimSpace(string(b))
	}
	var kept string
	if prev != nil {
		kept = prev.VerifierKey
	}
	switch {
	case key == "" && kept == "":
		return "", usageError("audit verify-remote needs --key: the operator's published verifier key (keys/audit.pub)")
	case key == "":
		return kept, nil
	case kept != "" && key != kept:
		return "", errors.New("--key differs from the key this state file was verified with; if the operator really changed keys, start a new --state (and ask them why)")
	}
	return key, nil
}
