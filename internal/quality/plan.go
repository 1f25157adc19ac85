package quality

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/lbpilot/lbpilot/demo"
	"github.com/lbpilot/lbpilot/internal/lab"
	"github.com/lbpilot/lbpilot/internal/traffic"
)

// The fleet the plan runs on: two WCS nodes of unequal capacity (wcs1
// at half of wcs2's), each with a light background (no audience of its
// own, a little CPU), so that the sessions on a node are the plan's.
const (
	SmallNode = "wcs1" // half the capacity; the node the plan kills
	BigNode   = "wcs2" // slowed by the hog mid-run
)

// Capacities of the two nodes, in sessions.
var Capacities = [2]int{30, 60}

// BackgroundCPU is each node's CPU without sessions; with it the shipped
// WCSCPUHigh (> 0.8) fires at 87 % of a node's capacity (the lab's
// sessions cost 0.75 of a CPU at capacity).
const BackgroundCPU = 0.15

// HogCPU is the outside process's share of wcs2's CPU while the hog
// runs: 1 - 0.1/0.75 leaves wcs2 52 of its 60 sessions, so the fleet
// still has room (82 sessions) for the flash crowd's peak (about 72):
// a balancer that follows capacity can keep everyone under it, even
// balancing cannot.
const HogCPU = 0.1

// Control returns the demo stack's settings for an arm: the fleet above,
// with the agents' subscribers threshold at each node's capacity (the
// WCS docs' MAX_SUBSCRIBERS, sized per node as an operator would).
func Control(agents string, rebalancer bool) demo.Control {
	c := demo.Control{Agents: agents, NoRebalancer: !rebalancer}
	for i, n := range Capacities {
		c.WCSLoad[i] = fmt.Sprintf(`{"publishers":0,"subscribers":0,"bandwidth_in_mbps":1,"bandwidth_out_mbps":2,"cpu":%g}`, BackgroundCPU)
		c.WCSCapacity[i] = fmt.Sprintf(`{"sessions":%d}`, n)
		c.Subscribers[i] = n
	}
	return c
}

// Arm is one setup the benchmark compares.
type Arm struct {
	N       int
	Name    string
	Control demo.Control
}

// Arms are the four setups, in the order a run alternates them.
func Arms() []Arm {
	return []Arm{
		{1, "HAProxy alone (roundrobin, no agent)", Control(demo.AgentsNone, false)},
		{2, "WCS docs' agent (updown at fixed thresholds)", Control(demo.AgentsUpDown, false)},
		{3, "lbpilot agent, weight mode", Control(demo.AgentsWeight, false)},
		{4, "lbpilot agent + rebalancer + shipped rules", Control(demo.AgentsWeight, true)},
	}
}

// Scale sets the plan's length: 1 is the full plan (about 2¼ minutes of
// arrivals), less shortens every phase and lifetime alike, with arrival
// rates raised so that the concurrent sessions stay the same.
type Scale float64

// Phase names of the plan.
const (
	PhaseSteady  = "steady"
	PhaseCrowd   = "flash-crowd"
	PhaseKilled  = "wcs1-killed"
	PhaseBack    = "wcs1-back"
	PhaseSteady2 = "steady-again"
)

// HogWindow is when the hog runs on wcs2, from the start of the plan:
// from the middle of the flash crowd to the node's return.
func (sc Scale) HogWindow() (from, to time.Duration) {
	d := sc.durations()
	return d[0] + d[1]/2, d[0] + d[1] + d[2]
}

// durations of the five phases.
func (sc Scale) durations() [5]time.Duration {
	base := [5]time.Duration{30 * time.Second, 25 * time.Second, 25 * time.Second, 25 * time.Second, 30 * time.Second}
	for i := range base {
		base[i] = time.Duration(float64(base[i]) * float64(sc)).Round(time.Second)
	}
	return base
}

