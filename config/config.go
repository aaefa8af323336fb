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
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
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
	// File is the configuration file LoadFile read ("" when none); backups copy it.
	File string `toml:"-"`
	// DataDir holds everything the server keeps: database, keys, TLS files, logs.
	DataDir string `toml:"data_dir"`
	// Production turns warnings that are fine on a laptop into errors (plain HTTP on a
	// public address, webhook allowlists that open private ranges, ...).
	Production bool `toml:"production"`
	// NodeName names this node in audit entries and message leases (a node reclaims
	// its own leases when it restarts). Default: the host name.
	NodeName string `toml:"node_name"`

	Log       Log       `toml:"log"`
	Bus       Bus       `toml:"bus"`
	API       API       `toml:"api"`
	Database  Database  `toml:"database"`
	Auth      Auth      `toml:"auth"`
	Audit     Audit     `toml:"audit"`
	Webhook   Webhook   `toml:"webhook"`
	SIP       SIP       `toml:"sip"`
	Messaging Messaging `toml:"messaging"`
	Voice     Voice     `toml:"voice"`
	Metrics   Metrics   `toml:"metrics"`
	Console   Console   `toml:"console"`
	Backup    Backup    `toml:"backup"`
	Staff     Staff     `toml:"staff"`
	Firewall  Firewall  `toml:"firewall"`
}

// Staff configures the operator's staff access to customer data (package staff).
type Staff struct {
	// MaxGrant caps how long an approved grant lasts; MaxBreakGlass caps a break-glass one.
	MaxGrant      Duration `toml:"max_grant"`
	MaxBreakGlass Duration `toml:"max_break_glass"`
	// BreakGlassURL is called (POST, through the signed, SSRF-safe webhook client) when a
	// break-glass grant opens; BreakGlassSecret signs it (X-Plivo-Signature-V3 with the
	// secret as the token). Empty: break-glass pages through the audit log, the log and
	// the metrics only.
	BreakGlassURL    string `toml:"breakglass_url"`
	BreakGlassSecret string `toml:"breakglass_secret"`
}

// Firewall names who should reach the node's listeners, for the manifest `trunkline
// firewall` prints (the node does not filter by it: the host's firewall does). Each is a
// list of addresses or CIDR prefixes.
type Firewall struct {
	// APISources may reach the API listeners (e.g. the load balancers). Empty: anywhere.
	APISources []string `toml:"api_sources"`
	// SIPSources may send SIP (e.g. a Kamailio in front, the phones' networks), beside
	// the trunks' addresses. Empty: anywhere (phones register from anywhere).
	SIPSources []string `toml:"sip_sources"`
	// MetricsSources may scrape the metrics listener. Empty: the private ranges.
	MetricsSources []string `toml:"metrics_sources"`
}

// Backup configures encrypted backups (trunkline backup, and scheduled in serve).
type Backup struct {
	// KeyFile holds the backup key (base64, 32 bytes; trunkline backup keygen). It must
	// live apart from the data dir's keys; $TRUNKLINE_BACKUP_KEY wins over it.
	KeyFile string `toml:"key_file"`
	// Interval between scheduled backups in serve; 0 (default) = none.
	Interval Duration `toml:"interval"`
	// DrillInterval between scheduled restore drills in serve; 0 = none.
	DrillInterval Duration `toml:"drill_interval"`
	// Retention per destination: the newest backup of each of the last KeepDaily days
	// and KeepMonthly months; both 0 keeps everything.
	KeepDaily    int          `toml:"keep_daily"`
	KeepMonthly  int          `toml:"keep_monthly"`
	Destinations []BackupDest `toml:"destinations"`
}

// BackupDest is one place backups go: a directory or an S3-compatible bucket.
type BackupDest struct {
	Name string `toml:"name"`
	Type string `toml:"type"` // dir or s3
	Path string `toml:"path"` // dir
	// S3: endpoint host:port, bucket, optional prefix and region; the secret key in the
	// file or in secret_key_file. insecure = plain HTTP (a server on this machine only).
	Endpoint      string `toml:"endpoint"`
	Bucket        string `toml:"bucket"`
	Prefix        string `toml:"prefix"`
	Region        string `toml:"region"`
	AccessKey     string `toml:"access_key"`
	SecretKey     string `toml:"secret_key"`
	SecretKeyFile string `toml:"secret_key_file"`
	Insecure      bool   `toml:"insecure"`
}

