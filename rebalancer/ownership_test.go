package rebalancer

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/alertmanager/template"

	"github.com/lbpilot/lbpilot/internal/haproxyapi"
	"github.com/lbpilot/lbpilot/internal/haproxyapi/haproxytest"
)

func three() []haproxytest.Server {
	return servers(map[string][]string{"be_app": {"web1", "web2", "web3"}})
}

func (hs *harness) mustReconcile() {
	hs.t.Helper()
	if err := hs.reconcile(); err != nil {
		hs.t.Fatalf("reconcile: %v\n%s", err, hs.logs.String())
	}
}

func (hs *harness) owned() map[string]*Ownership {
	out := map[string]*Ownership{}
	hs.r.store.View(func(st *State) {
		for k, o := range st.Owned {
			out[k] = o.clone()
		}
	})
	return out
}

func TestOperatorMaintIsNotUndone(t *testing.T) {
	hs := newHarness(t, "", three())
	t0 := hs.clock.Now()
	hs.mustPost(body(alert(StatusFiring, "f1", "drain", "be_app", "web1", t0)))
	hs.mustReconcile()
	hs.wantAdmin("be_app", "web1", haproxyapi.StateDrain)

	hs.h.Operator("set server be_app/web1 state maint")
	hs.mustReconcile()
	hs.wantAdmin("be_app", "web1", haproxyapi.StateMaint)
	if len(hs.owned()) != 0 {
		t.Fatalf("still owned after the operator's change: %v", hs.owned())
	}
	if !strings.Contains(hs.logs.String(), "Server changed outside lbpilot") {
		t.Fatalf("operator change not logged:\n%s", hs.logs.String())
	}
	hs.mustPost(body(alert(StatusResolved, "f1", "drain", "be_app", "web1", t0)))
	hs.mustReconcile()
	hs.wantAdmin("be_app", "web1", haproxyapi.StateMaint)
	for _, c := range hs.setCommands() {
		if strings.Contains(c, "web1 state ready") {
			t.Fatalf("sent %q to a server the operator put in maint", c)
		}
	}
}

func TestOperatorReadyIsNotRedrainedForTheSameAlert(t *testing.T) {
	hs := newHarness(t, "", three())
	t0 := hs.clock.Now()
	hs.mustPost(body(alert(StatusFiring, "f1", "drain", "be_app", "web1", t0)))
	hs.mustReconcile()
	hs.h.Operator("set server be_app/web1 state ready")
	hs.mustReconcile()
	hs.mustReconcile()
	hs.wantAdmin("be_app", "web1", haproxyapi.StateReady)
	// The alert ends and a new incarnation fires later: that one may act.
	hs.clock.Advance(time.Minute)
	hs.mustPost(body(alert(StatusResolved, "f1", "drain", "be_app", "web1", t0)))
	hs.mustReconcile()
	var rel int
	hs.r.store.View(func(st *State) { rel = len(st.Released) })
	if rel != 0 {
		t.Fatalf("release kept after its alerts ended")
	}
	t1 := hs.clock.Now()
	hs.mustPost(body(alert(StatusFiring, "f1", "drain", "be_app", "web1", t1)))
	hs.mustReconcile()
	hs.wantAdmin("be_app", "web1", haproxyapi.StateDrain)
}

func TestOperatorDrainBeforeAlertIsNotTakenOver(t *testing.T) {
	hs := newHarness(t, "", three())
	hs.h.Operator("set server be_app/web2 state drain")
	t0 := hs.clock.Now()
	hs.mustPost(body(alert(StatusFiring, "f2", "maint", "be_app", "web2", t0)))
	hs.mustReconcile()
	hs.wantAdmin("be_app", "web2", haproxyapi.StateDrain) // not escalated: not ours
	hs.mustPost(body(alert(StatusResolved, "f2", "maint", "be_app", "web2", t0)))
	hs.mustReconcile()
	hs.wantAdmin("be_app", "web2", haproxyapi.StateDrain) // not restored: not ours
	if c := hs.setCommands(); len(c) != 0 {
		t.Fatalf("commands sent: %v", c)
	}
}

