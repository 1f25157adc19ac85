package demo

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
)

// The scenario's node, its alert, and the loads it sets.
const (
	ScenarioServer = "wcs1"
	ScenarioAlert  = "WCSSubscribersNearLimit"
	// HighLoad: 90 subscribers, over the alert's 80 and 90 % of the
	// agent's 100 (weight mode: 100 % below 50, the floor at 100).
	HighLoad = `{"subscribers":90}`
	// LowLoad takes the subscribers back to BaselineLoad's 20.
	LowLoad = `{"subscribers":20}`
)

// Step deadlines: generous for a loaded 2-core machine; the measured
// steps take a few seconds each.
var (
	deadlineSettle = 60 * time.Second
	deadlineAgent  = 20 * time.Second
	deadlineAlert  = 40 * time.Second
	deadlineDrain  = 30 * time.Second
	deadlineReady  = 40 * time.Second
)

// StepResult is one completed step and how long it took.
type StepResult struct {
	Name string
	Took time.Duration
}

// StepError is a step that did not complete in time.
type StepError struct {
	Step     string
	Within   time.Duration
	LastSeen string
	Err      error
}

func (e *StepError) Error() string {
	msg := fmt.Sprintf("step %q did not complete within %s", e.Step, e.Within)
	if e.LastSeen != "" {
		msg += "; last seen: " + e.LastSeen
	}
	if e.Err != nil {
		msg += "; last error: " + e.Err.Error()
	}
	return msg
}

func (e *StepError) Unwrap() error { return e.Err }

