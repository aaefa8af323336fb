package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDefaultsValidate(t *testing.T) {
	c := Default()
	if p, w := c.Validate(); len(p) != 0 || len(w) != 0 {
		t.Fatalf("defaults: problems %v, warnings %v", p, w)
	}
}

func TestLayering(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "t.toml")
	os.WriteFile(file, []byte("data_dir = \"/srv/tl\"\n[api]\nlisten = \"127.0.0.1:9000\"\nrate_limit = 10\n[auth]\ntoken_overlap = \"1h\"\n"), 0o600)
	c := Default()
	if err := c.LoadFile(file); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"TRUNKLINE_API_LISTEN": "127.0.0.1:9001", "TRUNKLINE_WEBHOOK_ALLOW": "127.0.0.0/8, ::1/128"}
	if err := c.LoadEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if c.DataDir != "/srv/tl" || c.API.RateLimit != 10 || c.Auth.TokenOverlap.Duration != time.Hour {
		t.Fatalf("file values not applied: %+v", c)
	}
	if c.API.Listen != "127.0.0.1:9001" {
		t.Fatalf("env did not override the file: %q", c.API.Listen)
	}
	if len(c.WebhookAllow()) != 2 {
		t.Fatalf("webhook allow list %v", c.Webhook.Allow)
	}
}

func TestFileUnknownKey(t *testing.T) {
	file := filepath.Join(t.TempDir(), "t.toml")
	os.WriteFile(file, []byte("[api]\nlisten_typo = \":1\"\n"), 0o600)
	c := Default()
	err := c.LoadFile(file)
	if err == nil || !strings.Contains(err.Error(), "api.listen_typo") {
		t.Fatalf("unknown key not reported by name: %v", err)
	}
}

func TestEnvBadValue(t *testing.T) {
	c := Default()
	err := c.LoadEnv(func(k string) string {
		if k == "TRUNKLINE_API_RATE_LIMIT" {
			return "many"
		}
		return ""
	})
	if err == nil || !strings.Contains(err.Error(), "TRUNKLINE_API_RATE_LIMIT") {
		t.Fatalf("bad env value not reported: %v", err)
	}
}

func TestValidateProblems(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"bad listen", func(c *Config) { c.API.Listen = "nowhere" }, "api.listen"},
		{"no listener", func(c *Config) { c.API.Listen = "" }, "would not listen"},
		{"bad dsn", func(c *Config) { c.Database.DSN = "mysql://x" }, "database.dsn"},
		{"overlap too long", func(c *Config) { c.Auth.TokenOverlap.Duration = 30 * 24 * time.Hour }, "auth.token_overlap"},
		{"checkpoint too rare", func(c *Config) { c.Audit.CheckpointInterval.Duration = time.Hour }, "checkpoint_interval"},
		{"witness over plain http", func(c *Config) { c.Audit.WitnessURL = "http://witness.example/" }, "audit.witness_url"},
		{"relative witness file", func(c *Config) { c.Audit.WitnessFiles = []string{"witness"} }, "audit.witness_files"},
		{"missing witness CA", func(c *Config) { c.Audit.WitnessCAFile = "/nonexistent/ca.crt" }, "audit.witness_ca_file"},
		{"bad allow", func(c *Config) { c.Webhook.Allow = []string{"everything"} }, "webhook.allow"},
		{"half tls", func(c *Config) { c.API.TLSCert = "x.crt" }, "set together"},
		{"plain public in production", func(c *Config) { c.Production = true; c.API.PlainListen = "0.0.0.0:80" }, "without TLS"},
		{"too many failures", func(c *Config) { c.API.FailsID = 1000 }, "at most 100"},
		{"public url without scheme", func(c *Config) { c.API.PublicURL = "api.example.com" }, "api.public_url"},
		{"public url with path", func(c *Config) { c.API.PublicURL = "https://api.example.com/v1" }, "no user, path"},
		{"public url with user", func(c *Config) { c.API.PublicURL = "https://u:p@api.example.com" }, "no user, path"},
		{"public url bad host", func(c *Config) { c.API.PublicURL = "https://exa_mple.com" }, "host name"},
		{"public url bad port", func(c *Config) { c.API.PublicURL = "https://api.example.com:0" }, "port"},
		{"public url plain in production", func(c *Config) { c.Production = true; c.API.PublicURL = "http://api.example.com" }, "plain HTTP"},
		{"unknown bus", func(c *Config) { c.Bus.Kind = "kafka" }, "bus.kind"},
		{"cluster without postgres", func(c *Config) { c.Bus.Kind = "nats"; c.Bus.Token = "0123456789abcdef" }, "database.dsn"},
		{"cluster without token", func(c *Config) { c.Bus.Kind = "nats" }, "bus.token"},
		{"short token", func(c *Config) { c.Bus.Kind = "nats"; c.Bus.Token = "short" }, "16 characters"},
		{"routes without route listen", func(c *Config) {
			c.Bus.Kind, c.Bus.Token, c.Bus.Routes = "nats", "0123456789abcdef", []string{"10.0.0.2:6222"}
		}, "bus.route_listen"},
		{"half route tls", func(c *Config) { c.Bus.Kind, c.Bus.Token, c.Bus.RouteCert = "nats", "0123456789abcdef", "n.crt" }, "mutual TLS"},
		{"dead too soon", func(c *Config) {
			c.Bus.Kind, c.Bus.Token, c.Bus.DeadAfter.Duration = "nats", "0123456789abcdef", 400*time.Millisecond
		}, "dead_after"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.mutate(&c)
			p, _ := c.Validate()
			if !strings.Contains(strings.Join(p, "\n"), tc.want) {
				t.Fatalf("problems %q do not mention %q", p, tc.want)
			}
		})
	}
	c := Default()
	c.API.PublicURL = "https://API.example.com:8443/"
	if p, w := c.Validate(); len(p) != 0 || len(w) != 0 || c.PublicBase() != "https://API.example.com:8443" || c.PublicHost() != "api.example.com" {
		t.Fatalf("public_url: %v %v %q %q", p, w, c.PublicBase(), c.PublicHost())
	}
	c = Default()
	c.API.PlainListen = "0.0.0.0:8080"
	if p, w := c.Validate(); len(p) != 0 || len(w) != 1 {
		t.Fatalf("plain public listener outside production should warn only: %v %v", p, w)
	}
}