func TestReloadReapplies(t *testing.T) {
	hs := newHarness(t, "", three())
	t0 := hs.clock.Now()
	hs.mustPost(body(alert(StatusFiring, "f1", "maint", "be_app", "web1", t0)))
	hs.mustReconcile()
	hs.h.Reload()
	hs.wantAdmin("be_app", "web1", haproxyapi.StateReady)
	hs.mustReconcile()
	hs.wantAdmin("be_app", "web1", haproxyapi.StateMaint)
	if !strings.Contains(hs.logs.String(), "HAProxy reloaded") {
		t.Fatal("reload not logged")
	}
	// Reload while the rebalancer is down: the mark in the state file tells.
	hs.h.Reload()
	hs.start()
	hs.mustReconcile()
	hs.wantAdmin("be_app", "web1", haproxyapi.StateMaint)
}

func TestEscalationAndStepDown(t *testing.T) {
	hs := newHarness(t, "", three())
	t0 := hs.clock.Now()
	hs.mustPost(body(alert(StatusFiring, "d", "drain", "be_app", "web1", t0)))
	hs.mustReconcile()
	hs.mustPost(body(alert(StatusFiring, "m", "maint", "be_app", "web1", t0.Add(time.Second))))
	hs.mustReconcile()
	hs.wantAdmin("be_app", "web1", haproxyapi.StateMaint)
	hs.mustPost(body(alert(StatusResolved, "m", "maint", "be_app", "web1", t0.Add(time.Second))))
	hs.mustReconcile()
	hs.wantAdmin("be_app", "web1", haproxyapi.StateDrain)
	hs.mustPost(body(alert(StatusResolved, "d", "drain", "be_app", "web1", t0)))
	hs.mustReconcile()
	hs.wantAdmin("be_app", "web1", haproxyapi.StateReady)
	want := []string{"set server be_app/web1 state drain", "set server be_app/web1 state maint", "set server be_app/web1 state drain", "set server be_app/web1 state ready"}
	if got := hs.setCommands(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("commands %v, want %v", got, want)
	}
}

func TestGuardDefersAndRetries(t *testing.T) {
	hs := newHarness(t, "guard: {min_ready: 1}", servers(map[string][]string{"be_app": {"web1", "web2"}}))
	t0 := hs.clock.Now()
	hs.mustPost(body(alert(StatusFiring, "f1", "drain", "be_app", "web1", t0), alert(StatusFiring, "f2", "drain", "be_app", "web2", t0.Add(time.Second))))
	hs.mustReconcile()
	hs.wantAdmin("be_app", "web1", haproxyapi.StateDrain) // first to fire, first served
	hs.wantAdmin("be_app", "web2", haproxyapi.StateReady) // would leave no usable server
	v := hs.r.StateView()
	if d := v.Sockets[hs.h.Socket.Addr].Deferred; len(d) != 1 || d[0].Server != "be_app/web2" || d[0].Reason != GuardMinReady {
		t.Fatalf("deferred %+v", d)
	}
	hs.mustReconcile() // still deferred; logged once only
	if n := strings.Count(hs.logs.String(), "Action deferred by the guard"); n != 1 {
		t.Fatalf("deferral logged %d times", n)
	}
	hs.mustPost(body(alert(StatusResolved, "f1", "drain", "be_app", "web1", t0)))
	hs.mustReconcile() // web1 restored; web2 still deferred: restores count once HAProxy shows them
	hs.wantAdmin("be_app", "web1", haproxyapi.StateReady)
	hs.mustReconcile()
	hs.wantAdmin("be_app", "web2", haproxyapi.StateDrain)
}

