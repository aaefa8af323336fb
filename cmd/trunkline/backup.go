package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/account"
	"github.com/trunkline/trunkline/audit"
	"github.com/trunkline/trunkline/backup"
	"github.com/trunkline/trunkline/config"
	"github.com/trunkline/trunkline/keys"
)

// backupFlags are the flags the backup commands add to the shared ones.
type backupFlags struct {
	keyFile, dest, id, to, dsn, out string
}

func newBackupCmd(name string, stderr io.Writer) (*operatorCmd, *backupFlags) {
	o := newOperatorCmd(name, stderr)
	var b backupFlags
	o.fs.StringVar(&b.keyFile, "backup-key-file", "", "backup key file (default: [backup] key_file or $"+backup.EnvKey+")")
	o.fs.StringVar(&b.dest, "dest", "", "destination name to read from (default: the first configured)")
	o.fs.StringVar(&b.id, "id", "", "backup id (default: the newest)")
	return o, &b
}

func cmdBackup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	sub := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		sub, args = args[0], args[1:]
	}
	switch sub {
	case "":
		return backupRun(ctx, args, stdout, stderr)
	case "keygen":
		fs := flag.NewFlagSet("backup keygen", flag.ContinueOnError)
		fs.SetOutput(stderr)
		out := fs.String("out", "", "file to write the new backup key to (mode 0600; kept apart from the data dir)")
		var f configFlags
		f.register(fs, false)
		if err := fs.Parse(args); err != nil {
			return err
		}
		if *out == "" {
			return usageError("backup keygen needs --out FILE")
		}
		c := config.Default()
		if f.dataDir != "" {
			c.DataDir = f.dataDir
		}
		if backupInside(*out, c.KeysDir()) {
			return usageError("the backup key must not go into the data dir's keys directory (next to the KEK)")
		}
		k, err := backup.GenerateKeyFile(*out)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "backup key %s written to %s\nKeep a copy offline: without it no backup can be restored.\n", k.ID, *out)
		return nil
	case "list":
		return backupList(ctx, args, stdout, stderr)
	case "verify":
		return backupVerify(ctx, args, stdout, stderr)
	default:
		return usageError("backup subcommands: keygen, list, verify (or none, to make a backup)")
	}
}

// backupSetup loads the configuration, the platform, the backup key and destinations.
func backupSetup(ctx context.Context, o *operatorCmd, b *backupFlags, stderr io.Writer) (*platform, *backup.Key, []backup.Destination, error) {
	p, err := o.open(ctx, stderr)
	if err != nil {
		return nil, nil, nil, err
	}
	k, dests, err := backupKeyAndDests(p.cfg, b.keyFile)
	if err != nil {
		p.Close()
		return nil, nil, nil, err
	}
	return p, k, dests, nil
}

func backupKeyAndDests(c *config.Config, keyFile string) (*backup.Key, []backup.Destination, error) {
	if keyFile == "" {
		keyFile = c.Backup.KeyFile
	}
	// The current KEK, to refuse a backup key equal to it.
	var kekRaw []byte
	if v := os.Getenv(keys.EnvKEK); v != "" {
		kekRaw, _ = base64.StdEncoding.DecodeString(strings.TrimSpace(v))
	} else if b, err := os.ReadFile(c.KEKPath()); err == nil {
		kekRaw, _ = base64.StdEncoding.DecodeString(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	}
	k, err := backup.LoadKey(keyFile, c.KEKPath(), kekRaw)
	if err != nil {
		return nil, nil, err
	}
	if len(c.Backup.Destinations) == 0 {
		return nil, nil, errors.New("no backup destination: add [[backup.destinations]] to the configuration (a directory and an S3 bucket)")
	}
	var dests []backup.Destination
	for _, d := range c.Backup.Destinations {
		switch d.Type {
		case "dir":
			dd, err := backup.NewDir(d.Name, d.Path)
			if err != nil {
				return nil, nil, err
			}
			dests = append(dests, dd)
		case "s3":
			secret := d.SecretKey
			if d.SecretKeyFile != "" {
				b, err := os.ReadFile(d.SecretKeyFile)
				if err != nil {
					return nil, nil, fmt.Errorf("destination %s: %w", d.Name, err)
				}
				secret = strings.TrimSpace(string(b))
			}
			s, err := backup.NewS3(d.Name, backup.S3Config{Endpoint: d.Endpoint, Bucket: d.Bucket, Prefix: d.Prefix,
				Region: d.Region, AccessKey: d.AccessKey, SecretKey: secret, Insecure: d.Insecure})
			if err != nil {
				return nil, nil, err
			}
			dests = append(dests, s)
		}
	}
	return k, dests, nil
}

func pickDest(dests []backup.Destination, name string) (backup.Destination, error) {
	if name == "" {
		return dests[0], nil
	}
	for _, d := range dests {
		if d.Name() == name {
			return d, nil
		}
	}
	return nil, fmt.Errorf("no backup destination named %q", name)
}

// backupFiles are the data dir files a backup carries besides the database and
// recordings, relative to the data dir: the audit verifier key (public) and the audit
// witness file the server keeps beside the database (config.WitnessPath; a file that is
// not there is skipped). Witness files configured outside the data dir
// (audit.witness_files) and remote witnesses keep their own copies and are not included.
func backupFiles(c *config.Config) []string {
	var rels []string
	for _, p := range []string{filepath.Join(c.KeysDir(), audit.VerifierKeyFile), c.WitnessPath()} {
		if rel, ok := inDataDir(c, p); ok {
			rels = append(rels, rel)
		}
	}
	return rels
}

// witnessFiles are the audit witness files a backup carries, relative to the data dir:
// a drill checks the restored log against them as trunkline audit verify does.
func witnessFiles(c *config.Config) []string {
	if rel, ok := inDataDir(c, c.WitnessPath()); ok {
		return []string{rel}
	}
	return nil
}

// inDataDir gives p relative to the data dir, if it is inside it.
func inDataDir(c *config.Config, p string) (string, bool) {
	rel, err := filepath.Rel(c.DataDir, p)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return "", false
	}
	return rel, true
}

