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

// Help of the families every probe shares.
const (
	successHelp  = "Whether the probe succeeded (1) or failed (0)."
	durationHelp = "How long the whole probe took, in seconds."
	failureHelp  = "Present (1) when the probe failed: reason is a short class, message the one-line error."
)

// maxMessage bounds the message label of probe_failure_info.
const maxMessage = 200

// Spec describes one protocol's metrics; build it once per package with
// NewSpec.
type Spec struct {
	proto     string
	phases    []string
	phaseSet  map[string]bool
	phaseHelp string
	values    map[string]string // help by name
	order     []string
	plain     *descs // without const labels (/probe)
}

// descs are one collector's descriptors.
type descs struct {
	success, duration, failure, phase *prometheus.Desc
	values                            map[string]*prometheus.Desc
}

func (s *Spec) descs(labels prometheus.Labels) *descs {
	d := &descs{
		success:  prometheus.NewDesc("probe_success", successHelp, nil, labels),
		duration: prometheus.NewDesc("probe_duration_seconds", durationHelp, nil, labels),
		failure:  prometheus.NewDesc("probe_failure_info", failureHelp, []string{"reason", "message"}, labels),
		phase:    prometheus.NewDesc("probe_"+s.proto+"_duration_seconds", s.phaseHelp, []string{"phase"}, labels),
		values:   map[string]*prometheus.Desc{},
	}
	for _, n := range s.order {
		d.values[n] = prometheus.NewDesc("probe_"+s.proto+"_"+n, s.values[n], nil, labels)
	}
	return d
}

// Value names one protocol-specific gauge: probe_<proto>_<Name>.
type Value struct {
	Name string
	Help string
}

// NewSpec builds the descriptors of a protocol: probe_<proto>_duration_seconds
// with a phase label (phases in the order they run) and one gauge per value.
func NewSpec(proto string, phases []string, values ...Value) *Spec {
	s := &Spec{proto: proto, phases: phases, phaseSet: map[string]bool{}, values: map[string]string{},
		phaseHelp: "Duration of each phase of the " + proto + " probe, in seconds (phases: " + strings.Join(phases, ", ") + ")."}
	for _, p := range phases {
		s.phaseSet[p] = true
	}
	for _, v := range values {
		s.values[v.Name] = v.Help
		s.order = append(s.order, v.Name)
	}
	s.plain = s.descs(nil)
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
	d    *descs
	run  Func
	now  func() time.Time // the clock (tests set a fake one)
}

// NewCollector returns a collector that runs fn on every Update; labels
// (a static target's) are added to every series.
func NewCollector(spec *Spec, labels prometheus.Labels, fn Func) *Collector {
	d := spec.plain
	if len(labels) > 0 {
		d = spec.descs(labels)
	}
	return &Collector{spec: spec, d: d, run: fn, now: time.Now}
}

// Describe sends every descriptor the probe may use.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.d.success
	ch <- c.d.duration
	ch <- c.d.failure
	ch <- c.d.phase
	for _, n := range c.spec.order {
		ch <- c.d.values[n]
	}
}

// Update runs the probe once. It returns nil: a failed probe is a result.
func (c *Collector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	r := &Report{spec: c.spec, now: c.now, start: c.now(), values: map[string]float64{}}
	r.mark = r.start
	err := c.run(ctx, r)
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	r.emit(ch, c.d, err)
	return nil
}

// Report collects what one probe measured.
type Report struct {
	spec   *Spec
	now    func() time.Time
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
	now := r.now()
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

// Mark is when the last phase ended (or the probe started).
func (r *Report) Mark() time.Time { return r.mark }

// SetMark moves the mark to t, for a phase whose end the caller saw
// happen earlier than now.
func (r *Report) SetMark(t time.Time) { r.mark = t }

// Skip moves the mark without recording a phase (a wait that is not part
// of any phase).
func (r *Report) Skip() { r.mark = r.now() }

// Set sets the value name.
func (r *Report) Set(name string, v float64) {
	if _, ok := r.spec.values[name]; !ok {
		panic(fmt.Sprintf("probe %s: unknown value %q", r.spec.proto, name))
	}
	r.values[name] = v
}

// Since is the time since the probe started.
func (r *Report) Since() time.Duration { return r.now().Sub(r.start) }

func (r *Report) emit(ch chan<- prometheus.Metric, d *descs, err error) {
	ok := 1.0
	if err != nil {
		ok = 0
	}
	ch <- prometheus.MustNewConstMetric(d.success, prometheus.GaugeValue, ok)
	ch <- prometheus.MustNewConstMetric(d.duration, prometheus.GaugeValue, r.now().Sub(r.start).Seconds())
	// Every phase is listed, so a dashboard sees the phases that did not
	// run as 0 rather than as gaps that move between scrapes.
	for _, p := range r.spec.phases {
		var dur time.Duration
		for _, pt := range r.phases {
			if pt.name == p {
				dur = pt.d
			}
		}
		ch <- prometheus.MustNewConstMetric(d.phase, prometheus.GaugeValue, dur.Seconds(), p)
	}
	for _, n := range r.spec.order {
		if v, ok := r.values[n]; ok && !math.IsNaN(v) {
			ch <- prometheus.MustNewConstMetric(d.values[n], prometheus.GaugeValue, v)
		}
	}
	if err != nil {
		reason, msg := Classify(err)
		ch <- prometheus.MustNewConstMetric(d.failure, prometheus.GaugeValue, 1, reason, msg)
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

var _ collectors.Collector = (*Collector)(nil)

// MetricDocs is the metric table of a probe kind (docs/metrics.md).
func (s *Spec) MetricDocs() []collectors.MetricDoc {
	rows := []collectors.MetricDoc{
		{Names: []string{"probe_success"}, Type: "gauge", Help: successHelp, Source: "the probe's outcome"},
		{Names: []string{"probe_duration_seconds"}, Type: "gauge", Help: durationHelp, Source: "measured"},
		{Names: []string{"probe_failure_info"}, Type: "gauge", Labels: "`reason`, `message`",
			Help: "Present (1) only when the probe failed: `reason` is a short class (see exporter.md), `message` the one-line error.", Source: "the probe's error"},
		{Names: []string{"probe_" + s.proto + "_duration_seconds"}, Type: "gauge",
			Labels: "`phase`: " + strings.Join(quoted(s.phases), ", "),
			Help:   "Duration of each phase, in seconds; 0 for a phase that did not run.", Source: "measured"},
	}
	for _, n := range s.order {
		rows = append(rows, collectors.MetricDoc{Names: []string{"probe_" + s.proto + "_" + n}, Type: "gauge", Help: s.values[n], Source: "measured"})
	}
	return rows
}

func quoted(l []string) []string {
	out := make([]string, len(l))
	for i, s := range l {
		out[i] = "`" + s + "`"
	}
	return out
}
