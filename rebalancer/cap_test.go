package rebalancer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lbpilot/lbpilot/internal/haproxyapi"
)

// maxconn returns the session limit HAProxy shows for a server (0: none).
func (hs *harness) maxconn(b, s string) int {
	hs.t.Helper()
	srv, ok := hs.h.Server(b, s)
	if !ok {
		hs.t.Fatalf("no server %s/%s", b, s)
	}
	return srv.MaxConn
}

func (hs *harness) mustReconcileAt(d time.Duration) {
	hs.t.Helper()
	hs.clock.Advance(d)
	hs.mustReconcile()
}

// A drain the guard holds back for headroom caps the server at its
// sessions, and the nearly full peer too; the caps go when the alert
// ends, and are never sent again while they hold.
func TestSessionCapWhileDrainHeldBack(t *testing.T) {
	hs := newHarness(t, "", servers(map[string][]string{"be_app": {"web1", "web2"}}))
	hs.h.Operator("set weight be_app/web2 30") // web2's agent: nearly full
	hs.h.SetSessions("be_app", "web1", 27)
	hs.h.SetSessions("be_app", "web2", 55)
	t0 := hs.clock.Now()
	hs.mustPost(body(alert(StatusFiring, "f1", "drain", "be_app", "web1", t0)))
	hs.mustReconcile()
	hs.wantAdmin("be_app", "web1", haproxyapi.StateReady)
	if got := hs.maxconn("be_app", "web1"); got != 27 {
		t.Fatalf("maxconn %d, want the 27 sessions it had\n%s", got, hs.logs.String())
	}
	if got := hs.maxconn("be_app", "web2"); got != 55 {
		t.Fatalf("peer's maxconn %d, want its 55 sessions", got)
	}
	if got := testutil.ToFloat64(hs.r.m.actions.WithLabelValues(ActCap, ResultSuccess)); got != 2 {
		t.Errorf("actions_total{cap,success} = %v", got)
	}
	// Sessions move; the cap stays where it was set, and is not resent.
	hs.h.SetSessions("be_app", "web1", 20)
	n := len(hs.h.Commands())
	hs.mustReconcileAt(time.Second)
	hs.mustReconcileAt(time.Second)
	for _, c := range hs.h.Commands()[n:] {
		if strings.HasPrefix(c, "set ") && c != "set severity-output number" {
			t.Errorf("sent %q while the cap holds", c)
		}
	}
	var own *Ownership
	hs.r.store.View(func(st *State) {
		for _, o := range st.Owned {
			if o.Server == "web1" {
				own = o.clone()
			}
		}
	})
	if own == nil || own.Cap == nil || own.Cap.Set != 27 || own.Cap.Prev != 0 || own.Cap.Phase != PhaseApplied || own.Admin != nil || len(own.Cap.Alerts) != 1 {
		t.Fatalf("ownership %+v", own)
	}

	hs.mustPost(body(alert(StatusResolved, "f1", "drain", "be_app", "web1", t0)))
	hs.mustReconcileAt(time.Second)
	if a, b := hs.maxconn("be_app", "web1"), hs.maxconn("be_app", "web2"); a != 0 || b != 0 {
		t.Fatalf("maxconn %d, %d after the alert ended, want 0 (none, as configured)", a, b)
	}
	hs.mustReconcileAt(time.Second)
	hs.r.store.View(func(st *State) {
		if len(st.Owned) != 0 {
			t.Errorf("still owned after the lift: %+v", st.Owned)
		}
	})
	es, err := hs.r.hist.Query(HistoryFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var acts []string
	for _, e := range es {
		if e.Kind == HistApplied || e.Kind == HistRestored {
			acts = append(acts, e.Action)
		}
	}
	if len(acts) != 4 || strings.Count(strings.Join(acts, ","), "restore_cap") != 2 {
		t.Errorf("history actions %v, want two caps and two restore_caps", acts)
	}
}

// The cap gives way to the drain once the guard lets the drain through,
// and a configured maxconn comes back as it was.
func TestSessionCapLiftedWhenDrainPasses(t *testing.T) {
	hs := newHarness(t, "", servers(map[string][]string{"be_app": {"web1", "web2"}}))
	hs.h.Operator("set maxconn server be_app/web1 500") // the configuration's
	hs.h.Operator("set weight be_app/web2 30")
	hs.h.SetSessions("be_app", "web1", 40)
	t0 := hs.clock.Now()
	hs.mustPost(body(alert(StatusFiring, "f1", "drain", "be_app", "web1", t0)))
	hs.mustReconcile()
	if got := hs.maxconn("be_app", "web1"); got != 40 {
		t.Fatalf("maxconn %d, want 40", got)
	}
	hs.h.Operator("set weight be_app/web2 100") // web2 has room: drain
	hs.mustReconcileAt(time.Second)
	hs.wantAdmin("be_app", "web1", haproxyapi.StateDrain)
	if got := hs.maxconn("be_app", "web1"); got != 500 {
		t.Fatalf("maxconn %d after the drain went through, want the configured 500 back", got)
	}
}

func TestSessionCapNotApplied(t *testing.T) {
	for _, tt := range []struct {
		name, cfg   string
		sessions    int
		preset      string // an operator's command before the alert
		wantMaxconn int
	}{
		{"session_cap off", "guard: {session_cap: false}", 30, "", 0},
		{"off for the backend", "guard: {backends: {be_app: {session_cap: false}}}", 30, "", 0},
		{"already limited lower", "", 30, "set maxconn server be_app/web1 20", 20},
		{"already limited to as much", "", 30, "set maxconn server be_app/web1 30", 30},
		{"drain waits for an approval", "rebalancer: {approve: true}", 30, "", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			hs := newHarness(t, tt.cfg, servers(map[string][]string{"be_app": {"web1", "web2"}}))
			hs.h.Operator("set weight be_app/web2 30")
			if tt.preset != "" {
				hs.h.Operator(tt.preset)
			}
			hs.h.SetSessions("be_app", "web1", tt.sessions)
			hs.mustPost(body(alert(StatusFiring, "f1", "drain", "be_app", "web1", hs.clock.Now())))
			hs.mustReconcile()
			hs.mustReconcileAt(time.Second)
			if got := hs.maxconn("be_app", "web1"); got != tt.wantMaxconn {
				t.Fatalf("maxconn %d, want %d", got, tt.wantMaxconn)
			}
			for _, c := range hs.h.Commands() {
				if strings.HasPrefix(c, "set maxconn server be_app/web1") || (tt.preset == "" && strings.HasPrefix(c, "set maxconn")) {
					t.Errorf("sent %q", c)
				}
			}
		})
	}
}

