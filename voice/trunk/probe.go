package trunk

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// ProberOptions configure a Prober. Zero fields take defaults.
type ProberOptions struct {
	Logger *slog.Logger
	// OnChange is called when a probe takes a trunk down or brings it back up; it runs
	// on the probing goroutine, so keep it quick.
	OnChange func(trunk string, up bool)
	Timeout  time.Duration // for one probe's final response (default 5s)
}

// Prober keeps every trunk with a probe interval under SIP OPTIONS probes and feeds the
// outcomes to the trunk's Health, whose hysteresis decides when it goes down and up.
// Any final response counts as alive (a 404 or 405 still proves the trunk is there),
// except 503, which says it takes no traffic, and 408, which counts as a timeout like
// no answer at all.
type Prober struct {
	set    *Set
	client *sipgo.Client
	o      ProberOptions
}

// NewProber returns a prober that sends its probes through client.
func NewProber(s *Set, client *sipgo.Client, opts ProberOptions) *Prober {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	return &Prober{set: s, client: client, o: opts}
}

// Run probes until ctx ends, then returns nil once every probe has finished. Each trunk
// has one goroutine with at most one probe in flight, so the work is bounded by the
// number of trunks. The first probe of each trunk comes after a random part of its
// interval (at most 2s), later ones every interval ±10%, so trunks are not all probed at
// once.
func (p *Prober) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, t := range p.set.trunks {
		if t.ProbeInterval <= 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.loop(ctx, t)
		}()
	}
	wg.Wait()
	return nil
}

func (p *Prober) loop(ctx context.Context, t *Trunk) {
	timer := time.NewTimer(jitter(min(t.ProbeInterval, 2*time.Second), 0, 1))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		p.Probe(ctx, t)
		timer.Reset(jitter(t.ProbeInterval, 0.9, 1.1))
	}
}

// jitter returns a random duration between lo·d and hi·d.
func jitter(d time.Duration, lo, hi float64) time.Duration {
	return time.Duration(float64(d) * (lo + (hi-lo)*rand.Float64()))
}

// Probe sends one OPTIONS to t, records the outcome in t.Health and reports a change of
// state. It is what Run does on every tick; the SIP server may call it too (e.g. to
// check a trunk at once after calls to it fail). A probe cut short by ctx records
// nothing.
func (p *Prober) Probe(ctx context.Context, t *Trunk) {
	pctx, cancel := context.WithTimeout(ctx, p.o.Timeout)
	defer cancel()
	req := sip.NewRequest(sip.OPTIONS, t.URI(""))
	start := time.Now()
	res, err := p.client.Do(pctx, req)
	if ctx.Err() != nil {
		return // shutting down: says nothing about the trunk
	}
	failed, timeout, reason := outcome(res, err)
	log := p.o.Logger.With("trunk", t.Name, "address", t.Address, "transport", t.Transport)
	if !failed {
		log.Debug("trunk probe", "status", res.StatusCode, "rtt", time.Since(start))
		if t.Health.Success() {
			log.Warn("trunk up", "reason", "OPTIONS answered")
			if p.o.OnChange != nil {
				p.o.OnChange(t.Name, true)
			}
		}
		return
	}
	log.Debug("trunk probe failed", "reason", reason, "timeout", timeout)
	if t.Health.Failure(timeout, reason) {
		log.Warn("trunk down", "reason", reason)
		if p.o.OnChange != nil {
			p.o.OnChange(t.Name, false)
		}
	}
}

// outcome classifies a probe's result for Health.
func outcome(res *sip.Response, err error) (failed, timeout bool, reason string) {
	switch {
	case err != nil:
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, sip.ErrTransactionTimeout) {
			return true, true, "no answer to OPTIONS"
		}
		return true, false, "OPTIONS failed: " + err.Error()
	case res.StatusCode == sip.StatusServiceUnavailable:
		return true, false, fmt.Sprintf("OPTIONS answered %d %s", res.StatusCode, res.Reason)
	case res.StatusCode == sip.StatusRequestTimeout:
		return true, true, fmt.Sprintf("OPTIONS answered %d %s", res.StatusCode, res.Reason)
	}
	return false, false, ""
}
