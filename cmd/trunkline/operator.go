package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/user"
	"strings"
	"time"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/account"
	"github.com/trunkline/trunkline/audit"
	"github.com/trunkline/trunkline/callerid"
	"github.com/trunkline/trunkline/config"
	"github.com/trunkline/trunkline/identity"
	"github.com/trunkline/trunkline/inventory"
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
	return openPlatform(ctx, c, logger, false)
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

// parseFlags parses args and refuses positional arguments: operator commands take flags only.
func (o *operatorCmd) parseFlags(args []string) error {
	if pos, err := parseArgs(o.fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usageError(fmt.Sprintf("%s takes no arguments besides flags (got %q)", o.fs.Name(), pos[0]))
	}
	return nil
}

// cmdAccount runs `trunkline account SUB`: one function per subcommand.
func cmdAccount(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError("account needs a subcommand: create, list, invite, disable, enable, rotate, revoke-old, sender-id")
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "sender-id":
		return cmdSenderID(ctx, args, stdout, stderr)
	case "create":
		return accountCreate(ctx, args, stdout, stderr)
	case "list":
		return accountList(ctx, args, stdout, stderr)
	case "invite":
		return accountInvite(ctx, args, stdout, stderr)
	case "disable", "enable":
		return accountSetEnabled(ctx, sub == "enable", args, stdout, stderr)
	case "rotate":
		return accountRotate(ctx, args, stdout, stderr)
	case "revoke-old":
		return accountRevokeOld(ctx, args, stdout, stderr)
	}
	return usageError(fmt.Sprintf("unknown account subcommand %q", sub))
}

// openAccountCmd parses the flags of `account sub` (the common ones and those flags
// registers) and opens the platform, which the caller closes. asJSON is --json.
func openAccountCmd(ctx context.Context, sub string, args []string, stderr io.Writer, flags func(*flag.FlagSet)) (p *platform, asJSON bool, err error) {
	o := newOperatorCmd("account "+sub, stderr)
	flags(o.fs)
	if err := o.parseFlags(args); err != nil {
		return nil, false, err
	}
	if p, err = o.open(ctx, stderr); err != nil {
		return nil, false, err
	}
	return p, o.f.asJSON, nil
}

// accountExists returns nil if account id exists, else an error naming it.
func accountExists(ctx context.Context, p *platform, id string) error {
	if _, err := p.db.Account(ctx, id); errors.Is(err, trunkline.ErrNotFound) {
		return fmt.Errorf("no account %s", id)
	} else if err != nil {
		return err
	}
	return nil
}

// accountCreate creates a main account or a subaccount, optionally inviting the main
// account's owner, and prints its token once.
func accountCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var name, parent, email, base string
	p, asJSON, err := openAccountCmd(ctx, "create", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&name, "name", "", "account name (required)")
		fs.StringVar(&parent, "parent", "", "make a subaccount of this main account")
		fs.StringVar(&email, "owner", "", "invite this email as the new main account's owner (prints a one-time console link)")
		fs.StringVar(&base, "url", "", "the console's address for the link, e.g. https://trunkline.example.com (default: from api.hostnames and api.listen)")
	})
	if err != nil {
		return err
	}
	defer p.Close()
	if strings.TrimSpace(name) == "" {
		return usageError("account create needs --name")
	}
	if email != "" && parent != "" {
		return usageError("--owner is for main accounts: subaccounts have no console users")
	}
	var cr *account.Created
	if parent != "" {
		pa, err := p.db.Account(ctx, parent)
		if errors.Is(err, trunkline.ErrNotFound) || (err == nil && pa.IsSub()) {
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
	var link string
	if email != "" {
		if link, err = operatorInvite(ctx, p, cr.Account.ID, email, trunkline.RoleOwner, base); err != nil {
			return fmt.Errorf("account %s was created, but its owner could not be invited: %w", cr.Account.ID, err)
		}
	}
	if asJSON {
		out := map[string]any{"auth_id": cr.Account.ID, "auth_token": cr.Token, "name": cr.Account.Name,
			"parent": cr.Account.ParentID, "credential_id": cr.CredentialID}
		if link != "" {
			out["owner_invite_link"] = link
		}
		return printJSON(stdout, out)
	}
	fmt.Fprintf(stdout, "Created account %q\n  Auth ID:    %s\n  Auth Token: %s\n(The token is shown only now: store it in a secret manager.)\n", name, cr.Account.ID, cr.Token)
	if link != "" {
		printInviteLink(stdout, email, trunkline.RoleOwner, link)
	}
	return nil
}

// accountList lists the main accounts, or one main account's subaccounts.
func accountList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var parent string
	p, asJSON, err := openAccountCmd(ctx, "list", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&parent, "parent", "", "list this main account's subaccounts")
	})
	if err != nil {
		return err
	}
	defer p.Close()
	var all []*trunkline.Account
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
}