func backupOptions(p *platform, k *backup.Key, dests []backup.Destination, configFile string) backup.Options {
	return backup.Options{DB: p.db, DataDir: p.cfg.DataDir, ConfigFile: configFile, Files: backupFiles(p.cfg), Key: k, Dests: dests,
		CacheFile: filepath.Join(p.cfg.DataDir, "backup-cache.json")}
}

func configFile(f configFlags) string {
	if f.file != "" {
		return f.file
	}
	return os.Getenv("TRUNKLINE_CONFIG")
}

func backupRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, b := newBackupCmd("backup", stderr)
	if err := o.fs.Parse(args); err != nil {
		return err
	}
	p, k, dests, err := backupSetup(ctx, o, b, stderr)
	if err != nil {
		return err
	}
	defer p.Close()
	prog := newProgress(stdout, stderr, o.f.asJSON)
	res, err := doBackup(ctx, p, k, dests, configFile(o.f), prog, func(dest string, gone []string, perr error) {
		if perr != nil {
			fmt.Fprintf(stderr, "trunkline: retention at %s: %v\n", dest, perr)
		} else if len(gone) > 0 && !o.f.asJSON {
			fmt.Fprintf(stdout, "retention: removed %d old backup(s) from %s\n", len(gone), dest)
		}
	})
	prog.finish()
	if o.f.asJSON && res != nil {
		line(stdout, map[string]any{"event": "done", "ok": err == nil, "result": res})
	} else if res != nil && err == nil {
		fmt.Fprintf(stdout, "backup %s: %s in %d objects (%d recordings already stored), %s, %.1f MB/s, confirmed by %s\n",
			res.ID, mb(res.Bytes), res.Objects, res.Reused, res.Duration.Round(time.Millisecond),
			float64(res.Bytes)/1e6/res.Duration.Seconds(), strings.Join(res.Confirmed, ", "))
	}
	return err
}

// doBackup makes a backup, records it in the audit log and the metrics, and applies
// retention at every destination that took it.
func doBackup(ctx context.Context, p *platform, k *backup.Key, dests []backup.Destination, cfgFile string, prog backup.Progress,
	pruned func(dest string, gone []string, err error)) (*backup.Result, error) {
	opts := backupOptions(p, k, dests, cfgFile)
	opts.Progress = prog
	res, err := backup.Run(ctx, opts)
	p.metrics.Backup(err == nil)
	outcome, id, detail := "success", "", map[string]string{}
	if err != nil {
		outcome = "failure"
	}
	if res != nil {
		id = res.ID
		detail["confirmed"] = strings.Join(res.Confirmed, ",")
		for _, d := range dests {
			if _, ok := res.Failed[d.Name()]; ok {
				detail["failed"] = strings.TrimPrefix(detail["failed"]+","+d.Name(), ",")
			}
		}
	}
	e := audit.Entry{Actor: cliActor(), Source: "local", Action: "backup.create", ObjectType: "backup", ObjectID: id, Outcome: outcome, Detail: detail}
	if _, aerr := p.audit.Append(ctx, e); aerr != nil && err == nil {
		err = fmt.Errorf("the backup was made but could not be recorded in the audit log: %w", aerr)
	}
	if res != nil && res.ID != "" {
		if c := p.cfg.Backup; c.KeepDaily > 0 || c.KeepMonthly > 0 {
			for _, d := range dests {
				if _, failed := res.Failed[d.Name()]; failed {
					continue
				}
				gone, perr := backup.Prune(ctx, d, k, backup.Retention{Daily: c.KeepDaily, Monthly: c.KeepMonthly})
				if pruned != nil {
					pruned(d.Name(), gone, perr)
				}
			}
		}
	}
	return res, err
}

