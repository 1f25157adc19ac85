package quality

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/lbpilot/lbpilot/demo"
	"github.com/lbpilot/lbpilot/internal/lab"
	"github.com/lbpilot/lbpilot/internal/traffic"
)

// node builds a NodeSample: "wcs1 12/30 UP 100 A" style.
func node(name string, sess, capa int, state string, weight int, alert bool) NodeSample {
	return NodeSample{Name: name, Sessions: sess, Capacity: capa, State: state, Weight: weight, Alert: alert}
}

// fixture: one second per sample. wcs1 overloads at t=2..3 (over its 10),
// is drained at t=3 by its alert, its alert ends at t=5, it is ready at
// t=6; wcs2 goes DOWN at t=4 and UP at t=5, so at t=4 nothing is usable.
func fixture() *Result {
	type row struct {
		phase string
		a, b  NodeSample
	}
	rows := []row{
		{PhaseSteady, node("wcs1", 5, 10, "UP", 100, false), node("wcs2", 5, 20, "UP", 100, false)},
		{PhaseSteady, node("wcs1", 9, 10, "UP", 80, false), node("wcs2", 6, 20, "UP", 100, false)},
		{PhaseCrowd, node("wcs1", 12, 10, "UP", 40, true), node("wcs2", 8, 20, "UP", 100, false)},
		{PhaseCrowd, node("wcs1", 11, 10, "DRAIN", 40, true), node("wcs2", 10, 20, "UP", 100, false)},
		{PhaseCrowd, node("wcs1", 9, 10, "DRAIN", 60, true), node("wcs2", 12, 20, "DOWN", 100, false)},
		{PhaseKilled, node("wcs1", 8, 10, "DRAIN", 80, false), node("wcs2", 0, 20, "UP", 100, false)},
		{PhaseKilled, node("wcs1", 6, 10, "UP", 100, false), node("wcs2", 2, 20, "UP", 100, false)},
	}
	r := &Result{Phases: []Mark{{T: 0, What: PhaseSteady}, {T: 2, What: PhaseCrowd}, {T: 5, What: PhaseKilled}}}
	for i, x := range rows {
		r.Samples = append(r.Samples, Sample{T: float64(i), Phase: x.phase, Nodes: []NodeSample{x.a, x.b}})
	}
	r.Summary = &traffic.Summary{
		Protocols: map[string]traffic.ProtocolCounts{lab.ProtoWCS: {NodeCounts: traffic.NodeCounts{Opened: 40}}, lab.ProtoMQTT: {NodeCounts: traffic.NodeCounts{Opened: 7}}},
		Failures: []traffic.SessionRecord{
			{Protocol: lab.ProtoWCS, Node: "wcs1", Outcome: traffic.OutcomeCut, Reason: "eof", At: 1, After: 4.2},         // at 5.2: killed
			{Protocol: lab.ProtoWCS, Node: "wcs1", Outcome: traffic.OutcomeCut, Reason: "eof", At: 1, After: 2.5},         // at 3.5: drained
			{Protocol: lab.ProtoWCS, Node: "wcs2", Outcome: traffic.OutcomeCut, Reason: "ws_close_1011", At: 0, After: 1}, // other
			{Protocol: lab.ProtoMQTT, Node: "emqx1", Outcome: traffic.OutcomeCut, Reason: "eof", At: 0, After: 1},
			{Protocol: lab.ProtoWCS, Node: traffic.UnknownNode, Outcome: traffic.OutcomeRefused, Reason: "http_503", At: 4},
			{Protocol: lab.ProtoWCS, Node: traffic.UnknownNode, Outcome: traffic.OutcomeRefused, Reason: "http_503", At: 4.5},
		},
	}
	return r
}