// The last server of a backend (min_ready) with no session gets a cap of
// one, not zero (which would lift every limit).
func TestSessionCapAtLeastOne(t *testing.T) {
	hs := newHarness(t, "", servers(map[string][]string{"be_app": {"web1"}}))
	hs.mustPost(body(alert(StatusFiring, "f1", "drain", "be_app", "web1", hs.clock.Now())))
	hs.mustReconcile()
	if got := hs.maxconn("be_app", "web1"); got != 1 {
		t.Fatalf("maxconn %d, want 1", got)
	}
	if d := hs.r.StateView().Sockets[hs.h.Socket.Addr].Deferred; len(d) != 1 || d[0].Reason != GuardMinReady {
		t.Fatalf("deferred %+v", d)
	}
}

// An operator's own maxconn on a capped server releases it: lbpilot
// neither lifts it nor caps it again for the same alert. A reload drops
// the cap, and lbpilot sets it again.
func TestSessionCapOperatorAndReload(t *testing.T) {
	hs := newHarness(t, "", servers(map[string][]string{"be_app": {"web1", "web2"}}))
	hs.h.Operator("set weight be_app/web2 30")
	hs.h.SetSessions("be_app", "web1", 25)
	t0 := hs.clock.Now()
	hs.mustPost(body(alert(StatusFiring, "f1", "drain", "be_app", "web1", t0)))
	hs.mustReconcile()
	hs.h.Reload()
	hs.h.Operator("set weight be_app/web2 30") // the agent says so again
	hs.h.SetSessions("be_app", "web1", 25)
	hs.mustReconcileAt(time.Second)
	if !strings.Contains(hs.logs.String(), "facet=cap") || hs.maxconn("be_app", "web1") != 25 {
		t.Fatalf("maxconn after a reload %d, want the cap set again\n%s", hs.maxconn("be_app", "web1"), hs.logs.String())
	}
	hs.mustReconcileAt(time.Second)
	hs.h.Operator("set maxconn server be_app/web1 70")
	hs.mustReconcileAt(time.Second)
	hs.mustReconcileAt(time.Second)
	if got := hs.maxconn("be_app", "web1"); got != 70 {
		t.Fatalf("maxconn %d, want the operator's 70 left alone", got)
	}
	if !strings.Contains(hs.logs.String(), "HAProxy shows maxconn 70 instead of the 25 lbpilot set") {
		t.Errorf("no operator note:\n%s", hs.logs.String())
	}
	hs.mustPost(body(alert(StatusResolved, "f1", "drain", "be_app", "web1", t0)))
	hs.mustReconcileAt(time.Second)
	if got := hs.maxconn("be_app", "web1"); got != 70 {
		t.Fatalf("maxconn %d after the alert, want the operator's 70", got)
	}
}

