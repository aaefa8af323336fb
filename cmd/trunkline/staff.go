package main

import (
	"bufio"
	"context"
	"errors"

	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/audit"
	"github.com/trunkline/trunkline/compliance"
	"github.com/trunkline/trunkline/staff"
	"github.com/trunkline/trunkline/webhook"
)

// newStaff builds the staff access rules from the configuration; the server and the CLI
// share it.
func newStaff(p *platform) *staff.Service {
	c := p.cfg.Staff
	o := staff.Options{Store: p.db, Ring: p.ring, Audit: p.audit, Logger: p.log, Metrics: p.metrics,
		MaxGrant: c.MaxGrant.Duration, MaxBreakGlass: c.MaxBreakGlass.Duration}
	if c.BreakGlassURL != "" {
		o.Pager = breakGlassPager{client: p.webhooks, url: c.BreakGlassURL, secret: c.BreakGlassSecret}
	}
	return staff.New(o)
}

// breakGlassPager posts a break-glass opening to the operator's configured URL through
// the platform's webhook client (SSRF guard, retries, signature with the configured
// secret as the token, each attempt recorded).
type breakGlassPager struct {
	client *webhook.Client
	url    string
	secret string
}

func (b breakGlassPager) Page(ctx context.Context, g *trunkline.AccessGrant, opener, cosigner *trunkline.Staff) error {
	params := url.Values{"event": {"staff.breakglass"}, "grant": {g.ID}, "account_id": {g.AccountID}, "scope": {g.Scope},
		"mode": {g.Mode}, "reason": {g.Reason}, "ticket": {g.Ticket}, "opener": {opener.Email}, "cosigner": {cosigner.Email}}
	if g.ExpiresAt != nil {
		params.Set("expires_at", g.ExpiresAt.UTC().Format(time.RFC3339))
	}
	// The page must not wait on a slow receiver: the grant is open and audited already.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_, err := b.client.Do(ctx, webhook.Request{AccountID: g.AccountID, Kind: "staff_breakglass", ObjectID: g.ID, URL: b.url,
		Method: "POST", Params: params, AuthToken: b.secret})
	return err
}

// cmdStaff runs `trunkline staff SUB`: the operator's people.
func cmdStaff(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError("staff needs a subcommand: add, list, disable, enable")
	}
	sub, args := args[0], args[1:]
	o := newOperatorCmd("staff "+sub, stderr)
	var email, name, role string
	switch sub {
	case "add":
		o.fs.StringVar(&email, "email", "", "the staff member's email (required)")
		o.fs.StringVar(&name, "name", "", "their name")
		o.fs.StringVar(&role, "role", "", "support, engineering, security or management (required)")
	case "disable", "enable":
		o.fs.StringVar(&email, "email", "", "the staff member's email (required)")
	case "list":
	default:
		return usageError(fmt.Sprintf("unknown staff subcommand %q", sub))
	}
	if err := o.parseFlags(args); err != nil {
		return err
	}
	if sub != "list" && email == "" {
		return usageError("staff " + sub + " needs --email")
	}
	if sub == "add" && !staff.ValidRole(role) {
		return usageError("staff add needs --role: one of " + strings.Join(staff.Roles, ", "))
	}
	p, err := o.open(ctx, stderr)
	if err != nil {
		return err
	}
	defer p.Close()
	svc := newStaff(p)
	switch sub {
	case "add":
		// The passphrase comes on stdin (one line), never as a flag: flags end up in
		// shell history and process listings.
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		c, err := svc.Create(ctx, email, name, role, strings.TrimRight(line, "\r\n"))
		if err != nil {
			return err
		}
		if err := record(ctx, p, audit.Entry{Action: "staff.create", ObjectType: "staff", ObjectID: c.Staff.ID, Outcome: audit.Success,
			Detail: map[string]string{"email": c.Staff.Email, "role": c.Staff.Role}}); err != nil {
			return err
		}
		if o.f.asJSON {
			return printJSON(stdout, map[string]any{"id": c.Staff.ID, "email": c.Staff.Email, "role": c.Staff.Role,
				"totp_secret": c.TOTP.Secret, "totp_url": c.TOTP.URL})
		}
		fmt.Fprintf(stdout, "Added %s (%s), id %s.\nTOTP secret: %s\nTOTP URL:    %s\n(Put it in their authenticator app now; it is shown only once. They log in at /staff/login.)\n",
			c.Staff.Email, c.Staff.Role, c.Staff.ID, c.TOTP.Secret, c.TOTP.URL)
	case "disable", "enable":
		st, err := svc.SetDisabled(ctx, email, sub == "disable")
		if errors.Is(err, trunkline.ErrNotFound) {
			return fmt.Errorf("no staff member %s", email)
		} else if err != nil {
			return err
		}
		if err := record(ctx, p, audit.Entry{Action: "staff." + sub, ObjectType: "staff", ObjectID: st.ID, Outcome: audit.Success,
			Detail: map[string]string{"email": st.Email}}); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s is %sd.\n", st.Email, sub)
	case "list":
		all, err := svc.Members(ctx)
		if err != nil {
			return err
		}
		if o.f.asJSON {
			out := make([]map[string]any, len(all))
			for i, s := range all {
				out[i] = map[string]any{"id": s.ID, "email": s.Email, "name": s.Name, "role": s.Role, "disabled": s.Disabled}
			}
			return printJSON(stdout, out)
		}
		for _, s := range all {
			state := ""
			if s.Disabled {
				state = " (disabled)"
			}
			fmt.Fprintf(stdout, "%s\t%s\t%s%s\n", s.ID, s.Email, s.Role, state)
		}
	}
	return nil
}