func TestDownServerCountsAsUnusable(t *testing.T) {
	hs := newHarness(t, "", three())
	hs.h.SetUp("be_app", "web2", false)
	hs.h.SetUp("be_app", "web3", false)
	t0 := hs.clock.Now()
	hs.mustPost(body(alert(StatusFiring, "f1", "drain", "be_app", "web1", t0), alert(StatusFiring, "f3", "maint", "be_app", "web3", t0)))
	hs.mustReconcile()
	hs.wantAdmin("be_app", "web1", haproxyapi.StateReady) // the last usable server
	hs.wantAdmin("be_app", "web3", haproxyapi.StateMaint) // already unusable: no capacity lost
}

func TestMinHold(t *testing.T) {
	hs := newHarness(t, "rebalancer: {min_hold: 5m}", three())
	t0 := hs.clock.Now()
	hs.mustPost(body(alert(StatusFiring, "f1", "drain", "be_app", "web1", t0)))
	hs.mustReconcile()
	hs.clock.Advance(time.Minute)
	hs.mustPost(body(alert(StatusResolved, "f1", "drain", "be_app", "web1", t0)))
	hs.mustReconcile()
	hs.wantAdmin("be_app", "web1", haproxyapi.StateDrain)
	hs.r.viewMu.Lock()
	wake := hs.r.nextWake
	hs.r.viewMu.Unlock()
	if want := t0.Add(5 * time.Minute); !wake.Equal(want) {
		t.Fatalf("next wake %v, want %v", wake, want)
	}
	hs.clock.Advance(4 * time.Minute)
	hs.mustReconcile()
	hs.wantAdmin("be_app", "web1", haproxyapi.StateReady)
}

func TestMassResolveHoldsRestores(t *testing.T) {
	hs := newHarness(t, "mass_resolve: {min_alerts: 3, window: 1m, grace: 5m}\nguard: {min_ready: 0}", three())
	t0 := hs.clock.Now()
	var firing, resolved []template.Alert
	for _, s := range []string{"web1", "web2", "web3"} {
		firing = append(firing, alert(StatusFiring, "f"+s, "drain", "be_app", s, t0))
		resolved = append(resolved, alert(StatusResolved, "f"+s, "drain", "be_app", s, t0))
	}
	hs.mustPost(body(firing...))
	hs.mustReconcile()
	hs.clock.Advance(time.Minute)
	hs.mustPost(body(resolved...)) // Prometheus stopped: everything resolves at once
	hs.mustReconcile()
	for _, s := range []string{"web1", "web2", "web3"} {
		hs.wantAdmin("be_app", s, haproxyapi.StateDrain)
	}
	// Prometheus restarts: web2's alert fires again (new startsAt).
	hs.clock.Advance(2 * time.Minute)
	hs.mustPost(body(alert(StatusFiring, "fweb2", "drain", "be_app", "web2", hs.clock.Now())))
	hs.clock.Advance(4 * time.Minute)
	hs.mustReconcile()
	hs.wantAdmin("be_app", "web1", haproxyapi.StateReady)
	hs.wantAdmin("be_app", "web2", haproxyapi.StateDrain)
	hs.wantAdmin("be_app", "web3", haproxyapi.StateReady)
	if !strings.Contains(hs.logs.String(), "Many alerts resolved at once") {
		t.Fatal("mass resolve not logged")
	}
}