// Console configures the web console (served on the API's listeners under /console/)
// and the phone verification it sends.
type Console struct {
	Disabled bool `toml:"disabled"`
	// SMSFrom is the sender of verification texts; CallFrom the caller id of
	// verification calls.
	SMSFrom  string `toml:"sms_from"`
	CallFrom string `toml:"call_from"`
	// IdleTimeout logs a session out after this long without activity (HIPAA automatic
	// logoff; at most 60 min); SessionLifetime ends it however active.
	IdleTimeout     Duration `toml:"idle_timeout"`
	SessionLifetime Duration `toml:"session_lifetime"`

	// Signup is "open" (anyone may create an account on the console) or "invite" (the
	// operator creates accounts and invites their owners: trunkline account create
	// --owner EMAIL). Unset: open, or invite when production = true.
	Signup string `toml:"signup"`
	// VerifyCountries are the ISO codes of the countries verification codes may be
	// texted or called to (countries sharing a calling code, like the +1 of the US and
	// Canada, go together). Empty allows every country; production requires a list.
	VerifyCountries []string `toml:"verify_countries"`
	// Budgets of verification sends, texts and calls together: for the installation
	// per hour and per day, per destination prefix (the first prefix_digits digits of
	// the number) per hour, and per source network (IPv4 /24, IPv6 /64) per hour.
	SendsPerHour        int `toml:"sends_per_hour"`
	SendsPerDay         int `toml:"sends_per_day"`
	SendsPerPrefixHour  int `toml:"sends_per_prefix_hour"`
	PrefixDigits        int `toml:"prefix_digits"`
	SendsPerNetworkHour int `toml:"sends_per_network_hour"`
}

// SignupMode is the console's effective signup mode: "open" or "invite".
func (c *Config) SignupMode() string {
	if c.Console.Signup != "" {
		return c.Console.Signup
	}
	if c.Production {
		return "invite"
	}
	return "open"
}

// VerifyPrefixes are the calling codes of console.verify_countries (nil: every
// country); unknown codes are left out (Validate reports them).
func (c *Console) VerifyPrefixes() []string {
	var out []string
	for _, iso := range c.VerifyCountries {
		if code, ok := CallingCode(iso); ok && !slices.Contains(out, code) {
			out = append(out, code)
		}
	}
	return out
}

// Voice configures the SIP side: where it listens, the media port range, and the voice
// trunks (SIP carriers) with their routes.
type Voice struct {
	Listen       string `toml:"listen"`        // SIP over UDP and TCP; port 0 picks a free port (tests)
	TLSListen    string `toml:"tls_listen"`    // SIP over TLS; empty = off
	ExternalHost string `toml:"external_host"` // advertised in Contact and SDP; empty = the listen host
	RTPPortMin   int    `toml:"rtp_port_min"`
	RTPPortMax   int    `toml:"rtp_port_max"`
	MaxCalls     int    `toml:"max_calls"` // concurrent calls; INVITEs beyond it get 503
	// SourceRateLimit requests (any method) per SourceRatePeriod may come from one source
	// address that is no trunk (IPv6: one /64); beyond it requests get 503 with
	// Retry-After. 0 turns the limit off. Trunks are never limited.
	SourceRateLimit  int      `toml:"source_rate_limit"`
	SourceRatePeriod Duration `toml:"source_rate_period"`
	// FailoverCodes are the final statuses after which an outbound call tries the
	// next trunk; empty means 408 and every 5xx. Timeouts always fail over.
	FailoverCodes []int `toml:"failover_codes"`
	// RTPTimeout hangs up a call whose other side sends no RTP for this long.
	RTPTimeout Duration `toml:"rtp_timeout"`
	// TrunkTimeout is how long an outbound INVITE waits for any answer from a trunk
	// before the call tries the next one (default 5s).
	TrunkTimeout Duration `toml:"trunk_timeout"`
	Trunks       []Trunk  `toml:"trunks"`
	// Routes are the same as messaging routes; each hop's name is a trunk.
	Routes []Route `toml:"routes"`
}

// Trunk is one SIP carrier: where outbound calls and OPTIONS probes go, and which
// addresses inbound INVITEs from it may come from.
type Trunk struct {
	Name      string `toml:"name"`
	Address   string `toml:"address"`   // host:port
	Transport string `toml:"transport"` // udp (default), tcp or tls
	// Allow lists the addresses or CIDR ranges the trunk's INVITEs may come from; empty
	// means the address(es) Address's host resolves to at start.
	Allow []string `toml:"allow"`
	// ProbeInterval is the OPTIONS keep-alive period. LoadFile sets 30s where the file
	// leaves it out; zero (e.g. "0s") turns probing off.
	ProbeInterval Duration `toml:"probe_interval"`
	// Digest credentials for outbound calls; password_file keeps the password out of
	// this file (read at start; trailing newline ignored).
	Username     string `toml:"username"`
	Password     string `toml:"password"`
	PasswordFile string `toml:"password_file"`
}

