// Package config holds Trunkline's configuration and its one lifecycle: defaults →
// optional TOML file → environment (TRUNKLINE_SECTION_KEY) → command-line flags →
// Validate, which reports every problem in plain words (what `trunkline check-config`
// prints).
package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Duration is a time.Duration written as "24h", "90s" in files and the environment.
type Duration struct{ time.Duration }

func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration like 90s, 15m or 24h", string(b))
	}
	d.Duration = v
	return nil
}

func (d Duration) MarshalText() ([]byte, error) { return []byte(d.Duration.String()), nil }

// Config is the whole configuration.
type Config struct {
	// DataDir holds everything the server keeps: database, keys, TLS files, logs.
	DataDir string `toml:"data_dir"`
	// Production turns warnings that are fine on a laptop into errors (plain HTTP on a
	// public address, webhook allowlists that open private ranges, ...).
	Production bool `toml:"production"`

	Log       Log       `toml:"log"`
	API       API       `toml:"api"`
	Database  Database  `toml:"database"`
	Auth      Auth      `toml:"auth"`
	Audit     Audit     `toml:"audit"`
	Webhook   Webhook   `toml:"webhook"`
	SIP       SIP       `toml:"sip"`
	Messaging Messaging `toml:"messaging"`
	Metrics   Metrics   `toml:"metrics"`
}

// Metrics configures the Prometheus endpoint, on its own listener apart from the API.
type Metrics struct {
	Listen string `toml:"listen"` // e.g. 127.0.0.1:9464; empty = off
}

// Messaging configures SMS carriers and routes. With no carrier configured the server
// runs the sandbox carrier: an in-process SMSC that accepts every message and returns a
// delivery receipt, so a new install can send its first message at once.
type Messaging struct {
	Carriers []Carrier `toml:"carriers"`
	Routes   []Route   `toml:"routes"`
	Workers  int       `toml:"workers"` // concurrent sends (default 256)
}

// Carrier is one SMPP carrier (SMSC) Trunkline binds to as an ESME.
type Carrier struct {
	Name         string  `toml:"name"`
	Address      string  `toml:"address"` // host:port
	TLS          bool    `toml:"tls"`
	SystemID     string  `toml:"system_id"`
	Password     string  `toml:"password"`      // or password_file, to keep it out of this file
	PasswordFile string  `toml:"password_file"` // read at start; trailing newline ignored
	SystemType   string  `toml:"system_type"`
	Binds        int     `toml:"binds"`  // transceiver binds (default 1)
	Window       int     `toml:"window"` // outstanding submits per bind (default 10)
	TPS          float64 `toml:"tps"`    // submits per second per bind; 0 = unlimited
	// ResponseTimeout is how long a submit waits for its resp before the message fails
	// over to the next carrier (default 10s); EnquireLink the keep-alive interval (30s).
	ResponseTimeout Duration `toml:"response_timeout"`
	EnquireLink     Duration `toml:"enquire_link"`
	// ThrottleFailover is how long a message waits on a carrier that answers
	// "throttled" (0x58/0x14) before it goes to the next carrier (default 2s).
	ThrottleFailover Duration `toml:"throttle_failover"`
}

// Route sends destinations matching Prefix (E.164 digits) or Country (ISO code) to hops.
type Route struct {
	Prefix   string `toml:"prefix"`
	Country  string `toml:"country"`
	Carriers []Hop  `toml:"carriers"`
}

// Hop is a carrier of a route: lower priority first; weight spreads load within one.
type Hop struct {
	Name     string `toml:"name"`
	Priority int    `toml:"priority"`
	Weight   int    `toml:"weight"`
}

// Log configures the server's own log.
type Log struct {
	Level  string `toml:"level"`  // debug, info, warn, error
	Format string `toml:"format"` // text or json
	File   string `toml:"file"`   // default DATA/logs/trunkline.log; "-" for stderr only
}

// API configures the REST API listener.
type API struct {
	Listen      string   `toml:"listen"`       // HTTPS address
	PlainListen string   `toml:"plain_listen"` // plain HTTP address; empty = off
	TLSCert     string   `toml:"tls_cert"`     // PEM files; empty = self-signed under DATA/tls
	TLSKey      string   `toml:"tls_key"`
	Hostnames   []string `toml:"hostnames"` // extra names/IPs for the self-signed certificate
	MaxBody     int64    `toml:"max_body_bytes"`
	RateLimit   int      `toml:"rate_limit"` // requests per rate_period per account
	RatePeriod  Duration `toml:"rate_period"`
	FailsAddr   int      `toml:"auth_failures_per_address"`
	FailsID     int      `toml:"auth_failures_per_auth_id"`
	FailWindow  Duration `toml:"auth_failure_window"`
	MaxLockout  Duration `toml:"auth_max_lockout"`
	DrainTime   Duration `toml:"drain_timeout"`
}