// An operator's hold on a capped server: the hold takes the admin state,
// lbpilot lifts its cap.
func TestSessionCapLiftedOnHold(t *testing.T) {
	hs := newHarness(t, "", servers(map[string][]string{"be_app": {"web1", "web2"}}))
	hs.h.Operator("set weight be_app/web2 30")
	hs.h.SetSessions("be_app", "web1", 25)
	hs.mustPost(body(alert(StatusFiring, "f1", "drain", "be_app", "web1", hs.clock.Now())))
	hs.mustReconcile()
	if hs.maxconn("be_app", "web1") != 25 {
		t.Fatal("no cap")
	}
	hs.mustOp("POST", "/api/v1/servers/be_app/web1/ready", obj{"reason": "r", "author": "a"})
	hs.mustReconcileAt(time.Second)
	if got := hs.maxconn("be_app", "web1"); got != 0 {
		t.Fatalf("maxconn %d on a held server, want lbpilot's cap lifted", got)
	}
}

// failingLimits is a socket whose show stat fails.
type failingLimits struct{ Socket }

func (failingLimits) Limits(context.Context) (map[haproxyapi.ServerRef]SessionLimit, error) {
	return nil, errors.New("boom")
}

func TestSessionCapLimitsUnreadable(t *testing.T) {
	hs := newHarness(t, "", servers(map[string][]string{"be_app": {"web1", "web2"}}))
	hs.h.Operator("set weight be_app/web2 30")
	hs.mustPost(body(alert(StatusFiring, "f1", "drain", "be_app", "web1", hs.clock.Now())))
	hs.r.sockets[0] = failingLimits{hs.r.sockets[0]}
	hs.mustReconcile()
	if got := hs.maxconn("be_app", "web1"); got != 0 {
		t.Fatalf("maxconn %d without limits read", got)
	}
	if !strings.Contains(hs.logs.String(), "Reading the servers' sessions for the session cap failed") {
		t.Errorf("no warning:\n%s", hs.logs.String())
	}
}

func TestLimitsOf(t *testing.T) {
	st, err := haproxyapi.ParseStat([]byte("# pxname,svname,qcur,scur,slim,type\nbe,FRONTEND,0,3,,0\nbe,a,0,7,,2\nbe,b,0,4,10,2\nbe,c,0,,5,2\nbe,BACKEND,0,11,,1\n\n"))
	if err != nil {
		t.Fatal(err)
	}
	got := limitsOf(st)
	want := map[haproxyapi.ServerRef]SessionLimit{refOf("be", "a"): {7, 0}, refOf("be", "b"): {4, 10}}
	if len(got) != len(want) || got[refOf("be", "a")] != want[refOf("be", "a")] || got[refOf("be", "b")] != want[refOf("be", "b")] {
		t.Fatalf("limitsOf = %+v, want %+v", got, want)
	}
}

