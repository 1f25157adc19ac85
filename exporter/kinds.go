package exporter

import (
	"github.com/go-kit/log"

	"github.com/lbpilot/lbpilot/collectors"
	emqxcoll "github.com/lbpilot/lbpilot/collectors/emqx"
	haproxycoll "github.com/lbpilot/lbpilot/collectors/haproxy"
	srscoll "github.com/lbpilot/lbpilot/collectors/srs"
	wcscoll "github.com/lbpilot/lbpilot/collectors/wcs"
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

// KindOptions are command-line defaults some kinds take.
type KindOptions struct {
	// EMQXAPIKeyFile is --collector.emqx.api-key-file: the credentials
	// of every emqx module that names none of its own.
	EMQXAPIKeyFile string
}

// Kinds returns the upstream kinds lbpilot supports, keyed by kind name.
// Each is also a built-in module of the same name.
func Kinds() map[string]Kind { return KindsWith(KindOptions{}) }

// KindsWith is Kinds with command-line defaults applied.
func KindsWith(ko KindOptions) map[string]Kind {
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
		"wcs": {
			Prepare: func(m *Module) error {
				if m.WCS == nil {
					m.WCS = wcscoll.DefaultOptions()
				}
				return m.WCS.Validate()
			},
			CheckURL: wcscoll.CheckURL,
			New: func(m *Module, t collectors.Target, l log.Logger) (collectors.Collector, error) {
				return wcscoll.New(*m.WCS, t, l)
			},
		},
		"srs": {
			Prepare: func(m *Module) error {
				if m.SRS == nil {
					m.SRS = srscoll.DefaultOptions()
				}
				return m.SRS.Validate()
			},
			CheckURL: srscoll.CheckURL,
			New: func(m *Module, t collectors.Target, l log.Logger) (collectors.Collector, error) {
				return srscoll.New(*m.SRS, t, l)
			},
		},
		"emqx": {
			Prepare: func(m *Module) error {
				if m.EMQX == nil {
					m.EMQX = emqxcoll.DefaultOptions()
				}
				if !m.EMQX.HasCredentials() && ko.EMQXAPIKeyFile != "" {
					m.EMQX.APIKeyFile = ko.EMQXAPIKeyFile
				}
				return m.EMQX.Validate()
			},
			CheckURL: emqxcoll.CheckURL,
			New: func(m *Module, t collectors.Target, l log.Logger) (collectors.Collector, error) {
				return emqxcoll.New(*m.EMQX, t, l)
			},
		},
	}
}
