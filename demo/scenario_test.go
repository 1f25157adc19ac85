package demo

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestWaitFor(t *testing.T) {
	n := 0
	seen, _, err := WaitFor(context.Background(), "count", 5*time.Second, func(context.Context) (bool, string, error) {
		n++
		if n == 2 {
			return false, "", errors.New("transient")
		}
		return n >= 3, "n is " + string(rune('0'+n)), nil
	})
	if err != nil || n != 3 || seen != "n is 3" {
		t.Fatalf("WaitFor: n %d, seen %q, err %v", n, seen, err)
	}

	_, took, err := WaitFor(context.Background(), "never", 300*time.Millisecond, func(context.Context) (bool, string, error) {
		return false, "still waiting", errors.New("upstream down")
	})
	var se *StepError
	if !errors.As(err, &se) || se.Step != "never" || se.LastSeen != "still waiting" {
		t.Fatalf("timeout error: %#v", err)
	}
	msg := err.Error()
	for _, want := range []string{`step "never" did not complete within 300ms`, "last seen: still waiting", "last error: upstream down"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q lacks %q", msg, want)
		}
	}
	if took < 300*time.Millisecond || took > 3*time.Second {
		t.Errorf("timed out after %s", took)
	}

	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(100 * time.Millisecond); cancel() }()
	_, _, err = WaitFor(ctx, "cancelled", time.Minute, func(context.Context) (bool, string, error) { return false, "", nil })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled wait: %v", err)
	}
}

func TestSumSamples(t *testing.T) {
	text := `# HELP lbpilot_rebalancer_actions_total x
# TYPE lbpilot_rebalancer_actions_total counter
lbpilot_rebalancer_actions_total{action="drain",result="success"} 3
lbpilot_rebalancer_actions_total{action="drain",result="error"} 1
lbpilot_rebalancer_actions_total{action="ready",result="success"} 2
lbpilot_rebalancer_actions_total_extra 100
lbpilot_rebalancer_haproxy_reloads_total{socket="unix:/x"} 1
lbpilot_rebalancer_haproxy_reloads_total{socket="unix:/y"} 2
lbpilot_rebalancer_dry_run 0
`
	for _, c := range []struct {
		name  string
		match []string
		want  float64
	}{
		{"lbpilot_rebalancer_actions_total", []string{"action", "drain", "result", "success"}, 3},
		{"lbpilot_rebalancer_actions_total", []string{"action", "drain"}, 4},
		{"lbpilot_rebalancer_actions_total", nil, 6},
		{"lbpilot_rebalancer_haproxy_reloads_total", nil, 3},
		{"lbpilot_rebalancer_dry_run", nil, 0},
	} {
		got, err := sumSamples(text, c.name, c.match...)
		if err != nil || got != c.want {
			t.Errorf("%s %v = %g, %v; want %g", c.name, c.match, got, err, c.want)
		}
	}
	if _, err := sumSamples(text, "lbpilot_rebalancer_actions_total", "action", "maint"); err == nil {
		t.Error("no sample: no error")
	}
	if _, err := sumSamples(text, "lbpilot_rebalancer_actions_total", "action"); err == nil {
		t.Error("odd match: no error")
	}
	if _, err := sumSamples("m{a=\"b\"} notanumber\n", "m"); err == nil {
		t.Error("bad value: no error")
	}
}

func TestDescribe(t *testing.T) {
	if got := describeAlerts(nil); got != "no alerts" {
		t.Errorf("%q", got)
	}
	a := []Alert{
		{Labels: map[string]string{"alertname": "B", "severity": "warning"}},
		{Labels: map[string]string{"alertname": "A", "haproxy_server": "wcs1", "lbpilot_action": "drain", "job": "x"}},
	}
	if got := describeAlerts(a); got != `A{lbpilot_action="drain",haproxy_server="wcs1"} B{severity="warning"}` {
		t.Errorf("%q", got)
	}
	var st RebalancerState
	if err := json.Unmarshal([]byte(`{"owned":[{"backend":"be","server":"s1","weight":{}},{"backend":"be","server":"s2","admin":{"state":"drain","phase":"applied"}}]}`), &st); err != nil {
		t.Fatal(err)
	}
	if s, p := st.OwnedAdmin("be", "s2"); s != "drain" || p != "applied" {
		t.Errorf("s2: %q %q", s, p)
	}
	if s, _ := st.OwnedAdmin("be", "s1"); s != "" {
		t.Errorf("s1 (weight only): %q", s)
	}
	st2 := ServerStat{Backend: "be", Server: "s", Status: "DRAIN (agent)", Weight: 21}
	if st2.State() != "DRAIN" || st2.String() != "be/s DRAIN (agent), weight 21" {
		t.Errorf("%q %q", st2.State(), st2.String())
	}
}
