package agent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lbpilot/lbpilot/internal/lograte"
)

// Defaults of the settings that are not thresholds.
const (
	DefaultListenAddress     = ":9707"
	DefaultHTTPListenAddress = ":9710"
	DefaultCacheTTL          = time.Second
	DefaultUpstreamTimeout   = time.Second
)

// maxConcurrentChecks bounds the connections served at once; beyond it a
// connection is closed without a reply (HAProxy keeps the server's last
// state) rather than piling up goroutines and file descriptors.
const maxConcurrentChecks = 1024

// Options is a compiled configuration (Config.Options builds it from the
// file and flags; tests build it directly).
type Options struct {
	Kind   Kind
	Target string // for the log and /health only; Source reads it
	Source Source
	// CPU reads the host's cpu dimension; nil reads /proc.
	CPU    CPUReader
	Policy Policy
	// Allow restricts the sources answered; nil answers every source.
	Allow *Allowlist
	// CacheTTL is how long a reading serves checks (0: every check reads,
	// concurrent checks still share one reading).
	CacheTTL time.Duration
	// UpstreamTimeout bounds one reading. Keep it below HAProxy's agent
	// timeout (`timeout check`, else agent-inter): a reply after that is
	// ignored by HAProxy.
	UpstreamTimeout time.Duration
	Logger          log.Logger
	// Registry receives the agent's metrics; nil makes a new one.
	Registry *prometheus.Registry

	maxChecks int // tests: the concurrency bound (0: maxConcurrentChecks)
	perSource int // tests: the bound per source address (0: a quarter of maxChecks)
}

// Agent answers agent checks and /health from cached decisions.
type Agent struct {
	logger log.Logger
	reg    *prometheus.Registry
	m      *metrics
	sem    chan struct{}
	// state is the configuration in force with its cache; Reload swaps it.
	state  atomic.Pointer[live]
	drains chan struct{} // connections draining after their reply
	// perSource bounds the checks in progress from one source address.
	perSource int
	srcMu     sync.Mutex
	bySource  map[string]int

	mu   sync.Mutex // the last decision, for logging transitions
	last *result

	rejectLog *lograte.Limiter // per reason
}

// live is what a reload replaces as a whole: the options, the cache of
// readings from their source, the reply deadline.
type live struct {
	opts  Options
	cache *cache[*result]
	// replyTimeout bounds a connection's wait for a reading plus the write.
	replyTimeout time.Duration
}

// cur is the configuration in force.
func (a *Agent) cur() *live { return a.state.Load() }

// result is one reading with its decision and the bytes to send.
type result struct {
	at   time.Time
	d    Decision
	line []byte
}

// New validates the options and builds an agent.
func New(o Options) (*Agent, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = log.NewNopLogger()
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
	}
	if o.maxChecks <= 0 {
		o.maxChecks = maxConcurrentChecks
	}
	a := &Agent{
		logger:    o.Logger,
		reg:       o.Registry,
		m:         newMetrics(o.Registry, o.Kind, o.Policy.Mode),
		sem:       make(chan struct{}, o.maxChecks),
		drains:    make(chan struct{}, o.maxChecks),
		perSource: cmp.Or(o.perSource, max(o.maxChecks/4, 1)),
		bySource:  map[string]int{},
		rejectLog: lograte.New(rejectLogPeriod),
	}
	a.state.Store(a.newLive(o))
	return a, nil
}

// check validates options and fills the defaults that do not depend on
// an agent.
func (o *Options) check() error {
	if o.Source == nil {
		return errors.New("agent: no source")
	}
	if _, ok := kindDimensions[o.Kind]; !ok {
		return fmt.Errorf("agent: unknown source kind %q", o.Kind)
	}
	if err := o.Policy.Validate(); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	if o.CacheTTL < 0 {
		return fmt.Errorf("agent: cache TTL %v must not be negative", o.CacheTTL)
	}
	if o.UpstreamTimeout <= 0 {
		return fmt.Errorf("agent: upstream timeout %v must be positive", o.UpstreamTimeout)
	}
	if o.CPU == nil {
		o.CPU = ProcCPU{}
	}
	return nil
}

