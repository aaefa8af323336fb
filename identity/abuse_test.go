package identity

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/audit"
	"github.com/trunkline/trunkline/metrics"
	"github.com/trunkline/trunkline/store/storetest"
)

// refusals returns the audit entries of refused sends, by limit.
func (a *auditBox) refusals() map[string]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[string]int{}
	for _, e := range a.entries {
		if e.Action == "verification.refused" {
			if e.Outcome != audit.Denied || e.Detail["to"] == "" || strings.Contains(fmt.Sprint(e.Detail), "14155550") {
				out["malformed"]++
			}
			out[e.Detail["limit"]]++
		}
	}
	return out
}

// refusedMetric reads trunkline_verification_refused_total{limit} from m's registry.
func refusedMetric(t *testing.T, m *metrics.Metrics, limit string) float64 {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "trunkline_verification_refused_total" {
			continue
		}
		for _, mt := range mf.GetMetric() {
			for _, l := range mt.GetLabel() {
				if l.GetName() == "limit" && l.GetValue() == limit {
					return mt.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// TestSendBudgets sends codes past each limit: the send over it is refused with a user
// error, nothing reaches the phone, an audit entry names the limit and the metric counts
// it. Texts and calls spend from the same budgets.
func TestSendBudgets(t *testing.T) {
	for _, db := range storetest.Open(t) {
		t.Run(string(db.Dialect()), func(t *testing.T) {
			ctx := context.Background()
			setup := func(b Budgets, prefixes ...string) (*fixture, *metrics.Metrics) {
				m := metrics.New()
				f := newFixtureWith(t, db, func(o *Options) {
					o.Budgets, o.VerifyPrefixes, o.Metrics = b, prefixes, m
					o.SendsPerNumber, o.SendsPerAddress = 1000, 1000
				})
				// Each case starts with fresh counters: the fixture shares the database.
				if err := db.DeleteOldSendBudgets(ctx, f.clk.now().Add(1000*time.Hour)); err != nil {
					t.Fatal(err)
				}
				return f, m
			}
			n := 0
			signup := func(f *fixture, phone, source, channel string) error {
				n++
				_, err := f.s.StartSignup(ctx, SignupRequest{Email: fmt.Sprintf("b%d@example.com", n), Passphrase: goodPass,
					Phone: phone, Channel: channel, Source: source})
				return err
			}
			mustSend := func(f *fixture, phone, source, channel string) {
				t.Helper()
				if err := signup(f, phone, source, channel); err != nil {
					t.Fatalf("send to %s from %s refused: %v", phone, source, err)
				}
			}
			mustRefuse := func(f *fixture, m *metrics.Metrics, limit, phone, source, channel, msg string) {
				t.Helper()
				sent := f.codes.sends
				before := refusedMetric(t, m, limit)
				err := signup(f, phone, source, channel)
				if !strings.Contains(userMsg(err), msg) {
					t.Fatalf("over the %s limit: got %v, want %q", limit, err, msg)
				}
				if f.codes.sends != sent {
					t.Fatalf("over the %s limit a code was sent", limit)
				}
				if got := refusedMetric(t, m, limit); got != before+1 {
					t.Fatalf("metric for %s: %v, want %v", limit, got, before+1)
				}
				if r := f.audit.refusals(); r[limit] == 0 || r["malformed"] != 0 {
					t.Fatalf("audit of refusals: %v, want one for %s", r, limit)
				}
			}
			wide := Budgets{PerHour: 1000, PerDay: 1000, PerPrefixHour: 1000, PerNetworkHour: 1000}

			t.Run("network", func(t *testing.T) {
				b := wide
				b.PerNetworkHour = 3
				f, m := setup(b)
				// Three addresses of one /24, each a first send: the network is spent.
				for i, src := range []string{"198.51.100.1", "198.51.100.2", "198.51.100.3"} {
					mustSend(f, fmt.Sprintf("+4420791%05d", i), src, "sms")
				}
				mustRefuse(f, m, LimitNetwork, "+442079199999", "198.51.100.250", "sms", "from your network")
				mustSend(f, "+442079199998", "198.51.101.1", "sms") // the next /24
				// IPv6: every address of a /64 is one network.
				for i := 1; i <= 3; i++ {
					mustSend(f, fmt.Sprintf("+4420792%05d", i), fmt.Sprintf("2001:db8:1:2::%x", i*0x1111), "voice")
				}
				mustRefuse(f, m, LimitNetwork, "+442079299999", "2001:db8:1:2:ffff:ffff:ffff:fffe", "voice", "from your network")
				mustSend(f, "+442079299998", "2001:db8:1:3::1", "voice")
			})

			t.Run("prefix", func(t *testing.T) {
				b := wide
				b.PerPrefixHour = 2
				f, m := setup(b)
				mustSend(f, "+14155550101", "192.0.2.1", "sms")
				mustSend(f, "+14155550202", "203.0.113.1", "voice")
				mustRefuse(f, m, LimitPrefix, "+14155550303", "198.51.100.7", "sms", "cannot be sent right now")
				mustSend(f, "+14165550303", "198.51.100.7", "sms") // another area
			})

			t.Run("global hour and day", func(t *testing.T) {
				b := wide
				b.PerHour, b.PerDay = 3, 5
				f, m := setup(b)
				f.clk.t = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
				mustSend(f, "+33612345601", "192.0.2.1", "sms")
				// A resend is a send: it spends from the same budget, by either channel.
				flow, err := f.s.StartSignup(ctx, SignupRequest{Email: "resend@example.com", Passphrase: goodPass,
					Phone: "+34612345602", Channel: "sms", Source: "192.0.2.2"})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := f.s.Resend(ctx, flow.Token, "voice", "192.0.2.2"); err != nil {
					t.Fatal(err)
				}
				mustRefuse(f, m, LimitGlobalHour, "+39612345603", "192.0.2.3", "sms", "cannot be sent right now")
				if _, err := f.s.Resend(ctx, flow.Token, "sms", "192.0.2.2"); !strings.Contains(userMsg(err), "cannot be sent right now") {
					t.Fatalf("resend over the hour's budget: %v", err)
				}
				f.clk.add(time.Hour)
				mustSend(f, "+39612345603", "192.0.2.3", "voice")
				mustSend(f, "+49612345604", "192.0.2.4", "sms")
				mustRefuse(f, m, LimitGlobalDay, "+31612345605", "192.0.2.5", "sms", "cannot be sent right now")
				f.clk.add(14 * time.Hour) // the next UTC day
				mustSend(f, "+31612345605", "192.0.2.5", "sms")
			})

			t.Run("country", func(t *testing.T) {
				f, m := setup(wide, "44", "353")
				mustRefuse(f, m, LimitCountry, "+14155550404", "192.0.2.1", "sms", "numbers in that country")
				mustRefuse(f, m, LimitCountry, "+4915112345678", "192.0.2.1", "voice", "numbers in that country")
				mustSend(f, "+447700900404", "192.0.2.1", "sms")
				mustSend(f, "+353851234567", "192.0.2.1", "voice")
				// The allowlist applies to every purpose: a logged-in user's new number too.
				sess, _ := f.signup(t, "phone@example.com", "+447700900405")
				if _, err := f.s.StartPhoneChange(ctx, sess, "+14155550406", "sms"); !strings.Contains(userMsg(err), "numbers in that country") {
					t.Fatalf("phone change to a disallowed country: %v", err)
				}
			})

			t.Run("number and address throttles are audited", func(t *testing.T) {
				m := metrics.New()
				f := newFixtureWith(t, db, func(o *Options) {
					o.Budgets, o.Metrics, o.SendsPerNumber, o.SendsPerAddress = wide, m, 2, 3
				})
				mustSend(f, "+447700900501", "192.0.2.50", "sms")
				mustSend(f, "+447700900501", "192.0.2.51", "sms")
				mustRefuse(f, m, LimitNumber, "+447700900501", "192.0.2.52", "sms", "sent to this number")
				mustSend(f, "+447700900502", "192.0.2.60", "sms")
				mustSend(f, "+447700900503", "192.0.2.60", "sms")
				mustSend(f, "+447700900504", "192.0.2.60", "sms")
				mustRefuse(f, m, LimitAddress, "+447700900505", "192.0.2.60", "sms", "sent from your address")
			})
		})
	}
}

func TestSourceNetwork(t *testing.T) {
	for in, want := range map[string]string{
		"198.51.100.77":              "198.51.100.0/24",
		"::ffff:198.51.100.77":       "198.51.100.0/24",
		"2001:db8:1:2:3:4:5:6":       "2001:db8:1:2::/64",
		"2001:db8:1:2::1":            "2001:db8:1:2::/64",
		"not an address":             "not an address",
		"2001:db8:1:2:3:4:5:6%wlan0": "2001:db8:1:2::/64",
	} {
		if got := SourceNetwork(in); got != want {
			t.Errorf("SourceNetwork(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestInviteOnly: on an invite-only installation the signup form is refused (nothing is
// sent), and an account's owner comes from the operator's invitation.
func TestInviteOnly(t *testing.T) {
	for _, db := range storetest.Open(t) {
		t.Run(string(db.Dialect()), func(t *testing.T) {
			ctx := context.Background()
			f := newFixtureWith(t, db, func(o *Options) { o.Signup = SignupInvite })
			if f.s.SignupOpen() {
				t.Fatal("SignupOpen on an invite-only installation")
			}
			_, err := f.s.StartSignup(ctx, SignupRequest{Email: "walkin@example.com", Passphrase: goodPass,
				Phone: "+14155550700", Channel: "sms", Source: "192.0.2.70"})
			if !errors.Is(err, ErrInviteOnly) || f.codes.sends != 0 {
				t.Fatalf("signup on an invite-only installation: %v (%d sends)", err, f.codes.sends)
			}
			created, err := f.accts.CreateMain(ctx, "Invited Ltd")
			if err != nil {
				t.Fatal(err)
			}
			token, inv, err := f.s.OperatorInvite(ctx, created.Account.ID, "First@Example.com", trunkline.RoleOwner)
			if err != nil || inv.Email != "first@example.com" || inv.CreatedBy != "operator" {
				t.Fatalf("operator invite: %+v, %v", inv, err)
			}
			flow, err := f.s.StartInvite(ctx, token, goodPass, "+14155550701", "sms", "192.0.2.71")
			if err != nil {
				t.Fatal(err)
			}
			sess, _, err := f.s.CompleteSignup(ctx, flow.Token, f.codes.last("14155550701"), "192.0.2.71", "")
			if err != nil || sess.User.AccountID != created.Account.ID || sess.User.Role != trunkline.RoleOwner {
				t.Fatalf("accepting the operator's invitation: %v", err)
			}
			// The operator is told about an email that already has a user.
			if _, _, err := f.s.OperatorInvite(ctx, created.Account.ID, "first@example.com", trunkline.RoleOwner); err == nil {
				t.Fatal("operator invited an existing user")
			}
		})
	}
}
