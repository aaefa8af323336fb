package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"strings"
	"time"

	"github.com/trunkline/trunkline/account"
	"github.com/trunkline/trunkline/audit"
	"github.com/trunkline/trunkline/inventory"
	"github.com/trunkline/trunkline/store"
)

// operatorCmd parses a subcommand's flags and opens the platform for it.
type operatorCmd struct {
	fs *flag.FlagSet
	f  configFlags
}

func newOperatorCmd(name string, stderr io.Writer) *operatorCmd {
	o := &operatorCmd{fs: flag.NewFlagSet(name, flag.ContinueOnError)}
	o.fs.SetOutput(stderr)
	o.f.register(o.fs, false)
	return o
}

func (o *operatorCmd) open(ctx context.Context, stderr io.Writer) (*platform, error) {
	c, err := o.f.load(o.fs, stderr)
	if err != nil {
		return nil, err
	}
	// The CLI logs only warnings, to stderr, so its stdout stays clean for --json.
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return openPlatform(ctx, c, logger)
}

// cliActor names the operator in audit entries.
func cliActor() string {
	if u, err := user.Current(); err == nil {
		return "cli:" + u.Username
	}
	return "cli"
}

// record appends an audit entry for an operator action; a failure to record fails the
// command (the action is reported as done but unaudited, so the operator knows).
func record(ctx context.Context, p *platform, e audit.Entry) error {
	e.Actor, e.Source = cliActor(), "local"
	if _, err := p.audit.Append(ctx, e); err != nil {
		return fmt.Errorf("the action was done but could not be recorded in the audit log: %w", err)
	}
	return nil
}

