package lab

import (
	"fmt"
	"math"
	"time"

	"github.com/lbpilot/lbpilot/internal/traffic"
)

// Load is what a simulated upstream reports. Each kind reads the fields
// that make sense for it (docs/lab.md, "Lab", has the table):
//
//   - WCS: Publishers and Subscribers are streams in and out (split over
//     protocols so the agent's sums give them back exactly), HLS is
//     streams_hls, Connections the client connections, bandwidth the
//     global_bandwidth_in/out page fields (Mbit/s), CPU the process CPU.
//   - SRS: Publishers are streams with an RTMP publisher, Streams the
//     stream entries (at least Publishers), Subscribers the players
//     spread over them; bandwidth drives the byte counters.
//   - EMQX: Connections are live connections over the running nodes,
//     Sessions, Subscriptions, Topics and Retained the stats, the
//     message rates and bandwidth drive the counters, StoppedNodes stops
//     the last nodes.
type Load struct {
	Publishers       int     `json:"publishers"`
	Subscribers      int     `json:"subscribers"`
	HLS              int     `json:"hls"`
	Streams          int     `json:"streams"`
	Connections      int     `json:"connections"`
	Sessions         int     `json:"sessions"`
	Subscriptions    int     `json:"subscriptions"`
	Topics           int     `json:"topics"`
	Retained         int     `json:"retained"`
	Degraded         int     `json:"degraded"`
	BandwidthInMbps  float64 `json:"bandwidth_in_mbps"`
	BandwidthOutMbps float64 `json:"bandwidth_out_mbps"`
	CPU              float64 `json:"cpu"` // ratio, 1 = one full CPU
	MessagesInRate   float64 `json:"messages_in_per_second"`
	MessagesOutRate  float64 `json:"messages_out_per_second"`
	StoppedNodes     int     `json:"stopped_nodes"`
	// HogCPU is the CPU an outside process takes on the node's host
	// (ratio of one CPU, 0..1): a WCS node reports it in its host CPU
	// figures, and a WCS or SRS node's session capacity shrinks with it
	// (EffectiveCapacity), as the node's own work gets less of the CPU.
	HogCPU float64 `json:"hog_cpu"`
}

// Validate rejects negative quantities.
func (l Load) Validate() error {
	for name, v := range map[string]float64{
		"publishers": float64(l.Publishers), "subscribers": float64(l.Subscribers), "hls": float64(l.HLS),
		"streams": float64(l.Streams), "connections": float64(l.Connections), "sessions": float64(l.Sessions),
		"subscriptions": float64(l.Subscriptions), "topics": float64(l.Topics), "retained": float64(l.Retained),
		"degraded": float64(l.Degraded), "bandwidth_in_mbps": l.BandwidthInMbps, "bandwidth_out_mbps": l.BandwidthOutMbps,
		"cpu": l.CPU, "messages_in_per_second": l.MessagesInRate, "messages_out_per_second": l.MessagesOutRate,
		"stopped_nodes": float64(l.StoppedNodes), "hog_cpu": l.HogCPU,
	} {
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%s must be a finite non-negative number, got %v", name, v)
		}
	}
	if l.HogCPU > 1 {
		return fmt.Errorf("hog_cpu is a ratio of one CPU, 0 to 1, got %v", l.HogCPU)
	}
	return nil
}

// lerp interpolates between two loads (counts rounded).
func lerp(a, b Load, f float64) Load {
	i := func(x, y int) int { return int(math.Round(float64(x) + (float64(y)-float64(x))*f)) }
	r := func(x, y float64) float64 { return x + (y-x)*f }
	return Load{
		Publishers: i(a.Publishers, b.Publishers), Subscribers: i(a.Subscribers, b.Subscribers), HLS: i(a.HLS, b.HLS),
		Streams: i(a.Streams, b.Streams), Connections: i(a.Connections, b.Connections), Sessions: i(a.Sessions, b.Sessions),
		Subscriptions: i(a.Subscriptions, b.Subscriptions), Topics: i(a.Topics, b.Topics), Retained: i(a.Retained, b.Retained),
		Degraded: i(a.Degraded, b.Degraded), BandwidthInMbps: r(a.BandwidthInMbps, b.BandwidthInMbps),
		BandwidthOutMbps: r(a.BandwidthOutMbps, b.BandwidthOutMbps), CPU: r(a.CPU, b.CPU),
		MessagesInRate: r(a.MessagesInRate, b.MessagesInRate), MessagesOutRate: r(a.MessagesOutRate, b.MessagesOutRate),
		StoppedNodes: i(a.StoppedNodes, b.StoppedNodes), HogCPU: r(a.HogCPU, b.HogCPU),
	}
}

// Duration is a time.Duration that reads "90s", "1m30s" or a number of
// seconds in JSON: the traffic generator's, so profiles and plans read
// durations alike.
type Duration = traffic.Duration

// Step is one point of a profile: from At (since the profile started)
// the load is Load; with Ramp the load moves linearly from the previous
// step's to this one between the two times instead of jumping at At.
type Step struct {
	At   Duration `json:"at"`
	Ramp bool     `json:"ramp"`
	Load Load     `json:"load"`
}

// Profile is a scripted load: a list of steps in time order, optionally
// repeated (the period is the last step's time).
type Profile struct {
	Steps []Step `json:"steps"`
	Loop  bool   `json:"loop"`
}

// Validate checks the steps are in order and their loads valid.
func (p Profile) Validate() error {
	if len(p.Steps) == 0 {
		return fmt.Errorf("profile: no steps")
	}
	for i, s := range p.Steps {
		if s.At < 0 || (i > 0 && s.At < p.Steps[i-1].At) {
			return fmt.Errorf("profile: step %d: at %v is before the previous step", i, time.Duration(s.At))
		}
		if err := s.Load.Validate(); err != nil {
			return fmt.Errorf("profile: step %d: %w", i, err)
		}
	}
	if p.Loop && p.Steps[len(p.Steps)-1].At == 0 {
		return fmt.Errorf("profile: a looping profile needs a last step after 0s")
	}
	return nil
}

// At returns the profile's load at elapsed time since it started.
func (p Profile) At(elapsed time.Duration) Load {
	if p.Loop {
		period := time.Duration(p.Steps[len(p.Steps)-1].At)
		elapsed %= period
	}
	cur := p.Steps[0].Load
	for i, s := range p.Steps {
		at := time.Duration(s.At)
		if elapsed >= at {
			cur = s.Load
			continue
		}
		if s.Ramp && i > 0 {
			prev := time.Duration(p.Steps[i-1].At)
			return lerp(p.Steps[i-1].Load, s.Load, float64(elapsed-prev)/float64(at-prev))
		}
		break
	}
	return cur
}
