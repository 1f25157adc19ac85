package rebalancer

import (
	"fmt"
	"math/rand"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/template"
)

// The model test drives the rebalancer through seeded random sequences of
// what happens in production — firing, resolved, stale resolved, duplicate
// and replayed notifications, operator changes, health changes, HAProxy
// reloads and outages, rebalancer restarts — and checks after every step:
//
//   - floor: a reconcile never takes a backend below min_ready usable
//     servers or above max_unavailable (unless it already was);
//   - operators: lbpilot never restores a server whose state someone else
//     set, never drains/maints over someone else's drain/maint, and after an
//     operator changed a server lbpilot had set, the alerts in force at that
//     moment never act on it again;
//   - restore: after a successful reconcile, every server lbpilot set has an
//     alert in force asking for it (ended alerts are restored within one
//     reconcile interval);
//   - replay: re-delivering any earlier notification changes no alert.
//
// LBPILOT_MODEL_SEEDS and LBPILOT_MODEL_STEPS make it run longer; a failure
// prints the seed and the last operations.

const modelConfig = `
guard:
  min_ready: 1
  max_unavailable: 0.5
  backends:
    be_a: {min_ready: 3, max_unavailable: 0.8}
mass_resolve: {min_alerts: 0}
rules:
  - name: slow
    match: {lbpilot_action: weight50}
    action: weight 50%
  - name: off
    match: {lbpilot_action: weight0}
    action: weight 0%
`

type mAlert struct {
	fp, backend, server, action string
	startsAt                    time.Time
	status                      string
	past                        []time.Time // earlier incarnations (all resolved)
	pastEnd                     []time.Time
}

func (a *mAlert) admin() bool { return a.action == "drain" || a.action == "maint" }

func (a *mAlert) incarnation() string { return incarnation(a.fp, a.startsAt.UTC()) }

type mServer struct {
	setter    string // who set the current admin state: config, rebalancer, operator, reload
	protected map[string]bool
	wSetter   string
	wProt     map[string]bool
	rbWeight  bool // the rebalancer's last weight command was a percentage (not a restore)

	// What lbpilot believes it set (admin state, weight; "" / -1: nothing).
	// When lbpilot next looks and HAProxy shows exactly that, whatever an
	// operator did in between left no trace: nothing can tell it apart, so
	// the model counts the state as lbpilot's again and drops the
	// protection those unseen changes added (back to protAt / wProtAt, the
	// protection as of lbpilot's last look). A reload before lbpilot looked
	// wipes unseen operator changes the same way.
	believed  string
	believedW int
	seen      bool // lbpilot looked since the last operator change
	wSeen     bool
	protAt    map[string]bool
	wProtAt   map[string]bool
}

type world struct {
	t       *testing.T
	hs      *harness
	rng     *rand.Rand
	alerts  []*mAlert
	servers map[string]*mServer // "be/srv"
	history [][]byte
	ops     []string
	down    bool
	seed    int64
	step    int
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func TestModelRandomized(t *testing.T) {
	seeds := envInt("LBPILOT_MODEL_SEEDS", 6)
	steps := envInt("LBPILOT_MODEL_STEPS", 250)
	for seed := int64(1); seed <= int64(seeds); seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { runModel(t, seed, steps) })
	}
}

func runModel(t *testing.T, seed int64, steps int) {
	spec := map[string][]string{"be_a": {"a1", "a2", "a3", "a4", "a5"}, "be_b": {"b1", "b2", "b3"}}
	hs := newHarness(t, modelConfig, servers(spec))
	m := &world{t: t, hs: hs, rng: rand.New(rand.NewSource(seed)), servers: map[string]*mServer{}, seed: seed}
	for b, ns := range spec {
		for _, n := range ns {
			m.servers[b+"/"+n] = &mServer{setter: "config", wSetter: "config", protected: map[string]bool{}, wProt: map[string]bool{},
				believedW: -1, seen: true, wSeen: true, protAt: map[string]bool{}, wProtAt: map[string]bool{}}
		}
	}
	actions := []string{"drain", "drain", "maint", "weight50", "weight0"}
	i := 0
	for _, b := range sortedKeys(spec) {
		for _, n := range spec[b] {
			for k := 0; k < 2; k++ { // two alerts per server, different actions
				a := &mAlert{fp: fmt.Sprintf("%016x", 0xa000+i), backend: b, server: n, action: actions[(i+k*3)%len(actions)]}
				m.alerts = append(m.alerts, a)
				i++
			}
		}
	}
	type op struct {
		w  int
		fn func()
	}
	ops := []op{
		{10, m.fire}, {8, m.resolve}, {3, m.staleResolved}, {3, m.duplicate}, {4, m.replay},
		{4, m.operator}, {2, m.operatorWeight}, {2, m.health}, {1, m.reload}, {1, m.restart}, {1, m.outage}, {12, m.tick},
	}
	total := 0
	for _, o := range ops {
		total += o.w
	}
	for m.step = 0; m.step < steps; m.step++ {
		n := m.rng.Intn(total)
		for _, o := range ops {
			if n < o.w {
				o.fn()
				break
			}
			n -= o.w
		}
	}
	// The end: everything resolves, HAProxy is up; all of lbpilot's changes go away.
	if m.down {
		m.outage()
	}
	for _, a := range m.alerts {
		if a.status == StatusFiring {
			m.deliverResolve(a)
		}
	}
	m.tick()
	m.tick()
	if n := len(hs.owned()); n != 0 {
		m.fail("after every alert ended, %d servers are still owned: %v", n, hs.owned())
	}
}

