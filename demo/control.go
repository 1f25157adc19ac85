package demo

import (
	"encoding/json"
	"fmt"
)

// Control is what steers be_wcs_ws in a stack. The demo's (the zero
// value) is the product: one lbpilot agent per WCS node in weight mode,
// and the rebalancer acting on the shipped alerts. The control benchmark
// (tools/bench/control) runs the same stack with less, to compare: no
// agent at all (HAProxy alone), agents answering the WCS docs' up/down
// verdicts, or agents without the rebalancer.
type Control struct {
	// Agents is AgentsWeight (the default when empty), AgentsUpDown or
	// AgentsNone: no agent runs and HAProxy's server lines have no
	// agent-check.
	Agents string
	// NoRebalancer leaves the rebalancer out: the alerts still fire, but
	// Alertmanager's webhook finds nobody and nothing is drained.
	NoRebalancer bool
	// WCSLoad and WCSCapacity replace the lab's background load and
	// capacity of wcs1 and wcs2 (JSON, as lbpilot-lab's --load and
	// --capacity take them); an empty one keeps the demo's.
	WCSLoad, WCSCapacity [2]string
	// Subscribers is each agent's subscribers threshold (the WCS docs'
	// MAX_SUBSCRIBERS, sized to its node); 0 keeps the agent's default.
	Subscribers [2]int
}

// The Control.Agents settings.
const (
	AgentsWeight = "weight"
	AgentsUpDown = "updown"
	AgentsNone   = "none"
)

// validate checks the settings before anything is rendered.
func (c *Control) validate() error {
	switch c.Agents {
	case "":
		c.Agents = AgentsWeight
	case AgentsWeight, AgentsUpDown, AgentsNone:
	default:
		return fmt.Errorf("control: agents %q: want %s, %s or %s", c.Agents, AgentsWeight, AgentsUpDown, AgentsNone)
	}
	for i, js := range append(c.WCSLoad[:], c.WCSCapacity[:]...) {
		if js != "" && !json.Valid([]byte(js)) {
			what := "load"
			if i >= 2 {
				what = "capacity"
			}
			return fmt.Errorf("control: wcs%d %s %q is not JSON", i%2+1, what, js)
		}
	}
	for i, n := range c.Subscribers {
		if n < 0 {
			return fmt.Errorf("control: wcs%d subscribers threshold %d: must not be negative", i+1, n)
		}
	}
	return nil
}

// agents reports whether the stack runs agents.
func (c Control) agents() bool { return c.Agents != AgentsNone }

// or returns v, or def when v is empty.
func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
