package agent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
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
	opts   Options
	logger log.Logger
	reg    *prometheus.Registry
	m      *metrics
	cache  *cache[*result]
	sem    chan struct{}
	drains chan struct{} // connections draining after their reply
	// perSource bounds the checks in progress from one source address.
	perSource int
	srcMu     sync.Mutex
	bySource  map[string]int
	// replyTimeout bounds a connection's wait for a reading plus the write.
	replyTimeout time.Duration

	mu   sync.Mutex // the last decision, for logging transitions
	last *result

	rejectLog *lograte.Limiter // per reason
}

// result is one reading with its decision and the bytes to send.
type result struct {
	at   time.Time
	d    Decision
	line []byte
}

// New validates the options and builds an agent.
func New(o Options) (*Agent, error) {
	if o.Source == nil {
		return nil, errors.New("agent: no source")
	}
	if _, ok := kindDimensions[o.Kind]; !ok {
		return nil, fmt.Errorf("agent: unknown source kind %q", o.Kind)
	}
	if err := o.Policy.Validate(); err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	if o.CacheTTL < 0 {
		return nil, fmt.Errorf("agent: cache TTL %v must not be negative", o.CacheTTL)
	}
	if o.UpstreamTimeout <= 0 {
		return nil, fmt.Errorf("agent: upstream timeout %v must be positive", o.UpstreamTimeout)
	}
	if o.CPU == nil {
		o.CPU = ProcCPU{}
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
		opts:         o,
		logger:       o.Logger,
		reg:          o.Registry,
		m:            newMetrics(o.Registry, o.Kind, o.Policy.Mode),
		sem:          make(chan struct{}, o.maxChecks),
		drains:       make(chan struct{}, o.maxChecks),
		perSource:    cmp.Or(o.perSource, max(o.maxChecks/4, 1)),
		bySource:     map[string]int{},
		rejectLog:    lograte.New(rejectLogPeriod),
		replyTimeout: o.UpstreamTimeout + time.Second,
	}
	src := o.Source
	if _, checked := o.Policy.Thresholds[CPU]; checked {
		if _, err := o.CPU.Percent(); err != nil {
			level.Warn(a.logger).Log("msg", "Cannot read the host's load average; the cpu threshold is not checked", "err", err)
		}
		src = withCPU{src: src, cpu: o.CPU}
	}
	a.cache = newCache(o.CacheTTL, o.UpstreamTimeout, nil, func(ctx context.Context) *result { return a.evaluate(ctx, src) })
	return a, nil
}

// Registry returns the registry holding the agent's metrics.
func (a *Agent) Registry() *prometheus.Registry { return a.reg }

// Decide returns the current decision (from the cache, or a fresh
// reading). ok is false when ctx ended first.
func (a *Agent) Decide(ctx context.Context) (Decision, bool) {
	r, ok := a.cache.get(ctx)
	if !ok {
		return Decision{}, false
	}
	return r.d, true
}

// evaluate reads the upstream once and decides; the cache calls it, one
// reading at a time.
func (a *Agent) evaluate(ctx context.Context, src Source) *result {
	a.m.upRequests.Inc()
	s, err := src.Sample(ctx)
	if err != nil {
		a.m.upErrors.Inc()
	}
	d := a.opts.Policy.Decide(s, err)
	r := &result{at: time.Now(), d: d, line: []byte(d.Reply + "\n")}
	a.m.observe(d, a.opts.Kind.Dimensions())
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
