package exporter

import (
	"github.com/go-kit/log"

	"github.com/lbpilot/lbpilot/collectors"
	haproxycoll "github.com/lbpilot/lbpilot/collectors/haproxy"
)

// Kind wires one upstream kind into the config and the scrape path.
type Kind struct {
	// Prepare fills the module's options for this kind with defaults
	// (allocating them when absent) and validates them.
	Prepare func(m *Module) error
	// CheckURL validates a target address (static targets and /probe).
	CheckURL func(url string) error
	// New builds a collector for one target.
	New func(m *Module, t collectors.Target, logger log.Logger) (collectors.Collector, error)
}

// Kinds returns the upstream kinds lbpilot supports, keyed by kind name.
// Each is also a built-in module of the same name.
func Kinds() map[string]Kind {
	return map[string]Kind{
		"haproxy": {
			Prepare: func(m *Module) error {
				if m.HAProxy == nil {
					m.HAProxy = haproxycoll.DefaultOptions()
				}
				return m.HAProxy.Validate()
			},
			CheckURL: haproxycoll.CheckURL,
			New: func(m *Module, t collectors.Target, l log.Logger) (collectors.Collector, error) {
				return haproxycoll.New(*m.HAProxy, t, l)
			},
		},
	}
}