// DefaultProbeInterval is a trunk's OPTIONS keep-alive period when the file gives none.
const DefaultProbeInterval = 30 * time.Second

// Metrics configures the Prometheus endpoint, on its own listener apart from the API.
type Metrics struct {
	Listen string `toml:"listen"` // e.g. 127.0.0.1:9464; empty = off
	// Pprof adds Go's profiler (/debug/pprof/) to the metrics listener, for
	// operators measuring the server (bench/voice.sh uses it). Off by default.
	Pprof bool `toml:"pprof"`
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
	// PublicURL is how clients reach the API and console, e.g. https://api.example.com
	// (with a port when not 443): links the server hands out (invitations, recording_url,
	// the console's examples) are built on it, never on a request's Host header. Empty:
	// the API's own listener (https://localhost:PORT for a wildcard listen address).
	PublicURL  string   `toml:"public_url"`
	MaxBody    int64    `toml:"max_body_bytes"`
	RateLimit  int      `toml:"rate_limit"` // requests per rate_period per account
	RatePeriod Duration `toml:"rate_period"`
	FailsAddr  int      `toml:"auth_failures_per_address"`
	FailsID    int      `toml:"auth_failures_per_auth_id"`
	FailWindow Duration `toml:"auth_failure_window"`
	MaxLockout Duration `toml:"auth_max_lockout"`
	DrainTime  Duration `toml:"drain_timeout"`
	// DrainGrace is how long, after SIGTERM, the node keeps serving while its readiness
	// endpoint (/ready) answers 503 "draining", new INVITEs and SIP probes get 503 and
	// its message workers stop claiming: the time a load balancer needs to take it out
	// of its pool before it stops accepting. 0 (default): no load balancer checks it.
	DrainGrace Duration `toml:"drain_grace"`
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
	// SigningKeyFile is where the checkpoint signing key is kept (created on first use);
	// default keys/audit.key in the data dir. $TRUNKLINE_AUDIT_KEY, when set, wins.
	SigningKeyFile string `toml:"signing_key_file"`
	// WitnessFiles are more append-only files that get a copy of every signed
	// checkpoint, beside the one always kept in the data dir (WitnessPath): put one
	// on another disk or a mount from another host.
	WitnessFiles []string `toml:"witness_files"`
	// WitnessURL is an HTTPS service on another host that gets every signed checkpoint
	// (POST of the note), and may give the newest back (GET). WitnessCAFile, when set,
	// is the CA its certificate is checked against instead of the system's.
	WitnessURL    string `toml:"witness_url"`
	WitnessCAFile string `toml:"witness_ca_file"`
}

// Webhook configures calls to customer URLs.
type Webhook struct {
	// Allow opens address ranges the SSRF guard refuses by default (development, tests).
	Allow       []string `toml:"allow"`
	Timeout     Duration `toml:"timeout"`
	MaxAttempts int      `toml:"max_attempts"`
}

// Bus configures the message bus: wake-ups, events, cache invalidations and live-call
// commands between the parts of a node (and, in a cluster, between nodes).
type Bus struct {
	// Kind is "local" (in-process, one node) or "nats" (a cluster: an embedded NATS
	// server per node routed to its peers, or an external NATS cluster by URL).
	Kind string `toml:"kind"`
	// URL connects to an external NATS cluster (comma-separated nats:// URLs) instead
	// of embedding a server.
	URL string `toml:"url"`
	// Listen is the embedded server's client listener (host:port; never a wildcard by
	// default). RouteListen is where peers' routes connect; Routes are the peers'
	// route addresses (host:port; the same list on every node is fine).
	Listen      string   `toml:"listen"`
	RouteListen string   `toml:"route_listen"`
	Routes      []string `toml:"routes"`
	// Cluster names the NATS cluster; every node of one cluster uses the same.
	Cluster string `toml:"cluster"`
	// Token (or the first line of TokenFile) authenticates clients and routes; every
	// node of a cluster shares it. At least 16 characters.
	Token     string `toml:"token"`
	TokenFile string `toml:"token_file"`
	// RouteCert, RouteKey and RouteCA, when set, encrypt routes with mutual TLS: each
	// node shows RouteCert and accepts only peers whose certificates RouteCA signed.
	RouteCert string `toml:"route_cert"`
	RouteKey  string `toml:"route_key"`
	RouteCA   string `toml:"route_ca"`
	// Heartbeat is how often a node announces itself in the nodes table; DeadAfter is
	// how long without a heartbeat before the others take its work over.
	Heartbeat Duration `toml:"heartbeat"`
	DeadAfter Duration `toml:"dead_after"`
}

