// Package exporter is lbpilot's scrape surface: /metrics for the
// configured targets, /probe?module=&target= for one target (the
// blackbox_exporter contract), config loading and parse-validate-swap reload.
package exporter

import (
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"

	"github.com/lbpilot/lbpilot/collectors"
	"github.com/lbpilot/lbpilot/internal/lograte"
	"github.com/lbpilot/lbpilot/internal/redact"
	"github.com/lbpilot/lbpilot/internal/reloadstatus"
)

// Options configure an Exporter.
type Options struct {
	// ConfigFile is the YAML config; "" uses the built-in default modules.
	ConfigFile string
	// TimeoutOffset is subtracted from Prometheus's scrape timeout header.
	TimeoutOffset time.Duration
	// Concurrency bounds the targets scraped at once by one request.
	Concurrency int
	// DisableExporterMetrics drops go_* and process_* from /metrics.
	DisableExporterMetrics bool
	// MaxProbes bounds the /probe scrapes running at once (requests
	// sharing a scrape count once); past it /probe answers 503.
	// 0 means DefaultMaxProbes.
	MaxProbes int
	// MaxProtocolProbes bounds the /probe requests of the protocol probe
	// kinds (mqtt, rtmp, flv, hls, websocket) running at once; 0 means
	// DefaultMaxProtocolProbes.
	MaxProtocolProbes int
	// EMQXAPIKeyFile is the credentials file ("key:secret") used by every
	// emqx module that sets none of its own (--collector.emqx.api-key-file).
	EMQXAPIKeyFile string
	// Kinds overrides the supported upstream kinds (tests); nil means
	// KindsWith the options above.
	Kinds  map[string]Kind
	Logger log.Logger
}

// Exporter serves /metrics and /probe.
type Exporter struct {
	opts   Options
	logger log.Logger
	kinds  map[string]Kind

	state atomic.Pointer[state]
	// reloadMu serialises reloads (SIGHUP and POST /-/reload).
	reloadMu sync.Mutex

	self           *prometheus.Registry
	reload         *reloadstatus.Gauges
	probeInvalid   *prometheus.CounterVec
	probeThrottled prometheus.Counter
	targetsConfig  prometheus.Gauge

	probeSlots chan struct{}
	protoSlots chan struct{} // the protocol probes' own
	// probeFailLog spaces the lines of failing /probe scrapes: a line per
	// module, target and cause and minute (the limiter remembers a bounded
	// number of them); static targets' failures are logged every scrape.
	probeFailLog *lograte.Limiter
	mem          *memReturner
	flightMu     sync.Mutex
	flights      map[string]*flight // scrapes under way, by /probe query
}

// state is one loaded configuration with the collectors built for its
// static targets. It is replaced as a whole on reload.
type state struct {
	cfg     *Config
	targets []*staticTarget
	// upLabels are the label names of lbpilot_up on /metrics: module,
	// target and the union of every target's extra labels.
	upLabels []string
}

type staticTarget struct {
	cfg       *TargetConfig
	module    *Module
	target    collectors.Target // what collector was built for
	collector collectors.Collector
	upValues  []string
}

// New loads the configuration and returns an Exporter. A bad config file
// is an error here; later reloads keep the last good one.
func New(opts Options) (*Exporter, error) {
	if opts.Logger == nil {
		opts.Logger = log.NewNopLogger()
	}
	if opts.Kinds == nil {
		opts.Kinds = KindsWith(KindOptions{EMQXAPIKeyFile: opts.EMQXAPIKeyFile})
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 16
	}
	if opts.MaxProbes <= 0 {
		opts.MaxProbes = DefaultMaxProbes
	}
	if opts.MaxProtocolProbes <= 0 {
		opts.MaxProtocolProbes = DefaultMaxProtocolProbes
	}
	e := &Exporter{opts: opts, logger: opts.Logger, kinds: opts.Kinds, probeSlots: make(chan struct{}, opts.MaxProbes), protoSlots: make(chan struct{}, opts.MaxProtocolProbes), flights: map[string]*flight{}, mem: newMemReturner(), probeFailLog: lograte.New(lograte.DefaultPeriod)}
	e.self = prometheus.NewRegistry()
	e.reload = reloadstatus.New()
	e.probeInvalid = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "lbpilot_probe_invalid_requests_total",
		Help: "Requests to /probe answered 400, by reason (missing_module, unknown_module, missing_target, bad_target, bad_param, target_not_allowed).",
	}, []string{"reason"})
	e.probeThrottled = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "lbpilot_probe_throttled_requests_total",
		Help: "Requests to /probe answered 503 because --probe.max-concurrent probes (or --probe.max-concurrent-protocol protocol probes) were running.",
	})
	e.targetsConfig = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "lbpilot_config_targets",
		Help: "Number of static targets in the loaded configuration.",
	})
	for _, r := range []string{"missing_module", "unknown_module", "missing_target", "bad_target", "bad_param", "target_not_allowed"} {
		e.probeInvalid.WithLabelValues(r)
	}
	e.self.MustRegister(e.reload, e.probeInvalid, e.probeThrottled, e.targetsConfig, versioncollector.NewCollector("lbpilot"))
	if !opts.DisableExporterMetrics {
		e.self.MustRegister(runtimeCollectors()...)
	}
	if err := e.Reload(); err != nil {
		return nil, err
	}
	return e, nil
}