func TestMessagingRules(t *testing.T) {
	two := func(c *Config) {
		c.Messaging.Carriers = []Carrier{{Name: "a", Address: "127.0.0.1:2775", SystemID: "x"}, {Name: "b", Address: "127.0.0.1:2776", SystemID: "y"}}
	}
	c := Default()
	two(&c)
	c.Messaging.Routes = []Route{{Country: "US", Carriers: []Hop{{Name: "a", Weight: 3}, {Name: "b", Weight: 1}}}}
	if p, w := c.Validate(); len(p) != 0 || len(w) != 0 {
		t.Fatalf("two carriers: %v %v", p, w)
	}
	if c.Messaging.Routes[0].RoutePrefix() != "1" {
		t.Fatal("US should route prefix 1")
	}
	c.Messaging.Routes = []Route{{Prefix: "44", Carriers: []Hop{{Name: "a", Weight: 1}}}}
	if p, w := c.Validate(); len(p) != 0 || len(w) != 1 || !strings.Contains(w[0], "at least two") {
		t.Fatalf("one carrier should warn: %v %v", p, w)
	}
	c.Production = true
	c.Console.VerifyCountries = []string{"GB"}
	if p, _ := c.Validate(); len(p) != 1 || !strings.Contains(p[0], "production") {
		t.Fatalf("one carrier in production should be refused: %v", p)
	}
	cases := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"unknown carrier", func(c *Config) { c.Messaging.Routes = []Route{{Prefix: "1", Carriers: []Hop{{Name: "zz"}}}} }, `"zz"`},
		{"unknown country", func(c *Config) { c.Messaging.Routes = []Route{{Country: "XX"}} }, "XX"},
		{"bad prefix", func(c *Config) { c.Messaging.Routes = []Route{{Prefix: "1a"}} }, "digits"},
		{"duplicate name", func(c *Config) { c.Messaging.Carriers[1].Name = "a" }, "used twice"},
		{"long password", func(c *Config) { c.Messaging.Carriers[0].Password = "123456789" }, "at most 8"},
		{"no routes", func(c *Config) { c.Messaging.Routes = nil }, "no messaging.routes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			two(&c)
			c.Messaging.Routes = []Route{{Prefix: "1", Carriers: []Hop{{Name: "a", Weight: 1}, {Name: "b", Weight: 1}}}}
			tc.mutate(&c)
			p, _ := c.Validate()
			if !strings.Contains(strings.Join(p, "\n"), tc.want) {
				t.Fatalf("problems %q do not mention %q", p, tc.want)
			}
		})
	}
}

