package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lbpilot/lbpilot/demo"
	"github.com/lbpilot/lbpilot/internal/testenv"
)

// repo is the repository root, seen from this package's directory.
const repo = ".."

// startStack builds the binaries and starts the demo's stack in a short
// temporary folder (unix socket paths are limited to 108 bytes).
func startStack(t *testing.T, ctx context.Context) *demo.Stack {
	t.Helper()
	return startStackWith(t, ctx, demo.Control{})
}

// startStackWith is startStack with what steers be_wcs_ws.
func startStackWith(t *testing.T, ctx context.Context, control demo.Control) *demo.Stack {
	t.Helper()
	for _, b := range []string{"haproxy", "prometheus", "prometheus-alertmanager", "promtool", "amtool"} {
		testenv.Binary(t, b)
	}
	dir, err := os.MkdirTemp("", "lbpe2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	lbpilot, lab, err := demo.BuildPrograms(ctx, testenv.Binary(t, "go"), repo, filepath.Join(dir, "bin"))
	if err != nil {
		t.Fatal(err)
	}
	ports, err := demo.FreePorts()
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	s, err := demo.Start(ctx, demo.Options{
		Dir: filepath.Join(dir, "stack"), Repo: repo, Lbpilot: lbpilot, Lab: lab,
		Ports: ports, Control: control, Say: t.Logf,
	})
	if err != nil {
		t.Fatalf("starting the stack: %v", err)
	}
	t.Logf("stack up in %s", time.Since(t0).Round(time.Millisecond))
	t.Cleanup(func() {
		s.Stop()
		if _, err := os.Stat(s.Procs.PidFile); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("pid file %s left after Stop: %v", s.Procs.PidFile, err)
		}
		if t.Failed() {
			dumpLogs(t, s.Files.Logs)
		}
	})
	return s
}

func dumpLogs(t *testing.T, dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		if len(lines) > 40 {
			lines = lines[len(lines)-40:]
		}
		t.Logf("--- %s (last %d lines)\n%s", e.Name(), len(lines), strings.Join(lines, "\n"))
	}
}

// TestWholeLoop: the demo's scenario, every step under a deadline, then
// the fault drills against the same stack.
func TestWholeLoop(t *testing.T) {
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s := startStack(t, ctx)

	// Real sessions through every frontend first; they end before the
	// scenario, which starts from the lab's background load.
	if !t.Run("sessions through the frontends", func(t *testing.T) { frontendSessions(t, ctx, s) }) {
		return
	}

	results, err := s.Scenario(ctx, t.Logf)
	if err != nil {
		t.Fatalf("scenario: %v", err)
	}
	if len(results) != demo.ScenarioSteps {
		t.Fatalf("scenario reported %d steps, want %d: %v", len(results), demo.ScenarioSteps, results)
	}
	for _, r := range results {
		t.Logf("step %-90s %s", r.Name, r.Took.Round(10*time.Millisecond))
	}
	closedLoopOnRealTraffic(t, s.LastTraffic())

	// Every drill starts from wcs1 drained by its firing alert.
	if !t.Run("haproxy reload during a drain", func(t *testing.T) { drillReload(t, ctx, s) }) {
		return
	}
	if !t.Run("alertmanager restart", func(t *testing.T) { drillAlertmanagerRestart(t, ctx, s) }) {
		return
	}
	t.Run("rebalancer SIGKILL and restart", func(t *testing.T) { drillRebalancerKill(t, ctx, s) })
	t.Logf("whole loop and drills: %s", time.Since(t0).Round(time.Millisecond))
}

const srv = demo.ScenarioServer