func cmdAccount(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError("account needs a subcommand: create, list, rotate, revoke-old")
	}
	sub, args := args[0], args[1:]
	o := newOperatorCmd("account "+sub, stderr)
	var name, parent, id string
	var overlap time.Duration
	var revokeOld bool
	switch sub {
	case "create":
		o.fs.StringVar(&name, "name", "", "account name (required)")
		o.fs.StringVar(&parent, "parent", "", "make a subaccount of this main account")
	case "list":
		o.fs.StringVar(&parent, "parent", "", "list this main account's subaccounts")
	case "rotate":
		o.fs.StringVar(&id, "id", "", "Auth ID (required)")
		o.fs.DurationVar(&overlap, "overlap", -1, "how long the old token keeps working (default: auth.token_overlap)")
		o.fs.BoolVar(&revokeOld, "revoke-old", false, "stop the old token at once")
	case "revoke-old":
		o.fs.StringVar(&id, "id", "", "Auth ID (required)")
	default:
		return usageError(fmt.Sprintf("unknown account subcommand %q", sub))
	}
	if pos, err := parseArgs(o.fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usageError(fmt.Sprintf("account %s takes no arguments besides flags (got %q)", sub, pos[0]))
	}
	p, err := o.open(ctx, stderr)
	if err != nil {
		return err
	}
	defer p.Close()
	asJSON := o.f.asJSON

	switch sub {
	case "create":
		if strings.TrimSpace(name) == "" {
			return usageError("account create needs --name")
		}
		var cr *account.Created
		if parent != "" {
			pa, err := p.db.Account(ctx, parent)
			if errors.Is(err, store.ErrNotFound) || (err == nil && pa.IsSub()) {
				return fmt.Errorf("--parent %s is not a main account", parent)
			} else if err != nil {
				return err
			}
			cr, err = p.accounts.CreateSub(ctx, pa, name, true)
			if err != nil {
				return err
			}
		} else if cr, err = p.accounts.CreateMain(ctx, name); err != nil {
			return err
		}
		action, objType := "account.create", "account"
		if parent != "" {
			action, objType = "subaccount.create", "subaccount"
		}
		if err := record(ctx, p, audit.Entry{AccountID: cr.Account.ID, Action: action, ObjectType: objType, ObjectID: cr.Account.ID,
			Outcome: audit.Success, Detail: map[string]string{"credential": cr.CredentialID}}); err != nil {
			return err
		}
		if asJSON {
			return printJSON(stdout, map[string]any{"auth_id": cr.Account.ID, "auth_token": cr.Token, "name": cr.Account.Name,
				"parent": cr.Account.ParentID, "credential_id": cr.CredentialID})
		}
		fmt.Fprintf(stdout, "Created account %q\n  Auth ID:    %s\n  Auth Token: %s\n(The token is shown only now: store it in a secret manager.)\n", name, cr.Account.ID, cr.Token)
		return nil

	case "list":
		var all []*store.Account
		for offset := 0; ; offset += 500 {
			page, total, err := p.db.ListAccounts(ctx, parent, 500, offset)
			if err != nil {
				return err
			}
			all = append(all, page...)
			if offset+500 >= total {
				break
			}
		}
		if asJSON {
			out := make([]map[string]any, len(all))
			for i, a := range all {
				out[i] = map[string]any{"auth_id": a.ID, "name": a.Name, "enabled": a.Enabled, "parent": a.ParentID, "created": a.CreatedAt}
			}
			return printJSON(stdout, out)
		}
		if len(all) == 0 {
			fmt.Fprintln(stdout, "No accounts.")
		}
		for _, a := range all {
			state := "enabled"
			if !a.Enabled {
				state = "disabled"
			}
			fmt.Fprintf(stdout, "%s  %-8s  %s  %s\n", a.ID, state, a.CreatedAt.Format("2006-01-02"), a.Name)
		}
		return nil

	case "rotate", "revoke-old":
		if id == "" {
			return usageError("account " + sub + " needs --id")
		}
		if _, err := p.db.Account(ctx, id); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no account %s", id)
		} else if err != nil {
			return err
		}
		if sub == "revoke-old" {
			ids, err := p.accounts.RevokeOthers(ctx, id)
			if err != nil {
				return err
			}
			if err := record(ctx, p, audit.Entry{AccountID: id, Action: "credential.revoke_old", ObjectType: "account", ObjectID: id,
				Outcome: audit.Success, Detail: map[string]string{"revoked": strings.Join(ids, ",")}}); err != nil {
				return err
			}
			if asJSON {
				return printJSON(stdout, map[string]any{"auth_id": id, "revoked": ids})
			}
			fmt.Fprintf(stdout, "Revoked %d older token(s) of %s; only the current token works now.\n", len(ids), id)
			return nil
		}
		if overlap > p.cfg.Auth.MaxOverlap.Duration {
			return fmt.Errorf("--overlap %s is longer than auth.max_token_overlap (%s)", overlap, p.cfg.Auth.MaxOverlap.Duration)
		}
		rot, err := p.accounts.Rotate(ctx, id, overlap, revokeOld)
		if err != nil {
			return err
		}
		detail := map[string]string{"credential": rot.CredentialID, "retired": strings.Join(rot.Retired, ",")}
		var till any
		if rot.OldValidTill != nil {
			till = rot.OldValidTill.Format(time.RFC3339)
			detail["old_valid_until"] = till.(string)
		}
		if err := record(ctx, p, audit.Entry{AccountID: id, Action: "credential.rotate", ObjectType: "account", ObjectID: id,
			Outcome: audit.Success, Detail: detail}); err != nil {
			return err
		}
		if asJSON {
			return printJSON(stdout, map[string]any{"auth_id": id, "auth_token": rot.Token, "credential_id": rot.CredentialID, "old_token_valid_until": till})
		}
		fmt.Fprintf(stdout, "New Auth Token for %s: %s\n(The token is shown only now.)\n", id, rot.Token)
		if till != nil {
			fmt.Fprintf(stdout, "The old token keeps working until %s.\n", till)
		} else {
			fmt.Fprintln(stdout, "The old token was revoked.")
		}
		return nil
	}
	return nil
}

