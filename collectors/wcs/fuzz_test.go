package wcs

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lbpilot/lbpilot/collectors"
	"github.com/lbpilot/lbpilot/internal/testenv"
	"github.com/lbpilot/lbpilot/internal/wcsapi"
)

// The parser's own invariants are fuzzed in internal/wcsapi; these targets
// check that every page the parser accepts also makes a valid exposition
// (no invalid label values, no duplicate series), with every option on.

// sendOnly exposes one parsed page through the collector's send path.
type sendOnly struct {
	c  *Collector
	st *wcsapi.Stats
}

func (s sendOnly) Describe(ch chan<- *prometheus.Desc) { s.c.Describe(ch) }
func (s sendOnly) Collect(ch chan<- prometheus.Metric) { s.c.send(s.st, ch) }

func fuzzCollector(t *testing.T) *Collector {
	c, err := New(Options{StreamMetrics: true, UnknownKeys: true, MaxStreams: 5}, collectors.Target{URL: "http://wcs:8081"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func checkExposition(t *testing.T, st *wcsapi.Stats) {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(sendOnly{fuzzCollector(t), st})
	if _, err := reg.Gather(); err != nil {
		t.Fatalf("exposition of an accepted page is invalid: %v", err)
	}
}

func FuzzExpositionText(f *testing.F) {
	testenv.AddSeeds(f, "stat_*.txt")
	f.Fuzz(func(t *testing.T, body []byte) {
		if st, err := wcsapi.ParseText(body); err == nil {
			checkExposition(t, st)
		}
	})
}

func FuzzExpositionJSON(f *testing.F) {
	testenv.AddSeeds(f, "stat_*.json")
	f.Fuzz(func(t *testing.T, body []byte) {
		if st, err := wcsapi.ParseJSON(body); err == nil {
			checkExposition(t, st)
		}
	})
}