// closedLoopOnRealTraffic checks what the scenario's real players went
// through: the flash crowd reached both nodes; after the drain every new
// player landed on wcs2 and HAProxy opened no session on wcs1; none of
// wcs1's players was cut by the drain; wcs1's load fell as its players
// left (the scenario then waited for the alert to resolve and wcs1 to be
// set ready); the other kinds carried bytes.
func closedLoopOnRealTraffic(t *testing.T, tr *demo.Traffic) {
	t.Helper()
	if tr == nil {
		t.Fatal("the scenario kept no record of its traffic")
	}
	crowd := map[string]int{}
	for _, p := range tr.Players {
		if p.Wave == "crowd" {
			crowd[p.Node()]++
		}
	}
	if crowd["wcs1"] == 0 || crowd["wcs2"] == 0 || crowd["wcs1"]+crowd["wcs2"] < demo.CrowdSize {
		t.Errorf("the flash crowd by node: %v; want both nodes and %d players", crowd, demo.CrowdSize)
	}
	if tr.AfterDrainNodes["wcs2"] != demo.AfterDrain || len(tr.AfterDrainNodes) != 1 {
		t.Errorf("players opened after the drain landed on %v; want all %d on wcs2", tr.AfterDrainNodes, demo.AfterDrain)
	}
	if tr.AfterDrainStot["wcs1"] != 0 || tr.AfterDrainStot["wcs2"] < demo.AfterDrain {
		t.Errorf("HAProxy sessions opened after the drain: %v; want none on wcs1, %d or more on wcs2", tr.AfterDrainStot, demo.AfterDrain)
	}
	if tr.CutByDrain != 0 {
		t.Errorf("%d of wcs1's players were cut while it was drained", tr.CutByDrain)
	}
	l := tr.DrainedLoad
	if len(l) < 3 || l[0] < 80 || l[len(l)-1] >= 50 {
		t.Errorf("wcs1's subscribers as its players left: %v; want from 80 or more to under 50 in steps", l)
	}
	for i := 1; i < len(l); i++ {
		if l[i] >= l[i-1] {
			t.Errorf("wcs1's subscribers did not fall at step %d: %v", i, l)
		}
	}
	for _, p := range tr.Players {
		if p.Cut() {
			t.Errorf("player on %s (%s) was cut: %v", p.Node(), p.Wave, p.Err())
		}
	}
	if tr.Publisher == nil || tr.Publisher.Bytes() == 0 {
		t.Error("the scenario's RTMP publish through fe_rtmp carried no bytes")
	}
	for i, f := range tr.FLVPlayers {
		if f.Video() == 0 {
			t.Errorf("HTTP-FLV player %d through fe_play read no video", i+1)
		}
	}
	mqttNodes := map[string]int{}
	for _, m := range tr.MQTT {
		mqttNodes[m.Node()]++
		if m.Received() == 0 {
			t.Errorf("MQTT client on %s received nothing", m.Node())
		}
	}
	if len(mqttNodes) != 2 {
		t.Errorf("MQTT clients through fe_mqtt (leastconn) by node: %v; want both brokers", mqttNodes)
	}
	t.Logf("real traffic: crowd %v, after the drain %v (HAProxy stot %v), wcs1's subscribers %v, MQTT %v",
		crowd, tr.AfterDrainNodes, tr.AfterDrainStot, l, mqttNodes)
}

// overload raises wcs1's load and waits until the rebalancer has drained it.
func overload(t *testing.T, ctx context.Context, s *demo.Stack) {
	t.Helper()
	if err := s.SetLoad(ctx, srv, demo.HighLoad); err != nil {
		t.Fatal(err)
	}
	waitState(t, ctx, s, "DRAIN", 60*time.Second)
}

// waitState waits until wcs1's `show stat` status is state.
func waitState(t *testing.T, ctx context.Context, s *demo.Stack, state string, within time.Duration) time.Duration {
	t.Helper()
	_, took, err := demo.WaitFor(ctx, srv+" "+state, within, func(ctx context.Context) (bool, string, error) {
		st, err := s.Stat(ctx, demo.WCSBackend, srv)
		return err == nil && st.State() == state, st.String(), err
	})
	if err != nil {
		t.Fatal(err)
	}
	return took
}