// backupWorker runs scheduled backups and restore drills in serve.
type backupWorker struct {
	p       *platform
	k       *backup.Key
	dests   []backup.Destination
	cfgFile string
	// ready is closed once the worker listens for deletions; refreshed and ran, when
	// set, get the outcome of every keyring refresh and the name of every finished
	// scheduled job ("backup", "drill") (tests).
	ready     chan struct{}
	refreshed chan error
	ran       chan string
}

func (w *backupWorker) report(ctx context.Context, job string) {
	if w.ran != nil {
		select {
		case w.ran <- job:
		case <-ctx.Done():
		}
	}
}

// Run makes a backup every [backup] interval and a restore drill every drill_interval
// until ctx ends; failures are logged, audited and counted, and the schedule goes on.
func (w *backupWorker) Run(ctx context.Context) error {
	c := w.p.cfg.Backup
	tick := func(d time.Duration) <-chan time.Time {
		if d <= 0 {
			return nil
		}
		return time.After(d)
	}
	next, nextDrill := tick(c.Interval.Duration), tick(c.DrillInterval.Duration)
	// An account deleted on this node takes its data keys out of the destinations'
	// keyrings at once, not only at the next backup: old backups of it are shredded then.
	deleted := make(chan string, 16)
	if sub, err := w.p.bus.Subscribe(account.InvalidateSubject, func(m trunkline.Msg) {
		select {
		case deleted <- string(m.Data):
		default: // a burst: the next refresh covers it
		}
	}); err == nil {
		defer sub.Unsubscribe()
	}
	if w.ready != nil {
		close(w.ready)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case id := <-deleted:
			if _, err := w.p.db.Account(ctx, id); !errors.Is(err, trunkline.ErrNotFound) {
				continue // changed, not deleted
			}
			err := backup.RefreshKeyring(ctx, w.p.db, w.k, w.dests)
			if err != nil {
				w.p.log.Error("backup keyring refresh after an account deletion", "err", err)
			} else {
				w.p.log.Info("backup keyrings refreshed after an account deletion")
			}
			if w.refreshed != nil {
				select {
				case w.refreshed <- err:
				case <-ctx.Done():
				}
			}
		case <-next:
			res, err := doBackup(ctx, w.p, w.k, w.dests, w.cfgFile, nil, func(dest string, gone []string, err error) {
				if err != nil {
					w.p.log.Error("backup retention", "destination", dest, "err", err)
				}
			})
			if err != nil {
				w.p.log.Error("scheduled backup failed", "err", err)
			} else {
				w.p.log.Info("scheduled backup", "id", res.ID, "bytes", res.Bytes, "destinations", strings.Join(res.Confirmed, ","))
			}
			next = tick(c.Interval.Duration)
			w.report(ctx, "backup")
		case <-nextDrill:
			rep, err := runDrill(ctx, w.p, w.k, w.dests[0], "", nil)
			switch {
			case err != nil:
				w.p.log.Error("restore drill failed", "err", err)
			case !rep.OK:
				w.p.log.Error("restore drill failed", "id", rep.ID, "problems", strings.Join(rep.Problems, "; "))
			default:
				w.p.log.Info("restore drill passed", "id", rep.ID, "duration", rep.Duration)
			}
			nextDrill = tick(c.DrillInterval.Duration)
			w.report(ctx, "drill")
		}
	}
}

