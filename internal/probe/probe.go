// Package probe is what every end-to-end protocol probe (internal/probe/
// mqtt, flv, hls, wcsws, rtmp) shares: a collector that runs one probe
// per Update and reports it blackbox-style (probe_success, the probe's
// duration, one duration per phase, the reason of a failure), the
// classification of failures into short reasons, and the deadline
// helpers that keep a probe inside Prometheus's scrape timeout.
//
// A probe that fails is not a failed scrape: Update returns nil and
// reports probe_success 0 with probe_failure_info naming the reason, so
// lbpilot_up stays 1 as long as the exporter itself could run the probe.
package probe

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lbpilot/lbpilot/collectors"
	"github.com/lbpilot/lbpilot/internal/upstream"
)

// Descriptors every probe shares.
var (
	successDesc  = prometheus.NewDesc("probe_success", "Whether the probe succeeded (1) or failed (0).", nil, nil)
	durationDesc = prometheus.NewDesc("probe_duration_seconds", "How long the whole probe took, in seconds.", nil, nil)
	failureDesc  = prometheus.NewDesc("probe_failure_info", "Present (1) when the probe failed: reason is a short class, message the one-line error.", []string{"reason", "message"}, nil)
)

// maxMessage bounds the message label of probe_failure_info.
const maxMessage = 200

// Spec describes one protocol's metrics; build it once per package with
// NewSpec.
type Spec struct {
	proto    string
	phases   []string
	phaseSet map[string]bool
	phaseDsc *prometheus.Desc
	values   map[string]*prometheus.Desc
	order    []string
}

// Value names one protocol-specific gauge: probe_<proto>_<Name>.
type Value struct {
	Name string
	Help string
}

// NewSpec builds the descriptors of a protocol: probe_<proto>_duration_seconds
// with a phase label (phases in the order they run) and one gauge per value.
func NewSpec(proto string, phases []string, values ...Value) *Spec {
	s := &Spec{proto: proto, phases: phases, phaseSet: map[string]bool{}, values: map[string]*prometheus.Desc{}}
	for _, p := range phases {
		s.phaseSet[p] = true
	}
	s.phaseDsc = prometheus.NewDesc("probe_"+proto+"_duration_seconds",
		"Duration of each phase of the "+proto+" probe, in seconds (phases: "+strings.Join(phases, ", ")+").",
		[]string{"phase"}, nil)
	for _, v := range values {
		s.values[v.Name] = prometheus.NewDesc("probe_"+proto+"_"+v.Name, v.Help, nil, nil)
		s.order = append(s.order, v.Name)
	}
	return s
}

// Proto is the protocol's name (the metric infix).
func (s *Spec) Proto() string { return s.proto }

// Phases are the phase label's values, in order.
func (s *Spec) Phases() []string { return append([]string(nil), s.phases...) }

// Families lists every metric family a probe of this spec can emit.
func (s *Spec) Families() []string {
	out := []string{"probe_success", "probe_duration_seconds", "probe_failure_info", "probe_" + s.proto + "_duration_seconds"}
	for _, n := range s.order {
		out = append(out, "probe_"+s.proto+"_"+n)
	}
	return out
}

// Func runs one probe of target, recording into r. It returns the reason
// the probe failed (nil on success); wrap it with Fail to choose the reason.
type Func func(ctx context.Context, r *Report) error

// Collector adapts a probe to collectors.Collector.
type Collector struct {
	spec *Spec
	run  Func
}

// NewCollector returns a collector that runs fn on every Update.
func NewCollector(spec *Spec, fn Func) *Collector { return &Collector{spec: spec, run: fn} }

// Describe sends every descriptor the probe may use.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- successDesc
	ch <- durationDesc
	ch <- failureDesc
	ch <- c.spec.phaseDsc
	for _, n := range c.spec.order {
		ch <- c.spec.values[n]
	}
}

// Update runs the probe once. It returns nil: a failed probe is a result.
func (c *Collector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	r := &Report{spec: c.spec, start: time.Now(), values: map[string]float64{}}
	r.mark = r.start
	err := c.run(ctx, r)
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	r.emit(ch, err)
	return nil
}

