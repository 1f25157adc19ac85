package rebalancer

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/template"

	"github.com/lbpilot/lbpilot/internal/haproxyapi"
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
//   - replay: re-delivering any earlier notification changes no alert;
//   - headroom: an alert takes a usable server out (drain, maint, weight 0)
//     only while the other usable servers of its backend get at least
//     min_headroom of their configured weight (checked when it is the only
//     one taken out of its backend in that reconcile);
//   - session cap: lbpilot caps a server (set maxconn) only while a drain
//     or maint alert whose rule allows a cap (not the errors rule, which
//     has session_cap: false) asks for a server of its backend (the loaded
//     peers of a drain held back for headroom are capped too), never a held server
//     nor in a paused backend, and no cap outlives those alerts by more
//     than one reconcile.
//
// Operator control joins in: manual holds (drain, maint, ready, weight,
// release; some forced), pauses (global or per backend, with or without
// restores) and approvals of the weight-0 rule, which needs one:
//
//   - floor: a manual action that is not forced never breaks it either
//     (a 409 changes nothing), and a reconcile keeps it with the holds
//     counted as taken;
//   - holds: no alert acts on a held server, and its end never lifts the
//     hold; lbpilot only ever sends a held server its hold;
//   - pauses: while paused, no alert-driven change reaches the paused
//     backends (nor restores, unless the pause lets them through);
//   - approvals: a weight 0% is only sent once its proposal is approved;
//   - idempotence: replaying an operator request answers "unchanged" and
//     sends nothing.
//
// LBPILOT_MODEL_SEEDS and LBPILOT_MODEL_STEPS make it run longer; a failure
// prints the seed and the last operations.

const modelConfig = `
guard:
  min_ready: 1
  max_unavailable: 0.5
  backends:
    be_a: {min_ready: 3, max_unavailable: 0.8}
    be_b: {min_headroom: 0.6}
mass_resolve: {min_alerts: 0}
rules:
  - name: errors
    matchers: ['cause="errors"', 'lbpilot_action=~"drain|maint"']
    action_label: lbpilot_action
    session_cap: false
  - name: slow
    match: {lbpilot_action: weight50}
    action: weight 50%
  - name: off
    match: {lbpilot_action: weight0}
    action: weight 0%
    approve: true
`

