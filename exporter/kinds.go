package exporter

import (
	"github.com/go-kit/log"

	"github.com/lbpilot/lbpilot/collectors"
	"github.com/lbpilot/lbpilot/collectors/emqx"
	"github.com/lbpilot/lbpilot/collectors/haproxy"
	"github.com/lbpilot/lbpilot/collectors/srs"
	"github.com/lbpilot/lbpilot/collectors/wcs"
	"github.com/lbpilot/lbpilot/internal/emqxapi"
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
	// Params, when set, reads the kind's own parameters from a request's
	// raw query (HAProxy's: promex's scope, metrics, no-maint, …). It
	// returns m itself when the query holds none, else a copy of m with
	// them applied; an error is the client's (400).
	Params func(m *Module, rawQuery string) (*Module, error)
	// Protocol marks an end-to-end protocol probe: it holds a connection
	// and a few kilobytes, not a whole stats answer, and its /probe
	// requests take slots of their own (--probe.max-concurrent-protocol),
	// so a few large HAProxy scrapes never make the probes wait, nor the
	// other way round.
	Protocol bool
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
	kinds := apiKinds(ko)
	for name, k := range probeKinds() {
		kinds[name] = k
	}
	return kinds
}

// apiKinds are the kinds that read an upstream's own API.
func apiKinds(ko KindOptions) map[string]Kind {
	return map[string]Kind{
		"haproxy": {
			Prepare: func(m *Module) error {
				if m.HAProxy == nil {
					m.HAProxy = haproxy.DefaultOptions()
				}
				return m.HAProxy.Validate()
			},
			CheckURL: haproxy.CheckURL,
			New: func(m *Module, t collectors.Target, l log.Logger) (collectors.Collector, error) {
				return haproxy.New(*m.HAProxy, t, l)
			},
			Params: func(m *Module, rawQuery string) (*Module, error) {
				p, err := haproxy.ParseParams(rawQuery)
				if err != nil || !p.Set {
					return m, err
				}
				c := *m
				o := m.HAProxy.WithParams(p)
				c.HAProxy = &o
				return &c, nil
			},
		},
		"wcs": {
			Prepare: func(m *Module) error {
				if m.WCS == nil {
					m.WCS = wcs.DefaultOptions()
				}
				return m.WCS.Validate()
			},
			CheckURL: wcs.CheckURL,
			New: func(m *Module, t collectors.Target, l log.Logger) (collectors.Collector, error) {
				return wcs.New(*m.WCS, t, l)
			},
		},
		"srs": {
			Prepare: func(m *Module) error {
				if m.SRS == nil {
					m.SRS = srs.DefaultOptions()
				}
				return m.SRS.Validate()
			},
			CheckURL: srs.CheckURL,
			New: func(m *Module, t collectors.Target, l log.Logger) (collectors.Collector, error) {
				return srs.New(*m.SRS, t, l)
			},
		},
		"emqx": {
			Prepare: func(m *Module) error {
				if m.EMQX == nil {
					m.EMQX = emqxapi.DefaultOptions()
				}
				if !m.EMQX.HasCredentials() && ko.EMQXAPIKeyFile != "" {
					m.EMQX.APIKeyFile = ko.EMQXAPIKeyFile
				}
				return m.EMQX.Validate()
			},
			CheckURL: emqxapi.CheckURL,
			New: func(m *Module, t collectors.Target, l log.Logger) (collectors.Collector, error) {
				return emqx.New(*m.EMQX, t, l)
			},
		},
	}
}