func TestWeightActionsAndAgentRefusal(t *testing.T) {
	srvs := servers(map[string][]string{"be_app": {"web1", "web2", "web3"}})
	srvs[2].Agent = true
	hs := newHarness(t, `
rules:
  - name: slow
    match: {alertname: Slow}
    action: weight 50%
    target: {by: address}
  - name: slower
    match: {alertname: Slower}
    action: weight 20%
    target: {by: address}
`, srvs)
	t0 := hs.clock.Now()
	w := func(status, fp, name, addr string) template.Alert {
		return template.Alert{Status: status, Fingerprint: fp, StartsAt: t0, EndsAt: t0.Add(time.Minute), Labels: template.KV{"alertname": name, "instance": addr + ":9100"}}
	}
	hs.mustPost(body(w(StatusFiring, "s1", "Slow", srvs[0].Addr), w(StatusFiring, "s3", "Slow", srvs[2].Addr)))
	hs.mustReconcile()
	if hs.weight("be_app", "web1") != 50 {
		t.Fatalf("web1 weight %d, want 50", hs.weight("be_app", "web1"))
	}
	if hs.weight("be_app", "web3") != 100 {
		t.Fatal("weight changed on a server with an enabled agent")
	}
	if !strings.Contains(hs.logs.String(), "Weight action refused: agent-check enabled") {
		t.Fatal("refusal not logged")
	}
	// A stronger (lower) weight, then a drain on top: facets are independent.
	hs.mustPost(body(w(StatusFiring, "s1b", "Slower", srvs[0].Addr)))
	hs.mustPost(body(alert(StatusFiring, "d1", "drain", "be_app", "web1", t0)))
	hs.mustReconcile()
	if hs.weight("be_app", "web1") != 20 {
		t.Fatalf("web1 weight %d, want 20", hs.weight("be_app", "web1"))
	}
	hs.wantAdmin("be_app", "web1", haproxyapi.StateDrain)
	hs.mustPost(body(w(StatusResolved, "s1", "Slow", srvs[0].Addr), w(StatusResolved, "s1b", "Slower", srvs[0].Addr)))
	hs.mustReconcile()
	if hs.weight("be_app", "web1") != 100 {
		t.Fatalf("web1 weight %d after the alerts ended, want 100", hs.weight("be_app", "web1"))
	}
	hs.wantAdmin("be_app", "web1", haproxyapi.StateDrain)
	// An operator's weight change is left alone.
	hs.mustPost(body(w(StatusFiring, "s2", "Slow", srvs[1].Addr)))
	hs.mustReconcile()
	hs.h.Operator("set weight be_app/web2 70")
	hs.mustReconcile()
	hs.mustPost(body(w(StatusResolved, "s2", "Slow", srvs[1].Addr)))
	hs.mustReconcile()
	if hs.weight("be_app", "web2") != 70 {
		t.Fatalf("operator weight undone: %d", hs.weight("be_app", "web2"))
	}
}

func TestHAProxyDownThenBack(t *testing.T) {
	hs := newHarness(t, "", three())
	hs.h.SetDown(true)
	t0 := hs.clock.Now()
	hs.mustPost(body(alert(StatusFiring, "f1", "drain", "be_app", "web1", t0))) // 200: intent recorded
	if err := hs.reconcile(); err == nil {
		t.Fatal("reconcile with HAProxy down reported success")
	}
	if v := hs.r.StateView(); v.Sockets[hs.h.Socket.Addr].Up || v.LastReconcileOK {
		t.Fatalf("socket shown up: %+v", v.Sockets)
	}
	hs.h.SetDown(false)
	hs.mustReconcile()
	hs.wantAdmin("be_app", "web1", haproxyapi.StateDrain)
}

