package quality

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"

	"github.com/lbpilot/lbpilot/internal/lab"
	"github.com/lbpilot/lbpilot/internal/traffic"
)

// Causes of a cut session.
const (
	CauseNodeKilled = "node killed"   // wcs1's sessions when the plan kills it
	CauseLbpilot    = "while drained" // on a node in drain or maintenance at the time: lbpilot's doing
	CauseOther      = "other: "       // followed by the client's reason
	episodeGap      = 6.0             // seconds: closer overload stretches of a node are one episode
	episodeLoad     = 0.8             // a node at this share of its capacity is in an overload episode
	killWindow      = 4.0             // seconds after the kill in which wcs1's cuts are the kill's
)

// NodeMeasures are one node's measures.
type NodeMeasures struct {
	Name        string  `json:"name"`
	OverSeconds float64 `json:"over_seconds"` // seconds with sessions over the effective capacity
	Peak        float64 `json:"peak"`         // highest sessions ÷ effective capacity
	Drains      int     `json:"drains"`       // changes into drain or maintenance
	Readies     int     `json:"readies"`      // changes out of them
	Health      int     `json:"health"`       // changes between UP and DOWN
	Weights     int     `json:"weights"`      // weight changes while UP
	Episodes    int     `json:"episodes"`     // overload episodes (≥ 80 % of capacity, or drained)
	// MaxDrains is the most drains in one episode.
	MaxDrains int `json:"max_drains_per_episode"`
	// ReadyLags are, per return to ready, the seconds from the node's
	// drain alert leaving Alertmanager to HAProxy showing it ready.
	ReadyLags []float64 `json:"ready_lags"`
}

// Measures are a run's measures.
type Measures struct {
	Nodes        []NodeMeasures `json:"nodes"`
	OverSeconds  float64        `json:"over_seconds"` // node-seconds over capacity
	Peak         float64        `json:"peak"`
	EmptySeconds float64        `json:"empty_seconds"` // seconds with no usable WCS server
	// Refused and Cut count sessions per protocol and reason or cause.
	Refused map[string]map[string]int64 `json:"refused"`
	Cut     map[string]map[string]int64 `json:"cut"`
	Opened  map[string]int64            `json:"opened"`
	// CutByLbpilot is the sessions cut on a node lbpilot had drained.
	CutByLbpilot int64 `json:"cut_by_lbpilot"`
	// Reliefs are the seconds from the start of each overload (a node
	// over its capacity) to every node at or under capacity; an overload
	// still on at the end counts to the last sample.
	Reliefs []float64 `json:"reliefs"`
	// Spread is, at the end of each phase, the highest over the lowest
	// sessions ÷ capacity among the UP nodes (+Inf when one is empty).
	Spread []PhaseSpread `json:"spread"`
}

// PhaseSpread is the spread at the end of one phase.
type PhaseSpread struct {
	Phase  string  `json:"phase"`
	Spread float64 `json:"spread"`
}

// MaxRelief is the longest relief (0 without overload).
func (m Measures) MaxRelief() float64 {
	out := 0.0
	for _, r := range m.Reliefs {
		out = math.Max(out, r)
	}
	return out
}

// MaxDrainsPerEpisode is the most drains any node had in one episode.
func (m Measures) MaxDrainsPerEpisode() int {
	out := 0
	for _, n := range m.Nodes {
		out = max(out, n.MaxDrains)
	}
	return out
}

// MaxReadyLag is the longest return to ready after an alert ended.
func (m Measures) MaxReadyLag() float64 {
	out := 0.0
	for _, n := range m.Nodes {
		for _, l := range n.ReadyLags {
			out = math.Max(out, l)
		}
	}
	return out
}

// Total sums a per-protocol count over its reasons.
func Total(m map[string]map[string]int64, proto string) int64 {
	var n int64
	for _, v := range m[proto] {
		n += v
	}
	return n
}

