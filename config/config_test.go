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
		{"bad allow", func(c *Config) { c.Webhook.Allow = []string{"everything"} }, "webhook.allow"},
		{"half tls", func(c *Config) { c.API.TLSCert = "x.crt" }, "set together"},
		{"plain public in production", func(c *Config) { c.Production = true; c.API.PlainListen = "0.0.0.0:80" }, "without TLS"},
		{"too many failures", func(c *Config) { c.API.FailsID = 1000 }, "at most 100"},
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