func (m *world) log(format string, args ...any) {
	m.ops = append(m.ops, fmt.Sprintf("%4d ", m.step)+fmt.Sprintf(format, args...))
}

func (m *world) fail(format string, args ...any) {
	m.t.Helper()
	last := m.ops
	if len(last) > 400 {
		last = last[len(last)-400:]
	}
	m.t.Fatalf("seed %d step %d: %s\nlast operations:\n%s\nrebalancer log (tail):\n%s", m.seed, m.step, fmt.Sprintf(format, args...),
		strings.Join(last, "\n"), tail(m.hs.logs.String(), 40))
}

func tail(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// now moves time forward one second per event so incarnations differ.
func (m *world) now() time.Time {
	m.hs.clock.Advance(time.Second)
	return m.hs.clock.Now()
}

func (m *world) wireAlert(a *mAlert, status string, startsAt, endsAt time.Time) template.Alert {
	return template.Alert{Status: status, Fingerprint: a.fp, StartsAt: startsAt, EndsAt: endsAt,
		Labels: template.KV{"alertname": "Model", LabelAction: a.action, LabelBackend: a.backend, LabelServer: a.server}}
}

// current renders an alert's present state, as Alertmanager re-sends it in group snapshots.
func (m *world) current(a *mAlert) template.Alert {
	if a.status == StatusFiring {
		return m.wireAlert(a, StatusFiring, a.startsAt, time.Time{})
	}
	return m.wireAlert(a, StatusResolved, a.startsAt, a.pastEnd[len(a.pastEnd)-1])
}

func (m *world) deliver(main template.Alert) {
	alerts := []template.Alert{main}
	for k := m.rng.Intn(3); k > 0; k-- { // other alerts of the group, in their current state
		o := m.alerts[m.rng.Intn(len(m.alerts))]
		if o.status != "" && o.fp != main.Fingerprint {
			alerts = append(alerts, m.current(o))
		}
	}
	b := body(alerts...)
	m.history = append(m.history, b)
	if code := m.hs.post(b); code != 200 {
		m.fail("webhook answered %d", code)
	}
}

func (m *world) fire() {
	a := m.alerts[m.rng.Intn(len(m.alerts))]
	if a.status == StatusFiring {
		m.log("fire %s (already firing: duplicate)", a.fp)
		m.deliver(m.current(a))
		return
	}
	a.startsAt, a.status = m.now(), StatusFiring
	m.log("fire %s %s %s/%s", a.fp, a.action, a.backend, a.server)
	m.deliver(m.current(a))
}

func (m *world) resolve() {
	a := m.alerts[m.rng.Intn(len(m.alerts))]
	if a.status != StatusFiring {
		return
	}
	m.deliverResolve(a)
}

func (m *world) deliverResolve(a *mAlert) {
	end := m.now()
	a.status = StatusResolved
	a.past = append(a.past, a.startsAt)
	a.pastEnd = append(a.pastEnd, end)
	m.log("resolve %s %s/%s", a.fp, a.backend, a.server)
	m.deliver(m.current(a))
}

func (m *world) staleResolved() {
	a := m.alerts[m.rng.Intn(len(m.alerts))]
	if len(a.past) == 0 {
		return
	}
	k := m.rng.Intn(len(a.past))
	m.log("stale resolved %s (incarnation %d of %d, now %s)", a.fp, k, len(a.past), a.status)
	m.deliver(m.wireAlert(a, StatusResolved, a.past[k], a.pastEnd[k]))
}

func (m *world) duplicate() {
	if len(m.history) == 0 {
		return
	}
	m.log("duplicate last notification")
	m.replayBody(m.history[len(m.history)-1])
}

func (m *world) replay() {
	if len(m.history) == 0 {
		return
	}
	k := m.rng.Intn(len(m.history))
	m.log("replay notification %d of %d", k, len(m.history))
	m.replayBody(m.history[k])
}

func (m *world) replayBody(b []byte) {
	before := statusOf(m.hs.r.store)
	if code := m.hs.post(b); code != 200 {
		m.fail("replay answered %d", code)
	}
	if after := statusOf(m.hs.r.store); !reflect.DeepEqual(before, after) {
		m.fail("a replayed notification changed the alerts:\nbefore %v\nafter  %v", before, after)
	}
}

func (m *world) pickServer() (string, string, *mServer) {
	keys := sortedKeys(m.servers)
	k := keys[m.rng.Intn(len(keys))]
	b, s, _ := strings.Cut(k, "/")
	return b, s, m.servers[k]
}

// inForce returns the in-force incarnations targeting a server's facet.
func (m *world) inForce(b, s string, admin bool) map[string]bool {
	out := map[string]bool{}
	for _, a := range m.alerts {
		if a.status == StatusFiring && a.backend == b && a.server == s && a.admin() == admin {
			out[a.incarnation()] = true
		}
	}
	return out
}

func (m *world) operator() {
	b, s, ms := m.pickServer()
	st := []string{"ready", "drain", "maint"}[m.rng.Intn(3)]
	if string(m.hs.admin(b, s)) == st {
		return // indistinguishable from no change
	}
	if ms.setter == "rebalancer" && m.hs.admin(b, s) != "ready" { // lbpilot's own drain/maint
		for k := range m.inForce(b, s, true) {
			ms.protected[k] = true
		}
	}
	ms.setter, ms.seen = "operator", false
	m.log("operator: %s/%s state %s", b, s, st)
	m.hs.h.Operator("set server " + b + "/" + s + " state " + st)
}

func (m *world) operatorWeight() {
	b, s, ms := m.pickServer()
	w := []int{30, 70, 100}[m.rng.Intn(3)]
	if m.hs.weight(b, s) == w {
		return
	}
	if ms.wSetter == "rebalancer" && ms.rbWeight {
		for k := range m.inForce(b, s, false) {
			ms.wProt[k] = true
		}
	}
	ms.wSetter, ms.wSeen = "operator", false
	m.log("operator: %s/%s weight %d", b, s, w)
	m.hs.h.Operator(fmt.Sprintf("set weight %s/%s %d", b, s, w))
}

func (m *world) health() {
	b, s, _ := m.pickServer()
	up := m.rng.Intn(3) > 0
	m.log("health: %s/%s up=%v", b, s, up)
	m.hs.h.SetUp(b, s, up)
}

func (m *world) reload() {
	m.log("HAProxy reload")
	m.hs.h.Reload()
	for _, ms := range m.servers {
		ms.setter, ms.wSetter, ms.rbWeight = "reload", "reload", false
		if !ms.seen {
			ms.protected = copySet(ms.protAt)
		}
		if !ms.wSeen {
			ms.wProt = copySet(ms.wProtAt)
		}
	}
}

func (m *world) restart() {
	m.log("rebalancer restart")
	m.hs.start()
}

func (m *world) outage() {
	m.down = !m.down
	m.log("HAProxy unreachable=%v", m.down)
	m.hs.h.SetDown(m.down)
}

type snap struct {
	admin  map[string]string
	weight map[string]int
	usable map[string]int
	total  map[string]int
}

func (m *world) snapshot() snap {
	s := snap{admin: map[string]string{}, weight: map[string]int{}, usable: map[string]int{}, total: map[string]int{}}
	for k := range m.servers {
		b, n, _ := strings.Cut(k, "/")
		srv, _ := m.hs.h.Server(b, n)
		s.admin[k] = string(m.hs.admin(b, n))
		s.weight[k] = srv.UWeight
		s.total[b]++
		if srv.Up && srv.Admin&0x7f == 0 && srv.UWeight > 0 {
			s.usable[b]++
		}
	}
	return s
}

func (m *world) tick() {
	m.hs.clock.Advance(m.hs.cfg.Rebalancer.ReconcileInterval)
	before := m.snapshot()
	nCmd := len(m.hs.h.Commands())
	err := m.hs.reconcile()
	m.log("reconcile (err=%v)", err)
	after := m.snapshot()
	var cmds []string
	for _, c := range m.hs.h.Commands()[nCmd:] {
		if c != "set severity-output number" {
			cmds = append(cmds, c)
		}
	}
	if m.down && len(cmds) > 0 {
		m.fail("commands while HAProxy was unreachable: %v", cmds)
	}
	// Floor.
	for b, total := range before.total {
		minReady, maxUn := m.hs.cfg.Guard.limitsFor(b)
		if after.usable[b] < min(minReady, before.usable[b]) {
			m.fail("%s: usable servers %d → %d, floor %d", b, before.usable[b], after.usable[b], minReady)
		}
		ua, ub := float64(total-after.usable[b])/float64(total), float64(total-before.usable[b])/float64(total)
		if ua > max(maxUn, ub)+1e-9 {
			m.fail("%s: unusable fraction %.2f → %.2f, max_unavailable %g", b, ub, ua, maxUn)
		}
	}
	// What lbpilot saw when it looked.
	if err == nil {
		for k, ms := range m.servers {
			if ms.believed != "" {
				if before.admin[k] == ms.believed && ms.setter != "rebalancer" {
					ms.setter, ms.protected = "rebalancer", copySet(ms.protAt)
				} else if before.admin[k] != ms.believed {
					ms.believed = ""
				}
			}
			if ms.believedW >= 0 {
				if before.weight[k] == ms.believedW && ms.wSetter != "rebalancer" {
					ms.wSetter, ms.rbWeight, ms.wProt = "rebalancer", true, copySet(ms.wProtAt)
				} else if before.weight[k] != ms.believedW {
					ms.believedW = -1
				}
			}
		}
	}
	// Operators.
	for _, c := range cmds {
		if !strings.HasPrefix(c, "set ") || c == "set severity-output number" {
			continue
		}
		if !safeCommand.MatchString(c) {
			m.fail("unsafe command %q", c)
		}
		f := strings.Fields(c)
		var key, what string
		if f[1] == "server" {
			key, what = f[2], f[4]
		} else {
			key, what = f[2], f[3]
		}
		b, s, _ := strings.Cut(key, "/")
		ms := m.servers[key]
		if f[1] == "server" {
			switch what {
			case "ready":
				if ms.setter != "rebalancer" {
					m.fail("sent %q although %s set the current state", c, ms.setter)
				}
			default:
				if before.admin[key] != "ready" && ms.setter != "rebalancer" {
					m.fail("sent %q over a %s set by %s", c, before.admin[key], ms.setter)
				}
				if len(m.inForce(b, s, true)) > 0 && allIn(m.inForce(b, s, true), ms.protected) {
					m.fail("sent %q for alerts an operator took the server away from: %v", c, ms.protected)
				}
			}
			ms.setter, ms.believed = "rebalancer", what
			if what == "ready" {
				ms.believed = ""
			}
		} else {
			if strings.HasSuffix(what, "%") {
				if before.weight[key] != 100 && ms.wSetter != "rebalancer" {
					m.fail("sent %q over weight %d set by %s", c, before.weight[key], ms.wSetter)
				}
				if len(m.inForce(b, s, false)) > 0 && allIn(m.inForce(b, s, false), ms.wProt) {
					m.fail("sent %q for alerts an operator took the weight away from", c)
				}
				ms.rbWeight = true
			} else {
				if ms.wSetter != "rebalancer" {
					m.fail("restored weight with %q although %s set it", c, ms.wSetter)
				}
				ms.rbWeight = false
			}
			ms.wSetter, ms.believedW = "rebalancer", after.weight[key]
			if !ms.rbWeight {
				ms.believedW = -1
			}
		}
	}
	// Protection ends with the alerts it covered.
	for k, ms := range m.servers {
		b, s, _ := strings.Cut(k, "/")
		if !anyOf(m.inForce(b, s, true), ms.protected) {
			ms.protected = map[string]bool{}
		}
		if !anyOf(m.inForce(b, s, false), ms.wProt) {
			ms.wProt = map[string]bool{}
		}
	}
	// Restore within one interval.
	if err == nil {
		for _, ms := range m.servers {
			ms.seen, ms.wSeen = true, true
			ms.protAt, ms.wProtAt = copySet(ms.protected), copySet(ms.wProt)
		}
		for k, ms := range m.servers {
			b, s, _ := strings.Cut(k, "/")
			if ms.setter == "rebalancer" && after.admin[k] != "ready" && len(m.inForce(b, s, true)) == 0 {
				m.fail("%s is %s by lbpilot but no alert asks for it any more", k, after.admin[k])
			}
			if ms.wSetter == "rebalancer" && ms.rbWeight && len(m.inForce(b, s, false)) == 0 {
				m.fail("%s has lbpilot's weight %d but no alert asks for it any more", k, after.weight[k])
			}
		}
	} else if !m.down {
		m.fail("reconcile failed with HAProxy up: %v", err)
	}
}

func copySet(m map[string]bool) map[string]bool {
	out := make(map[string]bool, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func allIn(xs, set map[string]bool) bool {
	for x := range xs {
		if !set[x] {
			return false
		}
	}
	return true
}

func anyOf(xs, set map[string]bool) bool {
	for x := range xs {
		if set[x] {
			return true
		}
	}
	return false
}