func cmdNumber(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError("number needs a subcommand: import, add")
	}
	sub, args := args[0], args[1:]
	o := newOperatorCmd("number "+sub, stderr)
	var n store.Number
	var voice, sms, mms bool
	var rate string
	switch sub {
	case "import":
	case "add":
		o.fs.StringVar(&n.Number, "number", "", "E.164 number (required)")
		o.fs.StringVar(&n.CountryISO, "country", "", "ISO country code (required)")
		o.fs.StringVar(&n.Type, "type", "local", "local, mobile, tollfree, fixed or national")
		o.fs.StringVar(&n.Carrier, "carrier", "", "carrier that serves the number")
		o.fs.StringVar(&n.Region, "region", "", "region")
		o.fs.BoolVar(&voice, "voice", true, "voice enabled")
		o.fs.BoolVar(&sms, "sms", true, "SMS enabled")
		o.fs.BoolVar(&mms, "mms", false, "MMS enabled")
		o.fs.StringVar(&rate, "monthly-rate", "", "monthly rental rate")
	default:
		return usageError(fmt.Sprintf("unknown number subcommand %q", sub))
	}
	pos, err := parseArgs(o.fs, args)
	if err != nil {
		return err
	}
	var numbers []*store.Number
	switch sub {
	case "import":
		if len(pos) != 1 {
			return usageError("number import needs one CSV file (columns: " + strings.Join(inventory.Columns, ",") + ")")
		}
		f, err := os.Open(pos[0])
		if err != nil {
			return err
		}
		numbers, err = inventory.ParseCSV(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", pos[0], err)
		}
	case "add":
		// One row through the same parser as a CSV import, so both check the same rules.
		row := []string{n.Number, n.CountryISO, n.Type, n.Carrier, n.Region, fmt.Sprint(voice), fmt.Sprint(sms), fmt.Sprint(mms), rate}
		csv := "number,country_iso,type,carrier,region,voice,sms,mms,monthly_rental_rate\n" + csvLine(row)
		var err error
		if numbers, err = inventory.ParseCSV(strings.NewReader(csv)); err != nil {
			return errors.New(strings.TrimPrefix(err.Error(), "line 2: "))
		}
	}
	p, err := o.open(ctx, stderr)
	if err != nil {
		return err
	}
	defer p.Close()
	added, err := p.db.ImportNumbers(ctx, numbers)
	if err != nil {
		return err
	}
	if err := record(ctx, p, audit.Entry{Action: "number.import", ObjectType: "inventory", Outcome: audit.Success,
		Detail: map[string]string{"rows": fmt.Sprint(len(numbers)), "added": fmt.Sprint(added)}}); err != nil {
		return err
	}
	if o.f.asJSON {
		return printJSON(stdout, map[string]any{"rows": len(numbers), "added": added, "updated": len(numbers) - added})
	}
	fmt.Fprintf(stdout, "Imported %d number(s): %d new, %d updated.\n", len(numbers), added, len(numbers)-added)
	return nil
}

func csvLine(fields []string) string {
	for i, f := range fields {
		if strings.ContainsAny(f, ",\"\n") {
			fields[i] = `"` + strings.ReplaceAll(f, `"`, `""`) + `"`
		}
	}
	return strings.Join(fields, ",") + "\n"
}

func cmdAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "verify" {
		return usageError("audit needs a subcommand: verify")
	}
	o := newOperatorCmd("audit verify", stderr)
	if err := o.fs.Parse(args[1:]); err != nil {
		return err
	}
	p, err := o.open(ctx, stderr)
	if err != nil {
		return err
	}
	defer p.Close()
	rep, err := audit.Verify(ctx, p.db, p.verifier, p.witnesses...)
	if err != nil {
		return err
	}
	if o.f.asJSON {
		printJSON(stdout, rep)
	} else {
		fmt.Fprintln(stdout, rep.String())
	}
	if !rep.OK {
		return errAuditFailed
	}
	return nil
}

var errAuditFailed = errors.New("the audit log failed verification")