func backupInside(path, dir string) bool {
	p, err1 := filepath.Abs(path)
	d, err2 := filepath.Abs(dir)
	if err1 != nil || err2 != nil {
		return false
	}
	rel, err := filepath.Rel(d, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }

func backupList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, b := newBackupCmd("backup list", stderr)
	if err := o.fs.Parse(args); err != nil {
		return err
	}
	p, k, dests, err := backupSetup(ctx, o, b, stderr)
	if err != nil {
		return err
	}
	defer p.Close()
	type row struct {
		Destination string    `json:"destination"`
		ID          string    `json:"id"`
		Created     time.Time `json:"created,omitempty"`
		Bytes       int64     `json:"bytes,omitempty"`
		Error       string    `json:"error,omitempty"`
	}
	var rows []row
	var errs []error
	for _, d := range dests {
		if b.dest != "" && d.Name() != b.dest {
			continue
		}
		ids, err := backup.List(ctx, d)
		if err != nil {
			errs = append(errs, err)
			rows = append(rows, row{Destination: d.Name(), Error: err.Error()})
			continue
		}
		for _, id := range ids {
			r := row{Destination: d.Name(), ID: id}
			if m, _, err := backup.LoadManifest(ctx, d, k, id); err != nil {
				r.Error = err.Error()
			} else {
				r.Created, r.Bytes = m.Created, m.Bytes()
			}
			rows = append(rows, r)
		}
	}
	if o.f.asJSON {
		printJSON(stdout, rows)
	} else {
		for _, r := range rows {
			if r.Error != "" {
				fmt.Fprintf(stdout, "%-10s %-26s ERROR %s\n", r.Destination, r.ID, r.Error)
				continue
			}
			fmt.Fprintf(stdout, "%-10s %-26s %s  %s\n", r.Destination, r.ID, r.Created.Format(time.RFC3339), mb(r.Bytes))
		}
	}
	return errors.Join(errs...)
}

func backupVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, b := newBackupCmd("backup verify", stderr)
	if err := o.fs.Parse(args); err != nil {
		return err
	}
	p, k, dests, err := backupSetup(ctx, o, b, stderr)
	if err != nil {
		return err
	}
	defer p.Close()
	d, err := pickDest(dests, b.dest)
	if err != nil {
		return err
	}
	prog := newProgress(stdout, stderr, o.f.asJSON)
	rep, err := runDrill(ctx, p, k, d, b.id, prog)
	prog.finish()
	if err != nil {
		return err
	}
	if o.f.asJSON {
		line(stdout, map[string]any{"event": "done", "ok": rep.OK, "report": rep})
	} else {
		printDrill(stdout, d.Name(), rep)
	}
	if !rep.OK {
		return errors.New("the restore drill failed")
	}
	return nil
}

// runDrill runs a restore drill and records it in the audit log and the metrics.
func runDrill(ctx context.Context, p *platform, k *backup.Key, d backup.Destination, id string, prog backup.Progress) (*backup.DrillReport, error) {
	rep, err := backup.Drill(ctx, backup.DrillOptions{Source: d, Key: k, ID: id, KEK: p.ring, PostgresDSN: p.cfg.Database.DSN,
		Verifier: p.verifier, WitnessFiles: witnessFiles(p.cfg), Progress: prog})
	outcome, detail := "success", map[string]string{"destination": d.Name()}
	if err != nil || !rep.OK {
		outcome = "failure"
	}
	if rep != nil {
		detail["duration"] = rep.Duration.Round(time.Millisecond).String()
		detail["problems"] = fmt.Sprint(len(rep.Problems))
		p.metrics.BackupDrill(rep.OK, rep.Duration)
	} else {
		p.metrics.BackupDrill(false, 0)
	}
	objID := id
	if rep != nil {
		objID = rep.ID
	}
	e := audit.Entry{Actor: "system", Source: "local", Action: "backup.drill", ObjectType: "backup", ObjectID: objID, Outcome: outcome, Detail: detail}
	if _, aerr := p.audit.Append(ctx, e); aerr != nil && err == nil {
		err = aerr
	}
	return rep, err
}

func printDrill(w io.Writer, dest string, r *backup.DrillReport) {
	status := "PASSED"
	if !r.OK {
		status = "FAILED"
	}
	fmt.Fprintf(w, "restore drill of backup %s from %s %s in %s\n", r.ID, dest, status, r.Duration.Round(time.Millisecond))
	fmt.Fprintf(w, "  %d tables, %d rows match the manifest; %s restored\n", r.Tables, r.Rows, mb(r.Bytes))
	if r.Audit != nil {
		fmt.Fprintf(w, "  audit: %d entries, %d checkpoints verified\n", r.Audit.Entries, r.Audit.Checkpoints)
	}
	fmt.Fprintf(w, "  %d recordings and %d message bodies decrypt; %d account tokens authenticate; %d items of deleted accounts stay shredded\n",
		r.Recordings, r.Messages, r.Tokens, r.Shredded)
	for _, pr := range r.Problems {
		fmt.Fprintf(w, "  PROBLEM: %s\n", pr)
	}
}

