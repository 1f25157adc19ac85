package collectors

import (
	"sort"
	"sync"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
)

// AnomaliesName is the family every collector counts its dropped values
// in: a value the collector could not place (a row of an unknown type, a
// second proxy of the same name, a payload shape it cannot map) or that it
// rejected as impossible (a byte counter that went backwards without a
// restart). The scrape still succeeds (lbpilot_up stays 1), so without
// this count the loss would be invisible.
const AnomaliesName = "lbpilot_upstream_anomalies_total"

// AnomaliesHelp is the family's help text; every kind uses the same one
// because the exporter serves all targets' series in one family.
const AnomaliesHelp = "Values of the upstream's answer the collector dropped because it could not place them or found them impossible, by reason (see docs/metrics.md)."

// Anomalies counts one target's dropped values per reason. Counts live in
// a process-wide table keyed by kind and target, so they keep counting
// across the collectors /probe builds per request, and across config
// reloads. A reason appears once it has been counted; its absence means
// nothing of that kind was dropped since lbpilot started.
type Anomalies struct {
	desc   *prometheus.Desc
	logger log.Logger
	counts *anomalyCounts
}

type anomalyCounts struct {
	mu    sync.Mutex
	m     map[string]float64
	check *CounterCheck
}

// NewAnomalies returns the counter of one target of kind (haproxy, srs,
// emqx, wcs). Of the target's labels only `target` is kept: the family is
// shared by every kind, whose targets carry different extra labels, and
// one family must have one set of label names. logger gets one debug
// line per counted anomaly (nil: none).
func NewAnomalies(kind string, t Target, logger Logger) *Anomalies {
	if logger == nil {
		logger = log.NewNopLogger()
	}
	var cl prometheus.Labels
	if name, ok := t.Labels["target"]; ok {
		cl = prometheus.Labels{"target": name}
	}
	return &Anomalies{
		desc:   prometheus.NewDesc(AnomaliesName, AnomaliesHelp, []string{"reason"}, cl),
		logger: level.Debug(log.With(log.Logger(logger), "kind", kind, "url", t.URL)),
		counts: anomalyTable.get(kind + "\x00" + t.Name + "\x00" + t.URL),
	}
}

// Add counts n dropped values for reason and logs them at debug level
// with keyvals saying which (the row, the key, the old and new value).
// Callers that can drop many values in one scrape call it once per
// scrape and reason, with the first value named, to keep the log short.
func (a *Anomalies) Add(reason string, n int, keyvals ...any) {
	if n <= 0 {
		return
	}
	a.counts.mu.Lock()
	a.counts.m[reason] += float64(n)
	a.counts.mu.Unlock()
	a.logger.Log(append([]any{"msg", "Dropped upstream values", "reason", reason, "count", n}, keyvals...)...)
}

// Count returns the count of reason so far.
func (a *Anomalies) Count(reason string) float64 {
	a.counts.mu.Lock()
	defer a.counts.mu.Unlock()
	return a.counts.m[reason]
}

// Describe sends the family's descriptor.
func (a *Anomalies) Describe(ch chan<- *prometheus.Desc) { ch <- a.desc }

// Collect sends one counter per reason counted so far, in reason order.
func (a *Anomalies) Collect(ch chan<- prometheus.Metric) {
	a.counts.mu.Lock()
	reasons := make([]string, 0, len(a.counts.m))
	for r := range a.counts.m {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	values := make([]float64, len(reasons))
	for i, r := range reasons {
		values[i] = a.counts.m[r]
	}
	a.counts.mu.Unlock()
	for i, r := range reasons {
		ch <- prometheus.MustNewConstMetric(a.desc, prometheus.CounterValue, values[i], r)
	}
}

// AnomaliesDoc is the row of the family in a collector's metric table;
// reasons is markdown listing that collector's reasons.
func AnomaliesDoc(reasons string) MetricDoc {
	return MetricDoc{
		Names:  []string{AnomaliesName},
		Type:   "counter",
		Labels: "reason (" + reasons + ")",
		Help:   "values of the answer dropped because they could not be placed or were impossible; each is also logged at debug level, naming it. The scrape still counts as successful",
		Source: "lbpilot's checks of the answer",
		Native: "—",
	}
}

// anomalyTable holds every target's counts. /probe targets come from
// requests, so the table is bounded: past maxAnomalyTargets it starts
// over, which Prometheus sees as a counter reset.
var anomalyTable = &anomalyTargets{m: map[string]*anomalyCounts{}}

const maxAnomalyTargets = 4096

type anomalyTargets struct {
	mu sync.Mutex
	m  map[string]*anomalyCounts
}

func (t *anomalyTargets) get(key string) *anomalyCounts {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c, ok := t.m[key]; ok {
		return c
	}
	if len(t.m) >= maxAnomalyTargets {
		clear(t.m)
	}
	c := &anomalyCounts{m: map[string]float64{}, check: &CounterCheck{}}
	t.m[key] = c
	return c
}