// Measure computes the measures of a run.
func (r *Result) Measure() Measures {
	m := Measures{Refused: map[string]map[string]int64{}, Cut: map[string]map[string]int64{}, Opened: map[string]int64{}}
	if len(r.Samples) == 0 {
		return m
	}
	names := []string{}
	for _, n := range r.Samples[0].Nodes {
		names = append(names, n.Name)
		m.Nodes = append(m.Nodes, NodeMeasures{Name: n.Name})
	}
	// dt of sample i: the time since the previous one (the first counts
	// the sampling interval after it).
	dt := func(i int) float64 {
		if i == 0 {
			if len(r.Samples) > 1 {
				return r.Samples[1].T - r.Samples[0].T
			}
			return 0
		}
		return r.Samples[i].T - r.Samples[i-1].T
	}
	overStart := -1.0
	for i, s := range r.Samples {
		d := dt(i)
		anyUsable, anyOver := false, false
		for j, n := range s.Nodes {
			nm := &m.Nodes[j]
			if n.Sessions > n.Capacity && n.Capacity > 0 {
				nm.OverSeconds += d
				m.OverSeconds += d
				anyOver = true
			}
			nm.Peak = math.Max(nm.Peak, n.Ratio())
			anyUsable = anyUsable || n.Usable()
			if i > 0 {
				p := r.Samples[i-1].Nodes[j]
				switch {
				case !p.Drained() && n.Drained():
					nm.Drains++
				case p.Drained() && !n.Drained():
					nm.Readies++
				}
				if (p.State == "DOWN") != (n.State == "DOWN") {
					nm.Health++
				}
				if p.State == "UP" && n.State == "UP" && p.Weight != n.Weight {
					nm.Weights++
				}
			}
		}
		m.Peak = math.Max(m.Peak, maxPeak(s.Nodes))
		if !anyUsable {
			m.EmptySeconds += d
		}
		switch {
		case anyOver && overStart < 0:
			overStart = s.T
		case !anyOver && overStart >= 0:
			m.Reliefs = append(m.Reliefs, s.T-overStart)
			overStart = -1
		}
	}
	if overStart >= 0 {
		m.Reliefs = append(m.Reliefs, r.Samples[len(r.Samples)-1].T-overStart)
	}
	for j := range names {
		r.episodes(j, &m.Nodes[j])
		m.Nodes[j].ReadyLags = r.readyLags(j)
	}
	m.Spread = r.spread()
	if sum := r.Summary; sum != nil {
		for proto, c := range sum.Protocols {
			m.Opened[proto] = c.Opened
		}
		killAt := r.phaseStart(PhaseKilled)
		for _, f := range sum.Failures {
			switch f.Outcome {
			case traffic.OutcomeRefused:
				add(m.Refused, f.Protocol, f.Reason)
			case traffic.OutcomeCut:
				cause := r.cutCause(f, killAt)
				add(m.Cut, f.Protocol, cause)
				if cause == CauseLbpilot {
					m.CutByLbpilot++
				}
			}
		}
	}
	return m
}

func add(m map[string]map[string]int64, proto, key string) {
	if m[proto] == nil {
		m[proto] = map[string]int64{}
	}
	m[proto][key]++
}

func maxPeak(ns []NodeSample) float64 {
	out := 0.0
	for _, n := range ns {
		out = math.Max(out, n.Ratio())
	}
	return out
}

// phaseStart is when the named phase started (-1 if it did not).
func (r *Result) phaseStart(name string) float64 {
	for _, p := range r.Phases {
		if p.What == name {
			return p.T
		}
	}
	return -1
}

// cutCause attributes a cut session: wcs1's sessions cut just after the
// kill are the kill's; a WCS session cut on a node that was drained (or
// in maintenance) then is lbpilot's; anything else keeps the client's
// reason.
func (r *Result) cutCause(f traffic.SessionRecord, killAt float64) string {
	at := f.At + f.After
	if f.Protocol == lab.ProtoWCS {
		if f.Node == SmallNode && killAt >= 0 && at >= killAt-0.5 && at <= killAt+killWindow {
			return CauseNodeKilled
		}
		if n, ok := r.nodeAt(f.Node, at); ok && n.Drained() {
			return CauseLbpilot
		}
	}
	reason := f.Reason
	if reason == "" {
		reason = "unknown"
	}
	return CauseOther + reason
}