// SelfRegistry exposes the exporter's own registry so a caller can add
// metrics of its own to /metrics.
func (e *Exporter) SelfRegistry() *prometheus.Registry { return e.self }

// Reload re-reads the config file, validates it, builds the static
// targets' collectors and swaps them in. On error the running
// configuration stays and lbpilot_config_last_reload_successful reads 0.
func (e *Exporter) Reload() error {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	st, err := e.load()
	err = redact.Error(err) // the log line, POST /-/reload's answer
	if err != nil {
		e.reload.Record(err)
		level.Error(e.logger).Log("msg", "Error loading config", "file", e.opts.ConfigFile, "err", err)
		return err
	}
	if old := e.state.Swap(st); old != nil && len(old.targets) > 0 && len(st.targets) == 0 {
		level.Warn(e.logger).Log("msg", "The reloaded configuration has no static targets; every target /metrics scraped is gone", "file", e.opts.ConfigFile, "targets_before", len(old.targets))
	}
	st.cfg.LogDeprecations(e.logger)
	e.reload.Record(nil)
	e.targetsConfig.Set(float64(len(st.targets)))
	level.Info(e.logger).Log("msg", "Loaded config", "file", e.opts.ConfigFile, "modules", len(st.cfg.Modules), "targets", len(st.targets))
	return nil
}

func (e *Exporter) load() (*state, error) {
	var cfg *Config
	if e.opts.ConfigFile == "" {
		cfg = Default(e.kinds)
	} else {
		var err error
		if cfg, err = LoadFile(e.opts.ConfigFile, e.kinds); err != nil {
			return nil, err
		}
	}
	return buildState(cfg, e.kinds, e.logger)
}

// CheckConfig loads and validates a config file, including building every
// static target's collector, without serving anything (--config.check).
func CheckConfig(path string, kinds map[string]Kind) (*Config, error) {
	if kinds == nil {
		kinds = Kinds()
	}
	cfg, err := LoadFile(path, kinds)
	if err != nil {
		return nil, redact.Error(err)
	}
	if _, err := buildState(cfg, kinds, log.NewNopLogger()); err != nil {
		return nil, redact.Error(err)
	}
	return cfg, nil
}

// buildState builds the static targets' collectors. Every target of a
// kind carries the union of the extra label names used by that kind's
// targets (empty where a target lacks one), so the descriptors of all
// targets are consistent; a scratch registry proves it before the swap.
func buildState(cfg *Config, kinds map[string]Kind, logger log.Logger) (*state, error) {
	st := &state{cfg: cfg}
	kindLabels := map[string]map[string]bool{}
	allExtra := map[string]bool{}
	for _, t := range cfg.Targets {
		k := cfg.Modules[t.Module].Kind
		if kindLabels[k] == nil {
			kindLabels[k] = map[string]bool{}
		}
		for ln := range t.Labels {
			kindLabels[k][ln] = true
			allExtra[ln] = true
		}
	}
	st.upLabels = append([]string{"module", "target"}, sortedKeys(allExtra)...)
	scratch := prometheus.NewPedanticRegistry()
	for _, t := range cfg.Targets {
		m := cfg.Modules[t.Module]
		labels := prometheus.Labels{"target": t.Name}
		for ln := range kindLabels[m.Kind] {
			labels[ln] = t.Labels[ln]
		}
		tg := collectors.Target{Name: t.Name, URL: t.URL, Labels: labels}
		c, err := kinds[m.Kind].New(m, tg, log.With(logger, "target", t.Name))
		if err != nil {
			return nil, fmt.Errorf("target %q: %w", t.Name, err)
		}
		if err := scratch.Register(describeOnly{c}); err != nil {
			return nil, fmt.Errorf("target %q: metric labels conflict (an extra label may reuse a name the %s collector uses): %w", t.Name, m.Kind, err)
		}
		up := []string{t.Module, t.Name}
		for _, ln := range st.upLabels[2:] {
			up = append(up, t.Labels[ln])
		}
		st.targets = append(st.targets, &staticTarget{cfg: t, module: m, target: tg, collector: c, upValues: up})
	}
	return st, nil
}

// describeOnly registers a collector's descriptors without collecting.
type describeOnly struct{ c collectors.Collector }

func (d describeOnly) Describe(ch chan<- *prometheus.Desc) { d.c.Describe(ch) }
func (d describeOnly) Collect(chan<- prometheus.Metric)    {}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