// newLive builds the cache of a configuration.
func (a *Agent) newLive(o Options) *live {
	l := &live{opts: o, replyTimeout: o.UpstreamTimeout + time.Second}
	src := o.Source
	if _, checked := o.Policy.Thresholds[CPU]; checked {
		if _, err := o.CPU.Percent(); err != nil {
			level.Warn(a.logger).Log("msg", "Cannot read the host's load average; the cpu threshold is not checked", "err", err)
		}
		src = withCPU{src: src, cpu: o.CPU}
	}
	l.cache = newCache(o.CacheTTL, o.UpstreamTimeout, nil, func(ctx context.Context) *result { return a.evaluate(ctx, src, &l.opts) })
	return l
}

// Reload loads new options (load reads and compiles the configuration)
// and puts them in force: source, thresholds, allowlist, cache and
// timeouts. Options that do not load or check, or that change the source
// kind or the mode (the metrics are labelled by them), leave the running
// configuration as it is and set lbpilot_config_last_reload_successful to
// 0. Checks in progress finish with the old configuration; the next ones
// read the new source.
func (a *Agent) Reload(load func() (Options, error)) error {
	if err := a.reload(load); err != nil {
		a.m.reload.Record(err)
		level.Error(a.logger).Log("msg", "Configuration reload refused; the running configuration stays", "err", err)
		return err
	}
	a.m.reload.Record(nil)
	o := a.cur().opts
	level.Info(a.logger).Log("msg", "Configuration reloaded", "target", o.Target, "thresholds", o.Policy.Thresholds, "allow", o.Allow)
	return nil
}

func (a *Agent) reload(load func() (Options, error)) error {
	o, err := load()
	if err != nil {
		return err
	}
	cur := a.cur().opts
	if err := o.check(); err != nil {
		return err
	}
	switch {
	case o.Kind != cur.Kind:
		return fmt.Errorf("agent: the source kind cannot change on reload (%s → %s); restart the agent", cur.Kind, o.Kind)
	case o.Policy.Mode != cur.Policy.Mode:
		return fmt.Errorf("agent: the mode cannot change on reload (%s → %s); restart the agent", cur.Policy.Mode, o.Policy.Mode)
	}
	o.Logger, o.Registry, o.maxChecks = cur.Logger, cur.Registry, cur.maxChecks
	a.state.Store(a.newLive(o))
	return nil
}

// Registry returns the registry holding the agent's metrics.
func (a *Agent) Registry() *prometheus.Registry { return a.reg }

// Decide returns the current decision (from the cache, or a fresh
// reading). ok is false when ctx ended first.
func (a *Agent) Decide(ctx context.Context) (Decision, bool) {
	r, ok := a.cur().cache.get(ctx)
	if !ok {
		return Decision{}, false
	}
	return r.d, true
}

// evaluate reads the upstream once and decides; the cache calls it, one
// reading at a time.
func (a *Agent) evaluate(ctx context.Context, src Source, o *Options) *result {
	a.m.upRequests.Inc()
	s, err := src.Sample(ctx)
	if err != nil {
		a.m.upErrors.Inc()
	}
	d := o.Policy.Decide(s, err)
	r := &result{at: time.Now(), d: d, line: []byte(d.Reply + "\n")}
	a.m.observe(d, o.Kind.Dimensions())
	a.logTransition(r)
	return r
}

// logTransition logs when the verdict changes (not on every reading: the
// agent is asked every few seconds by every HAProxy).
func (a *Agent) logTransition(r *result) {
	a.mu.Lock()
	prev := a.last
	a.last = r
	a.mu.Unlock()
	d := r.d
	level.Debug(a.logger).Log("msg", "Decision", "reply", d.Reply, "load", formatNumber(d.Load), "healthy", d.Healthy)
	switch {
	case d.Err != nil:
		if prev == nil || prev.d.Err == nil || prev.d.Err.Error() != d.Err.Error() {
			level.Warn(a.logger).Log("msg", "Cannot read the upstream; replying down", "reply", d.Reply, "err", d.Err)
		}
	case prev != nil && prev.d.Err != nil:
		level.Info(a.logger).Log("msg", "Upstream readable again", "reply", d.Reply)
	case prev == nil || prev.d.Healthy != d.Healthy:
		if d.Healthy {
			level.Info(a.logger).Log("msg", "Every dimension below its threshold", "reply", d.Reply)
		} else {
			level.Warn(a.logger).Log("msg", "Threshold reached", "reason", d.Reason, "reply", d.Reply)
		}
	}
}