func TestVoiceDefaultsAndLayering(t *testing.T) {
	c := Default()
	if c.Voice.Listen != "0.0.0.0:5060" || c.Voice.RTPPortMin != 10000 || c.Voice.RTPPortMax != 20000 || c.Voice.MaxCalls != 2000 {
		t.Fatalf("voice defaults: %+v", c.Voice)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "v.toml")
	os.WriteFile(file, []byte(`[voice]
listen = "127.0.0.1:5070"
external_host = "sip.example.com"

[[voice.trunks]]
name = "a"
address = "192.0.2.10:5060"
allow = ["192.0.2.0/28", "2001:db8::1"]

[[voice.trunks]]
name = "b"
address = "sip.carrier-b.example:5061"
transport = "tls"
probe_interval = "0s"

[[voice.trunks]]
name = "c"
address = "198.51.100.7:5060"
probe_interval = "10s"

[[voice.routes]]
country = "US"
carriers = [{name = "a", priority = 1, weight = 2}, {name = "b", priority = 2}]
`), 0o600)
	if err := c.LoadFile(file); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"TRUNKLINE_VOICE_LISTEN": "127.0.0.1:5080", "TRUNKLINE_VOICE_MAX_CALLS": "50",
		"TRUNKLINE_VOICE_RTP_PORT_MIN": "30000", "TRUNKLINE_VOICE_RTP_PORT_MAX": "40000", "TRUNKLINE_VOICE_TLS_LISTEN": "127.0.0.1:5081"}
	if err := c.LoadEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	v := c.Voice
	if v.Listen != "127.0.0.1:5080" || v.TLSListen != "127.0.0.1:5081" || v.MaxCalls != 50 || v.RTPPortMin != 30000 || v.ExternalHost != "sip.example.com" {
		t.Fatalf("file and env not applied: %+v", v)
	}
	if len(v.Trunks) != 3 || v.Trunks[1].Transport != "tls" || len(v.Trunks[0].Allow) != 2 {
		t.Fatalf("trunks: %+v", v.Trunks)
	}
	// probe_interval: 30s where left out, "0s" keeps probing off, explicit values stay.
	for i, want := range []time.Duration{DefaultProbeInterval, 0, 10 * time.Second} {
		if got := v.Trunks[i].ProbeInterval.Duration; got != want {
			t.Errorf("trunk %s probe_interval %s, want %s", v.Trunks[i].Name, got, want)
		}
	}
	if len(v.Routes) != 1 || v.Routes[0].RoutePrefix() != "1" || len(v.Routes[0].Carriers) != 2 {
		t.Fatalf("routes: %+v", v.Routes)
	}
	if p, w := c.Validate(); len(p) != 0 || len(w) != 0 {
		t.Fatalf("problems %v, warnings %v", p, w)
	}
	for _, k := range []string{"voice_listen", "voice_tls_listen", "voice_external_host", "voice_rtp_port_min", "voice_rtp_port_max", "voice_max_calls"} {
		if !strings.Contains(strings.Join(c.Keys(), " "), k) {
			t.Errorf("key %s not listed", k)
		}
	}
}

