package agent

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// Mode is how the agent turns load into a reply.
type Mode string

// The reply modes.
const (
	// ModeWeight (the default) answers `up N%`: N is 100 while every
	// dimension is below the knee and falls linearly to the floor as the
	// most loaded dimension reaches its threshold. An overloaded node gets
	// less new traffic; a cluster whose nodes are all loaded keeps
	// serving. Only an unreadable upstream gives `down`.
	ModeWeight Mode = "weight"
	// ModeUpDown is the WCS docs' script: `up 100%` below every
	// threshold, else `down #<dimension> <value>/<limit>`.
	ModeUpDown Mode = "updown"
)

// ParseMode reads weight or updown.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToLower(strings.TrimSpace(s))); m {
	case ModeWeight, ModeUpDown:
		return m, nil
	}
	return "", fmt.Errorf("unknown mode %q (want weight or updown)", s)
}

// Defaults of the weight curve.
const (
	DefaultKnee  = 50 // percent of a threshold
	DefaultFloor = 1  // percent weight
)

// Policy decides a reply from a sample. It is pure: the same sample gives
// the same decision.
type Policy struct {
	Mode       Mode
	Thresholds Thresholds
	// Knee is the load, in percent of a threshold, up to which the weight
	// stays 100% (weight mode). 0 makes the weight proportional to the
	// headroom left; 100 makes it a step from 100% to the floor.
	Knee float64
	// Floor is the weight, in percent, at and above a threshold (weight
	// mode): 1..100. Load alone never gives 0%.
	Floor int
	// MaxConn, when positive, adds maxconn:N to every up reply.
	MaxConn int
}

// Validate checks the policy's numbers.
func (p Policy) Validate() error {
	if _, err := ParseMode(string(p.Mode)); err != nil {
		return err
	}
	if math.IsNaN(p.Knee) || p.Knee < 0 || p.Knee > 100 {
		return fmt.Errorf("weight knee %v: want 0..100 (percent of a threshold)", p.Knee)
	}
	if p.Floor < 1 || p.Floor > 100 {
		return fmt.Errorf("weight floor %d: want 1..100 (percent; 0 would take the server out for load alone)", p.Floor)
	}
	if p.MaxConn < 0 {
		return fmt.Errorf("maxconn %d: must not be negative", p.MaxConn)
	}
	for d, v := range p.Thresholds {
		if !(v > 0) || math.IsInf(v, 0) {
			return fmt.Errorf("threshold %s: %v is not a positive number", d, v)
		}
	}
	return nil
}

// ReplyKind classifies replies for the replies_total counter.
type ReplyKind string

// The reply kinds.
const (
	KindUp           ReplyKind = "up"            // up, with a weight
	KindDownLoad     ReplyKind = "down_load"     // updown mode, a threshold reached
	KindDownUpstream ReplyKind = "down_upstream" // the upstream could not be read
)

// ReplyKinds lists every kind, to initialise counters.
var ReplyKinds = []ReplyKind{KindUp, KindDownLoad, KindDownUpstream}

// DimStatus is one checked dimension of a decision.
type DimStatus struct {
	Dimension Dimension
	Value     float64
	Limit     float64
	Ratio     float64 // Value / Limit, at least 0
}

// Decision is the policy's verdict on one sample.
type Decision struct {
	Kind ReplyKind
	// Weight is the percentage sent with up (100 in updown mode); 0 when
	// the reply is down.
	Weight int
	// Healthy: the upstream was read and every checked dimension is below
	// its threshold. /health answers 200 exactly then.
	Healthy bool
	// Reason says why the decision is not healthy: the dimensions at or
	// above their threshold, most loaded first ("subscribers 155/100,
	// band-out 412.77/100"), or the upstream failure ("upstream timeout").
	Reason string
	// Dims are the checked dimensions that the sample measured, in
	// dimension order.
	Dims []DimStatus
	// Load is the highest ratio of Dims (0 without any).
	Load float64
	// Reply is the agent-check line, without its newline.
	Reply string
	// Err is the upstream error of a down_upstream decision.
	Err error
}

// Decide returns the decision for a sample, or for an upstream error.
func (p Policy) Decide(s Sample, err error) Decision {
	if err != nil {
		reason := upstreamReason(err)
		return Decision{Kind: KindDownUpstream, Reason: reason, Reply: downReply(reason), Err: err}
	}
	var d Decision
	var over []DimStatus
	for dim := Dimension(0); dim < numDimensions; dim++ {
		limit, checked := p.Thresholds[dim]
		v, measured := s.Get(dim)
		if !checked || !measured || !(limit > 0) {
			continue
		}
		st := DimStatus{Dimension: dim, Value: v, Limit: limit, Ratio: ratio(v, limit)}
		d.Dims = append(d.Dims, st)
		d.Load = math.Max(d.Load, st.Ratio)
		// At the threshold counts as reached: the WCS script's checks are
		// "value < limit" to pass.
		if v >= limit {
			over = append(over, st)
		}
	}
	d.Healthy = len(over) == 0
	if !d.Healthy {
		sort.SliceStable(over, func(i, j int) bool { return over[i].Ratio > over[j].Ratio })
		parts := make([]string, len(over))
		for i, o := range over {
			parts[i] = fmt.Sprintf("%s %s/%s", o.Dimension, formatNumber(o.Value), formatNumber(o.Limit))
		}
		d.Reason = strings.Join(parts, ", ")
	}
	switch {
	case p.Mode == ModeUpDown && !d.Healthy:
		d.Kind, d.Reply = KindDownLoad, downReply(d.Reason)
	case p.Mode == ModeUpDown:
		d.Kind, d.Weight = KindUp, 100
		d.Reply = upReply(d.Weight, p.MaxConn)
	default:
		d.Kind, d.Weight = KindUp, p.weight(d.Load)
		d.Reply = upReply(d.Weight, p.MaxConn)
	}
	return d
}

// weight maps the highest load ratio u to a percentage: 100 up to the
// knee, then a straight line down to the floor at u = 1, and the floor
// beyond. It never increases with u and stays within [floor, 100].
func (p Policy) weight(u float64) int {
	floor := min(max(p.Floor, 1), 100)
	knee := p.Knee / 100
	switch {
	case u >= 1:
		return floor
	case math.IsNaN(u) || u <= knee:
		return 100
	}
	w := 100 - float64(100-floor)*(u-knee)/(1-knee)
	return min(max(int(math.Round(w)), floor), 100)
}

// maxRatio caps a ratio so a tiny limit cannot make it infinite (which
// JSON cannot carry).
const maxRatio = 1e9

func ratio(v, limit float64) float64 {
	return min(max(v/limit, 0), maxRatio)
}
