package collectors

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

type anomalyCollector struct{ a *Anomalies }

func (c anomalyCollector) Describe(ch chan<- *prometheus.Desc) { c.a.Describe(ch) }
func (c anomalyCollector) Collect(ch chan<- prometheus.Metric) { c.a.Collect(ch) }

func TestAnomalies(t *testing.T) {
	var logs bytes.Buffer
	logger := level.NewFilter(log.NewLogfmtLogger(&logs), level.AllowDebug())
	target := Target{Name: "edge", URL: "http://anomalies-test:1985", Labels: prometheus.Labels{"target": "edge", "role": "edge"}}
	a := NewAnomalies("srs", target, logger)

	// Nothing counted: no series at all.
	if n := testutil.CollectAndCount(anomalyCollector{a}); n != 0 {
		t.Fatalf("%d series before anything was counted", n)
	}
	a.Add("counter_decrease", 1, "stream", "/live/a", "old", 10, "new", 3)
	a.Add("counter_jump", 2)
	a.Add("counter_jump", 0) // nothing dropped: neither counted nor logged
	want := `# HELP lbpilot_upstream_anomalies_total ` + AnomaliesHelp + `
# TYPE lbpilot_upstream_anomalies_total counter
lbpilot_upstream_anomalies_total{reason="counter_decrease",target="edge"} 1
lbpilot_upstream_anomalies_total{reason="counter_jump",target="edge"} 2
`
	// Only the target label is kept: every kind shares the family.
	if err := testutil.CollectAndCompare(anomalyCollector{a}, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(logs.String(), "Dropped upstream values"); got != 2 {
		t.Errorf("%d log lines, want 2:\n%s", got, logs.String())
	}
	for _, w := range []string{"level=debug", "reason=counter_decrease", "stream=/live/a", "old=10", "new=3", "kind=srs"} {
		if !strings.Contains(logs.String(), w) {
			t.Errorf("log lacks %q:\n%s", w, logs.String())
		}
	}

	// A new collector for the same target (a /probe request, a reload)
	// keeps counting; another target starts from nothing.
	again := NewAnomalies("srs", target, nil)
	again.Add("counter_jump", 1)
	if got := a.Count("counter_jump"); got != 3 {
		t.Errorf("counter_jump = %v after a second collector added 1, want 3", got)
	}
	other := NewAnomalies("srs", Target{URL: "http://anomalies-test:1986"}, nil)
	if got := other.Count("counter_jump"); got != 0 {
		t.Errorf("another target starts at %v", got)
	}
	if got := NewAnomalies("emqx", target, nil).Count("counter_jump"); got != 0 {
		t.Errorf("another kind on the same URL starts at %v", got)
	}
}

// TestAnomaliesTableBounded: /probe targets come from requests; the table
// of counts must not grow without limit.
func TestAnomaliesTableBounded(t *testing.T) {
	for i := 0; i < maxAnomalyTargets+10; i++ {
		NewAnomalies("haproxy", Target{URL: fmt.Sprintf("tcp://bounded-%d:1", i)}, nil)
	}
	anomalyTable.mu.Lock()
	n := len(anomalyTable.m)
	anomalyTable.mu.Unlock()
	if n > maxAnomalyTargets {
		t.Fatalf("%d targets kept, bound is %d", n, maxAnomalyTargets)
	}
}