func TestVoiceRules(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("secret\n"), 0o600)
	two := func(c *Config) {
		c.Voice.ExternalHost = "203.0.113.5"
		c.Voice.Trunks = []Trunk{
			{Name: "a", Address: "192.0.2.10:5060", Allow: []string{"192.0.2.0/28"}, ProbeInterval: Duration{30 * time.Second}},
			{Name: "b", Address: "carrier-b.example:5061", Transport: "tls", Username: "u", PasswordFile: pw},
		}
		c.Voice.Routes = []Route{{Prefix: "44", Carriers: []Hop{{Name: "a", Weight: 1}, {Name: "b", Weight: 1}}}}
	}
	c := Default()
	two(&c)
	if p, w := c.Validate(); len(p) != 0 || len(w) != 0 {
		t.Fatalf("two trunks: %v %v", p, w)
	}
	cases := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"bad listen", func(c *Config) { c.Voice.Listen = "nowhere" }, "voice.listen"},
		{"empty listen", func(c *Config) { c.Voice.Listen = "" }, "voice.listen is empty"},
		{"listen host name", func(c *Config) { c.Voice.Listen = "sip.example.com:5060" }, "voice.listen"},
		{"bad tls listen", func(c *Config) { c.Voice.TLSListen = "5061" }, "voice.tls_listen"},
		{"tls on the sip port", func(c *Config) { c.Voice.TLSListen = ":5060" }, "same port"},
		{"external host with port", func(c *Config) { c.Voice.ExternalHost = "sip.example.com:5060" }, "voice.external_host"},
		{"external host unspecified", func(c *Config) { c.Voice.ExternalHost = "0.0.0.0" }, "voice.external_host"},
		{"rtp below 1024", func(c *Config) { c.Voice.RTPPortMin = 100 }, "1024"},
		{"rtp above 65535", func(c *Config) { c.Voice.RTPPortMax = 70000 }, "65535"},
		{"rtp min over max", func(c *Config) { c.Voice.RTPPortMin, c.Voice.RTPPortMax = 20000, 10000 }, "min < max"},
		{"rtp odd min", func(c *Config) { c.Voice.RTPPortMin = 10001 }, "must be even"},
		{"sip port in rtp range", func(c *Config) { c.Voice.Listen = ":15060" }, "inside the RTP port range"},
		{"max calls", func(c *Config) { c.Voice.MaxCalls = 0 }, "voice.max_calls"},
		{"source rate negative", func(c *Config) { c.Voice.SourceRateLimit = -1 }, "voice.source_rate_limit"},
		{"source rate period", func(c *Config) { c.Voice.SourceRatePeriod = Duration{time.Millisecond} }, "voice.source_rate_period"},
		{"no name", func(c *Config) { c.Voice.Trunks[0].Name = "" }, "has no name"},
		{"duplicate name", func(c *Config) { c.Voice.Trunks[1].Name = "a" }, `trunk name "a" is used twice`},
		{"address without port", func(c *Config) { c.Voice.Trunks[0].Address = "192.0.2.10" }, "not host:port"},
		{"address port 0", func(c *Config) { c.Voice.Trunks[0].Address = "192.0.2.10:0" }, "no valid port"},
		{"transport", func(c *Config) { c.Voice.Trunks[0].Transport = "sctp" }, "udp, tcp or tls"},
		{"allow junk", func(c *Config) { c.Voice.Trunks[0].Allow = []string{"carrier.example"} }, `allow "carrier.example"`},
		{"allow bad cidr", func(c *Config) { c.Voice.Trunks[0].Allow = []string{"192.0.2.0/33"} }, "192.0.2.0/33"},
		{"allow wide in production", func(c *Config) { c.Production = true; c.Voice.Trunks[0].Allow = []string{"0.0.0.0/0"} }, "very wide"},
		{"probe too often", func(c *Config) { c.Voice.Trunks[0].ProbeInterval.Duration = time.Millisecond }, "probe_interval"},
		{"password and file", func(c *Config) { c.Voice.Trunks[1].Password = "x" }, "not both"},
		{"password without user", func(c *Config) { c.Voice.Trunks[1].Username = "" }, "needs a username"},
		{"password file missing", func(c *Config) { c.Voice.Trunks[1].PasswordFile = pw + ".missing" }, "cannot be read"},
		{"unknown trunk", func(c *Config) { c.Voice.Routes[0].Carriers[1].Name = "zz" }, `names trunk "zz", which is not configured`},
		{"unknown country", func(c *Config) { c.Voice.Routes[0].Country = "XX" }, `country "XX"`},
		{"bad prefix", func(c *Config) { c.Voice.Routes[0].Prefix = "4a" }, "digits"},
		{"negative weight", func(c *Config) { c.Voice.Routes[0].Carriers[0].Weight = -1 }, "negative weight"},
		{"one trunk in production", func(c *Config) { c.Production = true; c.Voice.Routes[0].Carriers = c.Voice.Routes[0].Carriers[:1] }, "at least two"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			two(&c)
			tc.mutate(&c)
			p, _ := c.Validate()
			if !strings.Contains(strings.Join(p, "\n"), tc.want) {
				t.Fatalf("problems %q do not mention %q", p, tc.want)
			}
		})
	}
	warnings := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"one trunk", func(c *Config) { c.Voice.Routes[0].Carriers = c.Voice.Routes[0].Carriers[:1] }, "(prefix \"44\") has 1 trunk(s): the whitepaper asks for at least two"},
		{"one trunk for a country", func(c *Config) {
			c.Voice.Routes[0] = Route{Country: "gb", Carriers: []Hop{{Name: "b"}, {Name: "b", Priority: 1}}}
		}, "voice.routes[0] (GB) has 1 trunk(s)"},
		{"wide allow", func(c *Config) { c.Voice.Trunks[0].Allow = []string{"10.0.0.0/8"} }, "very wide"},
		{"wide v6 allow", func(c *Config) { c.Voice.Trunks[0].Allow = []string{"2001:db8::/16"} }, "very wide"},
		{"unspecified listen", func(c *Config) { c.Voice.ExternalHost = "" }, "voice.external_host is empty"},
		{"unspecified v6 listen", func(c *Config) { c.Voice.ExternalHost = ""; c.Voice.Listen = "[::]:5060" }, "voice.external_host is empty"},
		{"few rtp ports", func(c *Config) { c.Voice.RTPPortMax = 10100 }, "fewer than voice.max_calls"},
		{"inbound only", func(c *Config) { c.Voice.Routes = nil }, "inbound calls only"},
	}
	for _, tc := range warnings {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			two(&c)
			tc.mutate(&c)
			p, w := c.Validate()
			if len(p) != 0 || len(w) != 1 || !strings.Contains(w[0], tc.want) {
				t.Fatalf("want one warning mentioning %q; problems %q, warnings %q", tc.want, p, w)
			}
		})
	}
	// Production refuses the two-trunk and wide-allow warnings, not the advisory ones.
	c = Default()
	two(&c)
	c.Production = true
	c.Console.VerifyCountries = []string{"GB"}
	c.Voice.ExternalHost = ""
	c.Voice.Routes = nil
	if p, w := c.Validate(); len(p) != 0 || len(w) != 2 {
		t.Fatalf("advisory voice warnings in production: problems %q, warnings %q", p, w)
	}
	// Without trunks, the default listener on every interface is not worth a warning.
	c = Default()
	if _, w := c.Validate(); len(w) != 0 {
		t.Fatalf("defaults warn: %q", w)
	}
}