// SIP holds what the API needs to know of SIP until voice lands.
type SIP struct {
	Domain string `toml:"domain"` // host in application sip_uri
}

// Default returns the built-in defaults.
func Default() Config {
	host, _ := os.Hostname()
	return Config{
		DataDir:  "trunkline-data",
		NodeName: host,
		Bus: Bus{Kind: "local", Listen: "127.0.0.1:4222", Cluster: "trunkline",
			Heartbeat: Duration{300 * time.Millisecond}, DeadAfter: Duration{time.Second}},
		Log: Log{Level: "info", Format: "text"},
		API: API{Listen: ":8443", MaxBody: 1 << 20, RateLimit: 300, RatePeriod: Duration{5 * time.Second},
			FailsAddr: 20, FailsID: 10, FailWindow: Duration{time.Minute}, MaxLockout: Duration{15 * time.Minute},
			DrainTime: Duration{30 * time.Second}},
		Auth:    Auth{TokenOverlap: Duration{24 * time.Hour}, MaxOverlap: Duration{7 * 24 * time.Hour}},
		Audit:   Audit{CheckpointInterval: Duration{time.Minute}},
		Webhook: Webhook{Timeout: Duration{10 * time.Second}, MaxAttempts: 3},
		Staff:   Staff{MaxGrant: Duration{8 * time.Hour}, MaxBreakGlass: Duration{time.Hour}},
		SIP:     SIP{Domain: "localhost"},
		Console: Console{SMSFrom: "Trunkline", CallFrom: "10000", IdleTimeout: Duration{15 * time.Minute},
			SessionLifetime: Duration{12 * time.Hour}, SendsPerHour: 100, SendsPerDay: 500, SendsPerPrefixHour: 10,
			PrefixDigits: 6, SendsPerNetworkHour: 30},
		Voice: Voice{Listen: "0.0.0.0:5060", RTPPortMin: 10000, RTPPortMax: 20000, MaxCalls: 2000,
			SourceRateLimit: 100, SourceRatePeriod: Duration{10 * time.Second}},
	}
}