// Plan is the seeded plan for a stack on ports: WebSocket players
// through fe_wcs and MQTT subscribers through fe_mqtt. Steady arrivals
// keep about 30 % of the fleet's capacity busy; the flash crowd triples
// them and takes it to about 80 % (even balancing then overloads wcs1);
// wcs1 is killed (its client ports closed, its sessions reset) and comes
// back; then steady again.
// mqttCredentials is the file with the broker's username:password (the
// demo's EMQX key file).
func (sc Scale) Plan(seed int64, ports demo.Ports, mqttCredentials string) (*traffic.Plan, error) {
	if !(sc > 0 && sc <= 1) {
		return nil, fmt.Errorf("scale %v: want more than 0 and at most 1", float64(sc))
	}
	d := sc.durations()
	life := func(lo, hi time.Duration) traffic.Lifetime {
		return traffic.Lifetime{Dist: traffic.LifetimeUniform,
			Min: traffic.Duration(float64(lo) * float64(sc)), Max: traffic.Duration(float64(hi) * float64(sc))}
	}
	three := 3.0
	clients := func(open bool) *traffic.Request {
		body, _ := json.Marshal(map[string]bool{"open": open})
		return &traffic.Request{Method: "POST", URL: demo.URL(ports.LabPort(SmallNode)) + "/lab/clients", Body: body}
	}
	var total time.Duration
	for _, x := range d {
		total += x
	}
	p := &traffic.Plan{
		Seed: seed,
		Caps: traffic.Caps{MaxConcurrent: 400, MaxTotal: 5000, MaxDuration: traffic.Duration(total + 5*time.Second)},
		Protocols: map[string]traffic.ProtocolPlan{
			lab.ProtoWCS: {
				Target: fmt.Sprintf("ws://127.0.0.1:%d/", ports.WCS), Rate: 0.9 / float64(sc),
				Mix: map[string]float64{"play": 1}, Lifetime: life(20*time.Second, 40*time.Second), Streams: 4,
				Options: map[string]string{"bitrate": "16"},
			},
			lab.ProtoMQTT: {
				Target: fmt.Sprintf("mqtt://127.0.0.1:%d", ports.MQTT), Rate: 0.3 / float64(sc),
				Mix: map[string]float64{"subscribe": 1}, Lifetime: life(20*time.Second, 40*time.Second), Streams: 4,
				Options: map[string]string{"credentials_file": mqttCredentials},
			},
		},
		Phases: []traffic.Phase{
			{Name: PhaseSteady, Kind: traffic.PhaseSteady, Duration: traffic.Duration(d[0])},
			{Name: PhaseCrowd, Kind: traffic.PhaseFlashCrowd, Duration: traffic.Duration(d[1]), Factor: &three},
			{Name: PhaseKilled, Kind: traffic.PhaseNodeKilled, Duration: traffic.Duration(d[2]), Node: SmallNode, Request: clients(false)},
			{Name: PhaseBack, Kind: traffic.PhaseNodeBack, Duration: traffic.Duration(d[3]), Node: SmallNode, Request: clients(true)},
			{Name: PhaseSteady2, Kind: traffic.PhaseSteady, Duration: traffic.Duration(d[4])},
		},
		OpenTimeout: traffic.Duration(5 * time.Second),
	}
	if err := p.Validate(lab.Registry()); err != nil {
		return nil, err
	}
	return p, nil
}

// Phase names of a plan without the kill (withoutKill).
const (
	PhaseHold  = "hold"
	PhaseHold2 = "hold-2"
)

// withoutKill turns the plan's node-killed and node-back phases into
// steady ones of the same length: the closed loop's guarantees then do
// not depend on how fast HAProxy notices a dead node.
func withoutKill(p *traffic.Plan) {
	for i, ph := range p.Phases {
		switch ph.Kind {
		case traffic.PhaseNodeKilled:
			p.Phases[i] = traffic.Phase{Name: PhaseHold, Kind: traffic.PhaseSteady, Duration: ph.Duration}
		case traffic.PhaseNodeBack:
			p.Phases[i] = traffic.Phase{Name: PhaseHold2, Kind: traffic.PhaseSteady, Duration: ph.Duration}
		}
	}
}