func TestParseAllow(t *testing.T) {
	cases := []struct{ in, want string }{
		{"192.0.2.1", "192.0.2.1/32"},
		{"192.0.2.77/24", "192.0.2.0/24"},
		{"2001:db8::1", "2001:db8::1/128"},
		{"2001:db8::/32", "2001:db8::/32"},
		{"::ffff:192.0.2.1", "192.0.2.1/32"},
		{"::ffff:192.0.2.0/120", "192.0.2.0/24"},
		{" 198.51.100.0/30 ", "198.51.100.0/30"},
	}
	for _, tc := range cases {
		p, err := ParseAllow(tc.in)
		if err != nil || p.String() != tc.want {
			t.Errorf("ParseAllow(%q) = %v, %v; want %s", tc.in, p, err, tc.want)
		}
	}
	for _, bad := range []string{"", "carrier.example", "192.0.2.0/40", "192.0.2.1:5060"} {
		if _, err := ParseAllow(bad); err == nil {
			t.Errorf("ParseAllow(%q) accepted", bad)
		}
	}
}

func TestConsoleSignup(t *testing.T) {
	c := Default()
	if c.SignupMode() != "open" || c.Console.VerifyPrefixes() != nil {
		t.Fatalf("sandbox defaults: signup %q, prefixes %v", c.SignupMode(), c.Console.VerifyPrefixes())
	}
	c.Production = true
	if c.SignupMode() != "invite" {
		t.Fatalf("production signup mode %q, want invite", c.SignupMode())
	}
	if p, _ := c.Validate(); len(p) != 1 || !strings.Contains(p[0], "console.verify_countries") {
		t.Fatalf("production without verify_countries: %v", p)
	}
	c.Console.VerifyCountries = []string{"us", "CA", "GB"}
	if p, _ := c.Validate(); len(p) != 0 {
		t.Fatalf("production with verify_countries: %v", p)
	}
	if got := strings.Join(c.Console.VerifyPrefixes(), ","); got != "1,44" {
		t.Fatalf("prefixes %q, want 1,44", got)
	}
	c.Console.Signup = "open"
	if c.SignupMode() != "open" {
		t.Fatal("an explicit signup mode is not kept in production")
	}
	for _, bad := range []func(*Config){
		func(c *Config) { c.Console.Signup = "closed" },
		func(c *Config) { c.Console.VerifyCountries = []string{"XX"} },
		func(c *Config) { c.Console.SendsPerDay = 0 },
		func(c *Config) { c.Console.SendsPerNetworkHour = -1 },
		func(c *Config) { c.Console.PrefixDigits = 16 },
	} {
		c := Default()
		bad(&c)
		if p, _ := c.Validate(); len(p) != 1 || !strings.Contains(p[0], "console.") {
			t.Errorf("problems %v, want one about the console", p)
		}
	}
}