// Dry run: the cap is simulated, so the next cycle sees it and sends
// nothing more.
func TestSessionCapDryRun(t *testing.T) {
	hs := newHarness(t, "", servers(map[string][]string{"be_app": {"web1", "web2"}}))
	hs.h.Operator("set weight be_app/web2 30")
	hs.h.SetSessions("be_app", "web1", 12)
	d := newDryRunSocket(hs.r.sockets[0])
	hs.r.sockets[0], hs.r.dryRun = d, true
	hs.mustPost(body(alert(StatusFiring, "f1", "drain", "be_app", "web1", hs.clock.Now())))
	hs.mustReconcile()
	hs.mustReconcileAt(time.Second)
	if got := hs.maxconn("be_app", "web1"); got != 0 {
		t.Fatalf("dry run changed maxconn to %d", got)
	}
	l, err := d.Limits(context.Background())
	if err != nil || l[refOf("be_app", "web1")].MaxConn != 12 {
		t.Fatalf("dry run limits %+v %v", l, err)
	}
	if got := testutil.ToFloat64(hs.r.m.actions.WithLabelValues(ActCap, ResultDryRun)); got != 2 {
		t.Errorf("dry-run caps %v, want 2 (web1 and its loaded peer; the second cycle finds them in effect)", got)
	}
}

// A resolved alert a mass-resolve grace keeps in force holds what was
// done for it and starts nothing: web1's drain stays until the grace
// ends; web3's, held back by the guard (and capped) while it fired, gets
// no cap again after web2's trip, nor a drain.
func TestMassResolveHeldAlertStartsNothing(t *testing.T) {
	hs := newHarness(t, "guard: {min_ready: 2}\nmass_resolve: {min_alerts: 2, window: 1m, grace: 5m}",
		servers(map[string][]string{"be_app": {"web1", "web2", "web3"}}))
	t0 := hs.clock.Now()
	hs.mustPost(body(alert(StatusFiring, "f1", "drain", "be_app", "web1", t0)))
	hs.mustReconcile()
	hs.mustPost(body(alert(StatusFiring, "f3", "drain", "be_app", "web3", t0)))
	hs.mustReconcileAt(time.Second)
	hs.wantAdmin("be_app", "web1", haproxyapi.StateDrain)
	hs.wantAdmin("be_app", "web3", haproxyapi.StateReady) // min_ready 2
	// Both resolve together: a mass resolve.
	hs.mustPost(body(alert(StatusResolved, "f1", "drain", "be_app", "web1", t0), alert(StatusResolved, "f3", "drain", "be_app", "web3", t0)))
	hs.mustReconcileAt(time.Second)
	hs.wantAdmin("be_app", "web1", haproxyapi.StateDrain) // its restore waits for the grace
	// web2 goes away and comes back: nothing may drain web3 for an alert that ended.
	hs.h.Operator("set server be_app/web2 state maint")
	hs.mustReconcileAt(time.Second)
	hs.h.Operator("set server be_app/web2 state ready")
	hs.mustReconcileAt(time.Second)
	hs.wantAdmin("be_app", "web3", haproxyapi.StateReady)
	if got := hs.maxconn("be_app", "web3"); got != 0 {
		t.Errorf("web3 capped at %d for an alert that ended", got)
	}
	hs.mustReconcileAt(5 * time.Minute)
	hs.wantAdmin("be_app", "web1", haproxyapi.StateReady)
}