// accountInvite invites a person into a main account and prints the one-time link.
func accountInvite(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var id, email, role, base string
	p, asJSON, err := openAccountCmd(ctx, "invite", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&id, "id", "", "Auth ID of the main account (required)")
		fs.StringVar(&email, "email", "", "the person's email (required)")
		fs.StringVar(&role, "role", "owner", "owner, developer or read-only")
		fs.StringVar(&base, "url", "", "the console's address for the link (default: from api.hostnames and api.listen)")
	})
	if err != nil {
		return err
	}
	defer p.Close()
	if id == "" || email == "" {
		return usageError("account invite needs --id and --email")
	}
	if a, err := p.db.Account(ctx, id); errors.Is(err, trunkline.ErrNotFound) || (err == nil && a.IsSub()) {
		return fmt.Errorf("%s is not a main account (subaccounts have no console users)", id)
	} else if err != nil {
		return err
	}
	link, err := operatorInvite(ctx, p, id, email, role, base)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(stdout, map[string]any{"auth_id": id, "email": email, "role": role, "invite_link": link})
	}
	printInviteLink(stdout, email, role, link)
	return nil
}

// accountSetEnabled runs `account enable` (enabled) or `account disable`; disabling
// also ends the account's console sessions.
func accountSetEnabled(ctx context.Context, enabled bool, args []string, stdout, stderr io.Writer) error {
	sub := map[bool]string{true: "enable", false: "disable"}[enabled]
	var id string
	p, asJSON, err := openAccountCmd(ctx, sub, args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&id, "id", "", "Auth ID (required)")
	})
	if err != nil {
		return err
	}
	defer p.Close()
	if id == "" {
		return usageError("account " + sub + " needs --id")
	}
	a, err := p.db.UpdateAccount(ctx, id, trunkline.AccountUpdate{Enabled: &enabled})
	if errors.Is(err, trunkline.ErrNotFound) {
		return fmt.Errorf("no account %s", id)
	} else if err != nil {
		return err
	}
	p.accounts.Invalidate(id)
	ended := 0
	if !enabled {
		// The console refuses a disabled account's users anyway; ending their
		// sessions makes it final, should the account be enabled again.
		if ended, err = p.db.DeleteAccountSessions(ctx, id); err != nil {
			return err
		}
	}
	objType := "account"
	if a.IsSub() {
		objType = "subaccount"
	}
	if err := record(ctx, p, audit.Entry{AccountID: id, Action: objType + "." + sub, ObjectType: objType, ObjectID: id,
		Outcome: audit.Success, Detail: map[string]string{"sessions_ended": fmt.Sprint(ended)}}); err != nil {
		return err
	}
	if asJSON {
		return printJSON(stdout, map[string]any{"auth_id": id, "enabled": enabled, "sessions_ended": ended})
	}
	if enabled {
		fmt.Fprintf(stdout, "Enabled %s: its API credentials and console users work again.\n", id)
	} else {
		fmt.Fprintf(stdout, "Disabled %s: its API credentials%s are refused, %d console session(s) ended.\n", id,
			map[bool]string{true: " (and its subaccounts')", false: ""}[!a.IsSub()], ended)
	}
	return nil
}

// accountRotate issues a new auth token; the old one keeps working for the overlap.
func accountRotate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var id string
	var overlap time.Duration
	var revokeOld bool
	p, asJSON, err := openAccountCmd(ctx, "rotate", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&id, "id", "", "Auth ID (required)")
		fs.DurationVar(&overlap, "overlap", -1, "how long the old token keeps working (default: auth.token_overlap)")
		fs.BoolVar(&revokeOld, "revoke-old", false, "stop the old token at once")
	})
	if err != nil {
		return err
	}
	defer p.Close()
	if id == "" {
		return usageError("account rotate needs --id")
	}
	if err := accountExists(ctx, p, id); err != nil {
		return err
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

// accountRevokeOld revokes every token of the account but the current one.
func accountRevokeOld(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var id string
	p, asJSON, err := openAccountCmd(ctx, "revoke-old", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&id, "id", "", "Auth ID (required)")
	})
	if err != nil {
		return err
	}
	defer p.Close()
	if id == "" {
		return usageError("account revoke-old needs --id")
	}
	if err := accountExists(ctx, p, id); err != nil {
		return err
	}
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