// WaitFor polls check every 200 ms until it reports done, ctx ends or
// within passes. check returns what it saw, for the narration and for the
// error.
func WaitFor(ctx context.Context, step string, within time.Duration, check func(ctx context.Context) (done bool, seen string, err error)) (string, time.Duration, error) {
	t0 := time.Now()
	deadline := t0.Add(within)
	var seen string
	var lastErr error
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		done, s, err := check(cctx)
		cancel()
		if s != "" {
			seen = s
		}
		if err == nil && done {
			return seen, time.Since(t0), nil
		}
		if err != nil {
			lastErr = err
		}
		if time.Now().After(deadline) {
			return seen, time.Since(t0), &StepError{Step: step, Within: within, LastSeen: seen, Err: lastErr}
		}
		select {
		case <-ctx.Done():
			return seen, time.Since(t0), &StepError{Step: step, Within: within, LastSeen: seen, Err: ctx.Err()}
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Scenario plays the demo's story against a running stack and narrates
// it through say; it stops at the first step that does not complete in
// time (a *StepError):
//
//  1. both WCS nodes are UP at full weight and nothing alerts;
//  2. the load on wcs1 rises (lab control API);
//  3. its agent lowers its weight (HAProxy's agent-check);
//  4. Prometheus's WCSSubscribersNearLimit fires (Alertmanager's API);
//  5. the rebalancer drains wcs1 (`show stat`, its /api/v1/state);
//  6. the load falls and the agent gives the full weight back;
//  7. the alert resolves (after keep_firing_for);
//  8. the rebalancer sets wcs1 ready again.
func (s *Stack) Scenario(ctx context.Context, say func(format string, args ...any)) ([]StepResult, error) {
	var results []StepResult
	const total = 8
	n := 0
	step := func(title string) string {
		n++
		return fmt.Sprintf("[%d/%d] %s", n, total, title)
	}
	done := func(title string, took time.Duration, evidence ...string) {
		results = append(results, StepResult{Name: title, Took: took})
		say("%s (%.1f s)", title, took.Seconds())
		for _, e := range evidence {
			say("        %s", e)
		}
	}
	srv := ScenarioServer

	// 1. Settle: every server UP at full weight, every target scraped,
	// no alert at all.
	title := step("both WCS nodes UP at full weight, every target scraped, no alert")
	var stats []ServerStat
	_, took, err := WaitFor(ctx, title, deadlineSettle, func(ctx context.Context) (bool, string, error) {
		all, err := s.Servers(ctx)
		if err != nil {
			return false, "", err
		}
		stats = nil
		for _, st := range all {
			if st.Backend == WCSBackend {
				stats = append(stats, st)
			}
			if st.State() != "UP" {
				return false, st.String(), nil
			}
			if st.Backend == WCSBackend && (st.Weight != 100 || st.LastAgent == "") {
				return false, st.String() + " (waiting for its agent)", nil
			}
		}
		down, err := s.Query(ctx, "up == 0")
		if err != nil {
			return false, "", err
		}
		ups, err := s.Query(ctx, "up")
		if err != nil {
			return false, "", err
		}
		if down > 0 || ups < 6 {
			return false, fmt.Sprintf("Prometheus: %d targets, %d down", ups, down), nil
		}
		alerts, err := s.Alerts(ctx)
		if err != nil {
			return false, "", err
		}
		if len(alerts) > 0 {
			return false, "Alertmanager: " + describeAlerts(alerts), nil
		}
		return true, "", nil
	})
	if err != nil {
		return results, err
	}
	evidence := []string{}
	for _, st := range stats {
		evidence = append(evidence, "show stat: "+st.String())
	}
	done(title, took, evidence...)

	// 2. Load rises.
	title = step(fmt.Sprintf("load on %s rises: POST %s/lab/load %s", srv, URL(s.Ports.LabPort(srv)), HighLoad))
	t0 := time.Now()
	if err := s.SetLoad(ctx, srv, HighLoad); err != nil {
		return results, &StepError{Step: title, Err: err}
	}
	done(title, time.Since(t0))

	// 3. The agent lowers the weight.
	title = step(fmt.Sprintf("the agent lowers %s's weight", srv))
	seen, took, err := WaitFor(ctx, title, deadlineAgent, func(ctx context.Context) (bool, string, error) {
		st, err := s.Stat(ctx, WCSBackend, srv)
		if err != nil {
			return false, "", err
		}
		return st.Weight < 100, "show stat: " + st.String(), nil
	})
	if err != nil {
		return results, err
	}
	reply, rerr := s.AgentReply(ctx, 0)
	if rerr != nil {
		reply = "(" + rerr.Error() + ")"
	}
	done(title, took, "agent-check reply: "+reply, seen)

	// 4. The alert fires.
	title = step(fmt.Sprintf("%s fires for %s", ScenarioAlert, srv))
	var fired Alert
	_, took, err = WaitFor(ctx, title, deadlineAlert, func(ctx context.Context) (bool, string, error) {
		alerts, err := s.Alerts(ctx)
		if err != nil {
			return false, "", err
		}
		for _, a := range alerts {
			if a.Labels["alertname"] == ScenarioAlert && a.Labels["haproxy_server"] == srv {
				fired = a
				return a.Labels["lbpilot_action"] == "drain" && a.Labels["haproxy_backend"] == WCSBackend, "Alertmanager: " + describeAlerts([]Alert{a}), nil
			}
		}
		return false, "Alertmanager: " + describeAlerts(alerts), nil
	})
	if err != nil {
		return results, err
	}
	var recv []string
	for _, r := range fired.Receivers {
		recv = append(recv, r.Name)
	}
	done(title, took,
		"Alertmanager /api/v2/alerts: "+describeAlerts([]Alert{fired}),
		fmt.Sprintf("firing since %s, routed to %s", fired.StartsAt.Local().Format("15:04:05"), strings.Join(recv, ", ")))

	// 5. The rebalancer drains the server.
	title = step(fmt.Sprintf("the rebalancer drains %s", srv))
	var drained ServerStat
	_, took, err = WaitFor(ctx, title, deadlineDrain, func(ctx context.Context) (bool, string, error) {
		st, err := s.Stat(ctx, WCSBackend, srv)
		if err != nil {
			return false, "", err
		}
		drained = st
		return st.State() == "DRAIN", "show stat: " + st.String(), nil
	})
	if err != nil {
		return results, err
	}
	ownership := "rebalancer /api/v1/state: " + s.describeOwned(ctx, srv)
	other, oerr := s.Stat(ctx, WCSBackend, "wcs2")
	otherLine := "show stat: " + other.String() + " takes the new sessions"
	if oerr != nil {
		otherLine = "show stat wcs2: " + oerr.Error()
	}
	done(title, took, "show stat: "+drained.String(), ownership, otherLine)

	// 6. Load falls; the agent gives the weight back.
	title = step(fmt.Sprintf("load on %s falls: POST %s/lab/load %s; the agent restores its weight", srv, URL(s.Ports.LabPort(srv)), LowLoad))
	t0 = time.Now()
	if err := s.SetLoad(ctx, srv, LowLoad); err != nil {
		return results, &StepError{Step: title, Err: err}
	}
	seen, _, err = WaitFor(ctx, title, deadlineAgent, func(ctx context.Context) (bool, string, error) {
		st, err := s.Stat(ctx, WCSBackend, srv)
		if err != nil {
			return false, "", err
		}
		return st.Weight == 100, "show stat: " + st.String(), nil
	})
	if err != nil {
		return results, err
	}
	reply, rerr = s.AgentReply(ctx, 0)
	if rerr != nil {
		reply = "(" + rerr.Error() + ")"
	}
	done(title, time.Since(t0), "agent-check reply: "+reply, seen+" — still drained: the rebalancer owns the drain, the agent only the weight")

	// 7. The alert resolves (keep_firing_for holds it a little longer).
	title = step(fmt.Sprintf("%s resolves (keep_firing_for: 5m in alerts/, %s in the demo)", ScenarioAlert, max(5*time.Minute/RuleDivisor, minRuleDuration)))
	_, took, err = WaitFor(ctx, title, deadlineReady, func(ctx context.Context) (bool, string, error) {
		alerts, err := s.Alerts(ctx)
		if err != nil {
			return false, "", err
		}
		for _, a := range alerts {
			if a.Labels["alertname"] == ScenarioAlert && a.Labels["haproxy_server"] == srv {
				return false, "Alertmanager: still " + describeAlerts([]Alert{a}), nil
			}
		}
		return true, "", nil
	})
	if err != nil {
		return results, err
	}
	done(title, took, "Alertmanager /api/v2/alerts: no active alert for "+srv)

	// 8. The rebalancer restores the server.
	title = step(fmt.Sprintf("the rebalancer sets %s ready again", srv))
	var back ServerStat
	_, took, err = WaitFor(ctx, title, deadlineReady, func(ctx context.Context) (bool, string, error) {
		st, err := s.Stat(ctx, WCSBackend, srv)
		if err != nil {
			return false, "", err
		}
		back = st
		if st.State() != "UP" {
			return false, "show stat: " + st.String(), nil
		}
		rs, err := s.Rebalancer(ctx)
		if err != nil {
			return false, "", err
		}
		if state, phase := rs.OwnedAdmin(WCSBackend, srv); state != "" {
			return false, fmt.Sprintf("rebalancer still owns %s (%s)", state, phase), nil
		}
		return true, "", nil
	})
	if err != nil {
		return results, err
	}
	done(title, took, "show stat: "+back.String(), "rebalancer /api/v1/state: owns nothing on "+srv)
	return results, nil
}

// describeOwned says what the rebalancer owns on a server.
func (s *Stack) describeOwned(ctx context.Context, srv string) string {
	rs, err := s.Rebalancer(ctx)
	if err != nil {
		return err.Error()
	}
	for _, o := range rs.Owned {
		if o.Backend == WCSBackend && o.Server == srv && o.Admin != nil {
			return fmt.Sprintf("owns %s/%s: %s (%s since %s) for %d alert(s)", o.Backend, o.Server, o.Admin.State, o.Admin.Phase,
				o.Admin.Since.Local().Format("15:04:05"), len(o.Admin.Alerts))
		}
	}
	return "owns nothing on " + srv
}

// describeAlerts prints alerts as name{interesting labels}.
func describeAlerts(alerts []Alert) string {
	if len(alerts) == 0 {
		return "no alerts"
	}
	var out []string
	for _, a := range alerts {
		var kv []string
		for _, k := range []string{"lbpilot_action", "haproxy_backend", "haproxy_server", "target", "severity"} {
			if v := a.Labels[k]; v != "" {
				kv = append(kv, fmt.Sprintf("%s=%q", k, v))
			}
		}
		out = append(out, a.Labels["alertname"]+"{"+strings.Join(kv, ",")+"}")
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}