// Peers are capped only when they are what the headroom lacks (weight
// under min_headroom), and only for a headroom deferral: a min_ready one
// has no loaded peer to blame.
func TestSessionCapPeers(t *testing.T) {
	hs := newHarness(t, "", servers(map[string][]string{"be_app": {"web1", "web2", "web3"}, "be_one": {"solo"}}))
	hs.h.Operator("set weight be_app/web2 20")
	hs.h.Operator("set weight be_app/web3 60") // (20+60)/200 < 0.5: deferred
	for _, s := range []string{"web1", "web2", "web3"} {
		hs.h.SetSessions("be_app", s, 10)
	}
	hs.h.SetSessions("be_one", "solo", 7)
	hs.mustPost(body(alert(StatusFiring, "f1", "drain", "be_app", "web1", hs.clock.Now()),
		alert(StatusFiring, "f2", "drain", "be_one", "solo", hs.clock.Now())))
	hs.mustReconcile()
	for _, c := range []struct {
		b, s string
		want int
	}{{"be_app", "web1", 10}, {"be_app", "web2", 10}, {"be_app", "web3", 0}, {"be_one", "solo", 7}} {
		if got := hs.maxconn(c.b, c.s); got != c.want {
			t.Errorf("%s/%s maxconn %d, want %d", c.b, c.s, got, c.want)
		}
	}
	// web2 empties and gets its weight back: the drain goes through,
	// every cap of be_app is lifted.
	hs.h.Operator("set weight be_app/web2 100")
	hs.mustReconcileAt(time.Second)
	hs.wantAdmin("be_app", "web1", haproxyapi.StateDrain)
	if a, b := hs.maxconn("be_app", "web1"), hs.maxconn("be_app", "web2"); a != 0 || b != 0 {
		t.Errorf("caps %d, %d after the drain went through", a, b)
	}
}

// capRules: a rule for error alerts that never caps, one for load alerts
// that always does; the built-in rule (alertname Test) inherits.
const capRules = `
rules:
  - name: errors
    matchers: ['alertname="Errors"']
    action_label: lbpilot_action
    session_cap: false
  - name: load
    matchers: ['alertname="Load"']
    action_label: lbpilot_action
    session_cap: true
`

func named(a template.Alert, name string) template.Alert {
	a.Labels["alertname"] = name
	return a
}

// A held drain is capped only if a rule that wants it allows the cap:
// an error alert on a backend's last server does not make it refuse
// sessions, a load alert does, and a rule's session_cap (set) wins over
// the guard's.
func TestSessionCapPerRule(t *testing.T) {
	for _, tt := range []struct {
		name, guard string
		alerts      []string // alertnames firing for solo's drain (fingerprints e0, e1 …)
		want        int
	}{
		{"error rule", "", []string{"Errors"}, 0},
		{"load rule", "", []string{"Load"}, 7},
		{"error and load rules", "", []string{"Errors", "Load"}, 7},
		{"unset inherits the global default", "", []string{"Test"}, 7},
		{"unset inherits session_cap off", "guard: {session_cap: false}", []string{"Test"}, 0},
		{"unset inherits the backend's off", "guard: {backends: {be_one: {session_cap: false}}}", []string{"Test"}, 0},
		{"error rule with an unset one", "", []string{"Errors", "Test"}, 7},
		{"rule on over the guard's off", "guard: {session_cap: false}", []string{"Load"}, 7},
		{"rule off over the backend's on", "guard: {session_cap: false, backends: {be_one: {session_cap: true}}}", []string{"Errors"}, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			hs := newHarness(t, tt.guard+capRules, servers(map[string][]string{"be_one": {"solo"}}))
			hs.h.SetSessions("be_one", "solo", 7)
			var as []template.Alert
			for i, n := range tt.alerts {
				as = append(as, named(alert(StatusFiring, fmt.Sprintf("e%d", i), "drain", "be_one", "solo", hs.clock.Now()), n))
			}
			hs.mustPost(body(as...))
			hs.mustReconcile()
			hs.mustReconcileAt(time.Second)
			hs.wantAdmin("be_one", "solo", haproxyapi.StateReady) // min_ready holds the drain back
			if got := hs.maxconn("be_one", "solo"); got != tt.want {
				t.Fatalf("maxconn %d, want %d\n%s", got, tt.want, hs.logs.String())
			}
			if tt.want == 0 {
				for _, c := range hs.h.Commands() {
					if strings.HasPrefix(c, "set maxconn") {
						t.Errorf("sent %q", c)
					}
				}
			}
		})
	}
}