// operatorInvite makes an invitation into a main account, audits it with the operator
// as actor, and returns the link to pass on.
func operatorInvite(ctx context.Context, p *platform, accountID, email, role, base string) (string, error) {
	token, inv, err := newIdentity(p, nil).OperatorInvite(ctx, accountID, email, role)
	var ie *identity.Error
	if errors.As(err, &ie) {
		return "", errors.New(ie.Msg)
	} else if err != nil {
		return "", err
	}
	if err := record(ctx, p, audit.Entry{AccountID: accountID, Action: "user.invite", ObjectType: "account", ObjectID: accountID,
		Outcome: audit.Success, Detail: map[string]string{"invite": inv.ID, "role": role}}); err != nil {
		return "", err
	}
	if base == "" {
		base = consoleURL(p.cfg)
	}
	return strings.TrimRight(base, "/") + "/console/invite?token=" + url.QueryEscape(token), nil
}

// consoleURL guesses the console's address from the first of api.hostnames (or
// localhost) and the port of api.listen.
func consoleURL(c *config.Config) string {
	host := "localhost"
	if len(c.API.Hostnames) > 0 {
		host = c.API.Hostnames[0]
	}
	if _, port, err := net.SplitHostPort(c.API.Listen); err == nil && port != "443" && port != "" {
		return "https://" + net.JoinHostPort(host, port)
	}
	return "https://" + host
}

func printInviteLink(w io.Writer, email, role, link string) {
	fmt.Fprintf(w, "Invitation for %s (role %s); send them this link, which works once, for %d days:\n  %s\n(The link is shown only now.)\n",
		email, role, int(identity.InviteTTL.Hours()/24), link)
}

// cmdUser manages console users across accounts: the operator's offboarding tools.
func cmdUser(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError("user needs a subcommand: list, remove, role")
	}
	sub, args := args[0], args[1:]
	o := newOperatorCmd("user "+sub, stderr)
	var acct, email, role string
	switch sub {
	case "list":
		o.fs.StringVar(&acct, "account", "", "Auth ID of the main account (required)")
	case "remove":
		o.fs.StringVar(&email, "email", "", "the user's email (required)")
	case "role":
		o.fs.StringVar(&email, "email", "", "the user's email (required)")
		o.fs.StringVar(&role, "role", "", "owner, developer or read-only (required)")
	default:
		return usageError(fmt.Sprintf("unknown user subcommand %q", sub))
	}
	if err := o.parseFlags(args); err != nil {
		return err
	}
	if sub == "list" && acct == "" || sub != "list" && email == "" || sub == "role" && role == "" {
		return usageError("user " + sub + " needs " + map[string]string{"list": "--account", "remove": "--email", "role": "--email and --role"}[sub])
	}
	if sub == "role" && role != trunkline.RoleOwner && role != trunkline.RoleDeveloper && role != trunkline.RoleReadOnly {
		return usageError("--role must be owner, developer or read-only")
	}
	p, err := o.open(ctx, stderr)
	if err != nil {
		return err
	}
	defer p.Close()
	if sub == "list" {
		users, err := p.db.AccountUsers(ctx, acct)
		if err != nil {
			return err
		}
		if o.f.asJSON {
			out := make([]map[string]any, len(users))
			for i, u := range users {
				out[i] = map[string]any{"id": u.ID, "email": u.Email, "role": u.Role, "created": u.CreatedAt}
			}
			return printJSON(stdout, out)
		}
		if len(users) == 0 {
			fmt.Fprintln(stdout, "No console users.")
		}
		for _, u := range users {
			fmt.Fprintf(stdout, "%s  %-9s  %s  %s\n", u.ID, u.Role, u.CreatedAt.Format("2006-01-02"), u.Email)
		}
		return nil
	}
	u, err := p.db.UserByEmail(ctx, strings.ToLower(strings.TrimSpace(email)))
	if errors.Is(err, trunkline.ErrNotFound) {
		return fmt.Errorf("no console user %s", email)
	} else if err != nil {
		return err
	}
	detail := map[string]string{"email": u.Email, "role": u.Role}
	action := "user.remove"
	if sub == "remove" {
		err = p.db.DeleteUser(ctx, u.AccountID, u.ID)
	} else {
		action, detail["from"], detail["to"] = "user.role_change", u.Role, role
		delete(detail, "role")
		err = p.db.SetUserRole(ctx, u.AccountID, u.ID, role)
	}
	if errors.Is(err, trunkline.ErrLastOwner) {
		return fmt.Errorf("%s is the last owner of %s: invite another owner first (trunkline account invite --id %s --email ... --role owner), or disable the account", u.Email, u.AccountID, u.AccountID)
	} else if err != nil {
		return err
	}
	if err := record(ctx, p, audit.Entry{AccountID: u.AccountID, Action: action, ObjectType: "user", ObjectID: u.ID,
		Outcome: audit.Success, Detail: detail}); err != nil {
		return err
	}
	if o.f.asJSON {
		return printJSON(stdout, map[string]any{"id": u.ID, "email": u.Email, "action": sub, "role": role})
	}
	if sub == "remove" {
		fmt.Fprintf(stdout, "Removed %s from %s; their console sessions ended.\n", u.Email, u.AccountID)
	} else {
		fmt.Fprintf(stdout, "%s is now %s in %s (from their next request).\n", u.Email, role, u.AccountID)
	}
	return nil
}

