package rebalancer

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestMetricsLintAndState: the rebalancer's metrics pass the client
// library's linter, and the state gauges follow the state.
func TestMetricsLintAndState(t *testing.T) {
	hs := newHarness(t, "", three())
	t0 := hs.clock.Now()
	hs.mustPost(body(alert(StatusFiring, "f1", "drain", "be_app", "web1", t0), alert(StatusFiring, "f2", "maint", "be_app", "web2", t0)))
	hs.mustReconcile()
	problems, err := testutil.GatherAndLint(hs.r.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	want := `
# HELP lbpilot_rebalancer_owned_servers Servers the rebalancer has changed and will restore, by backend and state (drain, maint, weight, cap); a server counts once even when several sockets hold it.
# TYPE lbpilot_rebalancer_owned_servers gauge
lbpilot_rebalancer_owned_servers{backend="be_app",state="drain"} 1
lbpilot_rebalancer_owned_servers{backend="be_app",state="maint"} 1
# HELP lbpilot_rebalancer_alerts Alerts the rebalancer holds, by state: firing, held (resolved, restore held by a mass resolve), resolved (kept to make replays no-ops).
# TYPE lbpilot_rebalancer_alerts gauge
lbpilot_rebalancer_alerts{state="firing"} 2
lbpilot_rebalancer_alerts{state="held"} 0
lbpilot_rebalancer_alerts{state="resolved"} 0
`
	if err := testutil.GatherAndCompare(hs.r.Registry(), strings.NewReader(want), "lbpilot_rebalancer_owned_servers", "lbpilot_rebalancer_alerts"); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(hs.r.m.actions.WithLabelValues(ActDrain, ResultSuccess)); got != 1 {
		t.Fatalf("actions_total{drain,success} = %g", got)
	}
	if got := testutil.ToFloat64(hs.r.m.reconcileOK); got != 1 {
		t.Fatalf("last_reconcile_success = %g", got)
	}
}