// LoadFile overlays a TOML file on c. Unknown keys are errors: a typo must not silently
// leave a security setting at its default.
func (c *Config) LoadFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	md, err := toml.Decode(string(b), c)
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
	c.File = path
	// Elements of lists of tables start from zero values, so a default that differs from
	// zero is filled in where the file leaves the key out.
	var given struct {
		Voice struct {
			Trunks []map[string]any `toml:"trunks"`
		} `toml:"voice"`
	}
	if _, err := toml.Decode(string(b), &given); err == nil && len(given.Voice.Trunks) == len(c.Voice.Trunks) {
		for i, t := range given.Voice.Trunks {
			if _, ok := t["probe_interval"]; !ok {
				c.Voice.Trunks[i].ProbeInterval = Duration{DefaultProbeInterval}
			}
		}
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

// WitnessPath is the append-only file beside the database that keeps a copy of every
// signed audit checkpoint.
func (c *Config) WitnessPath() string { return filepath.Join(c.DataDir, "audit", "witness") }

// AuditKeyPath is the checkpoint signing key file.
func (c *Config) AuditKeyPath() string {
	if c.Audit.SigningKeyFile != "" {
		return c.Audit.SigningKeyFile
	}
	return filepath.Join(c.KeysDir(), "audit.key")
}
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
	if d := c.Console.IdleTimeout.Duration; d < time.Minute || d > time.Hour {
		add("console.idle_timeout must be between 1m and 60m (got %s)", d)
	}
	if d := c.Console.SessionLifetime.Duration; d < c.Console.IdleTimeout.Duration || d > 7*24*time.Hour {
		add("console.session_lifetime must be between console.idle_timeout and 168h (got %s)", d)
	}
	if c.Console.SMSFrom == "" || c.Console.CallFrom == "" {
		add("console.sms_from and console.call_from must not be empty")
	}
	c.validateSignup(add)
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
	if c.NodeName == "" {
		add("node_name is empty: name this node (the host name is the default)")
	}
	c.validateBus(add)
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
	if c.API.PublicURL != "" {
		if u, err := checkPublicURL(c.API.PublicURL); err != nil {
			add("api.public_url %q %v", c.API.PublicURL, err)
		} else if u.Scheme == "http" {
			warn("api.public_url %q is plain HTTP: links the server hands out (invitations, recordings) would send clients off TLS", c.API.PublicURL)
		}
	}
	for name, list := range map[string][]string{"firewall.api_sources": c.Firewall.APISources,
		"firewall.sip_sources": c.Firewall.SIPSources, "firewall.metrics_sources": c.Firewall.MetricsSources} {
		for _, v := range list {
			if _, err := ParseAllow(v); err != nil {
				add("%s: %q is not an address or CIDR prefix like 192.0.2.0/24", name, v)
			}
		}
	}
	if g := c.API.DrainGrace.Duration; g < 0 || g > 10*time.Minute {
		add("api.drain_grace %s must be between 0 and 10m", g)
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
	for _, f := range c.Audit.WitnessFiles {
		if f == "" || !filepath.IsAbs(f) {
			add("audit.witness_files: %q must be an absolute path", f)
		}
	}
	if u := c.Audit.WitnessURL; u != "" {
		if pu, err := url.Parse(u); err != nil || pu.Scheme != "https" || pu.Host == "" {
			add("audit.witness_url %q must be an https:// URL", u)
		}
	}
	if f := c.Audit.WitnessCAFile; f != "" {
		if _, err := os.Stat(f); err != nil {
			add("audit.witness_ca_file %s cannot be read: %v", f, errors.Unwrap(err))
		}
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
	if c.Staff.MaxGrant.Duration < time.Minute || c.Staff.MaxGrant.Duration > 7*24*time.Hour {
		add("staff.max_grant must be between 1m and 168h")
	}
	if c.Staff.MaxBreakGlass.Duration < time.Minute || c.Staff.MaxBreakGlass.Duration > c.Staff.MaxGrant.Duration {
		add("staff.max_break_glass must be between 1m and staff.max_grant")
	}
	if c.Staff.BreakGlassURL != "" {
		if u, err := url.Parse(c.Staff.BreakGlassURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			add("staff.breakglass_url must be an http(s) URL")
		} else if u.Scheme == "http" {
			warn("staff.breakglass_url is plain http: the page crosses the network unencrypted")
		}
		if len(c.Staff.BreakGlassSecret) < 16 {
			add("staff.breakglass_secret must be set (at least 16 characters) when staff.breakglass_url is")
		}
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
	note := func(msg string, a ...any) { warnings = append(warnings, fmt.Sprintf(msg, a...)) }
	c.validateMessaging(add, warn)
	c.validateVoice(add, warn, note)
	c.validateBackup(add, warn)
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
	validateRoutes("messaging.routes", "carrier", c.Messaging.Routes, names, add, warn)
}

// validateRoutes checks routes of either kind (messaging: carriers; voice: trunks)
// against the configured names, with the at-least-two rule.
func validateRoutes(section, noun string, routes []Route, names map[string]bool, add, warn func(string, ...any)) {
	for i, r := range routes {
		where := fmt.Sprintf("%s[%d]", section, i)
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
				add("%s names %s %q, which is not configured", where, noun, h.Name)
			}
			if h.Weight < 0 {
				add("%s: %s %q has a negative weight", where, noun, h.Name)
			}
			distinct[h.Name] = true
		}
		if len(distinct) < 2 {
			warn("%s has %d %s(s): the whitepaper asks for at least two per country, so one %s's outage stops traffic", where, len(distinct), noun, noun)
		}
	}
}

// validateSignup checks the console's signup mode, verification countries and send
// budgets.
func (c *Config) validateSignup(add func(string, ...any)) {
	k := &c.Console
	if k.Signup != "" && k.Signup != "open" && k.Signup != "invite" {
		add("console.signup %q must be open or invite", k.Signup)
	}
	for _, iso := range k.VerifyCountries {
		if _, ok := CallingCode(iso); !ok {
			add("console.verify_countries: %q is not a country code Trunkline knows (ISO 3166 alpha-2, e.g. US, GB)", iso)
		}
	}
	if c.Production && !k.Disabled && len(k.VerifyCountries) == 0 {
		add("console.verify_countries is empty: with production = true, list the countries verification codes may be sent to (an open list invites SMS pumping and toll fraud)")
	}
	for _, b := range []struct {
		name string
		v    int
	}{{"sends_per_hour", k.SendsPerHour}, {"sends_per_day", k.SendsPerDay}, {"sends_per_prefix_hour", k.SendsPerPrefixHour},
		{"sends_per_network_hour", k.SendsPerNetworkHour}} {
		if b.v < 1 {
			add("console.%s must be at least 1 (got %d)", b.name, b.v)
		}
	}
	if k.PrefixDigits < 1 || k.PrefixDigits > 15 {
		add("console.prefix_digits must be between 1 and 15 (got %d)", k.PrefixDigits)
	}
}

// validateVoice checks the SIP listeners, the media port range, trunks and voice routes.
// note records a warning that production does not refuse.
func (c *Config) validateVoice(add, warn, note func(string, ...any)) {
	v := &c.Voice
	for _, code := range v.FailoverCodes {
		if code < 300 || code > 699 {
			add("voice.failover_codes: %d is not a final SIP failure status (300-699)", code)
		}
	}
	if v.RTPTimeout.Duration < 0 {
		add("voice.rtp_timeout must not be negative")
	}
	if v.TrunkTimeout.Duration < 0 || (v.TrunkTimeout.Duration > 0 && v.TrunkTimeout.Duration < 100*time.Millisecond) {
		add("voice.trunk_timeout must be at least 100ms (or unset for 5s)")
	}
	listenPort := -1
	if v.Listen == "" {
		add("voice.listen is empty: say where SIP listens (e.g. 0.0.0.0:5060)")
	} else if host, port, err := splitListen(v.Listen); err != nil {
		add("voice.listen %q is not an address like 0.0.0.0:5060 (%v)", v.Listen, err)
	} else {
		listenPort = port
		if v.ExternalHost == "" && len(v.Trunks) > 0 && (!host.IsValid() || host.IsUnspecified()) {
			note("voice.listen %q binds every interface and voice.external_host is empty: Contact and SDP will carry a guessed address, which carriers behind NAT cannot reach", v.Listen)
		}
	}
	if v.TLSListen != "" {
		if _, port, err := splitListen(v.TLSListen); err != nil {
			add("voice.tls_listen %q is not an address like 0.0.0.0:5061 (%v)", v.TLSListen, err)
		} else if port != 0 && port == listenPort {
			add("voice.tls_listen %q uses the same port as voice.listen (SIP over TCP listens there too)", v.TLSListen)
		}
	}
	if h := v.ExternalHost; h != "" {
		if ip, err := netip.ParseAddr(h); err == nil {
			if ip.IsUnspecified() {
				add("voice.external_host %q is not an address peers can reach", h)
			}
		} else if !isHostname(h) {
			add("voice.external_host %q must be an IP address or a host name, without a port", h)
		}
	}
	switch {
	case v.RTPPortMin < 1024 || v.RTPPortMax > 65535 || v.RTPPortMin >= v.RTPPortMax:
		add("voice.rtp_port_min %d and voice.rtp_port_max %d must satisfy 1024 ≤ min < max ≤ 65535", v.RTPPortMin, v.RTPPortMax)
	case v.RTPPortMin%2 != 0:
		add("voice.rtp_port_min %d must be even: RTP takes the even port of each pair and RTCP the odd one above it", v.RTPPortMin)
	default:
		if listenPort >= v.RTPPortMin && listenPort <= v.RTPPortMax {
			add("voice.listen port %d lies inside the RTP port range %d–%d", listenPort, v.RTPPortMin, v.RTPPortMax)
		}
		if pairs := (v.RTPPortMax - v.RTPPortMin + 1) / 2; v.MaxCalls > 0 && pairs < v.MaxCalls {
			note("voice.rtp_port_min–rtp_port_max gives %d RTP port pairs, fewer than voice.max_calls (%d): calls beyond that fail to get media", pairs, v.MaxCalls)
		}
	}
	if v.MaxCalls < 1 || v.MaxCalls > 1000000 {
		add("voice.max_calls %d must be between 1 and 1000000", v.MaxCalls)
	}
	if v.SourceRateLimit < 0 || v.SourceRateLimit > 1000000 {
		add("voice.source_rate_limit %d must be between 0 (off) and 1000000", v.SourceRateLimit)
	} else if v.SourceRateLimit > 0 && (v.SourceRatePeriod.Duration < time.Second || v.SourceRatePeriod.Duration > time.Hour) {
		add("voice.source_rate_period must be between 1s and 1h")
	}
	names := map[string]bool{}
	for i, t := range v.Trunks {
		if t.Name == "" {
			add("voice.trunks[%d] has no name", i)
		} else if names[t.Name] {
			add("trunk name %q is used twice", t.Name)
		}
		names[t.Name] = true
		if host, port, err := net.SplitHostPort(t.Address); err != nil || host == "" {
			add("trunk %q: address %q is not host:port", t.Name, t.Address)
		} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			add("trunk %q: address %q has no valid port", t.Name, t.Address)
		}
		switch strings.ToLower(t.Transport) {
		case "", "udp", "tcp", "tls":
		default:
			add("trunk %q: transport %q must be udp, tcp or tls", t.Name, t.Transport)
		}
		for _, a := range t.Allow {
			p, err := ParseAllow(a)
			if err != nil {
				add("trunk %q: allow %q is not an IP address or a range like 203.0.113.0/24", t.Name, a)
				continue
			}
			if (p.Addr().Is4() && p.Bits() < 16) || (!p.Addr().Is4() && p.Bits() < 32) {
				warn("trunk %q: allow %s is a very wide range: anyone in it could place calls as this trunk", t.Name, p)
			}
		}
		if t.ProbeInterval.Duration < 0 || (t.ProbeInterval.Duration > 0 && t.ProbeInterval.Duration < time.Second) {
			add("trunk %q: probe_interval %s must be 0s (off) or at least 1s", t.Name, t.ProbeInterval.Duration)
		}
		if t.Password != "" && t.PasswordFile != "" {
			add("trunk %q: give password or password_file, not both", t.Name)
		}
		if (t.Password != "" || t.PasswordFile != "") && t.Username == "" {
			add("trunk %q: a password needs a username", t.Name)
		}
		if t.PasswordFile != "" {
			if _, err := os.Stat(t.PasswordFile); err != nil {
				add("trunk %q: password_file %s cannot be read", t.Name, t.PasswordFile)
			}
		}
	}
	if len(v.Trunks) > 0 && len(v.Routes) == 0 {
		note("voice.trunks are configured but no voice.routes send calls to them: they take inbound calls only")
	}
	validateRoutes("voice.routes", "trunk", v.Routes, names, add, warn)
}