func cmdNumber(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError("number needs a subcommand: import, add")
	}
	sub, args := args[0], args[1:]
	o := newOperatorCmd("number "+sub, stderr)
	var n trunkline.Number
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
	var numbers []*trunkline.Number
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
	if len(args) > 0 && args[0] == "verify-remote" {
		return cmdAuditVerifyRemote(ctx, args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "verify" {
		return usageError("audit needs a subcommand: verify, verify-remote")
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

// cmdSenderID manages the alphanumeric sender IDs an account may send SMS as (package
// callerid): an operator decision, since a sender ID such as a bank's name is not
// something a customer can prove they own the way they rent a number. A main
// account's sender IDs also serve its subaccounts.
func cmdSenderID(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError("account sender-id needs a subcommand: allow, revoke, list")
	}
	sub, args := args[0], args[1:]
	o := newOperatorCmd("account sender-id "+sub, stderr)
	var id, sender string
	o.fs.StringVar(&id, "id", "", "Auth ID of the account (required)")
	switch sub {
	case "allow", "revoke":
		o.fs.StringVar(&sender, "sender", "", "the sender ID: 1 to 11 letters and digits, not all digits (required)")
	case "list":
	default:
		return usageError(fmt.Sprintf("unknown account sender-id subcommand %q", sub))
	}
	if err := o.parseFlags(args); err != nil {
		return err
	}
	if id == "" {
		return usageError("account sender-id " + sub + " needs --id")
	}
	if sub != "list" && !callerid.ValidSenderID(sender) {
		return usageError("--sender must be 1 to 11 letters and digits, not all digits (a number is rented, not allowed)")
	}
	p, err := o.open(ctx, stderr)
	if err != nil {
		return err
	}
	defer p.Close()
	if err := accountExists(ctx, p, id); err != nil {
		return err
	}
	switch sub {
	case "allow", "revoke":
		action := "sender_id.allow"
		if sub == "allow" {
			err = p.db.AllowSenderID(ctx, id, sender, cliActor())
		} else {
			action = "sender_id.revoke"
			if err = p.db.RevokeSenderID(ctx, id, sender); errors.Is(err, trunkline.ErrNotFound) {
				return fmt.Errorf("sender ID %q is not allowed for %s", sender, id)
			}
		}
		if err != nil {
			return err
		}
		if err := record(ctx, p, audit.Entry{AccountID: id, Action: action, ObjectType: "sender_id", ObjectID: sender,
			Outcome: audit.Success}); err != nil {
			return err
		}
		if o.f.asJSON {
			return printJSON(stdout, map[string]any{"auth_id": id, "sender": sender, "allowed": sub == "allow"})
		}
		if sub == "allow" {
			fmt.Fprintf(stdout, "%s may now send SMS as %q (its subaccounts too, if it is a main account).\n", id, sender)
		} else {
			fmt.Fprintf(stdout, "%s may no longer send SMS as %q.\n", id, sender)
		}
		return nil
	}
	list, err := p.db.SenderIDs(ctx, id)
	if err != nil {
		return err
	}
	if o.f.asJSON {
		out := make([]map[string]any, len(list))
		for i, s := range list {
			out[i] = map[string]any{"sender": s.Sender, "allowed_by": s.CreatedBy, "allowed_at": s.CreatedAt}
		}
		return printJSON(stdout, out)
	}
	if len(list) == 0 {
		fmt.Fprintf(stdout, "No sender IDs are allowed for %s.\n", id)
	}
	for _, s := range list {
		fmt.Fprintf(stdout, "%-11s  allowed %s by %s\n", s.Sender, s.CreatedAt.Format("2006-01-02"), s.CreatedBy)
	}
	return nil
}