type mAlert struct {
	fp, backend, server, action string
	errors                      bool // about errors: its rule (errors) never caps
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

	hold *Hold // the operator's hold through the API (nil: none)
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

	pauses map[string]*Pause // "" global, else backend
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
	m := &world{t: t, hs: hs, rng: rand.New(rand.NewSource(seed)), servers: map[string]*mServer{}, seed: seed, pauses: map[string]*Pause{}}
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
				a := &mAlert{fp: fmt.Sprintf("%016x", 0xa000+i), backend: b, server: n, action: actions[(i+k*3)%len(actions)], errors: i%3 == 0}
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
		{3, m.manual}, {2, m.release}, {1, m.pause}, {2, m.resume}, {3, m.decide},
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
	// The end: everything resolves, HAProxy is up, pauses end, holds are
	// released; all of lbpilot's changes go away.
	if m.down {
		m.outage()
	}
	for len(m.pauses) > 0 {
		m.resume()
	}
	for _, k := range sortedKeys(m.servers) {
		if m.servers[k].hold != nil {
			b, s, _ := strings.Cut(k, "/")
			m.releaseOne(b, s)
		}
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
	w := template.Alert{Status: status, Fingerprint: a.fp, StartsAt: startsAt, EndsAt: endsAt,
		Labels: template.KV{"alertname": "Model", LabelAction: a.action, LabelBackend: a.backend, LabelServer: a.server}}
	if a.errors {
		w.Labels["cause"] = "errors"
	}
	return w
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
	admin   map[string]string
	weight  map[string]int
	iweight map[string]int
	up      map[string]bool // usable and not failing its checks
	usable  map[string]int
	total   map[string]int
}

func (m *world) snapshot() snap {
	s := snap{admin: map[string]string{}, weight: map[string]int{}, iweight: map[string]int{}, up: map[string]bool{}, usable: map[string]int{}, total: map[string]int{}}
	for k := range m.servers {
		b, n, _ := strings.Cut(k, "/")
		srv, _ := m.hs.h.Server(b, n)
		s.admin[k] = string(m.hs.admin(b, n))
		s.weight[k] = srv.UWeight
		s.iweight[k] = srv.IWeight
		s.up[k] = srv.Up && srv.Admin&0x7f == 0 && srv.UWeight > 0 && !srv.Failing
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
	m.checkHeadroom(cmds, before, after)
	// Floor, with what the holds take counted as taken already.
	for k, ms := range m.servers {
		b, _, _ := strings.Cut(k, "/")
		if ms.hold != nil && ms.hold.reduces() && m.usable(before, k) {
			before.usable[b]--
		}
	}
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
		if strings.HasPrefix(c, "set maxconn ") {
			m.checkCap(c)
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
		if h := ms.hold; h != nil {
			// Only its hold (or a graceful step towards it) for a held server.
			want := string(h.adminState())
			if h.Action == HoldWeight {
				want = strconv.Itoa(*h.Weight)
			}
			if what != want {
				m.fail("sent %q to %s, held %s %s by an operator", c, key, h.Action, want)
			}
			continue
		}
		if p := m.paused(b); p != nil {
			restore := what == "ready" || (f[1] == "weight" && !strings.HasSuffix(what, "%"))
			if !restore || !p.Restores {
				m.fail("sent %q while %s is paused (restores %v)", c, b, p.Restores)
			}
		}
		if f[1] == "weight" && what == "0%" && !m.approved(b, s) {
			m.fail("sent %q without an approved proposal", c)
		}
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
			if p := m.paused(b); p != nil && !p.Restores {
				continue // restores wait for the end of the pause
			}
			if ms.setter == "rebalancer" && after.admin[k] != "ready" && len(m.inForce(b, s, true)) == 0 {
				m.fail("%s is %s by lbpilot but no alert asks for it any more", k, after.admin[k])
			}
			if ms.wSetter == "rebalancer" && ms.rbWeight && len(m.inForce(b, s, false)) == 0 {
				m.fail("%s has lbpilot's weight %d but no alert asks for it any more", k, after.weight[k])
			}
			if srv, _ := m.hs.h.Server(b, s); srv.MaxConn > 0 && !m.capAlertIn(b) {
				m.fail("%s is capped at %d sessions but no alert whose rule allows a cap asks for a drain in %s any more", k, srv.MaxConn, b)
			}
		}
	} else if !m.down {
		m.fail("reconcile failed with HAProxy up: %v", err)
	}
}

// capCommand is the only form of the session cap lbpilot may send.
var capCommand = regexp.MustCompile(`^set maxconn server ([A-Za-z0-9_.:-]+)/([A-Za-z0-9_.:-]+) ([0-9]{1,7})$`)

// checkCap: a cap (maxconn > 0) only for a server a drain or maint alert
// asks for, not held, in a backend not paused; a lift (0: the model's
// servers have no configured maxconn) like any restore.
func (m *world) checkCap(c string) {
	f := capCommand.FindStringSubmatch(c)
	if f == nil {
		m.fail("unsafe command %q", c)
		return
	}
	b, s, n := f[1], f[2], f[3]
	p := m.paused(b)
	if n == "0" {
		if p != nil && !p.Restores {
			m.fail("sent %q while %s is paused without restores", c, b)
		}
		return
	}
	if m.servers[b+"/"+s].hold != nil {
		m.fail("sent %q to a server held by an operator", c)
	}
	if p != nil {
		m.fail("sent %q while %s is paused", c, b)
	}
	if !m.capAlertIn(b) {
		m.fail("sent %q with no drain or maint alert in force in %s whose rule allows a cap", c, b)
	}
}

// capAlertIn reports a drain or maint alert in force for a server of
// backend b whose rule allows a cap (not the errors rule's).
func (m *world) capAlertIn(b string) bool {
	for _, a := range m.alerts {
		if a.status == StatusFiring && a.backend == b && a.admin() && !a.errors {
			return true
		}
	}
	return false
}

// checkHeadroom: a server the alerts took out alone in its backend left
// the others with min_headroom of their weight at least.
func (m *world) checkHeadroom(cmds []string, before, after snap) {
	out := map[string][]string{} // backend → servers taken out by alerts
	for _, c := range cmds {
		f := strings.Fields(c)
		if len(f) < 4 || !strings.HasPrefix(c, "set ") {
			continue
		}
		key := f[2]
		b, _, _ := strings.Cut(key, "/")
		ms := m.servers[key]
		if ms == nil || ms.hold != nil || !before.up[key] || after.up[key] {
			continue
		}
		if (f[1] == "server" && (f[4] == "drain" || f[4] == "maint")) || (f[1] == "weight" && f[3] == "0%") {
			out[b] = append(out[b], key)
		}
	}
	for b, keys := range out {
		if len(keys) != 1 {
			continue
		}
		var cur, initial int
		for k := range m.servers {
			if kb, _, _ := strings.Cut(k, "/"); kb != b || k == keys[0] || !before.up[k] || before.iweight[k] <= 0 {
				continue
			}
			cur += min(before.weight[k], before.iweight[k])
			initial += before.iweight[k]
		}
		if initial == 0 {
			continue
		}
		if need := m.hs.cfg.Guard.headroomFor(b); float64(cur)/float64(initial) < need-1e-9 {
			m.fail("%s taken out with the others at %d/%d of their weight, min_headroom %g", keys[0], cur, initial, need)
		}
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

// manual holds a random server through the API.
func (m *world) manual() {
	b, s, ms := m.pickServer()
	acts := []string{HoldDrain, HoldDrain, HoldMaint, HoldReady, HoldWeight}
	a := ManualAction{Ref: refOf(b, s), Action: acts[m.rng.Intn(len(acts))], Reason: "model", Author: "op", Force: m.rng.Intn(4) == 0}
	if a.Action == HoldWeight {
		a.Weight = []int{0, 30, 60}[m.rng.Intn(3)]
	}
	before := m.snapshot()
	res, err := m.hs.r.Manual(context.Background(), a)
	m.log("manual %s %s/%s weight=%d force=%v: %v %v", a.Action, b, s, a.Weight, a.Force, resultText(res), err)
	after := m.snapshot()
	var ae *apiError
	switch {
	case m.down:
		if err == nil {
			m.fail("manual action answered %v with HAProxy down", res.Result)
		}
		return
	case errors.As(err, &ae) && ae.Code == 409:
		if a.Force || !reflect.DeepEqual(before, after) {
			m.fail("a refused manual action changed HAProxy (force=%v)", a.Force)
		}
		return
	case err != nil:
		m.fail("manual action: %v", err)
	}
	minReady, maxUn := m.hs.cfg.Guard.limitsFor(b)
	if !a.Force && after.usable[b] < min(minReady, before.usable[b]) {
		m.fail("unforced manual %s took %s from %d to %d usable, floor %d", a.Action, b, before.usable[b], after.usable[b], minReady)
	}
	if total := float64(after.total[b]); !a.Force && float64(after.total[b]-after.usable[b])/total > max(maxUn, float64(before.total[b]-before.usable[b])/total)+1e-9 {
		m.fail("unforced manual %s broke max_unavailable of %s", a.Action, b)
	}
	var h *Hold
	m.hs.r.store.View(func(st *State) { h = st.Operator.Holds[holdKey(a.Ref)].clone() })
	ms.hold = h
	ms.setter, ms.wSetter, ms.believed, ms.believedW, ms.rbWeight = "api", "api", "", -1, false
	ms.protected, ms.wProt = map[string]bool{}, map[string]bool{}
	if !h.inEffect(m.hsServer(b, s)) {
		m.fail("HAProxy does not show the hold %+v after the answer", h)
	}
	// Idempotence: the same request again changes nothing.
	if m.rng.Intn(3) == 0 {
		n := len(m.hs.setCommands())
		res, err := m.hs.r.Manual(context.Background(), a)
		if err != nil || res.Result != ManualUnchanged || len(m.hs.setCommands()) != n {
			m.fail("replayed manual action: %v %v, commands %v", resultText(res), err, m.hs.setCommands()[n:])
		}
	}
}

func (m *world) hsServer(b, s string) *haproxyapi.ServerState {
	srv, _ := m.hs.h.Server(b, s)
	st := &haproxyapi.ServerState{Backend: b, Name: s, Admin: haproxyapi.AdminFlags(srv.Admin), UWeight: srv.UWeight, IWeight: srv.IWeight}
	return st
}

func resultText(r *WriteResult) string {
	if r == nil {
		return "-"
	}
	return r.Result
}

func (m *world) release() {
	keys := sortedKeys(m.servers)
	k := keys[m.rng.Intn(len(keys))]
	b, s, _ := strings.Cut(k, "/")
	if m.down {
		return
	}
	m.releaseOne(b, s)
}

func (m *world) releaseOne(b, s string) {
	ms := m.servers[b+"/"+s]
	res, err := m.hs.r.Manual(context.Background(), ManualAction{Ref: refOf(b, s), Action: ActRelease, Author: "op"})
	m.log("release %s/%s: %v %v", b, s, resultText(res), err)
	if err != nil {
		m.fail("release: %v", err)
	}
	if (ms.hold == nil) != (res.Result == ManualUnchanged) {
		m.fail("release of %s/%s answered %s; held: %v", b, s, res.Result, ms.hold != nil)
	}
	if ms.hold != nil {
		srv, _ := m.hs.h.Server(b, s)
		if ms.hold.Action == HoldWeight && srv.UWeight != srv.IWeight || ms.hold.Action != HoldWeight && srv.Admin&0x09 != 0 {
			m.fail("release did not hand %s/%s back: admin %#x weight %d", b, s, srv.Admin, srv.UWeight)
		}
		// The server is lbpilot's again, as if freshly configured.
		ms.hold = nil
		ms.setter, ms.wSetter = "config", "config"
		if ms.hold == nil && m.hs.admin(b, s) != "ready" {
			ms.setter = "operator" // a weight hold leaves someone else's drain alone
		}
		if srv.UWeight != srv.IWeight {
			ms.wSetter = "operator"
		}
	}
}

func (m *world) pause() {
	backends := []string{"", "be_a", "be_b"}
	b := backends[m.rng.Intn(len(backends))]
	restores := m.rng.Intn(2) == 0
	res, err := m.hs.r.Pause(b, "model", "op", 0, restores)
	m.log("pause %q restores=%v: %v %v", b, restores, resultText(res), err)
	if err != nil {
		m.fail("pause: %v", err)
	}
	if p := m.pauses[b]; p != nil && p.Restores == restores {
		if res.Result != ManualUnchanged {
			m.fail("repeated pause answered %s", res.Result)
		}
		return
	}
	m.pauses[b] = &Pause{Restores: restores}
}

// resume ends the first pause (in name order), if any.
func (m *world) resume() {
	keys := sortedKeys(m.pauses)
	if len(keys) == 0 {
		return
	}
	b := keys[0]
	res, err := m.hs.r.Resume(b, "model", "op")
	m.log("resume %q: %v %v", b, resultText(res), err)
	if err != nil || res.Result != ManualApplied {
		m.fail("resume: %v %v", resultText(res), err)
	}
	delete(m.pauses, b)
}

// paused returns the pause in force for a backend.
func (m *world) paused(b string) *Pause {
	if p := m.pauses[""]; p != nil {
		return p
	}
	return m.pauses[b]
}

// decide approves or rejects a pending proposal.
func (m *world) decide() {
	ps := m.hs.r.StateView().Proposals
	if len(ps) == 0 {
		return
	}
	p := ps[m.rng.Intn(len(ps))]
	approve := m.rng.Intn(3) > 0
	res, err := m.hs.r.Decide(p.ID, approve, "op", "model")
	m.log("decide %s %s/%s approve=%v: %v %v", p.ID, p.Backend, p.Server, approve, resultText(res), err)
	if err != nil || res.Result != ManualApplied {
		m.fail("deciding a pending proposal: %v %v", resultText(res), err)
	}
	if res, err := m.hs.r.Decide(p.ID, approve, "op", "model"); err != nil || res.Result != ManualUnchanged {
		m.fail("deciding it again: %v %v", resultText(res), err)
	}
}

// approved reports whether an approved proposal covers a weight 0% on a server.
func (m *world) approved(b, s string) bool {
	ok := false
	m.hs.r.store.View(func(st *State) {
		if st.Operator == nil {
			return
		}
		for _, p := range st.Operator.Proposals {
			if p.Backend == b && p.Server == s && p.Status == ProposalApproved {
				ok = true
			}
		}
	})
	return ok
}

// usable reports whether a server counted as usable in a snapshot.
func (m *world) usable(sn snap, k string) bool {
	b, n, _ := strings.Cut(k, "/")
	srv, _ := m.hs.h.Server(b, n)
	return srv.Up && sn.admin[k] == "ready" && sn.weight[k] > 0
}