// splitListen parses a listen address; an empty host (invalid Addr) means every
// interface.
func splitListen(s string) (host netip.Addr, port int, err error) {
	h, p, err := net.SplitHostPort(s)
	if err != nil {
		return netip.Addr{}, 0, errors.New("not host:port")
	}
	port, err = strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return netip.Addr{}, 0, errors.New("bad port")
	}
	switch h {
	case "":
		return netip.Addr{}, port, nil
	case "localhost":
		return netip.AddrFrom4([4]byte{127, 0, 0, 1}), port, nil
	}
	if host, err = netip.ParseAddr(h); err != nil {
		return netip.Addr{}, 0, errors.New("the host must be an IP address or localhost")
	}
	return host, port, nil
}

// checkPublicURL parses api.public_url: an http(s) URL with a host and nothing after it
// but an optional "/" (links append their own paths).
func checkPublicURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	switch {
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Opaque != "":
		return nil, errors.New("must be a URL like https://api.example.com or https://api.example.com:8443")
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery || (u.Path != "" && u.Path != "/"):
		return nil, errors.New("must be only a scheme, host and optional port: no user, path, query or fragment")
	}
	host := u.Hostname()
	if net.ParseIP(host) == nil && !isHostname(host) {
		return nil, errors.New("has an invalid host name")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, errors.New("has an invalid port")
		}
	}
	return u, nil
}