// The cap belongs to the alerts whose rules allow it: when the load alert
// ends, the cap is lifted although an error alert still wants the drain
// (and the guard still holds it back); the load alert firing again caps
// again.
func TestSessionCapLiftedWhenOnlyErrorsRemain(t *testing.T) {
	hs := newHarness(t, capRules, servers(map[string][]string{"be_one": {"solo"}}))
	hs.h.SetSessions("be_one", "solo", 9)
	t0 := hs.clock.Now()
	errs := named(alert(StatusFiring, "e0", "drain", "be_one", "solo", t0), "Errors")
	load := named(alert(StatusFiring, "l0", "drain", "be_one", "solo", t0.Add(time.Second)), "Load")
	hs.mustPost(body(errs, load))
	hs.mustReconcile()
	if got := hs.maxconn("be_one", "solo"); got != 9 {
		t.Fatalf("maxconn %d, want 9", got)
	}
	var own *Ownership
	hs.r.store.View(func(st *State) {
		for _, o := range st.Owned {
			own = o.clone()
		}
	})
	if own == nil || own.Cap == nil || len(own.Cap.Alerts) != 1 || !strings.HasPrefix(own.Cap.Alerts[0], "l0") || len(own.Cap.Rules) != 1 || own.Cap.Rules[0] != "load" {
		t.Fatalf("cap ownership %+v, want the load alert and rule only", own)
	}
	hs.mustPost(body(named(alert(StatusResolved, "l0", "drain", "be_one", "solo", t0.Add(time.Second)), "Load")))
	hs.mustReconcileAt(time.Second)
	if got := hs.maxconn("be_one", "solo"); got != 0 {
		t.Fatalf("maxconn %d with only the error alert left, want the cap lifted", got)
	}
	if d := hs.r.StateView().Sockets[hs.h.Socket.Addr].Deferred; len(d) != 1 || d[0].Reason != GuardMinReady {
		t.Fatalf("deferred %+v, want the error alert's drain still held back", d)
	}
	hs.mustPost(body(named(alert(StatusFiring, "l0", "drain", "be_one", "solo", t0.Add(time.Minute)), "Load")))
	hs.mustReconcileAt(time.Second)
	if got := hs.maxconn("be_one", "solo"); got != 9 {
		t.Fatalf("maxconn %d after the load alert fired again, want 9", got)
	}
}

// A headroom deferral asked for by an error rule caps neither the server
// nor its loaded peers.
func TestSessionCapPeersFollowTheRule(t *testing.T) {
	for _, tt := range []struct {
		alertname string
		want      int
	}{{"Errors", 0}, {"Load", 10}} {
		t.Run(tt.alertname, func(t *testing.T) {
			hs := newHarness(t, capRules, servers(map[string][]string{"be_app": {"web1", "web2"}}))
			hs.h.Operator("set weight be_app/web2 30")
			hs.h.SetSessions("be_app", "web1", 10)
			hs.h.SetSessions("be_app", "web2", 10)
			hs.mustPost(body(named(alert(StatusFiring, "f1", "drain", "be_app", "web1", hs.clock.Now()), tt.alertname)))
			hs.mustReconcile()
			if d := hs.r.StateView().Sockets[hs.h.Socket.Addr].Deferred; len(d) != 1 || d[0].Reason != GuardHeadroom {
				t.Fatalf("deferred %+v", d)
			}
			if a, b := hs.maxconn("be_app", "web1"), hs.maxconn("be_app", "web2"); a != tt.want || b != tt.want {
				t.Fatalf("maxconn %d, %d, want %d", a, b, tt.want)
			}
		})
	}
}