func cmdRestore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f configFlags
	f.register(fs, false)
	var b backupFlags
	fs.StringVar(&b.keyFile, "backup-key-file", "", "backup key file (default: [backup] key_file or $"+backup.EnvKey+")")
	fs.StringVar(&b.dest, "dest", "", "destination to restore from (default: the first configured)")
	fs.StringVar(&b.id, "id", "", "backup id (default: the newest)")
	fs.StringVar(&b.to, "to", "", "the new, empty data dir to restore into")
	fs.StringVar(&b.dsn, "db", "", "an empty PostgreSQL database to restore the database into (default: SQLite in --to)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if b.to == "" {
		return usageError("restore needs --to DIR (a new or empty data dir)")
	}
	// The configuration names the destinations and the key; the data dir it names is
	// not touched.
	c, err := f.load(fs, stderr)
	if err != nil {
		return err
	}
	k, dests, err := backupKeyAndDests(c, b.keyFile)
	if err != nil {
		return err
	}
	d, err := pickDest(dests, b.dest)
	if err != nil {
		return err
	}
	prog := newProgress(stdout, stderr, f.asJSON)
	r, err := backup.Restore(ctx, backup.RestoreOptions{Source: d, Key: k, ID: b.id, DataDir: b.to, DSN: b.dsn, Progress: prog})
	prog.finish()
	if err != nil {
		return err
	}
	if f.asJSON {
		line(stdout, map[string]any{"event": "done", "ok": true, "id": r.Manifest.ID, "bytes": r.Manifest.Bytes(), "keys": r.Keys, "shredded_recordings": r.Shredded})
		return nil
	}
	fmt.Fprintf(stdout, "restored backup %s (%s) from %s into %s\n", r.Manifest.ID, mb(r.Manifest.Bytes()), d.Name(), b.to)
	if r.Shredded > 0 {
		fmt.Fprintf(stdout, "%d recordings deleted since this backup stay shredded (their keys are gone)\n", r.Shredded)
	}
	fmt.Fprintf(stdout, "Copy the KEK (keys/kek, or set $TRUNKLINE_KEK) and the audit signing key (keys/audit.key) into %s/keys: backups never hold them.\n", b.to)
	return nil
}

// progress shows a bar with bytes, rate and ETA on a terminal, JSON lines with --json,
// and nothing else otherwise (cron jobs stay quiet).
type progress struct {
	mu      sync.Mutex
	stdout  io.Writer
	stderr  io.Writer
	json    bool
	tty     bool
	bar     *progressbar.ProgressBar
	phase   string
	done    int64
	lastOut time.Time
}

func newProgress(stdout, stderr io.Writer, asJSON bool) *progress {
	p := &progress{stdout: stdout, stderr: stderr, json: asJSON}
	if f, ok := stderr.(*os.File); ok && !asJSON {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

func line(w io.Writer, v any) {
	b, _ := json.Marshal(v)
	w.Write(append(b, '\n'))
}

func (p *progress) Start(phase string, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.phase, p.done = phase, 0
	if p.json {
		line(p.stdout, map[string]any{"event": "phase", "phase": phase, "total_bytes": total})
	}
	if p.tty {
		if p.bar != nil {
			p.bar.Finish()
		}
		if total <= 0 {
			total = -1
		}
		p.bar = progressbar.NewOptions64(total, progressbar.OptionSetWriter(p.stderr), progressbar.OptionShowBytes(true),
			progressbar.OptionSetDescription(phase), progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
	}
}

func (p *progress) Add(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += n
	if p.bar != nil {
		p.bar.Add64(n)
	}
	if p.json && time.Since(p.lastOut) > time.Second {
		p.lastOut = time.Now()
		line(p.stdout, map[string]any{"event": "progress", "phase": p.phase, "bytes": p.done})
	}
}

func (p *progress) Event(kind string, fields map[string]any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.json {
		fields["event"] = kind
		line(p.stdout, fields)
		return
	}
	fmt.Fprintf(p.stderr, "\ntrunkline: %s: destination %v, %v: %v\n", kind, fields["destination"], fields["object"], fields["error"])
}

func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		p.bar.Finish()
		p.bar = nil
	}
}