// PublicBase returns api.public_url without a trailing "/" (call after Validate), or ""
// when none is configured.
func (c *Config) PublicBase() string { return strings.TrimSuffix(c.API.PublicURL, "/") }

// PublicHost returns the host name of api.public_url, or "" when none is configured.
func (c *Config) PublicHost() string {
	if u, err := url.Parse(c.API.PublicURL); err == nil && c.API.PublicURL != "" {
		return strings.ToLower(u.Hostname())
	}
	return ""
}

func isHostname(s string) bool {
	if len(s) == 0 || len(s) > 253 || strings.HasPrefix(s, "-") || strings.HasPrefix(s, ".") {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}

// ParseAllow parses an allow-list entry: an address range, or one address (a range of
// just that address). IPv4-mapped IPv6 addresses become IPv4.
func ParseAllow(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if p, err := netip.ParsePrefix(s); err == nil {
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	ip = ip.Unmap().WithZone("")
	return netip.PrefixFrom(ip, ip.BitLen()), nil
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

// validateBackup checks the [backup] section.
func (c *Config) validateBackup(add, warn func(string, ...any)) {
	b := &c.Backup
	if b.KeepDaily < 0 || b.KeepMonthly < 0 {
		add("backup.keep_daily and backup.keep_monthly must not be negative")
	}
	if i := b.Interval.Duration; i < 0 || (i > 0 && i < time.Minute) {
		add("backup.interval %s must be 0 (off) or at least 1m", i)
	}
	if i := b.DrillInterval.Duration; i < 0 || (i > 0 && i < time.Minute) {
		add("backup.drill_interval %s must be 0 (off) or at least 1m", i)
	}
	if (b.Interval.Duration > 0 || b.DrillInterval.Duration > 0) && len(b.Destinations) == 0 {
		add("backup.interval or backup.drill_interval is set but backup.destinations is empty")
	}
	if b.KeyFile != "" {
		if inDir(b.KeyFile, c.KeysDir()) {
			add("backup.key_file %s lies in the data dir's keys directory: keep the backup key apart from the KEK", b.KeyFile)
		} else if inDir(b.KeyFile, c.DataDir) {
			warn("backup.key_file %s lies in the data dir: whoever copies the data dir can open its backups", b.KeyFile)
		}
	}
	names := map[string]bool{}
	for i, d := range b.Destinations {
		what := fmt.Sprintf("backup.destinations[%d]", i)
		if d.Name == "" {
			add("%s needs a name", what)
		} else if names[d.Name] {
			add("%s: the name %q is used twice", what, d.Name)
		}
		names[d.Name] = true
		switch d.Type {
		case "dir":
			if d.Path == "" {
				add("%s (%s): type dir needs a path", what, d.Name)
			} else if inDir(d.Path, c.DataDir) {
				add("%s (%s): path %s lies in the data dir: a lost disk would take the backups with it", what, d.Name, d.Path)
			}
		case "s3":
			if d.Endpoint == "" || d.Bucket == "" {
				add("%s (%s): type s3 needs endpoint (host:port) and bucket", what, d.Name)
			}
			if strings.Contains(d.Endpoint, "://") {
				add("%s (%s): endpoint %q must be host:port, without a scheme", what, d.Name, d.Endpoint)
			}
			if d.SecretKey != "" && d.SecretKeyFile != "" {
				add("%s (%s): set secret_key or secret_key_file, not both", what, d.Name)
			}
			if d.SecretKeyFile != "" {
				if _, err := os.Stat(d.SecretKeyFile); err != nil {
					add("%s (%s): secret_key_file %s cannot be read", what, d.Name, d.SecretKeyFile)
				}
			}
			if d.Insecure {
				if host, _, err := net.SplitHostPort(d.Endpoint); err == nil {
					if ip, perr := netip.ParseAddr(host); host != "localhost" && (perr != nil || !ip.IsLoopback()) {
						warn("%s (%s): insecure = true sends backups over plain HTTP beyond this machine", what, d.Name)
					}
				}
			}
		default:
			add("%s (%s): type %q must be dir or s3", what, d.Name, d.Type)
		}
	}
	if len(b.Destinations) == 1 {
		warn("backup.destinations has one destination: backups should be kept in at least two places")
	}
}

// inDir reports whether path lies inside dir.
func inDir(path, dir string) bool {
	p, err1 := filepath.Abs(path)
	d, err2 := filepath.Abs(dir)
	if err1 != nil || err2 != nil {
		return false
	}
	rel, err := filepath.Rel(d, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

func (c *Config) validateBus(add func(string, ...any)) {
	b := c.Bus
	switch b.Kind {
	case "local":
		return
	case "nats":
	default:
		add("bus.kind %q: \"local\" (in-process, one node) or \"nats\" (a cluster)", b.Kind)
		return
	}
	if c.Database.DSN == "" {
		add("bus.kind \"nats\" (a cluster) needs database.dsn: the nodes share one PostgreSQL database")
	}
	if b.URL == "" {
		if b.Token == "" && b.TokenFile == "" {
			add("bus.token or bus.token_file: the embedded NATS server authenticates its peers and clients with a shared token")
		} else if b.Token != "" && len(b.Token) < 16 {
			add("bus.token must be 16 characters or more")
		}
		if b.Listen == "" {
			add("bus.listen is empty: the embedded NATS server needs a client listener (host:port)")
		}
		if len(b.Routes) > 0 && b.RouteListen == "" {
			add("bus.routes without bus.route_listen: peers could not route back to this node")
		}
	}
	if (b.RouteCert == "") != (b.RouteKey == "") || (b.RouteCert != "" && b.RouteCA == "") {
		add("bus.route_cert, bus.route_key and bus.route_ca go together (mutual TLS between nodes)")
	}
	if h, d := b.Heartbeat.Duration, b.DeadAfter.Duration; h <= 0 || d < 2*h {
		add("bus.heartbeat must be positive and bus.dead_after at least twice it (got %s and %s)", h, d)
	}
}

// BusToken is bus.token, else the first line of bus.token_file.
func (c *Config) BusToken() (string, error) {
	if c.Bus.Token != "" || c.Bus.TokenFile == "" {
		return c.Bus.Token, nil
	}
	b, err := os.ReadFile(c.Bus.TokenFile)
	if err != nil {
		return "", fmt.Errorf("bus.token_file: %w", err)
	}
	tok, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimSpace(tok), nil
}