// Database selects the store.
type Database struct {
	// DSN: "postgres://…" for PostgreSQL; empty for SQLite at DATA/trunkline.db.
	DSN string `toml:"dsn"`
}

// Auth configures credentials.
type Auth struct {
	TokenOverlap Duration `toml:"token_overlap"`     // how long a rotated-out token keeps working
	MaxOverlap   Duration `toml:"max_token_overlap"` // the longest overlap a client may ask for
}

// Audit configures the audit log.
type Audit struct {
	CheckpointInterval Duration `toml:"checkpoint_interval"`
}

// Webhook configures calls to customer URLs.
type Webhook struct {
	// Allow opens address ranges the SSRF guard refuses by default (development, tests).
	Allow       []string `toml:"allow"`
	Timeout     Duration `toml:"timeout"`
	MaxAttempts int      `toml:"max_attempts"`
}

// SIP holds what the API needs to know of SIP until voice lands.
type SIP struct {
	Domain string `toml:"domain"` // host in application sip_uri
}

// Default returns the built-in defaults.
func Default() Config {
	return Config{
		DataDir: "trunkline-data",
		Log:     Log{Level: "info", Format: "text"},
		API: API{Listen: ":8443", MaxBody: 1 << 20, RateLimit: 300, RatePeriod: Duration{5 * time.Second},
			FailsAddr: 20, FailsID: 10, FailWindow: Duration{time.Minute}, MaxLockout: Duration{15 * time.Minute},
			DrainTime: Duration{30 * time.Second}},
		Auth:    Auth{TokenOverlap: Duration{24 * time.Hour}, MaxOverlap: Duration{7 * 24 * time.Hour}},
		Audit:   Audit{CheckpointInterval: Duration{time.Minute}},
		Webhook: Webhook{Timeout: Duration{10 * time.Second}, MaxAttempts: 3},
		SIP:     SIP{Domain: "localhost"},
	}
}

// LoadFile overlays a TOML file on c. Unknown keys are errors: a typo must not silently
// leave a security setting at its default.
func (c *Config) LoadFile(path string) error {
	md, err := toml.DecodeFile(path, c)
	if err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	if un := md.Undecoded(); len(un) > 0 {
		keys := make([]string, len(un))
		for i, k := range un {
			keys[i] = k.String()
		}
		return fmt.Errorf("config file %s: unknown setting(s): %s", path, strings.Join(keys, ", "))
	}
	return nil
}

// EnvPrefix starts every environment variable the config reads.
const EnvPrefix = "TRUNKLINE_"

// LoadEnv overlays TRUNKLINE_<SECTION>_<KEY> variables (e.g. TRUNKLINE_API_LISTEN,
// TRUNKLINE_DATABASE_DSN, TRUNKLINE_DATA_DIR); lists are comma-separated.
func (c *Config) LoadEnv(getenv func(string) string) error {
	var errs []error
	walk(reflect.ValueOf(c).Elem(), "", func(name string, v reflect.Value) {
		s := getenv(EnvPrefix + strings.ToUpper(name))
		if s == "" {
			return
		}
		if err := setFromString(v, s); err != nil {
			errs = append(errs, fmt.Errorf("%s%s: %w", EnvPrefix, strings.ToUpper(name), err))
		}
	})
	return errors.Join(errs...)
}

// Keys lists every setting as section_key (for docs and check-config).
func (c *Config) Keys() []string {
	var out []string
	walk(reflect.ValueOf(c).Elem(), "", func(name string, _ reflect.Value) { out = append(out, name) })
	return out
}

func walk(v reflect.Value, prefix string, fn func(string, reflect.Value)) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("toml")
		if tag == "" || tag == "-" {
			continue
		}
		name := tag
		if prefix != "" {
			name = prefix + "_" + tag
		}
		fv := v.Field(i)
		if fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.Struct {
			continue // lists of tables (carriers, routes) are set in the file only
		}
		if fv.Kind() == reflect.Struct && fv.Type() != reflect.TypeOf(Duration{}) {
			walk(fv, name, fn)
			continue
		}
		fn(name, fv)
	}
}

func setFromString(v reflect.Value, s string) error {
	if v.Type() == reflect.TypeOf(Duration{}) {
		return v.Addr().Interface().(*Duration).UnmarshalText([]byte(s))
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("%q is not true or false", s)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", s)
		}
		v.SetInt(n)
	case reflect.Slice:
		var parts []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				parts = append(parts, p)
			}
		}
		v.Set(reflect.ValueOf(parts))
	default:
		return fmt.Errorf("cannot be set from the environment")
	}
	return nil
}

