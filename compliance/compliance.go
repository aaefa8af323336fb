// Package compliance builds an account's compliance export from the audit log: for a
// period, its logins, credential changes, staff accesses and configuration changes, as
// CSV or JSON. The console (owners) and the operator CLI use it; both read the same
// tamper-evident log the customer can verify, so the export holds nothing the log does
// not.
package compliance

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/audit"
)

// Categories of an export row.
const (
	Logins        = "login"
	Credentials   = "credential_change"
	StaffAccess   = "staff_access"
	Configuration = "configuration_change"
)

// Lister reads audit entries (package audit's Log).
type Lister interface {
	List(ctx context.Context, f audit.Filter) ([]audit.Entry, int, error)
}

// Row is one exported event.
type Row struct {
	Seq       int64     `json:"seq"`
	Time      time.Time `json:"time"`
	Category  string    `json:"category"`
	AccountID string    `json:"account_id"`
	Action    string    `json:"action"`
	Actor     string    `json:"actor"`
	Object    string    `json:"object"`
	Source    string    `json:"source"`
	Outcome   string    `json:"outcome"`
	Detail    string    `json:"detail"`
}

// Category names the export category of an audit action, "" when the export leaves it
// out (reads, listings, message traffic).
func Category(action string) string {
	switch {
	case action == "user.login" || action == "user.logout" || action == "user.logout_all" || action == "user.session_end" ||
		action == "user.second_factor" || action == "user.reauthenticate" || action == "auth.failed" || action == "auth.address_denied":
		return Logins
	case strings.HasPrefix(action, "credential.") || action == "user.passphrase_change" || strings.HasPrefix(action, "user.totp_") ||
		strings.HasPrefix(action, "user.passkey_") || action == "user.recovery_codes" || action == "user.phone_change":
		return Credentials
	case strings.HasPrefix(action, "staff."):
		return StaffAccess
	case action == "account.compliance_export":
		return ""
	case strings.HasSuffix(action, ".list") || strings.HasSuffix(action, ".get") || strings.HasPrefix(action, "message.") ||
		strings.HasPrefix(action, "recording.") || strings.HasPrefix(action, "verification."):
		return ""
	case strings.HasPrefix(action, "account.") || strings.HasPrefix(action, "subaccount.") || strings.HasPrefix(action, "application.") ||
		strings.HasPrefix(action, "number.") || strings.HasPrefix(action, "endpoint.") || strings.HasPrefix(action, "caller_id.") ||
		strings.HasPrefix(action, "user."):
		return Configuration
	}
	return ""
}

// MaxRows bounds one export; a longer period is exported in parts.
const MaxRows = 100000

// Export reads the accounts' entries in [from, to), oldest first, keeping the four
// categories. A period with more than MaxRows such entries is refused with EINVALID.
func Export(ctx context.Context, l Lister, accountIDs []string, from, to time.Time) ([]Row, error) {
	if len(accountIDs) == 0 {
		return nil, &trunkline.Error{Code: trunkline.EINVALID, Message: "An export is for an account."}
	}
	if from.IsZero() || to.IsZero() || !from.Before(to) {
		return nil, &trunkline.Error{Code: trunkline.EINVALID, Message: "Give a period: a start before its end."}
	}
	const page = 1000
	var rows []Row
	for off := 0; ; off += page {
		es, _, err := l.List(ctx, audit.Filter{AccountIDs: accountIDs, From: from, To: to, Limit: page, Offset: off})
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			c := Category(e.Action)
			if c == "" {
				continue
			}
			if len(rows) == MaxRows {
				return nil, &trunkline.Error{Code: trunkline.EINVALID, Message: fmt.Sprintf("The period holds more than %d events: export a shorter one.", MaxRows)}
			}
			rows = append(rows, Row{Seq: e.Seq, Time: e.At, Category: c, AccountID: e.AccountID, Action: e.Action, Actor: e.Actor,
				Object: strings.TrimSpace(e.ObjectType + " " + e.ObjectID), Source: e.Source, Outcome: e.Outcome, Detail: detail(e.Detail)})
		}
		if len(es) < page {
			break
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Seq < rows[j].Seq })
	return rows, nil
}

func detail(d map[string]string) string {
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + d[k]
	}
	return strings.Join(parts, "; ")
}

// WriteCSV writes rows as CSV with a header line. Cells that a spreadsheet would run
// as a formula (=, +, -, @ first) are prefixed with a quote.
func WriteCSV(w io.Writer, rows []Row) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"seq", "time", "category", "account_id", "action", "actor", "object", "source", "outcome", "detail"})
	for _, r := range rows {
		rec := []string{fmt.Sprint(r.Seq), r.Time.UTC().Format(time.RFC3339Nano), r.Category, r.AccountID, r.Action, r.Actor,
			r.Object, r.Source, r.Outcome, r.Detail}
		for i, v := range rec {
			if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
				rec[i] = "'" + v
			}
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteJSON writes rows as a JSON document: the account, the period and the events.
func WriteJSON(w io.Writer, accountID string, from, to time.Time, rows []Row) error {
	if rows == nil {
		rows = []Row{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(map[string]any{"account_id": accountID, "from": from.UTC(), "to": to.UTC(), "events": rows})
}