// metric reads a rebalancer counter (0 when it has no sample yet).
func metric(t *testing.T, ctx context.Context, s *demo.Stack, name string, match ...string) float64 {
	t.Helper()
	v, err := s.RebalancerMetric(ctx, name, match...)
	if err != nil && !strings.Contains(err.Error(), "no "+name+" sample") {
		t.Fatal(err)
	}
	return v
}

// alertActive reports whether Alertmanager lists the scenario's alert for
// wcs1 as active.
func alertActive(ctx context.Context, s *demo.Stack) (bool, error) {
	alerts, err := s.Alerts(ctx)
	if err != nil {
		return false, err
	}
	for _, a := range alerts {
		if a.Labels["alertname"] == demo.ScenarioAlert && a.Labels["haproxy_server"] == srv {
			return true, nil
		}
	}
	return false, nil
}

// drillReload: HAProxy reloads while wcs1 is drained; the new worker starts
// from the config (wcs1 ready), and the rebalancer sees the reload and
// drains wcs1 again.
func drillReload(t *testing.T, ctx context.Context, s *demo.Stack) {
	overload(t, ctx, s)
	reloads := metric(t, ctx, s, "lbpilot_rebalancer_haproxy_reloads_total")
	drains := metric(t, ctx, s, "lbpilot_rebalancer_actions_total", "action", "drain", "result", "success")

	t0 := time.Now()
	oldPid, newPid, err := s.ReloadHAProxy(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if newPid == oldPid {
		t.Fatalf("haproxy worker %d was not replaced", oldPid)
	}
	waitState(t, ctx, s, "DRAIN", 20*time.Second)
	t.Logf("worker %d → %d; wcs1 drained again %s after the reload", oldPid, newPid, time.Since(t0).Round(10*time.Millisecond))
	_, _, err = demo.WaitFor(ctx, "the rebalancer counts the reload and the re-applied drain", 10*time.Second, func(ctx context.Context) (bool, string, error) {
		r, err := s.RebalancerMetric(ctx, "lbpilot_rebalancer_haproxy_reloads_total")
		if err != nil {
			return false, "", err
		}
		d, err := s.RebalancerMetric(ctx, "lbpilot_rebalancer_actions_total", "action", "drain", "result", "success")
		if err != nil {
			return false, "", err
		}
		return r > reloads && d > drains, fmt.Sprintf("reloads %g (before %g), drains %g (before %g)", r, reloads, d, drains), nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// drillAlertmanagerRestart: Alertmanager stops and starts again. Its alert
// list is empty until Prometheus re-sends (up to
// --rules.alert.resend-delay, 1 minute by default; 1 s in the demo, so
// Prometheus is paused to open that window). The rebalancer reads the
// list every reconcile and must not take the empty list for resolves:
// wcs1 stays drained throughout, and no ready action is sent.
func drillAlertmanagerRestart(t *testing.T, ctx context.Context, s *demo.Stack) {
	waitState(t, ctx, s, "DRAIN", 10*time.Second)
	readies := metric(t, ctx, s, "lbpilot_rebalancer_actions_total", "action", "ready")
	rebalancerLog := s.Procs.Get(demo.ProcRebalancer).Log
	logFrom := fileSize(t, rebalancerLog)
	t0 := time.Now()
	stayDrained := func(d time.Duration) {
		t.Helper()
		end := time.Now().Add(d)
		for time.Now().Before(end) {
			st, err := s.Stat(ctx, demo.WCSBackend, srv)
			if err != nil {
				t.Fatal(err)
			}
			if st.State() != "DRAIN" {
				t.Fatalf("%s into the drill: %s", time.Since(t0).Round(10*time.Millisecond), st)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	if err := s.Pause(demo.ProcPrometheus); err != nil {
		t.Fatal(err)
	}
	resumed := false
	defer func() {
		if !resumed {
			_ = s.Resume(demo.ProcPrometheus)
		}
	}()
	if err := s.StopProcess(demo.ProcAlertmanager); err != nil {
		t.Fatal(err)
	}
	stayDrained(3 * time.Second) // Alertmanager away: the refresh fails
	if err := s.Restart(ctx, demo.ProcAlertmanager); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	if alerts, err := s.Alerts(ctx); err != nil || len(alerts) != 0 {
		t.Fatalf("the restarted Alertmanager should list no alert before Prometheus re-sends: %v (err %v)", alerts, err)
	}
	stayDrained(5 * time.Second) // Alertmanager back, empty list
	if err := s.Resume(demo.ProcPrometheus); err != nil {
		t.Fatal(err)
	}
	resumed = true
	_, took, err := demo.WaitFor(ctx, "the alert is back in Alertmanager", 30*time.Second, func(ctx context.Context) (bool, string, error) {
		ok, err := alertActive(ctx, s)
		return ok, "", err
	})
	if err != nil {
		t.Fatal(err)
	}
	stayDrained(3 * time.Second)
	if got := metric(t, ctx, s, "lbpilot_rebalancer_actions_total", "action", "ready"); got != readies {
		t.Fatalf("the rebalancer sent %g ready actions during the Alertmanager restart", got-readies)
	}
	// The rebalancer did read the empty list and held back.
	if logs := readFrom(t, rebalancerLog, logFrom); !strings.Contains(logs, "absent alerts are not taken as resolved yet") {
		t.Fatalf("the rebalancer never saw the restarted Alertmanager's empty list; its log since the drill:\n%s", logs)
	}
	t.Logf("Alertmanager away %s, empty for %s, alert back %s after Prometheus resumed: wcs1 stayed drained, no ready action",
		back.Sub(t0).Round(10*time.Millisecond), 5*time.Second, took.Round(10*time.Millisecond))
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func readFrom(t *testing.T, path string, off int64) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if off > int64(len(b)) {
		off = 0
	}
	return string(b[off:])
}

// drillRebalancerKill: the rebalancer is SIGKILLed while wcs1 is drained,
// the load falls and the alert resolves while it is gone; started again
// with the same state file it restores wcs1, which it remembers owning.
func drillRebalancerKill(t *testing.T, ctx context.Context, s *demo.Stack) {
	waitState(t, ctx, s, "DRAIN", 10*time.Second)
	if err := s.Kill(demo.ProcRebalancer); err != nil {
		t.Fatal(err)
	}
	if err := s.SetLoad(ctx, srv, demo.LowLoad); err != nil {
		t.Fatal(err)
	}
	_, took, err := demo.WaitFor(ctx, "the alert resolves while the rebalancer is down", 60*time.Second, func(ctx context.Context) (bool, string, error) {
		active, err := alertActive(ctx, s)
		return !active, "", err
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.Stat(ctx, demo.WCSBackend, srv)
	if err != nil {
		t.Fatal(err)
	}
	if st.State() != "DRAIN" {
		t.Fatalf("wcs1 changed with the rebalancer down: %s", st)
	}
	t.Logf("alert resolved %s after the load fell; wcs1 still %s", took.Round(10*time.Millisecond), st.Status)
	t0 := time.Now()
	if err := s.Restart(ctx, demo.ProcRebalancer); err != nil {
		t.Fatal(err)
	}
	waitState(t, ctx, s, "UP", 60*time.Second)
	_, _, err = demo.WaitFor(ctx, "the rebalancer owns nothing", 10*time.Second, func(ctx context.Context) (bool, string, error) {
		rs, err := s.Rebalancer(ctx)
		if err != nil {
			return false, "", err
		}
		state, phase := rs.OwnedAdmin(demo.WCSBackend, srv)
		return state == "", state + " " + phase, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("restarted rebalancer set wcs1 ready in %s", time.Since(t0).Round(10*time.Millisecond))
}
