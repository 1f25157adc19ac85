package demo

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
)

// The scenario's node and its alert; HighLoad and LowLoad are control-API
// loads the e2e fault drills (and a demo user with curl) set on wcs1.
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
	deadlineCrowd  = 60 * time.Second
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

// ScenarioSteps is the number of steps Scenario plays.
const ScenarioSteps = 10

// Scenario plays the demo's story on real sessions against a running
// stack and narrates it through say; it stops at the first step that
// does not complete in time (a *StepError), and ends every client it
// opened before it returns (LastTraffic keeps what happened to them):
//
//  1. both WCS nodes are UP at full weight and nothing alerts;
//  2. the other kinds get real traffic: an RTMP publish, HTTP-FLV
//     players, MQTT clients, each carrying bytes;
//  3. a flash crowd of WebSocket players arrives through fe_wcs and takes
//     wcs1, which already had the larger audience, over the alert's 80
//     subscribers (its own stat page says so);
//  4. its agent lowers its weight (HAProxy's agent-check);
//  5. Prometheus's WCSSubscribersNearLimit fires (Alertmanager's API);
//  6. the rebalancer drains wcs1 (`show stat`, its /api/v1/state);
//  7. new players land only on wcs2 (their nodeName, HAProxy's stot),
//     and every player already on wcs1 stays connected;
//  8. wcs1's audience leaves, its load falls session by session, and the
//     agent gives the full weight back;
//  9. the alert resolves (after keep_firing_for);
//  10. the rebalancer sets wcs1 ready again.
func (s *Stack) Scenario(ctx context.Context, say func(format string, args ...any)) ([]StepResult, error) {
	var results []StepResult
	n := 0
	step := func(title string) string {
		n++
		return fmt.Sprintf("[%d/%d] %s", n, ScenarioSteps, title)
	}
	done := func(title string, took time.Duration, evidence ...string) {
		results = append(results, StepResult{Name: title, Took: took})
		say("%s (%.1f s)", title, took.Seconds())
		for _, e := range evidence {
			say("        %s", e)
		}
	}
	srv, other := ScenarioServer, "wcs2"
	tr := &Traffic{}
	s.traffic = tr
	defer tr.Close()

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
	_, line, err := s.describeWCS(ctx)
	if err != nil {
		return results, &StepError{Step: title, Err: err}
	}
	var caps []string
	for _, node := range wcsNodes {
		c, err := s.Capacity(ctx, node)
		if err != nil {
			return results, &StepError{Step: title, Err: err}
		}
		caps = append(caps, fmt.Sprintf("%s %d sessions", node, c))
	}
	evidence = append(evidence, line+" (the lab's background audience)", "lab capacity: "+strings.Join(caps, ", "))
	done(title, took, evidence...)

	// 2. The other kinds' light traffic.
	title = step("real traffic on the other kinds: an RTMP publish via fe_rtmp, HTTP-FLV players via fe_play, MQTT clients via fe_mqtt")
	t0 := time.Now()
	if err := s.startSide(ctx, tr); err != nil {
		return results, &StepError{Step: title, Err: err}
	}
	var side []string
	_, _, err = WaitFor(ctx, title, deadlineAgent, func(context.Context) (bool, string, error) {
		ok, seen := tr.sideCarrying()
		side = seen
		return ok, strings.Join(seen, "; "), nil
	})
	if err != nil {
		return results, err
	}
	done(title, time.Since(t0), side...)

	// 3. The flash crowd.
	title = step(fmt.Sprintf("a flash crowd: %d WebSocket players through fe_wcs (ws://127.0.0.1:%d/) play %q", CrowdSize, s.Ports.WCS, CrowdStream))
	t0 = time.Now()
	if _, err := s.openPlayers(ctx, tr, CrowdSize, 20, "crowd"); err != nil {
		return results, &StepError{Step: title, Err: err}
	}
	// HAProxy's round robin splits the burst about evenly; should the
	// agent have lowered wcs1's weight during it, a few more players come
	// until wcs1 is over the alert's threshold.
	extra := 0
	_, _, err = WaitFor(ctx, title, deadlineCrowd, func(ctx context.Context) (bool, string, error) {
		l, seen, err := s.describeWCS(ctx)
		if err != nil {
			return false, "", err
		}
		if l[srv].Subscribers >= CrowdTarget {
			return true, seen, nil
		}
		if extra < CrowdTopUp && l[other].Subscribers < 70 {
			extra += 5
			if _, err := s.openPlayers(ctx, tr, 5, 5, "crowd"); err != nil {
				return false, seen, err
			}
		}
		return false, seen, nil
	})
	if err != nil {
		return results, err
	}
	_, line, _ = s.describeWCS(ctx)
	evidence = []string{
		fmt.Sprintf("players by the node that served them (getUserData's nodeName): %s", describeCounts(tr.count("crowd"), "player")),
		line,
	}
	if extra > 0 {
		evidence = append(evidence, fmt.Sprintf("%d more players came after the burst (the agent had lowered %s's weight during it)", extra, srv))
	}
	done(title, time.Since(t0), append(evidence, fmt.Sprintf("%s is over the alert's 80; %s is not", srv, other))...)

	// 4. The agent lowers the weight.
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

	// 5. The alert fires.
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

	// 6. The rebalancer drains the server.
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
	done(title, took, "show stat: "+drained.String(), ownership)
	onDrained := tr.On(srv)

	// 7. New sessions go to the others; the drained server's stay.
	title = step(fmt.Sprintf("new players land only on %s; %s's %d players stay connected", other, srv, len(onDrained)))
	t0 = time.Now()
	before, err := s.statTotals(ctx)
	if err != nil {
		return results, &StepError{Step: title, Err: err}
	}
	tr.AfterDrainNodes = map[string]int{}
	for range AfterDrain {
		ps, err := s.openPlayers(ctx, tr, 1, 1, "after-drain")
		if err != nil {
			return results, &StepError{Step: title, Err: err}
		}
		tr.AfterDrainNodes[ps[0].Node()]++
	}
	after, err := s.statTotals(ctx)
	if err != nil {
		return results, &StepError{Step: title, Err: err}
	}
	tr.AfterDrainStot = map[string]int{}
	for _, node := range wcsNodes {
		tr.AfterDrainStot[node] = after[node] - before[node]
	}
	tr.CutByDrain = countCut(onDrained)
	_, line, _ = s.describeWCS(ctx)
	evidence = []string{
		fmt.Sprintf("%d new players by nodeName: %s", AfterDrain, describeCounts(tr.AfterDrainNodes, "player")),
		fmt.Sprintf("show stat stot: %d new sessions on %s, %d on %s since the drain", tr.AfterDrainStot[srv], srv, tr.AfterDrainStot[other], other),
		fmt.Sprintf("%s's players: %d of %d still connected, %d cut", srv, len(onDrained)-tr.CutByDrain, len(onDrained), tr.CutByDrain),
		line,
	}
	if tr.AfterDrainNodes[srv] > 0 || tr.AfterDrainStot[srv] > 0 || tr.CutByDrain > 0 {
		return results, &StepError{Step: title, Within: time.Since(t0), LastSeen: strings.Join(evidence, "; "),
			Err: fmt.Errorf("the drained %s took new sessions or lost existing ones", srv)}
	}
	done(title, time.Since(t0), evidence...)

	// 8. The drained server's audience leaves; the agent restores the
	// weight.
	title = step(fmt.Sprintf("%s's audience leaves, %d players at a time; its load falls and the agent restores its weight", srv, leaveBatch))
	t0 = time.Now()
	l, err := s.WCSLoad(ctx, srv)
	if err != nil {
		return results, &StepError{Step: title, Err: err}
	}
	first := l.Subscribers
	tr.DrainedLoad = []int{first}
	for i := 0; i < len(onDrained); i += leaveBatch {
		batch := onDrained[i:min(i+leaveBatch, len(onDrained))]
		tr.mu.Lock()
		for _, p := range batch {
			if p.Cut() {
				tr.CutByDrain++
			}
		}
		tr.mu.Unlock()
		tr.closePlayers(batch)
		want := first - i - len(batch)
		var got int
		_, _, err := WaitFor(ctx, title, deadlineAgent, func(ctx context.Context) (bool, string, error) {
			l, err := s.WCSLoad(ctx, srv)
			if err != nil {
				return false, "", err
			}
			got = l.Subscribers
			return got <= want, fmt.Sprintf("%s %d subscribers, want %d", srv, got, want), nil
		})
		if err != nil {
			return results, err
		}
		tr.DrainedLoad = append(tr.DrainedLoad, got)
		if i+leaveBatch < len(onDrained) {
			// An audience leaves over time: Prometheus (1 s scrapes) sees
			// each step.
			select {
			case <-ctx.Done():
				return results, &StepError{Step: title, Err: ctx.Err()}
			case <-time.After(leavePause):
			}
		}
		st, _ := s.Stat(ctx, WCSBackend, srv)
		if st.State() != "DRAIN" {
			return results, &StepError{Step: title, LastSeen: "show stat: " + st.String(), Err: fmt.Errorf("%s left the drain while its load was %d", srv, got)}
		}
	}
	if tr.CutByDrain > 0 {
		return results, &StepError{Step: title, Err: fmt.Errorf("%d of %s's players were cut while it was drained", tr.CutByDrain, srv)}
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
	var falls []string
	for _, v := range tr.DrainedLoad {
		falls = append(falls, fmt.Sprint(v))
	}
	done(title, time.Since(t0),
		fmt.Sprintf("%s's stat page, subscribers as its players leave: %s", srv, strings.Join(falls, " → ")),
		"agent-check reply: "+reply,
		seen+" — still drained: the rebalancer owns the drain, the agent only the weight")

	// 9. The alert resolves (keep_firing_for holds it a little longer).
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

	// 10. The rebalancer restores the server.
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
	_, line, _ = s.describeWCS(ctx)
	still := len(tr.On(other))
	ok, sideNow := tr.sideCarrying()
	sideLine := "the other kinds still carry bytes"
	if !ok {
		sideLine = "the other kinds: " + strings.Join(sideNow, "; ")
	}
	done(title, took, "show stat: "+back.String(), "rebalancer /api/v1/state: owns nothing on "+srv,
		fmt.Sprintf("%s (%d players left on %s, closed now with the rest of the scenario's clients); %s", line, still, other, sideLine))
	return results, nil
}

// leaveBatch is how many of the drained server's players leave at once.
const leaveBatch = 10

// leavePause is the time between two batches leaving.
const leavePause = time.Second

// countCut counts the players whose connection ended without the
// scenario closing it.
func countCut(ps []*Player) int {
	n := 0
	for _, p := range ps {
		if p.Cut() {
			n++
		}
	}
	return n
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