func TestAllSocketsGetTheAction(t *testing.T) {
	h1 := haproxytest.NewHAProxy(t, three())
	h2 := haproxytest.NewHAProxy(t, three())
	cfg := Default()
	cfg.HAProxy.Sockets = []string{h1.Socket.Addr, h2.Socket.Addr}
	cfg.Rebalancer.StateFile = t.TempDir() + "/s.json"
	if err := cfg.Complete(); err != nil {
		t.Fatal(err)
	}
	r, err := New(Options{Config: cfg, DisableExporterMetrics: true})
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := DecodeMessage(body(alert(StatusFiring, "f1", "maint", "be_app", "web2", time.Now())))
	if _, err := r.Record(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	if err := r.Reconcile(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	for i, h := range []*haproxytest.HAProxy{h1, h2} {
		s, _ := h.Server("be_app", "web2")
		if haproxyapi.AdminFlags(s.Admin).State() != haproxyapi.StateMaint {
			t.Errorf("socket %d: web2 not in maint", i)
		}
	}
	if n := len(r.StateView().Owned); n != 2 {
		t.Fatalf("%d ownership records, want one per socket", n)
	}
}

func TestDryRunTouchesNothing(t *testing.T) {
	hs := newHarness(t, "rebalancer: {dry_run: true}\nguard: {min_ready: 2}", three())
	t0 := hs.clock.Now()
	hs.mustPost(body(alert(StatusFiring, "f1", "drain", "be_app", "web1", t0), alert(StatusFiring, "f2", "drain", "be_app", "web2", t0.Add(time.Second))))
	hs.mustReconcile()
	hs.mustReconcile()
	if c := hs.setCommands(); len(c) != 0 {
		t.Fatalf("dry run sent %v", c)
	}
	logs := hs.logs.String()
	if !strings.Contains(logs, "result=dry_run") || !strings.Contains(logs, "server=web1") {
		t.Fatalf("dry run did not log the plan:\n%s", logs)
	}
	// The guard sees the simulated drain of web1: web2 is deferred.
	if n := strings.Count(logs, "command=\"set server be_app/web1 state drain\""); n != 1 {
		t.Fatalf("planned drain logged %d times, want once", n)
	}
	if !strings.Contains(logs, "Action deferred by the guard") {
		t.Fatal("dry run guard did not count the simulated drain")
	}
	if _, err := OpenStore(hs.cfg.Rebalancer.StateFile); err != nil {
		t.Fatal(err)
	}
	if fileExists(hs.cfg.Rebalancer.StateFile) {
		t.Fatal("dry run wrote the state file")
	}
}

func TestCrashRecoveryPendingAndRestoring(t *testing.T) {
	hs := newHarness(t, "", three())
	t0 := hs.clock.Now()
	sock := hs.h.Socket.Addr
	inc := incarnation("f1", t0)
	// The previous process recorded a pending drain of web1 and died before
	// sending it; and a pending drain of web2 that it did send.
	hs.r.store.Observe([]Observation{obs2("f1", "web1", t0), obs2("f2", "web2", t0)}, t0, noMass)
	hs.r.store.Update(func(st *State) {
		for _, s := range []string{"web1", "web2"} {
			st.Owned[ownKey(sock, refOf("be_app", s))] = &Ownership{Socket: sock, Backend: "be_app", Server: s,
				Admin: &AdminOwn{State: haproxyapi.StateDrain, Prev: haproxyapi.StateReady, Phase: PhasePending, Alerts: []string{inc}}}
		}
	})
	if err := hs.r.store.SyncAll(); err != nil {
		t.Fatal(err)
	}
	hs.h.Operator("set server be_app/web2 state drain")
	hs.start()
	hs.mustReconcile()
	hs.wantAdmin("be_app", "web1", haproxyapi.StateDrain)
	hs.wantAdmin("be_app", "web2", haproxyapi.StateDrain)
	for k, o := range hs.owned() {
		if o.Admin == nil || o.Admin.Phase != PhaseApplied {
			t.Fatalf("%s: %+v", k, o.Admin)
		}
	}
	// A restore recorded but not sent is completed; one sent is confirmed.
	hs.r.store.Observe([]Observation{obs2r("f1", "web1", t0), obs2r("f2", "web2", t0)}, t0, noMass)
	hs.r.store.Update(func(st *State) {
		for _, o := range st.Owned {
			o.Admin.Phase = PhaseRestoring
		}
	})
	_ = hs.r.store.SyncAll()
	hs.h.Operator("set server be_app/web2 state ready")
	hs.start()
	hs.mustReconcile()
	hs.wantAdmin("be_app", "web1", haproxyapi.StateReady)
	hs.wantAdmin("be_app", "web2", haproxyapi.StateReady)
	if len(hs.owned()) != 0 {
		t.Fatalf("owned after restores: %v", hs.owned())
	}
	if strings.Contains(hs.logs.String(), "changed outside lbpilot") {
		t.Fatal("crash recovery mistaken for an operator change")
	}
}

func obs2(fp, server string, t0 time.Time) Observation {
	return Observation{Fingerprint: fp, Status: StatusFiring, StartsAt: t0, At: t0, Rule: DefaultRuleName, Source: SourceWebhook,
		Labels: map[string]string{LabelAction: "drain", LabelBackend: "be_app", LabelServer: server}}
}

func obs2r(fp, server string, t0 time.Time) Observation {
	o := obs2(fp, server, t0)
	o.Status, o.At, o.EndsAt = StatusResolved, t0.Add(time.Minute), t0.Add(time.Minute)
	return o
}

func TestServerRemovedFromConfigIsForgotten(t *testing.T) {
	hs := newHarness(t, "", three())
	t0 := hs.clock.Now()
	sock := hs.h.Socket.Addr
	hs.r.store.Update(func(st *State) {
		st.Owned[ownKey(sock, refOf("be_app", "gone"))] = &Ownership{Socket: sock, Backend: "be_app", Server: "gone",
			Admin: &AdminOwn{State: haproxyapi.StateDrain, Prev: haproxyapi.StateReady, Phase: PhaseApplied, Since: t0}}
	})
	hs.mustReconcile()
	if len(hs.owned()) != 0 {
		t.Fatal("ownership of a vanished server kept")
	}
}

func TestUnresolvedAlertLoggedOnce(t *testing.T) {
	hs := newHarness(t, "", three())
	hs.mustPost(body(alert(StatusFiring, "f9", "drain", "be_app", "web9", hs.clock.Now())))
	hs.mustReconcile()
	hs.mustReconcile()
	if n := strings.Count(hs.logs.String(), "Alert resolves to no server"); n != 1 {
		t.Fatalf("logged %d times", n)
	}
	if c := hs.setCommands(); len(c) != 0 {
		t.Fatalf("commands %v", c)
	}
}

// shutdownSocket is a real socket whose Apply waits for the context to
// end: a SIGTERM arriving mid-apply.
type shutdownSocket struct {
	Socket
	applying chan struct{}
}

func (s shutdownSocket) Apply(ctx context.Context, cmds []haproxyapi.Command) (haproxyapi.Results, error) {
	close(s.applying)
	<-ctx.Done()
	return nil, fmt.Errorf("write: %w", ctx.Err())
}

// TestShutdownMidApplySaysWhatHappened: a cycle cut by shutdown logs
// that, at warn and info level, not as socket or read-back errors, and
// keeps the intent pending for the next start.
func TestShutdownMidApplySaysWhatHappened(t *testing.T) {
	hs := newHarness(t, "", three())
	sock, err := NewSocket(hs.h.Socket.Addr)
	if err != nil {
		t.Fatal(err)
	}
	ss := shutdownSocket{Socket: sock, applying: make(chan struct{})}
	r, err := New(Options{Config: hs.cfg, Sockets: []Socket{ss}, Logger: log.NewLogfmtLogger(hs.logs), Now: hs.clock.Now, DisableExporterMetrics: true})
	if err != nil {
		t.Fatal(err)
	}
	hs.r = r
	hs.mustPost(body(alert(StatusFiring, "f1", "drain", "be_app", "web1", hs.clock.Now())))
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-ss.applying
		cancel()
	}()
	_ = r.Reconcile(ctx, false)
	logs := hs.logs.String()
	if !strings.Contains(logs, "interrupted by shutdown") {
		t.Errorf("the interrupted action is not explained:\n%s", logs)
	}
	for _, bad := range []string{"level=error", "socket unreachable", "Read-back after applying failed"} {
		if strings.Contains(logs, bad) {
			t.Errorf("log says %q for a shutdown:\n%s", bad, logs)
		}
	}
	if owned := r.StateView().Owned; len(owned) != 1 || owned[0].Admin == nil || owned[0].Admin.Phase != PhasePending {
		t.Errorf("the intent is not kept pending for the next start: %+v", owned)
	}
}

// TestRescueFloor: web1 is drained for its alert while web2 is usable
// (the guard allows it); web2 then fails its health check and the
// backend has no usable server. The rebalancer sets web1 ready again
// although its alert still fires, and drains it anew only once web2 is
// back.
func TestRescueFloor(t *testing.T) {
	hs := newHarness(t, "", servers(map[string][]string{"be_app": {"web1", "web2"}}))
	t0 := hs.clock.Now()
	hs.mustPost(body(alert(StatusFiring, "f1", "drain", "be_app", "web1", t0)))
	hs.mustReconcile()
	hs.wantAdmin("be_app", "web1", haproxyapi.StateDrain)

	hs.h.SetUp("be_app", "web2", false)
	hs.clock.Advance(time.Second)
	hs.mustReconcile()
	hs.wantAdmin("be_app", "web1", haproxyapi.StateReady)
	if !strings.Contains(hs.logs.String(), "lifting its own drain") {
		t.Errorf("the rescue is not logged:\n%s", hs.logs.String())
	}
	// The alert still fires: the drain waits for the guard.
	hs.clock.Advance(time.Second)
	hs.mustReconcile()
	hs.wantAdmin("be_app", "web1", haproxyapi.StateReady)

	hs.h.SetUp("be_app", "web2", true)
	hs.clock.Advance(time.Second)
	hs.mustReconcile()
	hs.wantAdmin("be_app", "web1", haproxyapi.StateDrain)
}

// TestRescueFloorLeavesOthersAlone: a backend that keeps its floor, and a
// drained server that is itself down, are not touched.
func TestRescueFloorLeavesOthersAlone(t *testing.T) {
	hs := newHarness(t, "", three())
	t0 := hs.clock.Now()
	hs.mustPost(body(alert(StatusFiring, "f1", "drain", "be_app", "web1", t0)))
	hs.mustReconcile()
	hs.wantAdmin("be_app", "web1", haproxyapi.StateDrain)
	hs.h.SetUp("be_app", "web2", false) // web3 still usable
	hs.clock.Advance(time.Second)
	hs.mustReconcile()
	hs.wantAdmin("be_app", "web1", haproxyapi.StateDrain)
	// web1 down too, web3 down: nothing usable, but web1 would not be
	// usable ready either.
	hs.h.SetUp("be_app", "web1", false)
	hs.h.SetUp("be_app", "web3", false)
	hs.clock.Advance(time.Second)
	hs.mustReconcile()
	hs.wantAdmin("be_app", "web1", haproxyapi.StateDrain)
}

// TestRescueFloorOnFailingChecks: the last usable server failing its
// health checks (HAProxy still shows it up until `fall` failures) is
// enough to lift the drain, so the backend is not left empty while
// HAProxy counts the failures; a drain is not allowed meanwhile either.
func TestRescueFloorOnFailingChecks(t *testing.T) {
	hs := newHarness(t, "", servers(map[string][]string{"be_app": {"web1", "web2"}}))
	t0 := hs.clock.Now()
	hs.mustPost(body(alert(StatusFiring, "f1", "drain", "be_app", "web1", t0)))
	hs.mustReconcile()
	hs.wantAdmin("be_app", "web1", haproxyapi.StateDrain)

	hs.h.SetFailing("be_app", "web2", true)
	hs.clock.Advance(time.Second)
	hs.mustReconcile()
	hs.wantAdmin("be_app", "web1", haproxyapi.StateReady)
	hs.clock.Advance(time.Second)
	hs.mustReconcile()
	hs.wantAdmin("be_app", "web1", haproxyapi.StateReady)

	hs.h.SetFailing("be_app", "web2", false)
	hs.clock.Advance(time.Second)
	hs.mustReconcile()
	hs.wantAdmin("be_app", "web1", haproxyapi.StateDrain)
}