// Paths derived from DataDir.
func (c *Config) DBPath() string  { return filepath.Join(c.DataDir, "trunkline.db") }
func (c *Config) TLSDir() string  { return filepath.Join(c.DataDir, "tls") }
func (c *Config) KeysDir() string { return filepath.Join(c.DataDir, "keys") }
func (c *Config) KEKPath() string { return filepath.Join(c.KeysDir(), "kek") }
func (c *Config) LogPath() string { return filepath.Join(c.DataDir, "logs", "trunkline.log") }
func (c *Config) PIDPath() string { return filepath.Join(c.DataDir, "trunkline.pid") }
func (c *Config) DSN() string {
	if c.Database.DSN != "" {
		return c.Database.DSN
	}
	return c.DBPath()
}

// Validate reports every problem with c. Warnings are things that work but that an
// operator should know; in production mode they are errors too.
func (c *Config) Validate() (problems, warnings []string) {
	add := func(msg string, a ...any) { problems = append(problems, fmt.Sprintf(msg, a...)) }
	warn := func(msg string, a ...any) {
		if c.Production {
			add(msg+" (refused because production = true)", a...)
		} else {
			warnings = append(warnings, fmt.Sprintf(msg, a...))
		}
	}
	if c.DataDir == "" {
		add("data_dir is empty: say where Trunkline keeps its data (--data-dir)")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add("log.level %q must be one of debug, info, warn, error", c.Log.Level)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		add("log.format %q must be text or json", c.Log.Format)
	}
	checkAddr := func(name, v string) {
		if _, port, err := net.SplitHostPort(v); err != nil {
			add("%s %q is not an address like :8443 or 127.0.0.1:8443", name, v)
		} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			add("%s %q has no valid port", name, v)
		}
	}
	if c.API.Listen == "" && c.API.PlainListen == "" {
		add("api.listen and api.plain_listen are both empty: the API would not listen anywhere")
	}
	if c.API.Listen != "" {
		checkAddr("api.listen", c.API.Listen)
	}
	if c.API.PlainListen != "" {
		checkAddr("api.plain_listen", c.API.PlainListen)
		if host, _, err := net.SplitHostPort(c.API.PlainListen); err == nil {
			if ip, perr := netip.ParseAddr(host); host != "localhost" && (perr != nil || !ip.IsLoopback()) {
				warn("api.plain_listen %q serves the API without TLS beyond this machine: tokens would cross the network in clear", c.API.PlainListen)
			}
		}
	}
	if (c.API.TLSCert == "") != (c.API.TLSKey == "") {
		add("api.tls_cert and api.tls_key must be set together")
	}
	for _, f := range []string{c.API.TLSCert, c.API.TLSKey} {
		if f != "" {
			if _, err := os.Stat(f); err != nil {
				add("TLS file %s cannot be read: %v", f, errors.Unwrap(err))
			}
		}
	}
	if c.API.MaxBody < 1024 || c.API.MaxBody > 64<<20 {
		add("api.max_body_bytes %d must be between 1024 and 67108864", c.API.MaxBody)
	}
	if c.API.RateLimit < 1 || c.API.RatePeriod.Duration <= 0 {
		add("api.rate_limit must be at least 1 and api.rate_period positive")
	}
	if c.API.FailsAddr < 1 || c.API.FailsID < 1 || c.API.FailWindow.Duration <= 0 || c.API.MaxLockout.Duration < c.API.FailWindow.Duration {
		add("auth failure throttling needs positive counts, a positive window and a max lockout of at least the window")
	}
	if c.API.FailsID > 100 {
		add("api.auth_failures_per_auth_id %d is above 100: NIST SP 800-63B allows at most 100 consecutive failures", c.API.FailsID)
	}
	if d := c.Database.DSN; d != "" && !strings.HasPrefix(d, "postgres://") && !strings.HasPrefix(d, "postgresql://") {
		add("database.dsn must start with postgres:// (leave it empty for the embedded SQLite store)")
	}
	if c.Auth.TokenOverlap.Duration < 0 || c.Auth.TokenOverlap.Duration > c.Auth.MaxOverlap.Duration {
		add("auth.token_overlap %s must be between 0 and auth.max_token_overlap (%s)", c.Auth.TokenOverlap.Duration, c.Auth.MaxOverlap.Duration)
	}
	if i := c.Audit.CheckpointInterval.Duration; i <= 0 || i > time.Minute {
		add("audit.checkpoint_interval %s must be positive and at most 1m (checkpoints are signed at least every minute)", i)
	}
	for _, a := range c.Webhook.Allow {
		p, err := netip.ParsePrefix(a)
		if err != nil {
			if ip, err2 := netip.ParseAddr(a); err2 == nil {
				p = netip.PrefixFrom(ip, ip.BitLen())
			} else {
				add("webhook.allow %q is not an address range like 127.0.0.0/8", a)
				continue
			}
		}
		if p.Addr().IsLoopback() || p.Addr().IsPrivate() || p.Addr().IsLinkLocalUnicast() {
			warn("webhook.allow %s lets customer callbacks reach internal addresses", p)
		}
	}
	if c.Webhook.Timeout.Duration <= 0 || c.Webhook.Timeout.Duration > 5*time.Minute {
		add("webhook.timeout must be between 0 and 5m")
	}
	if c.Webhook.MaxAttempts < 1 || c.Webhook.MaxAttempts > 10 {
		add("webhook.max_attempts must be between 1 and 10")
	}
	if c.Metrics.Listen != "" {
		checkAddr("metrics.listen", c.Metrics.Listen)
		if host, _, err := net.SplitHostPort(c.Metrics.Listen); err == nil {
			if ip, perr := netip.ParseAddr(host); host != "localhost" && (perr != nil || !ip.IsLoopback()) {
				warn("metrics.listen %q exposes metrics beyond this machine without authentication", c.Metrics.Listen)
			}
		}
	}
	c.validateMessaging(add, warn)
	return problems, warnings
}