// nodeAt is the named node in the last sample at or before t.
func (r *Result) nodeAt(name string, t float64) (NodeSample, bool) {
	i := sort.Search(len(r.Samples), func(i int) bool { return r.Samples[i].T > t }) - 1
	if i < 0 {
		return NodeSample{}, false
	}
	for _, n := range r.Samples[i].Nodes {
		if n.Name == name {
			return n, true
		}
	}
	return NodeSample{}, false
}

// episodes finds node j's overload episodes (at 80 % of its capacity or
// more, or drained; stretches closer than episodeGap joined) and the
// most drains in one.
func (r *Result) episodes(j int, nm *NodeMeasures) {
	type span struct{ from, to float64 }
	var spans []span
	for _, s := range r.Samples {
		n := s.Nodes[j]
		if n.Ratio() < episodeLoad && !n.Drained() {
			continue
		}
		if len(spans) > 0 && s.T-spans[len(spans)-1].to <= episodeGap {
			spans[len(spans)-1].to = s.T
			continue
		}
		spans = append(spans, span{s.T, s.T})
	}
	nm.Episodes = len(spans)
	for _, sp := range spans {
		drains := 0
		for i := 1; i < len(r.Samples); i++ {
			s, p := r.Samples[i], r.Samples[i-1]
			if s.T >= sp.from && s.T <= sp.to && !p.Nodes[j].Drained() && s.Nodes[j].Drained() {
				drains++
			}
		}
		nm.MaxDrains = max(nm.MaxDrains, drains)
	}
}

// readyLags are node j's returns to ready, each measured from the end of
// its drain alert (the first sample without it after one with it) at or
// before the return.
func (r *Result) readyLags(j int) []float64 {
	var out []float64
	alertEnd := -1.0
	for i := 1; i < len(r.Samples); i++ {
		p, n := r.Samples[i-1].Nodes[j], r.Samples[i].Nodes[j]
		if p.Alert && !n.Alert {
			alertEnd = r.Samples[i].T
		}
		if n.Alert {
			alertEnd = -1
		}
		if p.Drained() && !n.Drained() && alertEnd >= 0 {
			out = append(out, r.Samples[i].T-alertEnd)
			alertEnd = -1
		}
	}
	return out
}

// spread is, for each phase, max ÷ min of the UP nodes' load ratios in
// its last sample.
func (r *Result) spread() []PhaseSpread {
	var out []PhaseSpread
	for i, s := range r.Samples {
		if i+1 < len(r.Samples) && r.Samples[i+1].Phase == s.Phase {
			continue
		}
		lo, hi := math.Inf(1), 0.0
		for _, n := range s.Nodes {
			if n.State == "DOWN" || n.Capacity <= 0 {
				continue
			}
			lo, hi = math.Min(lo, n.Ratio()), math.Max(hi, n.Ratio())
		}
		sp := math.Inf(1)
		switch {
		case math.IsInf(lo, 1):
			sp = math.NaN()
		case lo > 0:
			sp = hi / lo
		case hi == 0:
			sp = 1
		}
		out = append(out, PhaseSpread{Phase: s.Phase, Spread: sp})
	}
	return out
}

// String is a one-line digest, for logs.
func (m Measures) String() string {
	return fmt.Sprintf("over %.1f node-s, peak %.2f, empty %.1fs, refused wcs %d mqtt %d, cut wcs %d (by lbpilot %d), max drains/episode %d, max relief %.1fs",
		m.OverSeconds, m.Peak, m.EmptySeconds, Total(m.Refused, lab.ProtoWCS), Total(m.Refused, lab.ProtoMQTT),
		Total(m.Cut, lab.ProtoWCS), m.CutByLbpilot, m.MaxDrainsPerEpisode(), m.MaxRelief())
}

// MarshalJSON writes a spread that is not a finite number (∞, none) as a
// string, which JSON numbers cannot hold.
func (p PhaseSpread) MarshalJSON() ([]byte, error) {
	type plain struct {
		Phase  string `json:"phase"`
		Spread any    `json:"spread"`
	}
	var v any = p.Spread
	switch {
	case math.IsInf(p.Spread, 1):
		v = "inf"
	case math.IsNaN(p.Spread):
		v = "none"
	}
	return json.Marshal(plain{p.Phase, v})
}
