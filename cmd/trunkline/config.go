package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/trunkline/trunkline/config"
)

// configFlags are the flags every command shares, plus the serve-only overrides.
type configFlags struct {
	file, dataDir, listen, plainListen, dsn, logLevel, allow, sipListen string
	asJSON                                                              bool
}

func (f *configFlags) register(fs *flag.FlagSet, serve bool) {
	fs.StringVar(&f.file, "config", "", "TOML configuration file (default: $TRUNKLINE_CONFIG)")
	fs.StringVar(&f.dataDir, "data-dir", "", "directory for all state (default ./trunkline-data)")
	fs.BoolVar(&f.asJSON, "json", false, "print JSON instead of text")
	if serve {
		fs.StringVar(&f.listen, "listen", "", "HTTPS API address (default :8443)")
		fs.StringVar(&f.plainListen, "plain-listen", "", "plain-HTTP API address (off unless set)")
		fs.StringVar(&f.sipListen, "sip-listen", "", "SIP address for UDP and TCP (default 0.0.0.0:5060)")
		fs.StringVar(&f.dsn, "db", "", "PostgreSQL DSN (default: SQLite in the data dir)")
		fs.StringVar(&f.logLevel, "log-level", "", "debug, info, warn or error")
		fs.StringVar(&f.allow, "webhook-allow", "", "comma-separated address ranges callbacks may reach (development)")
	}
}

// load builds the configuration: defaults → file → environment → flags → Validate.
// Warnings go to stderr; problems come back as a *configError.
func (f *configFlags) load(fs *flag.FlagSet, stderr io.Writer) (*config.Config, error) {
	c := config.Default()
	file := f.file
	if file == "" {
		file = os.Getenv("TRUNKLINE_CONFIG")
	}
	if file != "" {
		if err := c.LoadFile(file); err != nil {
			return nil, &configError{problems: []string{err.Error()}}
		}
	}
	if err := c.LoadEnv(os.Getenv); err != nil {
		return nil, &configError{problems: strings.Split(err.Error(), "\n")}
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	if set["data-dir"] {
		c.DataDir = f.dataDir
	}
	if set["listen"] {
		c.API.Listen = f.listen
	}
	if set["plain-listen"] {
		c.API.PlainListen = f.plainListen
	}
	if set["sip-listen"] {
		c.Voice.Listen = f.sipListen
	}
	if set["db"] {
		c.Database.DSN = f.dsn
	}
	if set["log-level"] {
		c.Log.Level = f.logLevel
	}
	if set["webhook-allow"] {
		c.Webhook.Allow = strings.Split(f.allow, ",")
	}
	problems, warnings := c.Validate()
	for _, w := range warnings {
		fmt.Fprintln(stderr, "warning:", w)
	}
	if len(problems) > 0 {
		return nil, &configError{problems: problems}
	}
	return &c, nil
}

func cmdCheckConfig(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("check-config", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f configFlags
	f.register(fs, true)
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := f.load(fs, stderr)
	if err != nil {
		if f.asJSON {
			ce, _ := err.(*configError)
			var problems []string
			if ce != nil {
				problems = ce.problems
			} else {
				problems = []string{err.Error()}
			}
			printJSON(stdout, map[string]any{"ok": false, "problems": problems})
		}
		return err
	}
	if f.asJSON {
		return printJSON(stdout, map[string]any{"ok": true, "data_dir": c.DataDir, "database": dbKind(c)})
	}
	fmt.Fprintf(stdout, "The configuration is valid.\n  data dir: %s\n  database: %s\n  API:      %s\n  SIP:      %s\n", c.DataDir, dbKind(c), apiDesc(c), sipDesc(c))
	return nil
}

func dbKind(c *config.Config) string {
	if c.Database.DSN != "" {
		return "PostgreSQL"
	}
	return "SQLite at " + c.DBPath()
}

func apiDesc(c *config.Config) string {
	var parts []string
	if c.API.Listen != "" {
		parts = append(parts, "https on "+c.API.Listen)
	}
	if c.API.PlainListen != "" {
		parts = append(parts, "plain http on "+c.API.PlainListen)
	}
	return strings.Join(parts, ", ")
}

func sipDesc(c *config.Config) string {
	s := "udp and tcp on " + c.Voice.Listen
	if c.Voice.TLSListen != "" {
		s += ", tls on " + c.Voice.TLSListen
	}
	switch n := len(c.Voice.Trunks); n {
	case 0:
		s += ", no trunks"
	case 1:
		s += ", 1 trunk"
	default:
		s += fmt.Sprintf(", %d trunks", n)
	}
	return s
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// parseArgs parses flags wherever they stand among the arguments (so
// `trunkline number import FILE --data-dir DIR` works) and returns the positional ones.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
