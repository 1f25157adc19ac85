package catalog

import (
	"context"
	"fmt"
	"testing"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lbpilot/lbpilot/agent"
)

func init() {
	extraSources = append(extraSources, source{name: "agent", add: (*Catalog).AddAgent})
}

// AddAgent builds an agent of every source kind from its default
// configuration, feeds it one reading with every dimension of its kind
// (so the per-dimension families have their children) and gathers its
// registry.
func (c *Catalog) AddAgent(testing.TB) error {
	for _, kind := range []agent.Kind{agent.WCS, agent.SRS, agent.EMQX} {
		yml := fmt.Sprintf("agent:\n  source: %s\n", kind)
		if kind == agent.EMQX {
			yml += "  thresholds: {connections: 50000}\n"
		}
		cfg, err := agent.Parse([]byte(yml))
		if err != nil {
			return fmt.Errorf("%s config: %w", kind, err)
		}
		o, err := cfg.Options(log.NewNopLogger())
		if err != nil {
			return fmt.Errorf("%s options: %w", kind, err)
		}
		o.Registry = prometheus.NewRegistry()
		o.CPU = agent.CPUFunc(func() (float64, error) { return 42, nil })
		dims := kind.Dimensions()
		o.Source = agent.SourceFunc(func(context.Context) (agent.Sample, error) {
			var s agent.Sample
			for _, d := range dims {
				s.Set(d, 10)
			}
			return s, nil
		})
		a, err := agent.New(o)
		if err != nil {
			return fmt.Errorf("%s agent: %w", kind, err)
		}
		if _, ok := a.Decide(context.Background()); !ok {
			return fmt.Errorf("%s agent: no decision", kind)
		}
		if err := c.AddGatherer(a.Registry(), "agent ("+string(kind)+")"); err != nil {
			return err
		}
	}
	return nil
}
