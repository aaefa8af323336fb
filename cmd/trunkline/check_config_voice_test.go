package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckConfigVoice covers the [voice] section in check-config: its summary line,
// the --sip-listen flag over the environment, the two-trunks rule (a warning, refused
// in production) and trunk problems.
func TestCheckConfigVoice(t *testing.T) {
	dir := t.TempDir()
	if code, out, _ := cli(t, dir, "check-config"); code != 0 || !strings.Contains(out, "SIP:      udp and tcp on 0.0.0.0:5060, no trunks") {
		t.Fatalf("defaults: %d %s", code, out)
	}
	t.Setenv("TRUNKLINE_VOICE_LISTEN", "127.0.0.1:5070")
	if code, out, _ := cli(t, dir, "check-config"); code != 0 || !strings.Contains(out, "on 127.0.0.1:5070,") {
		t.Fatalf("env: %d %s", code, out)
	}
	if code, out, errs := cli(t, dir, "check-config", "--sip-listen", "127.0.0.1:5071"); code != 0 || !strings.Contains(out, "on 127.0.0.1:5071,") {
		t.Fatalf("--sip-listen should override the env: %d %s %s", code, out, errs)
	}
	if code, _, errs := cli(t, dir, "check-config", "--sip-listen", "nowhere"); code != 2 || !strings.Contains(errs, "voice.listen") {
		t.Fatalf("bad --sip-listen: %d %s", code, errs)
	}

	const trunks = `[voice]
external_host = "203.0.113.5"
tls_listen = "0.0.0.0:5061"
[[voice.trunks]]
name = "a"
address = "192.0.2.10:5060"
[[voice.trunks]]
name = "b"
address = "198.51.100.7:5060"
`
	write := func(name, text string) string {
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	two := write("two.toml", trunks+"[[voice.routes]]\ncountry = \"US\"\ncarriers = [{name = \"a\"}, {name = \"b\"}]\n")
	if code, out, errs := cli(t, dir, "check-config", "--config", two); code != 0 || strings.Contains(errs, "warning") ||
		!strings.Contains(out, "tls on 0.0.0.0:5061, 2 trunks") {
		t.Fatalf("two trunks: %d %s %s", code, out, errs)
	}
	one := write("one.toml", trunks+"[[voice.routes]]\ncountry = \"US\"\ncarriers = [{name = \"a\"}]\n")
	if code, _, errs := cli(t, dir, "check-config", "--config", one); code != 0 || !strings.Contains(errs, "warning: voice.routes[0] (US) has 1 trunk(s)") {
		t.Fatalf("one trunk should warn: %d %s", code, errs)
	}
	prod := write("prod.toml", "production = true\n"+string(mustRead(t, one)))
	if code, _, errs := cli(t, dir, "check-config", "--config", prod); code != 2 || !strings.Contains(errs, "refused because production = true") {
		t.Fatalf("one trunk in production should be refused: %d %s", code, errs)
	}
	bad := write("bad.toml", `[voice]
rtp_port_min = 10001
[[voice.trunks]]
name = "a"
address = "192.0.2.10"
transport = "sctp"
allow = ["carrier.example"]
probe_interval = "often"
`)
	code, _, errs := cli(t, dir, "check-config", "--config", bad)
	if code != 2 || !strings.Contains(errs, "probe_interval") {
		t.Fatalf("bad duration: %d %s", code, errs)
	}
	bad = write("bad.toml", `[voice]
rtp_port_min = 10001
[[voice.trunks]]
name = "a"
address = "192.0.2.10"
transport = "sctp"
allow = ["carrier.example"]
[[voice.routes]]
prefix = "44"
carriers = [{name = "a"}, {name = "zz"}]
`)
	code, _, errs = cli(t, dir, "check-config", "--config", bad)
	for _, want := range []string{"rtp_port_min 10001 must be even", `trunk "a": address "192.0.2.10" is not host:port`, "udp, tcp or tls",
		`allow "carrier.example"`, `names trunk "zz"`} {
		if code != 2 || !strings.Contains(errs, want) {
			t.Errorf("bad voice config: exit %d, stderr does not mention %q:\n%s", code, want, errs)
		}
	}
}

func mustRead(t *testing.T, f string) []byte {
	t.Helper()
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