func TestMeasure(t *testing.T) {
	m := fixture().Measure()
	w1, w2 := m.Nodes[0], m.Nodes[1]
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"wcs1 over seconds (t=2, t=3)", w1.OverSeconds, 2},
		{"wcs2 over seconds", w2.OverSeconds, 0},
		{"total over", m.OverSeconds, 2},
		{"wcs1 peak", w1.Peak, 1.2},
		{"peak", m.Peak, 1.2},
		{"empty seconds (t=4: wcs1 drained, wcs2 down)", m.EmptySeconds, 1},
		{"wcs1 drains", float64(w1.Drains), 1},
		{"wcs1 readies", float64(w1.Readies), 1},
		{"wcs2 health changes", float64(w2.Health), 2},
		{"wcs1 weight changes while UP (100→80→40)", float64(w1.Weights), 2},
		{"wcs1 episodes", float64(w1.Episodes), 1},
		{"wcs1 most drains in one", float64(w1.MaxDrains), 1},
		{"max drains", float64(m.MaxDrainsPerEpisode()), 1},
		{"ready lag (alert ended t=5, ready t=6)", m.MaxReadyLag(), 1},
		{"reliefs", float64(len(m.Reliefs)), 1},
		{"relief (over at t=2, relieved at t=4)", m.MaxRelief(), 2},
		{"cut by lbpilot", float64(m.CutByLbpilot), 1},
		{"refused wcs", float64(Total(m.Refused, lab.ProtoWCS)), 2},
		{"opened mqtt", float64(m.Opened[lab.ProtoMQTT]), 7},
	} {
		if math.Abs(c.got-c.want) > 1e-9 {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	wantCuts := map[string]int64{CauseNodeKilled: 1, CauseLbpilot: 1, CauseOther + "ws_close_1011": 1}
	for k, v := range wantCuts {
		if m.Cut[lab.ProtoWCS][k] != v {
			t.Errorf("WCS cuts %v, want %v", m.Cut[lab.ProtoWCS], wantCuts)
			break
		}
	}
	if m.Cut[lab.ProtoMQTT][CauseOther+"eof"] != 1 {
		t.Errorf("MQTT cuts %v", m.Cut[lab.ProtoMQTT])
	}
	// Spread at the end of each phase: steady (9/10 ÷ 6/20 = 3), crowd
	// (wcs2 DOWN: one node, 1), killed (0.6 ÷ 0.1 = 6).
	want := []PhaseSpread{{PhaseSteady, 3}, {PhaseCrowd, 1}, {PhaseKilled, 6}}
	if len(m.Spread) != len(want) {
		t.Fatalf("spread %v, want %v", m.Spread, want)
	}
	for i, w := range want {
		if m.Spread[i].Phase != w.Phase || math.Abs(m.Spread[i].Spread-w.Spread) > 1e-9 {
			t.Errorf("spread %v, want %v", m.Spread, want)
		}
	}
	if s := m.String(); !strings.Contains(s, "empty 1.0s") || !strings.Contains(s, "by lbpilot 1") {
		t.Errorf("digest %q", s)
	}
}

func TestEpisodesCountRedrains(t *testing.T) {
	// drained, ready, drained again within the gap: one episode, two drains.
	r := &Result{}
	states := []string{"UP", "DRAIN", "DRAIN", "UP", "UP", "DRAIN", "UP", "UP", "UP", "UP", "UP", "UP", "UP", "UP", "UP", "DRAIN"}
	for i, st := range states {
		r.Samples = append(r.Samples, Sample{T: float64(i), Nodes: []NodeSample{node("wcs1", 1, 10, st, 100, false)}})
	}
	m := r.Measure()
	if n := m.Nodes[0]; n.Drains != 3 || n.Episodes != 2 || n.MaxDrains != 2 {
		t.Errorf("drains %d, episodes %d, most in one %d; want 3, 2, 2", n.Drains, n.Episodes, n.MaxDrains)
	}
}

func TestSpreadEdges(t *testing.T) {
	r := &Result{Samples: []Sample{
		{T: 0, Phase: "a", Nodes: []NodeSample{node("wcs1", 0, 10, "UP", 100, false), node("wcs2", 5, 10, "UP", 100, false)}},
		{T: 1, Phase: "b", Nodes: []NodeSample{node("wcs1", 0, 10, "UP", 100, false), node("wcs2", 0, 10, "UP", 100, false)}},
		{T: 2, Phase: "c", Nodes: []NodeSample{node("wcs1", 3, 10, "DOWN", 100, false), node("wcs2", 3, 10, "DOWN", 100, false)}},
	}}
	sp := r.Measure().Spread
	if len(sp) != 3 || !math.IsInf(sp[0].Spread, 1) || sp[1].Spread != 1 || !math.IsNaN(sp[2].Spread) {
		t.Fatalf("spread %+v, want ∞, 1, none", sp)
	}
	b, err := json.Marshal(sp)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(b); got != `[{"phase":"a","spread":"inf"},{"phase":"b","spread":1},{"phase":"c","spread":"none"}]` {
		t.Errorf("JSON %s", got)
	}
	if m := (&Result{}).Measure(); m.OverSeconds != 0 || len(m.Nodes) != 0 {
		t.Errorf("no samples: %+v", m)
	}
}

func TestPlan(t *testing.T) {
	ports := demo.PortsFrom(21000)
	p, err := Scale(1).Plan(7, ports, "/key")
	if err != nil {
		t.Fatal(err)
	}
	if p.Seed != 7 || len(p.Phases) != 5 || p.Phases[2].Node != SmallNode || *p.Phases[1].Factor != 3 {
		t.Errorf("plan %+v", p)
	}
	if got := p.Protocols[lab.ProtoMQTT].Options["credentials_file"]; got != "/key" {
		t.Errorf("mqtt credentials_file %q", got)
	}
	short, err := Scale(0.5).Plan(7, ports, "/key")
	if err != nil {
		t.Fatal(err)
	}
	// Half the length, twice the rate: the same concurrency.
	if time.Duration(short.Phases[0].Duration) != 15*time.Second || short.Protocols[lab.ProtoWCS].Rate != 2*p.Protocols[lab.ProtoWCS].Rate {
		t.Errorf("scaled plan: %v, rate %v", time.Duration(short.Phases[0].Duration), short.Protocols[lab.ProtoWCS].Rate)
	}
	withoutKill(short)
	for _, ph := range short.Phases {
		if ph.Kind != traffic.PhaseSteady && ph.Kind != traffic.PhaseFlashCrowd || ph.Request != nil {
			t.Errorf("a plan without the kill has %+v", ph)
		}
	}
	if err := short.Validate(lab.Registry()); err != nil {
		t.Errorf("a plan without the kill: %v", err)
	}
	from, to := Scale(1).HogWindow()
	if from != 42500*time.Millisecond || to != 80*time.Second {
		t.Errorf("hog window %v..%v", from, to)
	}
	for _, bad := range []Scale{0, -1, 1.5, Scale(math.NaN())} {
		if _, err := bad.Plan(1, ports, ""); err == nil || !strings.Contains(err.Error(), "scale") {
			t.Errorf("scale %v: %v", float64(bad), err)
		}
	}
}

func TestArms(t *testing.T) {
	arms := Arms()
	if len(arms) != 4 {
		t.Fatalf("%d arms", len(arms))
	}
	want := []struct {
		agents string
		noReb  bool
	}{{demo.AgentsNone, true}, {demo.AgentsUpDown, true}, {demo.AgentsWeight, true}, {demo.AgentsWeight, false}}
	for i, a := range arms {
		if a.N != i+1 || a.Control.Agents != want[i].agents || a.Control.NoRebalancer != want[i].noReb {
			t.Errorf("arm %d: %+v", i+1, a)
		}
		if a.Control.Subscribers != Capacities || !strings.Contains(a.Control.WCSCapacity[0], `"sessions":30`) {
			t.Errorf("arm %d sizing: %+v", i+1, a.Control)
		}
	}
}

// TestDrainedWhileDown: HAProxy's status says DOWN for a drained server
// that fails its checks; the admin state keeps it drained, so going down
// and coming back is not a return to ready and a second drain.
func TestDrainedWhileDown(t *testing.T) {
	r := &Result{}
	for i, st := range []struct{ state, admin string }{{"UP", "ready"}, {"DRAIN", "drain"}, {"DOWN", "drain"}, {"DOWN", "drain"}, {"DRAIN", "drain"}, {"UP", "ready"}} {
		n := node("wcs1", 1, 10, st.state, 100, false)
		n.Admin = st.admin
		r.Samples = append(r.Samples, Sample{T: float64(i), Nodes: []NodeSample{n}})
	}
	if n := r.Measure().Nodes[0]; n.Drains != 1 || n.Readies != 1 || n.MaxDrains != 1 || n.Health != 2 {
		t.Errorf("drains %d, readies %d, most in one episode %d, health changes %d; want 1, 1, 1, 2", n.Drains, n.Readies, n.MaxDrains, n.Health)
	}
}