// validateMessaging checks carriers and routes. The whitepaper's rule — at least two
// carriers per country — is a warning on a laptop and an error in production.
func (c *Config) validateMessaging(add, warn func(string, ...any)) {
	names := map[string]bool{}
	for i, cr := range c.Messaging.Carriers {
		where := fmt.Sprintf("messaging.carriers[%d]", i)
		if cr.Name == "" {
			add("%s has no name", where)
		} else if names[cr.Name] {
			add("carrier name %q is used twice", cr.Name)
		}
		names[cr.Name] = true
		if _, _, err := net.SplitHostPort(cr.Address); err != nil {
			add("carrier %q: address %q is not host:port", cr.Name, cr.Address)
		}
		if cr.SystemID == "" || len(cr.SystemID) > 15 {
			add("carrier %q: system_id must be 1 to 15 characters", cr.Name)
		}
		if len(cr.Password) > 8 {
			add("carrier %q: SMPP passwords are at most 8 characters", cr.Name)
		}
		if cr.Password != "" && cr.PasswordFile != "" {
			add("carrier %q: give password or password_file, not both", cr.Name)
		}
		if cr.PasswordFile != "" {
			if _, err := os.Stat(cr.PasswordFile); err != nil {
				add("carrier %q: password_file %s cannot be read", cr.Name, cr.PasswordFile)
			}
		}
		if cr.Binds < 0 || cr.Binds > 64 || cr.Window < 0 || cr.Window > 10000 || cr.TPS < 0 {
			add("carrier %q: binds (0–64), window (0–10000) and tps (≥ 0) are out of range", cr.Name)
		}
	}
	if len(c.Messaging.Carriers) > 0 && len(c.Messaging.Routes) == 0 {
		add("messaging.carriers are configured but no messaging.routes send anything to them")
	}
	for i, r := range c.Messaging.Routes {
		where := fmt.Sprintf("messaging.routes[%d]", i)
		if r.Country != "" {
			if _, ok := CallingCode(r.Country); !ok {
				add("%s: country %q is not a known ISO code (use prefix)", where, r.Country)
			}
			where += " (" + strings.ToUpper(r.Country) + ")"
		} else if r.Prefix != "" && strings.Trim(r.Prefix, "0123456789") != "" {
			add("%s: prefix %q must be digits", where, r.Prefix)
		} else {
			where += fmt.Sprintf(" (prefix %q)", r.Prefix)
		}
		distinct := map[string]bool{}
		for _, h := range r.Carriers {
			if !names[h.Name] {
				add("%s names carrier %q, which is not configured", where, h.Name)
			}
			if h.Weight < 0 {
				add("%s: carrier %q has a negative weight", where, h.Name)
			}
			distinct[h.Name] = true
		}
		if len(distinct) < 2 {
			warn("%s has %d carrier(s): the whitepaper asks for at least two per country, so one carrier's outage stops traffic", where, len(distinct))
		}
	}
}

// WebhookAllow parses Webhook.Allow (call after Validate).
func (c *Config) WebhookAllow() []netip.Prefix {
	var out []netip.Prefix
	for _, a := range c.Webhook.Allow {
		if p, err := netip.ParsePrefix(a); err == nil {
			out = append(out, p.Masked())
		} else if ip, err := netip.ParseAddr(a); err == nil {
			out = append(out, netip.PrefixFrom(ip, ip.BitLen()))
		}
	}
	return out
}