// Report collects what one probe measured.
type Report struct {
	spec   *Spec
	start  time.Time
	mark   time.Time
	phases []phaseTime
	values map[string]float64
}

type phaseTime struct {
	name string
	d    time.Duration
}

// Phase ends the phase name: it took the time since the previous phase
// ended (or the probe started).
func (r *Report) Phase(name string) {
	now := time.Now()
	r.PhaseTook(name, now.Sub(r.mark))
	r.mark = now
}

// PhaseTook records a phase measured by the caller; it does not move the
// mark Phase measures from.
func (r *Report) PhaseTook(name string, d time.Duration) {
	if !r.spec.phaseSet[name] {
		panic(fmt.Sprintf("probe %s: unknown phase %q", r.spec.proto, name))
	}
	for i := range r.phases {
		if r.phases[i].name == name {
			r.phases[i].d += d
			return
		}
	}
	r.phases = append(r.phases, phaseTime{name, d})
}

// Skip moves the mark without recording a phase (a wait that is not part
// of any phase).
func (r *Report) Skip() { r.mark = time.Now() }

// Set sets the value name.
func (r *Report) Set(name string, v float64) {
	if _, ok := r.spec.values[name]; !ok {
		panic(fmt.Sprintf("probe %s: unknown value %q", r.spec.proto, name))
	}
	r.values[name] = v
}

// Since is the time since the probe started.
func (r *Report) Since() time.Duration { return time.Since(r.start) }

func (r *Report) emit(ch chan<- prometheus.Metric, err error) {
	ok := 1.0
	if err != nil {
		ok = 0
	}
	ch <- prometheus.MustNewConstMetric(successDesc, prometheus.GaugeValue, ok)
	ch <- prometheus.MustNewConstMetric(durationDesc, prometheus.GaugeValue, time.Since(r.start).Seconds())
	// Every phase is listed, so a dashboard sees the phases that did not
	// run as 0 rather than as gaps that move between scrapes.
	for _, p := range r.spec.phases {
		var d time.Duration
		for _, pt := range r.phases {
			if pt.name == p {
				d = pt.d
			}
		}
		ch <- prometheus.MustNewConstMetric(r.spec.phaseDsc, prometheus.GaugeValue, d.Seconds(), p)
	}
	for _, n := range r.spec.order {
		if v, ok := r.values[n]; ok && !math.IsNaN(v) {
			ch <- prometheus.MustNewConstMetric(r.spec.values[n], prometheus.GaugeValue, v)
		}
	}
	if err != nil {
		reason, msg := Classify(err)
		ch <- prometheus.MustNewConstMetric(failureDesc, prometheus.GaugeValue, 1, reason, msg)
	}
}

// Failure is a probe failure with its reason chosen by the probe.
type Failure struct {
	Reason string
	Err    error
}

func (f *Failure) Error() string { return f.Err.Error() }
func (f *Failure) Unwrap() error { return f.Err }

// Fail wraps err as a failure of the given reason.
func Fail(reason string, err error) error { return &Failure{Reason: reason, Err: err} }

// Failf is Fail with a formatted error.
func Failf(reason, format string, args ...any) error {
	return &Failure{Reason: reason, Err: fmt.Errorf(format, args...)}
}

// OneLine flattens an error message to one line of at most maxMessage
// characters.
func OneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return upstream.Shorten(upstream.ValidUTF8(s), maxMessage)
}

// Classify returns a failure's reason and its one-line message. A
// deadline anywhere in the chain is "timeout"; a Failure's own reason
// comes next; network errors are told apart by kind.
func Classify(err error) (reason, message string) {
	message = OneLine(err.Error())
	var f *Failure
	switch {
	case errors.Is(err, context.DeadlineExceeded), isTimeout(err):
		return "timeout", message
	case errors.As(err, &f):
		return f.Reason, message
	}
	return NetReason(err, "error"), message
}

func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

// AsCollector is a helper for the kind table: the probe as a collector.
func AsCollector(c *Collector) collectors.Collector { return c }
