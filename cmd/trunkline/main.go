// Command trunkline is the one binary of Trunkline: the server (serve) and the operator
// CLI (account, user, number, audit, check-config, version). It is the only place that wires
// the packages together.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const usage = `trunkline — self-hosted, security-first communications platform (Plivo-compatible API)

Usage:
  trunkline serve        [--data-dir DIR] [--config FILE] [--listen ADDR] [--plain-listen ADDR] [--sip-listen ADDR] [--db DSN]
  trunkline check-config [same flags as serve]
  trunkline firewall     [--format text|nftables] [same flags as serve]   (the listeners the configuration opens, with allowed sources)
  trunkline account create --name NAME [--parent AUTH_ID | --owner EMAIL [--url URL]] [--json]
  trunkline account list [--parent AUTH_ID] [--json]
  trunkline account invite --id AUTH_ID --email EMAIL [--role owner|developer|read-only] [--url URL] [--json]
  trunkline account disable|enable --id AUTH_ID [--json]
  trunkline account rotate --id AUTH_ID [--overlap 24h] [--revoke-old] [--json]
  trunkline account revoke-old --id AUTH_ID [--json]
  trunkline user list --account AUTH_ID [--json]
  trunkline user remove --email EMAIL [--json]
  trunkline user role --email EMAIL --role owner|developer|read-only [--json]
  trunkline account sender-id allow|revoke --id AUTH_ID --sender NAME [--json]
  trunkline account sender-id list --id AUTH_ID [--json]
  trunkline number import FILE.csv [--json]
  trunkline number add --number E164 --country ISO [--type local] [--carrier NAME] [--region R] [--json]
  trunkline audit verify [--json]
  trunkline audit verify-remote --url https://HOST[:PORT] --key audit.pub [--auth-id ID] [--state FILE] [--ca FILE] [--json]
                         (a customer's check from outside; the token from $PLIVO_AUTH_TOKEN or --auth-token-file)
  trunkline staff add --email EMAIL --role support|engineering|security|management [--name N] [--json]
                                       (passphrase on stdin; prints the TOTP secret once)
  trunkline staff list|disable|enable [--email EMAIL] [--json]
  trunkline compliance export --account AUTH_ID --from YYYY-MM-DD --to YYYY-MM-DD [--format csv|json] [--out FILE]
  trunkline keys rotate [--json]       (a new key-encryption key; every stored secret resealed under it)
  trunkline keys retire-old [--json]   (after every server restarted: drop the old KEK)
  trunkline backup keygen --out FILE
  trunkline backup [--backup-key-file FILE] [--json]
  trunkline backup list [--dest NAME] [--json]
  trunkline backup verify [--dest NAME] [--id ID] [--json]
  trunkline restore --to NEW_DIR [--db POSTGRES_DSN] [--dest NAME] [--id ID] [--json]
  trunkline call --to NUMBER [--server 127.0.0.1:5060] [--digits 1234] [--save heard.wav]
  trunkline cluster status [--json]   (the nodes sharing this database: state, roles, binds, calls, leader)
  trunkline version

Every command takes --data-dir (default ./trunkline-data, or $TRUNKLINE_DATA_DIR) and
--config FILE; the operator commands work on the data dir while the server runs.
`

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches a command line; it returns the process exit code (0 ok, 1 failure,
// 2 usage or configuration error).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	var err error
	switch cmd {
	case "serve":
		err = cmdServe(ctx, rest, stdout, stderr)
	case "check-config":
		err = cmdCheckConfig(rest, stdout, stderr)
	case "account":
		err = cmdAccount(ctx, rest, stdout, stderr)
	case "number":
		err = cmdNumber(ctx, rest, stdout, stderr)
	case "user":
		err = cmdUser(ctx, rest, stdout, stderr)
	case "audit":
		err = cmdAudit(ctx, rest, stdout, stderr)
	case "keys":
		err = cmdKeys(ctx, rest, stdout, stderr)
	case "call":
		err = cmdCall(ctx, rest, stdout, stderr)
	case "staff":
		err = cmdStaff(ctx, rest, os.Stdin, stdout, stderr)
	case "compliance":
		err = cmdCompliance(ctx, rest, stdout, stderr)
	case "backup":
		err = cmdBackup(ctx, rest, stdout, stderr)
	case "firewall":
		err = cmdFirewall(ctx, rest, stdout, stderr)
	case "restore":
		err = cmdRestore(ctx, rest, stdout, stderr)
	case "cluster":
		err = cmdCluster(ctx, rest, stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "trunkline", version)
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "trunkline: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if err == nil {
		return 0
	}
	var ue usageError
	if errors.As(err, &ue) || errors.Is(err, flag.ErrHelp) {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "trunkline:", err)
		}
		return 2
	}
	var ce *configError
	if errors.As(err, &ce) {
		fmt.Fprintln(stderr, ce.Error())
		return 2
	}
	fmt.Fprintln(stderr, "trunkline:", err)
	return 1
}

// usageError is a mistake on the command line.
type usageError string

func (e usageError) Error() string { return string(e) }

// configError lists configuration problems in plain words.
type configError struct{ problems []string }

func (e *configError) Error() string {
	var b strings.Builder
	b.WriteString("The configuration has problems:\n")
	for _, p := range e.problems {
		b.WriteString("  - " + p + "\n")
	}
	return strings.TrimRight(b.String(), "\n")
}