// cmdCompliance runs `trunkline compliance export`: an account's logins, credential
// changes, staff accesses and configuration changes for a period, as CSV or JSON.
func cmdCompliance(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "export" {
		return usageError("compliance needs a subcommand: export")
	}
	o := newOperatorCmd("compliance export", stderr)
	var id, from, to, format, out string
	o.fs.StringVar(&id, "account", "", "the account's Auth ID (required; a main account covers its subaccounts)")
	o.fs.StringVar(&from, "from", "", "first day, YYYY-MM-DD (UTC; required)")
	o.fs.StringVar(&to, "to", "", "last day, YYYY-MM-DD (UTC, inclusive; required)")
	o.fs.StringVar(&format, "format", "csv", "csv or json")
	o.fs.StringVar(&out, "out", "", "write to this file (default: stdout)")
	if err := o.parseFlags(args[1:]); err != nil {
		return err
	}
	f, err1 := time.Parse("2006-01-02", from)
	t, err2 := time.Parse("2006-01-02", to)
	if id == "" || err1 != nil || err2 != nil || t.Before(f) || (format != "csv" && format != "json") {
		return usageError("compliance export needs --account, --from and --to (YYYY-MM-DD, from not after to) and --format csv or json")
	}
	p, err := o.open(ctx, stderr)
	if err != nil {
		return err
	}
	defer p.Close()
	a, err := p.db.Account(ctx, id)
	if errors.Is(err, trunkline.ErrNotFound) {
		return fmt.Errorf("no account %s", id)
	} else if err != nil {
		return err
	}
	ids := []string{a.ID}
	if !a.IsSub() {
		subs, err := p.db.SubaccountIDs(ctx, a.ID)
		if err != nil {
			return err
		}
		ids = append(ids, subs...)
	}
	rows, err := compliance.Export(ctx, p.audit, ids, f, t.AddDate(0, 0, 1))
	if err != nil {
		return err
	}
	w := stdout
	if out != "" {
		file, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		defer file.Close()
		w = file
	}
	if format == "csv" {
		err = compliance.WriteCSV(w, rows)
	} else {
		err = compliance.WriteJSON(w, a.ID, f, t.AddDate(0, 0, 1), rows)
	}
	if err != nil {
		return err
	}
	return record(ctx, p, audit.Entry{AccountID: a.ID, Action: "account.compliance_export", ObjectType: "account", ObjectID: a.ID,
		Outcome: audit.Success, Detail: map[string]string{"from": from, "to": to, "format": format, "rows": fmt.Sprint(len(rows))}})
}
