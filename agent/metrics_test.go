package agent

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

const decisionFamilies = "lbpilot_agent_weight_ratio lbpilot_agent_healthy lbpilot_agent_utilization_ratio"

func TestMetricsLint(t *testing.T) {
	ta := newTestAgent(t, nil)
	_ = check(t, ta.addr, "")
	problems, err := testutil.GatherAndLint(ta.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	mfs, err := ta.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, mf := range mfs {
		have[mf.GetName()] = true
	}
	for _, name := range strings.Fields(decisionFamilies + ` lbpilot_agent_replies_total lbpilot_agent_health_requests_total
		lbpilot_agent_rejected_connections_total lbpilot_agent_write_errors_total lbpilot_agent_upstream_requests_total
		lbpilot_agent_upstream_errors_total lbpilot_agent_check_duration_seconds lbpilot_agent_info lbpilot_build_info`) {
		if !have[name] {
			t.Errorf("%s missing", name)
		}
	}
}

// TestMetricsFollowDecisions: gauges show the last decision; dimensions
// not measured disappear; an unreadable upstream clears the ratios.
func TestMetricsFollowDecisions(t *testing.T) {
	ta := newTestAgent(t, nil)
	ta.src.set(sampleWith(map[Dimension]float64{Publishers: 50, Subscribers: 75, BandOut: 20}), nil)
	if got := check(t, ta.addr, ""); got != "up 51%\n" {
		t.Fatalf("reply %q", got)
	}
	want := `
# HELP lbpilot_agent_healthy 1 when the last decision found the upstream readable and every dimension below its threshold (what /health answers 200 for), else 0.
# TYPE lbpilot_agent_healthy gauge
lbpilot_agent_healthy 1
# HELP lbpilot_agent_utilization_ratio Value of each checked dimension divided by its threshold at the last decision (1 = threshold reached).
# TYPE lbpilot_agent_utilization_ratio gauge
lbpilot_agent_utilization_ratio{dimension="band-out"} 0.2
lbpilot_agent_utilization_ratio{dimension="cpu"} 0.1111111111111111
lbpilot_agent_utilization_ratio{dimension="publishers"} 0.5
lbpilot_agent_utilization_ratio{dimension="subscribers"} 0.75
# HELP lbpilot_agent_weight_ratio Weight of the last decision as a ratio of the server's configured weight (the agent's N% / 100); 0 when it said down.
# TYPE lbpilot_agent_weight_ratio gauge
lbpilot_agent_weight_ratio 0.51
`
	if err := testutil.GatherAndCompare(ta.Registry(), strings.NewReader(want), strings.Fields(decisionFamilies)...); err != nil {
		t.Error(err)
	}

	ta.src.set(sampleWith(map[Dimension]float64{Subscribers: 130}), nil)
	_ = check(t, ta.addr, "")
	want = `
# HELP lbpilot_agent_healthy 1 when the last decision found the upstream readable and every dimension below its threshold (what /health answers 200 for), else 0.
# TYPE lbpilot_agent_healthy gauge
lbpilot_agent_healthy 0
# HELP lbpilot_agent_utilization_ratio Value of each checked dimension divided by its threshold at the last decision (1 = threshold reached).
# TYPE lbpilot_agent_utilization_ratio gauge
lbpilot_agent_utilization_ratio{dimension="cpu"} 0.1111111111111111
lbpilot_agent_utilization_ratio{dimension="subscribers"} 1.3
# HELP lbpilot_agent_weight_ratio Weight of the last decision as a ratio of the server's configured weight (the agent's N% / 100); 0 when it said down.
# TYPE lbpilot_agent_weight_ratio gauge
lbpilot_agent_weight_ratio 0.01
`
	if err := testutil.GatherAndCompare(ta.Registry(), strings.NewReader(want), strings.Fields(decisionFamilies)...); err != nil {
		t.Error(err)
	}

	ta.src.set(Sample{}, errors.New("garbage page"))
	_ = check(t, ta.addr, "")
	want = `
# HELP lbpilot_agent_healthy 1 when the last decision found the upstream readable and every dimension below its threshold (what /health answers 200 for), else 0.
# TYPE lbpilot_agent_healthy gauge
lbpilot_agent_healthy 0
# HELP lbpilot_agent_weight_ratio Weight of the last decision as a ratio of the server's configured weight (the agent's N% / 100); 0 when it said down.
# TYPE lbpilot_agent_weight_ratio gauge
lbpilot_agent_weight_ratio 0
`
	if err := testutil.GatherAndCompare(ta.Registry(), strings.NewReader(want), strings.Fields(decisionFamilies)...); err != nil {
		t.Error(err)
	}
	if got := testutil.ToFloat64(ta.m.upErrors); got != 1 {
		t.Errorf("upstream_errors_total = %v", got)
	}
	if got := testutil.ToFloat64(ta.m.upRequests); got != 3 {
		t.Errorf("upstream_requests_total = %v", got)
	}
	if got := testutil.CollectAndCount(ta.m.checkTime); got != 1 {
		t.Errorf("check duration histogram: %d series", got)
	}
	if got := testutil.ToFloat64(ta.m.info.WithLabelValues("wcs", "weight")); got != 1 {
		t.Errorf("info = %v", got)
	}
}

// TestTransitionLogs: verdict changes are logged once each, not on every
// reading.
func TestTransitionLogs(t *testing.T) {
	ta := newTestAgent(t, nil)
	steps := []struct {
		s   Sample
		err error
	}{
		{sampleWith(map[Dimension]float64{HLS: 10}), nil},
		{sampleWith(map[Dimension]float64{HLS: 20}), nil},
		{sampleWith(map[Dimension]float64{HLS: 200}), nil},
		{sampleWith(map[Dimension]float64{HLS: 300}), nil},
		{Sample{}, errors.New("refused")},
		{Sample{}, errors.New("refused")},
		{Sample{}, errors.New("reset")},
		{sampleWith(map[Dimension]float64{HLS: 5}), nil},
	}
	for _, st := range steps {
		ta.src.set(st.s, st.err)
		if _, ok := ta.Decide(context.Background()); !ok {
			t.Fatal("no decision")
		}
	}
	logs := ta.logs.String()
	for msg, n := range map[string]int{
		"Every dimension below its threshold": 1,
		"Threshold reached":                   1,
		"Cannot read the upstream":            2, // refused, then reset
		"Upstream readable again":             1,
	} {
		if got := strings.Count(logs, msg); got != n {
			t.Errorf("%q logged %d times, want %d:\n%s", msg, got, n, logs)
		}
	}
}
